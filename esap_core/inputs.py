"""Request input that no view could store is refused first: JSON nested too deep, and text that is not text.

Every view checks its own fields; this catches the shapes that would break them all
alike, before any of them runs, with a 400 that says what is wrong: JSON nested more
than :data:`MAX_DEPTH` deep (Python's parser and encoder recurse), lone UTF-16
surrogates (no database can encode them) and NUL characters (PostgreSQL keeps none in
text), in JSON bodies, forms and query arguments. Uploads (other content types) pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Flask, abort, request

MAX_DEPTH = 32  # levels of arrays and objects in a JSON body: basket payloads and launch options need few


def _strings(value: Any) -> Iterator[str]:
    """Every string in ``value`` (keys too), walking no deeper than MAX_DEPTH, without recursion limits."""
    pending = [(value, 1)]
    while pending:
        current, level = pending.pop()
        if isinstance(current, str):
            yield current
        elif isinstance(current, dict | list):
            if level > MAX_DEPTH:
                raise TooDeep
            items = current.items() if isinstance(current, dict) else enumerate(current)
            for key, item in items:
                if isinstance(key, str):
                    pending.append((key, level))
                pending.append((item, level + 1))


class InvalidInput(ValueError):
    """Input that cannot be used; the message says why."""


def load_json(text: str | bytes, what: str) -> Any:
    """``text`` parsed as JSON and checked as request bodies are; :class:`InvalidInput` says what is wrong."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidInput(f"{what} is nested more than {MAX_DEPTH} levels deep; flatten it.") from None
    except ValueError:
        raise InvalidInput(f"{what} is not valid JSON.") from None
    try:
        for string in _strings(value):
            if problem_in(string):
                raise InvalidInput(f"{what} contains {problem_in(string)}.")
    except TooDeep:
        raise InvalidInput(f"{what} is nested more than {MAX_DEPTH} levels deep; flatten it.") from None
    return value


class TooDeep(Exception):
    pass


def problem_in(text: str) -> str | None:
    """What makes ``text`` unstorable, if anything."""
    if "\x00" in text:
        return "a NUL character (\\u0000)"
    if any(0xD800 <= ord(character) <= 0xDFFF for character in text):
        return "a lone surrogate (half of a UTF-16 pair), which is not text"
    return None


def _refuse(where: str, text: str) -> None:
    problem = problem_in(text)
    if problem:
        abort(400, f"{where} contains {problem}; remove it and send again.")


def check_request() -> None:
    for name, value in request.args.items(multi=True):
        _refuse(f"The query argument {name[:40]!r}", name + value)
    if request.mimetype == "application/json" and request.content_length != 0:
        data = request.get_data(cache=True)
        try:
            json.loads(data or b"null")
        except ValueError:
            return  # the view's own parser answers bad JSON with its own 400
        except RecursionError:
            pass  # load_json says so below
        try:
            load_json(data, "The JSON body")
        except InvalidInput as error:
            abort(400, str(error))
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for name, value in request.form.items(multi=True):
            _refuse(f"The form field {name[:40]!r}", name + value)


def init_app(app: Flask) -> None:
    app.before_request(check_request)
