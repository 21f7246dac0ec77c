"""Real-server fixtures for VO archives: GAVO DaCHS with TAP, cone search and a small registry.

DaCHS (installed by plugins/vo/tests/install.sh) serves, on 127.0.0.1 and a free port:
a generated catalogue of 200 sources with a cone search, a small ObsCore-like table, the
files their access URLs point at, and a RegTAP registry (schema ``rr``) describing the
services, all through its TAP service. Beside it run tiny local HTTP servers for the
failures a VO client must survive: a slow proxy in front of DaCHS, a service answering an
HTML page, and a name resolver stub speaking Sesame's XML output format.

The configuration goes to a per-session file named by ``GAVOSETTINGS`` (DaCHS reads it
instead of /etc/gavo.rc), so a test run leaves the machine's own DaCHS set-up alone.
"""

from __future__ import annotations

import csv
import math
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from esap_core.testing import free_port, machine_lock

HERE = Path(__file__).resolve().parents[1] / "tests" / "dachs"
INSTALL_SCRIPT = "plugins/vo/tests/install.sh"
# One DaCHS database serves every session on the machine, and the imported rows hold the
# server's URL: sessions take turns rather than overwrite each other's tables.
LOCK_FILE = Path(tempfile.gettempdir()) / "esap-dachs-tests.lock"
LOCK_WAIT = 1500.0  # a whole test run of another session on the machine may hold it (about 13 min)
CLUSTER_CENTRE = (10.0, 10.0)  # 50 of the sources lie within half a degree of it
SLOW_DELAY = 6.0

# Objects the Sesame stub knows, with their positions (degrees, ICRS) as Simbad gives them.
KNOWN_OBJECTS = {"M31": (10.684708, 41.268750), "ESAP Cluster": CLUSTER_CENTRE}


@dataclass(frozen=True)
class Dachs:
    """A running DaCHS and what the tests need to know about its contents."""

    base_url: str
    tap_url: str
    cone_url: str
    registry_tap_url: str
    sources: tuple[dict, ...]
    observations: tuple[dict, ...]
    cluster_centre: tuple[float, float] = CLUSTER_CENTRE


@dataclass(frozen=True)
class FaultyServices:
    """Local endpoints that misbehave: slow (a delaying proxy to DaCHS) and broken (HTML)."""

    slow_base_url: str
    slow_tap_url: str
    slow_cone_url: str
    broken_base_url: str
    broken_tap_url: str
    broken_cone_url: str
    delay: float = SLOW_DELAY


# --- test data ------------------------------------------------------------------------


def generate_sources(base_url: str) -> list[dict]:
    """200 sources: 50 in a tight cluster (for cone searches), 150 spread over the sky."""
    rng = random.Random(20240601)
    sources = []
    for index in range(200):
        if index < 50:
            ra = CLUSTER_CENTRE[0] + rng.uniform(-0.3, 0.3)
            dec = CLUSTER_CENTRE[1] + rng.uniform(-0.3, 0.3)
        else:
            ra = rng.uniform(0, 360)
            dec = math.degrees(math.asin(rng.uniform(-1, 1)))
            if abs(ra - CLUSTER_CENTRE[0]) < 5 and abs(dec - CLUSTER_CENTRE[1]) < 5:
                dec = -dec  # keep the field around the cluster for the cluster alone
        name = f"ESAP-{index + 1:03d}"
        sources.append(
            {
                "name": name,
                "ra": round(ra, 6),
                "dec": round(dec, 6),
                "mag": round(rng.uniform(8, 20), 2),
                "access_url": f"{base_url}/esap/q/files/static/spectra/{name}.txt",
            }
        )
    return sources


def generate_observations(base_url: str) -> list[dict]:
    """24 observations in two collections, some on the cluster and some on M31."""
    targets = [("ESAP Cluster", CLUSTER_CENTRE), ("M31", KNOWN_OBJECTS["M31"]), ("Field X", (200.0, -30.0))]
    rng = random.Random(7)
    observations = []
    for index in range(24):
        target, (ra, dec) = targets[index % 3]
        collection = "ESAP-Optical" if index % 2 == 0 else "ESAP-Radio"
        obs_id = f"obs-{index + 1:02d}"
        observations.append(
            {
                "obs_id": obs_id,
                "obs_collection": collection,
                "target_name": target,
                "dataproduct_type": "image" if index % 4 else "cube",
                "s_ra": round(ra + rng.uniform(-0.1, 0.1), 6),
                "s_dec": round(dec + rng.uniform(-0.1, 0.1), 6),
                "s_fov": 0.2,
                "access_url": f"{base_url}/esap/q/files/static/obs/{obs_id}.txt",
                "access_format": "text/plain",
            }
        )
    return observations


