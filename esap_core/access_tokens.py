"""The user's OIDC access token from ESAP's issuer, accepted where the first ESAP accepted it (its notebook client).

A JWT access token is verified against the issuer's published keys (JWKS): its
signature, ``iss`` and ``exp``. An opaque one is taken to the issuer's userinfo endpoint,
which answers only for a live token. Either way the token names a subject, and the ESAP
user is the one with that issuer and subject (someone who has logged in to ESAP). An
answer is remembered for a minute at most, and never past the token's own expiry, so
most notebook calls cost no round trip to the issuer.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError
from flask import current_app
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from esap_core.accounts import session
from esap_core.models import User

log = logging.getLogger(__name__)
CACHE_SECONDS = 60.0
CACHE_SIZE = 1000
LEEWAY = 30  # seconds of clock skew accepted on the token's times
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
SCOPES = frozenset({"basket:read"})  # what such a token may do here: read the basket, as the first ESAP let it

_cache: dict[str, tuple[int, float]] = {}  # sha256 of the token → (user id, until when, monotonic)
_lock = threading.Lock()


def user_for(token: str) -> User | None:
    """The ESAP user the issuer's access token ``token`` stands for; ``None`` if it is not valid or not theirs."""
    issuer = current_app.extensions["esap.config"].oidc["issuer"]
    if not issuer or not token:
        return None
    key = hashlib.sha256(token.encode()).hexdigest()
    with _lock:
        cached = _cache.get(key)
    if cached is not None and cached[1] > time.monotonic():
        return session().get(User, cached[0])
    subject, expires = _verify(token, issuer)
    if subject is None:
        return None
    user = session().scalar(select(User).where(User.issuer == issuer, User.subject == subject))
    if user is None:
        return None
    lifetime = CACHE_SECONDS if expires is None else min(CACHE_SECONDS, expires - time.time())
    if lifetime > 0:
        with _lock:
            if len(_cache) >= CACHE_SIZE:
                _cache.clear()
            _cache[key] = (user.id, time.monotonic() + lifetime)
    return user


def forget_all() -> None:
    """Drop every remembered answer (for tests, and when the issuer's keys change)."""
    with _lock:
        _cache.clear()


def _verify(token: str, issuer: str) -> tuple[str | None, float | None]:
    """The token's subject and expiry (epoch seconds, when known), or ``(None, None)``."""
    from esap_core.oidc import client

    try:
        if token.count(".") == 2:
            try:
                return _verify_jwt(token, issuer, client().fetch_jwk_set())
            except InvalidKeyIdError:  # the issuer may have rotated its keys since ESAP fetched them
                return _verify_jwt(token, issuer, client().fetch_jwk_set(force=True))
        info = client().userinfo(token={"access_token": token, "token_type": "Bearer"})
    except (requests.RequestException, OAuthError, ValueError, RuntimeError) as error:
        log.info("issuer access token not accepted: %s", error)
        return None, None
    subject = info.get("sub")
    return (str(subject), None) if subject else (None, None)


def _verify_jwt(token: str, issuer: str, jwks: dict[str, Any]) -> tuple[str | None, float | None]:
    try:
        decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=ALGORITHMS)
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY, iss={"essential": True, "value": issuer}, exp={"essential": True}, sub={"essential": True}
        )
        registry.validate(decoded.claims)
    except InvalidKeyIdError:
        raise
    except (JoseError, ValueError, KeyError) as error:
        log.info("issuer JWT access token refused: %s", error)
        return None, None
    return str(decoded.claims["sub"]), float(decoded.claims["exp"])
