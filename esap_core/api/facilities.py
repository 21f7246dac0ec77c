"""The facilities API: list and find facilities, register your own (admins: public ones), check health."""

from __future__ import annotations

from flask import abort
from flask.views import MethodView
from marshmallow import Schema, fields, post_dump, validate

from esap_core import accounts, facilities
from esap_core.api.blueprint import Blueprint
from esap_core.auth import current_user, require_scope

blp = Blueprint("api_facilities", __name__, description="Compute facilities to launch software on")


class HealthCheckSchema(Schema):
    up = fields.Boolean(allow_none=True, attribute="check_up")
    message = fields.String(attribute="check_message")
    version = fields.String(attribute="check_version")
    latency_ms = fields.Float(allow_none=True, attribute="check_latency_ms")
    metadata = fields.Dict(attribute="check_metadata")
    checked = fields.AwareDateTime(allow_none=True)


HEALTH = HealthCheckSchema()  # one instance: building a schema per facility cost more than dumping it


class FacilitySchema(Schema):
    name = fields.String(required=True, metadata={"example": "my-binderhub"})
    kind = fields.String(required=True, metadata={"example": "binderhub"})
    title = fields.String(metadata={"example": "My institute's BinderHub"})
    description = fields.String()
    url = fields.String(required=True, metadata={"example": "https://binder.example.org"})
    settings = fields.Dict(load_default=dict, metadata={"description": "The facility type's settings"})
    rucio_rse = fields.String(metadata={"description": "The Rucio storage element its sessions read from"})
    public = fields.Boolean(load_default=False, load_only=True, metadata={"description": "Admins only"})
    private = fields.Method("is_private", dump_only=True)
    accepts = fields.Method("accepted", dump_only=True)
    health = fields.Function(lambda facility: HEALTH.dump(facility), dump_only=True)

    @post_dump
    def hide_kept_secrets(self, data, **kwargs):
        if "settings" in data:
            data["settings"] = facilities.shown(data["settings"])
        return data

    def is_private(self, facility) -> bool:
        return facility.owner_id is not None

    def accepted(self, facility) -> list[str]:
        return facilities.ui_types_accepted(facility)


class FindArgs(Schema):
    q = fields.String(load_default="", metadata={"description": "Keywords"})
    ui_type = fields.String(
        validate=validate.OneOf(facilities.UI_TYPES),
        metadata={"description": "Only facilities that run this kind of software"},
    )


class FacilityListSchema(Schema):
    facilities = fields.List(fields.Nested(FacilitySchema), required=True)


def _visible_or_404(name: str):
    facility = facilities.get_visible(current_user(), name)
    if facility is None:
        abort(404, f"There is no facility named {name!r} that you can use.")
    return facility


@blp.route("/facilities")
class Facilities(MethodView):
    @blp.arguments(FindArgs, location="query")
    @blp.response(200, FacilityListSchema)
    @require_scope("launch")
    def get(self, args):
        """Public facilities and your own, by keyword and by the kind of software they run."""
        return {"facilities": facilities.visible(current_user(), args.get("ui_type"), args["q"])}

    @blp.arguments(FacilitySchema)
    @blp.response(201, FacilitySchema)
    @require_scope("launch")
    def post(self, data):
        """Register a facility: private to you, or public (admins, with "public": true)."""
        user = current_user()
        public = data.pop("public")
        if public and not accounts.is_admin(user):
            abort(403, "Only admins can register public facilities.")
        try:
            return facilities.register(None if public else user, user, data)
        except facilities.FacilityProblem as error:
            abort(400, str(error))


@blp.route("/facilities/<name>")
class FacilityByName(MethodView):
    @blp.response(200, FacilitySchema)
    @require_scope("launch")
    def get(self, name: str):
        """One facility, with its last health check."""
        return _visible_or_404(name)

    @blp.response(204)
    @require_scope("launch")
    def delete(self, name: str):
        """Remove one of your facilities (admins: any)."""
        try:
            facilities.remove(current_user(), _visible_or_404(name))
        except facilities.FacilityProblem as error:
            abort(403, str(error))


@blp.route("/facilities/<name>/check")
class FacilityCheck(MethodView):
    @blp.response(200, HealthCheckSchema)
    @require_scope("launch")
    def post(self, name: str):
        """Check the facility's health now."""
        return facilities.check(_visible_or_404(name))
