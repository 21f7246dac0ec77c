"""The register_facility_types hook: facility types are registered, checked, refused when doubled, and listed."""

from esap_core import CheckResult, Facility, FacilityType, Settings, UIType, hookimpl
from esap_core.testing import check_facility_type, launch_request

FACILITY_PLUGIN = """
from esap_core import CheckResult, Phase, SessionFacility, UIType, hookimpl

class Echo(SessionFacility):
    kind = "echo"
    title = "Echo"
    accepts = frozenset({UIType.NOTEBOOK})

    def check(self, facility, timeout):
        return CheckResult(up=True, message=facility.settings.get("greeting", "hello"))

    def launch(self, facility, request, report):
        report.phase(Phase.LAUNCHING, "echoing", progress=50)
        report.ready(facility.url + request.launch_id)

@hookimpl
def register_facility_types(register, settings):
    register(Echo())
"""


def test_a_facility_type_is_registered_and_listed(app_factory, write_plugin):
    app = app_factory(extra_plugins=[write_plugin("echo-plugin", FACILITY_PLUGIN)])
    plugins = app.extensions["esap.plugins"]
    assert list(plugins.facility_types) == ["echo"] and plugins.owner("facility type", "echo") == "echo-plugin"
    listed = {p["name"]: p for p in app.test_client().get("/api/v1/plugins").get_json()["plugins"]}
    assert listed["echo-plugin"]["registered"] == {"facility type": ["echo"]}
    assert listed["echo-plugin"]["hooks"] == ["register_facility_types"]

    facility = Facility("local-echo", "echo", "https://echo.example.org/", Settings("local-echo", {}))
    request = launch_request()
    report = check_facility_type(plugins.facility_types["echo"], facility, request)
    assert report.ready_url == f"https://echo.example.org/{request.launch_id}"


def test_a_doubled_kind_is_refused_naming_the_first_plugin(app_factory, write_plugin):
    first = write_plugin("first-echo", FACILITY_PLUGIN)
    second = write_plugin("second-echo", FACILITY_PLUGIN)
    plugins = app_factory(extra_plugins=[first, second]).extensions["esap.plugins"]
    assert plugins.info["second-echo"].status == "failed"
    assert (
        "facility type 'echo'" in plugins.info["second-echo"].error
        and "'first-echo'" in plugins.info["second-echo"].error
    )


def test_only_facility_types_are_accepted(app_factory):
    class NotAType:
        kind = "fake"

    class Mixed:
        @hookimpl
        def register_facility_types(self, register):
            register(Good())
            register(NotAType())

    class Good(FacilityType):
        kind = "good"
        accepts = frozenset({UIType.WEB})

        def check(self, facility, timeout):
            return CheckResult(up=True)

    plugins = app_factory(extra_plugins=[("mixed", Mixed())]).extensions["esap.plugins"]
    assert "not a FacilityType" in plugins.info["mixed"].error
    assert plugins.facility_types == {}  # all or nothing per plugin
