"""SAMP for the tests: astropy's real hub with the Web Profile, a real standard-profile client, and real TOPCAT.

- ``samp_hub`` (a test's own): astropy's ``SAMPHubServer`` (now pyvo's) on 127.0.0.1 with the Web Profile on
  port 21012, the port the standard fixes, so only one such hub runs on a machine: tests that need the
  port (``samp_hub``, ``no_samp_hub``) take turns through a machine lock, held for one test, so other
  workers and other test runs wait for that test only; the fixture fails with a clear message when
  something else holds the port. Its lockfile, and HOME, are a folder of the test's own
  (``SAMP_HUB=std-lockurl:file://...``, which astropy and TOPCAT both honour);
  ``astropy.samp.conf.use_internet`` is off, so nothing asks an outside host for this machine's
  name. The hub never polls its Web Profile dialog itself: a thread does, and the dialog
  consents to every page that registers (the pages the tests open). ``no_samp_hub`` holds the
  port free for a test that needs no hub. Two defects of that hub are worked around here: a request
  cut short by its client spins forever (:func:`ending_requests_cut_short`), and a message on its
  way to a client that leaves ends as a warning in a hub thread (fixtures :meth:`SampHub.settle`).
- ``samp_client``: an astropy ``SAMPIntegratedClient`` on the standard profile, subscribed to
  ``table.load.votable``, ``image.load.fits`` and ``coord.pointAt.sky``; it fetches each URL it
  is sent and parses the table (``parse_single_table``) or the image (``astropy.io.fits``), and
  answers the call with what it found. It can also send a table to a page.
- ``samp_page``: the browser test's page; at the end it disconnects from the hub (a closed page would
  stay registered for a while), and ``samp_page.errors`` lists the console's errors and uncaught exceptions.
- ``samp_files``: a folder of the test's own served over HTTP on loopback, as TOPCAT's own small
  server serves a table it sends (``samp_files.url``, ``samp_files.folder``).
- ``topcat``: real TOPCAT (``topcat -nohub -samp``) on its own Xvfb display, registered with
  the hub; Java's proxy points at a dead loopback port, so its start-up look-ups never leave the
  machine. ``topcat.screenshot(path)`` takes the display with ImageMagick's ``import``.

Installed by tests/servers/samp/install.sh (TOPCAT, Xvfb, xauth, ImageMagick). astropy's SAMP
package moved to pyvo (``pyvo.samp``, the same code; ``astropy.samp`` is deprecated since
astropy 8): :func:`samp_package` takes pyvo's and falls back to astropy's.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from esap_core.testing import machine_lock

WEB_PROFILE_PORT = 21012
INSTALL_HINT = "run tests/servers/samp/install.sh (or `make setup-test`)"
MTYPES = ("table.load.votable", "image.load.fits", "coord.pointAt.sky")
DEAD_PORT = "Port=9"  # the discard port: nothing listens there, so a proxied request fails at once


def samp_package():
    """``pyvo.samp`` (astropy's SAMP code, moved there), else ``astropy.samp`` of an astropy before 8."""
    try:
        import pyvo.samp as package
    except ImportError:
        import astropy.samp as package
    return package


class ConsentingDialog:
    """The hub's Web Profile dialog, answered "yes" for every page (a person would click it)."""

    def __init__(self) -> None:
        base = samp_package().hub.WebProfileDialog
        self._dialog = type("Dialog", (base,), {"show_dialog": self._show})()
        self.asked: list[tuple[str, str]] = []

    def _show(self, samp_name: str, details: dict, client: Any, origin: str) -> None:
        self.asked.append((samp_name, origin))
        self._dialog.consent()

    @property
    def dialog(self):
        return self._dialog


class SampHub:
    """astropy's hub with the Web Profile; ``stop()`` and ``start()`` for a test that needs none."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.lockfile = directory / ".samp"
        self.consent = ConsentingDialog()
        self.server = None
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    @property
    def lockfile_url(self) -> str:
        return f"std-lockurl:{self.lockfile.as_uri()}"

    def start(self) -> None:
        port_free_or_fail()
        self.server = samp_package().SAMPHubServer(
            addr="127.0.0.1", web_profile=True, web_profile_dialog=self.consent.dialog, pool_size=4
        )
        self.server.start()
        if not self.server._web_profile:  # astropy only warns when the port was taken meanwhile
            self.server.stop()
            pytest.fail(f"astropy's SAMP hub started without its Web Profile: port {WEB_PROFILE_PORT} is taken")
        self._stop.clear()
        self._poller = threading.Thread(target=self._answer_dialogs, name="samp-dialog", daemon=True)
        self._poller.start()

    def _answer_dialogs(self) -> None:
        while not self._stop.is_set():
            self.consent.dialog.handle_queue()
            self._stop.wait(0.05)

    def stop(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        if self.server is not None:
            self.server.stop()
            self.server = None
        deadline = time.monotonic() + 10
        while not port_is_free() and time.monotonic() < deadline:
            time.sleep(0.1)

    def clients(self) -> dict[str, dict]:
        """Registered clients' ids and metadata, as the hub holds them."""
        return {client: dict(self.server._metadata.get(key, {})) for key, client in _client_ids(self.server)}

    def settle(self, timeout: float = 10) -> None:
        """Wait for the messages the hub is delivering (it delivers each in a thread of its own).

        A client that leaves while one is on its way to it makes the hub warn (SAMPWarning) in that
        thread, which fails whichever test runs then: fixtures settle the hub before a client leaves.
        """
        deadline = time.monotonic() + timeout
        for thread in list(self.server._launched_threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    def unregister(self, name: str) -> None:
        """Unregister every client named ``name`` at the hub, as a client that exits cleanly does itself.

        A killed client stays registered (TOPCAT does, on SIGTERM), and the hub's later messages to
        it fail with a SAMPWarning in the hub's threads, which fails whichever test runs then.
        """
        for key, _ in _client_ids(self.server):
            if self.server._metadata.get(key, {}).get("samp.name") == name:
                self.server._unregister(key)


def ending_requests_cut_short(read_whole_body: Callable) -> Callable:
    """The hub's request handler, ending a request whose client went away before sending all of its body.

    pyvo's hub (1.9, astropy's code) reads a body until it has Content-Length bytes; when the
    client is gone (TOPCAT stopped in the middle of a request), ``read`` keeps returning b"" and
    the request's thread spins forever, and so does the hub's ``stop()``, which waits for it.
    """

    def do_POST(handler) -> None:
        read = handler.rfile.read

        def read_or_end(size: int = -1) -> bytes:
            data = read(size)
            if size and not data:
                raise ConnectionResetError("the client went away in the middle of its request")
            return data

        handler.rfile.read = read_or_end
        read_whole_body(handler)

    return do_POST


def _client_ids(server) -> list[tuple[str, str]]:
    return [(key, info[0]) for key, info in server._private_keys.items()]


def port_is_free() -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", WEB_PROFILE_PORT))
        except OSError:
            return False
    return True


PORT_WAIT = 60  # seconds: a hub that is not a test's (TOPCAT, Aladin) or one just stopping


def port_free_or_fail(wait: float = PORT_WAIT) -> None:
    """Fail unless the Web Profile's port is free, waiting a while for another run's hub to stop."""
    deadline = time.monotonic() + wait
    while not port_is_free():
        if time.monotonic() > deadline:
            pytest.fail(
                f"Port {WEB_PROFILE_PORT} (the SAMP Web Profile's, fixed by the standard) stayed taken for "
                f"{wait:.0f} s: another hub (TOPCAT, Aladin, another test run) is running on this machine. "
                "Stop it and run the tests again."
            )
        time.sleep(1)


SAMP_LOCK = Path(tempfile.gettempdir()) / "esap-test-samp-web-profile.lock"
LOCK_WAIT = 900.0  # seconds: another test's turn is short, but a loaded machine makes browser tests slow


@pytest.fixture
def samp_port() -> Iterator[None]:
    """The Web Profile's port for this test alone: other workers and test runs on the machine wait for it."""
    with machine_lock(SAMP_LOCK, LOCK_WAIT):
        yield


@pytest.fixture
def samp_hub(samp_port, tmp_path_factory) -> Iterator[SampHub]:
    """A real SAMP hub with the Web Profile on 127.0.0.1:21012, its lockfile and HOME the test's own."""
    conf = samp_package().conf
    directory = tmp_path_factory.mktemp("samp-home")
    hub = SampHub(directory)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conf, "use_internet", False)
        handler = samp_package().standard_profile.SAMPSimpleXMLRPCRequestHandler
        patch.setattr(handler, "do_POST", ending_requests_cut_short(handler.do_POST))
        patch.setenv("HOME", str(directory))
        patch.setenv("SAMP_HUB", hub.lockfile_url)
        hub.start()
        try:
            yield hub
        finally:
            hub.stop()


@pytest.fixture
def no_samp_hub(samp_port) -> Iterator[None]:
    """No hub for this test: nothing listens on 21012 while it runs."""
    port_free_or_fail()
    yield


# --- a standard-profile client ---------------------------------------------------------------


@dataclass
class Received:
    """A message the client got, and what it made of the URL in it."""

    mtype: str
    params: dict[str, Any]
    sender: str
    content: bytes = b""
    table: Any = None  # an astropy Table (table.load.votable)
    image: Any = None  # the primary HDU's data shape (image.load.fits)
    error: str = ""


@dataclass
class SampTestClient:
    client: Any
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    refuse: set[str] = field(default_factory=set)  # mtypes to answer with samp.error

    @property
    def id(self) -> str:
        return self.client.get_public_id()

    def handle(self, private_key, sender_id, msg_id, mtype, params, extra) -> None:
        # Never raise here: the hub would deliver the message again, ten times.
        entry = Received(mtype, dict(params), sender_id)
        try:
            if mtype in self.refuse:
                raise ValueError("refused by the test")
            if mtype in ("table.load.votable", "image.load.fits"):
                with urllib.request.urlopen(params["url"], timeout=20) as answer:
                    entry.content = answer.read()
                if mtype == "table.load.votable":
                    from astropy.io.votable import parse_single_table

                    entry.table = parse_single_table(io.BytesIO(entry.content)).to_table()
                else:
                    from astropy.io import fits

                    with fits.open(io.BytesIO(entry.content)) as hdus:
                        entry.image = tuple(hdus[0].data.shape)
            response = {"samp.status": "samp.ok", "samp.result": {}}
        except Exception as error:
            entry.error = f"{type(error).__name__}: {error}"
            response = {"samp.status": "samp.error", "samp.error": {"samp.errortxt": entry.error}}
        with self.arrived:
            self.received.append(entry)
            self.arrived.notify_all()
        if msg_id is not None:
            self.client.reply(msg_id, response)

    def wait_for(self, mtype: str, timeout: float = 30) -> Received:
        """The first message of ``mtype`` not yet taken (it is taken now)."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for entry in self.received:
                    if entry.mtype == mtype:
                        self.received.remove(entry)
                        return entry
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {mtype} reached the SAMP client within {timeout} s")
                self.arrived.wait(left)

    def client_named(self, name: str, timeout: float = 20) -> str:
        """The id of the newest registered client whose samp.name is ``name`` (the hub numbers them in order)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [
                c for c in self.client.get_registered_clients() if self.client.get_metadata(c).get("samp.name") == name
            ]
            if found:
                return max(found, key=lambda client: int(client.rpartition("#")[2] or 0))
            time.sleep(0.2)
        raise AssertionError(f"no SAMP client named {name!r} registered within {timeout} s")

    def send_table(self, to: str, url: str, name: str, timeout: float = 30) -> dict:
        """Call ``table.load.votable`` on client ``to`` and return its answer."""
        message = {"samp.mtype": "table.load.votable", "samp.params": {"url": url, "name": name}}
        return self.client.call_and_wait(to, message, str(int(timeout)))


@pytest.fixture
def samp_client(samp_hub) -> Iterator[SampTestClient]:
    """A standard-profile client named "TestClient" taking tables, images and positions."""
    client = samp_package().SAMPIntegratedClient(name="TestClient", description="ESAP's test client")
    client.connect()
    recorder = SampTestClient(client)
    for mtype in MTYPES:
        client.bind_receive_call(mtype, recorder.handle)
        client.bind_receive_notification(
            mtype, lambda key, sender, mtype, params, extra: recorder.handle(key, sender, None, mtype, params, extra)
        )
    try:
        yield recorder
    finally:
        samp_hub.settle()
        client.disconnect()


@pytest.fixture
def samp_page(page) -> Iterator:
    """The test's page; it leaves the hub at the end, and ``errors`` collects the console's errors."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    yield page
    for button in page.locator("[data-samp-disconnect]:visible").all()[:1]:
        button.click()


# --- files on loopback, as a desktop tool serves them -------------------------------------------


@dataclass(frozen=True)
class ServedFolder:
    url: str
    folder: Path


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def samp_files(tmp_path) -> Iterator[ServedFolder]:
    """A folder served by a static HTTP server on 127.0.0.1 (a free port) for the test."""
    folder = tmp_path / "served"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietFiles, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, name="samp-files", daemon=True)
    thread.start()
    try:
        yield ServedFolder(f"http://127.0.0.1:{server.server_port}", folder)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- real TOPCAT on a virtual display ----------------------------------------------------------


@dataclass
class Topcat:
    display: str
    process: subprocess.Popen
    log: Path

    def screenshot(self, path: Path) -> Path:
        subprocess.run(["import", "-display", self.display, "-window", "root", str(path)], check=True, timeout=30)
        return path

    def screenshot_with_a_table(self, path: Path, timeout: float = 20) -> Path:
        """A screenshot once TOPCAT's window shows one loaded table: its Table List's first row selected, no other.

        TOPCAT answers a load before its window shows the table ("Loading SAMP:…" for a second or
        two on a cold start, then both rows for a moment). The test display is fixed (1280x800,
        TOPCAT's window at the top left, Metal look and feel), so the rows are at known places.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.screenshot(path)
            if _pixel(path, FIRST_ROW_END) == SELECTION_COLOUR and _pixel(path, SECOND_ROW) == EMPTY_ROW_COLOUR:
                return path
            if time.monotonic() > deadline:
                raise AssertionError(f"TOPCAT's window shows no loaded table after {timeout} s: see {path}")
            time.sleep(0.5)


FIRST_ROW_END = "8x12+185+92"  # the right end of the Table List's first row
SECOND_ROW = "175x12+18+109"
SELECTION_COLOUR = "srgb(184,207,229)"  # Metal's selection background
EMPTY_ROW_COLOUR = "srgb(255,255,255)"


def _pixel(path: Path, area: str) -> str:
    """The mean colour of ``area`` (ImageMagick geometry) of an image, as ImageMagick writes it."""
    command = ["convert", str(path), "-crop", area, "-scale", "1x1!", "-format", "%[pixel:p{0,0}]", "info:"]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=30).stdout.strip()


def _free_display() -> int:
    for number in range(90, 200):
        if not Path(f"/tmp/.X{number}-lock").exists() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return number
    raise RuntimeError("no free X display number between :90 and :199")


@pytest.fixture
def topcat(samp_hub, tmp_path) -> Iterator[Topcat]:
    """TOPCAT registered with the session's hub, shown on an Xvfb display of its own."""
    for program in ("topcat", "Xvfb", "import", "convert"):
        if shutil.which(program) is None:
            pytest.fail(f"{program} is not installed: {INSTALL_HINT}")
    number = _free_display()
    display = f":{number}"
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-nolisten", "tcp", "-screen", "0", "1280x800x24"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log = tmp_path / "topcat.log"
    home = tmp_path / "topcat-home"
    home.mkdir()
    environment = {**os.environ, "DISPLAY": display, "HOME": str(home), "SAMP_HUB": samp_hub.lockfile_url}
    proxy = [f"-D{scheme}.proxy{key}" for scheme in ("http", "https") for key in ("Host=127.0.0.1", DEAD_PORT)]
    with log.open("w") as out:
        process = subprocess.Popen(
            ["topcat", *proxy, f"-Duser.home={home}", "-nohub", "-samp"],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not any(meta.get("samp.name") == "topcat" for meta in samp_hub.clients().values()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"TOPCAT did not register with the hub; its log:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield Topcat(display, process, log)
    finally:
        samp_hub.settle()
        samp_hub.unregister("topcat")
        samp_hub.settle()
        _end(process, group=True)  # the topcat script runs java as its child: stop the whole group
        _end(xvfb)


def _end(process: subprocess.Popen, group: bool = False) -> None:
    if process.poll() is not None:
        return
    stop = (lambda signal_number: os.killpg(process.pid, signal_number)) if group else process.send_signal
    stop(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        stop(signal.SIGKILL)
        process.wait()
