"""A job's results into its user's workspace: streamed from the facility, bounded in size, refused at the quota.

A result lands at ``jobs/<job id>/<name>`` unless the researcher names another folder. Its
size is what the facility said; when it said nothing, the stream is spooled (in memory, then
on disk) up to the largest upload the workspace takes, so a result of unknown size can never
be larger than one that said it.
"""

from __future__ import annotations

import tempfile
from typing import BinaryIO

from esap_core import jobs, workspace
from esap_core.hookspecs import StoredFile
from esap_core.models import Job, User

SPOOL_IN_MEMORY = 8 << 20  # bytes of a result of unknown size kept in memory before it spills to a temporary file


def default_folder(job: Job) -> str:
    return f"jobs/{job.id}"


def save(user: User, job: Job, name: str, folder: str = "") -> StoredFile:
    """Save the job's result ``name`` into ``folder`` of the workspace (default ``jobs/<id>``).

    Raises JobProblem (no such result, the facility cannot give it), WorkspaceError (no
    workspace, too large, a bad path) or QuotaExceeded, each with a message for the researcher.
    """
    folder = workspace.clean_path(folder or default_folder(job), folder=True)
    path = workspace.clean_path(f"{folder}/{name}")
    result, stream = jobs.open_result(job, name)
    try:
        size = result.get("size")
        if isinstance(size, int):
            workspace.check_size(size)  # refused before a byte is read
            return workspace.write(user, path, stream, size)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spooled:
            return workspace.write(user, path, spooled, _spool(stream, spooled))
    finally:
        stream.close()


def _spool(stream: BinaryIO, spooled: BinaryIO) -> int:
    """Copy the stream into ``spooled``, rewound, and say how many bytes; TooLarge past the largest upload."""
    limit, size = workspace.max_upload(), 0
    while chunk := stream.read(1 << 16):
        size += len(chunk)
        if size > limit:
            raise workspace.TooLarge(
                f"The result is larger than {workspace.human_size(limit)}, the largest file the workspace takes."
            )
        spooled.write(chunk)
    spooled.seek(0)
    return size
