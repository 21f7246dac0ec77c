"""The conformance check for storages: a workspace's whole round trip, its quota, and users kept apart."""

from __future__ import annotations

import contextlib
import io
import uuid
from typing import Any, BinaryIO

from esap_core.hookspecs import QuotaExceeded, Storage, StorageError, StoredFile, Usage, UserContext
from esap_core.testing.conformance import ConformanceError, _identity_problems, fetch_problems

CONTENT = "ESAP conformance check: ünïcode and bytes \x00\xff\n".encode() * 64


class _Zeros(io.RawIOBase):
    """``size`` zero bytes, made as they are read: a stream larger than the quota without the memory."""

    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = b"\0" * count
        self.left -= count
        return count


def check_storage(
    storage: Storage,
    user: UserContext,
    other: UserContext,
    timeout: float = 30.0,
    quota_probe: bool = True,
) -> Usage:
    """Write, list, read and delete a file in ``user``'s workspace as ESAP would; return the usage seen with it.

    ``usage`` must give a :class:`Usage` whose ``used`` grows by at least the file's size;
    ``write`` a :class:`StoredFile` of the path and size written, into a folder it creates;
    ``list`` of the top and of that folder the folder and the file with its size; ``open``
    the very bytes; ``fetch_hint`` ``None`` or a valid fetch hint. ``other`` must see none of
    it and reach none of it; paths leaving the workspace (``..``) are refused with
    :class:`StorageError`; with a known quota (and ``quota_probe``), a write past it raises
    :class:`QuotaExceeded` with a message and leaves nothing behind. After ``delete`` the file
    is gone, and reading or deleting it again raises :class:`StorageError`.
    """
    subject = f"storage {getattr(storage, 'name', storage)!r}"
    if not isinstance(storage, Storage):
        raise ConformanceError(subject, [f"{storage!r} is not an esap_core.Storage"])
    problems = _identity_problems(storage, "name", ("title",))
    _raise_if(subject, problems)

    before = _usage(storage, user, timeout, problems)
    _raise_if(subject, problems)
    folder = f"conformance-{uuid.uuid4().hex[:8]}"
    path = f"{folder}/result ü.txt"
    stored = storage.write(user, path, io.BytesIO(CONTENT), len(CONTENT), timeout)
    if not isinstance(stored, StoredFile) or stored.path != path or stored.size != len(CONTENT):
        problems.append(f"write returned {stored!r}, not a StoredFile of {path!r} and {len(CONTENT)} bytes")
    problems += _listed(storage, user, "", folder, is_folder=True, timeout=timeout)
    problems += _listed(storage, user, folder, path, is_folder=False, timeout=timeout, size=len(CONTENT))
    problems += _read_back(storage, user, path, timeout)
    after = _usage(storage, user, timeout, problems)
    if after.used < before.used + len(CONTENT) and after.used < len(CONTENT):
        problems.append(f"usage says {after.used} bytes used after writing {len(CONTENT)} (before: {before.used})")
    hint = storage.fetch_hint(user, path)
    if hint is not None:
        problems += [f"fetch_hint: {problem}" for problem in fetch_problems(hint)]
    problems += _kept_apart(storage, user, other, folder, path, timeout)
    if quota_probe and after.quota is not None:
        problems += _quota_refused(storage, user, folder, after, timeout)
    _raise_if(subject, problems)

    storage.delete(user, path, timeout)
    if any(entry.path == path for entry in _list(storage, user, folder, timeout)):
        problems.append(f"{path!r} is still listed after delete")
    for name, call in (("open", storage.open), ("delete", storage.delete)):
        try:
            stream = call(user, path, timeout)
        except StorageError:
            continue
        if stream is not None:
            stream.close()
        problems.append(f"{name} of the deleted {path!r} did not raise StorageError")
    _delete_folder(storage, user, folder, timeout)
    _raise_if(subject, problems)
    return after


def _raise_if(subject: str, problems: list[str]) -> None:
    if problems:
        raise ConformanceError(subject, problems)


