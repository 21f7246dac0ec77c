"""The REST API under /api/v1 (flask-smorest): OpenAPI document, docs UI, and the core endpoints."""

from __future__ import annotations

import flask
from flask import Flask, render_template
from flask_smorest import Api

from esap_core import __version__
from esap_core.db import DatabaseId

api = Api()
docs = flask.Blueprint("api_docs", __name__)


@docs.get("/api/v1/docs")
def docs_page():
    # Swagger UI from the npm registry, served from our static folder, started by a static script.
    return render_template("api_docs.html", fragment=False)


def init_app(app: Flask) -> None:
    app.config.update(
        API_TITLE="ESAP",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": "Find data and software, keep them in a basket, launch analyses."},
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer", "description": "A personal API token"}
                }
            },
            "security": [{"bearer": []}],
        },
    )
    api.init_app(app)
    api.register_converter(DatabaseId, lambda converter: {"type": "integer", "minimum": 0, "maximum": converter.max})
    from esap_core.api import (
        account,
        basket,
        compat,
        data,
        facilities,
        jobs,
        launches,
        meta,
        publications,
        software,
        workspace,
    )

    for module in (meta, account, basket, workspace, publications, facilities, launches, jobs, data, software):
        api.register_blueprint(module.blp, url_prefix="/api/v1")
    api.register_blueprint(compat.blp)
    app.register_blueprint(docs)
    from esap_core.api import uws  # ESAP's jobs as an IVOA UWS 1.1 service: XML, outside the OpenAPI document

    app.register_blueprint(uws.bp)
