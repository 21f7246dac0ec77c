"""Plugin loading: built-ins, installed distributions, failures named and skipped, explicit order."""

import json
import subprocess
import sys

import pytest

from esap_core import Archive, FacilityType, UIType, hookimpl
from esap_core.hookspecs import Settings
from tests.plugin_dist import install_plugin

ARCHIVE_PLUGIN = """
from esap_core import Archive, hookimpl

class Demo(Archive):
    name = "demo-archive"
    title = "Demo"

@hookimpl
def register_archives(register, settings):
    register(Demo())
"""


def test_builtin_blank_notebook_is_loaded(app):
    plugins = app.extensions["esap.plugins"]
    assert plugins.info["blank-notebook"].builtin
    assert plugins.info["blank-notebook"].status == "loaded"
    source = plugins.software_sources["blank-notebook"]
    (record,) = list(source.harvest(None))
    assert record.ui_type is UIType.NOTEBOOK and record.repository_url.startswith("https://")


def test_builtin_reads_its_settings(app_factory):
    app = app_factory(plugins={"blank-notebook": {"repository_url": "https://example.org/env.git", "ref": "v1"}})
    (record,) = list(app.extensions["esap.plugins"].software_sources["blank-notebook"].harvest(None))
    assert (record.repository_url, record.ref) == ("https://example.org/env.git", "v1")


def test_plugin_gets_its_own_settings_section(app_factory, write_plugin):
    seen = {}

    class Spy:
        @hookimpl
        def register_archives(self, register, settings):
            seen["settings"] = settings

    app_factory(extra_plugins=[("spy", Spy())], plugins={"spy": {"colour": "blue"}, "other": {"colour": "red"}})
    assert isinstance(seen["settings"], Settings)
    assert dict(seen["settings"]) == {"colour": "blue"}


def test_implementation_may_take_fewer_arguments(app_factory, write_plugin):
    plugin = write_plugin("few", ARCHIVE_PLUGIN.replace("(register, settings)", "(register)"))
    app = app_factory(extra_plugins=[plugin])
    assert "demo-archive" in app.extensions["esap.plugins"].archives


def test_duplicate_name_is_refused_with_both_plugins_named(app_factory, write_plugin):
    first = write_plugin("first", ARCHIVE_PLUGIN)
    second = write_plugin("second", ARCHIVE_PLUGIN)
    plugins = app_factory(extra_plugins=[first, second]).extensions["esap.plugins"]
    assert plugins.info["first"].status == "loaded"
    assert plugins.info["second"].status == "failed"
    assert "'demo-archive'" in plugins.info["second"].error and "'first'" in plugins.info["second"].error
    assert plugins.owner("archive", "demo-archive") == "first"


def test_misspelled_hook_fails_loudly_and_others_load(app_factory, write_plugin):
    typo = write_plugin("typo", ARCHIVE_PLUGIN.replace("def register_archives", "def register_archive"))
    good = write_plugin("good", ARCHIVE_PLUGIN)
    plugins = app_factory(extra_plugins=[typo, good]).extensions["esap.plugins"]
    assert plugins.info["typo"].status == "failed"
    assert "unknown hook 'register_archive'" in plugins.info["typo"].error
    assert plugins.info["good"].status == "loaded" and "demo-archive" in plugins.archives


def test_misspelled_hook_without_marker_is_caught_too(app_factory, write_plugin):
    source = ARCHIVE_PLUGIN.replace("@hookimpl\ndef register_archives", "def register_archivs")
    plugins = app_factory(extra_plugins=[write_plugin("unmarked", source)]).extensions["esap.plugins"]
    assert "unknown hook 'register_archivs'" in plugins.info["unmarked"].error


def test_wrong_object_and_bad_name_are_refused(app_factory, write_plugin):
    not_archive = write_plugin(
        "wrong", "from esap_core import hookimpl\n@hookimpl\ndef register_archives(register):\n    register('x')\n"
    )
    bad_name = write_plugin("badname", ARCHIVE_PLUGIN.replace('"demo-archive"', '"no spaces/allowed"'))
    plugins = app_factory(extra_plugins=[not_archive, bad_name]).extensions["esap.plugins"]
    assert "not a Archive" in plugins.info["wrong"].error
    assert "invalid name" in plugins.info["badname"].error


def test_raising_while_registering_keeps_nothing_of_that_plugin(app_factory, write_plugin):
    source = ARCHIVE_PLUGIN.replace("    register(Demo())", "    register(Demo())\n    raise RuntimeError('boom')")
    plugins = app_factory(extra_plugins=[write_plugin("halfway", source)]).extensions["esap.plugins"]
    assert plugins.info["halfway"].error == "failed while registering: RuntimeError: boom"
    assert "demo-archive" not in plugins.archives and plugins.info["halfway"].registered == {}


