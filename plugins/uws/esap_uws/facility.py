"""The ``uws`` facility type: jobs of any IVOA UWS 1.1 service, created, run, followed, aborted and destroyed.

The facility's URL is the service's job list (``.../async`` for DaCHS and TAP services).
A job is created with its parameters (POST, 303 to the job), started with ``PHASE=RUN``,
followed with ``WAIT`` (the service answers when the phase changes, or after the wait),
aborted with ``PHASE=ABORT`` and destroyed with DELETE; its results are the service's
result list. The facility's id of a job is its URL.
"""

from __future__ import annotations

from typing import Any, BinaryIO

import requests

from esap_core import (
    CheckResult,
    Facility,
    FacilityError,
    InvalidValues,
    JobFacility,
    JobPhase,
    JobRequest,
    JobResult,
    JobStatus,
    QueryField,
    SettingsError,
    UserContext,
    check_values,
)
from esap_uws.description import parameter_fields
from esap_uws.documents import UwsJob, error_text, parse_job, parse_job_list
from esap_uws.service import UwsService, form
from esap_uws.stream import ResultStream, too_large

MAX_WAIT = 300
MESSAGES = {
    JobPhase.PENDING: "Created at the service, not started yet",
    JobPhase.QUEUED: "Waiting in the service's queue",
    JobPhase.EXECUTING: "Running",
    JobPhase.COMPLETED: "Finished",
    JobPhase.ABORTED: "The job was aborted",
    JobPhase.HELD: "Held by the service",
    JobPhase.SUSPENDED: "Suspended by the service",
    JobPhase.ARCHIVED: "Finished; the service has deleted its results",
}


