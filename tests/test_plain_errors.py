"""Failures told plainly: the sentence a researcher reads, the technical detail apart (behind a disclosure).

The network failures are real ones on loopback: a closed port, a server that never answers, an
HTTP error, a host name that does not resolve (through the guard's resolver, so nothing is asked
of a real DNS server).
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
from bs4 import BeautifulSoup

from esap_core import ArchiveError, FacilityError, GuardedSession, detail_of, network_failure, outbound
from esap_core.models import Launch


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again: nothing listens there


def failure_of(call) -> requests.RequestException:
    with pytest.raises(requests.RequestException) as caught:
        call()
    return caught.value


def test_a_refused_connection_reads_as_unreachable_with_the_sockets_words_apart():
    error = failure_of(lambda: requests.get(f"http://127.0.0.1:{closed_port()}/", timeout=5))
    message, detail = network_failure("the archive at 127.0.0.1", error)
    assert message == "The archive at 127.0.0.1 cannot be reached: it is down, or this machine has no network to it."
    assert "refused" in detail.lower() and "HTTPConnectionPool" not in message and "Errno" not in message


def test_a_server_that_never_answers_reads_as_not_in_time():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(1)  # accepts the connection, never answers it
        port = listening.getsockname()[1]
        error = failure_of(lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=(2, 0.5)))
    message, detail = network_failure("BinderHub at http://127.0.0.1", error)
    assert message.startswith("BinderHub at http://127.0.0.1 did not answer in time")
    assert "timed out" in detail.lower()


def test_an_http_error_names_its_status():
    class Unavailable(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(503, "down for maintenance")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        answer = requests.get(f"http://127.0.0.1:{server.server_port}/", timeout=5)
        error = failure_of(answer.raise_for_status)
    finally:
        server.shutdown()
        server.server_close()
    message, _ = network_failure("the registry", error)
    assert message == "The registry answered with an error (HTTP 503): it may be down for a while."


def test_an_unknown_host_says_so(monkeypatch):
    def unknown(host, port):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(outbound, "resolver", unknown)
    with GuardedSession() as http:
        error = failure_of(lambda: http.get("http://archive.invalid/tap", timeout=5))
    message, detail = network_failure("the archive", error)
    assert message.startswith("The archive cannot be found: its host name is unknown")
    assert "archive.invalid" in detail


def test_a_refused_address_is_esaps_own_sentence_without_detail():
    with GuardedSession() as http:
        error = failure_of(lambda: http.get("http://127.0.0.1:1/", timeout=5))  # loopback: refused by the guard
    message, detail = network_failure("the hub", error)
    assert message.startswith("ESAP does not connect to the hub: ") and detail == ""


def test_the_errors_plugins_raise_carry_their_detail():
    assert detail_of(FacilityError("BinderHub is down.", "[Errno 111] Connection refused")) == (
        "[Errno 111] Connection refused"
    )
    assert str(ArchiveError("plain", "technical")) == "plain"
    assert detail_of(ValueError("not a plain error")) == ""


def test_a_failed_launch_says_its_message_once_and_keeps_the_detail_behind_a_disclosure(app, client):
    from esap_core import accounts
    from esap_core.launches import Report

    with app.app_context():
        db = app.extensions["esap.db"].session
        launch = Launch(
            id="plainfailure01",
            user_id=accounts.local_user().id,
            facility={"name": "hub", "kind": "binderhub", "url": "http://127.0.0.1:1", "title": "Hub"},
            software={"name": "Notebook"},
            phases=[{"phase": "queued", "at": "2026-12-04T10:00:00", "message": "Waiting for a worker"}],
        )
        db.add(launch)
        db.commit()
        Report(launch).failed("BinderHub at http://127.0.0.1:1 cannot be reached.", "[Errno 111] Connection refused")
    page = BeautifulSoup(client.get("/launches/plainfailure01").get_data(as_text=True), "html.parser")
    status = page.select_one("#launch-status")
    assert status.get_text().count("cannot be reached") == 1
    disclosure = status.select_one("details.technical")
    assert disclosure.select_one("summary").get_text() == "Technical detail"
    assert disclosure.select_one("pre").get_text() == "[Errno 111] Connection refused"
    assert "Errno" not in status.select_one("[role=alert]").get_text()
