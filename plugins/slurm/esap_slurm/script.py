"""The batch script of a job: its folder and files, the software at its ref, the data staged, then the run.

Everything the job needs travels inside the script (slurmrestd takes no other files):
the staging files ESAP gave (``esap_settings.json``, with its token, kept at mode 600)
and the items to fetch, each as a base64 here-document. The script says each step in the
job's log (``[esap] ...`` lines) and, when it ends, leaves ``esap_job.json`` (exit code,
the step it was in, the commit) and ``esap_results.list`` (the sizes and names of the
files in ``output/``) for ESAP to read.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from esap_core import FacilityError, JobRequest
from esap_slurm.settings import SlurmSettings

PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
SETTINGS_FILE = "esap_settings.json"
REQUIREMENTS = ("binder/requirements.txt", "requirements.txt")  # Binder's order: binder/ first

STAGE_SCRIPT = '''\
"""Fetch this ESAP job's data items into data/ with ESAP's notebook client (written by esap-slurm)."""
import importlib, importlib.util, json, sys, urllib.request
from pathlib import Path

settings = json.loads(Path("esap_settings.json").read_text())
if importlib.util.find_spec("esap_client") is None:  # not installed here: take the client from ESAP itself
    urllib.request.urlretrieve(settings["api_url"] + "/api/v1/client/esap_client.py", "esap_client.py")
    importlib.invalidate_caches()
from esap_client import Basket

basket = Basket(settings["api_url"], settings["token"])
fetched = {}
for number, item in enumerate(json.loads(Path("esap_items.json").read_text()), 1):
    name = item.get("title") or item["identifier"]
    try:
        got = basket.fetch(item, directory="data")
        if not isinstance(got, Path):  # a TAP item is a table: keep it as a VOTable
            got.write(f"data/item-{number}.vot", format="votable")
            got = Path(f"data/item-{number}.vot")
    except Exception as error:
        sys.exit(f"[esap] could not fetch {name}: {error}")
    fetched[item["identifier"]] = str(got.resolve())
    print(f"[esap] fetched {name} into {got}", flush=True)
Path("data/esap_data.json").write_text(json.dumps(fetched, indent=2))
'''


def job_name(folder: str) -> str:
    """The Slurm job name, which tells ESAP's job from another that got the same Slurm id later."""
    return f"esap-{folder}"


def log_name(folder: str) -> str:
    """The job's standard output, beside its folder (Slurm opens it before the script makes the folder)."""
    return f"{folder}.log"


def batch_script(request: JobRequest, settings: SlurmSettings, folder: str) -> str:
    """The whole script for ``request``; raise FacilityError for what cannot run (before anything is sent)."""
    software = request.software
    if not software.repository_url.startswith(("http://", "https://")):
        raise FacilityError(f"the software's repository {software.repository_url!r} is not an http(s) git URL")
    if bool(request.command.strip()) == bool(request.notebook.strip()):
        raise FacilityError("a Slurm job runs exactly one of a command and a notebook")
    parameters = checked_parameters(request.parameters)
    files = dict(request.staging())
    if request.data and SETTINGS_FILE not in files:
        raise FacilityError(f"ESAP gave no {SETTINGS_FILE} to fetch the job's data items with")
    files["esap_items.json"] = json.dumps([_item(item) for item in request.data])
    files["esap_stage.py"] = STAGE_SCRIPT
    lines = [
        "#!/bin/bash",
        f"# ESAP job {request.job_id} for {_comment(request.user.username)}: {_comment(software.name)}",
        "# Written by esap-slurm: each step says what it does in the job's log.",
        "set -euo pipefail",
        "umask 022",
        "export GIT_TERMINAL_PROMPT=0 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONUNBUFFERED=1",
        f"JOB_DIR={shlex.quote(f'{settings.work_root}/{folder}')}",
        f"PYTHON={shlex.quote(settings.python)}",
        "STEP=prepare COMMIT=",
        'say() { echo "[esap] $(date -u +%Y-%m-%dT%H:%M:%SZ) $*"; }',
        *_finish(),
        _say(f"job {request.job_id}: prepare the folder {settings.work_root}/{folder}"),
        'mkdir -- "$JOB_DIR"',  # never mix two jobs' files: a folder that exists is an error
        'cd -- "$JOB_DIR"',
        "trap finish EXIT",
        "mkdir data output",
        'if [ ! -w "${HOME:-/nonexistent}" ]; then export HOME="$JOB_DIR"; fi',
        *_files(files),
        *_clone(software.repository_url, software.ref),
        *_setup(settings),
        *_stage(len(request.data)),
        'export ESAP_JOB_DIR="$JOB_DIR" ESAP_DATA="$JOB_DIR/data" ESAP_OUTPUT="$JOB_DIR/output"',
        *(
            _notebook(request.notebook, parameters)
            if request.notebook.strip()
            else _command(request.command, parameters)
        ),
        "STEP=done",
        _say("the job is done"),
    ]
    return "\n".join(lines) + "\n"


