"""Faults outside ESAP: archives that hang, reset the connection or answer garbage; a database that goes away.

What must hold: the fan-out answers within the archive timeout with every other archive's
results and a message for each failing one; with the database unreachable the API and the
pages answer 503 with a message (never a stack trace), and ESAP recovers when it returns.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from esap_core import Archive, ArchiveError, DataItem, QueryField, QueryKind, ResultPage, Settings, hookimpl
from esap_core.app import create_app
from esap_core.db import IDLE_BEFORE_PING, make_engine
from esap_core.hookspecs import Column, UserContext
from tests.fixtures import LiveServer, _upgrade, bearer, emptied_after, make_user

TIMEOUT = 1.0
BEHAVIOURS = ("fine", "hangs", "resets", "garbage")


class FaultyArchiveServer(BaseHTTPRequestHandler):
    """``/fine`` answers rows; ``/hangs`` never answers; ``/resets`` resets the connection; ``/garbage`` is not JSON."""

    def do_GET(self) -> None:
        behaviour = self.path.split("?")[0].strip("/")
        if behaviour == "hangs":
            self.server.hanging.set()
            self.server.stopping.wait(30)
            return
        if behaviour == "resets":
            # SO_LINGER with a zero timeout makes close() send a RST instead of a FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        body = b'{"rows": [{"id": "a1", "title": "<b>row</b>"}]}' if behaviour == "fine" else b"\x00\xffnot json{"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def archive_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FaultyArchiveServer)
    server.daemon_threads = True
    server.stopping, server.hanging = threading.Event(), threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.stopping.set()
    server.shutdown()
    server.server_close()


class HttpArchive(Archive):
    fields = (QueryField("keywords", "Keywords", required=True),)
    answers = frozenset({QueryKind.KEYWORDS})

    def __init__(self, name: str, url: str):
        self.name, self.title, self.url = f"archive-{name}", f"Archive that {name}", f"{url}/{name}"

    def search(self, query: Mapping[str, Any], page: int, user: UserContext, timeout: float) -> ResultPage:
        try:
            answer = requests.get(self.url, params={"q": query["keywords"]}, timeout=timeout)
            rows = answer.json()["rows"]
        except requests.Timeout:
            raise ArchiveError(f"{self.title} did not answer within {timeout:g} s.") from None
        except requests.ConnectionError:
            raise ArchiveError(f"{self.title} closed the connection.") from None
        except ValueError:
            raise ArchiveError(f"{self.title} answered something that is not JSON.") from None
        return ResultPage(columns=[Column("id"), Column("title")], rows=rows)

    def basket_item(self, row: Mapping[str, Any]) -> DataItem:
        return DataItem(identifier=row["id"], title=row["title"], fetch={"method": "http", "url": self.url})


@hookimpl
def register_archives(register: Callable[[Archive], None], settings: Settings) -> None:
    for behaviour in BEHAVIOURS:
        register(HttpArchive(behaviour, settings["url"]))


@pytest.fixture
def archives_app(app_factory, archive_server):
    return app_factory(
        extra_plugins=[("faulty-archives", sys.modules[__name__])],
        archive_timeout=TIMEOUT,
        plugins={"faulty-archives": {"url": archive_server.url}},
    )


def test_fan_out_survives_hanging_resetting_and_garbage_archives(archives_app):
    client = archives_app.test_client()
    auth = bearer(archives_app, make_user(archives_app, "ada"), ["basket:read"])
    started = time.monotonic()
    answer = client.get("/api/v1/search", query_string={"keywords": "m31"}, headers=auth)
    took = time.monotonic() - started
    assert answer.status_code == 200
    outcomes = {outcome["archive"]: outcome for outcome in answer.get_json()["archives"]}
    assert took < TIMEOUT + 1.5, f"the fan-out took {took:.1f} s"
    assert outcomes["archive-fine"]["status"] == "ok"
    assert outcomes["archive-fine"]["result"]["rows"] == [{"id": "a1", "title": "<b>row</b>"}]  # data, as sent
    assert outcomes["archive-hangs"]["status"] == "timeout"
    assert "within 1 s" in outcomes["archive-hangs"]["message"]
    assert (
        outcomes["archive-resets"]["status"] == "error"
        and "closed the connection" in outcomes["archive-resets"]["message"]
    )
    assert outcomes["archive-garbage"]["status"] == "error" and "not JSON" in outcomes["archive-garbage"]["message"]
    assert "Traceback" not in answer.get_data(as_text=True)


def test_each_failing_archive_panel_says_why(archives_app):
    client = archives_app.test_client()
    for behaviour, status, message in (
        ("hangs", 504, "did not answer within 1 s"),
        ("resets", 502, "closed the connection"),
        ("garbage", 502, "not JSON"),
    ):
        page = client.get(f"/data/archives/archive-{behaviour}/results", query_string={"keywords": "m31"})
        body = page.get_data(as_text=True)
        assert page.status_code == status and message in body and "Traceback" not in body


def test_a_request_waiting_on_a_hung_archive_holds_up_no_other_request(
    database_url, redis_url, tmp_path, archive_server
):
    # Real connections of their own (a file on SQLite, whose write lock a waiting request must not keep).
    overrides = {"database_url": database_url, "redis_url": redis_url, "instance_path": str(tmp_path / "instance")}
    settings = {**overrides, "archive_timeout": 8.0, "plugins": {"faulty-archives": {"url": archive_server.url}}}
    archive_server.hanging.clear()
    with emptied_after(create_app(settings, extra_plugins=[("faulty-archives", sys.modules[__name__])])) as app:
        auth = bearer(app, make_user(app, "ada"))
        with LiveServer(app) as server:
            assert requests.get(f"{server.url}/basket", timeout=30).ok  # the local user exists: pages read it
            waiting = threading.Thread(
                target=requests.get,
                args=(f"{server.url}/data/archives/archive-hangs/results",),
                kwargs={"params": {"keywords": "m31"}, "timeout": 30},
            )
            waiting.start()
            assert archive_server.hanging.wait(10), "the page never asked the hanging archive"
            item = {"archive": "mine", "identifier": "run-1", "fetch": {"method": "http", "url": "https://x.org/1"}}
            added = requests.post(f"{server.url}/api/v1/basket/items", json=item, headers=auth, timeout=30)
            assert added.status_code == 201, added.text
            assert requests.get(f"{server.url}/api/v1/basket", headers=auth, timeout=30).json()["total"] == 1
            assert waiting.is_alive()  # both answered while the page still waits for the archive
            waiting.join(30)


# --- the database going away -------------------------------------------------------------


class TcpProxy:
    """A loopback TCP proxy to PostgreSQL that can be stopped (refusing and cutting connections) and restarted."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.listener: socket.socket | None = None
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        with self.lock:
            self.listener.shutdown(socket.SHUT_RDWR)  # close() alone leaves a blocked accept() listening
            self.listener.close()
            for connection in self.sockets:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)


