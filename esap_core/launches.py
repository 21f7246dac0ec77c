"""The launch engine: a launch is a provenance record and an RQ job over its facility type's ``launch``.

Every launch ends, as ready or failed: the facility's own failures become its message,
and a reaper fails launches whose job died (a killed worker, a job timeout, a lost queue).
"""

from __future__ import annotations

import enum
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from esap_core import accounts, catalogue, checkout, clusters, facilities, staging, tokens
from esap_core.checkout import ChoiceProblem
from esap_core.db import end_transaction, session
from esap_core.hookspecs import (
    ArchiveError,
    CredentialsExpired,
    DataItem,
    FacilityBusy,
    FacilityError,
    FacilityType,
    LaunchRequest,
    Phase,
    Secret,
    SessionFacility,
    SoftwareRecord,
    StagingArchive,
    StopsSessions,
    UIType,
    detail_of,
)
from esap_core.models import BasketItem, Launch, RegisteredFacility, Software, User, now
from esap_core.queue import QueueUnavailable

log = logging.getLogger(__name__)


class Status(enum.StrEnum):
    """Where a launch is: waiting for a worker, running, and how it ended."""

    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    STOPPED = "stopped"


FINISHED = {Status.READY, Status.FAILED, Status.STOPPED}
ACTIVE = [Status.QUEUED, Status.RUNNING]
PERSONAL_TOKEN = "facility-token:"  # + facility name: the user secret holding their own token for it
MAX_LOG = 200_000  # characters of build log kept per launch
HEARTBEAT = 10.0  # seconds between a running launch's signs of life
DEAD_AFTER = timedelta(seconds=90)  # no sign of life for this long and no live job: the launch died


class LaunchProblem(ChoiceProblem):
    """A launch that cannot be made as asked; the message says why."""


