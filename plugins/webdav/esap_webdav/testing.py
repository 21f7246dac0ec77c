"""A real WebDAV server (WsgiDAV, from PyPI) on 127.0.0.1 for the webdav plugin's tests and ESAP's end-to-end tests.

The fixture ``webdav_server`` runs one WsgiDAV process per test session, with basic
authentication (a service account, as a site gives ESAP) and two shares over folders in a
temp dir:

- ``/quota/``: each user's folder (the first level) has a quota of its own, reported as
  RFC 4331 ``quota-used-bytes`` / ``quota-available-bytes`` on that folder and below, and a
  PUT past it answered ``507 Insufficient Storage`` (RFC 4918 11.5), as dCache and EOS do;
- ``/plain/``: no quota properties at all, so the plugin's configured quota applies.

(WsgiDAV's stock file-system provider reports the whole disk's usage as the quota; the
shares here report what a site with per-user quotas reports, with WsgiDAV's own request
handling, XML and locking.)
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from esap_core.testing import free_port

USER_QUOTA = 64 * 1024  # bytes per user folder on the /quota share


@dataclass(frozen=True)
class WebDavServer:
    url: str  # http://127.0.0.1:<port>
    root: Path  # the shares' folders: root/quota, root/plain
    username: str
    password: str
    user_quota: int

    @property
    def quota_url(self) -> str:
        return f"{self.url}/quota/"

    @property
    def plain_url(self) -> str:
        return f"{self.url}/plain/"


def serve(root: str, port: int, username: str, password: str, quota: int) -> None:
    """Run WsgiDAV with the two shares until SIGTERM (the fixture runs this in its own process)."""
    from cheroot import wsgi
    from wsgidav.dav_error import HTTP_INSUFFICIENT_STORAGE, DAVError
    from wsgidav.fs_dav_provider import FileResource, FilesystemProvider, FolderResource
    from wsgidav.wsgidav_app import WsgiDAVApp

    class QuotaProvider(FilesystemProvider):
        """Folders whose first level under the share is a user's, each with ``quota`` bytes."""

        def user_folder(self, file_path: str) -> Path:
            relative = Path(file_path).resolve().relative_to(Path(self.root_folder_path).resolve())
            return Path(self.root_folder_path) / relative.parts[0] if relative.parts else Path(self.root_folder_path)

        def used(self, file_path: str) -> int:
            folder = self.user_folder(file_path)
            return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())

        def get_resource_inst(self, path, environ):
            found = super().get_resource_inst(path, environ)
            if isinstance(found, FolderResource):
                return QuotaFolder(path, environ, found._file_path)
            if isinstance(found, FileResource):
                return QuotaFile(path, environ, found._file_path)
            return found

    class QuotaFolder(FolderResource):
        def get_used_bytes(self):
            if Path(self._file_path).resolve() == Path(self.provider.root_folder_path).resolve():
                return None  # the share itself has no quota
            return self.provider.used(self._file_path)

        def get_available_bytes(self):
            used = self.get_used_bytes()
            return None if used is None else max(quota - used, 0)

    class QuotaFile(FileResource):
        def begin_write(self, *, content_type=None):
            incoming = int(self.environ.get("CONTENT_LENGTH") or 0)
            replaced = os.path.getsize(self._file_path)
            if self.provider.used(self._file_path) - replaced + incoming > quota:
                raise DAVError(HTTP_INSUFFICIENT_STORAGE, "Quota exceeded")
            return super().begin_write(content_type=content_type)

    class PlainProvider(FilesystemProvider):
        def get_resource_inst(self, path, environ):
            found = super().get_resource_inst(path, environ)
            return PlainFolder(path, environ, found._file_path) if isinstance(found, FolderResource) else found

    class PlainFolder(FolderResource):
        def get_used_bytes(self):
            return None

        def get_available_bytes(self):
            return None

    folders = {name: Path(root) / name for name in ("quota", "plain")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    config = {
        "host": "127.0.0.1",
        "port": port,
        "provider_mapping": {
            "/quota": QuotaProvider(str(folders["quota"])),
            "/plain": PlainProvider(str(folders["plain"])),
        },
        "http_authenticator": {"domain_controller": None, "accept_basic": True, "accept_digest": False},
        "simple_dc": {"user_mapping": {"*": {username: {"password": password}}}},
        "verbose": 1,
        "logging": {"enable": False, "enable_loggers": []},
        "property_manager": True,
        "lock_storage": True,
        "dir_browser": {"enable": False},
    }
    server = wsgi.Server(("127.0.0.1", port), WsgiDAVApp(config))
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    server.start()  # returns once stopped


@pytest.fixture(scope="session")
def webdav_server(tmp_path_factory) -> Iterator[WebDavServer]:
    """A WsgiDAV server of this test session's own on a free loopback port."""
    try:
        import wsgidav  # noqa: F401
    except ImportError:
        pytest.fail("wsgidav is not installed: pip install -e 'plugins/webdav[test]' (make setup does)")
    root = tmp_path_factory.mktemp("webdav")
    port, password = free_port(), secrets.token_urlsafe(16)
    arguments = json.dumps([str(root), port, "esap", password, USER_QUOTA])
    code = f"import json; from esap_webdav.testing import serve; serve(*json.loads({arguments!r}))"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = WebDavServer(f"http://127.0.0.1:{port}", root, "esap", password, USER_QUOTA)
    deadline = time.monotonic() + 20
    while True:
        try:
            if requests.request("OPTIONS", server.plain_url, auth=("esap", password), timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            error = process.communicate()[1].decode(errors="replace")[-2000:]
            pytest.fail(f"the WebDAV test server did not start: {error}")
        time.sleep(0.1)
    yield server
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stderr.close()


PASSWORD_VARIABLE = "ESAP_TEST_WEBDAV_PASSWORD"


@pytest.fixture
def webdav_plugin_settings(webdav_server, monkeypatch) -> dict:
    """``[plugins.webdav]`` for the server's ``/quota/`` share; the password is read from the environment."""
    monkeypatch.setenv(PASSWORD_VARIABLE, webdav_server.password)
    return {"url": webdav_server.quota_url, "username": webdav_server.username, "password": {"env": PASSWORD_VARIABLE}}
