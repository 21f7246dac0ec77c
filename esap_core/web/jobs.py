"""The job pages: submit from the checkout, the jobs list, a job that follows itself, its results into the basket."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, redirect, request, url_for

from esap_core import catalogue, facilities, jobs, launches
from esap_core.auth import current_user, login_required
from esap_core.db import database_id, database_ids
from esap_core.hookspecs import FacilityError, JobFacility, JobPhase
from esap_core.models import RegisteredFacility
from esap_core.queue import QueueUnavailable
from esap_core.security import external_url
from esap_core.web.rendering import render

blueprint = Blueprint("jobs", __name__)
PHASES = [phase.value for phase in JobPhase]


def checkout(facility: RegisteredFacility) -> dict[str, Any]:
    """What the checkout page needs to offer "Run as a job" on ``facility``: {} when its type runs no jobs."""
    kind = facilities.type_of(facility)
    if not isinstance(kind, JobFacility):
        return {}
    try:
        fields, problem = tuple(kind.job_fields(facilities.for_plugin(facility), jobs.FACILITY_TIMEOUT)), ""
    except FacilityError as error:
        fields, problem = (), f"{facility.title} cannot say which parameters its jobs take: {error}"
    return {"runs_jobs": True, "job_fields": fields, "job_fields_problem": problem}


def _parameters(form) -> dict[str, Any]:
    """The facility's declared fields (``param-<name>``), or the software's own as ``name = value`` lines.

    A value that reads as a JSON number or true/false is one; anything else is text.
    """
    declared = {key.removeprefix("param-"): value for key, value in form.items() if key.startswith("param-")}
    lines = [line for line in form.get("parameters", "").splitlines() if line.strip()]
    for line in lines:
        name, equals, value = line.partition("=")
        if not equals:
            abort(400, f"Write each parameter as name = value; {line.strip()[:80]!r} has no '='.")
        value = value.strip()
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        declared[name.strip()] = parsed if isinstance(parsed, int | float | bool) else value
    return declared


@blueprint.post("/jobs")
@login_required
def create():
    form = request.form
    options = {key.removeprefix("option-"): value for key, value in form.items() if key.startswith("option-")}
    software_id = form.get("software_id", type=database_id)
    # "Run again with other parameters" of a job whose commit was recorded runs at that commit too.
    pin = launches.pin_of(_own_job_or_404(form["again_of"]), "job") if form.get("again_of") else None
    try:
        job = jobs.submit(
            current_user(),
            software_id,
            form.get("facility", ""),
            database_ids(form.getlist("items")),
            _parameters(form),
            form.get("command", ""),
            form.get("notebook", ""),
            options,
            external_url("pages.home"),
            pin=pin,
        )
    except jobs.JobProblem as error:
        abort(400, str(error))
    return redirect(url_for("jobs.show", job_id=job.id))


@blueprint.get("/jobs")
@login_required
def index():
    user = current_user()
    phase, facility = request.args.get("phase", ""), request.args.get("facility", "")
    software = request.args.get("software", "")[:500]
    if phase and phase not in PHASES:
        abort(400, f"There is no phase {phase[:40]!r}; choose one of {', '.join(PHASES)}.")
    listed = jobs.history(user, phase, facility, software=software)
    every = jobs.history(user)
    return render(
        "jobs.html",
        jobs=listed,
        phase=phase,
        facility=facility,
        software=software,
        phases=PHASES,
        facility_names=sorted({job.facility.get("name", "") for job in every}),
        software_names=sorted({job.software.get("name", "") for job in every}),
    )


def _own_job_or_404(job_id: str):
    return jobs.visible(current_user(), job_id) or abort(404, "You have no job with that id.")


def _context(job) -> dict[str, Any]:
    user = current_user()
    return {
        "job": job,
        "elapsed": jobs.elapsed(job),
        "can_cancel": jobs.can_cancel(job),
        "held": jobs.is_held(job),
        "in_basket": {result["name"] for result in job.results if jobs.in_basket(user, job, result["name"])},
    }


@blueprint.get("/jobs/<job_id>")
@login_required
def show(job_id: str):
    job = _own_job_or_404(job_id)
    if jobs.is_query(job):  # an archive's query: its own page follows it and shows its table
        return redirect(job.details.get("page") or url_for("jobs.index"))
    return render("job.html", **_context(job), again=_again(job))


def _again(job) -> dict[str, Any]:
    """What "run again" starts from: the same choices, the items still in the basket, the recorded commit (``pin``).

    ``latest`` is the ref the software record has now, what "Run again with the latest" runs.
    """
    from esap_core import basket

    in_basket = {item.id for item in basket.all_items(current_user())}
    items = [item["id"] for item in job.data if item.get("id") in in_basket]
    lines = "\n".join(f"{name} = {jobs.parameter_text(value)}" for name, value in job.parameters.items())
    software = catalogue.get(current_user(), job.software_id) if job.software_id is not None else None
    return {
        "item_ids": items,
        "missing": len(job.data) - len(items),
        "parameters": lines,
        "pin": launches.pin_of(job, "job") if job.software_id is not None else None,
        "latest": software.ref if software else "",
    }


@blueprint.get("/jobs/<job_id>/status")
@login_required
def status(job_id: str):
    return render("_job_status.html", oob=True, **_context(_own_job_or_404(job_id)))


@blueprint.post("/jobs/<job_id>/cancel")
@login_required
def cancel(job_id: str):
    job = _own_job_or_404(job_id)
    try:
        jobs.cancel(job)
    except jobs.NotCancellable as error:
        abort(409, str(error))
    return redirect(url_for("jobs.show", job_id=job.id))


@blueprint.post("/jobs/<job_id>/run")
@login_required
def run(job_id: str):
    """Run a job made to wait (through UWS, say)."""
    job = _own_job_or_404(job_id)
    try:
        jobs.start(job, external_url("pages.home"))
    except QueueUnavailable as error:
        abort(503, str(error))
    return redirect(url_for("jobs.show", job_id=job.id))


@blueprint.post("/jobs/<job_id>/delete")
@login_required
def delete(job_id: str):
    """Remove the job from the list, cancelling it first while it may still run."""
    job = _own_job_or_404(job_id)
    try:
        jobs.delete(job)
    except jobs.NotCancellable as error:
        abort(409, f"{error} The job is kept.")
    return redirect(url_for("jobs.index"))


@blueprint.post("/jobs/<job_id>/basket")
@login_required
def add_to_basket(job_id: str):
    job = _own_job_or_404(job_id)
    try:
        jobs.add_result_to_basket(current_user(), job, request.form.get("name", ""), external_url("pages.home"))
    except jobs.JobProblem as error:
        abort(404, str(error))
    return redirect(url_for("jobs.show", job_id=job.id) + "#results")


@blueprint.post("/jobs/<job_id>/again")
@login_required
def again(job_id: str):
    """Submit the same software to the same facility with the same parameters and data (those still in the basket).

    It runs at the commit the facility recorded, when it recorded one; with ``latest`` set, at
    the ref the software record has now (a branch).
    """
    job = _own_job_or_404(job_id)
    if job.facility_id is None or (job.software.get("source") != "facility" and job.software_id is None):
        abort(409, "The software or the facility of that job is gone.")
    choices = _again(job)
    try:
        new = jobs.submit(
            current_user(),
            job.software_id,
            job.facility["name"],
            choices["item_ids"],
            dict(job.parameters),
            job.command,
            job.notebook,
            dict(job.options),
            external_url("pages.home"),
            pin=None if request.form.get("latest") else choices["pin"],
        )
    except jobs.JobProblem as error:
        abort(400, str(error))
    return redirect(url_for("jobs.show", job_id=new.id))
