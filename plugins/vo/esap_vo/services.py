"""Querying a service found in the registry: what ESAP's pages call on the registry archive.

The methods of esap_core's ``ServiceRegistry`` capability: ``service_of`` says which
registry rows are services ESAP can query, ``tables``/``table``/``run_query``/
``submit_query``/``job_phase``/``job_results``/``cancel_job`` drive a TAP service,
``cone_search`` a cone search, and ``service_item`` turns one of their rows into a
basket item. Every failure leaves as an ArchiveError; bad input too.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from esap_core import (
    MAX_IDENTIFIER,
    ArchiveError,
    DataItem,
    ResultPage,
    Service,
    ServiceRegistry,
    TableInfo,
    UserContext,
    item_identifier,
)
from esap_vo import adql, cone, position, tap
from esap_vo.session import picked_by_user

QUERYABLE = ("tap", "scs")
# Columns that name a row, most telling first: ObsCore, Gaia, Simbad, and the common plain ones.
KEY_COLUMNS = ("obs_publisher_did", "obs_id", "source_id", "main_id", "name", "id")
RA_COLUMNS = ("ra", "s_ra", "raj2000", "ra_icrs")
DEC_COLUMNS = ("dec", "s_dec", "dej2000", "de_icrs")
ONE_TABLE = re.compile(
    r"\bFROM\s+([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*(?:AS\s+\w+\s*)?(?:WHERE|ORDER|$)", re.IGNORECASE
)
SOURCE_RADIUS = 1 / 3600  # degrees: a cone of one arcsecond finds the row's own source again
MAX_ROWS = 100_000


def checked_url(url: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ArchiveError(f"{str(url)[:80]!r} is not an http(s) service URL")
    return url


def checked_rows(max_rows: Any) -> int:
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or not 1 <= max_rows <= MAX_ROWS:
        raise ArchiveError(f"the row limit must be a whole number from 1 to {MAX_ROWS}")
    return max_rows


class ServiceQueries(ServiceRegistry):
    """The registry archive's capability: query TAP and cone search services picked from its rows.

    Those services come from the registry's answer, so ESAP treats their addresses as a
    user's choice: internal addresses only where ``private_services`` allows them.
    """

    private_services: bool | None = None  # None: as ESAP's allow_private_facilities says

    def service_of(self, row: Mapping[str, Any]) -> Service | None:
        """The service of a registry row ESAP can query (``tap`` or ``scs``), else None."""
        kind, url = row.get("service_type"), row.get("access_url")
        if kind in QUERYABLE and isinstance(url, str) and url.startswith(("http://", "https://")):
            return Service(kind, url)
        return None

    def tables(self, service: str, user: UserContext, timeout: float) -> list[TableInfo]:
        """The tables of a TAP service (name and description)."""
        with picked_by_user(self.private_services):
            return tap.tables(checked_url(service), timeout)

    def table(self, service: str, name: str, user: UserContext, timeout: float) -> TableInfo:
        """One table of a TAP service, with its columns (unit, UCD, description)."""
        with picked_by_user(self.private_services):
            return tap.table(checked_url(service), name, timeout)

    def run_query(self, service: str, statement: str, max_rows: int, user: UserContext, timeout: float) -> ResultPage:
        """Run ADQL synchronously; at most ``max_rows`` rows, all in one page."""
        with picked_by_user(self.private_services):
            return tap.query(checked_url(service), statement, timeout, checked_rows(max_rows))

    def submit_query(self, service: str, statement: str, max_rows: int, user: UserContext, timeout: float) -> str:
        """Start an async (UWS) job; returns its URL, the job's handle from now on."""
        with picked_by_user(self.private_services):
            return tap.submit_job(checked_url(service), statement, timeout, checked_rows(max_rows))

    def job_phase(self, job: str, user: UserContext, timeout: float) -> str:
        with picked_by_user(self.private_services):
            return tap.job_phase(checked_url(job), timeout)

    def job_results(self, job: str, user: UserContext, timeout: float) -> ResultPage:
        with picked_by_user(self.private_services):
            return tap.job_results(checked_url(job), timeout)

    def cancel_job(self, job: str, user: UserContext, timeout: float) -> None:
        with picked_by_user(self.private_services):
            tap.cancel_job(checked_url(job), timeout)

    def cone_search(
        self, service: str, ra: Any, dec: Any, radius: Any, user: UserContext, timeout: float
    ) -> ResultPage:
        try:
            with picked_by_user(self.private_services):
                return cone.cone_search(checked_url(service), ra, dec, radius, timeout)
        except ValueError as error:
            raise ArchiveError(str(error)) from None

    def service_item(self, kind: str, service: str, row: Mapping[str, Any], statement: str = "") -> DataItem:
        """A row of a picked service as a basket item; checks the row again (it may come from a browser).

        The fetch hint is the row's access URL when it has one; else, for TAP, ADQL selecting the
        row by its key column when the query read one table (the query itself otherwise), and for
        a cone search the service asked for a one-arcsecond cone around the row.
        """
        service = checked_url(service)
        if kind not in QUERYABLE:
            raise ArchiveError(f"unknown service kind {kind!r}")
        if not isinstance(row, Mapping) or not row:
            raise ArchiveError("an empty row cannot go into the basket")
        key = next((name for name in KEY_COLUMNS if row.get(name) not in (None, "")), None)
        label = str(row[key]) if key else ""
        access_url = row.get("access_url")
        by_query: dict[str, Any] | None = None
        if kind == "tap":
            if not isinstance(statement, str) or not statement.strip():
                raise ArchiveError("a TAP row needs the query it came from")
            by_query = {"method": "tap", "service": service, "adql": row_query(statement, key, row)}
        if isinstance(access_url, str) and access_url.startswith(("http://", "https://")):
            fetch: dict[str, Any] = {"method": "http", "url": access_url}
        elif by_query is not None:
            fetch = by_query
        else:
            fetch = {"method": "http", "url": source_cone(service, row)}
        digest = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[:16]
        identifier = (
            item_identifier(service, {key: label}, separator="#") if key else item_identifier(f"{service}#{digest}")
        )
        payload: dict[str, Any] = {"row": dict(row), "service": service, "service_type": kind}
        if by_query is not None:
            payload["tap"] = by_query
        title = (label or identifier)[:MAX_IDENTIFIER]
        return DataItem(identifier=identifier, title=title, fetch=fetch, payload=payload)


