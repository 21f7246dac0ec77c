"""Root pytest configuration: the core's fixtures, its own servers, and the servers each plugin carries.

The core's servers (the OpenID provider, Chromium) live in tests/servers/; every plugin's
servers live with the plugin, in ``plugins/<name>/esap_<name>/testing.py``, and are loaded
here for ESAP's end-to-end tests. A plugin's own tests load them from its tests/conftest.py,
so a plugin folder copied out of this repository runs its tests alone.
"""

import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent
# Every app the tests make is offline (no public default service) unless a test says otherwise.
os.environ["ESAP_OFFLINE"] = "1"

pytest_plugins = [
    "tests.loopback_only",  # first: nothing the others import or start may leave this machine
    "tests.fixtures",
    "tests.job_setup",
    *(f"tests.servers.{path.stem}" for path in sorted((HERE / "tests" / "servers").glob("[!_]*.py"))),
    *(f"{path.parent.name}.testing" for path in sorted(HERE.glob("plugins/*/esap_*/testing.py"))),
]

# Servers one machine can run only one of at a time (DaCHS shares the PostgreSQL database `gavo`;
# SAMP's Web Profile port is fixed): under pytest-xdist every test that uses one is meant to run on
# the same worker (`--dist loadgroup`). xdist 3.8 marks the groups in the test ids, which pytest 9
# no longer reads back, so what keeps them apart is each server's machine lock (esap_core.testing's
# machine_lock), which also keeps two test runs on one machine apart.
EXCLUSIVE_FIXTURES = {"dachs": "dachs", "dachs_uws": "dachs", "samp_hub": "samp", "slurm": "slurm"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the groups into the test ids
def pytest_collection_modifyitems(config, items):
    for item in items:
        groups = {group for fixture, group in EXCLUSIVE_FIXTURES.items() if fixture in item.fixturenames}
        if groups:
            item.add_marker(pytest.mark.xdist_group(min(groups)))
