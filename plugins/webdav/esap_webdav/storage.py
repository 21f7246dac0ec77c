"""The ``webdav`` storage: PROPFIND, GET, PUT, MOVE, DELETE and MKCOL (RFC 4918) in a folder per user.

Every request goes through ESAP's guarded client (:class:`esap_core.GuardedSession`). An
upload goes to a temporary name beside its target and is moved over it once complete, so
a failed or refused upload never leaves half a file under the real name. The quota is the
server's (RFC 4331 ``quota-used-bytes`` and ``quota-available-bytes`` on the user's folder)
when it gives one, else the configured ``quota_mb`` against the sizes the listing shows.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO
from urllib.parse import quote, unquote, urljoin, urlsplit

import requests

from esap_core import GuardedSession, QuotaExceeded, Storage, StorageError, StoredFile, Usage, UserContext
from esap_webdav.multistatus import PROPFIND_BODY, Entry, parse_multistatus
from esap_webdav.settings import WebDavSettings

UPLOAD_PREFIX = ".esap-upload-"  # temporary names of uploads under way: never listed
PLAIN_FOLDER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


def folder_name(username: str) -> str:
    """The user's folder under the base URL: their name where it is plain, else a digest of it.

    A name with ``/``, ``%``, ``..`` or the like could, once a server decodes it, point into
    another user's folder; such names get ``u-`` and a SHA-256 digest instead.
    """
    if PLAIN_FOLDER.match(username) and ".." not in username:
        return username
    return "u-" + hashlib.sha256(username.encode()).hexdigest()[:40]


def segments(path: str, folder: bool = False) -> list[str]:
    """The parts of a workspace path; :class:`StorageError` for one that would leave the user's folder."""
    parts = [part for part in path.strip("/").split("/")] if path.strip("/") else []
    if not parts and not folder:
        raise StorageError("A file needs a name.")
    for part in parts:
        if part in ("", ".", "..") or "\\" in part or any(ord(c) < 32 or ord(c) == 127 for c in part):
            raise StorageError(f"{path!r} is not a path inside your workspace.")
    return parts


def _human(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} bytes"


class _Download(io.RawIOBase):
    """A GET's body as a readable stream; closing it ends the response and its session."""

    def __init__(self, response: requests.Response, session: requests.Session):
        self.response, self.session = response, session
        self.raw = response.raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer), decode_content=True)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.response.close()
            self.session.close()
        super().close()


