"""Shared pieces of the slurm plugin's tests: facilities on the test cluster, job requests, following a job."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from esap_slurm.facility import SlurmFacility

from esap_core import DataItem, Facility, JobPhase, JobRequest, JobStatus, SoftwareRecord, UIType, UserContext
from esap_core.testing import load_fixtures

USER = UserContext(username="researcher")
_job_numbers = itertools.count(1)


@pytest.fixture
def esap_plugin_name() -> str:
    """The plugin under test, also when the whole repository's tests run (from its own ini otherwise)."""
    return "slurm"


@pytest.fixture(scope="session")
def slurm_type() -> SlurmFacility:
    return SlurmFacility()


def _job_request(
    repository: str,
    *,
    command: str = "",
    notebook: str = "",
    data: tuple[DataItem, ...] = (),
    parameters: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    api_url: str = "http://127.0.0.1:9",
    ref: str = "main",
) -> JobRequest:
    """A job of the software at ``repository``; its staging settings point at ``api_url``."""
    job_id = f"test-{time.strftime('%H%M%S')}-{next(_job_numbers)}"
    settings = json.dumps({"api_url": api_url, "token": "a-job-token", "job": job_id})
    return JobRequest(
        job_id=job_id,
        software=SoftwareRecord(
            external_id=f"test:{job_id}",
            name="Test software",
            repository_url=repository,
            ref=ref,
            ui_type=UIType.NOTEBOOK if notebook else UIType.CLI,
        ),
        data=data,
        user=USER,
        parameters=parameters or {},
        command=command,
        notebook=notebook,
        options=options or {},
        staging=lambda: {"esap_settings.json": settings},
    )


def _follow(
    facility_type: SlurmFacility, facility: Facility, job: str, timeout: float = 120.0
) -> tuple[list[JobPhase], JobStatus]:
    """Poll the job until it ends (or ``timeout`` passes); the phases seen, in order, and the last status."""
    phases: list[JobPhase] = []
    deadline = time.monotonic() + timeout
    while True:
        status = facility_type.status(facility, job, USER, 10)
        if not phases or phases[-1] is not status.phase:
            phases.append(status.phase)
        if status.phase.final or time.monotonic() > deadline:
            return phases, status
        time.sleep(0.3)


def _wait_for_phase(
    facility_type: SlurmFacility, facility: Facility, job: str, phase: JobPhase, timeout: float = 60.0
) -> JobStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = facility_type.status(facility, job, USER, 10)
        if status.phase is phase or status.phase.final or time.monotonic() > deadline:
            return status
        time.sleep(0.3)


@pytest.fixture
def make_job() -> Callable[..., JobRequest]:
    """``make_job(repository, command=..., notebook=..., data=..., parameters=..., options=..., api_url=...)``."""
    return _job_request


@pytest.fixture
def follow() -> Callable[..., tuple[list[JobPhase], JobStatus]]:
    """``follow(slurm_type, facility, job, timeout=120)``: the phases a job went through, and where it ended."""
    return _follow


@pytest.fixture
def wait_for_phase() -> Callable[..., JobStatus]:
    """``wait_for_phase(slurm_type, facility, job, phase, timeout=60)``: the status once the job is in ``phase``."""
    return _wait_for_phase


@pytest.fixture
def user() -> UserContext:
    return USER


def pytest_configure(config):
    load_fixtures(config, "esap_slurm.testing")  # its servers, once
