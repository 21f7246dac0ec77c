"""The launch engine: a launch is a provenance record and an RQ job over its facility type's ``launch``.

Every launch ends, as ready or failed: the facility's own failures become its message,
and a reaper fails launches whose job died (a killed worker, a job timeout, a lost queue).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from esap_core import accounts, basket, facilities, staging, tokens
from esap_core.accounts import session
from esap_core.db import end_transaction
from esap_core.hookspecs import (
    Archive,
    ArchiveError,
    CredentialsExpired,
    DataItem,
    FacilityError,
    FacilityType,
    LaunchRequest,
    Phase,
    Secret,
    SoftwareRecord,
    UIType,
)
from esap_core.jobs import QueueUnavailable
from esap_core.models import BasketItem, Facility, Launch, Software, User, now

log = logging.getLogger(__name__)
FINISHED = {"ready", "failed", "stopped"}
PERSONAL_TOKEN = "facility-token:"  # + facility name: the user secret holding their own token for it
MAX_LOG = 200_000  # characters of build log kept per launch
HEARTBEAT = 10.0  # seconds between a running launch's signs of life
DEAD_AFTER = timedelta(seconds=90)  # no sign of life for this long and no live job: the launch died


class LaunchProblem(ValueError):
    """A launch that cannot be made as asked; the message says why."""


def software_snapshot(software: Software) -> dict[str, Any]:
    keys = (
        "id",
        "source",
        "external_id",
        "name",
        "repository_url",
        "ref",
        "path",
        "version",
        "doi",
        "runtime_platform",
        "ui_type",
    )
    return {key: getattr(software, key) for key in keys}


def create(
    user: User, software: Software, facility: Facility, items: list[BasketItem], options: dict[str, Any], api_url: str
) -> Launch:
    """Check the choice, keep the provenance, enqueue the job; QueueUnavailable leaves nothing behind."""
    if not facilities.accepts(facility, software.ui_type):
        raise LaunchProblem(f"{facility.title} does not run {software.ui_type} software; choose another facility.")
    kind = facilities.type_of(facility)
    options = _checked_options(kind.options(facilities.for_plugin(facility)), options)
    jobs = current_app.extensions["esap.jobs"]
    ok, reason = jobs.status()
    if not ok:
        raise QueueUnavailable(
            "Launching needs the job queue, which is not reachable right now; your basket is "
            "unchanged. Please try again shortly."
        )
    launch = Launch(
        id=secrets.token_hex(8),
        user_id=user.id,
        facility_id=facility.id,
        software_id=software.id,
        facility={"name": facility.name, "kind": facility.kind, "title": facility.title, "url": facility.url},
        software=software_snapshot(software),
        data=[_json_item(item) for item in items if item.kind == basket.DATA],
        options=options,
        phases=[{"phase": "queued", "at": now().isoformat(), "message": "Waiting for a worker"}],
    )
    session().add(launch)
    session().commit()
    try:
        job = jobs.enqueue(
            "esap_core.launches.run",
            launch.id,
            api_url,
            job_timeout=int(current_app.extensions["esap.config"].launch_timeout),
        )
    except QueueUnavailable:
        session().delete(launch)
        session().commit()
        raise
    launch.job_id = job.id
    session().commit()
    return launch


def _json_item(item: BasketItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "archive": item.archive,
        "identifier": item.identifier,
        "title": item.title,
        "fetch": item.fetch,
        "payload": item.payload,
    }


def _checked_options(fields, given: dict[str, Any]) -> dict[str, Any]:
    checked = {}
    for field in fields:
        value = given.get(field.name, field.default)
        if value in (None, "") and field.required:
            raise LaunchProblem(f"Please choose {field.label.lower()}.")
        if value not in (None, "") and field.choices and value not in field.choices:
            raise LaunchProblem(f"{value!r} is not one of the choices for {field.label.lower()}.")
        if value not in (None, ""):
            checked[field.name] = value
    return checked


def visible(user: User, launch_id: str) -> Launch | None:
    return session().scalar(select(Launch).where(Launch.id == launch_id, Launch.user_id == user.id))


def history(user: User, limit: int = 100) -> list[Launch]:
    query = select(Launch).where(Launch.user_id == user.id).order_by(Launch.created.desc()).limit(limit)
    return list(session().scalars(query))


class Report:
    """The LaunchReport a facility type writes to: phases, log, details and the end, kept on the launch."""

    def __init__(self, launch: Launch):
        self.launch = launch
        self.ended = False
        self._last_write = 0.0
        self._lock = threading.Lock()

    def _save(self, force: bool = False) -> None:
        moment = time.monotonic()
        if force or moment - self._last_write > 0.3:  # progress and log lines come fast: save a few a second
            self.launch.heartbeat = now()
            session().commit()
            self._last_write = moment

    def phase(self, phase: Phase, message: str = "", progress: float | None = None) -> None:
        with self._lock:
            name = Phase(phase).value
            if name != self.launch.phase or (message and message != self._last_message()):
                self.launch.phases = [
                    *self.launch.phases,
                    {"phase": name, "at": now().isoformat(), "message": str(message)[:1000]},
                ]
            self.launch.phase = name
            self.launch.progress = None if progress is None else max(0.0, min(100.0, float(progress)))
            self._save(force=progress is None)

    def _last_message(self) -> str:
        return self.launch.phases[-1].get("message", "") if self.launch.phases else ""

    def log(self, line: str) -> None:
        with self._lock:
            text = (self.launch.log + str(line).rstrip("\n") + "\n")[-MAX_LOG:]
            self.launch.log = text
            self._save()

    def detail(self, **facts: Any) -> None:
        with self._lock:
            self.launch.details = {**self.launch.details, **{k: str(v)[:1000] for k, v in facts.items()}}
            self._save(force=True)

    def ready(self, url: str, message: str = "") -> None:
        self._end("ready", Phase.READY, message or "Ready", url=url)

    def failed(self, message: str) -> None:
        self._end("failed", Phase.FAILED, message)

    def _end(self, status: str, phase: Phase, message: str, url: str = "") -> None:
        with self._lock:
            if self.ended:
                return
            self.ended = True
            launch = self.launch
            launch.status, launch.phase, launch.url, launch.message = status, phase.value, url, str(message)[:4000]
            launch.phases = [
                *launch.phases,
                {"phase": phase.value, "at": now().isoformat(), "message": str(message)[:1000]},
            ]
            launch.finished = now()
            launch.progress = None
            self._save(force=True)


def run(launch_id: str, api_url: str) -> str:
    """The job: run the facility type's launch and make sure the launch ends."""
    launch = session().get(Launch, launch_id)
    if launch is None or launch.status in FINISHED:
        return "gone"
    report = Report(launch)
    launch.status, launch.started = "running", now()
    report.phase(Phase.WAITING, "A worker took the launch")
    beating = _heartbeat(launch_id)
    try:
        facility = session().get(Facility, launch.facility_id) if launch.facility_id else None
        kind = facilities.type_of(facility) if facility else None
        if kind is None:
            raise FacilityError("The facility or its type is gone; it cannot launch anything now.")
        user = session().get(User, launch.user_id)
        _stage(launch, facility, user, report)
        request = _request(launch, user, api_url)
        end_transaction()
        kind.launch(facilities.for_plugin(facility), request, report)
        if not report.ended:
            raise FacilityError(f"{facility.title} ended the launch without saying it was ready.")
    except (FacilityError, CredentialsExpired, StagingRefused) as error:
        report.failed(str(error))
    except Exception as error:  # a plugin's bug must still end the launch, with a message we can show
        log.exception("launch %s failed unexpectedly", launch_id)
        report.failed(
            f"The launch failed unexpectedly ({type(error).__name__}). The facility's plugin may have "
            "a problem; the administrators have the details."
        )
    finally:
        beating.set()
    return launch.status


