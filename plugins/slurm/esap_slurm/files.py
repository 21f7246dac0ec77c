"""What a job wrote, as ESAP reads it: the cluster's work folder on a shared file system, or over HTTP.

Each job has ``<work_root>/<folder>/`` (its results in ``output/``, the summary
``esap_job.json``, the list ``esap_results.list``) and its log ``<work_root>/<folder>.log``.
``results_path`` is where ESAP's workers see ``work_root``; ``results_url`` is an HTTP
server that serves it (any static server: only GET is used).
"""

from __future__ import annotations

import io
import json
import mimetypes
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import quote

import requests

from esap_core import Facility, FacilityError, JobResult
from esap_slurm.settings import SlurmSettings

MAX_RESULTS = 1000
MAX_SUMMARY_BYTES = 64 * 1024
MAX_LIST_BYTES = 4 * 1024 * 1024
MEDIA_TYPES = {".ipynb": "application/x-ipynb+json", ".log": "text/plain", ".fits": "application/fits"}


def result_name(name: str) -> PurePosixPath:
    """``name`` as a path inside the output folder; FacilityError for one that would leave it."""
    path = PurePosixPath(name) if isinstance(name, str) else None
    if (
        path is None
        or not name
        or len(name) > 1000
        or path.is_absolute()
        or any(part in ("", ".", "..") for part in name.split("/"))
        or any(not character.isprintable() for character in name)
    ):
        raise FacilityError(f"{str(name)[:100]!r} is not the name of a file in the job's output folder")
    return path


