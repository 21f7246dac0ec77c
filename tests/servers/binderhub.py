"""A local BinderHub for tests: the build API's event stream, ending in a real Jupyter server.

A real BinderHub needs Docker and Kubernetes, so this server follows its build API
without building anything. The documents it follows:

- BinderHub's source (github.com/jupyterhub/binderhub): ``binderhub/builder.py``
  (``BuildHandler``: the Accept check, errors as a ``failed`` event in an HTTP 200
  stream, keep-alive comments, ``build_only``, the stream left open after ``ready``),
  ``binderhub/launcher.py`` (the fields of ``ready``), ``binderhub/health.py``,
  ``binderhub/base.py`` (``/versions``), ``binderhub/repoproviders.py`` (the specs of
  ``gh``, ``gl``, ``git`` and ``zenodo`` and their ``display_config``) and
  ``binderhub/app.py`` (the routes);
- repo2docker's JSON log lines (``repo2docker/app.py``), which BinderHub passes on as
  events: ``fetching``, ``building``, ``pushing`` with a ``progress`` dict, ``failure``;
- shared/peers/README.md, the summary of that protocol for this project.

What differs, on purpose: refs resolve without the network (a 40-hex ref is kept,
any other becomes a stable fake commit), only the four providers above exist, and
every launch is handed the same JupyterLab server (started lazily on 127.0.0.1 with
a token in a temporary folder, stock settings), so the contents API is real.

Tests steer a build by its spec with :meth:`LocalBinderHub.script`: fail with a
message, drop the connection after a phase, go slowly, or hang.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

BINDERHUB_VERSION = "1.0.0+esap.local"
REPO2DOCKER_VERSION = "2024.07.0"
IMAGE_PREFIX = "local-binderhub/binder-"
JUPYTER_START_TIMEOUT = 60.0


@dataclass
class Scenario:
    """How builds whose ``<provider>/<spec>`` matches a pattern behave."""

    fail: str = ""  # the build fails with this repo2docker error message
    die_after: str = ""  # drop the connection after the first event of this phase
    delay: float = 0.0  # seconds between events
    hang: bool = False  # stop after fetching, sending only keep-alives
    image_found: bool = False  # the image is already in the registry: no build
    keepalive: float | None = None  # seconds between keep-alives (default: the server's)


@dataclass
class BuildRecord:
    """What the server saw and did for one ``/build`` request."""

    provider: str
    spec: str
    query: dict[str, str]
    accept: str
    events: list[dict[str, Any]] = field(default_factory=list)
    keepalives: int = 0
    closed_by_client: bool = False
    dropped: bool = False


class ClientGone(Exception):
    """The client closed the event stream."""


class ServerStopping(Exception):
    """The test session is over."""


# --- repository providers (binderhub/repoproviders.py) ---------------------------------


@dataclass(frozen=True)
class Resolved:
    repo_url: str
    ref: str
    ref_url: str
    resolved_spec: str
    build_slug: str


def _fake_commit(text: str) -> str:
    """Resolve a branch or tag without the network: a stable 40-hex commit per ref."""
    if re.fullmatch(r"[0-9a-f]{40}", text):
        return text
    return hashlib.sha1(text.encode()).hexdigest()


def _resolve_github(spec: str) -> Resolved:
    parts = spec.split("/", 2)
    if len(parts) != 3:
        raise ValueError(f'Spec is not of the form "user/repo/ref", provided: "{spec}".')
    user, repo, ref = parts
    repo = repo.removesuffix(".git")
    commit = _fake_commit(f"gh/{user}/{repo}/{ref}")
    return Resolved(
        repo_url=f"https://github.com/{user}/{repo}",
        ref=commit,
        ref_url=f"https://github.com/{user}/{repo}/tree/{commit}",
        resolved_spec=f"{user}/{repo}/{commit}",
        build_slug=f"{user}-{repo}",
    )


def _resolve_gitlab(spec: str) -> Resolved:
    quoted_namespace, _, ref = spec.partition("/")
    namespace = urllib.parse.unquote(quoted_namespace)
    if not ref:
        raise ValueError("An unresolved ref is required")
    commit = _fake_commit(f"gl/{namespace}/{urllib.parse.unquote(ref)}")
    return Resolved(
        repo_url=f"https://gitlab.com/{namespace}.git",
        ref=commit,
        ref_url=f"https://gitlab.com/{namespace}/tree/{commit}",
        resolved_spec=f"{quoted_namespace}/{commit}",
        build_slug="-".join(p.replace("-", "_-") for p in namespace.split("/")),
    )


def _resolve_git(spec: str) -> Resolved:
    escaped_url, _, ref = spec.partition("/")
    repo = urllib.parse.unquote(escaped_url)
    protocol = urllib.parse.urlparse(repo).scheme
    if protocol not in {"http", "https", "git", "ssh"}:
        raise ValueError(f"Unsupported git url {repo}, protocol {protocol} not in http, https, git, ssh")
    if not ref:
        raise ValueError("`unresolved_ref` must be specified in the url for the basic git provider")
    commit = _fake_commit(f"git/{repo}/{urllib.parse.unquote(ref)}")
    return Resolved(repo_url=repo, ref=commit, ref_url=repo, resolved_spec=f"{escaped_url}/{commit}", build_slug=repo)


def _resolve_zenodo(spec: str) -> Resolved:
    # BinderHub asks doi.org; a DOI that is not a Zenodo one answers 404 there.
    match = re.fullmatch(r"10\.\d+/zenodo\.(\d+)", spec)
    if not match:
        raise LookupError("HTTP 404: Not Found")
    record_id = match.group(1)
    return Resolved(
        repo_url=spec,
        ref=record_id,
        ref_url=f"https://doi.org/{spec}",
        resolved_spec=spec,
        build_slug=f"zenodo-{record_id}",
    )


PROVIDERS = {"gh": _resolve_github, "gl": _resolve_gitlab, "git": _resolve_git, "zenodo": _resolve_zenodo}

DISPLAY_CONFIG = [
    {
        "displayName": "GitHub",
        "id": "gh",
        "spec": {"validateRegex": "[^/]+/[^/]+/.+"},
        "detect": {"regex": "^(https?://github.com/)?(?<repo>.*[^/])/?"},
        "repo": {"label": "GitHub repository name or URL", "urlEncode": False},
        "ref": {"enabled": True, "default": "HEAD"},
    },
    {
        "displayName": "GitLab",
        "id": "gl",
        "spec": {"validateRegex": "[^/]+/.+"},
        "detect": {"regex": "^(https?://gitlab.com/)?(?<repo>.*[^/])/?"},
        "repo": {"label": "GitLab repository name or URL", "urlEncode": True},
        "ref": {"enabled": True, "default": "HEAD"},
    },
    {
        "displayName": "Git repository",
        "id": "git",
        "spec": {"validateRegex": "[^/]+/.+"},
        "repo": {"label": "Arbitrary git repository URL", "urlEncode": True},
        "ref": {"enabled": True, "default": "HEAD"},
    },
    {
        "displayName": "Zenodo DOI",
        "id": "zenodo",
        "spec": {"validateRegex": "10\\.\\d+\\/(.)+"},
        "repo": {"label": "Zenodo DOI", "urlEncode": False},
        "ref": {"enabled": False},
    },
]


def _image_name(resolved: Resolved) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", resolved.build_slug.lower()).strip("-")
    digest = hashlib.sha256(resolved.build_slug.encode()).hexdigest()[:6]
    return f"{IMAGE_PREFIX}{slug}-{digest}:{resolved.ref}"


# --- the Jupyter server handed out on ready ----------------------------------------------


class JupyterSession:
    """One real JupyterLab server, started on first use and shared by every launch."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.root_dir = workdir / "home"
        self.token = hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:32]
        self.url = ""
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def start(self) -> str:
        """Start the server unless it runs; return its URL (with a trailing slash)."""
        with self._lock:
            if self._process is None:
                self._process = self._launch()
            return self.url

    def _launch(self) -> subprocess.Popen:
        self.root_dir.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        # The same path shape as a BinderHub user server: /user/<name>/.
        self.url = f"http://127.0.0.1:{port}/user/binder-session/"
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.workdir),
            "JUPYTER_CONFIG_DIR": str(self.workdir / "config"),
            "JUPYTER_DATA_DIR": str(self.workdir / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.workdir / "runtime"),
        }
        with open(self.workdir / "jupyter.log", "wb") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "jupyterlab",
                    "--no-browser",
                    "--allow-root",
                    "--ip=127.0.0.1",
                    f"--port={port}",
                    "--ServerApp.base_url=/user/binder-session/",
                    f"--ServerApp.token={self.token}",
                    f"--ServerApp.root_dir={self.root_dir}",
                    "--ServerApp.terminals_enabled=False",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + JUPYTER_START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited; see {self.workdir / 'jupyter.log'}")
            try:
                status = requests.get(
                    self.url + "api/status", headers={"Authorization": f"token {self.token}"}, timeout=2
                )
                if status.ok:
                    return process
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        process.kill()
        process.wait()
        raise RuntimeError(f"JupyterLab did not answer in {JUPYTER_START_TIMEOUT} s")

    def stop(self) -> None:
        with self._lock:
            if self._process is None:
                return
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the event stream -----------------------------------------------------------------


