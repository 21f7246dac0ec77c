"""The plugin as ESAP loads it: entry point, hook, settings, and an import that stays cheap."""

import subprocess
import sys
from importlib.metadata import entry_points

import esap_ossr.plugin
import pluggy
import pytest
from esap_ossr.source import DEFAULT_ZENODO_URL, OSSRSource

import esap_core.hookspecs
from esap_core import Settings, SoftwareSource


def registered(settings: dict) -> list[SoftwareSource]:
    manager = pluggy.PluginManager("esap")
    manager.add_hookspecs(esap_core.hookspecs)
    manager.register(esap_ossr.plugin)
    manager.check_pending()
    sources: list[SoftwareSource] = []
    manager.hook.register_software_sources(register=sources.append, settings=Settings("ossr", settings))
    return sources


def test_the_entry_point_names_the_plugin_module():
    (entry,) = [e for e in entry_points(group="esap") if e.name == "ossr"]
    assert entry.load() is esap_ossr.plugin


def test_the_hook_registers_one_source_with_defaults():
    (source,) = registered({})

    assert isinstance(source, OSSRSource)
    assert source.name == "ossr" and source.title and source.description
    config = source.config
    assert (config.community, config.zenodo_url, config.types) == ("escape2020", DEFAULT_ZENODO_URL, ("software",))
    assert (config.timeout, config.concurrency, config.page_size) == (30.0, 4, 25)
    assert source.last_report is None


def test_settings_are_read():
    (source,) = registered(
        {
            "community": "my-lab",
            "zenodo_url": "http://127.0.0.1:9/",
            "timeout": 5,
            "concurrency": 2,
            "types": "software",
        }
    )

    assert source.config.community == "my-lab"
    assert source.config.zenodo_url == "http://127.0.0.1:9"
    assert (source.config.timeout, source.config.concurrency, source.config.types) == (5, 2, ("software",))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"zenodo_url": "ftp://zenodo.org"}, "zenodo_url must be an http(s) URL, not 'ftp://zenodo.org'"),
        ({"timeout": "soon"}, "timeout must be a number, not 'soon'"),
        ({"timeout": 0}, "timeout must be between 0.1 and 600, not 0"),
        ({"concurrency": 2.5}, "concurrency must be an integer, not 2.5"),
        ({"concurrency": 100}, "concurrency must be between 1 and 32, not 100"),
        ({"page_size": 26}, "page_size must be between 1 and 25, not 26"),
        ({"community": " "}, "community must not be empty"),
        ({"types": []}, "types must be a list of Zenodo resource types, not []"),
        ({"comunity": "x"}, "unknown OSSR setting(s) comunity"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(settings, message):
    with pytest.raises(ValueError) as caught:
        registered(settings)
    assert message in str(caught.value)


def test_importing_the_plugin_imports_neither_eossr_nor_requests():
    code = "import sys, esap_ossr.plugin; print(sorted({'eossr', 'requests'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
