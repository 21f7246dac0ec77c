"""Browser logins kept on the server: begun at login, ended at logout (here or everywhere), bounded in time.

Flask's session cookie carries only a random secret; the login it names lives in the
database (:class:`esap_core.models.LoginSession`), so a copy of the cookie taken before a
logout opens nothing afterwards. A login ends after ``session_idle_timeout`` seconds
without a request, or ``session_lifetime`` seconds after it began, whichever comes first.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import current_app, session
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from esap_core.db import session as db_session
from esap_core.encryption import Box, InvalidToken
from esap_core.models import LoginSession, User, now

KEY = "login"  # the session cookie's one field that says who is logged in
SEEN_EVERY = timedelta(minutes=1)  # last_seen is written at most this often: a read stays a read


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _box() -> Box:
    key = current_app.extensions["esap.config"].encryption_key
    return Box(key.reveal() if key is not None else current_app.config["SECRET_KEY"])


def create(user: User, id_token: str | None = None) -> str:
    """Record a new login for ``user`` and return the secret its cookie will carry."""
    secret = secrets.token_urlsafe(32)
    sealed = _box().seal(id_token) if id_token else None
    db_session().add(LoginSession(digest=_digest(secret), user_id=user.id, id_token=sealed))
    db_session().commit()
    return secret


def begin(user: User, id_token: str | None = None) -> None:
    """Log ``user`` in on this browser: a fresh cookie (nothing from before carries over) naming a new login."""
    session.clear()
    session.permanent = True
    session[KEY] = create(user, id_token)


def current() -> LoginSession | None:
    """The live login this request's cookie names, with its user; ``None`` if none, ended or expired."""
    secret = session.get(KEY)
    if not isinstance(secret, str):
        return None
    login = db_session().scalar(
        select(LoginSession).options(joinedload(LoginSession.user)).where(LoginSession.digest == _digest(secret))
    )
    moment = now()
    if login is None or login.revoked is not None or _expired(login, moment):
        return None
    if moment - login.last_seen > SEEN_EVERY:
        db_session().execute(update(LoginSession).where(LoginSession.id == login.id).values(last_seen=moment))
        db_session().commit()
    return login


def _expired(login: LoginSession, moment: datetime) -> bool:
    config = current_app.extensions["esap.config"]
    idle, lifetime = timedelta(seconds=config.session_idle_timeout), timedelta(seconds=config.session_lifetime)
    return moment - login.last_seen > idle or moment - login.created > lifetime


def id_token(login: LoginSession) -> str | None:
    """The issuer's ID token of this login (for the logout hint), if it can still be read."""
    if login.id_token is None:
        return None
    try:
        return _box().open(login.id_token)
    except InvalidToken:
        return None


def end() -> None:
    """End this browser's login, on the server too, and forget the cookie."""
    secret = session.get(KEY)
    if isinstance(secret, str):
        _revoke(LoginSession.digest == _digest(secret))
    session.clear()


def end_everywhere(user: User) -> int:
    """End every login of ``user``, in every browser; returns how many were live."""
    ended = _revoke(LoginSession.user_id == user.id)
    session.clear()
    return ended


def _revoke(condition) -> int:
    result = db_session().execute(
        update(LoginSession).where(condition, LoginSession.revoked.is_(None)).values(revoked=now())
    )
    db_session().commit()
    return result.rowcount
