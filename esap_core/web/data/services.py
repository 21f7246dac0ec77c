"""Services an archive's registry lists (:class:`ServiceRegistry`): TAP (tables, columns, ADQL) and cone search."""

from __future__ import annotations

from typing import Any

from flask import render_template, request, url_for

from esap_core import discovery
from esap_core.auth import login_required
from esap_core.discovery import KIND_FIELDS, Outcome, QueryError
from esap_core.hookspecs import (
    Archive,
    ArchiveError,
    CredentialsExpired,
    FieldType,
    QueryField,
    QueryKind,
)
from esap_core.web.data.common import (
    SERVICE_KINDS,
    archive_or_404,
    ask,
    blueprint,
    failure,
    service_from_request,
    service_params,
)
from esap_core.web.data.panels import panel
from esap_core.web.rendering import render

DEFAULT_MAX_ROWS = 100


@blueprint.get("/data/archives/<archive_name>/service")
@login_required
def service(archive_name: str):
    """A service picked from the registry: TAP (tables, columns, ADQL, sync or async) or cone search."""
    archive = archive_or_404(archive_name)
    kind, url = service_from_request(archive)
    params = service_params(kind, url)
    title = request.args.get("title", "")[:300]
    context: dict[str, Any] = {
        "archive": archive,
        "kind": kind,
        "kind_label": SERVICE_KINDS[kind],
        "url": url,
        "params": params,
        "title": title,
        "problems": {},
        "results_url": None,
        "confirm_async": False,
    }
    if kind == "tap":
        context.update(tap_form(archive, params, title))
    else:
        context.update(cone_form(archive, params, title))
    return render("data_service.html", **context), (400 if context["problems"] else 200)


def max_rows_of(value: Any) -> int:
    spec = QueryField("max_rows", "Row limit", FieldType.INTEGER, minimum=1, maximum=100_000)
    return discovery.check([spec], {"max_rows": value or DEFAULT_MAX_ROWS})["max_rows"]


def tap_form(archive: Archive, params: dict[str, str], title: str) -> dict[str, Any]:
    table = request.args.get("table", "")[:200]
    adql = request.args.get("adql", "")
    mode = "async" if request.args.get("mode") == "async" else "sync"
    context: dict[str, Any] = {
        "table": table,
        "adql": adql or (f"SELECT TOP 100 * FROM {table}" if table else ""),
        "max_rows": request.args.get("max_rows", str(DEFAULT_MAX_ROWS)),
        "mode": mode,
        "tables_url": url_for("data.service_tables", archive_name=archive.name, title=title, **params),
        "columns_url": url_for("data.service_table", archive_name=archive.name, table=table, **params)
        if table
        else None,
        "jobs_url": url_for("data.submit_job", archive_name=archive.name),
    }
    if not adql:
        return context
    try:
        max_rows = max_rows_of(request.args.get("max_rows"))
    except QueryError as error:
        return {**context, "problems": error.problems}
    if len(adql) > 20_000:
        return {**context, "problems": {"adql": "The query is too long (at most 20,000 characters)."}}
    if mode == "async":
        return {**context, "confirm_async": True}
    query = {"adql": adql, "max_rows": max_rows}
    results_url = url_for("data.service_results", archive_name=archive.name, title=title, **params, **query)
    return {**context, "results_url": results_url}


def cone_form(archive: Archive, params: dict[str, str], title: str) -> dict[str, Any]:
    values = {name: request.args.get(name, "") for name in ("ra", "dec", "radius")}
    context: dict[str, Any] = {"values": values, "fields": KIND_FIELDS[QueryKind.POSITION]}
    if not (values["ra"] or values["dec"]):
        return context
    try:
        checked = discovery.check_kind(QueryKind.POSITION, values)
    except QueryError as error:
        return {**context, "problems": error.problems}
    query = {name: request.args.get(name) or checked[name] for name in checked}
    return {
        **context,
        "results_url": url_for("data.service_results", archive_name=archive.name, title=title, **params, **query),
    }


@blueprint.get("/data/archives/<archive_name>/service/tables")
@login_required
def service_tables(archive_name: str):
    archive = archive_or_404(archive_name)
    kind, url = service_from_request(archive)
    params = service_params(kind, url)
    try:
        tables = ask(archive, lambda user, left: archive.tables(url, user, left))
    except (ArchiveError, CredentialsExpired) as error:
        return render_template("_data_tables.html", error=failure(archive, error).message, tables=[])
    title = request.args.get("title", "")[:300]
    links = [url_for("data.service", archive_name=archive.name, table=t.name, title=title, **params) for t in tables]
    return render_template("_data_tables.html", tables=list(zip(tables, links, strict=True)), error="")


@blueprint.get("/data/archives/<archive_name>/service/table")
@login_required
def service_table(archive_name: str):
    archive = archive_or_404(archive_name)
    kind, url = service_from_request(archive)
    table_name = request.args.get("table", "")
    try:
        table = ask(archive, lambda user, left: archive.table(url, table_name, user, left))
    except (ArchiveError, CredentialsExpired) as error:
        return render_template("_data_columns.html", error=failure(archive, error).message, table=None)
    return render_template("_data_columns.html", table=table, error="")


@blueprint.get("/data/archives/<archive_name>/service/results")
@login_required
def service_results(archive_name: str):
    """A synchronous ADQL query or a cone search, paged by ESAP."""
    archive = archive_or_404(archive_name)
    kind, url = service_from_request(archive)
    title = request.args.get("title", "")[:300]
    try:
        if kind == "tap":
            adql = request.args.get("adql", "")
            max_rows = max_rows_of(request.args.get("max_rows"))
            query = {"adql": adql, "max_rows": max_rows}
            source = {"kind": kind, "url": url, "adql": adql}
            result = ask(archive, lambda user, left: archive.run_query(url, adql, max_rows, user, left))
        else:
            query = discovery.check_kind(QueryKind.POSITION, request.args)
            source = {"kind": kind, "url": url, "adql": ""}
            ra, dec, radius = query["ra"], query["dec"], query["radius"]
            result = ask(archive, lambda user, left: archive.cone_search(url, ra, dec, radius, user, left))
        outcome = Outcome(archive.name, title or url, result=result)
    except QueryError as error:
        outcome, source, query = failure(archive, error, "invalid"), None, {}
    except (ArchiveError, CredentialsExpired) as error:
        outcome, source, query = failure(archive, error), None, {}
    params = service_params(kind, url)

    def page_url(number: int) -> str:
        return url_for("data.service_results", archive_name=archive.name, page=number, title=title, **params, **query)

    return panel(archive, outcome, page_url, source=source, local_paging=True)
