"""The hook that registers the BinderHub facility type with ESAP."""

from collections.abc import Callable

from esap_binderhub.facility import BinderHub
from esap_core import FacilityType, Settings, hookimpl


@hookimpl
def register_facility_types(register: Callable[[FacilityType], None], settings: Settings) -> None:
    register(BinderHub(defaults=settings))
