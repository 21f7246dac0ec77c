"""Users: created on first login from the issuer's claims, the local user, and who is an admin."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from esap_core.db import session
from esap_core.hookspecs import UserContext
from esap_core.models import User, now

LOCAL_ISSUER = "local"
LOCAL_USERNAME = "local"


def local_user() -> User:
    """The one user of the single-user mode, created on first use."""
    return _get_or_create(LOCAL_ISSUER, LOCAL_USERNAME, {"preferred_username": LOCAL_USERNAME, "name": "Local user"})


def user_from_claims(issuer: str, claims: Mapping[str, Any]) -> User:
    """Find or create the user for an ID token's claims (keyed by issuer + subject), refreshing the profile."""
    user = _get_or_create(issuer, str(claims["sub"]), claims)
    user.name = str(claims.get("name") or user.name)[:255]
    user.email = str(claims.get("email") or user.email)[:255]
    user.claims = dict(claims)
    user.last_login = now()
    session().commit()
    return user


def _get_or_create(issuer: str, subject: str, claims: Mapping[str, Any]) -> User:
    db = session()
    user = db.scalar(select(User).where(User.issuer == issuer, User.subject == subject))
    if user is not None:
        return user
    user = User(
        issuer=issuer,
        subject=subject,
        username=_free_username(claims, subject),
        name=str(claims.get("name", ""))[:255],
        email=str(claims.get("email", ""))[:255],
        claims=dict(claims),
    )
    db.add(user)
    try:
        db.commit()
    except IntegrityError:  # created meanwhile by a concurrent first request
        db.rollback()
        return db.scalar(select(User).where(User.issuer == issuer, User.subject == subject))
    return user


def _free_username(claims: Mapping[str, Any], subject: str) -> str:
    wanted = claims.get("preferred_username") or str(claims.get("email", "")).split("@")[0] or subject
    base = re.sub(r"[^a-z0-9._-]+", "-", str(wanted).lower()).strip("-.")[:60] or "user"
    taken = set(session().scalars(select(User.username).where(User.username.like(f"{base}%"))))
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def is_admin(user: User) -> bool:
    """Admins: the local user, configured subjects or emails, or members of a configured group claim."""
    if user.issuer == LOCAL_ISSUER:
        return True
    oidc = current_app.extensions["esap.config"].oidc
    verified_email = user.email and user.claims.get("email_verified") is True  # an unverified address is anyone's
    if user.subject in oidc["admins"] or (verified_email and user.email in oidc["admins"]):
        return True
    groups = user.claims.get(oidc["admin_claim"], [])
    groups = [groups] if isinstance(groups, str) else groups
    return any(group.strip("/") in oidc["admin_groups"] for group in groups if isinstance(group, str))


def user_context(user: User) -> UserContext:
    """What a plugin may know of a user, with a way to get their delegated access token."""
    from esap_core import credentials

    return UserContext(
        username=user.username,
        claims=dict(user.claims),
        is_admin=is_admin(user),
        access_token=credentials.accessor(user.id) if user.issuer != LOCAL_ISSUER else lambda: None,
    )
