"""The launch pages: checkout (software, facility, data), a launch followed live, and the history."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request, url_for
from sqlalchemy import select

from esap_core import basket, catalogue, clusters, facilities, launches, suggestions
from esap_core.auth import current_user, login_required
from esap_core.db import database_id, database_ids, session
from esap_core.hookspecs import SessionFacility
from esap_core.models import Software
from esap_core.security import external_url
from esap_core.web import jobs as jobs_pages
from esap_core.web.rendering import render

blueprint = Blueprint("launches", __name__)


def _software_choices(user) -> list[tuple[Software, str]]:
    """(software, why it is offered): the basket's software, what fits its data, then the catalogue (a short list)."""
    items = basket.all_items(user)
    in_basket = [(item.software, "in your basket") for item in items if item.kind == basket.SOFTWARE and item.software]
    fitting = [(s.software, "; ".join(s.reasons)) for s in suggestions.for_basket(user, items)]
    query = (
        select(Software)
        .where(catalogue.visible(user))
        .order_by(Software.source != "blank-notebook", Software.name)
        .limit(20)
    )
    seen, choices = set(), []
    for software, why in [*in_basket, *fitting, *((software, "") for software in session().scalars(query))]:
        if software.id not in seen:
            seen.add(software.id)
            choices.append((software, why))
    return choices


@blueprint.get("/launches/new")
@login_required
def checkout():
    user = current_user()
    software = _chosen_software(user, request.args.get("software"))
    context = {"software": software, "software_choices": _software_choices(user) if software is None else []}
    if software is not None:
        context["facility_choices"] = facilities.visible(user, software.ui_type, request.args.get("q", ""))
        facility = facilities.get_visible(user, request.args.get("facility", ""))
        if facility is not None and facilities.accepts(facility, software.ui_type):
            options, options_problem = facilities.checkout_options(facility)
            context.update(
                facility=facility,
                options=options,
                options_problem=options_problem,
                items=[item for item in basket.all_items(user) if item.kind == basket.DATA],
                **jobs_pages.checkout(facility),
            )
            # A facility that only runs jobs offers no session: its page is the job form alone.
            context["job_only"] = context.get("runs_jobs") and not isinstance(
                facilities.type_of(facility), SessionFacility
            )
            if not context["job_only"]:
                context.update(clusters.checkout(user, software, facility, request.args.get("cluster", "")))
    return render("checkout.html", q=request.args.get("q", ""), **context)


def _chosen_software(user, chosen: str | None) -> Software | None:
    if chosen is None:
        return None
    try:
        software = catalogue.get(user, database_id(chosen))
    except ValueError:
        software = None
    if software is None:
        abort(404, "There is no such software.")
    return software


def _own_launch_or_404(launch_id: str):
    return launches.visible(current_user(), launch_id) or abort(404, "You have no launch with that id.")


def _start(
    software_id: int,
    facility_name: str,
    item_ids: list[int] | None,
    options: dict,
    cluster: dict | None,
    pin: launches.Pin | None = None,
):
    home = external_url("pages.home")
    try:
        return launches.start(current_user(), software_id, facility_name, item_ids, options, home, cluster, pin)
    except launches.LaunchProblem as error:
        abort(400, str(error))


@blueprint.post("/launches")
@login_required
def create():
    form = request.form
    options = {key.removeprefix("option-"): value for key, value in form.items() if key.startswith("option-")}
    cluster_options = {
        key.removeprefix("cluster-option-"): value for key, value in form.items() if key.startswith("cluster-option-")
    }
    cluster = {"facility": form["cluster"], "options": cluster_options} if form.get("cluster") else None
    item_ids = database_ids(form.getlist("items"))
    software_id = form.get("software_id", type=database_id)
    if software_id is None:
        abort(400, "Choose the software to launch.")
    launch = _start(software_id, form.get("facility", ""), item_ids, options, cluster)
    notify = "?notify=1" if form.get("notify") else ""
    return redirect(url_for("launches.show", launch_id=launch.id) + notify)


@blueprint.get("/launches")
@login_required
def index():
    return render("launches.html", launches=launches.history(current_user()))


@blueprint.get("/launches/<launch_id>")
@login_required
def show(launch_id: str):
    launch = _own_launch_or_404(launch_id)
    return render("launch.html", launch=launch, stop_label=launches.stop_label(launch), again=_again(launch))


def _again(launch) -> dict:
    """What "Launch again" offers: the recorded commit (``pin``), and the ref the software record has now."""
    software = catalogue.get(current_user(), launch.software_id) if launch.software_id is not None else None
    return {"pin": launches.pin_of(launch, "launch"), "latest": software.ref if software else ""}


@blueprint.get("/launches/<launch_id>/status")
@login_required
def status(launch_id: str):
    launch = _own_launch_or_404(launch_id)
    return render("_launch_status.html", launch=launch, stop_label=launches.stop_label(launch), oob=True)


@blueprint.post("/launches/<launch_id>/stop")
@login_required
def stop(launch_id: str):
    launch = _own_launch_or_404(launch_id)
    try:
        launches.stop(launch)
    except launches.LaunchProblem as error:
        abort(409, str(error))
    return redirect(url_for("launches.show", launch_id=launch.id))


@blueprint.post("/launches/<launch_id>/again")
@login_required
def again(launch_id: str):
    """Launch the same software on the same facility with the same data (those still in the basket).

    It launches at the commit the facility recorded, when it recorded one; with ``latest`` set,
    at the ref the software record has now (a branch).
    """
    launch = _own_launch_or_404(launch_id)
    if launch.software_id is None or launch.facility_id is None:
        abort(409, "The software or the facility of that launch is gone.")
    in_basket = {item.id for item in basket.all_items(current_user())}
    item_ids = [item["id"] for item in launch.data if item.get("id") in in_basket]
    cluster = clusters.choice_of(launch)
    pin = None if request.form.get("latest") else launches.pin_of(launch, "launch")
    new = _start(launch.software_id, launch.facility["name"], item_ids, launch.options, cluster, pin)
    return redirect(url_for("launches.show", launch_id=new.id))