def checked_parameters(parameters: Mapping[str, Any]) -> dict[str, str | int | float | bool]:
    """The parameters as the notebook or command takes them; FacilityError for a name or value that cannot be."""
    checked = {}
    for name, value in parameters.items():
        if not isinstance(name, str) or not PARAMETER_NAME.fullmatch(name):
            raise FacilityError(f"parameter name {str(name)[:40]!r} is not an identifier (letters, digits and _)")
        if not isinstance(value, str | int | float | bool):
            raise FacilityError(f"parameter {name!r} must be text, a number or true/false, not {type(value).__name__}")
        if isinstance(value, str) and ("\0" in value or len(value) > 10000):
            raise FacilityError(f"parameter {name!r} must be text of at most 10000 characters, without NUL")
        checked[name] = value
    return checked


def _finish() -> list[str]:
    """The EXIT trap: say which step failed, and leave the summary and the list of results for ESAP."""
    return [
        "finish() {",
        "    code=$?",
        "    trap - EXIT",
        '    cd -- "$JOB_DIR"',
        '    [ "$code" -eq 0 ] || say "the step \'$STEP\' failed with exit code $code"',
        "    find output -type f -printf '%s %P\\0' > esap_results.list.tmp",
        "    mv esap_results.list.tmp esap_results.list",  # the list first: once the summary is there, it is whole
        '    printf \'{"exit_code": %d, "step": "%s", "commit": "%s"}\\n\' "$code" "$STEP" "$COMMIT" \\',
        "        > esap_job.json.tmp",
        "    mv esap_job.json.tmp esap_job.json",
        '    exit "$code"',
        "}",
    ]


def _files(files: Mapping[str, str]) -> list[str]:
    lines = ["STEP=files", _say(f"write the {len(files)} files of the job")]
    for name, text in sorted(files.items()):
        if not FILE_NAME.fullmatch(name):
            raise FacilityError(f"ESAP's staging file name {name!r} is not a plain file name")
        encoded = base64.encodebytes(text.encode()).decode().strip()
        private = name == SETTINGS_FILE  # it holds a token
        lines += [
            *(["(umask 077"] if private else ["("]),
            f"base64 -d > {name} <<'ESAP_FILE'",
            encoded,
            "ESAP_FILE",
            ")",
        ]
    return lines


def _clone(repository: str, ref: str) -> list[str]:
    ref = ref.strip() or "HEAD"
    if ref.startswith("-") or any(character.isspace() for character in ref):
        raise FacilityError(f"the software's ref {ref[:40]!r} is not a git ref")
    return [
        "STEP=clone",
        f"REPOSITORY={shlex.quote(repository)} REF={shlex.quote(ref)}",
        'say "clone $REPOSITORY at $REF"',
        'git clone --quiet --no-checkout -- "$REPOSITORY" checkout',
        'COMMIT=$(git -C checkout rev-parse --verify --quiet "origin/$REF^{commit}"'
        ' || git -C checkout rev-parse --verify "$REF^{commit}")',
        'git -C checkout checkout --quiet --detach "$COMMIT"',
        'say "at commit $COMMIT"',
    ]


