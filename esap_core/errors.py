"""Errors as a researcher should see them: JSON under /api, a page elsewhere, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from esap_core.hookspecs import CredentialsExpired
from esap_core.queue import QueueUnavailable

log = logging.getLogger(__name__)


API_PREFIXES = ("/api/", "/esap-api/", "/uws/")


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIXES)


def error_response(status: int, title: str, message: str):
    if is_api_request():
        response = jsonify(code=status, status=title, message=message)
    else:
        page = render_template("error.html", status=status, title=title, message=message, fragment=False)
        response = make_response(page)  # a response, so that a 405 can carry its Allow header
    return response, status


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        message = error.description or ""
        data = getattr(error, "data", None)  # flask-smorest / webargs put validation details here
        if isinstance(data, dict) and data.get("messages"):
            message = f"Invalid input: {_flatten(data['messages'])}"
        elif isinstance(data, dict) and data.get("message"):
            message = data["message"]
        response, status = error_response(error.code or 500, error.name, message)
        if error.code == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response, status

    @app.errorhandler(CredentialsExpired)
    def credentials_expired(error: CredentialsExpired):
        if is_api_request():
            return error_response(401, "Unauthorized", str(error))
        page = render_template("relogin.html", message=str(error), fragment=False)
        return page, 401

    @app.errorhandler(QueueUnavailable)
    def queue_unavailable(error: QueueUnavailable):
        return error_response(503, "Service Unavailable", str(error))

    @app.errorhandler(DBAPIError)
    def database_error(error: DBAPIError):
        log.error("database error on %s %s: %s", request.method, request.path, error)
        if error.connection_invalidated or isinstance(error, OperationalError):
            message = "The database is not reachable right now; please try again shortly."
            return error_response(503, "Service Unavailable", message)
        if isinstance(error, DataError):  # a value the database cannot hold, such as an id past 32 bits
            return error_response(400, "Bad Request", "A value in the request is out of range (a number too large?).")
        return error_response(500, "Internal Server Error", InternalServerError.description)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "Internal Server Error", InternalServerError.description)


def _flatten(messages) -> str:
    """webargs nests messages by location and field; say them as 'field: problem'."""
    parts = []
    for location_or_field, value in messages.items():
        if isinstance(value, dict):
            parts.append(_flatten(value))
        else:
            text = "; ".join(str(item) for item in value) if isinstance(value, list) else str(value)
            parts.append(f"{location_or_field}: {text}")
    return "; ".join(parts)
