"""Logging in and out: the issuer's login pages, the callback, logout here or everywhere (the ``auth`` pages)."""

from __future__ import annotations

import logging

import requests
from authlib.integrations.base_client.errors import OAuthError
from flask import Blueprint, abort, current_app, redirect, request, session, url_for
from joserfc.errors import JoseError

from esap_core import accounts, credentials, logins
from esap_core.auth import current_user, login_required
from esap_core.oidc import LEEWAY, client
from esap_core.security import external_url, safe_next

log = logging.getLogger(__name__)
blueprint = Blueprint("auth", __name__)
UNREACHABLE = "The identity provider cannot be reached right now; please try again shortly."


def _local_mode() -> bool:
    return current_app.extensions["esap.config"].local_mode


@blueprint.get("/login")
def login():
    target = safe_next(request.args.get("next"))
    if _local_mode():
        return redirect(target)
    session["next"] = target
    extra = current_app.extensions["esap.config"].oidc["authorize_params"]
    try:
        return client().authorize_redirect(external_url("auth.callback"), **extra)
    except (requests.RequestException, OAuthError, ValueError) as error:
        log.warning("identity provider unreachable: %s", error)
        abort(503, UNREACHABLE)


@blueprint.get("/auth/callback")
def callback():
    if _local_mode():
        abort(404)
    try:
        token = client().authorize_access_token(leeway=LEEWAY)
    except OAuthError as error:
        log.info("login refused: %s", error)
        abort(400, f"The login could not be completed ({error.error}). Please start again from the login link.")
    except JoseError as error:
        log.warning("ID token rejected: %s", error)
        abort(401, "The identity provider's answer could not be verified, so you are not logged in.")
    except requests.RequestException as error:
        log.warning("identity provider unreachable during login: %s", error)
        abort(503, UNREACHABLE)
    if not token.get("userinfo"):
        abort(401, "The identity provider sent no ID token, so you are not logged in.")
    claims = {**_userinfo(token), **token["userinfo"]}
    user = accounts.user_from_claims(current_app.extensions["esap.config"].oidc["issuer"], claims)
    credentials.store_delegated(user.id, token)
    target = session.get("next", "/")
    logins.begin(user, token["id_token"])  # a fresh session: nothing from before carries over
    return redirect(safe_next(target))


def _userinfo(token: dict) -> dict:
    """Claims from the userinfo endpoint, for issuers that put only ``sub`` into the ID token."""
    try:
        info = dict(client().userinfo(token=token))
    except (requests.RequestException, OAuthError, ValueError) as error:
        log.info("userinfo unavailable: %s", error)
        return {}
    return info if info.get("sub") == token["userinfo"].get("sub") else {}


@blueprint.post("/logout")
def logout():
    login = None if _local_mode() else logins.current()
    hint = logins.id_token(login) if login else None
    logins.end()
    if login is not None:
        credentials.forget(login.user_id, credentials.DELEGATED)
    return _leave_issuer(hint)


@blueprint.post("/logout/everywhere")
@login_required
def logout_everywhere():
    """End every login of this user, in every browser, and the delegated tokens ESAP keeps."""
    user = current_user()
    login = None if _local_mode() else logins.current()
    hint = logins.id_token(login) if login else None
    logins.end_everywhere(user)
    credentials.forget(user.id, credentials.DELEGATED)
    return _leave_issuer(hint)


def _leave_issuer(id_token: str | None):
    """Home, by way of the issuer's logout (RP-initiated) when it has one."""
    if _local_mode() or not id_token:
        return redirect(url_for("pages.home"))
    try:
        end_session = client().load_server_metadata().get("end_session_endpoint")
    except (requests.RequestException, OAuthError, ValueError):
        end_session = None
    if not end_session:
        return redirect(url_for("pages.home"))
    home = external_url("pages.home")
    return redirect(client().create_logout_url(post_logout_redirect_uri=home, id_token_hint=id_token)["url"])
