"""Jobs: software run unattended on a job facility, kept as a provenance record and followed by a worker.

:func:`submit` checks the choice and keeps the record; a queue job (:func:`run`) submits it
to the facility's type and follows its UWS phase, each phase waited for at most as long as
the configuration says; every job ends (COMPLETED, ERROR or ABORTED) with a message. The
upkeep's :func:`reap` picks up jobs whose follower died, and ends those their facility lost.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import quote

from flask import current_app
from sqlalchemy import select, update

from esap_core import accounts, basket, catalogue, checkout, facilities, tokens
from esap_core.checkout import ChoiceProblem
from esap_core.db import end_transaction, session
from esap_core.hookspecs import (
    Archive,
    ArchiveError,
    CredentialsExpired,
    FacilityError,
    FacilityType,
    JobFacility,
    JobPhase,
    JobRequest,
    JobStatus,
    ServiceRegistry,
    SoftwareRecord,
    UIType,
)
from esap_core.launches import Pin, data_item, personal_token, pinned, software_record, software_snapshot
from esap_core.models import BasketItem, Job, RegisteredFacility, Software, User, now
from esap_core.queue import QueueUnavailable

log = logging.getLogger(__name__)

ARCHIVE = "esap-jobs"  # the basket's archive name for results of jobs
FACILITY_TIMEOUT = 30.0  # seconds for one call to the facility
POLL_SECONDS = 3.0  # between two looks at a running job
LOG_EVERY = 15.0  # seconds between two reads of a running job's log
MAX_LOG = 65536  # characters of a job's log kept
DEAD_AFTER = timedelta(seconds=90)  # no sign of life from its follower for this long: the follower died
PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_PARAMETERS = 100
WAITING = (JobPhase.PENDING, JobPhase.QUEUED, JobPhase.HELD, JobPhase.SUSPENDED)
HELD = "Waiting until it is run (UWS: PHASE=RUN)"
QUERY = "query"  # the software source (and queue id) of an archive's asynchronous query kept as a job
QUERY_NAME = "ADQL query"


class JobProblem(ChoiceProblem):
    """A job that cannot be made or changed as asked; the message says why."""


class NotCancellable(JobProblem):
    """The job cannot be cancelled (it has ended, or its facility refuses): the message says why."""


def is_final(job: Job) -> bool:
    return JobPhase(job.phase).final


# --- submitting --------------------------------------------------------------------------------------------


def submit(
    user: User,
    software_id: int | None,
    facility_name: str,
    item_ids: list[int] | None = None,
    parameters: dict[str, Any] | None = None,
    command: str = "",
    notebook: str = "",
    options: dict[str, Any] | None = None,
    api_url: str = "",
    hold: bool = False,
    run_id: str = "",
    pin: Pin | None = None,
) -> Job:
    """The one way to submit a job, for the API, the pages and UWS: check every choice, keep the record, enqueue it.

    ``software_id`` may be None for a facility that runs its own software (a UWS service);
    ``item_ids`` are basket data items to take along (all of them when ``None``). A job made
    with ``hold`` waits PENDING until :func:`start` (UWS: created, then ``PHASE=RUN``);
    ``run_id`` is the caller's own label for it; ``pin`` runs the software at a recorded commit
    (:func:`esap_core.launches.pin_of`) instead of its ref. Raises :class:`JobProblem` for a choice that
    cannot be made, QueueUnavailable without a queue; either way nothing is kept.
    """
    with checkout.refusing(JobProblem):
        facility = checkout.facility(user, facility_name)
        kind = facilities.type_of(facility)
        if not isinstance(kind, JobFacility):
            raise JobProblem(f"{facility.title} does not run jobs; choose a batch or UWS facility.")
        software = _software(user, software_id, facility, kind)
        command, notebook = _how_to_run(software, command, notebook)
        items = checkout.data_items(user, item_ids)
        options = checkout.options(facility, options or {}, "a job")
        parameters = _checked_parameters(facility, kind, parameters or {})
    if len(run_id) > 64:
        raise JobProblem("A run id is at most 64 characters.")
    if not hold:
        checkout.require_queue("Submitting", "nothing was submitted")
    job = Job(
        id=secrets.token_hex(8),
        user_id=user.id,
        facility_id=facility.id,
        software_id=software.id if software else None,
        facility=checkout.facility_snapshot(facility),
        software=pinned(software_snapshot(software), pin) if software else _own_software(facility),
        data=[checkout.item_snapshot(item) for item in items],
        parameters=parameters,
        options=options,
        command=command,
        notebook=notebook,
        run_id=run_id,
        phase=JobPhase.PENDING.value,
        phases=[_phase_entry(JobPhase.PENDING, HELD if hold else "Waiting for a worker to submit it")],
    )
    session().add(job)
    session().commit()
    if not hold:
        try:
            _enqueue(job, api_url)
        except QueueUnavailable:
            session().delete(job)
            session().commit()
            raise
    return job


def is_held(job: Job) -> bool:
    """Made to wait for :func:`start` and not started yet (a follower's job has a queue id)."""
    return job.phase == JobPhase.PENDING.value and not job.queue_id


def start(job: Job, api_url: str) -> None:
    """Run a held job: hand it to a worker. A job already started is left as it is."""
    if not is_held(job):
        return
    checkout.require_queue("Running the job", "it is still waiting, unchanged")
    job.phases = [*job.phases, _phase_entry(JobPhase.PENDING, "Run: waiting for a worker to submit it")]
    job.message = "Waiting for a worker to submit it"
    _enqueue(job, api_url)


def change_parameters(job: Job, given: dict[str, Any]) -> None:
    """Add or change parameters of a held job, checked as at submission (UWS: POST to its parameters)."""
    if not is_held(job):
        raise JobProblem(f"The job is {job.phase} now: only a job waiting to be run takes new parameters.")
    facility, kind = facility_and_type(job)
    if not isinstance(kind, JobFacility):
        raise JobProblem("The job's facility or its type is gone: it cannot take parameters now.")
    with checkout.refusing(JobProblem):
        job.parameters = _checked_parameters(facility, kind, {**job.parameters, **given})
    session().commit()


def delete(job: Job) -> None:
    """Remove the job and its record, cancelling it first while it may still run (UWS: DELETE)."""
    if not is_final(job) and not is_held(job):
        cancel(job)
    session().delete(job)
    session().commit()


def _enqueue(job: Job, api_url: str) -> None:
    """Give the job one follower: it is claimed in the database first, so two calls to run it make one."""
    config = current_app.extensions["esap.config"]
    queue_id = secrets.token_hex(16)
    claim = update(Job).where(Job.id == job.id, Job.queue_id == "").values(queue_id=queue_id)
    if session().execute(claim).rowcount == 0:
        session().rollback()
        return  # another request started it meanwhile
    session().commit()
    # The follower lives as long as the job may: both bounded waits, and time to read the results.
    limit = int(config.job_queued_timeout + config.job_executing_timeout + 600)
    try:
        current_app.extensions["esap.queue"].enqueue(run, job.id, api_url, job_timeout=limit, job_id=queue_id)
    except QueueUnavailable:
        session().execute(update(Job).where(Job.id == job.id).values(queue_id=""))
        session().commit()
        raise
    session().refresh(job)


def _software(user: User, software_id: int | None, facility: RegisteredFacility, kind: FacilityType) -> Software | None:
    if software_id is None:
        if kind.accepts:
            raise JobProblem(f"{facility.title} runs software from the catalogue: choose the software to run.")
        return None
    software = catalogue.get(user, software_id)
    if software is None:
        raise JobProblem(f"There is no software with id {software_id}.")
    if not facilities.accepts(facility, software.ui_type):
        accepted = ", ".join(facilities.ui_types_accepted(facility))
        if not accepted:
            raise JobProblem(f"{facility.title} runs its own software: submit a job there without software.")
        raise JobProblem(f"{facility.title} does not run {software.ui_type} software (it runs {accepted}).")
    return software


def _how_to_run(software: Software | None, command: str, notebook: str) -> tuple[str, str]:
    """The command or the notebook; a notebook record without either runs its own notebook."""
    command, notebook = (command or "").strip(), (notebook or "").strip()
    if command and notebook:
        raise JobProblem("A job runs a command or a notebook, not both.")
    if len(command) > 10_000 or len(notebook) > 1000:
        raise JobProblem("A command is at most 10,000 characters, a notebook's path at most 1,000.")
    if software is not None and not (command or notebook):
        if software.ui_type == UIType.NOTEBOOK and software.path.endswith(".ipynb"):
            notebook = software.path
        else:
            raise JobProblem(f"Say what {software.name} should run: a command, or a notebook's path in it.")
    return command, notebook


def _checked_parameters(facility: RegisteredFacility, kind: JobFacility, given: dict[str, Any]) -> dict[str, Any]:
    """The facility's declared parameters through the field check; otherwise the software's own, checked for shape."""
    if not isinstance(given, dict):
        raise JobProblem("The parameters are a table of names and values.")
    try:
        fields = tuple(kind.job_fields(facilities.for_plugin(facility), FACILITY_TIMEOUT))
    except FacilityError as error:
        raise JobProblem(f"{facility.title} cannot say which parameters its jobs take: {error}") from None
    if fields:
        return checkout.checked(fields, given, "parameter")
    if len(given) > MAX_PARAMETERS:
        raise JobProblem(f"A job takes at most {MAX_PARAMETERS} parameters.")
    for name, value in given.items():
        if not (isinstance(name, str) and PARAMETER_NAME.fullmatch(name)):
            raise JobProblem(f"{str(name)[:80]!r} is not a parameter name: letters, digits and _, not first a digit.")
        if not isinstance(value, str | int | float | bool) or (isinstance(value, str) and len(value) > 10_000):
            raise JobProblem(f"The parameter {name} must be text (at most 10,000 characters), a number or true/false.")
    return dict(given)


def parameter_text(value: Any) -> str:
    """A parameter's value as a researcher writes it (true/false, as the forms read it back)."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _own_software(facility: RegisteredFacility) -> dict[str, Any]:
    """The snapshot of a service that runs its own software (a UWS service): the facility itself."""
    return {"id": None, "source": "facility", "external_id": f"facility:{facility.name}", "name": facility.title}


# --- reading -------------------------------------------------------------------------------------------------


def visible(user: User, job_id: str) -> Job | None:
    return session().scalar(select(Job).where(Job.id == job_id, Job.user_id == user.id))


def history(user: User, phase: str = "", facility: str = "", limit: int = 200, software: str = "") -> list[Job]:
    """The user's jobs, newest first, of one phase, facility or software (by name) when given."""
    query = select(Job).where(Job.user_id == user.id)
    if phase:
        query = query.where(Job.phase == phase)
    if facility:  # the name it had at submission, kept on the job (the facility may be gone since)
        query = query.where(Job.facility["name"].as_string() == facility)
    if software:  # likewise the software's name as submitted
        query = query.where(Job.software["name"].as_string() == software)
    return list(session().scalars(query.order_by(Job.created.desc()).limit(limit)))


def elapsed(job: Job) -> timedelta | None:
    """How long it has run (or ran), from its start at the facility."""
    if job.started is None:
        return None
    return (job.finished or now()) - job.started


def facility_and_type(job: Job) -> tuple[RegisteredFacility | None, FacilityType | None]:
    facility = session().get(RegisteredFacility, job.facility_id) if job.facility_id else None
    return facility, facilities.type_of(facility) if facility else None


def can_cancel(job: Job) -> bool:
    return not is_final(job)


def cancel(job: Job) -> None:
    """Abort the job at its facility and end it ABORTED; :class:`NotCancellable` says why when it cannot."""
    if is_final(job):
        raise NotCancellable(f"The job has ended ({job.phase}); there is nothing to cancel.")
    if is_query(job):
        _cancel_query(job)
    elif job.remote_id:
        facility, kind = facility_and_type(job)
        if not isinstance(kind, JobFacility):
            raise NotCancellable("The job's facility or its type is gone: ESAP cannot reach the job to cancel it.")
        user = session().get(User, job.user_id)
        plugin_facility = facilities.for_plugin(facility)
        end_transaction()
        try:
            kind.cancel(plugin_facility, job.remote_id, accounts.user_context(user), FACILITY_TIMEOUT)
        except FacilityError as error:
            raise NotCancellable(f"{facility.title} did not cancel the job: {error}") from None
        session().refresh(job)
    _end(job, JobPhase.ABORTED, "Cancelled by you" if job.remote_id else "Cancelled by you before it was submitted")


# --- the data pages' asynchronous queries, kept in the same list --------------------------------------------------


def record_query(user: User, archive: Archive, service_url: str, adql: str, title: str, remote: str, page: str) -> Job:
    """Keep an asynchronous query an archive accepted (a TAP job) as a job: listed, reopened at ``page``, deleted.

    Its phase is the archive's, noted whenever its page asks (:func:`note_query_phase`); no
    worker follows it, and its results are the archive's table, on that page.
    """
    job = Job(
        id=secrets.token_hex(8),
        user_id=user.id,
        facility={"name": archive.name, "kind": "tap", "title": archive.label, "url": service_url},
        software={
            "id": None,
            "source": QUERY,
            "external_id": f"{archive.name}:{remote}"[:255],
            "name": title or QUERY_NAME,
        },
        data=[],
        parameters={"adql": adql},
        phase=JobPhase.QUEUED.value,
        phases=[_phase_entry(JobPhase.QUEUED, f"Submitted to {archive.label}")],
        remote_id=remote[:255],
        queue_id=QUERY,  # never held, never a worker's
        details={"page": page},
        started=now(),
    )
    session().add(job)
    session().commit()
    return job


def is_query(job: Job) -> bool:
    return job.software.get("source") == QUERY


def query_of(user: User, remote: str) -> Job | None:
    """The user's kept query with the archive's job ``remote``, if it was kept."""
    query = select(Job).where(Job.user_id == user.id, Job.remote_id == remote[:255], Job.queue_id == QUERY)
    return session().scalars(query.limit(1)).first()


def note_query_phase(job: Job, phase: str, message: str = "") -> None:
    """What the archive said of the query, on its record (a cancelled one ends ABORTED)."""
    known = {value.value for value in JobPhase}
    noted = JobPhase.ABORTED if phase == "CANCELLED" else JobPhase(phase) if phase in known else JobPhase.UNKNOWN
    if is_final(job) or noted.value == job.phase:
        return
    if noted.final:
        _end(job, noted, message or f"{noted.value.capitalize()} at {job.facility.get('title', 'the archive')}")
        return
    _enter(job, noted, message)
    session().commit()


def _cancel_query(job: Job) -> None:
    archive = current_app.extensions["esap.plugins"].archives.get(job.facility.get("name", ""))
    if not isinstance(archive, ServiceRegistry):
        raise NotCancellable("The archive of that query is gone: ESAP cannot reach the query to cancel it.")
    user = session().get(User, job.user_id)
    end_transaction()
    try:
        archive.cancel_job(job.remote_id, accounts.user_context(user), FACILITY_TIMEOUT)
    except (ArchiveError, CredentialsExpired) as error:
        raise NotCancellable(f"{archive.label} did not cancel the query: {error}") from None


def _result(job: Job, name: str) -> dict[str, Any]:
    for result in job.results:
        if result["name"] == name:
            return result
    raise JobProblem(f"The job has no result named {name[:200]!r}.")


def open_result(job: Job, name: str) -> tuple[dict[str, Any], BinaryIO]:
    """One of the job's results as a stream from its facility (close it), with what ESAP knows of it."""
    result = _result(job, name)
    facility, kind = facility_and_type(job)
    if not isinstance(kind, JobFacility):
        raise JobProblem("The job's facility or its type is gone: its results cannot be read now.")
    user = session().get(User, job.user_id)
    plugin_facility = facilities.for_plugin(facility)
    end_transaction()
    try:
        stream = kind.open_result(
            plugin_facility, job.remote_id, name, accounts.user_context(user), FACILITY_TIMEOUT, max_result_bytes()
        )
    except FacilityError as error:
        raise JobProblem(f"{facility.title} did not give the result {name[:200]!r}: {error}") from None
    return result, stream


def chunks(stream: BinaryIO, size: int = 1 << 16) -> Iterator[bytes]:
    """A result's bytes, streamed, closing the stream at the end."""
    try:
        while chunk := stream.read(size):
            yield chunk
    finally:
        stream.close()


def max_result_bytes() -> int:
    return 1024**3


def result_url(api_url: str, job: Job, name: str) -> str:
    return f"{api_url.rstrip('/')}/api/v1/jobs/{job.id}/results/{quote(name)}"


def add_result_to_basket(user: User, job: Job, name: str, api_url: str) -> int:
    """Put one of the job's results into the user's basket as a data item the notebook client fetches; 1 if new."""
    result = _result(job, name)
    item = basket.data_item(
        ARCHIVE,
        f"{job.id}/{name}",
        f"{name} (job {job.id} of {job.software.get('name', '')})",
        fetch={"method": "esap", "url": result_url(api_url, job, name)},
        payload={
            "job": job.id,
            "name": name,
            "size": result.get("size"),
            "format": result.get("media_type") or "",
            "software": job.software.get("name", ""),
            "commit": job.details.get("commit", ""),
            "facility": job.facility.get("name", ""),
        },
    )
    return basket.add(user, [item])


def in_basket(user: User, job: Job, name: str) -> bool:
    query = select(BasketItem.id).where(
        BasketItem.user_id == user.id,
        BasketItem.kind == basket.DATA,
        BasketItem.archive == ARCHIVE,
        BasketItem.identifier == f"{job.id}/{name}",
    )
    return session().scalar(query) is not None


# --- the worker's part ------------------------------------------------------------------------------------------


def _phase_entry(phase: JobPhase, message: str = "") -> dict[str, str]:
    return {"phase": phase.value, "at": now().isoformat(), "message": str(message)[:1000]}


def _enter(job: Job, phase: JobPhase, message: str = "") -> None:
    if phase.value != job.phase:
        job.phases = [*job.phases, _phase_entry(phase, message)]
        job.phase = phase.value
    if message:
        job.message = str(message)[:4000]


def _end(job: Job, phase: JobPhase, message: str) -> None:
    """End the job in a final ``phase`` once; a job already ended keeps its end."""
    session().refresh(job)
    if is_final(job):
        return
    _enter(job, phase, message)
    job.message = str(message)[:4000]
    job.finished = job.finished or now()
    session().commit()


def _request(job: Job, user: User, api_url: str) -> JobRequest:
    config = current_app.extensions["esap.config"]
    lifetime = timedelta(seconds=config.job_queued_timeout + config.job_executing_timeout)

    def staging_files() -> dict[str, str]:
        # A read-only basket token for the job's data, living as long as the job may.
        _, token = tokens.create(user, f"job {job.id}", ["basket:read"], datetime.now(UTC) + lifetime, admin=False)
        settings = {"api_url": api_url.rstrip("/"), "token": token, "job": job.id}
        return {"esap_settings.json": json.dumps(settings, indent=2)}

    software = (
        software_record(job.software)
        if job.software.get("source") != "facility"
        else SoftwareRecord(external_id=job.software["external_id"], name=job.software["name"], ui_type=UIType.CLI)
    )
    return JobRequest(
        job_id=job.id,
        software=software,
        data=tuple(data_item(item) for item in job.data),
        user=accounts.user_context(user),
        parameters=dict(job.parameters),
        command=job.command,
        notebook=job.notebook,
        options=dict(job.options),
        staging=staging_files,
        personal_token=personal_token(user, job.facility["name"]),
        max_result_bytes=max_result_bytes(),
    )


def run(job_id: str, api_url: str) -> str:
    """The queue job: submit the job to its facility (once) and follow it to its end."""
    job = session().get(Job, job_id)
    if job is None or is_final(job):
        return "gone"
    job.heartbeat = now()
    session().commit()
    try:
        facility, kind = facility_and_type(job)
        if not isinstance(kind, JobFacility):
            raise FacilityError("The facility or its type is gone; it cannot run the job now.")
        user = session().get(User, job.user_id)
        plugin_facility = facilities.for_plugin(facility)
        if not job.remote_id:
            request = _request(job, user, api_url)
            end_transaction()
            remote_id = kind.submit(plugin_facility, request, FACILITY_TIMEOUT)
            if _deleted(job_id):  # deleted while it was being submitted: cancel it there, where nobody sees it
                kind.cancel(plugin_facility, str(remote_id), accounts.user_context(user), FACILITY_TIMEOUT)
                return "deleted"
            session().refresh(job)
            job.remote_id, job.started = str(remote_id)[:255], now()
            _enter(job, JobPhase.QUEUED, f"Submitted to {facility.title} as {remote_id}")
            session().commit()
            if is_final(job):  # cancelled while it was being submitted: cancel it there too
                kind.cancel(plugin_facility, job.remote_id, accounts.user_context(user), FACILITY_TIMEOUT)
                return job.phase
        _follow(job, kind, plugin_facility, user)
    except Exception as error:
        if _deleted(job_id):  # deleted while it ran (a UWS DELETE cancels it first): nothing is left to end
            log.info("job %s was deleted while it was followed", job_id)
            return "deleted"
        if isinstance(error, FacilityError):
            _end(job, JobPhase.ERROR, str(error) or type(error).__name__)
        else:  # a plugin's bug must still end the job, with a message we can show
            log.exception("job %s failed unexpectedly", job_id)
            _end(
                job,
                JobPhase.ERROR,
                f"The job failed unexpectedly ({type(error).__name__}). The facility's plugin may have a problem; "
                "the administrators have the details.",
            )
    return job.phase


def _deleted(job_id: str) -> bool:
    session().rollback()
    return session().scalar(select(Job.id).where(Job.id == job_id)) is None


def _limit(phase: JobPhase) -> float | None:
    """The bounded wait of a phase, from the configuration (None: no bound, a final phase)."""
    config = current_app.extensions["esap.config"]
    if phase in WAITING:
        return config.job_queued_timeout
    if phase is JobPhase.EXECUTING:
        return config.job_executing_timeout
    return None


def _follow(job: Job, kind: JobFacility, facility, user: User) -> None:
    """Look at the job every few seconds until it ends, keeping its phases, details and log on the record."""
    context = accounts.user_context(user)
    phase_since = time.monotonic()
    silent_since: float | None = None
    last_log = 0.0
    while True:
        session().refresh(job)
        if is_final(job):  # cancelled meanwhile
            _finish(job, kind, facility, context, JobStatus(JobPhase(job.phase), job.message))
            return
        try:
            end_transaction()
            status = kind.status(facility, job.remote_id, context, FACILITY_TIMEOUT)
            silent_since = None
        except FacilityError as error:  # the facility may come back: the job is still there
            silent_since = silent_since or time.monotonic()
            waited = time.monotonic() - silent_since
            if waited > (_limit(JobPhase(job.phase)) or 0):
                raise FacilityError(f"{facility.title} has not answered for {waited:.0f} s: {error}") from None
            job.message, job.heartbeat = f"{facility.title} does not answer now: {error}"[:4000], now()
            session().commit()
            time.sleep(POLL_SECONDS)
            continue
        phase = JobPhase(status.phase)
        if phase.value != job.phase:
            phase_since = time.monotonic()
        if phase is JobPhase.UNKNOWN:
            raise FacilityError(f"{facility.title} no longer knows the job {job.remote_id}; it is lost.")
        job.details = {**job.details, **_json_safe(status.details)}
        job.heartbeat = now()
        if phase.final:  # its log and results are kept before its end: whoever sees it ended sees them
            session().commit()
            _finish(job, kind, facility, context, status)
            return
        _enter(job, phase, status.message)
        if time.monotonic() - last_log > LOG_EVERY:
            job.log = _log(kind, facility, job, context) or job.log
            last_log = time.monotonic()
        session().commit()
        limit = _limit(phase)
        if limit is not None and time.monotonic() - phase_since > limit:
            _give_up(job, kind, facility, context, phase, limit)
            return
        time.sleep(POLL_SECONDS)


def _give_up(job: Job, kind: JobFacility, facility, context, phase: JobPhase, limit: float) -> None:
    """A phase outlasted its bounded wait: cancel the job there and end it in ERROR, saying so."""
    reason = job.message
    try:
        kind.cancel(facility, job.remote_id, context, FACILITY_TIMEOUT)
        cancelled = "ESAP cancelled it"
    except FacilityError as error:
        cancelled = f"ESAP could not cancel it ({error})"
    message = f"The job stayed {phase.value} longer than {limit:.0f} s, the limit here; {cancelled}."
    _end(job, JobPhase.ERROR, f"{message} {facility.title} said: {reason}" if reason else message)
    job.log = _log(kind, facility, job, context) or job.log
    session().commit()


def _finish(job: Job, kind: JobFacility, facility, context, status: JobStatus) -> None:
    """The job ended at its facility: keep its end, its log and the list of its results."""
    phase = JobPhase(status.phase)
    job.log = _log(kind, facility, job, context) or job.log
    if phase is JobPhase.COMPLETED:
        try:
            end_transaction()
            job.results = [
                {"name": result.name, "size": result.size, "media_type": result.media_type}
                for result in kind.results(facility, job.remote_id, context, FACILITY_TIMEOUT)
            ]
        except FacilityError as error:
            status = JobStatus(JobPhase.ERROR, f"The job completed, but its results cannot be listed: {error}")
            phase = JobPhase.ERROR
    if status.started and job.started is None:
        job.started = status.started
    job.finished = status.finished or job.finished or now()
    session().commit()
    default = {JobPhase.COMPLETED: "Completed", JobPhase.ABORTED: "Aborted"}.get(phase, "The job failed")
    _end(job, phase, status.message or default)


def _log(kind: JobFacility, facility, job: Job, context) -> str:
    try:
        end_transaction()
        return str(kind.log(facility, job.remote_id, context, FACILITY_TIMEOUT, tail=MAX_LOG))[-MAX_LOG:]
    except FacilityError as error:
        log.info("log of job %s: %s", job.id, error)
        return ""


def _json_safe(value: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dict(value or {}), default=str))


