"""The register_storages and register_publishers hooks: objects are registered, listed, and refused when wrong."""

from esap_core import Publisher, Storage, hookimpl

PLUGIN = """
from esap_core import Published, Publisher, Storage, Usage, hookimpl

class Shelf(Storage):
    name = "shelf"
    title = "A shelf"

    def usage(self, user, timeout):
        return Usage(used=0, quota=10)

class Press(Publisher):
    name = "press"
    title = "A press"

    def publish(self, publication, token, timeout):
        return Published(record_id="1", doi="10.5072/1", url="https://press.example.org/1")

@hookimpl
def register_storages(register, settings):
    register(Shelf())

@hookimpl
def register_publishers(register, settings):
    register(Press())
"""


def test_storages_and_publishers_are_registered_and_listed(app_factory, write_plugin):
    app = app_factory(extra_plugins=[write_plugin("shelf-plugin", PLUGIN)])
    plugins = app.extensions["esap.plugins"]
    assert list(plugins.storages) == ["shelf"] and list(plugins.publishers) == ["press"]
    assert plugins.owner("storage", "shelf") == "shelf-plugin"
    listed = {p["name"]: p for p in app.test_client().get("/api/v1/plugins").get_json()["plugins"]}
    assert listed["shelf-plugin"]["registered"] == {"storage": ["shelf"], "publisher": ["press"]}
    assert plugins.storages["shelf"].label == "A shelf"


def test_a_doubled_storage_is_refused_naming_the_first_plugin(app_factory, write_plugin):
    first, second = write_plugin("first-shelf", PLUGIN), write_plugin("second-shelf", PLUGIN)
    plugins = app_factory(extra_plugins=[first, second]).extensions["esap.plugins"]
    assert (
        "storage 'shelf'" in plugins.info["second-shelf"].error
        and "'first-shelf'" in plugins.info["second-shelf"].error
    )
    assert plugins.owner("storage", "shelf") == "first-shelf"


def test_only_storages_and_publishers_are_accepted(app_factory):
    class Shelf(Storage):
        name = "shelf"

    class Press(Publisher):
        name = "press"

    class Confused:
        @hookimpl
        def register_storages(self, register):
            register(Shelf())
            register(Press())  # a publisher is not a storage

    class Nameless:
        @hookimpl
        def register_publishers(self, register):
            register(Press())
            register(Publisher())  # no name

    plugins = app_factory(extra_plugins=[("confused", Confused()), ("nameless", Nameless())]).extensions["esap.plugins"]
    assert "not a Storage" in plugins.info["confused"].error and plugins.storages == {}
    assert "invalid name ''" in plugins.info["nameless"].error and plugins.publishers == {}
