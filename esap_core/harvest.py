"""Harvesting: a software source's records into the catalogue, incrementally, with live progress and a kept outcome.

A harvest asks the source for what changed since the start of its last successful harvest (all of it
with ``full``), stores each record unless its fingerprint is unchanged, counts what happened, and
keeps the outcome in ``plugin_state`` (plugin ``esap.harvest``, key: the source). A full harvest that
ends well removes the source's records it no longer lists. Progress goes to Redis while it runs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from esap_core import catalogue
from esap_core.db import end_transaction, session
from esap_core.hookspecs import HarvestError, HarvestProblem, SoftwareRecord, SoftwareSource
from esap_core.models import PluginState, now

log = logging.getLogger(__name__)

STATE_PLUGIN = "esap.harvest"
PROGRESS_TTL = 24 * 3600  # seconds a finished harvest's progress stays readable
PROGRESS_EVERY = 10  # records between two progress reports
MAX_PROBLEMS_KEPT = 50
DEFAULT_EVERY_HOURS = 24
RUNNING = ("queued", "running")
JOB_TIMEOUT = 6 * 3600


class HarvestUnavailable(Exception):
    """No such source, or a harvest of it is under way already."""


@dataclass
class Outcome:
    """What one harvest did. ``failed`` counts records with a problem, also those kept despite it."""

    source: str
    started: str
    full: bool = False
    since: str | None = None
    status: str = "running"  # running, ok, failed
    seen: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    removed: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""  # why it stopped, in plain words
    detail: str = ""  # the technical side of that, shown behind a disclosure
    finished: str | None = None

    def problem(self, external_id: str, reason: str, kept: bool) -> None:
        self.failed += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append({"external_id": str(external_id)[:255], "reason": str(reason)[:500], "kept": kept})

    def summary(self) -> str:
        text = (
            f"{self.seen} seen, {self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.failed} failed, {self.removed} removed"
        )
        return f"{text}; stopped: {self.error}" if self.error else text


def sources() -> dict[str, SoftwareSource]:
    return current_app.extensions["esap.plugins"].software_sources


def _source(name: str) -> SoftwareSource:
    try:
        return sources()[name]
    except KeyError:
        known = ", ".join(sources()) or "none"
        raise HarvestUnavailable(f"There is no software source {name!r} (known: {known}).") from None


# --- running one harvest ------------------------------------------------------------------


def run(name: str, full: bool = False, report: Callable[[Outcome], None] | None = None) -> Outcome:
    """Harvest the source ``name`` into the catalogue now, in this process; returns the outcome."""
    source = _source(name)
    state = last(name)
    since = None if full or not state.get("last_success") else datetime.fromisoformat(state["last_success"])
    outcome = Outcome(source=name, started=now().isoformat(), full=since is None, since=_iso(since))
    report = report or (lambda _outcome: None)
    report(outcome)
    listed: set[str] = set()
    try:
        end_transaction()
        for item in source.harvest(since):
            _take(name, item, outcome, listed)
            end_transaction()  # the source fetches the next record meanwhile
            if (outcome.seen + outcome.failed) % PROGRESS_EVERY == 0:
                report(outcome)
    except HarvestError as error:
        outcome.status, outcome.error = "failed", str(error)[:2000] or "the source gave no reason"
        outcome.detail = error.detail[:2000]
    except Exception as error:  # a source's own bug: said plainly, named in the detail, and the harvest ends cleanly
        log.exception("harvest of %s failed", name)
        outcome.status, outcome.error = "failed", "the source failed unexpectedly: its plugin may have a problem"
        outcome.detail = f"{type(error).__name__}: {error}"[:2000]
    else:
        outcome.status = "ok"
        if since is None:
            outcome.removed = catalogue.remove_missing(name, listed)
    if outcome.new or outcome.updated or outcome.removed:
        catalogue.analyse()
    outcome.finished = now().isoformat()
    _keep(name, outcome, state)
    report(outcome)
    log.info("harvest of %s: %s", name, outcome.summary())
    return outcome


def _take(name: str, item: Any, outcome: Outcome, listed: set[str]) -> None:
    if isinstance(item, HarvestProblem):
        outcome.problem(item.external_id, item.reason, item.kept)
        if not item.kept:
            outcome.seen += 1
            listed.add(catalogue.external_id(item.external_id))  # unread this time, not gone: kept
        return
    outcome.seen += 1
    external_id = catalogue.external_id(getattr(item, "external_id", "")) or "?"
    if isinstance(item, SoftwareRecord):
        listed.add(external_id)
    try:
        result = catalogue.upsert(name, item)
    except catalogue.CatalogueError as error:
        outcome.problem(external_id, str(error), kept=False)
        return
    except SQLAlchemyError as error:
        session().rollback()
        log.warning("harvest of %s: record %s not stored: %s", name, external_id, error)
        outcome.problem(external_id, "the database refused it", kept=False)
        return
    setattr(outcome, result, getattr(outcome, result) + 1)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _keep(name: str, outcome: Outcome, state: dict[str, Any]) -> None:
    value = {**state, "last": asdict(outcome)}
    if outcome.status == "ok":
        value["last_success"] = outcome.started
    _put(name, value)


def _put(key: str, value: dict[str, Any]) -> None:
    db = session()
    row = db.get(PluginState, (STATE_PLUGIN, key))
    if row is None:
        db.add(PluginState(plugin=STATE_PLUGIN, key=key, value=value))
    else:
        row.value = value
    db.commit()


def last(name: str) -> dict[str, Any]:
    """The kept state of a source: ``last`` (the last outcome), ``last_success``, ``every_hours``."""
    row = session().get(PluginState, (STATE_PLUGIN, name))
    return dict(row.value) if row is not None and isinstance(row.value, dict) else {}


def states() -> dict[str, dict[str, Any]]:
    rows = session().scalars(select(PluginState).where(PluginState.plugin == STATE_PLUGIN))
    return {row.key: dict(row.value) for row in rows if isinstance(row.value, dict)}


# --- the schedule ---------------------------------------------------------------------------


def every_hours(name: str, state: dict[str, Any] | None = None) -> float:
    state = last(name) if state is None else state
    return float(state.get("every_hours", DEFAULT_EVERY_HOURS))


def set_schedule(name: str, hours: float) -> None:
    """Harvest ``name`` every ``hours`` (0: only when asked)."""
    _source(name)
    if not 0 <= hours <= 24 * 365:
        raise ValueError("Give the interval in hours, from 0 (never by itself) to 8760.")
    _put(name, {**last(name), "every_hours": hours})


def due(at: datetime | None = None) -> list[str]:
    """The sources whose scheduled harvest is due (never harvested, or the interval has passed)."""
    at = at or datetime.now(UTC)
    found = []
    for name in sources():
        state = last(name)
        hours = every_hours(name, state)
        started = (state.get("last") or {}).get("started")
        if hours > 0 and (not started or datetime.fromisoformat(started) + timedelta(hours=hours) <= at):
            found.append(name)
    return found


# --- as a job, with progress in Redis --------------------------------------------------------


def _progress_key(name: str) -> str:
    return f"esap:harvest:{name}"


def _redis():
    return current_app.extensions["esap.queue"].connection()


def progress(name: str) -> dict[str, Any] | None:
    """The running (or last finished) harvest's counts as the job last reported them; None if unknown."""
    try:
        raw = _redis().get(_progress_key(name))
    except (RedisError, OSError):
        return None
    return json.loads(raw) if raw else None


