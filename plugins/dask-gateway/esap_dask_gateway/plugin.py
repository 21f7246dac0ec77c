"""The plugin's hook implementations: registers the ``dask-gateway`` facility type."""

from collections.abc import Callable

from esap_core import FacilityType, hookimpl
from esap_dask_gateway.facility import DaskGatewayFacility


@hookimpl
def register_facility_types(register: Callable[[FacilityType], None]) -> None:
    register(DaskGatewayFacility())
