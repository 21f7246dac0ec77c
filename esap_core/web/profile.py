"""The profile page: who you are to ESAP, your personal API tokens, and your tokens for facilities."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from esap_core import accounts, credentials, facilities, launches, publishing, tokens
from esap_core.auth import current_user, login_required
from esap_core.web.rendering import htmx, render

blueprint = Blueprint("profile", __name__)

EXPIRY_CHOICES = {"7d": "7 days", "30d": "30 days", "90d": "90 days", "365d": "a year", "never": "never"}


def _page(status: int = 200, **extra):
    user = current_user()
    context = {
        "user": user,
        "admin": accounts.is_admin(user),
        "tokens": tokens.list_for(user),
        "scopes": {k: v for k, v in tokens.SCOPES.items() if k != "admin" or accounts.is_admin(user)},
        "expiry_choices": EXPIRY_CHOICES,
        "local_mode": current_app.extensions["esap.config"].local_mode,
        "facility_tokens": _facility_tokens(user),
        "publisher_tokens": [
            (name, chosen, publishing.token(user, name) is not None) for name, chosen in publishing.publishers().items()
        ],
        **extra,
    }
    if htmx and request.method == "POST":
        return render_template("_tokens.html", **context), status
    return render("profile.html", **context), status


def _facility_tokens(user) -> list[tuple]:
    """(facility, label, whether a token is kept) for facilities that take a personal token."""
    rows = []
    for facility in facilities.visible(user):
        kind = facilities.type_of(facility)
        if kind is not None and kind.personal_token_label:
            kept = credentials.get(user.id, launches.PERSONAL_TOKEN + facility.name) is not None
            rows.append((facility, kind.personal_token_label, kept))
    return rows


@blueprint.post("/profile/facility-tokens/<name>")
@login_required
def facility_token(name: str):
    """Keep (encrypted) or forget the user's own token for one facility."""
    user = current_user()
    facility = facilities.get_visible(user, name)
    if facility is None or not facilities.type_of(facility).personal_token_label:
        abort(404, "There is no such facility that takes a personal token.")
    token = request.form.get("token", "").strip()
    if token:
        credentials.put(user.id, launches.PERSONAL_TOKEN + name, token[:4000])
    else:
        credentials.forget(user.id, launches.PERSONAL_TOKEN + name)
    return redirect(url_for("profile.page") + "#facility-tokens")


@blueprint.post("/profile/publisher-tokens/<name>")
@login_required
def publisher_token(name: str):
    """Keep (encrypted) or forget the user's own token for one publisher (their Zenodo token, say)."""
    try:
        publishing.keep_token(current_user(), name, request.form.get("token", ""))
    except publishing.PublishProblem as problem:
        abort(problem.status, str(problem))
    return redirect(url_for("profile.page") + "#publisher-tokens")


@blueprint.get("/profile")
@login_required
def page():
    return _page()


@blueprint.post("/profile/tokens")
@login_required
def create_token():
    user = current_user()
    try:
        expires = tokens.parse_expiry(request.form.get("expires", "30d"))
        _, secret = tokens.create(
            user, request.form.get("name", ""), request.form.getlist("scopes"), expires, admin=accounts.is_admin(user)
        )
    except tokens.TokenError as error:
        return _page(400, error=str(error), form=request.form)
    return _page(201, new_secret=secret)


@blueprint.post("/profile/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    if not tokens.revoke(current_user(), token_id):
        abort(404, "You have no such token.")
    return _page()
