"""The plugin's hook implementations: registers the ``slurm`` facility type."""

from collections.abc import Callable

from esap_core import FacilityType, hookimpl
from esap_slurm.facility import SlurmFacility


@hookimpl
def register_facility_types(register: Callable[[FacilityType], None]) -> None:
    register(SlurmFacility())
