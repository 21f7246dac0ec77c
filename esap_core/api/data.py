"""The data API: the archives and their query fields, one archive's results a page at a time, the fan-out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from flask import abort, current_app, request
from flask.views import MethodView
from marshmallow import INCLUDE, Schema, fields, validate

from esap_core import discovery
from esap_core.api.blueprint import Blueprint
from esap_core.auth import current_context, signed_in
from esap_core.discovery import Outcome, QueryError
from esap_core.hookspecs import Archive, FieldType, QueryField, QueryKind, ResultPage

blp = Blueprint(
    "api_data",
    __name__,
    description="Archives: what each answers and takes, its results a page at a time, one question to all of them",
)

JSON_TYPES = {
    FieldType.TEXT: "string",
    FieldType.CHOICE: "string",
    FieldType.NUMBER: "number",
    FieldType.INTEGER: "integer",
    FieldType.BOOLEAN: "boolean",
}
STATUS_CODES = {"invalid": 400, "login": 401, "error": 502, "timeout": 504}
RESERVED = {"page"}  # query parameters of the search itself, never an archive's field


class FieldSchema(Schema):
    name = fields.String(required=True)
    label = fields.String(required=True)
    type = fields.String(required=True, metadata={"enum": [kind.value for kind in FieldType]})
    required = fields.Boolean(required=True)
    help = fields.String(required=True)
    default = fields.Raw(allow_none=True)
    choices = fields.List(fields.String(), required=True)
    minimum = fields.Float(allow_none=True)
    maximum = fields.Float(allow_none=True)


class ArchiveSchema(Schema):
    name = fields.String(required=True, metadata={"example": "vo-registry"})
    title = fields.String(required=True)
    description = fields.String(required=True)
    answers = fields.List(
        fields.String(metadata={"enum": [kind.value for kind in QueryKind]}),
        required=True,
        metadata={"description": "The kinds of question of the search across archives this archive answers"},
    )
    query_fields = fields.List(
        fields.Nested(FieldSchema), required=True, data_key="fields", metadata={"description": "Its query form"}
    )
    query_schema = fields.Dict(
        required=True, metadata={"description": "A JSON Schema of the query parameters its search takes"}
    )


class ArchiveListSchema(Schema):
    archives = fields.List(fields.Nested(ArchiveSchema), required=True)


class ColumnSchema(Schema):
    name = fields.String(required=True)
    unit = fields.String(required=True)
    ucd = fields.String(required=True)
    description = fields.String(required=True)
    datatype = fields.String(required=True)


class ResultSchema(Schema):
    columns = fields.List(fields.Nested(ColumnSchema), required=True)
    rows = fields.List(fields.Dict(), required=True, metadata={"description": "One object per row, by column name"})
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
    total = fields.Integer(allow_none=True, metadata={"description": "All rows on all pages; null when unknown"})
    notes = fields.List(fields.String(), required=True, metadata={"description": "What the archive wants said"})


class OutcomeSchema(Schema):
    archive = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["ok", "error", "timeout", "login", "invalid"]})
    message = fields.String(required=True, metadata={"description": "Why there are no results, when there are none"})
    detail = fields.String(
        metadata={"description": "The technical side of a failure (the network's or server's own words)"}
    )
    seconds = fields.Float(required=True)
    result = fields.Nested(ResultSchema, allow_none=True)


class FanOutSchema(Schema):
    kind = fields.String(required=True, metadata={"enum": [kind.value for kind in QueryKind]})
    query = fields.Dict(required=True)
    archives = fields.List(fields.Nested(OutcomeSchema), required=True)


class SearchArgs(Schema):
    class Meta:
        unknown = INCLUDE  # the archive's own fields, checked against its QueryFields

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=discovery.MAX_PAGE))


class FanOutArgs(Schema):
    ra = fields.String(metadata={"description": "Right ascension, ICRS, degrees (0 to 360)", "example": "10.68"})
    dec = fields.String(metadata={"description": "Declination, ICRS, degrees (-90 to 90)", "example": "41.27"})
    radius = fields.String(metadata={"description": "Search radius, degrees (default 0.1)", "example": "0.2"})
    target = fields.String(metadata={"description": "An object name, resolved by the archives that can"})
    keywords = fields.String(metadata={"description": "Free text"})


def archives() -> dict[str, Archive]:
    return current_app.extensions["esap.plugins"].archives


def json_schema(specs: Iterable[QueryField]) -> dict[str, Any]:
    """The JSON Schema of a query made of ``specs``."""
    properties: dict[str, Any] = {}
    required = []
    for spec in specs:
        prop: dict[str, Any] = {"type": JSON_TYPES[spec.type], "title": spec.label}
        if spec.help:
            prop["description"] = spec.help
        if spec.default is not None:
            prop["default"] = spec.default
        if spec.choices:
            prop["enum"] = list(spec.choices)
        if spec.minimum is not None:
            prop["minimum"] = spec.minimum
        if spec.maximum is not None:
            prop["maximum"] = spec.maximum
        properties[spec.name] = prop
        if spec.required:
            required.append(spec.name)
    return {"type": "object", "properties": properties, "required": required}


def describe(archive: Archive) -> dict[str, Any]:
    return {
        "name": archive.name,
        "title": archive.label,
        "description": archive.description,
        "answers": sorted(kind.value for kind in archive.answers),
        "query_fields": [
            {**asdict(spec), "type": spec.type.value, "choices": list(spec.choices)} for spec in archive.fields
        ],
        "query_schema": json_schema(archive.fields),
    }


def outcome_dict(outcome: Outcome) -> dict[str, Any]:
    result: ResultPage | None = outcome.result
    return {
        "archive": outcome.archive,
        "title": outcome.title,
        "status": outcome.status,
        "message": outcome.message,
        "detail": outcome.detail,
        "seconds": round(outcome.seconds, 3),
        "result": asdict(result) if result is not None else None,
    }


def archive_or_404(name: str) -> Archive:
    archive = archives().get(name)
    if archive is None:
        abort(404, f"There is no archive named {name!r}: GET /api/v1/archives lists them.")
    return archive


@blp.route("/archives")
class Archives(MethodView):
    @blp.response(200, ArchiveListSchema)
    @signed_in
    def get(self):
        """Every archive: its name, what it answers, its query fields and their JSON Schema."""
        return {"archives": [describe(archive) for archive in archives().values()]}


@blp.route("/archives/<name>")
class OneArchive(MethodView):
    @blp.response(200, ArchiveSchema)
    @signed_in
    def get(self, name: str):
        """One archive, with its query fields."""
        return describe(archive_or_404(name))


@blp.route("/archives/<archive_name>/search")
class Search(MethodView):
    @blp.arguments(SearchArgs, location="query", unknown=INCLUDE)
    @blp.response(200, ResultSchema)
    @blp.alt_response(400, description="Query values that do not fit the archive's fields")
    @blp.alt_response(401, description="Not signed in, or the login behind a delegated token has expired")
    @blp.alt_response(502, description="The archive failed; the message says how")
    @blp.alt_response(504, description="The archive did not answer in time")
    @signed_in
    def get(self, args: dict[str, Any], archive_name: str):
        """Search one archive with its own fields (see its `query_schema`), a page at a time."""
        archive = archive_or_404(archive_name)
        values = {key: value for key, value in request.args.items() if key not in RESERVED}
        try:
            query = discovery.archive_query(archive, values)
        except QueryError as error:
            abort(400, str(error))
        timeout = current_app.extensions["esap.config"].archive_timeout
        outcome = discovery.ask(archive, query, args["page"], current_context(), timeout)
        if outcome.result is None:
            abort(STATUS_CODES.get(outcome.status, 502), outcome.message)
        return asdict(outcome.result)


@blp.route("/search")
class FanOut(MethodView):
    @blp.arguments(FanOutArgs, location="query")
    @blp.response(200, FanOutSchema)
    @blp.alt_response(400, description="No question, two kinds at once, or values out of range")
    @signed_in
    def get(self, args: dict[str, Any]):
        """Ask every archive that answers this kind of question at once: a position, a target, or keywords.

        Give `ra`, `dec` (and `radius`), or `target`, or `keywords`. Each archive answers
        within the configured timeout; one that fails or times out gets its message and a
        `status` other than `ok`, and the others' results are still there.
        """
        try:
            kind = discovery.kind_of(args)
            query = discovery.check_kind(kind, args, archives().values())
        except QueryError as error:
            abort(400, str(error))
        timeout = current_app.extensions["esap.config"].archive_timeout
        outcomes = discovery.fan_out(archives().values(), kind, args, current_context(), timeout)
        return {"kind": kind.value, "query": query, "archives": [outcome_dict(outcome) for outcome in outcomes]}
