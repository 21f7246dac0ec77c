"""The basket API: list, add, remove and clear items; the whole basket as JSON, CSV or VOTable."""

from __future__ import annotations

from functools import wraps

from flask import Response, abort, request
from flask.views import MethodView
from marshmallow import INCLUDE, Schema, ValidationError, fields, post_dump, pre_load, validate, validates_schema

from esap_core import basket, basket_export
from esap_core.api.blueprint import Blueprint
from esap_core.auth import current_user, require_scope
from esap_core.db import MAX_ID

blp = Blueprint("api_basket", __name__, description="Your basket: the data items and software you collected")

FETCH_DOC = (
    "How to fetch the item again without any plugin code. `method` is one of `http` (with `url`), "
    "`datalink` (with `url`), `tap` (with `service` and `adql`), `rucio` (with `did` as `scope:name` and "
    "`host`), or a method a plugin documents; other keys are kept."
)
EXAMPLE_ITEM = {
    "kind": "data",
    "archive": "apertif",
    "identifier": "ivo://astron.nl/apertif?190807041_AP_B001",
    "title": "190807041_AP_B001 continuum image",
    "fetch": {"method": "http", "url": "https://vo.astron.nl/getproduct/APERTIF_DR1/190807041_AP_B001/image.fits"},
    "payload": {"ra": 211.05, "dec": 53.99, "format": "image/fits", "size": 37006},
}
FORMATS = {"json": "application/json", "csv": "text/csv", "votable": "application/x-votable+xml"}


class FetchSchema(Schema):
    class Meta:
        unknown = INCLUDE

    # Required in a hint; an item without one (software, or added without) has an empty object.
    method = fields.String(metadata={"example": "http", "description": "Required unless the object is empty"})
    url = fields.String(metadata={"description": "http and datalink"})
    service = fields.String(metadata={"description": "tap: the TAP service URL"})
    adql = fields.String(metadata={"description": "tap: an ADQL query selecting the item"})
    did = fields.String(metadata={"description": "rucio: scope:name"})
    host = fields.String(metadata={"description": "rucio: the Rucio server"})

    @validates_schema
    def method_unless_empty(self, data, **kwargs):
        if data and "method" not in data:
            raise ValidationError("Missing data for required field.", "method")

    @post_dump(pass_original=True)
    def keep_other_fields(self, data, original, **kwargs):
        return {**original, **data}  # a plugin's own method has fields of its own


class SoftwareRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    repository_url = fields.String()
    ref = fields.String()
    ui_type = fields.String()
    doi = fields.String()


class ItemSchema(Schema):
    id = fields.Integer(dump_only=True)
    kind = fields.String(load_default="data", validate=validate.OneOf(["data", "software"]))
    archive = fields.String(metadata={"description": "The archive's name, or any name a script chooses"})
    identifier = fields.String(metadata={"description": "Stable within the archive"})
    title = fields.String()
    fetch = fields.Nested(FetchSchema, metadata={"description": FETCH_DOC})
    payload = fields.Dict(metadata={"description": "Anything else worth keeping (the row itself), at most 64 KiB"})
    software_id = fields.Integer(
        load_only=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "For software items: the record's id"},
    )
    software = fields.Nested(SoftwareRefSchema, dump_only=True, allow_none=True)
    added = fields.AwareDateTime(dump_only=True)


class AddSchema(Schema):
    items = fields.List(
        fields.Nested(ItemSchema), required=True, validate=validate.Length(min=1, max=basket.MAX_ITEMS_PER_REQUEST)
    )

    @pre_load
    def one_or_many(self, data, **kwargs):
        # One item may be sent as it is; several as {"items": [...]}.
        return data if isinstance(data, dict) and "items" in data else {"items": [data]}


class AddedSchema(Schema):
    added = fields.Integer(required=True, metadata={"description": "How many were new (duplicates are kept once)"})
    total = fields.Integer(required=True, metadata={"description": "Items in the basket now"})


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_ID))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    kind = fields.String(validate=validate.OneOf(["data", "software"]))
    archive = fields.String()


class ItemPageSchema(Schema):
    items = fields.List(fields.Nested(ItemSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)


class RemoveArgs(Schema):
    id = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=MAX_ID)),
        metadata={"description": "Items to remove (repeat the parameter). Give `id`, or `all=true`: one is required."},
    )
    all = fields.Boolean(
        load_default=False,
        metadata={"description": "Clear the whole basket. Give `id`, or `all=true`: one is required."},
    )

    @validates_schema
    def id_or_all(self, data, **kwargs):
        if not data.get("id") and not data.get("all"):
            raise ValidationError("Name the items to remove with id=..., or clear the basket with all=true.")


class RemovedSchema(Schema):
    removed = fields.Integer(required=True)
    total = fields.Integer(required=True)