def _publish(outcome: Outcome) -> None:
    try:
        _redis().set(_progress_key(outcome.source), json.dumps(asdict(outcome)), ex=PROGRESS_TTL)
    except (RedisError, OSError) as error:  # progress is a nicety: the harvest goes on
        log.warning("harvest progress of %s not published: %s", outcome.source, error)


def start(name: str, full: bool = False) -> str:
    """Enqueue a harvest of ``name``; returns the job id. Raises :class:`HarvestUnavailable` if one is under way."""
    _source(name)
    current = progress(name)
    if current and current.get("status") in RUNNING and not _stale(current):
        raise HarvestUnavailable(f"A harvest of {name} is under way already.")
    _publish(Outcome(source=name, started=now().isoformat(), full=full, status="queued"))
    try:
        queued = current_app.extensions["esap.queue"].enqueue(job, name, full, job_timeout=JOB_TIMEOUT)
    except Exception:
        _redis().delete(_progress_key(name))
        raise
    return queued.id


def _stale(reported: dict[str, Any]) -> bool:
    """A harvest reported running for longer than a job may run died with its worker."""
    started = datetime.fromisoformat(reported["started"])
    return started + timedelta(seconds=JOB_TIMEOUT) < datetime.now(UTC)


def job(name: str, full: bool = False) -> dict[str, Any]:
    """The RQ job: harvest with progress published to Redis."""
    return asdict(run(name, full, report=_publish))


def enqueue_due() -> list[str]:
    """Enqueue a harvest of each source that is due and not under way (for a periodic tick)."""
    started = []
    for name in due():
        try:
            start(name)
        except HarvestUnavailable:
            continue
        started.append(name)
    return started
