"""A local server that speaks Rosetta's web API, for the rosetta facility type's tests.

Rosetta (INAF, https://github.com/sarusso/Rosetta) is a Django app whose tasks need
Docker or Slurm, so it cannot run here. This server follows the protocol of its REST
API views (``core_app/api.py``: ``rosetta_authenticate``, ``login_api``, ``logout_api``,
the ``{"results": ...}`` / ``{"detail": ...}`` answers of ``ok200`` / ``error4xx``;
``core_app/tests/test_apis.py`` for the messages) and, for the repository import and
the task pages, the shapes in shared/peers/README.md ("Rosetta"):

- ``POST /api/v1/base/login/`` (form or JSON: ``username`` + ``password``, or
  ``authtoken``; ``GET`` with a session) → ``{"results": {"authtoken": ...}}`` and a
  ``sessionid`` cookie; 401 ``{"detail": "Wrong username/password"}``; 400 ``Got empty
  username`` / ``Got empty password`` / ``Wrong auth token``; 401 ``This is a private
  API...`` with no credentials at all.
- ``GET /api/v1/base/logout/`` → ``{"results": null}``, the session ends.
- ``GET /api/v1/import_repository/?repository_url=&repository_tag=`` (session) →
  ``{"results": {"import_succeded": true, "container_uuid": ...}}`` or
  ``{"results": {"import_succeded": false, "error_message": ...}}`` (sic, Rosetta's
  spelling).
- ``GET /new_task/?step=two&task_container_uuid=...``: the task creation page (HTML).
- ``GET /v2/git/<url-escaped repository>/<tag>``: imports and redirects to that page.

Unauthenticated pages redirect to ``/login/?next=...``, as Rosetta's private views do.

Test controls, from the JSON file named on the command line: ``users`` (username →
password and authtoken), ``failing`` (repository URL → the error message its import
gives), ``slow`` (repository URL → seconds its import takes). ``GET /_test/imports``
lists the imports asked for, in order (not part of Rosetta).

Run: ``python rosetta_server.py <port> <controls.json>``; it prints ``READY`` once listening.
"""

from __future__ import annotations

import html
import json
import secrets
import sys
import threading
import time
import uuid
from http import cookies
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

PRIVATE_API = "This is a private API. Login or provide username/password or auth token"


class Rosetta:
    """The server's state: users, sessions, imported containers, and the test controls."""

    def __init__(self, controls: dict[str, Any]):
        self.users: dict[str, dict[str, str]] = controls.get("users", {})
        self.failing: dict[str, str] = controls.get("failing", {})
        self.slow: dict[str, float] = controls.get("slow", {})
        self.sessions: dict[str, str] = {}  # session id → username
        self.containers: dict[str, dict[str, str]] = {}  # uuid → repository, tag, owner
        self.imports: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def import_repository(self, owner: str, url: str, tag: str) -> dict[str, Any]:
        with self.lock:
            self.imports.append({"user": owner, "repository_url": url, "repository_tag": tag})
        time.sleep(self.slow.get(url, 0))
        if url in self.failing:
            return {"import_succeded": False, "error_message": self.failing[url]}
        container_uuid = str(uuid.uuid4())
        with self.lock:
            self.containers[container_uuid] = {"repository_url": url, "repository_tag": tag, "user": owner}
        return {"import_succeded": True, "container_uuid": container_uuid}


