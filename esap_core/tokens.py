"""Personal API tokens: created with scopes and an expiry, shown once, kept as a hash, revocable.

A token is ``esap_`` followed by an HS256 JSON Web Token whose payload carries its expiry
(``exp``), scopes and a random id: clients that read a token's expiry from its middle
part (the first ESAP's notebook client does, with plain base64) can, and a secret scanner
recognises the prefix. ESAP itself trusts only the stored hash: a token is valid while its
row says so (not revoked, not expired), whatever its text claims. Each process remembers a
row it read for at most :data:`REMEMBERED_FOR` (every API request asks for it), so a
revocation in another process takes effect within a second, and in this one at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from esap_core.db import session
from esap_core.models import ApiToken, User, now

SCOPES = {
    "basket:read": "Read your basket",
    "basket:write": "Add to and remove from your basket",
    "launch": "Launch software on facilities and see your launches",
    "jobs:read": "See your jobs, their logs and results",
    "jobs:write": "Submit jobs to facilities and cancel them",
    "workspace:read": "List and read the files in your workspace",
    "workspace:write": "Save files to your workspace and delete them",
    "publish": "Publish files of your workspace to a repository (Zenodo) with your token there, and list them",
    "tokens": "Create, list and revoke your personal API tokens (never given to launched sessions)",
    "admin": "Administer ESAP (admins only)",
}
PREFIX = "esap_"
SESSION_TOKEN_TTL = timedelta(hours=12)
# A session fetches the basket's items (workspace files among them) and saves its results back.
SESSION_SCOPES = ["basket:read", "workspace:read", "workspace:write"]
EXPIRY_GRAMMAR = r"^(\d{1,12}[dhm]|never|\d{4}-\d{2}-\d{2}([T ][0-9:.+\-Z]*)?)$"  # what parse_expiry reads
MAX_LIFETIME = timedelta(days=3650)  # "99999999d" is a typo, not a wish
NEVER = 253402300799  # 9999-12-31T23:59:59Z: the exp of a token that does not expire
REMEMBERED_FOR = 0.9  # seconds: under the second a revocation may take to reach every process
REMEMBERED_AT_MOST = 10_000  # rows, unknown secrets included: a flood of made-up tokens cannot grow it further
HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()


class TokenError(ValueError):
    """A token request that cannot be granted; the message says why."""


def digest(secret: str) -> str:
    # The secret is 256 random bits, so a fast hash is as good as a slow one here.
    return hashlib.sha256(secret.encode()).hexdigest()


def create(
    user: User, name: str, scopes: list[str], expires: datetime | None, admin: bool, parent: ApiToken | None = None
) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is never stored nor shown again.

    ``parent`` is the token the request came with, if any: the new one may not outlive it.
    """
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
    if parent is not None and parent.expires is not None and (expires is None or expires > parent.expires):
        raise TokenError(
            f"A token cannot create one that outlives it: choose an expiry before {parent.expires:%Y-%m-%d %H:%M} UTC."
        )
    secret = PREFIX + _jwt(sorted(set(scopes)), expires)
    token = ApiToken(user_id=user.id, name=name, digest=digest(secret), scopes=sorted(set(scopes)), expires=expires)
    session().add(token)
    session().commit()
    return token, secret


def _jwt(scopes: list[str], expires: datetime | None) -> str:
    """A signed JWT with a random id, whose payload plain (padded, non-URL-safe) base64 also decodes."""
    while True:  # a few tries find an id whose encoding has neither '-' nor '_' nor padding
        claims = {
            "exp": int(expires.timestamp()) if expires else NEVER,
            "iat": int(datetime.now(UTC).timestamp()),
            "scope": " ".join(scopes),
            "jti": secrets.token_hex(16),
        }
        text = json.dumps(claims, separators=(",", ":"))
        text += " " * (-len(text) % 3)  # a multiple of 3 bytes: base64 without padding
        payload = base64.urlsafe_b64encode(text.encode()).decode()
        if "-" not in payload and "_" not in payload:
            break
    signed = f"{HEADER}.{payload}"
    signature = hmac.new(_signing_key(), signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _signing_key() -> bytes:
    from flask import current_app, has_app_context

    secret = current_app.config["SECRET_KEY"] if has_app_context() else secrets.token_hex(32)
    return hmac.new(str(secret).encode(), b"esap.tokens", hashlib.sha256).digest()


def mint_session_token(user: User, launch_id: str, ttl: timedelta = SESSION_TOKEN_TTL) -> str:
    """A short-lived token for a launched session: it reads the basket and the workspace, and saves results."""
    _, secret = create(user, f"launch {launch_id}"[:100], SESSION_SCOPES, datetime.now(UTC) + ttl, admin=False)
    return secret


def verify(secret: str) -> ApiToken | None:
    """The live token with this secret, marking it used; ``None`` if unknown, revoked or expired."""
    key, moment = digest(secret), time.monotonic()
    remembered = _remembered()
    until, token = remembered.get(key, (0.0, None))
    if until <= moment:
        token = _read(key)
        if len(remembered) >= REMEMBERED_AT_MOST:
            remembered.clear()
        remembered[key] = (moment + REMEMBERED_FOR, token)
    if token is None or token.revoked is not None or (token.expires and token.expires <= datetime.now(UTC)):
        return None
    # This request's own copies (no query): the remembered ones are shared by every request of the process.
    return session().merge(token, load=False)


def _read(key: str) -> ApiToken | None:
    """The token row and its user, in one round trip, marked used; detached from the session, to be remembered."""
    db = session()
    token = db.scalar(select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.digest == key))
    if token is None:
        return None
    if token.revoked is None and (token.last_used is None or now() - token.last_used > timedelta(minutes=1)):
        db.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used=now()))  # one write a minute
        db.commit()
    db.expunge(token)
    db.expunge(token.user)
    return token


def _remembered() -> dict[str, tuple[float, ApiToken | None]]:
    """This app's remembered token rows by digest: until when (``time.monotonic``), and the row."""
    return current_app.extensions.setdefault("esap.tokens.remembered", {})


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
    _remembered().clear()  # at once in this process; the others' memories end within REMEMBERED_FOR
    return result.rowcount == 1


def parse_expiry(text: str | None) -> datetime | None:
    """``30d``, ``12h``, ``never`` or an ISO date into an expiry time."""
    if not text or text == "never":
        return None
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[:-1].isdigit() and text[-1] in units and len(text) <= 12:
        try:
            lifetime = timedelta(**{units[text[-1]]: int(text[:-1])})
        except OverflowError:
            lifetime = MAX_LIFETIME * 2
        moment = datetime.now(UTC) + min(lifetime, MAX_LIFETIME * 2)
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            message = f"Cannot read the expiry {text[:40]!r}: use 30d, 12h, never or a date such as 2027-01-31."
            raise TokenError(message) from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment - datetime.now(UTC) > MAX_LIFETIME:
        raise TokenError(f"A token can live at most {MAX_LIFETIME.days} days; choose a nearer expiry, or never.")
    return moment