class UwsFacility(JobFacility):
    kind = "uws"
    title = "IVOA UWS service"
    description = "Runs jobs of an IVOA Universal Worker Service (UWS 1.1) with the parameters the service takes."
    accepts = frozenset()  # the service runs its own software: a job gives it parameters alone
    url_settings = frozenset({"description_url"})

    def check(self, facility: Facility, timeout: float) -> CheckResult:
        service = UwsService(facility)
        try:
            answer = service.request("GET", service.jobs_url, timeout, params={"LAST": "1"})
            service.read(answer, parse_job_list, "a UWS job list")
            fields = self.job_fields(facility, timeout)
        except FacilityError as error:
            return CheckResult(up=False, message=str(error))
        described = f"; it describes {len(fields)} parameters" if fields else ""
        return CheckResult(
            up=True,
            message=f"{service.jobs_url} answers as a UWS job list{described}",
            metadata={"parameters": [field.name for field in fields]},
        )

    def job_fields(self, facility: Facility, timeout: float) -> tuple[QueryField, ...]:
        try:
            url = facility.settings.url("description_url")
        except SettingsError as error:
            raise FacilityError(str(error)) from None
        if not url:
            return ()
        service = UwsService(facility)
        return service.read(service.request("GET", url, timeout), parameter_fields, "a description of its parameters")

    def submit(self, facility: Facility, request: JobRequest, timeout: float) -> str:
        if request.command.strip() or request.notebook.strip() or request.data:
            raise FacilityError(
                "a UWS service runs its own software: a job gives it parameters, no command, notebook or items"
            )
        if request.options:
            raise FacilityError(f"a UWS job takes no option {', '.join(map(repr, sorted(request.options)))}")
        parameters = self._checked_parameters(facility, dict(request.parameters), timeout)
        service = UwsService(facility)
        created = service.request("POST", service.jobs_url, timeout, data=form(parameters))
        job = service.job_url(service.redirect(created, "create the job"))
        started = service.request("POST", f"{job}/phase", timeout, data={"PHASE": "RUN"})
        if not started.ok:
            refusal = service.refusal(started, f"refused to run the job (HTTP {started.status})")
            service.request("DELETE", job, timeout)  # leave nothing behind that will never run
            raise refusal
        return job

    def status(self, facility: Facility, job: str, user: UserContext, timeout: float) -> JobStatus:
        service = UwsService(facility)
        url = service.job_url(job)
        wait = min(_wait(facility), max(0, int(timeout) - 5))  # the service blocks at most this; the call ends in time
        answer = service.request("GET", url, timeout, params={"WAIT": str(wait)} if wait else None)
        if answer.status in (404, 410):
            return JobStatus(JobPhase.UNKNOWN, "the service no longer knows the job: it was destroyed, or has expired")
        found = service.read(answer, parse_job, "a UWS job")
        phase = JobPhase.__members__.get(found.phase, JobPhase.UNKNOWN)
        details: dict[str, Any] = {"uws_phase": found.phase, "job_id": found.job_id}
        if found.destruction:
            details["destruction"] = found.destruction.isoformat()
        message = MESSAGES.get(phase, f"the service reports the phase {found.phase!r}, which UWS 1.1 does not know")
        if phase is JobPhase.ERROR:
            message = self._error(service, url, found, timeout)
            details["error_type"] = found.error_type
        return JobStatus(phase, message, found.started, found.finished if phase.final else None, details)

    def cancel(self, facility: Facility, job: str, user: UserContext, timeout: float) -> None:
        service = UwsService(facility)
        url = service.job_url(job)
        found = service.read(service.request("GET", url, timeout), parse_job, "a UWS job")
        phase = JobPhase.__members__.get(found.phase, JobPhase.UNKNOWN)
        if phase.final:
            raise FacilityError(f"the job has already ended ({found.phase}): there is nothing to abort")
        answer = service.request("POST", f"{url}/phase", timeout, data={"PHASE": "ABORT"})
        if not answer.ok:
            raise service.refusal(answer, f"refused to abort the job (HTTP {answer.status})")

    def results(self, facility: Facility, job: str, user: UserContext, timeout: float) -> list[JobResult]:
        found = self._job(facility, job, timeout)
        return [JobResult(result.id, result.size, result.media_type) for result in found.results]

    def open_result(
        self, facility: Facility, job: str, name: str, user: UserContext, timeout: float, max_bytes: int = 1024**3
    ) -> BinaryIO:
        found = self._job(facility, job, timeout)
        result = next((result for result in found.results if result.id == name), None)
        if result is None:  # names are looked up, never made into URLs: none can leave the job
            raise FacilityError(f"the job has no result named {str(name)[:100]!r}")
        if result.size is not None and result.size > max_bytes:
            raise too_large(name, result.size, max_bytes)
        session = facility.http()
        try:
            answer = session.get(result.href, timeout=timeout, stream=True)
        except requests.RequestException as error:
            session.close()
            raise FacilityError(f"the result {name!r} at {result.href} cannot be fetched: {error}") from None
        length = answer.headers.get("Content-Length", "")
        if not answer.ok or (length.isdigit() and int(length) > max_bytes):
            answer.close()
            session.close()
            if answer.ok:
                raise too_large(name, int(length), max_bytes)
            raise FacilityError(f"the service answered HTTP {answer.status_code} for the result {name!r}")
        return ResultStream(session, answer, name, max_bytes)

    def delete(self, facility: Facility, job: str, user: UserContext, timeout: float) -> None:
        service = UwsService(facility)
        answer = service.request("DELETE", service.job_url(job), timeout)
        if not answer.ok and answer.status not in (404, 410):
            raise service.refusal(answer, f"refused to destroy the job (HTTP {answer.status})")

    def _job(self, facility: Facility, job: str, timeout: float) -> UwsJob:
        service = UwsService(facility)
        return service.read(service.request("GET", service.job_url(job), timeout), parse_job, "a UWS job")

    def _checked_parameters(self, facility: Facility, parameters: dict[str, Any], timeout: float) -> dict[str, Any]:
        """The parameters checked against the service's description, when it has one; refused names are named."""
        fields = self.job_fields(facility, timeout)
        if not fields:
            for name, value in parameters.items():
                if not isinstance(name, str) or not name.isidentifier() or not isinstance(value, str | int | float):
                    raise FacilityError(f"parameter {str(name)[:40]!r} must be a name with a text or number value")
            return parameters
        declared = {field.name.lower(): field.name for field in fields}  # UWS parameter names ignore case
        unknown = sorted(str(name) for name in parameters if str(name).lower() not in declared)
        if unknown:
            raise FacilityError(
                f"the service takes no parameter {', '.join(map(repr, unknown))};"
                f" it takes {', '.join(declared.values())}"
            )
        named = {declared[name.lower()]: value for name, value in parameters.items()}
        try:
            return check_values(fields, named, defaults=False)
        except InvalidValues as error:
            raise FacilityError(f"the job's parameters do not fit the service: {error}") from None

    @staticmethod
    def _error(service: UwsService, url: str, found: UwsJob, timeout: float) -> str:
        """The service's own words for a job in ERROR: its errorSummary, or its error document."""
        if found.error and not found.error_detail:
            return found.error
        answer = service.request("GET", f"{url}/error", timeout)
        detail = error_text(answer.body, answer.content_type) if answer.ok else ""
        return (
            " — ".join(text for text in dict.fromkeys((found.error, detail)) if text) or "the service gives no reason"
        )


def _wait(facility: Facility) -> int:
    try:
        return int(facility.settings.number("wait", 20, minimum=0, maximum=MAX_WAIT, integer=True))
    except SettingsError as error:
        raise FacilityError(str(error)) from None
