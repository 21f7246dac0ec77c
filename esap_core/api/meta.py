"""API about ESAP itself: health and plugins."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from esap_core.api.blueprint import Blueprint

blp = Blueprint("meta", __name__, description="ESAP's health and its plugins")


class CheckSchema(Schema):
    ok = fields.Boolean(required=True)
    message = fields.String(required=True)


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok", "degraded"]})
    reasons = fields.List(fields.String(), required=True)
    database = fields.Nested(CheckSchema, required=True)
    queue = fields.Nested(CheckSchema, required=True)
    version = fields.String(required=True)


class PluginSchema(Schema):
    name = fields.String(required=True)
    version = fields.String(required=True)
    builtin = fields.Boolean(required=True)
    status = fields.String(required=True, metadata={"enum": ["loaded", "failed"]})
    hooks = fields.List(fields.String(), required=True)
    registered = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True)
    error = fields.String(required=True)
    note = fields.String(required=True, metadata={"description": "Why a plugin that loaded registered nothing"})


class PluginListSchema(Schema):
    plugins = fields.List(fields.Nested(PluginSchema), required=True)


def database_status() -> tuple[bool, str]:
    session = current_app.extensions["esap.db"].session
    try:
        session.execute(text("SELECT 1"))
        session.rollback()
    except SQLAlchemyError as error:
        return False, f"database unreachable: {type(error).__name__}"
    return True, "ok"


@blp.route("/health")
class Health(MethodView):
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    def get(self):
        """Whether the database and the job queue answer.

        Always 200 while the web answers: ``status`` is ``degraded`` with the reasons
        when a part is down (pages still serve; launching waits for the queue).
        """
        from esap_core import __version__

        database = database_status()
        queue = current_app.extensions["esap.queue"].status()
        reasons = [message for ok, message in (database, queue) if not ok]
        return {
            "status": "degraded" if reasons else "ok",
            "reasons": reasons,
            "database": {"ok": database[0], "message": database[1]},
            "queue": {"ok": queue[0], "message": queue[1]},
            "version": __version__,
        }


@blp.route("/plugins")
class PluginList(MethodView):
    @blp.doc(security=[])
    @blp.response(200, PluginListSchema)
    def get(self):
        """The plugins ESAP found, what they implement and registered, and any that failed."""
        plugins = current_app.extensions["esap.plugins"].info.values()
        return {"plugins": [{**vars(info), "status": info.status} for info in plugins]}
