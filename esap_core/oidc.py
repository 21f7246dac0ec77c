"""Login with an OpenID Connect issuer (Authlib): authorisation code with PKCE, state and nonce; logout."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, redirect, request, session, url_for
from joserfc.errors import JoseError

from esap_core import accounts, credentials
from esap_core.config import ConfigError
from esap_core.security import external_url, safe_next

log = logging.getLogger(__name__)
auth = Blueprint("auth", __name__)
LEEWAY = 30  # seconds of clock skew accepted on ID token times


def client():
    return current_app.extensions["esap.oauth"].esap


def init_app(app: Flask) -> None:
    app.register_blueprint(auth)
    oidc = app.extensions["esap.config"].oidc
    if not oidc["issuer"]:
        return
    for key in ("client_id", "client_secret"):
        if not oidc[key]:
            raise ConfigError(f"oidc.{key}: required when oidc.issuer is set")
    scopes = list(dict.fromkeys(["openid", *oidc["scopes"]]))
    oauth = OAuth(app)
    oauth.register(
        "esap",
        client_id=oidc["client_id"],
        client_secret=oidc["client_secret"].reveal(),
        server_metadata_url=oidc["issuer"].rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": " ".join(scopes), "code_challenge_method": "S256", "timeout": 10},
    )
    app.extensions["esap.oauth"] = oauth


@auth.get("/login")
def login():
    target = safe_next(request.args.get("next"))
    if current_app.extensions["esap.config"].local_mode:
        return redirect(target)
    session["next"] = target
    extra = current_app.extensions["esap.config"].oidc["authorize_params"]
    try:
        return client().authorize_redirect(external_url("auth.callback"), **extra)
    except (requests.RequestException, OAuthError, ValueError) as error:
        log.warning("identity provider unreachable: %s", error)
        abort(503, "The identity provider cannot be reached right now; please try again shortly.")


@auth.get("/auth/callback")
def callback():
    if current_app.extensions["esap.config"].local_mode:
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
        abort(503, "The identity provider cannot be reached right now; please try again shortly.")
    if not token.get("userinfo"):
        abort(401, "The identity provider sent no ID token, so you are not logged in.")
    claims = {**_userinfo(token), **token["userinfo"]}
    user = accounts.user_from_claims(current_app.extensions["esap.config"].oidc["issuer"], claims)
    credentials.store_delegated(user.id, token)
    target = session.pop("next", "/")
    session.clear()  # a fresh session on login: nothing from before carries over
    session["user_id"] = user.id
    session["id_token"] = token["id_token"]
    return redirect(safe_next(target))


def _userinfo(token: dict) -> dict:
    """Claims from the userinfo endpoint, for issuers that put only ``sub`` into the ID token."""
    try:
        info = dict(client().userinfo(token=token))
    except (requests.RequestException, OAuthError, ValueError) as error:
        log.info("userinfo unavailable: %s", error)
        return {}
    return info if info.get("sub") == token["userinfo"].get("sub") else {}


@auth.post("/logout")
def logout():
    user_id, id_token = session.get("user_id"), session.get("id_token")
    session.clear()
    if user_id is not None:
        credentials.forget(user_id, credentials.DELEGATED)
    if current_app.extensions["esap.config"].local_mode or not id_token:
        return redirect(url_for("pages.home"))
    try:
        end_session = client().load_server_metadata().get("end_session_endpoint")
    except (requests.RequestException, OAuthError, ValueError):
        end_session = None
    if not end_session:
        return redirect(url_for("pages.home"))
    home = external_url("pages.home")
    return redirect(client().create_logout_url(post_logout_redirect_uri=home, id_token_hint=id_token)["url"])


def issuer_origin(app: Flask) -> str:
    issuer = app.extensions["esap.config"].oidc["issuer"]
    parts = urlsplit(issuer)
    return f"{parts.scheme}://{parts.netloc}" if issuer else ""
