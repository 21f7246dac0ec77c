"""Periodic upkeep, run as a self-rescheduling job: reap dead launches, check facilities, start due harvests."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select

from esap_core import facilities, harvest, launches
from esap_core.accounts import session
from esap_core.models import Facility

log = logging.getLogger(__name__)
TICK_SECONDS = 30
LOCK = "esap:schedule:tick"  # exists while a tick is scheduled: one chain of ticks across all workers


def tick() -> dict[str, int]:
    """One round of upkeep; schedules the next round."""
    reaped = launches.reap()
    checked = check_due_facilities()
    harvests = harvest.enqueue_due()
    schedule_next()
    return {"reaped": reaped, "checked": checked, "harvests": len(harvests)}


def check_due_facilities() -> int:
    interval = timedelta(seconds=current_app.extensions["esap.config"].check_interval)
    due = select(Facility).where(
        Facility.enabled, or_(Facility.checked.is_(None), Facility.checked < datetime.now(UTC) - interval)
    )
    rows = list(session().scalars(due))
    for facility in rows:
        facilities.check(facility)
    return len(rows)


def schedule_next() -> None:
    jobs = current_app.extensions["esap.jobs"]
    jobs.connection().set(LOCK, "1", ex=TICK_SECONDS * 4)
    jobs.enqueue_in(timedelta(seconds=TICK_SECONDS), "esap_core.schedule.tick")


def ensure_started() -> None:
    """Start the chain of ticks unless one is already scheduled (called by every worker at start)."""
    jobs = current_app.extensions["esap.jobs"]
    if jobs.connection().set(LOCK, "1", ex=TICK_SECONDS * 4, nx=True):
        jobs.enqueue("esap_core.schedule.tick")
