"""Harvested records kept: stored when new or changed (by fingerprint), removed when their source dropped them."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from esap_core.catalogue.cleaning import record_values
from esap_core.db import session
from esap_core.hookspecs import SoftwareRecord
from esap_core.models import Software, now

NEW, UPDATED, UNCHANGED = "new", "updated", "unchanged"


def fingerprint(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def upsert(source: str, record: SoftwareRecord) -> str:
    """Store a harvested (public) record: :data:`NEW`, :data:`UPDATED` or :data:`UNCHANGED` (by fingerprint)."""
    values = record_values(record)
    digest = fingerprint(values)
    try:
        return _store(source, values, digest)
    except IntegrityError:  # another harvest of this source stored it meanwhile (uq_software_public)
        session().rollback()
        return _store(source, values, digest)


def _store(source: str, values: dict[str, Any], digest: str) -> str:
    db = session()
    existing = db.scalar(
        select(Software).where(
            Software.source == source, Software.external_id == values["external_id"], Software.owner_id.is_(None)
        )
    )
    if existing is not None and existing.fingerprint == digest:
        return UNCHANGED
    if existing is None:
        db.add(Software(source=source, owner_id=None, fingerprint=digest, harvested=now(), **values))
    else:
        for key, value in values.items():
            setattr(existing, key, value)
        existing.fingerprint, existing.harvested = digest, now()
    db.commit()
    return NEW if existing is None else UPDATED


def remove_missing(source: str, kept_ids: set[str]) -> int:
    """After a full harvest: remove the source's public records it no longer lists."""
    db = session()
    query = delete(Software).where(Software.source == source, Software.owner_id.is_(None))
    if kept_ids:
        query = query.where(Software.external_id.not_in(kept_ids))
    result = db.execute(query)
    db.commit()
    return result.rowcount


def count(source: str | None = None) -> int:
    query = select(func.count()).select_from(Software).where(Software.owner_id.is_(None))
    if source is not None:
        query = query.where(Software.source == source)
    return session().scalar(query)
