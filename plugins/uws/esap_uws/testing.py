"""Pytest fixtures for the uws plugin: a real GAVO DaCHS serving a user-defined UWS, and services that misbehave.

``dachs_uws`` runs a DaCHS of its own on 127.0.0.1 with the plugin's test resource descriptor
(plugins/uws/tests/dachs/q.rd, served as ``esapuws/q``), its settings in a file of its own
(``GAVOSETTINGS``), its jobs' working folder (``uwsWD``) in a temp folder; DaCHS is
installed by plugins/uws/tests/install.sh. Every DaCHS on the machine shares the PostgreSQL
database ``gavo``: the fixture holds the lock /tmp/esap-dachs-tests.lock (which the vo
plugin's ``dachs`` takes too) for as long as its DaCHS runs, enables user UWSes once per
database (``dachs imp //uws enable_useruws``, only when ``uws.userjobs`` is missing), and
at the end destroys the jobs its tests left. The resource imports no table: nothing else
of the database is touched. ``misbehaving_services`` answers like broken servers do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from esap_core.testing import free_port, machine_lock

RESOURCE_DESCRIPTOR = Path(__file__).resolve().parents[1] / "tests" / "dachs" / "q.rd"
INSTALL_SCRIPT = "plugins/uws/tests/install.sh"
LOCK_FILE = Path(tempfile.gettempdir()) / "esap-dachs-tests.lock"
LOCK_WAIT = 1500.0  # a whole test run of another session on the machine may hold it (about 13 min)
START_TIMEOUT = 60.0
SERVICE = "esapuws/q/words"  # the service of the test resource descriptor


@dataclass(frozen=True)
class DachsUws:
    """A running DaCHS with the test UWS: its job list and the description of its parameters."""

    base_url: str
    jobs_url: str
    description_url: str


@pytest.fixture(scope="session")
def dachs_uws() -> Iterator[DachsUws]:
    """DaCHS on 127.0.0.1 serving the test UWS, for the session, holding the machine's DaCHS lock."""
    if shutil.which("dachs") is None:
        pytest.fail(f"GAVO DaCHS is not installed: run `sh {INSTALL_SCRIPT}` (as root)", pytrace=False)
    with machine_lock(LOCK_FILE, LOCK_WAIT):  # shared with the vo plugin's DaCHS when both run in one session
        yield from _serve(RESOURCE_DESCRIPTOR)


def _serve(descriptor: Path) -> Iterator[DachsUws]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    root = Path(tempfile.mkdtemp(prefix="esap-uws-dachs-"))
    root.chmod(0o755)  # DaCHS runs as dachsroot and reads its inputs here
    (root / "inputs" / "esapuws").mkdir(parents=True)
    (root / "jobs").mkdir()
    shutil.copy(descriptor, root / "inputs" / "esapuws" / "q.rd")
    settings = root / "gavo.rc"
    settings.write_text(
        f"[general]\nrootDir: /var/gavo\ninputsDir: {root}/inputs\nuwsWD: {root}/jobs\n"
        f"[web]\nbindAddress: 127.0.0.1\nserverPort: {port}\nserverURL: {base_url}\n"
        "[ivoa]\nauthority: esap.test\n"
        "[async]\nmaxUserUWSRunningDefault: 4\n"
    )
    if os.geteuid() == 0:
        for path in (root, *root.rglob("*")):
            shutil.chown(path, user="dachsroot", group="gavo")
    environment = {**os.environ, "GAVOSETTINGS": str(settings), "GAVOCUSTOM": str(root / "no-custom")}
    log = root / "dachs.log"
    server = None
    try:
        if not _user_jobs_table(environment, log):
            _dachs(["imp", "//uws", "enable_useruws"], environment, log)
        with log.open("a") as out:
            server = subprocess.Popen(
                ["dachs", "serve", "debug"], env=environment, stdout=out, stderr=subprocess.STDOUT, **_dachs_user()
            )
        jobs_url = f"{base_url}/{SERVICE}/async"
        _wait_for(jobs_url, server, log)
        yield DachsUws(base_url, jobs_url, f"{base_url}/{SERVICE}/api?MAXREC=0")
        _destroy_jobs(jobs_url)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(root, ignore_errors=True)


def _dachs_user() -> dict:
    """DaCHS runs as its own administrator account when we are root, so its files stay its own."""
    return {"user": "dachsroot", "group": "gavo"} if os.geteuid() == 0 else {}


def _dachs(arguments: list[str], environment: dict, log: Path) -> None:
    with log.open("a") as out:
        done = subprocess.run(
            ["dachs", *arguments], env=environment, stdout=out, stderr=subprocess.STDOUT, **_dachs_user()
        )
    if done.returncode:
        raise RuntimeError(f"`dachs {' '.join(arguments)}` failed:\n{log.read_text()[-2000:]}")


def _user_jobs_table(environment: dict, log: Path) -> bool:
    """Whether this database has DaCHS's table of user UWS jobs (enabling it again would empty it)."""
    probe = (
        "from gavo import base\n"
        "with base.getTableConn() as conn:\n"
        "    print(list(conn.query(\"select to_regclass('uws.userjobs') is not null\"))[0][0])\n"
    )
    with log.open("a") as out:
        done = subprocess.run(
            ["/usr/bin/python3", "-c", probe],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
            **_dachs_user(),
        )
    return done.stdout.strip() == "True"


def _wait_for(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"DaCHS exited with code {server.returncode}:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(urllib.error.URLError, OSError), urllib.request.urlopen(url, timeout=2):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"DaCHS did not answer {url} within {START_TIMEOUT:g} s")
        time.sleep(0.2)


def _destroy_jobs(jobs_url: str) -> None:
    """Destroy the jobs the tests left, so the shared database keeps none of them."""
    with contextlib.suppress(urllib.error.URLError, OSError, ElementTree.ParseError):
        with urllib.request.urlopen(jobs_url, timeout=10) as answer:
            listing = ElementTree.fromstring(answer.read())
        for reference in listing.iter("{http://www.ivoa.net/xml/UWS/v1.0}jobref"):
            request = urllib.request.Request(f"{jobs_url}/{reference.get('id')}", method="DELETE")
            with contextlib.suppress(urllib.error.URLError):
                urllib.request.urlopen(request, timeout=10).close()


# --- services that misbehave -----------------------------------------------------------------

ANSWERS = {
    "html": ("text/html; charset=utf-8", b"<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>"),
    "garbage": ("text/xml", b"\x00\xffPK\x03\x04 this is not <xml at all"),
    "json": ("application/json", b'{"phase": "COMPLETED"}'),
    "foreign": ("text/xml", b"<?xml version='1.0'?><rss version='2.0'><channel/></rss>"),
}


@dataclass(frozen=True)
class MisbehavingServices:
    """Job lists whose every answer is an HTML page, garbage, JSON, or XML of another vocabulary."""

    html: str
    garbage: str
    json: str
    foreign: str


def _handler(content_type: str, body: bytes) -> type[BaseHTTPRequestHandler]:
    class Misbehaving(BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = answer

        def log_message(self, *args: object) -> None:
            pass

    return Misbehaving


@pytest.fixture(scope="session")
def misbehaving_services() -> Iterator[MisbehavingServices]:
    servers = {name: ThreadingHTTPServer(("127.0.0.1", 0), _handler(*answer)) for name, answer in ANSWERS.items()}
    for server in servers.values():
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield MisbehavingServices(
            **{name: f"http://127.0.0.1:{server.server_address[1]}/svc/async" for name, server in servers.items()}
        )
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()
