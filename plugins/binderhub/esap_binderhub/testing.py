"""A local BinderHub behind its JupyterHub, for tests: the build API's event stream, ending in a real Jupyter server.

A real BinderHub needs Docker and Kubernetes, so this server follows its build API
without building anything, as it is deployed: a JupyterHub service under the hub's
``/services/binder/`` (the hub answers everything else). The documents it follows:

- BinderHub's source (github.com/jupyterhub/binderhub): ``binderhub/builder.py``
  (``BuildHandler``: the Accept check, errors as a ``failed`` event in an HTTP 200
  stream, keep-alive comments, ``build_only``, the stream left open after ``ready``),
  ``binderhub/launcher.py`` (the fields of ``ready``), ``binderhub/health.py``,
  ``binderhub/base.py`` (``/versions``), ``binderhub/repoproviders.py`` (the specs of
  ``gh``, ``gl``, ``git`` and ``zenodo`` and their ``display_config``) and
  ``binderhub/app.py`` (the routes), ``binderhub/base.py`` (``check_rate_limit``: 10
  builds per client address per hour unless ``RateLimiter.limit`` says otherwise,
  failed ones included, none for authenticated users; the ``x-ratelimit-*`` headers),
  ``binderhub/build.py`` (``FakeBuild``'s phases: ``Pending``, ``Running``,
  ``Succeed``, ``Building``, ``Step n/10`` lines, no fetching or pushing);
- JupyterHub's source (github.com/jupyterhub/jupyterhub) for what the hub in front
  does: ``services/auth.py`` (``HubAuth.get_token``: ``Authorization: token``), its
  proxy's 503 error page when the service is down (``handlers/pages.py``,
  ``ProxyErrorHandler``), the redirect of any other path to ``/hub/<path>``, and the
  REST API calls that stop a server (``DELETE /hub/api/users/<name>/server``, or
  ``.../servers/<server name>``, with a token that has the ``servers`` scope);
- repo2docker's JSON log lines (``repo2docker/app.py``), which BinderHub passes on as
  events: ``fetching``, ``building``, ``pushing`` with a ``progress`` dict, ``failure``;
- shared/peers/README.md, the summary of that protocol for this project.

What differs, on purpose: refs resolve without the network (a 40-hex ref is kept,
any other becomes a stable fake commit, unless a test makes it unresolvable), only the
four providers above exist, and every launch is handed the same JupyterLab server
(started lazily on 127.0.0.1 with a token in a temporary folder, stock settings), so the
contents API is real; its hub user is always ``binder-session`` (its default server).
With ``auth_enabled`` the hub knows that one user, whose API token (``user_token``) the
session also accepts, as a JupyterHub single-user server accepts its user's tokens.

Tests steer a build by its spec with :meth:`LocalBinderHub.script`: fail with a
message, drop the connection after a phase, fall silent (as a BinderHub that died
behind the hub's proxy), go slowly, hang, build like FakeBuild, or not resolve the ref.
:meth:`LocalBinderHub.reset` undoes what a test switched on.
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

from esap_core.testing import free_port

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
    silent_after: str = ""  # after the first event of this phase, send nothing more and keep the connection open
    dies: bool = False  # with silent_after: BinderHub died there, so the hub's proxy answers 503 from then on
    fake_build: bool = False  # build as BinderHub's FakeBuild does (no fetching, no pushing)
    unresolvable: bool = False  # the provider cannot resolve the ref (a missing branch, a private repository)


@dataclass
class BuildRecord:
    """What the server saw and did for one ``/build`` request."""

    provider: str
    spec: str
    query: dict[str, str]
    accept: str
    authorization: str = ""
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
        port = free_port()
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


# --- the event stream -----------------------------------------------------------------


class EventStream:
    """A chunked ``text/event-stream`` response with BinderHub's keep-alive comments."""

    def __init__(self, handler: BinderHubHandler, record: BuildRecord, keepalive: float):
        self.handler = handler
        self.record = record
        self.keepalive = keepalive
        self.next_keepalive: float | None = None
        self.headers: dict[str, str] = {}
        self.opened = False

    def open(self) -> None:
        if self.opened:
            return
        handler = self.handler
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        for name, value in self.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        self.opened = True

    def error(self, status_code: int, message: str) -> bool:
        """BuildHandler.send_error: the HTTP error as a failed event in a 200 stream, which then ends."""
        self.open()
        self.emit({"phase": "failed", "status_code": status_code, "message": message + "\n"})
        return True

    def start_keepalives(self) -> None:
        self.next_keepalive = time.monotonic() + self.keepalive

    def emit(self, event: dict[str, Any]) -> None:
        self.open()
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


