"""The software API: search the catalogue, read one record; admins start harvests and read their outcome."""

from __future__ import annotations

from flask import abort
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from esap_core import catalogue, harvest
from esap_core.api.blueprint import Blueprint
from esap_core.auth import current_user, require_scope

blp = Blueprint("api_software", __name__, description="The software catalogue and its harvests")


class SearchArgs(Schema):
    q = fields.String(
        load_default="",
        validate=validate.Length(max=10_000),
        metadata={"description": "Free text: every word must match (as a prefix) name, description, keywords..."},
    )
    author = fields.String(
        load_default="", validate=validate.Length(max=200), metadata={"description": "Part of a name"}
    )
    ui_type = fields.String(load_default="", validate=validate.OneOf(["", *catalogue.UI_TYPES]))
    runtime = fields.String(load_default="", validate=validate.Length(max=200), metadata={"example": "python"})
    keyword = fields.String(load_default="", validate=validate.Length(max=200), metadata={"description": "Exact"})
    source = fields.String(load_default="", validate=validate.Length(max=100), metadata={"example": "ossr"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10_000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class SoftwareSchema(Schema):
    id = fields.Integer()
    source = fields.String()
    external_id = fields.String()
    private = fields.Boolean(metadata={"description": "Your own entry, seen by you only"})
    name = fields.String()
    description = fields.String(metadata={"description": "Plain text"})
    repository_url = fields.String()
    ref = fields.String()
    path = fields.String()
    version = fields.String()
    doi = fields.String()
    authors = fields.List(fields.String())
    keywords = fields.List(fields.String())
    runtime_platform = fields.String()
    ui_type = fields.String()
    licence = fields.String()
    updated = fields.AwareDateTime(allow_none=True)
    harvested = fields.AwareDateTime()


class SoftwarePageSchema(Schema):
    items = fields.List(fields.Nested(SoftwareSchema), required=True)
    total = fields.Integer(required=True, metadata={"description": "How many match (at most 1,000: see more)"})
    more = fields.Boolean(
        required=True, metadata={"description": "More records match than total, the number the pages hold"}
    )
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
    notes = fields.List(fields.String(), metadata={"description": "How the search was read (a truncated query...)"})


class HarvestOutcomeSchema(Schema):
    source = fields.String()
    status = fields.String(metadata={"description": "queued, running, ok or failed"})
    full = fields.Boolean()
    since = fields.String(allow_none=True)
    started = fields.String()
    finished = fields.String(allow_none=True)
    seen = fields.Integer()
    new = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    failed = fields.Integer()
    removed = fields.Integer()
    error = fields.String(metadata={"description": "Why the harvest stopped, in plain words"})
    detail = fields.String(metadata={"description": "The technical side of that failure"})
    problems = fields.List(fields.Dict())


class HarvestStateSchema(Schema):
    source = fields.String(required=True)
    records = fields.Integer(required=True)
    every_hours = fields.Float(required=True)
    last = fields.Nested(HarvestOutcomeSchema, allow_none=True)
    running = fields.Nested(HarvestOutcomeSchema, allow_none=True)


class StartArgs(Schema):
    full = fields.Boolean(load_default=False)


class StartedSchema(Schema):
    job = fields.String(required=True)


@blp.route("/software")
class Search(MethodView):
    @blp.doc(security=[])
    @blp.arguments(SearchArgs, location="query")
    @blp.response(200, SoftwarePageSchema)
    def get(self, args):
        """Search the catalogue: by relevance with `q`, else by name; filters combine. No token needed."""
        query = catalogue.Query(
            text=args["q"],
            author=args["author"],
            ui_type=args["ui_type"],
            runtime=args["runtime"],
            keyword=args["keyword"],
            source=args["source"],
            page=args["page"],
            page_size=args["page_size"],
        )
        results = catalogue.search(query, current_user())
        return {
            "items": [catalogue.as_dict(record) for record in results.records],
            "total": results.total,
            "more": results.more,
            "page": results.page,
            "page_size": results.page_size,
            "notes": results.notes,
        }


@blp.route("/software/<int:software_id>")
class Record(MethodView):
    @blp.doc(security=[])
    @blp.response(200, SoftwareSchema)
    def get(self, software_id: int):
        """One record of the catalogue."""
        software = catalogue.get(current_user(), software_id)
        if software is None:
            abort(404, "There is no such software in the catalogue.")
        return catalogue.as_dict(software)


def _state(name: str) -> dict:
    state = harvest.last(name)
    live = harvest.progress(name)
    return {
        "source": name,
        "records": catalogue.count(name),
        "every_hours": harvest.every_hours(name, state),
        "last": state.get("last"),
        "running": live if live and live.get("status") in harvest.RUNNING else None,
    }


@blp.route("/harvests")
class Harvests(MethodView):
    @blp.response(200, HarvestStateSchema(many=True))
    @require_scope("admin")
    def get(self):
        """Each software source: its records, schedule, last harvest and the one running."""
        return [_state(name) for name in harvest.sources()]


@blp.route("/harvests/<name>")
class Harvest(MethodView):
    @blp.response(200, HarvestStateSchema)
    @require_scope("admin")
    def get(self, name: str):
        """One source's harvest state."""
        if name not in harvest.sources():
            abort(404, f"There is no software source {name!r}.")
        return _state(name)

    @blp.arguments(StartArgs, location="query")
    @blp.response(202, StartedSchema)
    @blp.alt_response(409, description="A harvest of this source is under way")
    @require_scope("admin")
    def post(self, args, name: str):
        """Start a harvest of the source in a job; follow it with GET."""
        if name not in harvest.sources():
            abort(404, f"There is no software source {name!r}.")
        try:
            return {"job": harvest.start(name, full=args["full"])}
        except harvest.HarvestUnavailable as error:
            abort(409, str(error))