class StagingRefused(Exception):
    """An archive refused to stage the launch's data at the facility's storage."""


def _stage(launch: Launch, facility: Facility, user: User, report: Report) -> None:
    """Before launching, ask archives that can (Rucio) to put the launch's items at the facility's storage."""
    storage = facility.rucio_rse
    archives = current_app.extensions["esap.plugins"].archives
    stageable = {name: archive for name, archive in archives.items() if type(archive).stage is not Archive.stage}
    groups: dict[str, list[dict[str, Any]]] = {}
    for item in launch.data:
        if item["archive"] in stageable:
            groups.setdefault(item["archive"], []).append(item)
    if not storage or not groups:
        return
    count = sum(len(items) for items in groups.values())
    report.phase(Phase.STAGING_DATA, f"Asking for {count} item{'s' if count != 1 else ''} at {storage}")
    staged: dict[str, str] = {}
    end_transaction()
    for name, items in groups.items():
        archive = stageable[name]
        wanted = [
            DataItem(identifier=i["identifier"], title=i["title"], fetch=i["fetch"], payload=i["payload"])
            for i in items
        ]
        try:
            # Wait at most staging_timeout for the data at the facility, then go on with a note.
            timeout = current_app.extensions["esap.config"].staging_timeout
            result = archive.stage(wanted, storage, accounts.user_context(user), timeout)
        except ArchiveError as error:
            raise StagingRefused(f"{archive.title or name} refused to stage the data at {storage}: {error}") from None
        note = {"ready": "in place", "pending": "not in place yet: the session starts, the data follows"}.get(
            result.state, result.state
        )
        report.phase(Phase.STAGING_DATA, f"{archive.title or name}: {note}. {result.message}".strip())
        staged.update(result.paths)
    launch.data = [
        {**item, "staged_path": staged[item["identifier"]]} if item["identifier"] in staged else item
        for item in launch.data
    ]
    session().commit()


