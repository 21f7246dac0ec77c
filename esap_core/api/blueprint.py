"""The blueprint every API module declares its endpoints on: flask-smorest's, with ESAP's argument parser."""

from __future__ import annotations

import flask_smorest
from webargs.flaskparser import FlaskParser


class Parser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400  # bad input is a 400 with the field named, everywhere in the API


class Blueprint(flask_smorest.Blueprint):
    """The API's blueprints: flask-smorest's, with ESAP's argument parser."""

    ARGUMENTS_PARSER = Parser()
