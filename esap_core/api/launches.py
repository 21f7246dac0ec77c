"""The launches API: launch software with data on a facility, follow it, stop it, read its data back."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from flask import Response, abort
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from esap_core import basket, facilities, launches
from esap_core.accounts import session
from esap_core.api import Blueprint
from esap_core.auth import current_user, require_scope
from esap_core.db import MAX_ID
from esap_core.models import Software
from esap_core.security import external_url

blp = Blueprint("api_launches", __name__, description="Launches: software with your data, on a facility")


class PhaseSchema(Schema):
    phase = fields.String()
    at = fields.String()
    message = fields.String()


class LaunchSchema(Schema):
    id = fields.String(dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": ["queued", "running", "ready", "failed", "stopped"]})
    phase = fields.String(dump_only=True)
    progress = fields.Float(dump_only=True, allow_none=True, metadata={"description": "percent of this phase"})
    phases = fields.List(fields.Nested(PhaseSchema), dump_only=True)
    software = fields.Dict(dump_only=True, metadata={"description": "The software as launched"})
    facility = fields.Dict(dump_only=True)
    data = fields.List(fields.Dict(), dump_only=True, metadata={"description": "The data items, as launched"})
    details = fields.Dict(dump_only=True, metadata={"description": "What the facility reported: commit, image"})
    url = fields.String(dump_only=True, metadata={"description": "Where the session is, once ready"})
    message = fields.String(dump_only=True)
    created = fields.AwareDateTime(dump_only=True)
    started = fields.AwareDateTime(dump_only=True, allow_none=True)
    finished = fields.AwareDateTime(dump_only=True, allow_none=True)


class NewLaunchSchema(Schema):
    software_id = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_ID))
    facility = fields.String(required=True, metadata={"description": "The facility's name"})
    items = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=MAX_ID)),
        metadata={"description": "Ids of basket data items to take along; all of them when left out"},
    )
    options = fields.Dict(load_default=dict, metadata={"description": "The facility's checkout choices"})


class LaunchListSchema(Schema):
    launches = fields.List(fields.Nested(LaunchSchema), required=True)


class DataSchema(Schema):
    items = fields.List(fields.Dict(), required=True)
    total = fields.Integer(required=True)


def start(user, software_id: int, facility_name: str, item_ids: list[int] | None, options: dict):
    """Shared by the API and the checkout page: resolve the choices and create the launch."""
    software = session().get(Software, software_id)
    if software is None or (software.owner_id is not None and software.owner_id != user.id):
        abort(400, f"There is no software with id {software_id}.")
    facility = facilities.get_visible(user, facility_name)
    if facility is None:
        abort(400, f"There is no facility named {facility_name!r} that you can use.")
    items = basket.all_items(user)
    if item_ids is not None:
        chosen = set(item_ids)
        unknown = chosen - {item.id for item in items}
        if unknown:
            abort(400, f"Your basket has no items with ids {', '.join(map(str, sorted(unknown)))}.")
        items = [item for item in items if item.id in chosen]
    try:
        return launches.create(user, software, facility, items, options, external_url("pages.home"))
    except launches.LaunchProblem as error:
        abort(400, str(error))


def own_launch_or_404(launch_id: str):
    launch = launches.visible(current_user(), launch_id)
    if launch is None:
        abort(404, "You have no launch with that id.")
    return launch


@blp.route("/launches")
class Launches(MethodView):
    @blp.response(200, LaunchListSchema)
    @require_scope("launch")
    def get(self):
        """Your launches, newest first: the history of what ran where, with which data."""
        return {"launches": launches.history(current_user())}

    @blp.arguments(NewLaunchSchema)
    @blp.response(202, LaunchSchema)
    @blp.alt_response(503, description="The job queue is unreachable: nothing was launched")
    @require_scope("launch")
    def post(self, data):
        """Launch software with data from your basket on a facility; follow it at /launches/{id}."""
        return start(current_user(), data["software_id"], data["facility"], data.get("items"), data["options"])


@blp.route("/launches/<launch_id>")
class LaunchById(MethodView):
    @blp.response(200, LaunchSchema)
    @require_scope("launch")
    def get(self, launch_id: str):
        """One launch: its phases so far, and its URL once ready."""
        return own_launch_or_404(launch_id)


@blp.route("/launches/<launch_id>/stop")
class LaunchStop(MethodView):
    @blp.response(200, LaunchSchema)
    @require_scope("launch")
    def post(self, launch_id: str):
        """Stop the session a launch started, where the facility type can."""
        launch = own_launch_or_404(launch_id)
        try:
            launches.stop(launch)
        except launches.LaunchProblem as error:
            abort(409, str(error))
        return launch


@blp.route("/launches/<launch_id>/data")
class LaunchData(MethodView):
    @blp.response(200, DataSchema)
    @require_scope("basket:read")
    def get(self, launch_id: str):
        """The data items a launch took along (what the session's staging notebook fetches)."""
        items = own_launch_or_404(launch_id).data
        return {"items": [{"kind": "data", **item} for item in items], "total": len(items)}


@blp.route("/client/esap_client.py")
class ClientModule(MethodView):
    @blp.doc(
        security=[],
        responses={
            "200": {
                "description": "The notebook client, one Python file",
                "content": {"text/x-python": {"schema": {"type": "string"}}},
            }
        },
    )
    def get(self):
        """The notebook client (esap-client), for sessions whose image does not have it."""
        spec = find_spec("esap_client")
        if spec is None or spec.origin is None:
            abort(404, "The notebook client is not installed on this ESAP.")
        return Response(Path(spec.origin).read_text(), mimetype="text/x-python")
