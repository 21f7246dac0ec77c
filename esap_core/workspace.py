"""Each user's workspace: which storage serves it, checked paths, bounded writes, and files into the basket.

The files live in one storage plugin (``workspace_storage`` in the configuration names it;
with none named and exactly one storage registered, that one). ESAP keeps no file bytes
in its database: every call goes to the storage for the user it is made for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO
from urllib.parse import quote

from flask import current_app
from werkzeug.exceptions import HTTPException

from esap_core import accounts, basket
from esap_core.hookspecs import QuotaExceeded, Storage, StorageError, StoredFile, Usage
from esap_core.models import User

ARCHIVE = "workspace"  # the archive name of basket items that are workspace files
MAX_PATH = 1024
MAX_NAME_BYTES = 255  # what most file systems and WebDAV servers take for one name
MAX_DEPTH = 20
CHUNK = 1 << 16


class WorkspaceError(ValueError):
    """A request the workspace cannot serve; the message says why, ``status`` is its HTTP code."""

    status = 400


class NoWorkspace(WorkspaceError):
    status = 503


class TooLarge(WorkspaceError):
    status = 413


class NotFound(WorkspaceError):
    status = 404


class InsufficientStorage(HTTPException):
    """507 (RFC 4918): the upload does not fit the user's quota. Werkzeug has no class of its own for it."""

    code = 507


def storage() -> Storage:
    """The storage that holds the workspaces, or :class:`NoWorkspace` with a message for the researcher."""
    config = current_app.extensions["esap.config"]
    storages = current_app.extensions["esap.plugins"].storages
    if config.workspace_storage:
        chosen = storages.get(config.workspace_storage)
        if chosen is None:
            raise NoWorkspace(
                f"The workspace storage {config.workspace_storage!r} is not loaded; ask the administrator."
            )
        return chosen
    if len(storages) == 1:
        return next(iter(storages.values()))
    if not storages:
        raise NoWorkspace("This ESAP has no workspace storage: the administrator has not installed one.")
    raise NoWorkspace(
        f"Several storages are loaded ({', '.join(sorted(storages))}) and workspace_storage names none of them."
    )


def available() -> bool:
    try:
        storage()
    except NoWorkspace:
        return False
    return True


def max_upload() -> int:
    """The largest file one upload may carry, in bytes."""
    return int(current_app.extensions["esap.config"].workspace_max_upload_mb * 1024 * 1024)


def _timeout() -> float:
    return current_app.extensions["esap.config"].workspace_timeout


def clean_path(path: str, folder: bool = False) -> str:
    """``path`` as the storage gets it (segments joined by ``/``), or :class:`WorkspaceError` saying what is wrong.

    Refused: ``..`` and ``.`` segments, empty segments, backslashes, control characters,
    over-long names and paths. ``folder`` allows the empty path (the top of the workspace).
    """
    if not isinstance(path, str):
        raise WorkspaceError("A path must be text.")
    path = path.strip().strip("/")
    if not path:
        if folder:
            return ""
        raise WorkspaceError("Give the file a name.")
    if len(path) > MAX_PATH:
        raise WorkspaceError(f"A path is at most {MAX_PATH} characters.")
    if "\\" in path:
        raise WorkspaceError("A path separates folders with '/', not '\\'.")
    if any(ord(character) < 32 or ord(character) == 127 for character in path):
        raise WorkspaceError("A path may not contain control characters.")
    segments = path.split("/")
    if len(segments) > MAX_DEPTH:
        raise WorkspaceError(f"A path is at most {MAX_DEPTH} folders deep.")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise WorkspaceError("A path may not contain empty, '.' or '..' parts: it stays inside your workspace.")
        if segment != segment.strip():
            raise WorkspaceError(f"The name {segment[:80]!r} starts or ends with a space.")
        if len(segment.encode()) > MAX_NAME_BYTES:
            raise WorkspaceError(f"A file or folder name is at most {MAX_NAME_BYTES} bytes.")
    return "/".join(segments)


def _call(what: str, function, *args):
    try:
        return function(*args)
    except QuotaExceeded:
        raise
    except StorageError as error:
        raise StorageError(f"The workspace could not {what}: {error}") from None


def usage(user: User) -> Usage:
    return _call("say how much it holds", storage().usage, accounts.user_context(user), _timeout())


def listing(user: User, folder: str = "") -> list[StoredFile]:
    """What ``folder`` holds: folders first, then files, each by name."""
    folder = clean_path(folder, folder=True)
    context = accounts.user_context(user)
    try:
        found = storage().list(context, folder, _timeout())
    except StorageError as error:
        if folder and not _folder_exists(context, folder):
            raise NotFound(f"Your workspace has no folder {folder!r}.") from None
        raise StorageError(f"The workspace could not list its files: {error}") from None
    return sorted(found, key=lambda entry: (not entry.folder, entry.path.lower()))


