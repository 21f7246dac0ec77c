"""Slurm's job states as IVOA UWS phases, and a job's record from slurmrestd as a JobStatus."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from esap_core import JobPhase, JobStatus

# Slurm 22.05's base job states (squeue(1), JOB STATE CODES) and the phase each one is.
PHASES = {
    "PENDING": JobPhase.QUEUED,
    "REQUEUED": JobPhase.QUEUED,
    "REQUEUE_FED": JobPhase.QUEUED,
    "REQUEUE_HOLD": JobPhase.HELD,
    "CONFIGURING": JobPhase.QUEUED,  # nodes allocated, still booting
    "RESV_DEL_HOLD": JobPhase.HELD,
    "RUNNING": JobPhase.EXECUTING,
    "COMPLETING": JobPhase.EXECUTING,
    "SIGNALING": JobPhase.EXECUTING,
    "STAGE_OUT": JobPhase.EXECUTING,
    "RESIZING": JobPhase.EXECUTING,
    "SUSPENDED": JobPhase.SUSPENDED,
    "STOPPED": JobPhase.SUSPENDED,
    "COMPLETED": JobPhase.COMPLETED,
    "CANCELLED": JobPhase.ABORTED,
    "FAILED": JobPhase.ERROR,
    "TIMEOUT": JobPhase.ERROR,
    "NODE_FAIL": JobPhase.ERROR,
    "BOOT_FAIL": JobPhase.ERROR,
    "DEADLINE": JobPhase.ERROR,
    "OUT_OF_MEMORY": JobPhase.ERROR,
    "PREEMPTED": JobPhase.ERROR,
    "SPECIAL_EXIT": JobPhase.ERROR,
    "REVOKED": JobPhase.ERROR,
}
HELD_REASONS = {"JobHeldUser", "JobHeldAdmin"}
ENDINGS = {
    "TIMEOUT": "the job ran past its time limit",
    "NODE_FAIL": "the node running the job failed",
    "BOOT_FAIL": "the job's node failed to boot",
    "DEADLINE": "the job missed its deadline",
    "OUT_OF_MEMORY": "the job ran out of memory",
    "PREEMPTED": "the job was preempted by another",
    "CANCELLED": "the job was cancelled",
    "REVOKED": "the job was revoked (it ran on another cluster)",
}


def job_status(record: dict[str, Any]) -> JobStatus:
    """The status a v0.0.38 ``jobs[0]`` record says: phase, message, times and details."""
    state = str(record.get("job_state") or "").upper()
    reason = str(record.get("state_reason") or "")
    phase = PHASES.get(state, JobPhase.UNKNOWN)
    if phase is JobPhase.QUEUED and reason in HELD_REASONS:
        phase = JobPhase.HELD
    exit_code, signal = _exit_status(record.get("exit_code"))
    details: dict[str, Any] = {"slurm_state": state, "exit_code": exit_code}
    if signal:
        details["signal"] = signal
    if reason and reason != "None":
        details["reason"] = reason
    if record.get("batch_host"):
        details["node"] = str(record["batch_host"])
    return JobStatus(
        phase=phase,
        message=_message(phase, state, reason, str(record.get("state_description") or ""), exit_code, signal),
        started=_time(record.get("start_time")) if phase is not JobPhase.QUEUED else None,
        finished=_time(record.get("end_time")) if phase.final else None,
        details=details,
    )


def _message(phase: JobPhase, state: str, reason: str, description: str, exit_code: int, signal: int) -> str:
    why = description or (reason if reason and reason != "None" else "")
    if phase is JobPhase.UNKNOWN:
        return f"Slurm reports the state {state or 'nothing'!r}, which ESAP does not know"
    if phase in (JobPhase.QUEUED, JobPhase.HELD):
        return f"Waiting in Slurm's queue{f': {why}' if why else ''}"
    if phase is JobPhase.EXECUTING:
        return "Running" if state == "RUNNING" else f"Running ({state.lower()})"
    if phase is JobPhase.SUSPENDED:
        return f"Suspended by Slurm{f': {why}' if why else ''}"
    if phase is JobPhase.COMPLETED:
        return "Finished"
    ending = ENDINGS.get(state, f"the job failed with exit code {exit_code}")
    if signal and state == "FAILED":
        ending = f"the job was killed by signal {signal}"
    return ending[0].upper() + ending[1:] + (f" ({why})" if why and why not in ("NonZeroExitCode",) else "")


def _exit_status(value: Any) -> tuple[int, int]:
    """Slurm's exit_code is a wait(2) status: the code in the high byte, a signal in the low bits."""
    status = value if isinstance(value, int) and not isinstance(value, bool) else 0
    return (status >> 8) & 0xFF, status & 0x7F


def _time(value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return None
