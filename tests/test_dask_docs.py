"""docs/dask.md stays true: its ESAP configuration reads as the plugin reads it, and its gateway configurations load."""

import json
import os
import re
import subprocess
import textwrap
import tomllib
from pathlib import Path

from esap_dask_gateway.settings import gateway_settings
from esap_dask_gateway.testing import VENV

from esap_core import Facility, Secret, Settings

GUIDE = Path(__file__).parent.parent / "docs" / "dask.md"
# Run in the test gateway's venv: a block of the guide as dask-gateway-server reads its configuration file.
LOAD_CONFIG = """
import json, sys
from traitlets.config import Config

c = Config()
exec(compile(sys.stdin.read(), "docs/dask.md", "exec"), {"c": c, "get_config": lambda: c})
options = c.Backend.get("cluster_options") if "Backend" in c else None
if options is not None:
    defaults = {field["field"]: field["default"] for field in options.get_specification()}
    print(json.dumps(options.get_configuration(defaults, None)))
else:
    print("{}")
"""


def blocks(language: str) -> list[str]:
    found = re.findall(rf"^ *```{language}\n(.*?)^ *```$", GUIDE.read_text(), re.MULTILINE | re.DOTALL)
    return [textwrap.dedent(body) for body in found]


def test_the_facility_it_configures_reads_as_the_plugin_reads_it():
    [config] = [tomllib.loads(block) for block in blocks("toml")]
    [values] = config["facilities"]
    settings = {
        key: Secret("from the environment", key) if isinstance(value, dict) and "env" in value else value
        for key, value in values["settings"].items()
    }

    read = gateway_settings(Facility(values["name"], values["kind"], values["url"], Settings("docs", settings)))

    assert values["kind"] == "dask-gateway"
    assert read.public_url == "https://dask.example.org" and read.api_url == "http://dask-proxy.internal.example.org"
    assert read.scheduler_address == "dask.example.org:443"  # what the guide says sessions use
    assert read.max_workers == 8 and read.username_template == "{preferred_username}"


def test_the_gateway_configurations_load_and_their_options_configure_clusters():
    session_cell, *gateway_configs = blocks("python")
    compile(session_cell, str(GUIDE), "exec")
    configured = []
    for block in gateway_configs:
        run = subprocess.run(
            [str(VENV / "bin" / "python"), "-c", LOAD_CONFIG],
            input=block,
            env={**os.environ, "DASK_GATEWAY_ESAP_PASSWORD": "from the environment"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        configured.append(json.loads(run.stdout))

    assert configured == [
        {},  # the authenticator alone
        {"worker_cores": 1, "worker_memory": 2 * 2**30, "image": "registry.example.org/dask-astro:2026.8"},
        {"partition": "short", "worker_cores": 1, "worker_memory": 4 * 2**30},
    ]
