"""A Slurm facility's settings, read and checked from ``facility.settings`` at every call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from esap_core import Facility, Secret, SettingsError

API_VERSION = "v0.0.38"  # what Debian 12's Slurm 22.05 serves; the paths and answers below follow it
RUNTIMES = ("apptainer", "singularity")


@dataclass(frozen=True)
class SlurmSettings:
    """How ESAP reaches slurmrestd, where jobs work on the cluster, and where ESAP reads what they wrote."""

    socket: str  # slurmrestd's unix socket on this machine (a login node); "" to use the URL with a token
    user_name: str  # the JWT's user (X-SLURM-USER-NAME)
    token: Secret | None  # the JWT (X-SLURM-USER-TOKEN)
    partition: str
    work_root: str  # the folder on the cluster where each job gets its own folder
    python: str  # the nodes' interpreter that stages the data (and runs the software without a container)
    container: str  # an image to run the software in, instead of a virtual environment
    container_runtime: str
    results_path: str  # where work_root is on ESAP's workers (a shared file system)
    results_url: str  # or an HTTP server that serves work_root
    default_minutes: int
    max_minutes: int
    max_cpus: int
    max_memory_mb: int


def slurm_settings(facility: Facility) -> SlurmSettings:
    """Read ``facility``'s settings; raise :class:`SettingsError` naming the key and the reason."""
    values = facility.settings
    socket = values.text("socket")
    if socket and not PurePosixPath(socket).is_absolute():
        raise SettingsError(values.where, "socket", f"must be an absolute path, not {socket!r}")
    if socket and not facility.trusted:
        # A unix socket reaches slurmrestd as the user ESAP runs as: only an admin may point ESAP at one.
        raise SettingsError(
            values.where, "socket", "is only for facilities an admin registers; use slurmrestd's URL and a token"
        )
    user_name, token = values.text("user_name"), values.secret("token")
    if not socket and not (user_name and token):
        raise SettingsError(
            values.where, "token", "and user_name are needed to reach slurmrestd over http(s) (or set socket)"
        )
    results_path, results_url = values.text("results_path"), values.url("results_url")
    if bool(results_path) == bool(results_url):
        raise SettingsError(
            values.where, "results_path", "or results_url (exactly one) must say where ESAP reads the jobs' files"
        )
    runtime = values.text("container_runtime", "apptainer", choices=RUNTIMES)
    max_minutes = int(values.number("max_minutes", 24 * 60, positive=True, integer=True))
    return SlurmSettings(
        socket=socket,
        user_name=user_name,
        token=token,
        partition=values.text("partition"),
        work_root=_absolute(values.where, "work_root", values.text("work_root")),
        python=_absolute(values.where, "python", values.text("python", "/usr/bin/python3")),
        container=values.text("container"),
        container_runtime=runtime,
        results_path=results_path and _absolute(values.where, "results_path", results_path),
        results_url=results_url.rstrip("/"),
        default_minutes=int(values.number("default_minutes", 60, positive=True, integer=True, maximum=max_minutes)),
        max_minutes=max_minutes,
        max_cpus=int(values.number("max_cpus", 4, positive=True, integer=True)),
        max_memory_mb=int(values.number("max_memory_mb", 16 * 1024, positive=True, integer=True)),
    )


def _absolute(where: str, key: str, path: str) -> str:
    if not path or not PurePosixPath(path).is_absolute() or ".." in PurePosixPath(path).parts:
        raise SettingsError(where, key, f"must be an absolute path on the cluster, not {path!r}")
    return path.rstrip("/") or "/"
