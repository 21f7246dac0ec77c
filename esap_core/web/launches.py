"""The launch pages: checkout (software, facility, data), a launch followed live, and the history."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request, url_for
from sqlalchemy import select

from esap_core import basket, catalogue, facilities, launches, suggestions
from esap_core.accounts import session
from esap_core.api.launches import own_launch_or_404, start
from esap_core.auth import current_user, login_required
from esap_core.models import Software
from esap_core.web import render

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
    software = _chosen_software(user, request.args.get("software", type=int))
    context = {"software": software, "software_choices": _software_choices(user) if software is None else []}
    if software is not None:
        context["facility_choices"] = facilities.visible(user, software.ui_type, request.args.get("q", ""))
        facility = facilities.get_visible(user, request.args.get("facility", ""))
        if facility is not None and facilities.accepts(facility, software.ui_type):
            kind = facilities.type_of(facility)
            context.update(
                facility=facility,
                options=kind.options(facilities.for_plugin(facility)),
                items=[item for item in basket.all_items(user) if item.kind == basket.DATA],
            )
    return render("checkout.html", q=request.args.get("q", ""), **context)


def _chosen_software(user, software_id: int | None) -> Software | None:
    if software_id is None:
        return None
    software = session().get(Software, software_id)
    if software is None or (software.owner_id is not None and software.owner_id != user.id):
        abort(404, "There is no such software.")
    return software


@blueprint.post("/launches")
@login_required
def create():
    form = request.form
    options = {key.removeprefix("option-"): value for key, value in form.items() if key.startswith("option-")}
    item_ids = [int(value) for value in form.getlist("items") if value.isdigit()]
    software_id = form.get("software_id", type=int)
    if software_id is None:
        abort(400, "Choose the software to launch.")
    launch = start(current_user(), software_id, form.get("facility", ""), item_ids, options)
    notify = "?notify=1" if form.get("notify") else ""
    return redirect(url_for("launches.show", launch_id=launch.id) + notify)


@blueprint.get("/launches")
@login_required
def index():
    return render("launches.html", launches=launches.history(current_user()))


@blueprint.get("/launches/<launch_id>")
@login_required
def show(launch_id: str):
    launch = own_launch_or_404(launch_id)
    return render("launch.html", launch=launch, can_stop=launches.can_stop(launch))


@blueprint.get("/launches/<launch_id>/status")
@login_required
def status(launch_id: str):
    launch = own_launch_or_404(launch_id)
    return render("_launch_status.html", launch=launch, can_stop=launches.can_stop(launch), oob=True)


@blueprint.post("/launches/<launch_id>/stop")
@login_required
def stop(launch_id: str):
    launch = own_launch_or_404(launch_id)
    try:
        launches.stop(launch)
    except launches.LaunchProblem as error:
        abort(409, str(error))
    return redirect(url_for("launches.show", launch_id=launch.id))


@blueprint.post("/launches/<launch_id>/again")
@login_required
def again(launch_id: str):
    """Launch the same software on the same facility with the same data (those still in the basket)."""
    launch = own_launch_or_404(launch_id)
    if launch.software_id is None or launch.facility_id is None:
        abort(409, "The software or the facility of that launch is gone.")
    in_basket = {item.id for item in basket.all_items(current_user())}
    item_ids = [item["id"] for item in launch.data if item.get("id") in in_basket]
    new = start(current_user(), launch.software_id, launch.facility["name"], item_ids, launch.options)
    return redirect(url_for("launches.show", launch_id=new.id))