SESSION_USER = "binder-session"  # the hub user of the one JupyterLab every launch gets
BASE_PATH = "/services/binder/"  # where the hub routes its BinderHub service
RATE_PERIOD = 3600  # RateLimiter.period_seconds


class LocalBinderHub(ThreadingHTTPServer):
    """The server and the test controls.

    ``url`` is BinderHub's base URL (under the hub, without the trailing slash), ``hub_url``
    the hub's own; ``script``, ``builds``, ``healthy``, ``down`` (the proxy's 503 page),
    ``rate_limit``, ``auth_enabled``, ``admin_token`` (the hub API token that may stop
    servers), ``stopped`` (the servers stopped through the hub API) and ``reset()``.
    """

    daemon_threads = True

    def __init__(self, workdir: Path):
        super().__init__(("127.0.0.1", 0), BinderHubHandler)
        self.hub_url = f"http://127.0.0.1:{self.server_address[1]}"
        self.url = self.hub_url + BASE_PATH.rstrip("/")
        self.jupyter = JupyterSession(workdir)
        self.stopping = threading.Event()
        self.keepalive_interval = 25.0  # BinderHub's KEEPALIVE_INTERVAL
        self.linger = 60.0  # how long BinderHub keeps a stream open after ready
        self.api_only_mode = True  # BinderHub's enable_api_only_mode, which allows build_only
        self.admin_token = hashlib.sha256(f"admin {time.time_ns()}".encode()).hexdigest()[:32]
        self.builds: list[BuildRecord] = []
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Back to a healthy hub without rate limit or login, no scripted builds, no stopped servers."""
        self.healthy = True
        self.down = False
        self.rate_limit = 0  # RateLimiter.limit; BinderHub's default is 10, 0 turns it off
        self.auth_enabled = False
        self.stopped: list[tuple[str, str]] = []
        self._builds_by_address: dict[str, int] = {}
        self._scenarios: list[tuple[str, Scenario]] = []

    @property
    def user_token(self) -> str:
        """The hub API token of the hub's one user, which its session also accepts."""
        return self.jupyter.token

    def count_build(self, address: str) -> dict[str, int] | None:
        """Count a build from ``address`` (RateLimiter.increment); ``None`` when over the limit."""
        with self._lock:
            used = self._builds_by_address.get(address, 0) + 1
            if used > self.rate_limit:
                return None
            self._builds_by_address[address] = used
            return {"remaining": self.rate_limit - used, "reset": int(time.time()) + RATE_PERIOD}

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
        if not raw_path.startswith(BASE_PATH):
            self._hub_page(raw_path)
        elif self.server.down:
            self._proxy_error_page()
        else:
            self._binderhub(raw_path.removeprefix(BASE_PATH.rstrip("/")), query)

    def do_DELETE(self) -> None:
        """The hub's REST API: stop a user's server (``servers`` scope)."""
        match = re.fullmatch(r"/hub/api/users/([^/]+)/(?:server|servers/([^/]+))", self.path)
        if match is None:
            self._json(404, {"status": 404, "message": "Not Found"})
            return
        if self.headers.get("Authorization", "") != f"token {self.server.admin_token}":
            self._json(
                403,
                {"status": 403, "message": "Action is not authorized with current scopes; requires any of [servers]"},
            )
            return
        name, server_name = urllib.parse.unquote(match.group(1)), urllib.parse.unquote(match.group(2) or "")
        if name != SESSION_USER:
            self._json(404, {"status": 404, "message": f"No such user: {name}"})
            return
        self.server.stopped.append((name, server_name))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _hub_page(self, raw_path: str) -> None:
        # JupyterHub's proxy sends every path it has no route for to the hub, which redirects it under /hub/.
        self.send_response(302)
        self.send_header("Location", "/hub" + raw_path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _proxy_error_page(self) -> None:
        """What the hub's proxy answers when its BinderHub service does not (ProxyErrorHandler, error.html)."""
        body = (
            b'<!DOCTYPE HTML>\n<html>\n<head><meta charset="utf-8"><title>JupyterHub</title></head>\n<body>\n'
            b'<div class="error">\n<h1>503 : Service Unavailable</h1>\n'
            b"<p>Your server appears to be down. Try restarting it <a href='/hub/home'>from the hub</a></p>\n"
            b"</div>\n</body>\n</html>\n"
        )
        self.send_response(503)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _binderhub(self, raw_path: str, query: dict[str, str]) -> None:
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
        record = BuildRecord(provider, spec, query, accept, self.headers.get("Authorization", ""))
        server.builds.append(record)
        scenario = server.scenario_for(provider, spec)
        stream = EventStream(self, record, scenario.keepalive or server.keepalive_interval)
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
        """Play one build; return False when the connection was dropped or left silent on purpose."""
        server = self.server
        # An EventSource cannot see HTTP errors: they come as a failed event (send_error), in order:
        # the Accept check (prepare), login (@authenticated), the rate limit, then the provider.
        if "text/event-stream" not in {part.strip().lower() for part in stream.record.accept.split(";")}:
            return stream.error(400, "Missing Accept header: text/event-stream")
        authenticated = stream.record.authorization in (f"token {server.user_token}", f"Bearer {server.user_token}")
        if server.auth_enabled and not authenticated:
            return stream.error(403, "Forbidden")
        if server.rate_limit and not server.auth_enabled:
            limit = server.count_build(self.client_address[0])
            if limit is None:
                return stream.error(429, f"Rate limit exceeded. Try again in {RATE_PERIOD} seconds.")
            stream.headers.update(
                {
                    "x-ratelimit-remaining": str(limit["remaining"]),
                    "x-ratelimit-reset": str(limit["reset"]),
                    "x-ratelimit-limit": str(server.rate_limit),
                }
            )
        stream.open()
        if provider not in PROVIDERS:
            stream.emit({"phase": "failed", "message": f"No provider found for prefix {provider}\n"})
            return True
        stream.start_keepalives()
        key = f"{provider}:{spec}"
        try:
            resolved = PROVIDERS[provider](spec)
        except ValueError as error:
            stream.emit({"phase": "failed", "message": f"{error}\n"})
            return True
        except LookupError as error:
            stream.emit({"phase": "failed", "message": f"Error resolving ref for {key}: {error}\n"})
            return True
        if scenario.unresolvable:
            message = f"Could not resolve ref for {key}. Double check your URL and that your repo is public."
            stream.emit({"phase": "failed", "message": message + "\n"})
            return True
        build_only = query.get("build_only", "").lower() == "true"
        if build_only and not server.api_only_mode:
            message = "Building but not launching is not permitted when the API only mode was not enabled"
            return stream.error(400, message)
        image = _image_name(resolved)
        if scenario.image_found:
            done = {"phase": "built", "imageName": image, "message": "Found built image, launching...\n"}
        else:
            events = _fake_build_events(scenario) if scenario.fake_build else _build_events(resolved, image, scenario)
            for event in events:
                stream.pause(scenario.delay)
                stream.emit(event)
                if event["phase"] == scenario.die_after:
                    stream.drop()
                    return False
                if event["phase"] == scenario.silent_after:
                    return self._fall_silent(stream, scenario)
            if scenario.hang:
                stream.pause(float("inf"))
            if scenario.fail:
                # BinderHub's stream stays open after a failed build: the client closes it.
                stream.pause(server.linger)
                return True
            done = {"phase": "built", "message": "Built image, launching...\n", "imageName": image}
        if build_only:
            message = "Done! Found built image\n" if scenario.image_found else "Done! Image built\n"
            stream.emit({"phase": "ready", "imageName": image, "message": message})
            return True
        stream.pause(scenario.delay)
        stream.emit(done)
        if scenario.silent_after == "built":
            return self._fall_silent(stream, scenario)
        if self._launch(stream, provider, spec, resolved, image, scenario):
            # Well-behaved clients close the stream after ready; BinderHub waits for them.
            stream.pause(server.linger)
            return True
        return False

    def _fall_silent(self, stream: EventStream, scenario: Scenario) -> bool:
        """Keep the connection open and send nothing, as the hub's proxy does when BinderHub dies mid-build."""
        if scenario.dies:
            self.server.down = True
        stream.next_keepalive = None
        stream.pause(float("inf"))
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


def _fake_build_events(scenario: Scenario) -> Iterator[dict[str, Any]]:
    """The events of BinderHub's FakeBuild (build.py): its log phases and its steps, nothing fetched or pushed."""
    yield {"phase": "waiting", "message": "Waiting for build to start...\n"}
    for phase in ("Pending", "Running", "Succeed", "Building"):
        yield {"phase": phase, "message": f"{phase}...\n"}
    if scenario.hang:
        return
    for step in range(1, 6):
        yield {"phase": "unknown", "message": f"Step {step}/10\n"}


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