def _folder_exists(context, folder: str) -> bool:
    """Whether the folder's parent lists it: tells a missing folder (404) from a failing storage (502)."""
    try:
        entries = storage().list(context, folder.rpartition("/")[0], _timeout())
    except StorageError:
        return False
    return any(entry.path == folder and entry.folder for entry in entries)


def open_file(user: User, path: str) -> tuple[StoredFile, BinaryIO]:
    """The file's listing entry (for its size) and a stream of its bytes; :class:`NotFound` if there is none."""
    entry = find(user, path)
    return entry, _call(f"read {entry.path!r}", storage().open, accounts.user_context(user), entry.path, _timeout())


def chunks(stream: BinaryIO) -> Iterator[bytes]:
    """The stream's bytes, a piece at a time, closing it at the end (or when the client goes away)."""
    try:
        while piece := stream.read(CHUNK):
            yield piece
    finally:
        stream.close()


class BoundedReader:
    """A stream that yields exactly ``size`` bytes of ``stream`` and fails if it ends sooner.

    Storages read the upload through it, so a body longer than announced is cut at its
    announced size and a shorter one is refused rather than stored half.
    """

    def __init__(self, stream: BinaryIO, size: int):
        self.stream, self.left, self.size = stream, size, size

    def read(self, count: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        wanted = self.left if count is None or count < 0 else min(count, self.left)
        piece = self.stream.read(wanted)
        if not piece:
            raise StorageError(f"The upload ended after {self.size - self.left} of its {self.size} bytes.")
        self.left -= len(piece)
        return piece

    def __len__(self) -> int:  # requests sends a Content-Length from this
        return self.left


def check_size(size: int | None) -> int:
    """``size`` if one upload may be that large; :class:`WorkspaceError` (unknown) or :class:`TooLarge`."""
    if size is None:
        raise WorkspaceError("Say how large the file is (a Content-Length header).")
    limit = max_upload()
    if size > limit:
        raise TooLarge(f"The file is {human_size(size)}; one upload may be at most {human_size(limit)}.")
    return size


def write(user: User, path: str, stream: BinaryIO, size: int | None) -> StoredFile:
    """Store an upload of ``size`` bytes; refuse it when too large, past the quota, or of unknown size."""
    path = clean_path(path)
    size = check_size(size)
    chosen = storage()
    context = accounts.user_context(user)
    known = _call("say how much it holds", chosen.usage, context, _timeout())
    if known.quota is not None and size > known.quota:
        raise QuotaExceeded(
            f"The file is {exact_size(size)} but your whole workspace quota is {exact_size(known.quota)}."
        )
    return _call(f"save {path!r}", chosen.write, context, path, BoundedReader(stream, size), size, _timeout())


def delete(user: User, path: str) -> None:
    """Delete a file (folders are left alone); :class:`NotFound` if there is none, as a second delete finds."""
    entry = find(user, path)
    _call(f"delete {entry.path!r}", storage().delete, accounts.user_context(user), entry.path, _timeout())


def find(user: User, path: str) -> StoredFile:
    """The file at ``path`` as its folder lists it, or :class:`NotFound`."""
    path = clean_path(path)
    folder = path.rpartition("/")[0]
    for entry in listing(user, folder):
        if entry.path == path and not entry.folder:
            return entry
    raise NotFound(f"Your workspace has no file {path!r}.")


def basket_item(user: User, path: str, download_url: str) -> basket.NewItem:
    """A workspace file as a basket data item: fetched by the storage's own hint, else through ESAP's API."""
    entry = find(user, path)
    hint: Mapping[str, Any] | None = storage().fetch_hint(accounts.user_context(user), entry.path)
    fetch = dict(hint) if hint else {"method": "http", "url": download_url}
    payload = {"path": entry.path, "size": entry.size, "storage": storage().name}
    if entry.modified is not None:
        payload["modified"] = entry.modified.isoformat()
    return basket.data_item(ARCHIVE, f"{ARCHIVE}:{entry.path}", entry.path.rpartition("/")[2], fetch, payload)


def add_to_basket(user: User, path: str, download_url: str) -> tuple[int, basket.NewItem]:
    item = basket_item(user, path, download_url)
    return basket.add(user, [item]), item


def url_path(path: str) -> str:
    """``path`` quoted for a URL, its ``/`` kept."""
    return quote(path, safe="/")


def exact_size(size: int) -> str:
    """A size for a refusal, where rounding must not make two different sizes read the same."""
    return human_size(size) if size < 1024 else f"{human_size(size)} ({size} bytes)"


def human_size(size: int | None) -> str:
    if size is None:
        return "unknown"
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"
