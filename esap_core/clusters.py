"""Clusters of launches: one chosen at checkout beside a notebook session, started before it and stopped with it.

A launch on a :class:`~esap_core.hookspecs.ClusterFacility` that is itself a session facility
(a cluster on its own) is tracked here too, so both kinds are stopped the same way: when
the user stops the launch, when the launch fails, and by :func:`reap` when a launch ended
without its cluster being stopped (its worker died). Only the contract is used:
``start_cluster`` and ``stop_cluster``. A cluster's credentials are never kept: they go
from the facility type straight into the session's settings file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from esap_core import accounts, facilities, staging
from esap_core.db import end_transaction, session
from esap_core.hookspecs import (
    ClusterFacility,
    FacilityError,
    InvalidValues,
    LaunchReport,
    LaunchRequest,
    Phase,
    QueryField,
    SessionFacility,
    UIType,
    check_values,
)
from esap_core.models import Launch, RegisteredFacility, Software, User

log = logging.getLogger(__name__)
ACTIVE = ("starting", "running")  # states in which a cluster may exist at its facility
REAP_PER_TICK = 20  # clusters the upkeep tries to stop per round: a slow facility must not hold it up


class ClusterProblem(ValueError):
    """A cluster that cannot be added to a launch as asked; the message says why."""


def choices(user: User) -> list[RegisteredFacility]:
    """The facilities the user may start a cluster on (public ones and their own)."""
    found = facilities.visible(user)
    return [facility for facility in found if isinstance(facilities.type_of(facility), ClusterFacility)]


def offered(software: Software, facility: RegisteredFacility) -> bool:
    """Whether a cluster may go beside this launch: notebook software on a session facility that is not one."""
    kind = facilities.type_of(facility)
    return (
        software.ui_type == UIType.NOTEBOOK
        and isinstance(kind, SessionFacility)
        and not isinstance(kind, ClusterFacility)
    )


def checkout(user: User, software: Software, facility: RegisteredFacility, chosen: str) -> dict[str, Any]:
    """What the checkout page shows about a cluster beside the session: the choices, and the chosen one's fields."""
    if not offered(software, facility):
        return {}
    found = choices(user)
    cluster = next((choice for choice in found if choice.name == chosen), None)
    fields, problem = facilities.checkout_options(cluster) if cluster else ((), "")
    return {"cluster_choices": found, "cluster": cluster, "cluster_fields": fields, "cluster_problem": problem}


def plan(
    user: User, software: Software, facility: RegisteredFacility, choice: Mapping[str, Any] | None
) -> tuple[dict[str, Any], str]:
    """The new launch's ``cluster`` and ``cluster_state``: its own facility's, or the checked choice beside it.

    ``choice`` is ``{"facility": name, "options": {...}}`` from the checkout page or the API;
    raises :class:`ClusterProblem` when it cannot be granted, before anything is created.
    """
    if isinstance(facilities.type_of(facility), ClusterFacility):
        if choice:
            raise ClusterProblem(f"{facility.title} starts a cluster itself; add no other cluster to it.")
        return {"facility": _snapshot(facility), "beside": False}, "starting"
    if not choice:
        return {}, ""
    if not offered(software, facility):
        raise ClusterProblem(f"A cluster can go beside notebook sessions only, not beside {facility.title}.")
    name = str(choice.get("facility") or "")
    chosen = facilities.get_visible(user, name)
    if chosen is None or not isinstance(facilities.type_of(chosen), ClusterFacility):
        raise ClusterProblem(f"There is no cluster facility named {name!r} that you can use.")
    fields, problem = facilities.checkout_options(chosen)
    if problem:
        raise ClusterProblem(f"{chosen.title} cannot take a cluster now: {problem}")
    return {
        "facility": _snapshot(chosen),
        "options": checked_options(fields, choice.get("options") or {}, chosen.title),
        "beside": True,
    }, "starting"


def checked_options(fields: tuple[QueryField, ...], given: Mapping[str, Any], title: str) -> dict[str, Any]:
    """The cluster's options through the one field check; :class:`ClusterProblem` saying what is wrong."""
    if not isinstance(given, Mapping):
        raise ClusterProblem("The cluster's options must be a mapping of names to values.")
    try:
        return check_values(fields, given)
    except InvalidValues as error:
        raise ClusterProblem(f"The cluster on {title}: {'; '.join(error.problems.values())}.") from None


def choice_of(launch: Launch) -> dict[str, Any] | None:
    """The cluster choice of a launch beside a session, to launch the same again."""
    if not launch.cluster.get("beside"):
        return None
    return {"facility": launch.cluster["facility"]["name"], "options": dict(launch.cluster.get("options") or {})}