POSTGRES = os.environ.get("ESAP_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def proxied_app(redis_url, tmp_path) -> Iterator[tuple[Any, TcpProxy]]:
    """An app on a PostgreSQL database of its own, reached through a proxy the test can cut."""
    name = f"esap_reliability_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    direct = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    _upgrade(direct)
    proxy = TcpProxy(("127.0.0.1", make_engine(direct).url.port or 5432))
    proxy.start()
    app = create_app(
        {
            "database_url": f"postgresql://postgres@127.0.0.1:{proxy.port}/{name}",
            "redis_url": redis_url,
            "instance_path": str(tmp_path / "instance"),
            "load_plugins": [],
        }
    )
    try:
        yield app, proxy
    finally:
        app.extensions["esap.db"].engine.dispose()
        proxy.stop()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_unreachable_database_answers_503_with_a_message_and_recovers(proxied_app):
    app, proxy = proxied_app
    client = app.test_client()
    auth = bearer(app, make_user(app, "grace"), ["basket:read", "basket:write"])
    item = {"archive": "a", "identifier": "kept", "title": "Kept"}
    assert client.post("/api/v1/basket/items", json=item, headers=auth).status_code == 201

    proxy.stop()
    api = client.get("/api/v1/basket/items", headers=auth)
    assert api.status_code == 503
    assert "database is not reachable" in api.get_json()["message"]
    page = client.get("/basket")
    assert page.status_code == 503 and "database is not reachable" in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True) + api.get_data(as_text=True)
    health = client.get("/api/v1/health").get_json()
    assert health["status"] == "degraded" and not health["database"]["ok"]

    proxy.start()
    deadline = time.monotonic() + 10
    while (answer := client.get("/api/v1/basket/items", headers=auth)).status_code != 200:
        assert answer.status_code == 503 and time.monotonic() < deadline, answer.get_data(as_text=True)
        time.sleep(0.2)
    assert [entry["identifier"] for entry in answer.get_json()["items"]] == ["kept"]
    assert client.get("/api/v1/health").get_json()["status"] == "ok"


def test_a_connection_that_slept_through_a_database_restart_is_replaced_before_use(proxied_app):
    app, proxy = proxied_app
    client = app.test_client()
    auth = bearer(app, make_user(app, "hopper"), ["basket:read", "basket:write"])
    item = {"archive": "a", "identifier": "kept", "title": "Kept"}
    assert client.post("/api/v1/basket/items", json=item, headers=auth).status_code == 201
    proxy.stop()  # the server's end of every pooled connection is gone, as after a restart
    proxy.start()
    time.sleep(IDLE_BEFORE_PING + 0.2)
    answer = client.get("/api/v1/basket/items", headers=auth)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert [entry["identifier"] for entry in answer.get_json()["items"]] == ["kept"]
