"""The plugin's hook implementations: registers the ``rosetta`` facility type."""

from collections.abc import Callable

from esap_core import FacilityType, hookimpl
from esap_rosetta.facility import RosettaFacility


@hookimpl
def register_facility_types(register: Callable[[FacilityType], None]) -> None:
    register(RosettaFacility())
