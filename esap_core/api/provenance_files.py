"""A launch's or a job's provenance as files: one RO-Crate ZIP and one W3C PROV-JSON answer for both."""

from __future__ import annotations

from typing import Any

from flask import Response

from esap_core import provenance
from esap_core.auth import current_user
from esap_core.models import Job, Launch
from esap_core.security import external_url


def crate_doc(kind: str) -> dict[str, Any]:
    """The OpenAPI responses of ``.../provenance.crate.zip`` for a ``kind`` ("launch" or "job")."""
    return {
        "200": {
            "description": f"An RO-Crate (1.3) of the {kind}: a ZIP holding ro-crate-metadata.json",
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        },
        "404": {"description": f"No such {kind} of yours"},
    }


def prov_doc(kind: str) -> dict[str, Any]:
    """The OpenAPI responses of ``.../provenance.prov.json``."""
    return {
        "200": {
            "description": f"W3C PROV-JSON of the {kind}",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "404": {"description": f"No such {kind} of yours"},
    }


def _named(record: Launch | Job) -> tuple[str, str, str]:
    """(kind, ESAP's page of the record, who ran it) as the crate and the PROV document name them."""
    user = current_user()
    if isinstance(record, Launch):
        return "launch", external_url("launches.show", launch_id=record.id), user.name or user.username
    return "job", external_url("jobs.show", job_id=record.id), user.name or user.username


def crate(record: Launch | Job) -> Response:
    kind, url, who = _named(record)
    return Response(
        provenance.crate_zip(record, url, who),
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="esap-{kind}-{record.id}.crate.zip"'},
    )


def prov(record: Launch | Job) -> Response:
    kind, url, who = _named(record)
    return Response(
        provenance.prov_json(record, url, who),
        mimetype="application/json",
        headers={"Content-Disposition": f'inline; filename="esap-{kind}-{record.id}.prov.json"'},
    )