class Handler(BaseHTTPRequestHandler):
    rosetta: Rosetta
    server_version = "RosettaProtocol/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass  # keep pytest's output clean

    # --- routing ---------------------------------------------------------------------

    def do_GET(self) -> None:
        path, query = self._split()
        if path == "/api/v1/base/login/":
            self._login({})
        elif path == "/api/v1/base/logout/":
            self._logout()
        elif path == "/api/v1/import_repository/":
            self._import(query)
        elif path == "/new_task/":
            self._new_task(query)
        elif path.startswith("/v2/git/"):
            self._v2_git(path[len("/v2/git/") :])
        elif path == "/_test/imports":
            self._json(200, self.rosetta.imports)
        else:
            self._page(404, "Not Found", "<h1>Not Found</h1>")

    def do_POST(self) -> None:
        path, _ = self._split()
        if path == "/api/v1/base/login/":
            self._login(self._body())
        else:
            self._json(405, {"detail": 'Method "POST" not allowed.'})

    # --- API views -------------------------------------------------------------------

    def _login(self, data: dict[str, str]) -> None:
        user = self._authenticate(data)
        if user is None:
            return
        authtoken = self.rosetta.users[user]["authtoken"]
        session = secrets.token_hex(16)
        self.rosetta.sessions[session] = user
        self._json(200, {"results": {"authtoken": authtoken}}, cookie=session)

    def _logout(self) -> None:
        if self._authenticate({}) is None:
            return
        self.rosetta.sessions.pop(self._session_id(), None)
        self._json(200, {"results": None}, cookie="")

    def _import(self, query: dict[str, str]) -> None:
        user = self._authenticate({})
        if user is None:
            return
        url = query.get("repository_url", "")
        if not url:
            self._json(400, {"detail": "Missing repository_url"})
            return
        result = self.rosetta.import_repository(user, url, query.get("repository_tag", ""))
        self._json(200, {"results": result})

    def _authenticate(self, data: dict[str, str]) -> str | None:
        """Rosetta's rules: the session, else username/password, else authtoken; None after an error answer."""
        session_user = self.rosetta.sessions.get(self._session_id())
        if session_user:
            return session_user
        username, password, authtoken = data.get("username"), data.get("password"), data.get("authtoken")
        if username or password:
            if not username:
                return self._refuse(400, "Got empty username")
            if not password:
                return self._refuse(400, "Got empty password")
            if self.rosetta.users.get(username, {}).get("password") != password:
                return self._refuse(401, "Wrong username/password")
            return username
        if authtoken:
            for name, user in self.rosetta.users.items():
                if user["authtoken"] == authtoken:
                    return name
            return self._refuse(400, "Wrong auth token")
        return self._refuse(401, PRIVATE_API)

    def _refuse(self, status: int, detail: str) -> None:
        self._json(status, {"detail": detail})

    # --- pages -----------------------------------------------------------------------

    def _new_task(self, query: dict[str, str]) -> None:
        if not self._page_user():
            return
        container = self.rosetta.containers.get(query.get("task_container_uuid", ""))
        if query.get("step") != "two" or container is None:
            self._page(404, "Error", "<h1>Error</h1><p>Unknown container</p>")
            return
        name = html.escape(f"{container['repository_url']}@{container['repository_tag']}")
        self._page(200, "New task", f"<h1>New task</h1><p>Step two: container {name}</p><form method=post></form>")

    def _v2_git(self, spec: str) -> None:
        user = self._page_user()
        if not user:
            return
        repository, _, tag = spec.rpartition("/")
        result = self.rosetta.import_repository(user, unquote(repository), unquote(tag))
        if not result["import_succeded"]:
            self._page(200, "Error", f"<h1>Error</h1><p>{html.escape(result['error_message'])}</p>")
            return
        self.send_response(302)
        self.send_header("Location", f"/new_task/?step=two&task_container_uuid={result['container_uuid']}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _page_user(self) -> str | None:
        user = self.rosetta.sessions.get(self._session_id())
        if not user:
            self.send_response(302)
            self.send_header("Location", f"/login/?next={quote(self.path)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        return user

    # --- plumbing --------------------------------------------------------------------

    def _split(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, {key: values[-1] for key, values in parse_qs(parts.query).items()}

    def _body(self) -> dict[str, str]:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if self.headers.get("Content-Type", "").startswith("application/json"):
            try:
                data = json.loads(raw or "{}")
            except ValueError:
                return {}
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        return {key: values[-1] for key, values in parse_qs(raw).items()}

    def _session_id(self) -> str:
        jar = cookies.SimpleCookie(self.headers.get("Cookie", ""))
        return jar["sessionid"].value if "sessionid" in jar else ""

    def _json(self, status: int, body: Any, cookie: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if cookie is not None:
            self.send_header("Set-Cookie", f"sessionid={cookie}; Path=/; HttpOnly")
        self.end_headers()
        self.wfile.write(data)

    def _page(self, status: int, title: str, body: str) -> None:
        data = f"<!doctype html><title>{title} | Rosetta</title>{body}".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main(port: int, controls_path: str) -> None:
    with open(controls_path) as file:
        Handler.rosetta = Rosetta(json.load(file))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("READY", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
