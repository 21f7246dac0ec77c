"""SAMP pages and endpoints: the help page, signed table links for "Send to…", the table they read, tables received.

The page's own script (static/samp.js) talks to the hub; these endpoints are what it asks ESAP
for. Template helpers mark the rows and items a page can send as an image or a position.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, jsonify, request
from markupsafe import Markup, escape

from esap_core import basket, samp
from esap_core.auth import current_user, login_required
from esap_core.hookspecs import Column
from esap_core.security import external_url
from esap_core.web.basket import CHANGED
from esap_core.web.rendering import render
from esap_core.web.skyplot import LABEL_NAMES, position_columns

blueprint = Blueprint("samp", __name__)

URL_COLUMNS = ("access_url", "accessurl", "url", "fits_url", "image_url")
FORMAT_COLUMNS = ("access_format", "format", "content_type", "mime", "mimetype")
FITS_ENDINGS = (".fits", ".fit", ".fts", ".fits.gz", ".fits.fz", ".fz")


# --- pages and endpoints ------------------------------------------------------------------------


@blueprint.get("/samp")
def help_page():
    """What SAMP does here, how to start a hub, and what browsers need (the page every message links to)."""
    return render(
        "samp.html",
        hub=samp_hub_origin(),
        inline_kib=samp.MAX_INLINE_BYTES // 1024,
        fetched_mib=samp.MAX_FETCHED_BYTES // 2**20,
        minutes=samp.LINK_SECONDS // 60,
    )


@blueprint.post("/samp/links")
@login_required
def links():
    """A signed, short-lived URL of ESAP's VOTable of the basket, or of the result rows the page sent."""
    user = current_user()
    try:
        if request.form.get("source") == "basket":
            document, rows = samp.basket_votable(user)
            name = "ESAP basket"
        else:
            name, document, rows = _rows_votable()
        token = samp.publish(user, name, document)
    except (samp.SampError, basket.BasketError) as error:
        return jsonify(message=str(error)), getattr(error, "status", 400)
    url = external_url("samp.table", token=token)
    return jsonify(url=url, name=name, rows=rows, seconds=samp.LINK_SECONDS)


def _rows_votable() -> tuple[str, str, int]:
    """(name, VOTable, rows) of the result rows the page posted, each row token checked as "add to basket" does."""
    from esap_core.web.data.common import archive_or_404, read_row_token

    archive = archive_or_404(request.form.get("archive", ""))
    tokens = request.form.getlist("row")
    if not tokens:
        raise samp.SampError("There are no rows to send on this page.")
    if len(tokens) > samp.MAX_SENT_ROWS:
        raise samp.SampError(f"Send at most {samp.MAX_SENT_ROWS} rows at once.")
    columns = samp.read_columns(request.form.get("columns", ""))
    rows = [read_row_token(archive, token)[0] for token in tokens]
    name = (request.form.get("title") or archive.label)[:300]
    return name, samp.results_votable(name, columns, rows), len(rows)


@blueprint.get("/samp/tables/<token>")
def table(token: str):
    """The VOTable a link names: read-only, for its few minutes, to whoever holds the link (a desktop tool)."""
    try:
        name, document = samp.published(token)
    except samp.SampError as error:
        return Response(str(error) + "\n", error.status, mimetype="text/plain")
    filename = "".join(character for character in name if character.isalnum() or character in "-_")[:60] or "table"
    return Response(
        document,
        mimetype=samp.VOTABLE_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}.xml"',
            "Cache-Control": "no-store",
        },
    )


@blueprint.post("/samp/received")
@login_required
def received():
    """A table sent to the page: a public URL (fetched here), or the document the page read on the user's machine."""
    user = current_user()
    try:
        if request.is_json:
            sent = request.get_json(silent=True) or {}
            url, name, sender = (str(sent.get(key) or "") for key in ("url", "name", "sender"))
            if not url.startswith(("http://", "https://")):
                raise samp.SampError("ESAP's server reads only http(s) table URLs; the page reads the others.")
            added, summary = samp.receive_url(user, url, name, sender)
        else:
            url, name, sender = (request.args.get(key, "") for key in ("url", "name", "sender"))
            size = request.content_length
            if size is not None and size > samp.MAX_INLINE_BYTES:
                raise samp.SampError(samp.too_big_message(size), 413)
            data = request.stream.read(samp.MAX_INLINE_BYTES + 1)
            added, summary = samp.receive_document(user, data, url, name, sender)
    except (samp.SampError, basket.BasketError) as error:
        return jsonify(message=str(error)), getattr(error, "status", 400)
    described = _described(summary)
    title = name or summary.name or "the table"
    if added:
        message = f"Added “{title}” ({described}) from {sender or 'a SAMP client'} to your basket."
    else:
        message = f"“{title}” ({described}) is in your basket already."
    response = jsonify(message=message, added=added, total=basket.count(user))
    response.headers["HX-Trigger"] = CHANGED
    return response