def test_registration_order_is_builtins_then_given_order(app_factory, write_plugin):
    def source_plugin(name):
        return write_plugin(
            name,
            f"""
from esap_core import SoftwareSource, hookimpl
class S(SoftwareSource):
    name = "{name}-source"
@hookimpl
def register_software_sources(register):
    register(S())
""",
        )

    app = app_factory(extra_plugins=[source_plugin("zeta"), source_plugin("alpha")])
    plugins = app.extensions["esap.plugins"]
    builtins = ["blank-notebook", "git-repositories"]
    assert list(plugins.software_sources) == [*builtins, "zeta-source", "alpha-source"]
    assert list(plugins.info) == [*builtins, "zeta", "alpha"]


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Two pip-installed throw-away distributions, one good and one that raises at import."""
    good = install_plugin(tmp_path, "partner", ARCHIVE_PLUGIN)
    broken = install_plugin(tmp_path, "broken", "raise ImportError('needs a library that is missing')")
    for folder in (good, broken):
        monkeypatch.syspath_prepend(str(folder))
    yield f"{good}:{broken}"
    for name in ("esap_partner", "esap_broken"):
        sys.modules.pop(name, None)


def test_installed_distribution_appears_in_api_and_cli(app_factory, installed, database_url, redis_url, tmp_path):
    app = app_factory(load_plugins=["partner", "broken"])
    listed = {p["name"]: p for p in app.test_client().get("/api/v1/plugins").get_json()["plugins"]}
    assert listed["partner"]["status"] == "loaded" and listed["partner"]["version"] == "1.2.3"
    assert listed["partner"]["registered"] == {"archive": ["demo-archive"]}
    assert listed["partner"]["hooks"] == ["register_archives"]
    assert listed["broken"]["status"] == "failed"
    assert "ImportError: needs a library that is missing" in listed["broken"]["error"]

    page = app.test_client().get("/plugins").get_data(as_text=True)
    assert "esap-partner" not in page and "partner" in page and "needs a library that is missing" in page

    environment = {
        "PATH": "",
        "PYTHONPATH": installed,
        "ESAP_DATABASE_URL": database_url,
        "ESAP_REDIS_URL": redis_url,
        "ESAP_INSTANCE_PATH": str(tmp_path / "cli"),
        "ESAP_LOAD_PLUGINS": "partner,broken",
    }
    result = subprocess.run(
        [sys.executable, "-m", "esap_core.cli", "plugins", "--json"],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    statuses = {p["name"]: p["status"] for p in json.loads(result.stdout)}
    assert statuses == {
        "blank-notebook": "loaded",
        "git-repositories": "loaded",
        "partner": "loaded",
        "broken": "failed",
    }
    assert "plugin 'broken' could not be loaded" in result.stderr


def test_a_plugin_that_registered_nothing_says_why(app_factory, write_plugin, monkeypatch):
    monkeypatch.delenv("ESAP_OFFLINE", raising=False)  # offline, the note says that instead (test_public_defaults)
    waiting = ARCHIVE_PLUGIN.replace("    register(Demo())", "    if settings.get('url'):\n        register(Demo())")
    app = app_factory(extra_plugins=[write_plugin("waiting", waiting), write_plugin("hookless", "VALUE = 1\n")])
    info = app.extensions["esap.plugins"].info
    assert info["waiting"].note == (
        "registered nothing: no [plugins.waiting] settings are configured (its README says which)"
    )
    assert info["hookless"].note == "registered nothing: it implements no register_ hook"
    assert info["blank-notebook"].note == ""
    listed = {p["name"]: p for p in app.test_client().get("/api/v1/plugins").get_json()["plugins"]}
    assert listed["waiting"]["status"] == "loaded" and listed["waiting"]["note"] == info["waiting"].note
    assert "no [plugins.waiting] settings are configured" in app.test_client().get("/plugins").get_data(as_text=True)

    configured = app_factory(extra_plugins=[write_plugin("waiting", waiting)], plugins={"waiting": {"colour": "blue"}})
    assert configured.extensions["esap.plugins"].info["waiting"].note == (
        "registered nothing with its [plugins.waiting] settings (its README says which it needs)"
    )


def test_block_list_and_allow_list(app_factory, installed):
    blocked = app_factory(installed=True, block_plugins=["broken"]).extensions["esap.plugins"]
    assert "partner" in blocked.info and "broken" not in blocked.info
    allowed = app_factory(installed=True, load_plugins=["broken"]).extensions["esap.plugins"]
    assert "partner" not in allowed.info and "broken" in allowed.info


def test_base_classes_say_what_is_missing():
    with pytest.raises(NotImplementedError):
        Archive().search({}, 1, None, 1.0)
    with pytest.raises(NotImplementedError):
        FacilityType().check(None, 1.0)
