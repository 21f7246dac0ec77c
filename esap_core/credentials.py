"""A user's secrets, encrypted at rest: the delegated OIDC tokens (refreshed on demand) and any other."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from flask import current_app
from sqlalchemy import delete, select

from esap_core.db import end_transaction, session
from esap_core.encryption import Box, InvalidToken
from esap_core.hookspecs import CredentialsExpired
from esap_core.models import UserSecret

log = logging.getLogger(__name__)

DELEGATED = "oidc"
REFRESH_MARGIN = 60  # seconds: refresh a token that would expire during the call it is for


def box() -> Box:
    """The instance's encryption box (its encryption key, else one derived from its secret key)."""
    key = current_app.extensions["esap.config"].encryption_key
    return Box(key.reveal() if key is not None else current_app.config["SECRET_KEY"])


def put(user_id: int, name: str, value: str) -> None:
    db = session()
    db.merge(UserSecret(user_id=user_id, name=name, ciphertext=box().seal(value)))
    db.commit()


def get(user_id: int, name: str) -> str | None:
    """The secret's text, or ``None`` when there is none or it cannot be decrypted (the key changed)."""
    record = session().scalar(select(UserSecret).where(UserSecret.user_id == user_id, UserSecret.name == name))
    end_transaction()  # the caller is about to use it over the network
    if record is None:
        return None
    try:
        return box().open(record.ciphertext)
    except InvalidToken:
        log.warning("user %s: secret %r cannot be decrypted with the current key", user_id, name)
        return None


def forget(user_id: int, name: str) -> None:
    session().execute(delete(UserSecret).where(UserSecret.user_id == user_id, UserSecret.name == name))
    session().commit()


def store_delegated(user_id: int, token: dict) -> None:
    """Keep the access and refresh tokens of a login or refresh (never the ID token's claims twice)."""
    expires_at = token.get("expires_at") or time.time() + float(token.get("expires_in", 300))
    put(
        user_id,
        DELEGATED,
        json.dumps(
            {
                "access_token": token["access_token"],
                "refresh_token": token.get("refresh_token"),
                "expires_at": expires_at,
            }
        ),
    )


def access_token(user_id: int) -> str:
    """A delegated access token valid for at least a minute, refreshed if needed, or CredentialsExpired."""
    text = get(user_id, DELEGATED)
    if text is None:
        raise CredentialsExpired("ESAP holds no token from your identity provider: please log in again.")
    stored = json.loads(text)
    if stored["expires_at"] - REFRESH_MARGIN > time.time():
        return stored["access_token"]
    if not stored.get("refresh_token"):
        raise CredentialsExpired("Your login has expired: please log in again.")
    fresh = _refresh(stored["refresh_token"])
    fresh.setdefault("refresh_token", stored["refresh_token"])  # issuers may not rotate it
    store_delegated(user_id, fresh)
    return fresh["access_token"]


def accessor(user_id: int) -> Callable[[], str]:
    """A callable for plugins: needs an app context (web request or job) when called."""
    return lambda: access_token(user_id)


def _refresh(refresh_token: str) -> dict:
    from authlib.integrations.base_client.errors import OAuthError
    from authlib.integrations.requests_client import OAuth2Session
    from requests import RequestException

    from esap_core.oidc import client

    oidc = client()
    try:
        endpoint = oidc.load_server_metadata()["token_endpoint"]
        with OAuth2Session(oidc.client_id, oidc.client_secret) as http:
            return dict(http.refresh_token(endpoint, refresh_token=refresh_token, timeout=10))
    except (OAuthError, RequestException, KeyError, ValueError) as error:
        log.info("refreshing a delegated token failed: %s", error)
        raise CredentialsExpired("Your login has expired and could not be renewed: please log in again.") from error
