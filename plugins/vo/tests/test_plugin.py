"""The hook implementation: what it registers from settings, and that it loads without astropy."""

import subprocess
import sys

import pytest
from esap_vo import plugin
from esap_vo.pinned import PinnedService
from esap_vo.registry import DEFAULT_REGISTRY, RegistryArchive

from esap_core import Settings


def registered(values: dict) -> list:
    archives: list = []
    plugin.register_archives(archives.append, Settings("vo", values))
    return archives


def test_defaults_register_the_public_registry():
    [registry] = registered({})
    assert isinstance(registry, RegistryArchive)
    assert registry.name == "vo-registry"
    assert registry.registry_tap_url == DEFAULT_REGISTRY


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
