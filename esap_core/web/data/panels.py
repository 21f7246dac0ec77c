"""An archive's answer as a panel: the table with selection, paging and sky plot, or its message."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from flask import render_template, request, url_for

from esap_core import discovery
from esap_core.discovery import Outcome, QueryError
from esap_core.hookspecs import (
    Archive,
    Column,
    DidCatalogue,
    ResultPage,
    ServiceRegistry,
)
from esap_core.web import skyplot
from esap_core.web.data.common import SERVICE_KINDS, row_token, service_params
from esap_core.web.rendering import htmx, render

log = logging.getLogger(__name__)
STATUS_CODES = {"invalid": 400, "login": 401, "error": 502, "timeout": 504}
PAGE_SIZE = 50  # rows per page when ESAP pages a result itself (services, jobs)


def panel(
    archive: Archive,
    outcome: Outcome,
    page_url: Callable[[int], str],
    source: Mapping[str, Any] | None,
    fanout: bool = False,
    local_paging: bool = False,
):
    """Render an outcome: the table with selection, paging and sky plot, or the archive's message."""
    result = outcome.result
    context: dict[str, Any] = {"archive": archive, "outcome": outcome, "fanout": fanout}
    if result is not None:
        if local_paging:
            result = page_of(result, request.args.get("page"))
        context.update(table_context(archive, result, source, page_url))
    if htmx and not htmx.boosted:
        return render_template("_data_results.html", **context)
    return render("data_results.html", **context), STATUS_CODES.get(outcome.status, 200)


def page_of(result: ResultPage, page_arg: Any) -> ResultPage:
    """One page of a result ESAP holds whole (a synchronous query, a cone search, a job's result)."""
    try:
        page = discovery.check_page(page_arg)
    except QueryError:
        page = 1
    rows = result.rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return replace(result, rows=rows, page=page, page_size=PAGE_SIZE, total=len(result.rows))


def table_context(
    archive: Archive, result: ResultPage, source: Mapping[str, Any] | None, page_url: Callable[[int], str]
) -> dict[str, Any]:
    rows = result.rows
    more = result.total > result.page * result.page_size if result.total is not None else len(rows) >= result.page_size
    services = [service_link(archive, row) for row in rows] if isinstance(archive, ServiceRegistry) else []
    dids = [did_link(archive, row) for row in rows] if isinstance(archive, DidCatalogue) else []
    services, dids = (services if any(services) else []), (dids if any(dids) else [])  # no empty column
    columns = result.columns or [Column(name) for name in (rows[0] if rows else {})]
    first_row = (result.page - 1) * result.page_size + 1
    return {
        "result": result,
        "columns": columns,
        "tokens": [row_token(archive, row, source, first_row + index) for index, row in enumerate(rows)],
        "services": services,
        "dids": dids,
        "previous_url": page_url(result.page - 1) if result.page > 1 else None,
        "next_url": page_url(result.page + 1) if rows and more else None,
        "first_row": first_row,
        "sky": skyplot.svg(skyplot.points(columns, rows), archive.label),
    }


def service_link(archive: Archive, row: Mapping[str, Any]) -> str | None:
    try:
        found = archive.service_of(row)
    except Exception:  # a row the plugin cannot read is simply not queryable
        log.exception("archive %r: service_of failed", archive.name)
        return None
    if not found or found[0] not in SERVICE_KINDS:
        return None
    return url_for(
        "data.service", archive_name=archive.name, **service_params(*found), title=str(row.get("title") or "")
    )


def did_link(archive: Archive, row: Mapping[str, Any]) -> str | None:
    did = row.get("did")
    return url_for("data.did", archive_name=archive.name, did=did) if isinstance(did, str) and ":" in did else None