def write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_inputs(inputs: Path, base_url: str, sources: list[dict], observations: list[dict]) -> None:
    """Lay out DaCHS's inputs directory: the resource descriptors, their data and files."""
    esap = inputs / "esap"
    esap.mkdir(parents=True)
    shutil.copy(HERE / "esap" / "q.rd", esap / "q.rd")
    write_csv(esap / "data" / "sources.csv", sources)
    write_csv(esap / "data" / "obs.csv", observations)
    for folder, rows, key in (("spectra", sources, "name"), ("obs", observations, "obs_id")):
        (esap / "files" / folder).mkdir(parents=True)
        for row in rows:
            (esap / "files" / folder / f"{row[key]}.txt").write_text(f"data of {row[key]}\n")

    registry = inputs / "rr"
    (registry / "data").mkdir(parents=True)
    shutil.copy(HERE / "rr" / "q.rd", registry / "q.rd")
    for template in (HERE / "rr").glob("*.csv"):
        text = template.read_text().replace("@BASE_URL@", base_url)
        (registry / "data" / template.name).write_text(text)


# --- running DaCHS ----------------------------------------------------------------------


def wait_for(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def dachs_user() -> dict:
    """Run DaCHS as its own administrator account when we are root, so its files stay its own."""
    if os.geteuid() == 0:
        return {"user": "dachsroot", "group": "gavo"}
    return {}


def run_dachs(args: list[str], env: dict, log: Path) -> None:
    with log.open("a") as out:
        result = subprocess.run(
            ["dachs", *args], env=env, stdout=out, stderr=subprocess.STDOUT, **dachs_user(), check=False
        )
    if result.returncode:
        raise RuntimeError(f"`dachs {' '.join(args)}` failed; see {log}:\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def dachs() -> Iterator[Dachs]:
    """DaCHS on 127.0.0.1 serving the test catalogue, the observations and the registry."""
    if shutil.which("dachs") is None:
        pytest.fail(f"GAVO DaCHS is not installed: run `sh {INSTALL_SCRIPT}` (as root)", pytrace=False)
    with machine_lock(LOCK_FILE, LOCK_WAIT):  # shared with the uws plugin's DaCHS when both run in one session
        yield from serve_dachs()


def serve_dachs() -> Iterator[Dachs]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="esap-dachs-"))
    workdir.chmod(0o755)  # DaCHS runs as dachsroot and must read its inputs here
    inputs = workdir / "inputs"
    sources = generate_sources(base_url)
    observations = generate_observations(base_url)
    write_inputs(inputs, base_url, sources, observations)
    settings = workdir / "gavo.rc"
    settings.write_text(
        "[general]\nrootDir: /var/gavo\n"
        f"inputsDir: {inputs}\n"
        "[web]\nbindAddress: 127.0.0.1\n"
        f"serverPort: {port}\nserverURL: {base_url}\n"
        "[ivoa]\nauthority: esap.test\n"
    )
    if os.geteuid() == 0:
        shutil.chown(workdir, user="dachsroot", group="gavo")
        for path in workdir.rglob("*"):
            shutil.chown(path, user="dachsroot", group="gavo")
    env = {**os.environ, "GAVOSETTINGS": str(settings), "GAVOCUSTOM": str(workdir / "no-custom")}
    log = workdir / "dachs.log"
    launcher = workdir / "serve.py"
    shutil.copy(HERE / "serve.py", launcher)
    # `dachs imp` drops and re-creates the tables: a new session simply re-imports.
    run_dachs(["imp", "esap/q"], env, log)
    run_dachs(["imp", "rr/q"], env, log)
    with log.open("a") as out:
        server = subprocess.Popen(
            ["/usr/bin/python3", str(launcher), "serve", "debug"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            **dachs_user(),
        )
    try:
        wait_for(f"{base_url}/tap/capabilities", 60, server)
        yield Dachs(
            base_url=base_url,
            tap_url=f"{base_url}/tap",
            cone_url=f"{base_url}/esap/q/cone/scs.xml",
            registry_tap_url=f"{base_url}/tap",
            sources=tuple(sources),
            observations=tuple(observations),
        )
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


# --- misbehaving services ----------------------------------------------------------------


def slow_proxy_handler(target: str, delay: float) -> type[BaseHTTPRequestHandler]:
    """A handler that waits ``delay`` seconds, then forwards the request to ``target``."""

    class SlowProxy(BaseHTTPRequestHandler):
        def forward(self, body: bytes | None) -> None:
            time.sleep(delay)
            request = urllib.request.Request(target + self.path, data=body, method=self.command)
            for header in ("Content-Type", "Accept"):
                if self.headers.get(header):
                    request.add_header(header, self.headers[header])
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    status, headers, content = answer.status, answer.headers, answer.read()
            except urllib.error.HTTPError as error:
                status, headers, content = error.code, error.headers, error.read()
            try:
                self.send_response(status)
                self.send_header("Content-Type", headers.get("Content-Type", "text/plain"))
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting, which is what the tests want to see

        def do_GET(self) -> None:
            self.forward(None)

        def do_POST(self) -> None:
            self.forward(self.rfile.read(int(self.headers.get("Content-Length", 0))))

        def log_message(self, *args) -> None:
            pass

    return SlowProxy


class HtmlPageHandler(BaseHTTPRequestHandler):
    """Answers every request with a 200 HTML page, as a misconfigured web server does."""

    page = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body><p>It works!</p></body></html>"

    def answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def do_GET(self) -> None:
        self.answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.answer()

    def log_message(self, *args) -> None:
        pass


class SesameHandler(BaseHTTPRequestHandler):
    """CDS Sesame's XML output (``nph-sesame/-ox/SNV?<name>``, schema sesame_4x.xsd).

    Follows the answer format documented at https://cds.unistra.fr/cgi-bin/Sesame: a
    ``Target`` per name, and per resolver that knows it a ``Resolver`` element with
    ``jradeg`` and ``jdedeg``; an unknown name gets ``*** Nothing found ***``.
    """

    def do_GET(self) -> None:
        name = urllib.parse.unquote_plus(urllib.parse.urlsplit(self.path).query)
        position = KNOWN_OBJECTS.get(name)
        if position is None:
            found = "  <INFO>*** Nothing found ***</INFO>\n"
        else:
            found = (
                '  <Resolver name="S=Simbad (via url):    1">\n'
                f"    <INFO>from cache</INFO>\n    <oname>{escape(name)}</oname>\n"
                f"    <jpos>{position[0]:.6f} {position[1]:+.6f}</jpos>\n"
                f"    <jradeg>{position[0]:.6f}</jradeg>\n    <jdedeg>{position[1]:+.6f}</jdedeg>\n"
                "  </Resolver>\n"
            )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Sesame xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
            ' xsi:noNamespaceSchemaLocation="http://vizier.u-strasbg.fr/xml/sesame_4x.xsd">\n'
            f'<Target option="SNV">\n  <name>{escape(name)}</name>\n{found}</Target>\n</Sesame>\n'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def serve_http(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="session")
def faulty_services(dachs: Dachs) -> Iterator[FaultyServices]:
    """A slow proxy in front of DaCHS (``SLOW_DELAY`` s per request) and a server answering HTML."""
    slow, slow_url = serve_http(slow_proxy_handler(dachs.base_url, SLOW_DELAY))
    broken, broken_url = serve_http(HtmlPageHandler)
    try:
        yield FaultyServices(
            slow_base_url=slow_url,
            slow_tap_url=f"{slow_url}/tap",
            slow_cone_url=f"{slow_url}/esap/q/cone/scs.xml",
            broken_base_url=broken_url,
            broken_tap_url=f"{broken_url}/tap",
            broken_cone_url=f"{broken_url}/scs.xml",
        )
    finally:
        for server in (slow, broken):
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="session")
def sesame() -> Iterator[str]:
    """A Sesame-style name resolver stub on loopback; yields the URL to put names after ``?``."""
    server, url = serve_http(SesameHandler)
    try:
        yield f"{url}/cgi-bin/nph-sesame/-ox/SNV"
    finally:
        server.shutdown()
        server.server_close()