class ExportArgs(Schema):
    format = fields.String(
        validate=validate.OneOf(list(FORMATS), error="Unknown format {input!r}: choose json, csv or votable."),
        metadata={"description": "json, csv or votable; without it the Accept header decides"},
    )
    access_token = fields.String(
        metadata={"description": "A token in the URL, for tools that cannot send headers (astropy's Table.read)"}
    )


def json_body(view):
    """Refuse bodies that are not JSON with 415 before they are parsed."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not request.is_json:
            abort(415, "Send the items as JSON (Content-Type: application/json).")
        return view(*args, **kwargs)

    return wrapper


def to_new_item(data: dict) -> basket.NewItem:
    if data["kind"] == basket.SOFTWARE:
        if "software_id" not in data:
            abort(400, "A software item needs software_id, the id of a software record.")
        return basket.software_item(current_user(), data["software_id"])
    return basket.data_item(
        data.get("archive", ""),
        data.get("identifier", ""),
        data.get("title", ""),
        data.get("fetch"),
        data.get("payload"),
    )


@blp.route("/basket/items")
class Items(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ItemPageSchema)
    @require_scope("basket:read")
    def get(self, args):
        """List your basket's items, a page at a time, optionally of one kind or archive."""
        found, total = basket.items(
            current_user(), args["page"], args["page_size"], args.get("kind"), args.get("archive")
        )
        return {
            "items": [basket.as_dict(item) for item in found],
            "total": total,
            "page": args["page"],
            "page_size": args["page_size"],
        }

    @json_body
    @blp.arguments(AddSchema, example=EXAMPLE_ITEM)
    @blp.response(201, AddedSchema)
    @blp.alt_response(413, description="A payload over 64 KiB")
    @blp.alt_response(415, description="A body that is not JSON")
    @require_scope("basket:write")
    def post(self, data):
        """Add one item, or several as {"items": [...]}. Adding an item that is there already keeps one."""
        try:
            new = [to_new_item(item) for item in data["items"]]
            added = basket.add(current_user(), new)
        except basket.BasketError as error:
            abort(error.status, str(error))
        return {"added": added, "total": basket.count(current_user())}

    @blp.arguments(RemoveArgs, location="query")
    @blp.response(200, RemovedSchema)
    @require_scope("basket:write")
    def delete(self, args):
        """Remove items by id (id=1&id=2), or clear the basket (all=true)."""
        user = current_user()
        removed = basket.clear(user) if args["all"] else basket.remove(user, args["id"])
        return {"removed": removed, "total": basket.count(user)}


@blp.route("/basket/items/<int:item_id>")
class Item(MethodView):
    @blp.response(200, ItemSchema)
    @require_scope("basket:read")
    def get(self, item_id: int):
        """One item of your basket."""
        item = basket.get(current_user(), item_id)
        if item is None:
            abort(404, "Your basket has no such item.")
        return basket.as_dict(item)

    @blp.response(204)
    @require_scope("basket:write")
    def delete(self, item_id: int):
        """Remove one item."""
        if basket.remove(current_user(), [item_id]) == 0:
            abort(404, "Your basket has no such item (it may have been removed already).")


@blp.route("/basket")
class Export(MethodView):
    @blp.arguments(ExportArgs, location="query")
    @blp.doc(
        responses={
            "200": {
                "description": "The whole basket",
                "content": {
                    "application/json": {"schema": ItemPageSchema},
                    "text/csv": {"schema": {"type": "string"}},
                    "application/x-votable+xml": {"schema": {"type": "string"}},
                },
            },
            "400": {"description": "An unknown format"},
            "406": {"description": "No acceptable format"},
        }
    )
    @require_scope("basket:read")
    def get(self, args):
        """The whole basket as JSON, CSV or VOTable (?format= or the Accept header).

        Works directly with `astropy.table.Table.read(url)` and `pandas.read_csv(url)`.
        """
        chosen = args.get("format")
        if chosen is None:
            # No Accept header means any type is acceptable (RFC 9110, 12.5.1): JSON, then.
            accepted = request.accept_mimetypes
            best = accepted.best_match(FORMATS.values()) if accepted else FORMATS["json"]
            chosen = {v: k for k, v in FORMATS.items()}.get(best)
            if chosen is None:
                abort(406, f"The basket is served as {', '.join(FORMATS.values())}.")
        if chosen == "json":
            return Response(
                basket_export.to_json(basket.item_dicts(current_user(), stored_json=True)), mimetype=FORMATS["json"]
            )
        items = basket.item_dicts(current_user())
        text = basket_export.to_csv(items) if chosen == "csv" else basket_export.to_votable(items)
        return Response(
            text,
            mimetype=FORMATS[chosen],
            headers={"Content-Disposition": f'inline; filename="basket.{"xml" if chosen == "votable" else chosen}"'},
        )