class EventStream:
    """A chunked ``text/event-stream`` response with BinderHub's keep-alive comments."""

    def __init__(self, handler: BinderHubHandler, record: BuildRecord, keepalive: float):
        self.handler = handler
        self.record = record
        self.keepalive = keepalive
        self.next_keepalive: float | None = None

    def open(self) -> None:
        handler = self.handler
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

    def start_keepalives(self) -> None:
        self.next_keepalive = time.monotonic() + self.keepalive

    def emit(self, event: dict[str, Any]) -> None:
        self.record.events.append(event)
        self._write(f"data: {json.dumps(event)}\n\n")

    def pause(self, seconds: float) -> None:
        """Wait, sending keep-alives on time, until ``seconds`` pass or the client leaves."""
        deadline = time.monotonic() + seconds
        server = self.handler.server
        while (now := time.monotonic()) < deadline:
            if server.stopping.is_set():
                raise ServerStopping
            if self.next_keepalive is not None and now >= self.next_keepalive:
                # Lines starting with ":" are comments that event consumers ignore.
                self._write(":keepalive\n\n")
                self.record.keepalives += 1
                self.next_keepalive = now + self.keepalive
            wake = min(deadline, self.next_keepalive or deadline, now + 0.2)
            self._watch_client(max(0.0, wake - time.monotonic()))

    def finish(self) -> None:
        self.handler.wfile.write(b"0\r\n\r\n")
        self.handler.wfile.flush()

    def drop(self) -> None:
        """Close the connection in the middle of the stream, as a crashed pod would."""
        self.record.dropped = True
        self.handler.connection.shutdown(socket.SHUT_RDWR)

    def _watch_client(self, seconds: float) -> None:
        connection = self.handler.connection
        readable, _, _ = select.select([connection], [], [], seconds)
        if readable:
            try:
                data = connection.recv(1024)
            except OSError as error:
                raise ClientGone from error
            if not data:
                raise ClientGone

    def _write(self, text: str) -> None:
        body = text.encode()
        try:
            self.handler.wfile.write(f"{len(body):x}\r\n".encode() + body + b"\r\n")
            self.handler.wfile.flush()
        except OSError as error:
            raise ClientGone from error


