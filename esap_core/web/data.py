"""The data pages: one form across all archives, each archive's own form, results, services and DIDs.

Each archive's results load as their own HTMX fragment, so a slow archive delays only
its own panel. Rows go back to "add to basket" as tokens signed with the app's secret
key (archive, user and row inside): the browser cannot forge an item for an archive,
and each row is checked again by the archive's ``basket_item`` before it is added.

Pages reach a plugin's extra functions through optional methods of its Archive
(duck typing, see docs/data.md): ``service_of``, ``tables``, ``table``, ``run_query``,
``submit_query``, ``job_phase``, ``job_results``, ``cancel_job``, ``cone_search``,
``service_item`` (a registry whose services can be queried), and ``scopes``,
``metadata``, ``contents``, ``replicas`` (an archive of DIDs, such as Rucio).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, make_response, render_template, request, url_for
from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer

from esap_core import basket, discovery
from esap_core.auth import current_context, current_user, login_required
from esap_core.discovery import KIND_FIELDS, Outcome, QueryError
from esap_core.hookspecs import (
    Archive,
    ArchiveError,
    Column,
    CredentialsExpired,
    DataItem,
    FieldType,
    QueryField,
    QueryKind,
    ResultPage,
    UserContext,
)
from esap_core.security import safe_next
from esap_core.web import htmx, render, skyplot
from esap_core.web.basket import CHANGED

log = logging.getLogger(__name__)
blueprint = Blueprint("data", __name__)

PAGE_SIZE = 50  # rows per page when ESAP pages a result itself (services, jobs)
MAX_SELECTED = 200  # rows added to the basket at once
MAX_ROW_BYTES = 48 * 1024  # a bigger row is shown but cannot be selected
ROW_MAX_AGE = 24 * 3600  # seconds a result page's rows can be added from
DEFAULT_MAX_ROWS = 100
FINAL_PHASES = {"COMPLETED", "ERROR", "ABORTED"}
SERVICE_KINDS = {"tap": "Table access (TAP, ADQL)", "scs": "Cone search"}
STATUS_CODES = {"invalid": 400, "login": 401, "error": 502, "timeout": 504}
SERVICE_METHODS = ("service_of", "service_item")
DID_METHODS = ("metadata", "contents", "replicas")


# --- looking things up ------------------------------------------------------------------


def registered() -> dict[str, Archive]:
    return current_app.extensions["esap.plugins"].archives


def archive_or_404(name: str) -> Archive:
    archive = registered().get(name)
    if archive is None:
        abort(404, f"There is no archive named {name!r}.")
    return archive


def offers(archive: Archive, *methods: str) -> bool:
    return all(callable(getattr(archive, method, None)) for method in methods)


def timeout() -> float:
    return current_app.extensions["esap.config"].archive_timeout


def ask(archive: Archive, function: Callable[[UserContext, float], Any]) -> Any:
    """Call ``function(user, seconds left)`` on the archive's clock; raises ArchiveError or CredentialsExpired."""
    user = current_context()  # read here: the worker thread has the app but not the request
    return discovery.call(archive, lambda left: function(user, left), timeout())


def failure(archive: Archive, error: Exception, status: str = "error") -> Outcome:
    if isinstance(error, CredentialsExpired):
        return Outcome(archive.name, archive.title or archive.name, message=discovery.RELOGIN, status="login")
    return Outcome(archive.name, archive.title or archive.name, message=str(error), status=status)


def fields_of(archive: Archive) -> dict[str, str]:
    """The archive's query values in this request, as typed (for forms and links)."""
    return {spec.name: request.args[spec.name] for spec in archive.fields if request.args.get(spec.name)}


# --- signing rows, services and jobs -----------------------------------------------------


def _rows() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="esap.data.row")


def _signer(salt: str) -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt=salt)


def row_token(archive: Archive, row: Mapping[str, Any], source: Mapping[str, Any] | None) -> str | None:
    """A signed token carrying the row (None when the row is too big to keep)."""
    if len(json.dumps(row, default=str)) > MAX_ROW_BYTES:
        return None
    return _rows().dumps({"a": archive.name, "u": current_user().id, "r": row, "s": source})


