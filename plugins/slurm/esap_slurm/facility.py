"""The ``slurm`` facility type: jobs on a Slurm cluster through slurmrestd, results from its work folder."""

from __future__ import annotations

import re
from typing import Any, BinaryIO

from esap_core import (
    CheckResult,
    Facility,
    FacilityError,
    FieldType,
    InvalidValues,
    JobFacility,
    JobPhase,
    JobRequest,
    JobResult,
    JobStatus,
    QueryField,
    SettingsError,
    UIType,
    UserContext,
    check_values,
)
from esap_slurm.files import job_files, summary
from esap_slurm.rest import INVALID_JOB_ID, SlurmRest
from esap_slurm.script import batch_script, job_name, log_name
from esap_slurm.settings import API_VERSION, SlurmSettings, slurm_settings
from esap_slurm.states import job_status

FOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
ERROR_LOG_LINES = 6  # the end of the log that an ERROR's message quotes


class SlurmFacility(JobFacility):
    kind = "slurm"
    title = "Slurm cluster"
    description = (
        "Runs a notebook (headless, with papermill) or a command as a batch job on a Slurm cluster, "
        "with your basket's data; its output files come back as results."
    )
    accepts = frozenset({UIType.NOTEBOOK, UIType.CLI})
    url_settings = frozenset({"results_url"})
    secret_settings = frozenset({"token"})

    def check(self, facility: Facility, timeout: float) -> CheckResult:
        try:
            settings = slurm_settings(facility)
            rest = SlurmRest(facility, settings)
            ping = rest.call("GET", "ping", timeout)
        except (SettingsError, FacilityError) as error:
            return CheckResult(up=False, message=str(error))
        slurm = ping.data.get("meta", {}).get("Slurm", {}) if isinstance(ping.data.get("meta"), dict) else {}
        version = str(slurm.get("release", "")) if isinstance(slurm, dict) else ""
        pings = [entry for entry in ping.data.get("pings") or [] if isinstance(entry, dict)]
        if ping.failed or not any(entry.get("ping") == "UP" for entry in pings):
            return CheckResult(up=False, message=f"slurmctld does not answer slurmrestd: {ping.error_text()}")
        metadata: dict[str, Any] = {"api": API_VERSION, "controllers": [str(entry.get("hostname")) for entry in pings]}
        message = f"Slurm {version} answers at {rest.where}"
        if settings.partition:
            state = self._partition_state(rest, settings.partition, timeout)
            metadata["partition"], metadata["partition_state"] = settings.partition, state
            if state != "UP":
                message += f"; partition {settings.partition!r} is {state}: jobs will wait"
        return CheckResult(up=True, message=message, version=version, metadata=metadata)

    def options(self, facility: Facility) -> tuple[QueryField, ...]:
        try:
            settings = slurm_settings(facility)
        except SettingsError:
            return ()
        return (
            QueryField(
                "time_limit",
                "Time limit (minutes)",
                FieldType.INTEGER,
                default=settings.default_minutes,
                minimum=1,
                maximum=settings.max_minutes,
                help="Slurm stops the job when it runs longer",
            ),
            QueryField("cpus", "Cores", FieldType.INTEGER, default=1, minimum=1, maximum=settings.max_cpus),
            QueryField(
                "memory_mb",
                "Memory (MB)",
                FieldType.INTEGER,
                minimum=16,
                maximum=settings.max_memory_mb,
                help="Leave empty for the partition's default",
            ),
        )

    def submit(self, facility: Facility, request: JobRequest, timeout: float) -> str:
        settings = _settings(facility)
        folder = str(request.job_id)
        if not FOLDER.fullmatch(folder):
            raise FacilityError(f"the job id {folder[:80]!r} cannot name a folder (letters, digits, - and _)")
        options = self._checked_options(facility, request.options)
        job: dict[str, Any] = {
            "name": job_name(folder),
            "comment": f"ESAP job {folder} for {request.user.username}"[:200],
            "current_working_directory": settings.work_root,
            "standard_output": f"{settings.work_root}/{log_name(folder)}",
            "environment": {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
            "requeue": False,  # a second run would find the first one's folder
            "time_limit": options["time_limit"],
            "cpus_per_task": options["cpus"],
        }
        if settings.partition:
            job["partition"] = settings.partition
        if options.get("memory_mb"):
            job["memory_per_node"] = options["memory_mb"]
        body = {"script": batch_script(request, settings, folder), "job": job}
        answer = SlurmRest(facility, settings).call("POST", "job/submit", timeout, body)
        slurm_id = answer.data.get("job_id")
        if answer.failed or not isinstance(slurm_id, int) or isinstance(slurm_id, bool):
            raise FacilityError(f"Slurm refused the job: {answer.error_text()}")
        return f"{slurm_id}:{folder}"

    def status(self, facility: Facility, job: str, user: UserContext, timeout: float) -> JobStatus:
        settings = _settings(facility)
        slurm_id, folder = _parse(job)
        record = _record(SlurmRest(facility, settings), slurm_id, folder, timeout)
        if isinstance(record, JobStatus):
            return record
        status = job_status(record)
        if not status.phase.final:
            return status
        return _with_summary(status, facility, settings, folder, timeout)

    def log(self, facility: Facility, job: str, user: UserContext, timeout: float, tail: int = 65536) -> str:
        settings = _settings(facility)
        _, folder = _parse(job)
        raw = job_files(facility, settings, timeout).tail(log_name(folder), max(0, tail) * 4)
        return raw.decode("utf-8", errors="replace")[-tail:] if tail > 0 else ""

    def cancel(self, facility: Facility, job: str, user: UserContext, timeout: float) -> None:
        settings = _settings(facility)
        slurm_id, folder = _parse(job)
        rest = SlurmRest(facility, settings)
        record = _record(rest, slurm_id, folder, timeout)
        if isinstance(record, JobStatus):
            raise FacilityError(f"the job cannot be cancelled: {record.message}")
        phase = job_status(record).phase
        if phase.final:
            # slurmrestd answers a DELETE of a finished job with success and does nothing: say so instead.
            raise FacilityError(f"the job has already ended ({phase.value}): there is nothing to cancel")
        answer = rest.call("DELETE", f"job/{slurm_id}", timeout)
        if answer.failed:
            raise FacilityError(f"Slurm could not cancel job {slurm_id}: {answer.error_text()}")

    def results(self, facility: Facility, job: str, user: UserContext, timeout: float) -> list[JobResult]:
        settings = _settings(facility)
        _, folder = _parse(job)
        return job_files(facility, settings, timeout).results(folder)

    def open_result(
        self, facility: Facility, job: str, name: str, user: UserContext, timeout: float, max_bytes: int = 1024**3
    ) -> BinaryIO:
        settings = _settings(facility)
        _, folder = _parse(job)
        return job_files(facility, settings, timeout).open(folder, name, max_bytes)

    def _checked_options(self, facility: Facility, options: dict[str, Any] | Any) -> dict[str, Any]:
        fields = self.options(facility)
        unknown = sorted(str(name) for name in options if name not in {field.name for field in fields})
        if unknown:
            raise FacilityError(f"a Slurm job takes no option {', '.join(map(repr, unknown))}")
        try:
            return check_values(fields, options)
        except InvalidValues as error:
            raise FacilityError(f"the job's options do not fit: {error}") from None

    @staticmethod
    def _partition_state(rest: SlurmRest, partition: str, timeout: float) -> str:
        answer = rest.call("GET", f"partition/{partition}", timeout)
        partitions = answer.data.get("partitions") or []
        if answer.failed or not partitions or not isinstance(partitions[0], dict):
            return "missing"
        return str(partitions[0].get("state") or "unknown")


def _settings(facility: Facility) -> SlurmSettings:
    try:
        return slurm_settings(facility)
    except SettingsError as error:
        raise FacilityError(str(error)) from None


def _parse(job: str) -> tuple[str, str]:
    """The Slurm job id and ESAP's folder of a job id :meth:`SlurmFacility.submit` returned."""
    slurm_id, _, folder = str(job).partition(":")
    if not slurm_id.isdigit() or not FOLDER.fullmatch(folder):
        raise FacilityError(f"{str(job)[:80]!r} is not the id of a job this Slurm facility submitted")
    return slurm_id, folder


def _record(rest: SlurmRest, slurm_id: str, folder: str, timeout: float) -> dict[str, Any] | JobStatus:
    """Slurm's record of the job, or an UNKNOWN status when Slurm does not know it (any more)."""
    answer = rest.call("GET", f"job/{slurm_id}", timeout)
    if INVALID_JOB_ID in answer.error_numbers:  # v0.0.38 answers 500 for an unknown id, not 404
        return JobStatus(
            JobPhase.UNKNOWN,
            f"Slurm no longer knows job {slurm_id} ({answer.error_text()}): it ended long ago, or the cluster lost it",
        )
    if answer.failed:
        raise FacilityError(f"Slurm could not say how job {slurm_id} is: {answer.error_text()}")
    records = [record for record in answer.data.get("jobs") or [] if isinstance(record, dict)]
    if not records:
        return JobStatus(JobPhase.UNKNOWN, f"Slurm answered no record for job {slurm_id}")
    if records[0].get("name") != job_name(folder):
        return JobStatus(JobPhase.UNKNOWN, f"Slurm's job {slurm_id} is another job now ({records[0].get('name')!r})")
    return records[0]


def _with_summary(
    status: JobStatus, facility: Facility, settings: SlurmSettings, folder: str, timeout: float
) -> JobStatus:
    """A final status with what the job's script said about itself: the commit, and for an ERROR its own words."""
    files = job_files(facility, settings, timeout)
    try:
        said = summary(files, folder)
        log = (
            files.tail(log_name(folder), 16 * 1024).decode("utf-8", errors="replace")
            if status.phase is JobPhase.ERROR
            else ""
        )
    except FacilityError as error:
        return JobStatus(
            status.phase, status.message, status.started, status.finished, {**status.details, "files": str(error)}
        )
    details = dict(status.details)
    if isinstance(said.get("commit"), str) and said["commit"]:
        details["commit"] = said["commit"]
    message = status.message
    if status.phase is JobPhase.ERROR:
        step = said.get("step")
        if isinstance(step, str) and step and status.details.get("slurm_state") == "FAILED":
            message = f"The job failed in its '{step}' step (exit code {said.get('exit_code')})"
        lines = [line for line in log.splitlines() if line.strip()][-ERROR_LOG_LINES:]
        if lines:
            message += ":\n" + "\n".join(lines)
    return JobStatus(status.phase, message, status.started, status.finished, details)