# --- the HTTP server ---------------------------------------------------------------------


class LocalBinderHub(ThreadingHTTPServer):
    """The server and the test controls (``url``, ``script``, ``builds``, ``healthy``)."""

    daemon_threads = True

    def __init__(self, workdir: Path):
        super().__init__(("127.0.0.1", 0), BinderHubHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.jupyter = JupyterSession(workdir)
        self.stopping = threading.Event()
        self.keepalive_interval = 25.0  # BinderHub's KEEPALIVE_INTERVAL
        self.linger = 60.0  # how long BinderHub keeps a stream open after ready
        self.api_only_mode = True  # BinderHub's enable_api_only_mode, which allows build_only
        self.healthy = True
        self.builds: list[BuildRecord] = []
        self._scenarios: list[tuple[str, Scenario]] = []

    def script(self, pattern: str, **behaviour: Any) -> None:
        """Make builds whose ``<provider>/<spec>`` matches ``pattern`` (fnmatch) behave so."""
        self._scenarios.insert(0, (pattern, Scenario(**behaviour)))

    def scenario_for(self, provider: str, spec: str) -> Scenario:
        key = f"{provider}/{spec}"
        for pattern, scenario in self._scenarios:
            if fnmatch.fnmatchcase(key, pattern):
                return scenario
        return Scenario()

    def builds_of(self, provider: str) -> list[BuildRecord]:
        return [build for build in self.builds if build.provider == provider]

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self.jupyter.stop()


class BinderHubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LocalBinderHub

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""

    def do_GET(self) -> None:
        # Keep the raw path: a git spec's escaped slashes must stay escaped (base.py).
        raw_path, _, raw_query = self.path.partition("?")
        query = dict(urllib.parse.parse_qsl(raw_query))
        if raw_path == "/health":
            self._health()
        elif raw_path == "/versions":
            body = {
                "builder_info": {"repo2docker-version": REPO2DOCKER_VERSION},
                "binderhub": BINDERHUB_VERSION,
            }
            self._json(200, body, cors=True)
        elif raw_path == "/api/repoproviders":
            self._json(200, DISPLAY_CONFIG)
        elif match := re.fullmatch(r"/build/([^/]+)/(.+)", raw_path):
            self.close_connection = True
            self._build(match.group(1), match.group(2), query)
        elif (match := re.fullmatch(r"/v2/([^/]+)/(.+)", raw_path)) and match.group(1) in PROVIDERS:
            self._launch_page(match.group(1), match.group(2))
        else:
            self._json(404, {"status_code": 404, "message": "Not Found"})

    def _health(self) -> None:
        ok = self.server.healthy
        checks = [{"service": "JupyterHub API", "ok": ok}, {"service": "Docker registry", "ok": ok}]
        self._json(200 if ok else 503, {"ok": ok, "checks": checks})

    def _launch_page(self, provider: str, spec: str) -> None:
        # BinderHub serves its loading page here; its script opens /build/<provider>/<spec>.
        build_url = f"{self.server.url}/build/{provider}/{spec}"
        body = (
            "<!DOCTYPE html><html><head><title>Binder</title></head><body>"
            f'<div id="loader" data-build-url="{build_url}">Starting repository: {spec}</div>'
            "</body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, body: Any, cors: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if cors:
            self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(data)

    def _build(self, provider: str, spec: str, query: dict[str, str]) -> None:
        server = self.server
        accept = self.headers.get("Accept", "")
        record = BuildRecord(provider, spec, query, accept)
        server.builds.append(record)
        scenario = server.scenario_for(provider, spec)
        stream = EventStream(self, record, scenario.keepalive or server.keepalive_interval)
        stream.open()
        try:
            if self._run_build(stream, provider, spec.rstrip("/"), query, scenario):
                stream.finish()
        except ClientGone:
            record.closed_by_client = True
        except ServerStopping:
            pass

    def _run_build(
        self, stream: EventStream, provider: str, spec: str, query: dict[str, str], scenario: Scenario
    ) -> bool:
        """Play one build; return False when the connection was dropped on purpose."""
        # An EventSource cannot see HTTP errors: they come as a failed event (send_error).
        if "text/event-stream" not in {part.strip().lower() for part in stream.record.accept.split(";")}:
            stream.emit(
                {
                    "phase": "failed",
                    "status_code": 400,
                    "message": "Missing Accept header: text/event-stream\n",
                }
            )
            return True
        if provider not in PROVIDERS:
            stream.emit({"phase": "failed", "message": f"No provider found for prefix {provider}\n"})
            return True
        stream.start_keepalives()
        try:
            resolved = PROVIDERS[provider](spec)
        except ValueError as error:
            stream.emit({"phase": "failed", "message": f"{error}\n"})
            return True
        except LookupError as error:
            stream.emit({"phase": "failed", "message": f"Error resolving ref for {provider}:{spec}: {error}\n"})
            return True
        build_only = query.get("build_only", "").lower() == "true"
        if build_only and not self.server.api_only_mode:
            message = "Building but not launching is not permitted when the API only mode was not enabled"
            stream.emit({"phase": "failed", "status_code": 400, "message": message + "\n"})
            return True
        image = _image_name(resolved)
        if scenario.image_found:
            done = {"phase": "built", "imageName": image, "message": "Found built image, launching...\n"}
        else:
            for event in _build_events(resolved, image, scenario):
                stream.pause(scenario.delay)
                stream.emit(event)
                if event["phase"] == scenario.die_after:
                    stream.drop()
                    return False
            if scenario.hang:
                stream.pause(float("inf"))
            if scenario.fail:
                # BinderHub's stream stays open after a failed build: the client closes it.
                stream.pause(self.server.linger)
                return True
            done = {"phase": "built", "message": "Built image, launching...\n", "imageName": image}
        if build_only:
            message = "Done! Found built image\n" if scenario.image_found else "Done! Image built\n"
            stream.emit({"phase": "ready", "imageName": image, "message": message})
            return True
        stream.pause(scenario.delay)
        stream.emit(done)
        if self._launch(stream, provider, spec, resolved, image, scenario):
            # Well-behaved clients close the stream after ready; BinderHub waits for them.
            stream.pause(self.server.linger)
            return True
        return False

    def _launch(
        self,
        stream: EventStream,
        provider: str,
        spec: str,
        resolved: Resolved,
        image: str,
        scenario: Scenario,
    ) -> bool:
        stream.emit({"phase": "launching", "message": "Launching server...\n"})
        if scenario.die_after == "launching":
            stream.drop()
            return False
        url = self.server.jupyter.start()
        for message in (
            "Server requested",
            "Spawning server...",
            f"Server ready at {urllib.parse.urlparse(url).path}",
        ):
            stream.pause(scenario.delay)
            stream.emit({"phase": "launching", "message": message + "\n"})
        stream.emit(
            {
                "phase": "ready",
                "message": f"server running at {url}\n",
                "image": image,
                "repo_url": resolved.repo_url,
                "token": self.server.jupyter.token,
                "binder_ref_url": resolved.ref_url,
                "binder_launch_host": f"{self.server.url}/",
                "binder_request": f"v2/{provider}/{spec}",
                "binder_persistent_request": f"v2/{provider}/{resolved.resolved_spec}",
                "binder_client_ip": self.client_address[0],
                "url": url,
            }
        )
        return True


def _build_events(resolved: Resolved, image: str, scenario: Scenario) -> Iterator[dict[str, Any]]:
    """The events of a build: BinderHub's waiting, then repo2docker's JSON log lines."""
    yield {"phase": "waiting", "message": "Waiting for build to start...\n"}
    yield {
        "phase": "fetching",
        "message": f"Picked Git content provider.\nCloning into '/tmp/repo2docker{resolved.ref[:8]}'...\n",
    }
    yield {"phase": "fetching", "message": f"HEAD is now at {resolved.ref[:7]}\n"}
    if scenario.hang:
        return
    yield {"phase": "building", "message": "Using PythonBuildPack builder\n"}
    yield {"phase": "building", "message": "Step 1/3 : FROM docker.io/library/buildpack-deps:jammy\n"}
    yield {"phase": "building", "message": "Step 2/3 : RUN pip install --no-cache-dir -r requirements.txt\n"}
    if scenario.fail:
        yield {"phase": "failure", "message": scenario.fail}
        yield {"phase": "failed"}
        return
    yield {"phase": "building", "message": 'Step 3/3 : CMD ["jupyter", "notebook"]\n'}
    yield {"phase": "building", "message": f"Successfully tagged {image}\n"}
    layers = {"5f70bf18a086": {"current": 512, "total": 1024}, "c3a9f1b2e4d7": "Layer already exists"}
    yield {"phase": "pushing", "message": "Pushing image\n", "progress": layers}
    done = {"5f70bf18a086": {"current": 1024, "total": 1024}, "c3a9f1b2e4d7": "Layer already exists"}
    yield {"phase": "pushing", "message": "Pushing image\n", "progress": done}
    yield {"phase": "pushing", "message": f"Successfully pushed {image}"}


def _jupyterlab_installed() -> bool:
    found = subprocess.run([sys.executable, "-c", "import jupyterlab"], capture_output=True)
    return found.returncode == 0


@pytest.fixture(scope="session")
def binderhub_server() -> Iterator[LocalBinderHub]:
    """A local BinderHub on 127.0.0.1: ``.url`` is its base URL, the rest are its controls."""
    if not _jupyterlab_installed():
        pytest.fail(
            "The local BinderHub hands out a real JupyterLab server, which is not installed: "
            "run `pip install -e 'plugins/binderhub[test]'` (make setup does)."
        )
    workdir = Path(tempfile.mkdtemp(prefix="esap-binderhub-"))
    server = LocalBinderHub(workdir)
    thread = threading.Thread(target=server.serve_forever, name="local-binderhub", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
