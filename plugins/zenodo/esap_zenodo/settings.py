"""The plugin's settings, ``[plugins.zenodo]``, read and checked once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from esap_core import Settings, SettingsError

PUBLIC_URL = "https://zenodo.org"  # the public default; none when ESAP is offline (ESAP_OFFLINE)


@dataclass(frozen=True)
class ZenodoSettings:
    url: str  # the instance's base URL, without /api: https://zenodo.org, https://sandbox.zenodo.org
    title: str
    upload_timeout: float  # seconds one file's upload may take


def zenodo_settings(settings: Settings) -> ZenodoSettings | None:
    """Read ``settings``; None when no Zenodo is to be used (offline, and none named, or ``url = ""``)."""
    url = settings.url("url", "" if settings.offline else PUBLIC_URL)
    if not url:
        return None
    if url.rstrip("/").endswith("/api"):
        raise SettingsError(settings.where, "url", "is the site's address (https://zenodo.org), without /api")
    return ZenodoSettings(
        url=url.rstrip("/"),
        title=settings.text("title", "Zenodo"),
        upload_timeout=float(settings.number("upload_timeout", 3600, positive=True)),
    )