def start(launch: Launch, request: LaunchRequest, report: LaunchReport) -> LaunchRequest:
    """Start the cluster chosen beside the session, if any; return the session's request that knows it.

    The cluster's phases go to the launch's own report; its credentials go only into the
    settings file of the staging notebook. Raises :class:`FacilityError` when it cannot start.
    """
    if launch.cluster_state != "starting" or not launch.cluster.get("beside"):
        return request
    facility, kind = _facility_and_type(launch)
    if kind is None:
        raise FacilityError("The facility chosen for the cluster, or its type, is gone; it cannot start one now.")
    for_plugin = facilities.for_plugin(facility)
    end_transaction()
    cluster = kind.start_cluster(
        for_plugin, replace(request, options=dict(launch.cluster.get("options") or {})), _ClusterReport(launch, report)
    )
    described = {"name": cluster.name, "dashboard": cluster.dashboard, "connection": dict(cluster.connection)}
    launch.cluster = {**launch.cluster, **described}
    launch.cluster_state = "running"
    report.phase(Phase.LAUNCHING, f"Cluster {cluster.name} is ready; starting the session beside it", 100)
    files = request.staging_notebook
    return replace(request, cluster=described, staging_notebook=lambda: staging.with_cluster(files(), cluster))


def after_launch(launch: Launch) -> None:
    """Once the launch's job ends: stop the cluster of a launch that failed; note a cluster on its own as running."""
    if launch.cluster_state not in ACTIVE:
        return
    if launch.status == "failed":
        stop(launch)
    elif launch.status == "ready" and not launch.cluster.get("beside"):
        launch.cluster = {**launch.cluster, "name": name_of(launch), "dashboard": launch.url}
        launch.cluster_state = "running"
        session().commit()


def active(launch: Launch) -> bool:
    return launch.cluster_state in ACTIVE


def name_of(launch: Launch) -> str:
    """The cluster's name: as the cluster facility reported it (``cluster=``) the moment it had one."""
    if launch.cluster.get("name"):
        return str(launch.cluster["name"])
    return "" if launch.cluster.get("beside") else str(launch.details.get("cluster") or "")


def stop(launch: Launch) -> str:
    """Stop the launch's cluster; "" when it is stopped (or never started), else why it could not be (yet)."""
    if launch.cluster_state not in ACTIVE:
        return ""
    name = name_of(launch)
    facility, kind = _facility_and_type(launch)
    if not name or kind is None:
        # Nothing was named, or nothing is left to ask: no call can stop it now.
        launch.cluster_state = "stopped" if not name else "lost"
        session().commit()
        return "" if not name else "its facility or the facility's type is gone"
    user = session().get(User, launch.user_id)
    for_plugin = facilities.for_plugin(facility)
    end_transaction()
    try:
        kind.stop_cluster(for_plugin, name, accounts.user_context(user))
    except FacilityError as error:
        log.info("could not stop cluster %s of launch %s: %s", name, launch.id, error)
        return str(error)
    launch.cluster_state = "stopped"
    session().commit()
    return ""


def reap() -> int:
    """Stop clusters whose launch ended (failed or stopped) without them being stopped; return how many."""
    query = (
        select(Launch)
        .where(Launch.cluster_state.in_(ACTIVE), Launch.status.in_(("failed", "stopped")))
        .order_by(Launch.finished)
        .limit(REAP_PER_TICK)
    )
    return sum(1 for launch in list(session().scalars(query)) if not stop(launch) and launch.cluster_state == "stopped")


def _facility_and_type(launch: Launch) -> tuple[RegisteredFacility | None, ClusterFacility | None]:
    snapshot = launch.cluster.get("facility") or {}
    facility = session().get(RegisteredFacility, snapshot.get("id")) if snapshot.get("id") else None
    kind = facilities.type_of(facility) if facility else None
    return facility, kind if isinstance(kind, ClusterFacility) else None


def _snapshot(facility: RegisteredFacility) -> dict[str, Any]:
    keys = ("id", "name", "kind", "title", "url")
    return {key: getattr(facility, key) for key in keys}


class _ClusterReport:
    """The launch's report as a cluster facility sees it: phases and log pass; its facts are the cluster's own."""

    def __init__(self, launch: Launch, report: LaunchReport):
        self.launch, self.report = launch, report

    def phase(self, phase: Phase, message: str = "", progress: float | None = None) -> None:
        self.report.phase(phase, message, progress)

    def log(self, line: str) -> None:
        self.report.log(line)

    def detail(self, **facts: Any) -> None:
        # Kept on the cluster, not among the session's details (the session's facility may say cluster= too).
        details = {**self.launch.cluster.get("details", {}), **{key: str(value)[:1000] for key, value in facts.items()}}
        named = {"name": details["cluster"]} if "cluster" in details else {}
        self.launch.cluster = {**self.launch.cluster, "details": details, **named}
        self.report.detail()  # saves the launch now: the name must survive a worker that dies next

    def ready(self, url: str, message: str = "") -> None:
        self.report.log(f"the cluster facility said it was ready ({message or url}); the session comes next")

    def failed(self, message: str, detail: str = "") -> None:
        raise FacilityError(message, detail)