SNAPSHOT_KEYS = (  # of a software record, kept with each launch
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


def software_snapshot(software: Software) -> dict[str, Any]:
    """The software as launched, kept with the launch (the record may change or go later)."""
    return {key: getattr(software, key) for key in SNAPSHOT_KEYS}


COMMIT = re.compile(r"[0-9a-f]{7,64}")  # a git commit as facilities report it (hex, short or full)


@dataclass(frozen=True)
class Pin:
    """Run the software at ``commit`` rather than at its record's ref: what "launch again" and "run again" do.

    ``source`` names the record the commit was read from (``launch 0123...``), ``ref`` the ref it
    had there (a branch), both kept on the new record's snapshot as ``pinned_from``.
    """

    commit: str
    source: str
    ref: str = ""


def pin_of(record: Any, what: str) -> Pin | None:
    """The pin "again" uses for a launch's or a job's ``record``: the commit its facility recorded, else None.

    ``what`` is "launch" or "job". A record pinned itself passes on the ref it was pinned from.
    """
    commit = str((record.details or {}).get("commit") or "").strip().lower()
    if not COMMIT.fullmatch(commit):
        return None
    before = (record.software or {}).get("pinned_from") or {}
    return Pin(commit, f"{what} {record.id}", str(before.get("ref") or (record.software or {}).get("ref") or ""))


def pinned(snapshot: dict[str, Any], pin: Pin | None) -> dict[str, Any]:
    """The software snapshot at the pin's commit (its ref is the commit), saying where the pin came from."""
    if pin is None:
        return snapshot
    return {**snapshot, "ref": pin.commit, "pinned_from": {"record": pin.source, "ref": pin.ref, "commit": pin.commit}}


def software_record(snapshot: dict[str, Any]) -> SoftwareRecord:
    """A launch's snapshot as the contract's type, for the facility type."""
    values = {key: snapshot[key] for key in SNAPSHOT_KEYS if key not in ("id", "source") and key in snapshot}
    return SoftwareRecord(**{**values, "ui_type": UIType(snapshot.get("ui_type") or UIType.NOTEBOOK)})


def data_item(item: dict[str, Any]) -> DataItem:
    """One of a launch's data items as the contract's type; where staging put it travels in the payload."""
    staged = {"staged_path": item["staged_path"]} if "staged_path" in item else {}
    return DataItem(item["identifier"], item["title"], item["fetch"], {**item["payload"], **staged})


def start(
    user: User,
    software_id: int,
    facility_name: str,
    item_ids: list[int] | None,
    options: dict,
    api_url: str,
    cluster: dict[str, Any] | None = None,
    pin: Pin | None = None,
) -> Launch:
    """The one way to launch, for the API and the checkout page: resolve the choices, then :func:`create`.

    ``item_ids`` are basket data items to take along (all of them when ``None``); ``pin`` launches
    the software at a recorded commit (:func:`pin_of`) instead of its ref. Raises
    :class:`LaunchProblem` for a choice that cannot be made, QueueUnavailable without a queue.
    """
    software = catalogue.get(user, software_id)
    if software is None:
        raise LaunchProblem(f"There is no software with id {software_id}.")
    with checkout.refusing(LaunchProblem):
        facility = checkout.facility(user, facility_name)
        items = checkout.data_items(user, item_ids)
        return create(user, software, facility, items, options, api_url, cluster, pin)


def create(
    user: User,
    software: Software,
    facility: RegisteredFacility,
    items: list[BasketItem],
    options: dict[str, Any],
    api_url: str,
    cluster: dict[str, Any] | None = None,
    pin: Pin | None = None,
) -> Launch:
    """Check the choice, keep the provenance, enqueue the job; QueueUnavailable leaves nothing behind.

    ``cluster`` is a cluster to start beside the session: ``{"facility": name, "options": {...}}``;
    ``pin`` the commit to launch at, kept as the snapshot's ref (the facility gets it as the ref).
    """
    if not facilities.accepts(facility, software.ui_type):
        raise LaunchProblem(f"{facility.title} does not run {software.ui_type} software; choose another facility.")
    kind = facilities.type_of(facility)
    if not isinstance(kind, SessionFacility):
        raise LaunchProblem(f"{facility.title} does not start interactive sessions; choose another facility.")
    with checkout.refusing(LaunchProblem):
        options = checkout.options(facility, options, "a launch")
    try:
        cluster_plan, cluster_state = clusters.plan(user, software, facility, cluster)
    except clusters.ClusterProblem as error:
        raise LaunchProblem(str(error)) from None
    checkout.require_queue("Launching", "your basket is unchanged")
    launch = Launch(
        id=secrets.token_hex(8),
        user_id=user.id,
        facility_id=facility.id,
        software_id=software.id,
        facility=checkout.facility_snapshot(facility),
        software=pinned(software_snapshot(software), pin),
        data=[checkout.item_snapshot(item) for item in items],
        options=options,
        phases=[{"phase": Phase.QUEUED.value, "at": now().isoformat(), "message": "Waiting for a worker"}],
        cluster=cluster_plan,
        cluster_state=cluster_state,
    )
    session().add(launch)
    session().commit()
    try:
        job = current_app.extensions["esap.queue"].enqueue(
            run,
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
        if not (isinstance(url, str) and url.lower().startswith(("http://", "https://"))):
            self.failed(f"The facility said the session is ready at {str(url)[:200]!r}, which is not a web address.")
            return
        self._end(Status.READY, Phase.READY, message or "Ready", url=url)

    def failed(self, message: str, detail: str = "") -> None:
        self._end(Status.FAILED, Phase.FAILED, message, detail=detail)

    def _end(self, status: str, phase: Phase, message: str, url: str = "", detail: str = "") -> None:
        with self._lock:
            if self.ended:
                return
            self.ended = True
            launch = self.launch
            launch.status, launch.phase, launch.url, launch.message = status, phase.value, url, str(message)[:4000]
            last = {"phase": phase.value, "at": now().isoformat(), "message": str(message)[:1000]}
            launch.phases = [*launch.phases, {**last, "detail": str(detail)[:2000]} if detail else last]
            launch.finished = now()
            launch.progress = None
            self._save(force=True)


def run(launch_id: str, api_url: str) -> str:
    """The job: run the facility type's launch and make sure the launch ends."""
    launch = session().get(Launch, launch_id)
    if launch is None or launch.status in FINISHED:
        return "gone"
    report = Report(launch)
    launch.status, launch.started = Status.RUNNING, now()
    report.phase(Phase.WAITING, "A worker took the launch")
    beating = _heartbeat(launch_id)
    try:
        facility, kind = facility_and_type(launch)
        if not isinstance(kind, SessionFacility):
            raise FacilityError("The facility or its type is gone; it cannot launch anything now.")
        user = session().get(User, launch.user_id)
        _stage(launch, facility, user, report)
        request = clusters.start(launch, _request(launch, user, api_url), report)
        end_transaction()
        kind.launch(facilities.for_plugin(facility), request, report)
        if not report.ended:
            raise FacilityError(f"{facility.title} ended the launch without saying it was ready.")
    except FacilityBusy as error:  # the facility refuses everyone for a while: say so on its page too
        facilities.note_busy(facility, str(error), error.retry_after)
        report.failed(str(error), detail_of(error))
    except (FacilityError, CredentialsExpired, StagingRefused) as error:
        report.failed(str(error), detail_of(error))
    except Exception as error:  # a plugin's bug must still end the launch, with a message we can show
        log.exception("launch %s failed unexpectedly", launch_id)
        report.failed(
            f"The launch failed unexpectedly ({type(error).__name__}). The facility's plugin may have "
            "a problem; the administrators have the details."
        )
    finally:
        beating.set()
    clusters.after_launch(launch)
    return launch.status


class StagingRefused(Exception):
    """An archive refused to stage the launch's data at the facility's storage."""


def _stage(launch: Launch, facility: RegisteredFacility, user: User, report: Report) -> None:
    """Before launching, ask archives that can (Rucio) to put the launch's items at the facility's storage."""
    storage = facility.rucio_rse
    archives = current_app.extensions["esap.plugins"].archives
    stageable = {name: archive for name, archive in archives.items() if isinstance(archive, StagingArchive)}
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
        wanted = [data_item(item) for item in items]
        try:
            # Wait at most staging_timeout for the data at the facility, then go on with a note.
            timeout = current_app.extensions["esap.config"].staging_timeout
            result = archive.stage(wanted, storage, accounts.user_context(user), timeout)
        except ArchiveError as error:
            raise StagingRefused(f"{archive.label} refused to stage the data at {storage}: {error}") from None
        note = {"ready": "in place", "pending": "not in place yet: the session starts, the data follows"}.get(
            result.state, result.state
        )
        report.phase(Phase.STAGING_DATA, f"{archive.label}: {note}. {result.message}".strip())
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
                    update(Launch)
                    .where(Launch.id == launch_id, Launch.status == Status.RUNNING)
                    .values(heartbeat=now())
                )
                db.commit()

    threading.Thread(target=beat, daemon=True, name=f"heartbeat-{launch_id}").start()
    return stop


def _request(launch: Launch, user: User, api_url: str) -> LaunchRequest:
    snapshot = launch.software

    def staging_files() -> dict[str, str]:
        token = tokens.mint_session_token(user, launch.id)
        return staging.files(launch.id, snapshot, launch.data, api_url, token)

    return LaunchRequest(
        launch_id=launch.id,
        software=software_record(snapshot),
        data=tuple(data_item(item) for item in launch.data),
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
    facility, kind = facility_and_type(launch)
    session_stops = _session_stoppable(facility, kind)
    if not session_stops and not clusters.active(launch):
        raise LaunchProblem("This facility cannot stop sessions from ESAP; they end on their own.")
    user = session().get(User, launch.user_id)
    if session_stops:
        try:
            kind.stop(
                facilities.for_plugin(facility), launch.id, accounts.user_context(user), details=dict(launch.details)
            )
        except FacilityError as error:
            raise LaunchProblem(str(error)) from None
    message = _stopped_message(clusters.stop(launch), session_stopped=session_stops)
    launch.status = Status.STOPPED
    launch.phases = [*launch.phases, {"phase": Status.STOPPED.value, "at": now().isoformat(), "message": message}]
    launch.finished = launch.finished or now()
    session().commit()


def facility_and_type(launch: Launch) -> tuple[RegisteredFacility | None, FacilityType | None]:
    """The launch's facility and its type, as they are now (either may be gone)."""
    facility = session().get(RegisteredFacility, launch.facility_id) if launch.facility_id else None
    return facility, facilities.type_of(facility) if facility else None


def _stopped_message(cluster_problem: str, session_stopped: bool) -> str:
    if cluster_problem:
        return f"Stopped; its cluster could not be stopped yet ({cluster_problem}), ESAP keeps trying"
    return "Stopped" if session_stopped else "Stopped its cluster; the session ends on its own"


def _session_stoppable(facility: RegisteredFacility | None, kind: FacilityType | None) -> bool:
    """Whether the facility's type can stop sessions and this facility's settings let it (``can_stop``)."""
    if not isinstance(kind, StopsSessions):
        return False
    try:
        return bool(kind.can_stop(facilities.for_plugin(facility)))
    except Exception:  # a plugin's broken settings must not break the launch page
        log.warning("can_stop of facility %s failed", facility.name, exc_info=True)
        return False


def can_stop(launch: Launch) -> bool:
    return bool(stop_label(launch))


def stop_label(launch: Launch) -> str:
    """What the launch page's stop button says: what ESAP can stop of a ready launch ("" for nothing)."""
    if launch.status != Status.READY:
        return ""
    session_stops = _session_stoppable(*facility_and_type(launch))
    cluster_beside = clusters.active(launch) and launch.cluster.get("beside")
    if session_stops:
        return "Stop the session and its cluster" if cluster_beside else "Stop the session"
    if clusters.active(launch):
        return "Stop its cluster (the session ends on its own)" if cluster_beside else "Stop the cluster"
    return ""


def reap(dead_after: timedelta = DEAD_AFTER) -> int:
    """Fail launches whose job is gone: a killed worker, a job timeout, Redis losing the queue."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    connection = current_app.extensions["esap.queue"].connection()
    cutoff = datetime.now(UTC) - dead_after
    reaped = 0
    for launch in session().scalars(select(Launch).where(Launch.status.in_(ACTIVE))):
        last_sign = launch.heartbeat or launch.created
        if last_sign > cutoff:
            continue
        try:
            state = Job.fetch(launch.job_id, connection=connection).get_status() if launch.job_id else None
        except NoSuchJobError:
            state = None
        if state in ("queued", "deferred", "scheduled") or (state == "started" and launch.status == Status.QUEUED):
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
