"""`esap plugin new`: each kind of plugin is written, installs, is ruff clean, passes its own tests, and loads."""

import os
import subprocess
import sys

import pytest

from esap_core.cli import main

KINDS = {"archive": "archive", "software": "software source", "facility": "facility type"}


def esap(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "esap_core.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def run(*args, cwd, env=None):
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.mark.parametrize("kind", KINDS)
def test_a_new_plugin_installs_passes_its_own_tests_and_loads(kind, tmp_path, app_factory, monkeypatch):
    name = f"partner-{kind}"
    created = esap("plugin", "new", name, "--kind", kind, "--directory", str(tmp_path / "src"))
    assert created.returncode == 0, created.stderr
    project = tmp_path / "src" / f"esap-{name}"
    assert f"wrote {project}" in created.stdout
    assert sorted(str(path.relative_to(project)) for path in project.rglob("*") if path.is_file()) == [
        "README.md",
        f"esap_partner_{kind}/__init__.py",
        f"esap_partner_{kind}/plugin.py",
        "pyproject.toml",
        f"tests/test_esap_partner_{kind}.py",
    ]

    run("-m", "ruff", "check", "--no-cache", ".", cwd=project)
    run("-m", "ruff", "format", "--no-cache", "--check", ".", cwd=project)
    site = tmp_path / "site"
    run("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), ".", cwd=project)
    # -P: import the plugin as installed in site/, not from the source folder.
    environment = {**os.environ, "PYTHONPATH": str(site)}
    tests = run("-P", "-m", "pytest", "-p", "no:cacheprovider", "-q", cwd=project, env=environment)
    assert " passed" in tests.stdout and "failed" not in tests.stdout and "error" not in tests.stdout

    monkeypatch.syspath_prepend(str(site))
    try:
        app = app_factory(installed=True, load_plugins=[name])
        listed = {p["name"]: p for p in app.test_client().get("/api/v1/plugins").get_json()["plugins"]}
    finally:
        for module in [m for m in sys.modules if m.startswith(f"esap_partner_{kind}")]:
            del sys.modules[module]
    assert listed[name]["status"] == "loaded" and listed[name]["version"] == "0.1.0"
    assert listed[name]["registered"] == {KINDS[kind]: [name]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad_Name", "--kind", "archive"], "lower-case letters and digits"),
        (["x" * 31, "--kind", "archive"], "at most 30 characters"),
        (["ok", "--kind", "database"], "'database' is not one of 'archive', 'software', 'facility'"),
    ],
)
def test_bad_names_and_kinds_are_refused(args, message, tmp_path):
    result = esap("plugin", "new", *args, "--directory", str(tmp_path))
    assert result.returncode == 2 and message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_not_overwritten(tmp_path):
    (tmp_path / "esap-mine").mkdir()
    (tmp_path / "esap-mine" / "notes.txt").write_text("mine")
    result = esap("plugin", "new", "mine", "--kind", "software", "--directory", str(tmp_path))
    assert result.returncode == 2 and "exists and is not empty" in result.stderr
    assert [path.name for path in (tmp_path / "esap-mine").iterdir()] == ["notes.txt"]


def test_plugin_new_is_in_the_help():
    with pytest.raises(SystemExit):
        main(["plugin", "--help"])
    assert "new" in main.commands["plugin"].commands
