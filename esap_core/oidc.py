"""The OpenID Connect client (Authlib): discovery, authorisation code with PKCE, state and nonce, logout URLs."""

from __future__ import annotations

from urllib.parse import urlsplit

from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app

from esap_core.config import ConfigError

LEEWAY = 30  # seconds of clock skew accepted on ID token times


def client():
    return current_app.extensions["esap.oauth"].esap


def init_app(app: Flask) -> None:
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


def issuer_origin(app: Flask) -> str:
    issuer = app.extensions["esap.config"].oidc["issuer"]
    parts = urlsplit(issuer)
    return f"{parts.scheme}://{parts.netloc}" if issuer else ""
