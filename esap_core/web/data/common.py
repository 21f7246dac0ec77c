"""What every data page uses: the blueprint, finding an archive and asking it, signed rows and links.

Rows go back to "add to basket" as tokens signed with the app's secret key (archive, user and
row inside): the browser cannot forge an item for an archive. Service and job links are
signed too, so a page only ever queries a service ESAP itself linked to.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from flask import Blueprint, abort, current_app, request
from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer

from esap_core import basket, discovery
from esap_core.auth import current_context, current_user
from esap_core.discovery import Outcome
from esap_core.hookspecs import (
    Archive,
    CredentialsExpired,
    ServiceRegistry,
    UserContext,
    detail_of,
)

blueprint = Blueprint("data", __name__)

MAX_ROW_BYTES = 48 * 1024  # a bigger row is shown but cannot be selected
ROW_MAX_AGE = 24 * 3600  # seconds a result page's rows can be added from
SERVICE_KINDS = {"tap": "Table access (TAP, ADQL)", "scs": "Cone search"}


# --- looking things up ------------------------------------------------------------------


def registered() -> dict[str, Archive]:
    return current_app.extensions["esap.plugins"].archives


def archive_or_404(name: str) -> Archive:
    archive = registered().get(name)
    if archive is None:
        abort(404, f"There is no archive named {name!r}.")
    return archive


def timeout() -> float:
    return current_app.extensions["esap.config"].archive_timeout


def ask(archive: Archive, function: Callable[[UserContext, float], Any]) -> Any:
    """Call ``function(user, seconds left)`` on the archive's clock; raises ArchiveError or CredentialsExpired."""
    user = current_context()  # read here: the worker thread has the app but not the request
    return discovery.call(archive, lambda left: function(user, left), timeout())


def failure(archive: Archive, error: Exception, status: str = "error") -> Outcome:
    if isinstance(error, CredentialsExpired):
        return Outcome(archive.name, archive.label, message=discovery.RELOGIN, status="login")
    return Outcome(archive.name, archive.label, message=str(error), status=status, detail=detail_of(error))


def fields_of(archive: Archive) -> dict[str, str]:
    """The archive's query values in this request, as typed (for forms and links)."""
    return {spec.name: request.args[spec.name] for spec in archive.fields if request.args.get(spec.name)}


# --- signing rows, services and jobs -----------------------------------------------------


def _rows() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="esap.data.row")


def _signer(salt: str) -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt=salt)


def row_token(
    archive: Archive, row: Mapping[str, Any], source: Mapping[str, Any] | None, number: int | None = None
) -> str | None:
    """A signed token carrying the row and its number in the table (None when the row is too big to keep)."""
    if len(json.dumps(row, default=str)) > MAX_ROW_BYTES:
        return None
    return _rows().dumps({"a": archive.name, "u": current_user().id, "r": row, "s": source, "n": number})


class SelectedRow(NamedTuple):
    row: dict[str, Any]
    source: dict[str, Any] | None
    number: int | None  # as the table showed it ("Select row 3"), to name a row the basket refused


def read_row_token(archive: Archive, token: str) -> SelectedRow:
    try:
        data = _rows().loads(token, max_age=ROW_MAX_AGE)
    except BadSignature:
        raise basket.BasketError("A selected row is not from this page or is over a day old: search again.") from None
    if data.get("a") != archive.name or data.get("u") != current_user().id or not isinstance(data.get("r"), dict):
        raise basket.BasketError(f"A selected row is not a result of {archive.label}.")
    number = data.get("n")
    return SelectedRow(data["r"], data.get("s"), number if isinstance(number, int) else None)


def signature(kind: str, value: str) -> str:
    return _signer(f"esap.data.{kind}").get_signature(value).decode()


def signed(kind: str, value: str, sent: str) -> bool:
    return bool(value) and _signer(f"esap.data.{kind}").verify_signature(value, sent or "")


def service_params(kind: str, url: str) -> dict[str, str]:
    return {"kind": kind, "url": url, "sig": signature("service", f"{kind} {url}")}


def service_from_request(archive: Archive) -> tuple[str, str]:
    """The (kind, URL) of the service in this request, which must come from one of ESAP's own links."""
    if not isinstance(archive, ServiceRegistry):
        abort(404, f"{archive.label} has no services to query.")
    kind, url = request.values.get("kind", ""), request.values.get("url", "")
    if kind not in SERVICE_KINDS or not signed("service", f"{kind} {url}", request.values.get("sig", "")):
        abort(400, "This service link is not valid: search the registry again and pick the service from there.")
    return kind, url


def job_from_request() -> str:
    job = request.values.get("job", "")
    if not signed("job", job, request.values.get("jsig", "")):
        abort(400, "This job link is not valid: run the query again.")
    return job