def reap(dead_after: timedelta = DEAD_AFTER) -> int:
    """Jobs whose follower died: follow them again, or end those their facility lost (or never got), saying so."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job as QueueJob

    queue = current_app.extensions["esap.queue"]
    connection = queue.connection()
    cutoff = datetime.now(UTC) - dead_after
    active = [phase.value for phase in JobPhase if not phase.final]
    handled = 0
    for job in list(session().scalars(select(Job).where(Job.phase.in_(active)))):
        if (job.heartbeat or job.created) > cutoff or is_held(job) or is_query(job):
            continue
        try:
            state = QueueJob.fetch(job.queue_id, connection=connection).get_status() if job.queue_id else None
        except NoSuchJobError:
            state = None
        if state in ("queued", "deferred", "scheduled") or (state == "started" and job.heartbeat is None):
            continue
        handled += 1
        if not job.remote_id:
            _end(job, JobPhase.ERROR, "The job never reached its facility: its worker stopped. Please submit it again.")
            continue
        facility, kind = facility_and_type(job)
        if not isinstance(kind, JobFacility):
            _end(job, JobPhase.ERROR, "The job's facility was removed, or its type is not installed: the job is lost.")
            continue
        user = session().get(User, job.user_id)
        plugin_facility = facilities.for_plugin(facility)
        try:
            end_transaction()
            status = kind.status(plugin_facility, job.remote_id, accounts.user_context(user), FACILITY_TIMEOUT)
        except FacilityError:
            continue  # the facility may answer at the next round
        if status.phase is JobPhase.UNKNOWN:
            _end(job, JobPhase.ERROR, f"{facility.title} lost the job {job.remote_id}: it no longer knows it.")
        elif status.phase.final:
            _finish(job, kind, plugin_facility, accounts.user_context(user), status)
        else:  # still running there: a new follower takes it over
            job.heartbeat = now()
            job.queue_id = queue.enqueue(run, job.id, _api_url()).id
            session().commit()
    return handled


def _api_url() -> str:
    """ESAP's address for a job the upkeep takes over (its token is already at the facility)."""
    return current_app.extensions["esap.config"].base_url or "http://127.0.0.1:5000"
