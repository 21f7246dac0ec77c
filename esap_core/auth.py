"""Who is asking: an API token, the browser session, or the local single-user mode; and what they may do."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import Flask, abort, current_app, g, redirect, request, url_for

from esap_core import access_tokens, accounts, logins, tokens
from esap_core.db import end_transaction
from esap_core.errors import is_api_request
from esap_core.hookspecs import UserContext
from esap_core.models import User
from esap_core.security import UNSAFE_METHODS, check_csrf, is_loopback_address

ANONYMOUS = "Log in, or send a personal API token as 'Authorization: Bearer'."
PUBLIC_ENDPOINTS = {"static", "meta.Health", "api_launches.ClientModule"}  # need no user, nor the database
# Downloads that tools without headers fetch (astropy's Table.read(url)) may carry ?access_token= (RFC 6750 2.3).
QUERY_TOKEN_ENDPOINTS = {"api_basket.Export"}
# The first ESAP's notebook client sends the user's access token from the issuer: read-only, where it went.
ISSUER_TOKEN_ENDPOINTS = {"compat.UserProfiles"}


def current_user() -> User | None:
    return g.get("user")


def current_context() -> UserContext:
    return accounts.user_context(current_user())


def _authenticate() -> None:
    g.user, g.scopes, g.via, g.token, g.auth_error = None, frozenset(), None, None, ""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    _find_user()
    end_transaction()  # a view that waits on an archive must not hold SQLite's write lock meanwhile


def _find_user() -> None:
    config = current_app.extensions["esap.config"]
    header = request.headers.get("Authorization")
    if header is None and request.method == "GET" and request.endpoint in QUERY_TOKEN_ENDPOINTS:
        header = f"Bearer {request.args['access_token']}" if "access_token" in request.args else None
    if header is not None:
        scheme, _, secret = header.partition(" ")
        token = tokens.verify(secret.strip()) if scheme.lower() == "bearer" and secret.strip() else None
        if token is None and scheme.lower() == "bearer" and request.endpoint in ISSUER_TOKEN_ENDPOINTS:
            user = access_tokens.user_for(secret.strip())
            if user is not None:
                g.user, g.scopes, g.via = user, access_tokens.SCOPES, "issuer token"
                return
        if token is None:
            g.auth_error = "The API token is not valid: it is unknown, revoked or expired."
            return
        g.user, g.scopes, g.via, g.token = token.user, frozenset(token.scopes), "token", token
        return
    if config.local_mode:
        _only_this_machine()
        g.user, g.via = accounts.local_user(), "session"
    elif (login := logins.current()) is not None:
        g.user, g.via = login.user, "session"
    if g.user is not None:
        g.scopes = frozenset(tokens.SCOPES) if accounts.is_admin(g.user) else frozenset(tokens.SCOPES) - {"admin"}


def _only_this_machine() -> None:
    # The local mode has no login: it must answer this machine only (and resist DNS rebinding).
    host = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else request.host.split("]")[0] + "]"
    if not is_loopback_address(request.remote_addr) or not is_loopback_address(host):
        abort(403, "This ESAP runs in local single-user mode and answers only on this machine's loopback address.")


def refuse_anonymous() -> None:
    """401 for an API request without a user: why its token failed, or how to authenticate."""
    abort(401, g.get("auth_error") or ANONYMOUS)


def _refuse_anonymous_api_writes() -> None:
    # An API write with neither a token nor a login is a 401 asking for a token, not the CSRF check's 403.
    anonymous = "Authorization" not in request.headers and current_user() is None
    if request.method in UNSAFE_METHODS and anonymous and is_api_request():
        refuse_anonymous()


def login_required(view: Callable) -> Callable:
    """Pages: send anonymous visitors to the login, and back here afterwards."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if current_user() is None:
            if is_api_request():
                refuse_anonymous()
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def signed_in(view: Callable) -> Callable:
    """API operations open to any signed-in caller, whatever the token's scopes (401 when anonymous)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if current_user() is None:
            refuse_anonymous()
        return view(*args, **kwargs)

    return wrapper


def require_scope(scope: str) -> Callable:
    """API operations: a user with ``scope`` (401 when anonymous, 403 without the scope)."""
    if scope not in tokens.SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if current_user() is None:
                refuse_anonymous()
            if scope not in g.scopes:
                abort(403, f"This needs the {scope!r} scope, which this token or account does not have.")
            return view(*args, **kwargs)

        return wrapper

    return decorate


def init_app(app: Flask) -> None:
    app.before_request(_authenticate)
    app.before_request(_refuse_anonymous_api_writes)
    app.before_request(check_csrf)

    @app.after_request
    def challenge(response):
        if response.status_code == 401 and is_api_request():
            response.headers.setdefault("WWW-Authenticate", 'Bearer realm="ESAP"')
        return response