class WebDavStorage(Storage):
    name = "webdav"
    description = "Workspaces in per-user folders on a WebDAV server (dCache, EOS, Nextcloud, any RFC 4918 server)"

    def __init__(self, settings: WebDavSettings):
        self.settings = settings
        self.title = settings.title
        self.base_path = unquote(urlsplit(settings.url).path)

    # --- addresses ---------------------------------------------------------------------

    def _home(self, user: UserContext) -> str:
        return self.settings.url + quote(folder_name(user.username), safe="") + "/"

    def _url(self, user: UserContext, path: str, folder: bool = False) -> str:
        parts = segments(path, folder=folder)
        tail = "/".join(quote(part, safe="") for part in parts)
        return self._home(user) + tail + ("/" if folder and parts else "")

    def _relative(self, user: UserContext, entry: Entry) -> str:
        home = self.base_path + folder_name(user.username) + "/"
        return entry.path[len(home) :].strip("/") if entry.path.startswith(home) else ""

    # --- HTTP ---------------------------------------------------------------------------

    def _session(self, user: UserContext) -> GuardedSession:
        # The base URL is the administrator's: it may be on the site's internal network.
        session = GuardedSession(private_ok=True)
        session.headers["User-Agent"] = "esap-webdav/0.1 (ESAP science platform)"
        if self.settings.auth == "basic":
            session.auth = (self.settings.username, self.settings.password.reveal())
        elif self.settings.auth == "bearer":
            session.headers["Authorization"] = f"Bearer {self.settings.token.reveal()}"
        elif self.settings.auth == "user-token":
            token = user.access_token()
            if not token:
                raise StorageError("The WebDAV server needs your login's token: log in to ESAP again.")
            session.headers["Authorization"] = f"Bearer {token}"
        return session

    @contextmanager
    def _http(self, user: UserContext) -> Iterator[GuardedSession]:
        session = self._session(user)
        try:
            yield session
        except requests.RequestException as error:
            raise StorageError(f"The WebDAV server does not answer: {type(error).__name__}") from None
        finally:
            session.close()

    def _propfind(self, session: requests.Session, url: str, depth: str, timeout: float) -> list[Entry] | None:
        """The entries a PROPFIND answers, or ``None`` when there is nothing at ``url`` (404)."""
        answer = session.request(
            "PROPFIND",
            url,
            data=PROPFIND_BODY,
            headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"},
            timeout=timeout,
        )
        if answer.status_code == 404:
            return None
        _refuse_failure(answer, "list")
        return parse_multistatus(answer.content, answer.url)

    def _make_folders(self, session: requests.Session, user: UserContext, parts: list[str], timeout: float) -> None:
        """MKCOL the user's folder and each folder on the way to ``parts`` (an existing one answers 405)."""
        url = self._home(user)
        for part in [None, *parts]:
            if part is not None:
                url += quote(part, safe="") + "/"
            answer = session.request("MKCOL", url, timeout=timeout)
            if answer.status_code not in (201, 405):
                _refuse_failure(answer, "make a folder")

    # --- the contract --------------------------------------------------------------------

    def usage(self, user: UserContext, timeout: float) -> Usage:
        with self._http(user) as session:
            found = self._propfind(session, self._home(user), "0", timeout)
            if found is None:  # a new user: make the folder, then ask again (the server may give it a quota)
                self._make_folders(session, user, [], timeout)
                found = self._propfind(session, self._home(user), "0", timeout)
            if not found:
                raise StorageError("The WebDAV server does not list your folder after making it.")
            home = found[0]
            if self.settings.server_quota and home.used is not None and home.available is not None:
                return Usage(used=home.used, quota=home.used + home.available)
            return Usage(used=self._walk_size(session, user, timeout), quota=self.settings.quota)

    def _walk_size(self, session: requests.Session, user: UserContext, timeout: float) -> int:
        """The sizes of every file in the user's folder, folder by folder (servers often refuse Depth: infinity)."""
        total, seen, folders = 0, 0, [self._home(user)]
        while folders:
            url = folders.pop()
            for entry in (self._propfind(session, url, "1", timeout) or [])[1:]:
                seen += 1
                if seen > self.settings.max_entries:
                    raise StorageError(f"Your workspace holds over {self.settings.max_entries} entries to count.")
                if entry.folder:
                    folders.append(urljoin(url, quote(entry.path.rstrip("/") + "/", safe="/")))
                else:
                    total += entry.size
        return total

    def list(self, user: UserContext, folder: str, timeout: float) -> list[StoredFile]:
        url = self._url(user, folder, folder=True)
        with self._http(user) as session:
            found = self._propfind(session, url, "1", timeout)
            if found is None and not segments(folder, folder=True):
                self._make_folders(session, user, [], timeout)
                return []
        if found is None:
            raise StorageError(f"There is no folder {folder!r}.")
        wanted = "/".join(segments(folder, folder=True))
        files = []
        for entry in found:
            path = self._relative(user, entry)
            name = path.rpartition("/")[2]
            if path == wanted or name.startswith(UPLOAD_PREFIX) or path.rpartition("/")[0] != wanted:
                continue
            files.append(StoredFile(path, 0 if entry.folder else entry.size, entry.modified, entry.folder))
        return files

    def open(self, user: UserContext, path: str, timeout: float) -> BinaryIO:
        url = self._url(user, path)
        session = self._session(user)
        try:
            answer = session.get(url, stream=True, timeout=timeout)
        except requests.RequestException as error:
            session.close()
            raise StorageError(f"The WebDAV server does not answer: {type(error).__name__}") from None
        if answer.status_code != 200:
            answer.close()
            session.close()
            if answer.status_code == 404:
                raise StorageError(f"There is no file {path!r}.")
            _refuse_failure(answer, "read the file")
        return _Download(answer, session)

    def write(self, user: UserContext, path: str, stream: BinaryIO, size: int, timeout: float) -> StoredFile:
        parts = segments(path)
        target = self._url(user, path)
        with self._http(user) as session:
            self._refuse_past_quota(session, user, target, size, timeout)
            self._make_folders(session, user, parts[:-1], timeout)
            upload = target.rpartition("/")[0] + "/" + UPLOAD_PREFIX + secrets.token_hex(8)
            try:
                self._put(session, upload, stream, size, timeout)
                moved = session.request(
                    "MOVE", upload, headers={"Destination": target, "Overwrite": "T"}, timeout=timeout
                )
                _refuse_failure(moved, "save the file")
            except BaseException:
                _forget(session, upload, timeout)
                raise
            found = self._propfind(session, target, "0", timeout)
        if not found:
            raise StorageError(f"The WebDAV server accepted {path!r} but does not list it.")
        return StoredFile("/".join(parts), found[0].size, found[0].modified, False)

    def _refuse_past_quota(
        self, session: requests.Session, user: UserContext, target: str, size: int, timeout: float
    ) -> None:
        known = self.usage(user, timeout)
        if known.quota is None:
            return
        existing = self._propfind(session, target, "0", timeout)
        replaced = existing[0].size if existing and not existing[0].folder else 0
        left = known.quota - (known.used - replaced)
        if size > left:
            raise QuotaExceeded(
                f"{_human(size)} ({size} bytes) do not fit: {max(left, 0)} bytes are left of your quota of "
                f"{_human(known.quota)}."
            )

    def _put(self, session: requests.Session, url: str, stream: BinaryIO, size: int, timeout: float) -> None:
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        try:
            answer = session.put(url, data=_Chunks(stream, size), headers=headers, timeout=timeout)
        except StorageError:
            raise
        except requests.RequestException as error:
            raise StorageError(f"The upload to the WebDAV server failed: {type(error).__name__}") from None
        if answer.status_code == 507:
            raise QuotaExceeded(f"The WebDAV server refused {_human(size)}: your quota there is full.")
        _refuse_failure(answer, "save the file")

    def delete(self, user: UserContext, path: str, timeout: float) -> None:
        parts = segments(path)
        with self._http(user) as session:
            answer = session.delete(self._url(user, "/".join(parts)), timeout=timeout)
            if answer.status_code == 404:
                raise StorageError(f"There is no file {path!r}.")
            _refuse_failure(answer, "delete the file")


