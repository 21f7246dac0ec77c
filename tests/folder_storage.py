"""A storage plugin for the core's workspace tests: each user's files in a folder on this machine, with a quota.

A plugin as a partner would write one (only esap_core's public API), so the core's workspace
code runs against a real file system; the WebDAV plugin's tests run it against a real server.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from esap_core import QuotaExceeded, Storage, StorageError, StoredFile, Usage, hookimpl


class FolderStorage(Storage):
    name = "folders"
    title = "Folders on this machine"

    def __init__(self, root: Path, quota: int | None = None):
        self.root, self.quota = Path(root), quota

    def _home(self, user) -> Path:
        home = self.root / user.username
        home.mkdir(parents=True, exist_ok=True)
        return home

    def _file(self, user, path: str) -> Path:
        home = self._home(user).resolve()
        target = (home / path).resolve()
        if target != home and home not in target.parents:
            raise StorageError(f"{path!r} is outside your workspace")
        return target

    def _entry(self, user, target: Path) -> StoredFile:
        stat = target.stat()
        relative = target.relative_to(self._home(user).resolve()).as_posix()
        modified = datetime.fromtimestamp(stat.st_mtime, UTC)
        return StoredFile(relative, 0 if target.is_dir() else stat.st_size, modified, target.is_dir())

    def usage(self, user, timeout):
        used = sum(path.stat().st_size for path in self._home(user).rglob("*") if path.is_file())
        return Usage(used=used, quota=self.quota)

    def list(self, user, folder, timeout):
        target = self._file(user, folder)
        if not target.is_dir():
            raise StorageError(f"There is no folder {folder!r}")
        return [self._entry(user, child.resolve()) for child in target.iterdir()]

    def open(self, user, path, timeout):
        target = self._file(user, path)
        if not target.is_file():
            raise StorageError(f"There is no file {path!r}")
        return target.open("rb")

    def write(self, user, path, stream, size, timeout):
        target = self._file(user, path)
        old = target.stat().st_size if target.is_file() else 0
        used = self.usage(user, timeout).used - old
        if self.quota is not None and used + size > self.quota:
            raise QuotaExceeded(f"{size} bytes do not fit: {self.quota - used} bytes are left of your quota")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        try:
            with partial.open("wb") as out:
                shutil.copyfileobj(stream, out)
        except Exception:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)
        return self._entry(user, target)

    def delete(self, user, path, timeout):
        target = self._file(user, path)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.is_file():
            target.unlink()
        else:
            raise StorageError(f"There is no file {path!r}")


def _failing_as_storage_errors(cls):
    """Every method's OSError (a name the file system refuses) becomes a StorageError, as the contract says."""
    for name in ("usage", "list", "open", "write", "delete"):
        method = getattr(cls, name)

        def wrapped(self, *args, _method=method, **kwargs):
            try:
                return _method(self, *args, **kwargs)
            except OSError as error:
                raise StorageError(f"the file system refused it: {error.strerror}") from None

        setattr(cls, name, wrapped)
    return cls


FolderStorage = _failing_as_storage_errors(FolderStorage)


class FolderStoragePlugin:
    def __init__(self, root: Path, quota: int | None = None):
        self.storage = FolderStorage(root, quota)

    @hookimpl
    def register_storages(self, register):
        register(self.storage)
