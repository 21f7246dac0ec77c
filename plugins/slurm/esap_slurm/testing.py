"""Pytest fixtures for the slurm plugin: a real one-node Slurm with slurmrestd, and git repositories over HTTP.

``slurm`` starts, in a temp folder of its own, a private munged, slurmctld, slurmd and two
slurmrestd: one on a unix socket with local authentication (how ESAP's worker on a login
node reaches it) and one on 127.0.0.1 with JWT authentication, which refuses every token
because Debian 12's Slurm has no auth/jwt plugin (it shows the headers ESAP sent in its
log). Every daemon binds 127.0.0.1 (``CommunicationParameters=NoCtldInAddrAny,NoInAddrAny``).
Jobs run as slurmrestd's user, nobody, in the Python environment tests/install.sh makes.
``git_server`` serves bare repositories with git's dumb HTTP protocol.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from esap_core import Facility, Settings
from esap_core.testing import free_port
from esap_slurm import unixhttp

INSTALL_SCRIPT = "plugins/slurm/tests/install.sh"
JOB_VENV = Path(os.environ.get("ESAP_SLURM_JOB_VENV", "/opt/esap-test/slurm-job-venv"))
DAEMONS = ("munged", "slurmctld", "slurmd", "slurmrestd")
START_TIMEOUT = 30.0


@dataclass
class SlurmCluster:
    """A running one-node Slurm: where to reach slurmrestd, where jobs work, and the means to break it."""

    root: Path
    socket: str  # slurmrestd with local (socket) authentication
    jwt_url: str  # slurmrestd with JWT authentication, which refuses every token here
    work_root: Path  # writable by nobody, the jobs' user
    python: str  # the jobs' interpreter, with papermill, ipykernel and requests
    partition: str = "debug"
    down_partition: str = "closed"  # State=DOWN: jobs sent there wait forever
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def jwt_log(self) -> str:
        return (self.root / "log" / "slurmrestd-jwt.log").read_text(errors="replace")

    @contextlib.contextmanager
    def rest_down(self) -> Iterator[None]:
        """slurmrestd (the socket one) stopped for the block, as when the cluster's REST API goes down."""
        _stop(self.processes.pop("slurmrestd"))
        Path(self.socket).unlink(missing_ok=True)
        try:
            yield
        finally:
            self.processes["slurmrestd"] = _start_socket_rest(self.root)
            _wait_for_rest(self.socket, self.processes["slurmrestd"])


@pytest.fixture(scope="session")
def slurm() -> Iterator[SlurmCluster]:
    """A private one-node Slurm on 127.0.0.1 for the session, stopped at its end."""
    missing = [name for name in DAEMONS if shutil.which(name) is None]
    if missing or not (JOB_VENV / "bin" / "python").exists():
        pytest.fail(
            f"Slurm or the jobs' environment is missing ({', '.join(missing) or JOB_VENV}): run `bash {INSTALL_SCRIPT}`"
        )
    if os.geteuid() != 0:
        pytest.fail("the Slurm fixture runs slurmctld and slurmd, which need root", pytrace=False)
    with running_slurm() as cluster:
        yield cluster


@contextlib.contextmanager
def running_slurm() -> Iterator[SlurmCluster]:
    """The one-node Slurm of the ``slurm`` fixture, for code outside pytest (the jobs benchmark); needs root."""
    root = Path(tempfile.mkdtemp(prefix="esap-slurm-"))
    root.chmod(0o755)  # slurmrestd and the jobs run as nobody and must reach the socket and the work folder
    processes: dict[str, subprocess.Popen] = {}
    try:
        conf = _lay_out(root)
        processes["munged"] = _popen(root, "munged", _munged_command(root))
        _wait_for_path(root / "munge" / "munge.socket", processes["munged"])
        processes["slurmctld"] = _popen(root, "slurmctld", ["slurmctld", "-D", "-f", str(conf)])
        processes["slurmd"] = _popen(root, "slurmd", ["slurmd", "-D", "-N", "localhost", "-f", str(conf)])
        processes["slurmrestd"] = _start_socket_rest(root)
        jwt_port = free_port()
        processes["slurmrestd-jwt"] = _popen(
            root, "slurmrestd-jwt", [*_rest_command(root, "rest_auth/jwt"), "-vvvv", f"127.0.0.1:{jwt_port}"]
        )
        socket = str(root / "restd" / "slurmrestd.socket")
        _wait_for_rest(socket, processes["slurmrestd"])
        _wait_for_idle_node(socket, processes)
        yield SlurmCluster(
            root=root,
            socket=socket,
            jwt_url=f"http://127.0.0.1:{jwt_port}/",
            work_root=root / "work",
            python=str(JOB_VENV / "bin" / "python"),
            processes=processes,
        )
    finally:
        for name in reversed(list(processes)):  # slurmrestd first, munged last
            _stop(processes[name])
        shutil.rmtree(root, ignore_errors=True)


