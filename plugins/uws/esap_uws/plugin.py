"""The plugin's hook implementations: registers the ``uws`` facility type."""

from collections.abc import Callable

from esap_core import FacilityType, hookimpl
from esap_uws.facility import UwsFacility


@hookimpl
def register_facility_types(register: Callable[[FacilityType], None]) -> None:
    register(UwsFacility())
