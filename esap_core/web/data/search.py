"""The one form across all archives, each archive's own form, their results and "add to basket".

Each archive's results load as their own HTMX fragment, so a slow archive delays only its
own panel. Each selected row is checked again by the archive's ``basket_item`` before it is added.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import make_response, render_template, request, url_for

from esap_core import basket, discovery
from esap_core.auth import current_context, current_user, login_required
from esap_core.discovery import Outcome, QueryError
from esap_core.hookspecs import (
    Archive,
    ArchiveError,
    DataItem,
    DidCatalogue,
    QueryKind,
)
from esap_core.security import safe_next
from esap_core.web.basket import CHANGED
from esap_core.web.data.common import (
    archive_or_404,
    blueprint,
    fields_of,
    read_row_token,
    registered,
    timeout,
)
from esap_core.web.data.panels import panel
from esap_core.web.rendering import htmx, render

log = logging.getLogger(__name__)
MAX_SELECTED = 200  # rows added to the basket at once


@blueprint.get("/data")
@login_required
def search():
    """One question (a position, a target or keywords) sent to every archive that can answer it."""
    archives = list(registered().values())
    kinds = discovery.kind_fields(archives)
    values = {spec.name: request.args.get(spec.name, "") for specs in kinds.values() for spec in specs}
    # The form sent, even empty, is a question: an empty one is answered with what to fill in, not a silent reload.
    asked = any(name in request.args for name in ("ra", "dec", "target", "keywords"))
    panels, problems, kind = [], {}, None
    if asked:
        try:
            kind = discovery.kind_of(request.args)
            checked = discovery.check_kind(kind, request.args, archives)
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
        kinds=kinds,
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
        has_scopes=isinstance(archive, DidCatalogue),
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
            raise QueryError({"kind": f"{archive.label} does not answer {kind.value} searches."})
        page = discovery.check_page(request.args.get("page"))
        query = discovery.archive_query(archive, request.args, kind)
    except ValueError as error:  # QueryError, or an unknown kind
        message = str(error) if isinstance(error, QueryError) else f"Unknown kind of search {kind_name!r}."
        outcome = Outcome(archive.name, archive.label, message=message, status="invalid")
    else:
        outcome = discovery.ask(archive, query, page, current_context(), timeout())
        if kind is not None:
            given = {"kind": kind.value, **{k: request.args[k] for k in query if request.args.get(k)}}

    def page_url(number: int) -> str:
        return url_for("data.results", archive_name=archive.name, page=number, **given)

    return panel(archive, outcome, page_url, source=None, fanout=kind is not None)


@blueprint.post("/data/archives/<archive_name>/basket")
@login_required
def add(archive_name: str):
    """Add the selected rows: each token checked, each row turned into an item by the archive, or nothing."""
    archive = archive_or_404(archive_name)
    tokens = request.form.getlist("row")
    if not tokens:
        return added_response(error="Select the rows to add first.", status=400)
    if len(tokens) > MAX_SELECTED:
        return added_response(error=f"Add at most {MAX_SELECTED} rows at once.", status=400)
    # One bad row does not keep the others out: the good ones are added, each refused one named with its reason.
    items: list[basket.NewItem] = []
    refused: list[tuple[int | None, str]] = []
    for token in tokens:
        number = None
        try:
            selected = read_row_token(archive, token)
            number = selected.number
            items.append(new_item(archive, selected.row, selected.source))
        except basket.BasketError as error:
            refused.append((number, str(error)))
    if not items:
        return added_response(refused=refused, status=400)
    try:
        added = basket.add(current_user(), items)
    except basket.BasketError as error:
        return added_response(error=str(error), status=getattr(error, "status", 400))
    response = added_response(added=added, selected=len(items), refused=refused)
    response.headers["HX-Trigger"] = CHANGED
    return response


def new_item(archive: Archive, row: dict[str, Any], service: dict[str, Any] | None) -> basket.NewItem:
    """The archive's basket item for a row (of ``service`` when one was queried), checked again by both."""
    try:
        if service is None:
            item = archive.basket_item(row)
        else:
            item = archive.service_item(service["kind"], service["url"], row, service.get("adql", ""))
    except ArchiveError as error:
        raise basket.BasketError(f"{archive.label} refused a row: {error}") from None
    except Exception:
        log.exception("archive %r: making a basket item failed", archive.name)
        raise basket.BasketError(f"{archive.label} could not make a basket item of a row.") from None
    if not isinstance(item, DataItem):
        raise basket.BasketError(f"{archive.label} did not make a basket item of a row.")
    return basket.data_item(archive.name, item.identifier, item.title, dict(item.fetch), dict(item.payload))


def added_response(status: int = 200, **context):
    if htmx:
        # HTMX swaps only successful answers: the message is the content either way.
        return make_response(render_template("_data_added.html", **context))
    back = safe_next(urlsplit(request.referrer or "").path) if request.referrer else url_for("data.search")
    return make_response(render("data_added.html", back=back, **context), status)