def row_query(statement: str, key: str | None, row: Mapping[str, Any]) -> str:
    """ADQL selecting just this row when the query read one table and the row has a key; else the query."""
    found = ONE_TABLE.search(statement)
    if key is None or found is None or " JOIN " in statement.upper():
        return statement
    value = row[key]
    literal = repr(value) if isinstance(value, int | float) and not isinstance(value, bool) else adql.string(str(value))
    return f"SELECT * FROM {adql.table_name(found.group(1))} WHERE {adql.column_name(key)} = {literal}"


def source_cone(service: str, row: Mapping[str, Any]) -> str:
    """The cone search URL of a one-arcsecond cone around the row's position."""
    lowered = {str(name).lower(): value for name, value in row.items()}
    ra = next((lowered[name] for name in RA_COLUMNS if lowered.get(name) is not None), None)
    dec = next((lowered[name] for name in DEC_COLUMNS if lowered.get(name) is not None), None)
    try:
        where = position.cone(ra, dec, SOURCE_RADIUS)
    except ValueError as error:
        raise ArchiveError(f"this row has no access URL and no usable position ({error})") from None
    separator = "" if service.endswith(("?", "&")) else ("&" if "?" in service else "?")
    return f"{service}{separator}{urllib.parse.urlencode({'RA': where.ra, 'DEC': where.dec, 'SR': where.radius})}"
