"""Personal API tokens: created with scopes and an expiry, shown once, kept as a hash, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from esap_core.accounts import session
from esap_core.models import ApiToken, User, now

SCOPES = {
    "basket:read": "Read your basket",
    "basket:write": "Add to and remove from your basket",
    "launch": "Launch software on facilities and see your launches",
    "admin": "Administer ESAP (admins only)",
}
PREFIX = "esap_"
SESSION_TOKEN_TTL = timedelta(hours=12)


class TokenError(ValueError):
    """A token request that cannot be granted; the message says why."""


def digest(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is as good as a slow one here.
    return hashlib.sha256(secret.encode()).hexdigest()


def create(user: User, name: str, scopes: list[str], expires: datetime | None, admin: bool) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is never stored nor shown again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenError("A token needs a name of 1 to 100 characters.")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise TokenError(
            f"Unknown or missing scopes: {', '.join(unknown) or 'none given'}; choose from {', '.join(SCOPES)}."
        )
    if "admin" in scopes and not admin:
        raise TokenError("Only admins can create tokens with the admin scope.")
    if expires is not None and expires <= datetime.now(UTC):
        raise TokenError("The expiry must be in the future.")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, digest=digest(secret), scopes=sorted(set(scopes)), expires=expires)
    session().add(token)
    session().commit()
    return token, secret


def mint_session_token(user: User, launch_id: str, ttl: timedelta = SESSION_TOKEN_TTL) -> str:
    """A short-lived, read-only basket token for a launched session."""
    _, secret = create(user, f"launch {launch_id}"[:100], ["basket:read"], datetime.now(UTC) + ttl, admin=False)
    return secret


def verify(secret: str) -> ApiToken | None:
    """The live token with this secret, marking it used; ``None`` if unknown, revoked or expired."""
    # With its user, in one round trip: every API request asks this.
    token = session().scalar(
        select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.digest == digest(secret))
    )
    if token is None or token.revoked is not None or (token.expires and token.expires <= datetime.now(UTC)):
        return None
    if token.last_used is None or now() - token.last_used > timedelta(minutes=1):  # spare a write per request
        session().execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used=now()))
        session().commit()
    return token


def list_for(user: User) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(None)).order_by(ApiToken.id)
    return list(session().scalars(query))


def revoke(user: User, token_id: int) -> bool:
    """Revoke one of the user's tokens; ``False`` when the user has no such live token."""
    result = session().execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == user.id, ApiToken.revoked.is_(None))
        .values(revoked=now())
    )
    session().commit()
    return result.rowcount == 1


def parse_expiry(text: str | None) -> datetime | None:
    """``30d``, ``12h``, ``never`` or an ISO date into an expiry time."""
    if not text or text == "never":
        return None
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[:-1].isdigit() and text[-1] in units:
        return datetime.now(UTC) + timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        message = f"Cannot read the expiry {text!r}: use 30d, 12h, never or a date such as 2027-01-31."
        raise TokenError(message) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
