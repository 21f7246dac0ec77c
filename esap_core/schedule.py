"""Periodic upkeep, run as a self-rescheduling job: reap dead launches, their clusters and lost jobs; check; harvest."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select

from esap_core import clusters, facilities, harvest, jobs, launches
from esap_core.db import session
from esap_core.models import RegisteredFacility

log = logging.getLogger(__name__)
TICK_SECONDS = 30
LOCK = "esap:schedule:tick"  # exists while a tick is scheduled: one chain of ticks across all workers


def tick() -> dict[str, int]:
    """One round of upkeep; schedules the next round."""
    reaped = launches.reap()
    clusters_stopped = clusters.reap()  # after launches.reap: a launch it failed just now gives its cluster back
    jobs_reaped = jobs.reap()
    checked = check_due_facilities()
    harvests = harvest.enqueue_due()
    schedule_next()
    return {
        "reaped": reaped,
        "clusters": clusters_stopped,
        "jobs": jobs_reaped,
        "checked": checked,
        "harvests": len(harvests),
    }


def check_due_facilities() -> int:
    interval = timedelta(seconds=current_app.extensions["esap.config"].check_interval)
    due = select(RegisteredFacility).where(
        RegisteredFacility.enabled,
        or_(RegisteredFacility.checked.is_(None), RegisteredFacility.checked < datetime.now(UTC) - interval),
    )
    rows = list(session().scalars(due))
    for facility in rows:
        facilities.check(facility)
    return len(rows)


def schedule_next() -> None:
    jobs = current_app.extensions["esap.queue"]
    jobs.connection().set(LOCK, "1", ex=TICK_SECONDS * 4)
    jobs.enqueue_in(timedelta(seconds=TICK_SECONDS), tick)


def ensure_started() -> None:
    """Start the chain of ticks unless one is already scheduled (called by every worker at start)."""
    jobs = current_app.extensions["esap.queue"]
    if jobs.connection().set(LOCK, "1", ex=TICK_SECONDS * 4, nx=True):
        jobs.enqueue(tick)