def _lay_out(root: Path) -> Path:
    for name in ("state", "spool", "log", "munge"):
        (root / name).mkdir()
    for name in ("restd", "work"):  # slurmrestd makes its socket in restd/; jobs make their folders in work/
        (root / name).mkdir()
        shutil.chown(root / name, "nobody", "nogroup")
    (root / "munge").chmod(0o755)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    conf = root / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=esaptest",
                "SlurmctldHost=localhost(127.0.0.1)",
                "CommunicationParameters=NoCtldInAddrAny,NoInAddrAny",  # bind 127.0.0.1, not every address
                f"SlurmctldPort={free_port()}",
                f"SlurmdPort={free_port()}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={root}/munge/munge.socket",
                f"StateSaveLocation={root}/state",
                f"SlurmdSpoolDir={root}/spool",
                f"SlurmctldPidFile={root}/slurmctld.pid",  # this session's own: never another slurmctld's
                f"SlurmdPidFile={root}/slurmd.pid",
                f"SlurmctldLogFile={root}/log/slurmctld.log",
                f"SlurmdLogFile={root}/log/slurmd.log",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "AccountingStorageType=accounting_storage/none",
                "JobCompType=jobcomp/none",
                "MinJobAge=3600",  # finished jobs stay visible to slurmrestd
                "ReturnToService=2",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} RealMemory=1024 State=UNKNOWN",
                # FORCE:4 lets four small jobs share a core: the machine's cores are shared with other work
                "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4",
                "PartitionName=closed Nodes=localhost MaxTime=INFINITE State=DOWN",
                "",
            ]
        )
    )
    return conf


def _munged_command(root: Path) -> list[str]:
    munge = root / "munge"
    return [
        "munged",
        "--foreground",
        f"--socket={munge}/munge.socket",
        f"--key-file={munge}/munge.key",
        f"--log-file={root}/log/munged.log",
        f"--pid-file={munge}/munged.pid",
        f"--seed-file={munge}/munged.seed",
    ]


def _rest_command(root: Path, auth: str) -> list[str]:
    # slurmrestd refuses to run as root; without -s it asks for slurmdbd and aborts
    return [
        "slurmrestd",
        "-f",
        str(root / "slurm.conf"),
        "-u",
        "nobody",
        "-g",
        "nogroup",
        "-a",
        auth,
        "-s",
        "openapi/v0.0.38",
    ]


def _start_socket_rest(root: Path) -> subprocess.Popen:
    return _popen(root, "slurmrestd", [*_rest_command(root, "rest_auth/local"), f"unix:{root}/restd/slurmrestd.socket"])


def _popen(root: Path, name: str, command: list[str]) -> subprocess.Popen:
    environment = {**os.environ, "SLURM_CONF": str(root / "slurm.conf")}
    with (root / "log" / f"{name}.log").open("ab") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=root)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_for_path(path: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not path.exists():
        _alive(process)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not appear within {START_TIMEOUT:g} s")
        time.sleep(0.05)


def _get(socket: str, path: str) -> dict:
    status, _, body = unixhttp.request(socket, "GET", f"/slurm/v0.0.38/{path}", None, {}, 5, 1 << 22)
    return json.loads(body) if status == 200 else {}


def _wait_for_rest(socket: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        _alive(process)
        with contextlib.suppress(OSError, ValueError):
            if _get(socket, "ping").get("pings"):
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"slurmrestd did not answer on {socket} within {START_TIMEOUT:g} s")
        time.sleep(0.1)


def _wait_for_idle_node(socket: str, processes: dict[str, subprocess.Popen]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        for process in processes.values():
            _alive(process)
        nodes = _get(socket, "node/localhost").get("nodes") or [{}]
        if nodes[0].get("state") == "idle":
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Slurm node is {nodes[0].get('state')!r}, not idle, after {START_TIMEOUT:g} s")
        time.sleep(0.2)


def _alive(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        raise RuntimeError(f"{process.args[0]} exited with code {process.returncode}; see its log in the Slurm folder")


@pytest.fixture
def slurm_facility(slurm: SlurmCluster) -> Callable[..., Facility]:
    """``slurm_facility(trusted=True, url=..., **settings)``: a facility on the test cluster, through its socket.

    Settings given as None are left out; the defaults reach the cluster as a login node's worker would.
    """

    def make(trusted: bool = True, url: str = "http://localhost/", **settings: Any) -> Facility:
        values: dict[str, Any] = {
            "socket": slurm.socket,
            "partition": slurm.partition,
            "work_root": str(slurm.work_root),
            "python": slurm.python,
            "results_path": str(slurm.work_root),
            **settings,
        }
        values = {key: value for key, value in values.items() if value is not None}
        return Facility("test-slurm", "slurm", url, Settings("facility:test-slurm", values), trusted=trusted)

    return make


# --- git repositories over HTTP ---------------------------------------------------------------


@dataclass(frozen=True)
class GitServer:
    """Bare repositories served with git's dumb HTTP protocol; ``repository`` makes one."""

    folder: Path
    url: str

    def repository(self, name: str, files: dict[str, str | bytes], ref: str = "main") -> str:
        """A repository ``name`` holding ``files`` on branch ``ref``, committed once; its clone URL."""
        work = self.folder / f"{name}.work"
        work.mkdir()
        for path, content in files.items():
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content if isinstance(content, bytes) else content.encode())
        git = ["git", "-c", "user.name=ESAP tests", "-c", "user.email=tests@esap.invalid"]
        subprocess.run([*git, "init", "-q", "-b", ref, str(work)], check=True)
        subprocess.run([*git, "-C", str(work), "add", "."], check=True)
        subprocess.run([*git, "-C", str(work), "commit", "-q", "-m", "The test software"], check=True)
        bare = self.folder / f"{name}.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
        subprocess.run(["git", "-C", str(bare), "update-server-info"], check=True)  # what dumb HTTP clients read
        shutil.rmtree(work)
        return f"{self.url}/{name}.git"


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """A static HTTP server of ``folder`` on 127.0.0.1 (Python's http.server: GET and HEAD, no ranges)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietFiles, directory=str(folder)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    folder = tmp_path_factory.mktemp("git")
    with static_server(folder) as url:
        yield GitServer(folder, url)


@pytest.fixture
def esap_server(esap_app) -> Iterator[str]:
    """ESAP itself (``esap_app`` of esap_core.testing) served on 127.0.0.1: jobs download the notebook client there."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, esap_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
