"""The hook implementation: what it registers from settings, and that it loads without astropy."""

import subprocess
import sys

import pytest
from esap_vo import defaults, plugin
from esap_vo.pinned import PinnedService
from esap_vo.registry import RegistryArchive

from esap_core import Settings


def registered(values: dict, offline: bool = False) -> list:
    archives: list = []
    plugin.register_archives(archives.append, Settings("vo", values, offline=offline))
    return archives


def test_defaults_register_the_public_registry_and_two_obscore_services():
    registry, *pinned = registered({})
    assert isinstance(registry, RegistryArchive)
    assert registry.name == "vo-registry"
    assert registry.registry_tap_url == defaults.REGISTRY == "https://reg.g-vo.org/tap"
    assert [(archive.name, archive.tap_url, archive.table) for archive in pinned] == [
        ("astron-vo", "https://vo.astron.nl/tap", "ivoa.obscore"),
        ("gavo-dc", "https://dc.g-vo.org/tap", "ivoa.obscore"),
    ]
    assert {archive.resolver_url for archive in pinned} == {defaults.NAME_RESOLVER}


def test_offline_no_public_default_is_registered_and_each_default_switches_off():
    assert registered({}, offline=True) == []
    [own] = registered({"services": [{"name": "own", "tap_url": "http://127.0.0.1:9/tap", "table": "t"}]}, True)
    assert own.name == "own" and own.resolver_url == ""  # offline, no public name resolver either
    assert registered({"registry_tap_url": "", "services": []}) == []


def test_without_a_name_resolver_a_target_search_says_so():
    from esap_vo.resolver import resolve

    from esap_core import ArchiveError

    with pytest.raises(ArchiveError, match="No name resolver is configured"):
        resolve("M31", "", 5)


def test_pinned_services_become_archives():
    services = [
        {"name": "obs-a", "title": "A", "tap_url": "http://127.0.0.1:9/tap", "table": "ivoa.obscore"},
        {"name": "obs-b", "tap_url": "http://127.0.0.1:9/tap", "table": "b.t", "columns": {"ra": "raj2000"}},
    ]
    archives = registered(
        {"registry_tap_url": "http://127.0.0.1:9/tap", "name_resolver_url": "http://r/s", "services": services}
    )
    assert [archive.name for archive in archives] == ["vo-registry", "obs-a", "obs-b"]
    assert all(isinstance(archive, PinnedService) for archive in archives[1:])
    assert archives[1].title == "A" and archives[1].columns["ra"] == "s_ra"
    assert archives[2].columns["ra"] == "raj2000" and archives[2].columns["dec"] == "s_dec"
    assert archives[2].resolver_url == "http://r/s"


def test_bad_service_settings_fail_loudly():
    with pytest.raises(ValueError, match="needs 'tap_url'"):
        registered({"services": [{"name": "x", "table": "t"}]})


def test_importing_the_plugin_does_not_import_astropy_or_pyvo():
    code = (
        "import sys, esap_vo.plugin; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('astropy', 'pyvo', 'numpy')))"
    )
    answer = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert answer.stdout.strip() == "[]"
