"""docs/plugins.md stays true: a section per hook, every public type, and a walk-through plugin that really works."""

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import esap_core
from esap_core import Phase, Secret, Settings, hookspecs
from esap_core.testing import check_facility_type, launch_request

GUIDE = Path(__file__).parent.parent / "docs" / "plugins.md"
WALKTHROUGH_PLUGIN = "shared-jupyter"


def hooks() -> dict[str, inspect.Signature]:
    """Every hook of the contract: the functions hookspecs.py marks with @hookspec."""
    found = {name: inspect.signature(value) for name, value in vars(hookspecs).items() if hasattr(value, "esap_spec")}
    assert found, "no hooks found in esap_core/hookspecs.py"
    return found


def hook_sections() -> dict[str, str]:
    """The '### ' sections under '## Hook reference', by heading."""
    reference = GUIDE.read_text().split("\n## Hook reference\n", 1)[1].split("\n## ", 1)[0]
    sections = re.split(r"^### (.+)$", reference, flags=re.MULTILINE)
    return dict(zip(sections[1::2], sections[2::2], strict=True))


def walkthrough_files() -> dict[str, str]:
    """The blocks marked ```<language> file=<path>, joined per file in the order they appear."""
    files: dict[str, str] = {}
    for path, body in re.findall(r"^```\w+ file=(\S+)\n(.*?)^```$", GUIDE.read_text(), re.MULTILINE | re.DOTALL):
        before = files.get(path)
        files[path] = body if before is None else before + ("\n" if body.startswith(" ") else "\n\n") + body
    return files


def test_every_hook_has_a_section_naming_its_arguments():
    sections = hook_sections()
    for name, signature in hooks().items():
        assert f"`{name}`" in sections, f"docs/plugins.md has no '### `{name}`' under '## Hook reference'"
        for argument in signature.parameters:
            assert f"`{argument}" in sections[f"`{name}`"], f"the section on {name} does not name {argument!r}"


def test_every_section_names_a_hook():
    known = {f"`{name}`" for name in hooks()}
    for heading in hook_sections():
        assert heading in known, f"the hook reference has a section {heading}, which is no hook in hookspecs.py"


def test_every_public_name_is_documented():
    guide = GUIDE.read_text()
    missing = [name for name in esap_core.__all__ if f"`{name}`" not in guide]
    assert not missing, f"docs/plugins.md does not mention {missing}"


def test_the_walkthrough_is_a_whole_plugin():
    assert sorted(walkthrough_files()) == [
        "esap_shared_jupyter/__init__.py",
        "esap_shared_jupyter/facility.py",
        "esap_shared_jupyter/plugin.py",
        "pyproject.toml",
        "tests/test_shared_jupyter.py",
    ]


@pytest.fixture
def walkthrough_plugin(tmp_path, monkeypatch):
    """The plugin of the walk-through, written from the guide's blocks, ruff clean and pip-installed."""
    project = tmp_path / "esap-shared-jupyter"
    for path, text in walkthrough_files().items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text)
    lint = [sys.executable, "-m", "ruff", "check", "--no-cache", "--line-length", "120"]
    linted = subprocess.run([*lint, "--select", "E,F,W,I,B,UP,SIM", "."], cwd=project, capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
        + ["--target", str(site), str(project)],
        check=True,
    )
    monkeypatch.syspath_prepend(str(site))
    yield project, site
    for module in [name for name in sys.modules if name.startswith("esap_shared_jupyter")]:
        del sys.modules[module]


def test_the_walkthrough_plugin_passes_its_own_tests(walkthrough_plugin):
    project, site = walkthrough_plugin
    result = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_the_walkthrough_plugin_installs_and_launches(walkthrough_plugin, app_factory, binderhub_server):
    plugins = app_factory(installed=True, load_plugins=[WALKTHROUGH_PLUGIN]).extensions["esap.plugins"]
    assert plugins.info[WALKTHROUGH_PLUGIN].status == "loaded"
    facility_type = plugins.facility_types[WALKTHROUGH_PLUGIN]
    # A real JupyterLab server, at a path below its host as many shared servers are.
    jupyter = binderhub_server.jupyter
    url = jupyter.start()
    settings = Settings("shared", {"token": Secret(jupyter.token, "test")})
    facility = esap_core.Facility("shared", WALKTHROUGH_PLUGIN, url, settings, trusted=True)  # an admin's
    files = {"analysis.ipynb": json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})}
    files["esap_settings.json"] = json.dumps({"launch": "walkthrough"})
    request = launch_request(files=files)

    report = check_facility_type(facility_type, facility, request)

    folder = jupyter.root_dir / f"esap-{request.launch_id}"
    assert json.loads((folder / "esap_settings.json").read_text()) == {"launch": "walkthrough"}
    assert json.loads((folder / "analysis.ipynb").read_text())["nbformat"] == 4
    assert report.ready_url == f"{url}lab/tree/esap-{request.launch_id}/analysis.ipynb"
    assert report.phases == [Phase.LAUNCHING, Phase.LOADING]
    assert facility_type.check(facility, 10).up
    # A researcher's own facility at the same address: the walk-through's requests go through the guard.
    private = facility_type.check(esap_core.Facility("mine", WALKTHROUGH_PLUGIN, url, settings), 10)
    assert not private.up and "127.0.0.1" in private.message
