"""The plugin's hook and settings: one archive per instance, checked settings, a cheap import."""

import subprocess
import sys

import pytest
from esap_rucio import plugin
from esap_rucio.archive import RucioArchive
from esap_rucio.settings import read_instances

from esap_core import Archive, QueryKind, Secret, Settings

INSTANCES = [
    {"name": "escape", "title": "ESCAPE data lake", "host": "https://rucio.example.org/"},
    {
        "name": "lab",
        "host": "http://127.0.0.1:1",
        "auth": "userpass",
        "account": "esap",
        "username": "esap",
        "password": Secret("pw", "env:ESAP_RUCIO_PASSWORD"),
    },
]


def test_register_archives_registers_one_archive_per_instance():
    registered: list[Archive] = []
    plugin.register_archives(registered.append, Settings("rucio", {"instances": INSTANCES}))
    assert [archive.name for archive in registered] == ["escape", "lab"]
    escape, lab = registered
    assert isinstance(escape, RucioArchive)
    assert escape.title == "ESCAPE data lake" and lab.title == "lab"
    assert escape.instance.host == escape.instance.auth_host == "https://rucio.example.org"
    assert escape.instance.auth == "token"
    assert [field.name for field in escape.fields] == ["scope", "name", "did_type", "metadata"]
    assert escape.answers == frozenset({QueryKind.KEYWORDS})


def test_no_instances_registers_nothing():
    registered: list[Archive] = []
    plugin.register_archives(registered.append, Settings("rucio", {}))
    assert registered == []


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"title": "x", "host": "http://h"}, r"instances\[0\]\.name must be a non-empty string"),
        ({"name": "Bad Name", "host": "http://h"}, "must be lower-case letters"),
        ({"name": "a", "host": "ftp://h"}, "host must be an http:// or https:// URL"),
        ({"name": "a", "host": "http://h", "auth": "kerberos"}, "auth must be one of token, userpass, x509"),
        ({"name": "a", "host": "http://h", "auth": "userpass", "account": "a"}, "needs username and password"),
        (
            {"name": "a", "host": "http://h", "auth": "userpass", "account": "a", "username": "u", "password": "p"},
            "password must be a secret reference",
        ),
        ({"name": "a", "host": "http://h", "auth": "x509", "account": "a"}, "needs client_cert"),
        ({"name": "a", "host": "http://h", "max_results": 0}, "max_results must be a positive integer"),
        ({"name": "a", "host": "http://h", "keyword_scopes": "escape"}, "keyword_scopes must be a list"),
    ],
)
def test_bad_settings_name_the_entry(entry, message):
    with pytest.raises(ValueError, match=message):
        read_instances({"instances": [entry]})


def test_duplicate_names_are_refused():
    with pytest.raises(ValueError, match="'escape' is used more than once"):
        read_instances({"instances": [INSTANCES[0], INSTANCES[0]]})


def test_importing_the_plugin_does_not_import_rucio():
    code = "import sys, esap_rucio.plugin; print(sorted(m for m in sys.modules if m.split('.')[0] == 'rucio'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_entry_point_names_the_plugin_module():
    from importlib.metadata import entry_points

    [entry] = [ep for ep in entry_points(group="esap") if ep.name == "rucio"]
    assert entry.value == "esap_rucio.plugin"