def _setup(settings: SlurmSettings) -> list[str]:
    """RUN and PY: how the software runs, in the facility's container or a virtual environment of its own."""
    if settings.container:
        return [
            "STEP=setup",
            f'RUN=({settings.container_runtime} exec --bind "$JOB_DIR" {shlex.quote(settings.container)}) PY=python3',
            _say(f"run the software in the container {settings.container}"),
        ]
    requirements = " ".join(REQUIREMENTS)
    return [
        'STEP=setup RUN=() PY="$PYTHON"',
        f"for file in {requirements}; do",
        '    if [ -f "checkout/$file" ]; then',
        '        say "set up a virtual environment from $file"',
        "        # --without-pip and a .pth to the facility's environment: its packages (papermill, pip) are there",
        '        "$PYTHON" -m venv --without-pip venv',
        "        packages=$(venv/bin/python -c 'import sysconfig; print(sysconfig.get_path(\"purelib\"))')",
        '        "$PYTHON" -c \'import site; print("\\n".join(site.getsitepackages()))\' > "$packages/esap-base.pth"',
        '        venv/bin/python -m pip install --quiet -r "checkout/$file"',
        '        PY="$JOB_DIR/venv/bin/python"',
        '        export VIRTUAL_ENV="$JOB_DIR/venv" PATH="$JOB_DIR/venv/bin:$PATH"',
        "        break",
        "    fi",
        "done",
    ]


def _stage(count: int) -> list[str]:
    if not count:
        return []
    return [
        "STEP=stage",
        _say(f"stage {count} data item{'s' if count != 1 else ''} into data/"),
        '"${RUN[@]}" "$PY" esap_stage.py',
    ]


def _notebook(notebook: str, parameters: Mapping[str, Any]) -> list[str]:
    path = PurePosixPath(notebook.strip())
    if path.is_absolute() or ".." in path.parts or path.suffix != ".ipynb":
        raise FacilityError(f"the notebook {notebook[:100]!r} is not a .ipynb path inside the repository")
    arguments = []
    for name, value in parameters.items():
        # -r passes text as it is; -p lets papermill read numbers and True/False as such
        flag = "-r" if isinstance(value, str) else "-p"
        arguments += [flag, name, str(value)]
    return [
        "STEP=run",
        _say(f"run the notebook {path} with papermill"),
        f"cd checkout/{shlex.quote(str(path.parent))}",
        f'"${{RUN[@]}}" "$PY" -m papermill --no-progress-bar --log-output -k python3 {shlex.quote(path.name)}'
        f' "$ESAP_OUTPUT"/{shlex.quote(path.name)} {shlex.join(arguments)}'.rstrip(),
        'cd "$JOB_DIR"',
    ]


def _command(command: str, parameters: Mapping[str, Any]) -> list[str]:
    exports = [f"export ESAP_PARAM_{name.upper()}={shlex.quote(str(value))}" for name, value in parameters.items()]
    return [
        "STEP=run",
        *exports,
        _say("run the command"),
        "cd checkout",
        f'"${{RUN[@]}}" bash -c {shlex.quote(command)}',
        'cd "$JOB_DIR"',
    ]


def _item(item: Any) -> dict[str, Any]:
    return {"identifier": item.identifier, "title": item.title, "fetch": dict(item.fetch)}


def _say(text: str) -> str:
    """A line of the script that puts ``text`` in the job's log, quoted for the shell."""
    return f"say {shlex.quote(text)}"


def _comment(text: str) -> str:
    return " ".join(str(text).split())[:80]