def _heartbeat(launch_id: str) -> threading.Event:
    """Mark the launch alive while a silent build runs, from a thread with its own session."""
    stop = threading.Event()
    app = current_app._get_current_object()

    def beat():
        from sqlalchemy import update

        while not stop.wait(HEARTBEAT):
            with app.app_context():
                db = app.extensions["esap.db"].session
                db.execute(
                    update(Launch).where(Launch.id == launch_id, Launch.status == "running").values(heartbeat=now())
                )
                db.commit()

    threading.Thread(target=beat, daemon=True, name=f"heartbeat-{launch_id}").start()
    return stop


def _request(launch: Launch, user: User, api_url: str) -> LaunchRequest:
    snapshot = launch.software
    software = SoftwareRecord(
        external_id=snapshot["external_id"],
        name=snapshot["name"],
        repository_url=snapshot["repository_url"],
        ref=snapshot["ref"],
        path=snapshot["path"],
        version=snapshot["version"],
        doi=snapshot["doi"],
        runtime_platform=snapshot["runtime_platform"],
        ui_type=UIType(snapshot["ui_type"]),
    )
    items = tuple(
        DataItem(
            identifier=i["identifier"],
            title=i["title"],
            fetch=i["fetch"],
            payload={**i["payload"], **({"staged_path": i["staged_path"]} if "staged_path" in i else {})},
        )
        for i in launch.data
    )

    def staging_files() -> dict[str, str]:
        token = tokens.mint_session_token(user, launch.id)
        return staging.files(launch.id, snapshot, launch.data, api_url, token)

    return LaunchRequest(
        launch_id=launch.id,
        software=software,
        data=items,
        user=accounts.user_context(user),
        options=dict(launch.options),
        staging_notebook=staging_files,
        personal_token=personal_token(user, launch.facility["name"]),
    )


def personal_token(user: User, facility_name: str) -> Secret | None:
    """The token the user keeps on their profile for this facility, if any."""
    from esap_core import credentials

    value = credentials.get(user.id, PERSONAL_TOKEN + facility_name)
    return Secret(value, f"profile of {user.username}") if value else None


def stop(launch: Launch) -> None:
    """Ask the facility to stop what the launch started (where its type can)."""
    facility = session().get(Facility, launch.facility_id) if launch.facility_id else None
    kind = facilities.type_of(facility) if facility else None
    if not _stoppable(kind):
        raise LaunchProblem("This facility cannot stop sessions from ESAP; they end on their own.")
    user = session().get(User, launch.user_id)
    try:
        kind.stop(facilities.for_plugin(facility), launch.id, accounts.user_context(user))
    except FacilityError as error:
        raise LaunchProblem(str(error)) from None
    launch.status = "stopped"
    launch.phases = [*launch.phases, {"phase": "stopped", "at": now().isoformat(), "message": "Stopped"}]
    launch.finished = launch.finished or now()
    session().commit()


def _stoppable(kind: FacilityType | None) -> bool:
    return kind is not None and type(kind).stop is not FacilityType.stop  # the type overrides stop()


def can_stop(launch: Launch) -> bool:
    facility = session().get(Facility, launch.facility_id) if launch.facility_id else None
    return launch.status == "ready" and _stoppable(facilities.type_of(facility) if facility else None)


def reap(dead_after: timedelta = DEAD_AFTER) -> int:
    """Fail launches whose job is gone: a killed worker, a job timeout, Redis losing the queue."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    connection = current_app.extensions["esap.jobs"].connection()
    cutoff = datetime.now(UTC) - dead_after
    reaped = 0
    for launch in session().scalars(select(Launch).where(Launch.status.in_(["queued", "running"]))):
        last_sign = launch.heartbeat or launch.created
        if last_sign > cutoff:
            continue
        try:
            state = Job.fetch(launch.job_id, connection=connection).get_status() if launch.job_id else None
        except NoSuchJobError:
            state = None
        if state in ("queued", "deferred", "scheduled") or (state == "started" and launch.status == "queued"):
            continue
        reason = {
            None: "the job queue lost it",
            "failed": "its worker stopped (killed or past the time limit)",
            "stopped": "its job was stopped",
            "finished": "its worker ended without a result",
            "started": "its worker stopped answering",
        }.get(state, f"its job is {state}")
        Report(launch).failed(f"The launch did not finish: {reason}. Please launch again.")
        reaped += 1
    return reaped