class _Chunks:
    """The upload's body for requests: ``size`` bytes of ``stream`` in pieces, with its length known."""

    def __init__(self, stream: BinaryIO, size: int):
        self.stream, self.size = stream, size

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        left = self.size
        while left > 0:
            piece = self.stream.read(min(left, 1 << 16))
            if not piece:
                raise StorageError(f"The upload ended after {self.size - left} of its {self.size} bytes.")
            left -= len(piece)
            yield piece


def _refuse_failure(answer: requests.Response, what: str) -> None:
    if answer.status_code < 300 or answer.status_code == 207:
        return
    if answer.status_code in (401, 403):
        raise StorageError(f"The WebDAV server does not let ESAP {what} ({answer.status_code}).")
    raise StorageError(f"The WebDAV server could not {what}: {answer.status_code} {answer.reason}.")


FORGET_TRIES = 10  # a cut upload may still be written by the server for a moment after the client gave up
FORGET_PAUSE = 0.2


def _forget(session: requests.Session, url: str, timeout: float) -> None:
    """Delete an unfinished upload; 404 means the server kept nothing yet, so look again for a moment."""
    with contextlib.suppress(requests.RequestException):  # the temporary name is never listed anyway
        for _ in range(FORGET_TRIES):
            if session.delete(url, timeout=timeout).status_code != 404:
                return
            time.sleep(FORGET_PAUSE)
