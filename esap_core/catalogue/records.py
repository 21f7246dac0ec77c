"""A record as the API shows it."""

from __future__ import annotations

from typing import Any

from esap_core.models import Software


def as_dict(software: Software) -> dict[str, Any]:
    """A record as the API shows it."""
    return {
        "id": software.id,
        "source": software.source,
        "external_id": software.external_id,
        "private": software.owner_id is not None,
        "name": software.name,
        "description": software.description,
        "repository_url": software.repository_url,
        "ref": software.ref,
        "path": software.path,
        "version": software.version,
        "doi": software.doi,
        "authors": list(software.authors or []),
        "keywords": list(software.keywords or []),
        "runtime_platform": software.runtime_platform,
        "ui_type": software.ui_type,
        "licence": software.licence,
        "updated": software.updated,
        "harvested": software.harvested,
    }