def media_type(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    return MEDIA_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or ""


def too_large(name: str, size: int, max_bytes: int) -> FacilityError:
    return FacilityError(
        f"the result {name!r} is {_megabytes(size)}, more than the {_megabytes(max_bytes)} ESAP takes back from a job"
    )


class BoundedStream(io.RawIOBase):
    """A stream that gives at most ``max_bytes`` and fails, rather than truncates, when there is more."""

    def __init__(self, source: BinaryIO, name: str, max_bytes: int):
        self.source, self.name, self.max_bytes, self.given = source, name, max_bytes, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        chunk = self.source.read(min(len(view), self.max_bytes - self.given + 1))
        self.given += len(chunk)
        if self.given > self.max_bytes:
            raise too_large(self.name, self.given, self.max_bytes)
        view[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            self.source.close()
        super().close()


class FolderFiles:
    """The work folder as a local (shared) file system path."""

    def __init__(self, root: str):
        self.root = Path(root)

    def results(self, folder: str) -> list[JobResult]:
        output = self.root / folder / "output"
        if not output.is_dir():
            return []
        found = []
        for directory, subdirectories, names in os.walk(output):  # os.walk does not follow symbolic links
            subdirectories.sort()
            for name in sorted(names):
                path = Path(directory, name)
                info = path.lstat()
                if stat.S_ISREG(info.st_mode):
                    relative = path.relative_to(output).as_posix()
                    found.append(JobResult(relative, info.st_size, media_type(relative)))
            if len(found) > MAX_RESULTS:
                raise FacilityError(f"the job wrote more than {MAX_RESULTS} files: pack them into an archive")
        return found

    def open(self, folder: str, name: str, max_bytes: int) -> BinaryIO:
        output = (self.root / folder / "output").resolve()
        path = output / result_name(name)
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise FacilityError(f"the job has no result named {name!r}") from None
        if not real.is_relative_to(output) or path.is_symlink() or not real.is_file():
            raise FacilityError(f"{name!r} is not a file in the job's output folder")
        stream = real.open("rb")
        size = os.fstat(stream.fileno()).st_size
        if size > max_bytes:
            stream.close()
            raise too_large(name, size, max_bytes)
        return io.BufferedReader(BoundedStream(stream, name, max_bytes))

    def read(self, relative: str, limit: int) -> bytes | None:
        """The first ``limit`` bytes of a file of the work folder, or None when it is not there."""
        try:
            with (self.root / relative).open("rb") as source:
                return source.read(limit)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise FacilityError(f"ESAP cannot read {relative} in {self.root}: {error.strerror}") from None

    def tail(self, relative: str, limit: int) -> bytes:
        try:
            with (self.root / relative).open("rb") as source:
                source.seek(max(0, os.fstat(source.fileno()).st_size - limit))
                return source.read(limit)
        except FileNotFoundError:
            return b""
        except OSError as error:
            raise FacilityError(f"ESAP cannot read {relative} in {self.root}: {error.strerror}") from None


class HttpFiles:
    """The work folder as an HTTP server serves it, through the facility's guarded session."""

    def __init__(self, facility: Facility, base_url: str, timeout: float):
        self.facility, self.base_url, self.timeout = facility, base_url, timeout

    def _get(self, relative: str, **headers: str) -> _Answer:
        session = self.facility.http()
        try:
            answer = session.get(
                f"{self.base_url}/{quote(relative)}",
                headers=headers,
                timeout=self.timeout,
                stream=True,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            session.close()
            raise FacilityError(f"the facility's file server {self.base_url} cannot be reached: {error}") from None
        return _Answer(session, answer)

    def results(self, folder: str) -> list[JobResult]:
        listing = self.read(f"{folder}/esap_results.list", MAX_LIST_BYTES)
        if listing is None:
            raise FacilityError("the job has not listed its results: it is still running, or did not end normally")
        found = []
        for entry in listing.decode("utf-8", errors="replace").split("\0"):
            size, _, name = entry.partition(" ")
            if size.isdigit() and name:
                found.append(JobResult(name, int(size), media_type(name)))
        if len(found) > MAX_RESULTS:
            raise FacilityError(f"the job wrote more than {MAX_RESULTS} files: pack them into an archive")
        return found

    def open(self, folder: str, name: str, max_bytes: int) -> BinaryIO:
        answer = self._get(f"{folder}/output/{result_name(name)}")
        status, length = answer.response.status_code, answer.response.headers.get("Content-Length", "")
        if status != 200 or (length.isdigit() and int(length) > max_bytes):
            answer.close()
            if status == 404:
                raise FacilityError(f"the job has no result named {name!r}")
            if status != 200:
                raise FacilityError(f"the facility's file server answered HTTP {status} for {name!r}")
            raise too_large(name, int(length), max_bytes)
        return io.BufferedReader(BoundedStream(answer, name, max_bytes))

    def read(self, relative: str, limit: int) -> bytes | None:
        with self._get(relative) as answer:
            status = answer.response.status_code
            if status == 404:
                return None
            if status != 200:
                raise FacilityError(f"the facility's file server answered HTTP {status} for {relative}")
            return answer.read(limit)

    def tail(self, relative: str, limit: int) -> bytes:
        with self._get(relative, Range=f"bytes=-{limit}") as answer:
            status = answer.response.status_code
            if status == 404:
                return b""
            if status not in (200, 206):
                raise FacilityError(f"the facility's file server answered HTTP {status} for {relative}")
            kept = b""
            for chunk in answer.response.iter_content(64 * 1024):  # a server without ranges sends it all: keep the end
                kept = (kept + chunk)[-limit:]
            return kept


class _Answer(io.RawIOBase):
    """An HTTP answer's body as a stream; closing it closes the answer and its session."""

    def __init__(self, session: requests.Session, response: requests.Response):
        self.session, self.response = session, response

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self.response.raw.read(size if size >= 0 else None, decode_content=True)

    def close(self) -> None:
        if not self.closed:
            self.response.close()
            self.session.close()
        super().close()


def job_files(facility: Facility, settings: SlurmSettings, timeout: float) -> FolderFiles | HttpFiles:
    if settings.results_path:
        return FolderFiles(settings.results_path)
    return HttpFiles(facility, settings.results_url, timeout)


def summary(files: FolderFiles | HttpFiles, folder: str) -> dict[str, Any]:
    """What the job's script left in ``esap_job.json`` (exit code, step, commit), or {} before it ends."""
    raw = files.read(f"{folder}/esap_job.json", MAX_SUMMARY_BYTES)
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size} bytes"
