"""The plugin's hook implementations: registers the ``jupyterhub`` facility type."""

from collections.abc import Callable

from esap_core import FacilityType, hookimpl
from esap_jupyterhub.facility import JupyterHubFacility


@hookimpl
def register_facility_types(register: Callable[[FacilityType], None]) -> None:
    register(JupyterHubFacility())