def _usage(storage: Storage, user: UserContext, timeout: float, problems: list[str]) -> Usage:
    usage = storage.usage(user, timeout)
    if not isinstance(usage, Usage):
        problems.append(f"usage returned {usage!r}, not an esap_core.Usage")
        return Usage(used=0)
    if not isinstance(usage.used, int) or usage.used < 0:
        problems.append(f"usage.used {usage.used!r} is not a count of bytes")
    if usage.quota is not None and (not isinstance(usage.quota, int) or usage.quota < 0):
        problems.append(f"usage.quota {usage.quota!r} is neither None nor a count of bytes")
    return usage


def _list(storage: Storage, user: UserContext, folder: str, timeout: float) -> list[Any]:
    found = storage.list(user, folder, timeout)
    return found if isinstance(found, list) else []


def _listed(
    storage: Storage, user: UserContext, folder: str, path: str, *, is_folder: bool, timeout: float, size: int = -1
) -> list[str]:
    found = storage.list(user, folder, timeout)
    if not isinstance(found, list) or not all(isinstance(entry, StoredFile) for entry in found):
        return [f"list({folder!r}) returned {found!r}, not a list of StoredFile"]
    matches = [entry for entry in found if entry.path == path]
    if not matches:
        return [f"list({folder!r}) does not show {path!r} (it shows {[entry.path for entry in found]!r})"]
    entry, problems = matches[0], []
    if entry.folder != is_folder:
        problems.append(f"list({folder!r}) shows {path!r} with folder={entry.folder}, not {is_folder}")
    if size >= 0 and entry.size != size:
        problems.append(f"list({folder!r}) shows {path!r} with {entry.size} bytes, not {size}")
    if folder and any(entry.path == folder for entry in found):
        problems.append(f"list({folder!r}) shows the folder itself")
    return problems


def _read_back(storage: Storage, user: UserContext, path: str, timeout: float) -> list[str]:
    stream: BinaryIO = storage.open(user, path, timeout)
    try:
        content = stream.read()
    finally:
        stream.close()
    return [] if content == CONTENT else [f"open({path!r}) gave {len(content)} other bytes than were written"]


def _kept_apart(
    storage: Storage, user: UserContext, other: UserContext, folder: str, path: str, timeout: float
) -> list[str]:
    problems = []
    if any(entry.path == folder for entry in _list(storage, other, "", timeout)):
        problems.append(f"another user sees {user.username}'s folder {folder!r}")
    for leaving in (f"../{user.username}/{path}", f"{folder}/../../{user.username}/{path}", "../"):
        try:
            stream = storage.open(other, leaving, timeout)
        except StorageError:
            continue
        stream.close()
        problems.append(f"open({leaving!r}) for another user did not raise StorageError")
    try:
        storage.write(other, f"../{user.username}/{folder}/intruder.txt", io.BytesIO(b"x"), 1, timeout)
        problems.append("write of a path with '..' did not raise StorageError")
    except StorageError:
        pass
    if any(entry.path.endswith("intruder.txt") for entry in _list(storage, user, folder, timeout)):
        problems.append("another user's write with '..' landed in the user's folder")
    return problems


def _quota_refused(storage: Storage, user: UserContext, folder: str, usage: Usage, timeout: float) -> list[str]:
    size = (usage.quota or 0) - usage.used + 1
    path = f"{folder}/past-the-quota.bin"
    try:
        storage.write(user, path, _Zeros(size), size, timeout)
    except QuotaExceeded as error:
        problems = [] if str(error).strip() else ["QuotaExceeded carries no message for the researcher"]
    except StorageError as error:
        return [f"a write past the quota raised {type(error).__name__}, not QuotaExceeded: {error}"]
    else:
        return [f"a write of {size} bytes, past the quota of {usage.quota} with {usage.used} used, was accepted"]
    if any(entry.path == path for entry in _list(storage, user, folder, timeout)):
        problems.append("the write refused for the quota left a file behind")
    return problems


def _delete_folder(storage: Storage, user: UserContext, folder: str, timeout: float) -> None:
    """Tidy up the check's folder where the storage deletes folders; some keep them, which is no breach."""
    with contextlib.suppress(StorageError):
        storage.delete(user, folder, timeout)