def _described(summary: samp.TableSummary) -> str:
    columns = f"{len(summary.columns)} column{'' if len(summary.columns) == 1 else 's'}"
    if summary.rows is None:
        return columns
    return f"{summary.rows} row{'' if summary.rows == 1 else 's'}, {columns}"


# --- template helpers: what a row or an item can be sent as -----------------------------------


class TableMarks:
    """For one result table: its signed columns, and each row's position and FITS image as data attributes."""

    def __init__(self, columns: Sequence[Column]):
        self.columns = list(columns)
        self.token = samp.columns_token(self.columns)
        self.position = position_columns(self.columns)
        lowered = {column.name.lower(): column.name for column in self.columns}
        self.url_column = next((lowered[name] for name in URL_COLUMNS if name in lowered), None)
        self.format_column = next((lowered[name] for name in FORMAT_COLUMNS if name in lowered), None)
        self.label_column = next((lowered[name] for name in LABEL_NAMES if name in lowered), None)
        self.points = self.position is not None
        self.images = self.url_column is not None

    def row(self, row: Mapping[str, Any]) -> Markup:
        marks: dict[str, str] = {}
        if self.position:
            ra, dec = _degrees(row.get(self.position[0])), _degrees(row.get(self.position[1]))
            if ra is not None and dec is not None and -90 <= dec <= 90:
                marks.update({"ra": repr(ra % 360.0), "dec": repr(dec)})
        if self.url_column:
            url = row.get(self.url_column)
            kind = row.get(self.format_column) if self.format_column else None
            if is_fits(url, kind):
                marks["fits"] = url
        if marks and self.label_column:
            marks["name"] = str(row.get(self.label_column) or "")[:200]
        return _attributes(marks)


def item_image(item: Any) -> str | None:
    """The http(s) URL of a basket item that is a FITS file, if it is one."""
    fetch, payload = item.fetch or {}, item.payload or {}
    if fetch.get("method") != "http":
        return None
    kinds = [payload.get(name) for name in FORMAT_COLUMNS]
    row = payload.get("row") if isinstance(payload.get("row"), dict) else {}
    kinds += [row.get(name) for name in FORMAT_COLUMNS]
    url = fetch.get("url")
    return url if any(is_fits(url, kind) for kind in kinds) or is_fits(url, None) else None


def replica_images(replica: Mapping[str, Any]) -> list[str]:
    """A DID replica's http(s) copies that are FITS files (``pfns``: per storage element, a PFN or a list of them)."""
    pfns = replica.get("pfns") or {}
    found = []
    for listed in pfns.values() if isinstance(pfns, Mapping) else [pfns]:
        for pfn in listed if isinstance(listed, list | tuple) else [listed]:
            if is_fits(pfn, None) and pfn not in found:
                found.append(pfn)
    return found[:3]


def is_fits(url: Any, kind: Any) -> bool:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 2000:
        return False
    if isinstance(kind, str) and "fits" in kind.lower():
        return True
    return urlsplit(url).path.lower().endswith(FITS_ENDINGS)


def samp_hub_origin() -> str:
    from esap_core.security import SAMP_HUB_ORIGIN

    return SAMP_HUB_ORIGIN


def _degrees(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _attributes(marks: Mapping[str, str]) -> Markup:
    return Markup("".join(f' data-samp-{key}="{escape(value)}"' for key, value in marks.items()))


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    app.jinja_env.globals.update(
        samp_table=TableMarks,
        samp_item_image=item_image,
        samp_replica_images=replica_images,
        samp_inline_bytes=samp.MAX_INLINE_BYTES,
    )
    app.jinja_env.filters["samp_replica_images"] = replica_images
