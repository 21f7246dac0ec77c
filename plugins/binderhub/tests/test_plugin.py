"""The plugin as ESAP loads it: its entry point and its hook."""

from importlib.metadata import entry_points

from esap_binderhub import plugin
from esap_binderhub.facility import BinderHub

from esap_core import Settings, UIType


def test_the_entry_point_names_the_plugin_module():
    (entry,) = [entry for entry in entry_points(group="esap") if entry.name == "binderhub"]

    assert entry.load() is plugin


def test_the_hook_registers_the_binderhub_facility_type():
    registered = []

    plugin.register_facility_types(registered.append, Settings("binderhub", {"timeout": 300}))

    (facility_type,) = registered
    assert isinstance(facility_type, BinderHub)
    assert facility_type.kind == "binderhub"
    assert facility_type.accepts == {UIType.NOTEBOOK, UIType.WEB}
    assert facility_type.defaults == {"timeout": 300}
