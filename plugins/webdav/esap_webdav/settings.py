"""The plugin's settings, ``[plugins.webdav]``, read and checked once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from esap_core import Secret, Settings, SettingsError

AUTH = ("basic", "bearer", "user-token", "none")


@dataclass(frozen=True)
class WebDavSettings:
    url: str  # the base URL; each user's workspace is <url>/<their folder>/
    auth: str  # basic (username + password), bearer (token), user-token (the user's own OIDC token), none
    username: str
    password: Secret | None
    token: Secret | None
    quota: int | None  # bytes per user when the server tells none (RFC 4331)
    server_quota: bool  # believe the server's quota-used-bytes / quota-available-bytes
    title: str
    max_entries: int  # how many entries the usage walk reads at most


def webdav_settings(settings: Settings) -> WebDavSettings:
    """Read ``settings``; raise :class:`SettingsError` naming the key and the reason."""
    url = settings.url("url")
    if not url:
        raise SettingsError(settings.where, "url", "is required: the base URL under which users' folders live")
    auth = settings.text("auth", "basic", choices=AUTH)
    username, password, token = settings.text("username"), settings.secret("password"), settings.secret("token")
    if auth == "basic" and not (username and password):
        raise SettingsError(settings.where, "password", "and username are needed for auth = basic")
    if auth == "bearer" and token is None:
        raise SettingsError(settings.where, "token", "is needed for auth = bearer")
    quota_mb = settings.number("quota_mb", None, positive=True)
    return WebDavSettings(
        url=url.rstrip("/") + "/",
        auth=auth,
        username=username,
        password=password,
        token=token,
        quota=int(quota_mb * 1024 * 1024) if quota_mb is not None else None,
        server_quota=settings.flag("server_quota", True),
        title=settings.text("title", "WebDAV workspace"),
        max_entries=int(settings.number("max_entries", 100_000, positive=True, integer=True)),
    )
