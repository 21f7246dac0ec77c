"""The facilities pages: find facilities with their health, register your own, check one now."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request, url_for

from esap_core import accounts, facilities
from esap_core.auth import current_user, login_required
from esap_core.web.rendering import render

blueprint = Blueprint("facilities", __name__)


@blueprint.get("/facilities")
@login_required
def index():
    query, ui_type = request.args.get("q", "").strip(), request.args.get("ui_type", "")
    if ui_type and ui_type not in facilities.UI_TYPES:
        ui_type = ""
    found = facilities.visible(current_user(), ui_type or None, query)
    return render(
        "facilities.html",
        found=found,
        q=query,
        ui_type=ui_type,
        ui_types=facilities.UI_TYPES,
        accepted=facilities.ui_types_accepted,
    )


@blueprint.post("/facilities/<name>/check")
@login_required
def check(name: str):
    facility = facilities.get_visible(current_user(), name)
    if facility is None:
        abort(404, "There is no such facility.")
    facilities.check(facility)
    return render("_facility_health.html", facility=facility)


@blueprint.route("/facilities/new", methods=["GET", "POST"])
@login_required
def new():
    user = current_user()
    kinds = facilities.types()
    if request.method == "GET":
        return render("facility_new.html", kinds=kinds, form={}, admin=accounts.is_admin(user))
    form = request.form
    public = form.get("public") == "on"
    if public and not accounts.is_admin(user):
        abort(403, "Only admins can register public facilities.")
    values = {key: form.get(key, "") for key in ("name", "kind", "title", "url", "description", "rucio_rse")}
    try:
        facility = facilities.register(None if public else user, user, values)
    except facilities.FacilityProblem as error:
        return render("facility_new.html", kinds=kinds, form=form, error=str(error), admin=accounts.is_admin(user)), 400
    return redirect(url_for("facilities.index", q=facility.name))