def read_row_token(archive: Archive, token: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    try:
        data = _rows().loads(token, max_age=ROW_MAX_AGE)
    except BadSignature:
        raise basket.BasketError("A selected row is not from this page or is over a day old: search again.") from None
    if data.get("a") != archive.name or data.get("u") != current_user().id or not isinstance(data.get("r"), dict):
        raise basket.BasketError(f"A selected row is not a result of {archive.title or archive.name}.")
    return data["r"], data.get("s")


def signature(kind: str, value: str) -> str:
    return _signer(f"esap.data.{kind}").get_signature(value).decode()


def signed(kind: str, value: str, sent: str) -> bool:
    return bool(value) and _signer(f"esap.data.{kind}").verify_signature(value, sent or "")


def service_params(kind: str, url: str) -> dict[str, str]:
    return {"kind": kind, "url": url, "sig": signature("service", f"{kind} {url}")}


def service_from_request(archive: Archive) -> tuple[str, str]:
    """The (kind, URL) of the service in this request, which must come from one of ESAP's own links."""
    if not offers(archive, *SERVICE_METHODS):
        abort(404, f"{archive.title or archive.name} has no services to query.")
    kind, url = request.values.get("kind", ""), request.values.get("url", "")
    if kind not in SERVICE_KINDS or not signed("service", f"{kind} {url}", request.values.get("sig", "")):
        abort(400, "This service link is not valid: search the registry again and pick the service from there.")
    return kind, url


def job_from_request() -> str:
    job = request.values.get("job", "")
    if not signed("job", job, request.values.get("jsig", "")):
        abort(400, "This job link is not valid: run the query again.")
    return job


# --- pages: the one form, an archive's own form ------------------------------------------


@blueprint.get("/data")
@login_required
def search():
    """One question (a position, a target or keywords) sent to every archive that can answer it."""
    archives = list(registered().values())
    values = {spec.name: request.args.get(spec.name, "") for specs in KIND_FIELDS.values() for spec in specs}
    asked = any(request.args.get(name) for name in ("ra", "dec", "target", "keywords"))
    panels, problems, kind = [], {}, None
    if asked:
        try:
            kind = discovery.kind_of(request.args)
            checked = discovery.check_kind(kind, request.args)
        except QueryError as error:
            problems = error.problems
        else:
            query = {"kind": kind.value, **{name: request.args[name] for name in checked if request.args.get(name)}}
            panels = [
                (archive, url_for("data.results", archive_name=archive.name, **query))
                for archive in discovery.answering(archives, kind)
            ]
    status = 400 if problems else 200
    return render(
        "data.html",
        archives=archives,
        kinds=KIND_FIELDS,
        kind=kind,
        values=values,
        problems=problems,
        asked=asked and not problems,
        panels=panels,
    ), status


@blueprint.get("/data/archives/<archive_name>")
@login_required
def archive_page(archive_name: str):
    """An archive's own form, built from its fields; its results load below it."""
    archive = archive_or_404(archive_name)
    given = fields_of(archive)
    problems: dict[str, str] = {}
    results_url = None
    if given or "search" in request.args:
        try:
            discovery.archive_query(archive, request.args)
        except QueryError as error:
            problems = error.problems
        else:
            results_url = url_for("data.results", archive_name=archive.name, **given)
    return render(
        "data_archive.html",
        archive=archive,
        values={spec.name: request.args.get(spec.name, "") for spec in archive.fields},
        problems=problems,
        results_url=results_url,
        has_scopes=offers(archive, "scopes"),
    ), (400 if problems else 200)


@blueprint.get("/data/archives/<archive_name>/results")
@login_required
def results(archive_name: str):
    """One archive's answer as a panel: the fragment the pages load, or a page of its own."""
    archive = archive_or_404(archive_name)
    kind_name = request.args.get("kind")
    given = fields_of(archive)
    kind = None
    try:
        kind = QueryKind(kind_name) if kind_name else None
        if kind is not None and kind not in archive.answers:
            raise QueryError({"kind": f"{archive.title or archive.name} does not answer {kind.value} searches."})
        page = discovery.check_page(request.args.get("page"))
        query = discovery.archive_query(archive, request.args, kind)
    except ValueError as error:  # QueryError, or an unknown kind
        message = str(error) if isinstance(error, QueryError) else f"Unknown kind of search {kind_name!r}."
        outcome = Outcome(archive.name, archive.title or archive.name, message=message, status="invalid")
    else:
        outcome = discovery.ask(archive, query, page, current_context(), timeout())
        if kind is not None:
            given = {"kind": kind.value, **{k: request.args[k] for k in query if request.args.get(k)}}

    def page_url(number: int) -> str:
        return url_for("data.results", archive_name=archive.name, page=number, **given)

    return panel(archive, outcome, page_url, source=None, fanout=kind is not None)


# --- the results panel -------------------------------------------------------------------


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
    services = [service_link(archive, row) for row in rows] if offers(archive, *SERVICE_METHODS) else []
    dids = [did_link(archive, row) for row in rows] if offers(archive, *DID_METHODS) else []
    services, dids = (services if any(services) else []), (dids if any(dids) else [])  # no empty column
    columns = result.columns or [Column(name) for name in (rows[0] if rows else {})]
    return {
        "result": result,
        "columns": columns,
        "tokens": [row_token(archive, row, source) for row in rows],
        "services": services,
        "dids": dids,
        "previous_url": page_url(result.page - 1) if result.page > 1 else None,
        "next_url": page_url(result.page + 1) if rows and more else None,
        "first_row": (result.page - 1) * result.page_size + 1,
        "sky": skyplot.svg(skyplot.points(columns, rows), archive.title or archive.name),
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


# --- add to basket ------------------------------------------------------------------------


@blueprint.post("/data/archives/<archive_name>/basket")
@login_required
def add(archive_name: str):
    """Add the selected rows: each token checked, each row turned into an item by the archive, or nothing."""
    archive = archive_or_404(archive_name)
    tokens = request.form.getlist("row")
    try:
        if not tokens:
            raise basket.BasketError("Select the rows to add first.")
        if len(tokens) > MAX_SELECTED:
            raise basket.BasketError(f"Add at most {MAX_SELECTED} rows at once.")
        items = [new_item(archive, *read_row_token(archive, token)) for token in tokens]
        added = basket.add(current_user(), items)
    except basket.BasketError as error:
        return added_response(error=str(error), status=getattr(error, "status", 400))
    response = added_response(added=added, selected=len(items))
    response.headers["HX-Trigger"] = CHANGED
    return response


def new_item(archive: Archive, row: dict[str, Any], source: dict[str, Any] | None) -> basket.NewItem:
    """The archive's basket item for a row, checked again by the archive and by the basket."""
    try:
        if source is None:
            item = archive.basket_item(row)
        else:
            item = archive.service_item(source["kind"], source["url"], row, source.get("adql", ""))
    except ArchiveError as error:
        raise basket.BasketError(f"{archive.title or archive.name} refused a row: {error}") from None
    except Exception:
        log.exception("archive %r: making a basket item failed", archive.name)
        raise basket.BasketError(f"{archive.title or archive.name} could not make a basket item of a row.") from None
    if not isinstance(item, DataItem):
        raise basket.BasketError(f"{archive.title or archive.name} did not make a basket item of a row.")
    return basket.data_item(archive.name, item.identifier, item.title, dict(item.fetch), dict(item.payload))


def added_response(status: int = 200, **context):
    if htmx:
        # HTMX swaps only successful answers: the message is the content either way.
        return make_response(render_template("_data_added.html", **context))
    back = safe_next(urlsplit(request.referrer or "").path) if request.referrer else url_for("data.search")
    return make_response(render("data_added.html", back=back, **context), status)


# --- registry services: TAP and cone search -----------------------------------------------


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


# --- async TAP jobs ---------------------------------------------------------------------


@blueprint.post("/data/archives/<archive_name>/jobs")
@login_required
def submit_job(archive_name: str):
    """Start an async query; the answer sends the browser to the job's page."""
    archive = archive_or_404(archive_name)
    kind, url = service_from_request(archive)
    adql = request.form.get("adql", "")
    title = request.form.get("title", "")[:300]
    try:
        if kind != "tap" or not adql.strip():
            raise ArchiveError("Only TAP services run jobs, and a job needs an ADQL query.")
        max_rows = max_rows_of(request.form.get("max_rows"))
        job = ask(archive, lambda user, left: archive.submit_query(url, adql, max_rows, user, left))
    except (ArchiveError, CredentialsExpired, QueryError) as error:
        outcome = failure(archive, error, "invalid" if isinstance(error, QueryError) else "error")
        return panel(archive, outcome, lambda number: "", source=None)
    target = url_for(
        "data.job",
        archive_name=archive.name,
        job=job,
        jsig=signature("job", job),
        adql=adql,
        title=title,
        **service_params(kind, url),
    )
    if htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return make_response("", 303, {"Location": target})


def job_context(archive: Archive) -> dict[str, Any]:
    kind, url = service_from_request(archive)
    job = job_from_request()
    params = {
        **service_params(kind, url),
        "job": job,
        "jsig": request.values.get("jsig", ""),
        "adql": request.values.get("adql", ""),
        "title": request.values.get("title", "")[:300],
    }
    return {"archive": archive, "url": url, "job": job, "params": params}


@blueprint.get("/data/archives/<archive_name>/job")
@login_required
def job(archive_name: str):
    archive = archive_or_404(archive_name)
    context = job_context(archive)
    return render("data_job.html", **context)


@blueprint.get("/data/archives/<archive_name>/job/status")
@login_required
def job_status(archive_name: str):
    """The job's phase; while it runs, the fragment asks again a second later."""
    archive = archive_or_404(archive_name)
    context = job_context(archive)
    try:
        phase = ask(archive, lambda user, left: archive.job_phase(context["job"], user, left))
    except (ArchiveError, CredentialsExpired) as problem:
        return job_fragment(context, "UNKNOWN", failure(archive, problem).message)
    if phase != "ERROR":
        return job_fragment(context, phase)
    try:  # the job's result document carries the service's own error message
        ask(archive, lambda user, left: archive.job_results(context["job"], user, left))
    except (ArchiveError, CredentialsExpired) as problem:
        return job_fragment(context, phase, failure(archive, problem).message)
    return job_fragment(context, phase, "The job failed; the service gave no reason.")


def job_fragment(context: dict[str, Any], phase: str, error: str = ""):
    final = bool(error) or phase in FINAL_PHASES or phase == "CANCELLED"
    return render_template("_data_job.html", phase=phase, error=error, final=final, **context)


@blueprint.post("/data/archives/<archive_name>/job/cancel")
@login_required
def cancel_job(archive_name: str):
    archive = archive_or_404(archive_name)
    context = job_context(archive)
    try:
        ask(archive, lambda user, left: archive.cancel_job(context["job"], user, left))
    except (ArchiveError, CredentialsExpired) as error:
        return job_fragment(context, "UNKNOWN", failure(archive, error).message)
    if htmx:
        return job_fragment(context, "CANCELLED")
    return render("data_job.html", cancelled=True, **context)


@blueprint.get("/data/archives/<archive_name>/job/results")
@login_required
def job_results(archive_name: str):
    archive = archive_or_404(archive_name)
    context = job_context(archive)
    params, url = context["params"], context["url"]
    try:
        result = ask(archive, lambda user, left: archive.job_results(context["job"], user, left))
        outcome = Outcome(archive.name, params["title"] or url, result=result)
    except (ArchiveError, CredentialsExpired) as error:
        outcome = failure(archive, error)
    source = {"kind": "tap", "url": url, "adql": params["adql"]}

    def page_url(number: int) -> str:
        return url_for("data.job_results", archive_name=archive.name, page=number, **params)

    return panel(archive, outcome, page_url, source=source, local_paging=True)


# --- DIDs: scopes, metadata, contents, replicas -------------------------------------------


@blueprint.get("/data/archives/<archive_name>/scopes")
@login_required
def scopes(archive_name: str):
    archive = archive_or_404(archive_name)
    if not offers(archive, "scopes"):
        abort(404, f"{archive.title or archive.name} has no scopes.")
    try:
        found, error = ask(archive, lambda user, left: archive.scopes(user, left)), ""
    except (ArchiveError, CredentialsExpired) as problem:
        found, error = [], failure(archive, problem).message
    return render("data_scopes.html", archive=archive, scopes=found, error=error), (502 if error else 200)


def did_from_request(archive: Archive) -> str:
    if not offers(archive, *DID_METHODS):
        abort(404, f"{archive.title or archive.name} has no DIDs to show.")
    did = request.args.get("did", "").strip()
    if ":" not in did or len(did) > 1000:
        abort(400, "Name the DID as scope:name.")
    return did


@blueprint.get("/data/archives/<archive_name>/did")
@login_required
def did(archive_name: str):
    archive = archive_or_404(archive_name)
    return render("data_did.html", archive=archive, did=did_from_request(archive))


@blueprint.get("/data/archives/<archive_name>/did/<any(metadata, contents, replicas):section>")
@login_required
def did_section(archive_name: str, section: str):
    """One section of a DID's page, loaded on its own: metadata, contents (paged) or replicas."""
    archive = archive_or_404(archive_name)
    did = did_from_request(archive)
    if section == "contents":
        try:
            page = discovery.check_page(request.args.get("page"))
            result = ask(archive, lambda user, left: archive.contents(did, page, user, left))
            outcome = Outcome(archive.name, archive.title or archive.name, result=result)
        except (ArchiveError, CredentialsExpired, QueryError) as error:
            outcome = failure(archive, error)

        def page_url(number: int) -> str:
            return url_for("data.did_section", archive_name=archive.name, section="contents", did=did, page=number)

        return panel(archive, outcome, page_url, source=None)
    method = archive.metadata if section == "metadata" else archive.replicas
    try:
        found, error = ask(archive, lambda user, left: method(did, user, left)), ""
    except (ArchiveError, CredentialsExpired) as problem:
        found, error = None, failure(archive, problem).message
    return render_template("_data_did_section.html", section=section, found=found, error=error, archive=archive)
