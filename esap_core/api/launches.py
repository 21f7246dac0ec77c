"""The launches API: launch software with data on a facility, follow it, stop it, read its data back."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from flask import Response, abort
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from esap_core import launches
from esap_core.api import provenance_files
from esap_core.api.blueprint import Blueprint
from esap_core.auth import current_user, require_scope
from esap_core.db import MAX_ID
from esap_core.security import external_url

blp = Blueprint("api_launches", __name__, description="Launches: software with your data, on a facility")


class PhaseSchema(Schema):
    phase = fields.String()
    at = fields.String()
    message = fields.String()


class ClusterSchema(Schema):
    facility = fields.Dict(dump_only=True, metadata={"description": "The cluster facility: name, kind, title, url"})
    options = fields.Dict(dump_only=True)
    name = fields.String(dump_only=True, metadata={"description": "The cluster's name at its facility"})
    dashboard = fields.String(dump_only=True)
    connection = fields.Dict(dump_only=True, metadata={"description": "How a session reaches it (no credentials)"})


class LaunchSchema(Schema):
    id = fields.String(dump_only=True)
    status = fields.String(dump_only=True, metadata={"enum": [str(status) for status in launches.Status]})
    phase = fields.String(dump_only=True)
    progress = fields.Float(dump_only=True, allow_none=True, metadata={"description": "percent of this phase"})
    phases = fields.List(fields.Nested(PhaseSchema), dump_only=True)
    software = fields.Dict(dump_only=True, metadata={"description": "The software as launched"})
    facility = fields.Dict(dump_only=True)
    data = fields.List(fields.Dict(), dump_only=True, metadata={"description": "The data items, as launched"})
    details = fields.Dict(dump_only=True, metadata={"description": "What the facility reported: commit, image"})
    cluster = fields.Nested(ClusterSchema, dump_only=True, metadata={"description": "Its cluster, if any"})
    cluster_state = fields.String(
        dump_only=True, metadata={"enum": ["", "starting", "running", "stopped", "lost"], "description": "'' for none"}
    )
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
    cluster = fields.Nested(
        lambda: NewClusterSchema(),
        load_default=None,
        metadata={"description": "A cluster to start beside a notebook session (a Dask Gateway facility's)"},
    )


class NewClusterSchema(Schema):
    facility = fields.String(required=True, metadata={"description": "The cluster facility's name"})
    options = fields.Dict(load_default=dict, metadata={"description": "Its checkout choices (workers, ...)"})


class LaunchListSchema(Schema):
    launches = fields.List(fields.Nested(LaunchSchema), required=True)


class DataSchema(Schema):
    items = fields.List(fields.Dict(), required=True)
    total = fields.Integer(required=True)


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
        user, home = current_user(), external_url("pages.home")
        args = data["software_id"], data["facility"], data.get("items"), data["options"], home, data["cluster"]
        try:
            return launches.start(user, *args)
        except launches.LaunchProblem as error:
            abort(400, str(error))


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


@blp.route("/launches/<launch_id>/provenance.crate.zip")
class LaunchCrate(MethodView):
    @blp.doc(responses=provenance_files.crate_doc("launch"))
    @require_scope("launch")
    def get(self, launch_id: str):
        """The launch's provenance as an RO-Crate: software at its commit or image, data, facility, phases, outcome."""
        return provenance_files.crate(own_launch_or_404(launch_id))


@blp.route("/launches/<launch_id>/provenance.prov.json")
class LaunchProv(MethodView):
    @blp.doc(responses=provenance_files.prov_doc("launch"))
    @require_scope("launch")
    def get(self, launch_id: str):
        """The launch's provenance as W3C PROV-JSON (an activity that used the software and the data)."""
        return provenance_files.prov(own_launch_or_404(launch_id))


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
