"""Data discovery: check queries against an archive's fields, and ask one or every archive, each on its own clock.

Every archive call runs in a worker thread with the app context pushed (a user's
delegated token is read from the database), and is waited for at most the archive
timeout plus a little grace: an archive that ignores its ``timeout`` argument cannot
hold up a page. Whatever an archive raises becomes an :class:`Outcome` with a message;
nothing here raises past the caller but :class:`QueryError` for bad input.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from typing import Any

import requests
from flask import Flask, current_app

from esap_core.hookspecs import (
    Archive,
    ArchiveError,
    CredentialsExpired,
    FieldType,
    QueryField,
    QueryKind,
    ResultPage,
    UserContext,
    detail_of,
)

log = logging.getLogger(__name__)

GRACE = 1.0  # seconds an archive gets past its timeout to report its own failure
MAX_TEXT = 1000  # characters in one text field
MAX_PAGE = 10_000
RELOGIN = "Your login has expired: log in again to search this archive."

# The fields of the one-form search, by the kind of question; archives that declare the kind take them.
KIND_FIELDS: dict[QueryKind, tuple[QueryField, ...]] = {
    QueryKind.POSITION: (
        QueryField(
            "ra",
            "RA (deg)",
            FieldType.NUMBER,
            required=True,
            minimum=0,
            maximum=360,
            help="Right ascension, ICRS, in degrees",
        ),
        QueryField(
            "dec",
            "Dec (deg)",
            FieldType.NUMBER,
            required=True,
            minimum=-90,
            maximum=90,
            help="Declination, ICRS, in degrees",
        ),
        QueryField(
            "radius",
            "Radius (deg)",
            FieldType.NUMBER,
            required=True,
            default=0.1,
            minimum=0,
            maximum=90,
            help="Search radius in degrees",
        ),
    ),
    QueryKind.TARGET: (QueryField("target", "Target", required=True, help="An object name, such as M31"),),
    QueryKind.KEYWORDS: (QueryField("keywords", "Keywords", required=True, help="Words to look for"),),
}


class QueryError(ValueError):
    """Query values that do not fit the fields; ``problems`` maps each field name to what is wrong."""

    def __init__(self, problems: Mapping[str, str]):
        self.problems = dict(problems)
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in self.problems.items()))


class ArchiveTimeout(ArchiveError):
    """The archive did not answer within its time (and did not say so itself)."""


@dataclass(frozen=True)
class Outcome:
    """What one archive answered: a page of results, or a message saying why not."""

    archive: str
    title: str
    result: ResultPage | None = None
    message: str = ""
    status: str = "ok"  # ok | error | timeout | login | invalid
    detail: str = ""  # the technical side of a failure, behind a disclosure
    seconds: float = 0.0
    query: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result is not None


# --- checking values ---------------------------------------------------------------


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def convert(spec: QueryField, value: Any) -> Any:
    """One value as the field's type, within its bounds; ValueError with a readable reason."""
    if spec.type is FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError("must be true or false")
    if spec.type in (FieldType.NUMBER, FieldType.INTEGER):
        return number(spec, value)
    text = str(value).strip()
    if any(ord(character) < 32 and character not in "\t" for character in text):
        raise ValueError("must not contain control characters")
    if len(text) > MAX_TEXT:
        raise ValueError(f"must be at most {MAX_TEXT} characters")
    if spec.type is FieldType.CHOICE and spec.choices and text not in spec.choices:
        raise ValueError(f"must be one of {', '.join(spec.choices)}, not {text[:40]!r}")
    return text


def number(spec: QueryField, value: Any) -> float | int:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    try:
        result = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be a number, not {str(value)[:40]!r}") from None
    if not math.isfinite(result):
        raise ValueError("must be a finite number")
    if spec.type is FieldType.INTEGER:
        if result != int(result):
            raise ValueError("must be a whole number")
        result = int(result)
    if spec.minimum is not None and result < spec.minimum:
        raise ValueError(f"must be at least {spec.minimum:g}, not {result:g}")
    if spec.maximum is not None and result > spec.maximum:
        raise ValueError(f"must be at most {spec.maximum:g}, not {result:g}")
    return result


def check(fields: Iterable[QueryField], values: Mapping[str, Any], defaults: bool = True) -> dict[str, Any]:
    """The values of ``fields`` found in ``values``, converted and checked; raises :class:`QueryError`.

    Blank values are left out, or take the field's default (``defaults``); other keys are ignored.
    """
    checked: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for spec in fields:
        value = values.get(spec.name)
        if blank(value):
            if defaults and spec.default is not None:
                checked[spec.name] = spec.default
            elif spec.required:
                problems[spec.name] = f"{spec.label} is required"
            continue
        try:
            checked[spec.name] = convert(spec, value)
        except ValueError as error:
            problems[spec.name] = f"{spec.label} {error}"
    if problems:
        raise QueryError(problems)
    return checked


def kind_of(values: Mapping[str, Any]) -> QueryKind:
    """Which question the one form asks: the one kind whose fields are filled in."""
    # A field with a default (the radius) does not make a question on its own.
    filled = [
        kind
        for kind, specs in KIND_FIELDS.items()
        if any(not blank(values.get(spec.name)) for spec in specs if spec.default is None)
    ]
    if not filled:
        raise QueryError({"query": "Give a position (RA, Dec and radius), a target name, or keywords."})
    if len(filled) > 1:
        names = " and ".join(KIND_LABELS[kind] for kind in filled)
        raise QueryError({"query": f"Give one kind of question at a time: you gave {names}."})
    return filled[0]


KIND_LABELS = {QueryKind.POSITION: "a position", QueryKind.TARGET: "a target", QueryKind.KEYWORDS: "keywords"}


def kind_fields(archives: Iterable[Archive]) -> dict[QueryKind, tuple[QueryField, ...]]:
    """The one form's fields, with each number bounded so that every archive asked accepts it.

    An archive that declares a field of the same name (a radius of at most 10 degrees, say)
    narrows the form's bounds for that kind, and the help names it: the form refuses what an
    archive would refuse, instead of that archive's panel failing on its own. A wider search
    is still there on the archive's own page.
    """
    chosen = list(archives)
    return {
        kind: tuple(_narrowed(spec, answering(chosen, kind))[0] for spec in specs)
        for kind, specs in KIND_FIELDS.items()
    }


def _narrowed(spec: QueryField, archives: list[Archive]) -> tuple[QueryField, str]:
    """``spec`` within the bounds of the archives' own fields of its name, and a note naming who set the maximum."""
    if spec.type not in (FieldType.NUMBER, FieldType.INTEGER):
        return spec, ""
    minimum, maximum, limited_by = spec.minimum, spec.maximum, []
    for archive in archives:
        own = next((field for field in archive.fields if field.name == spec.name), None)
        if own is None:
            continue
        if own.maximum is not None and (maximum is None or own.maximum < maximum):
            maximum, limited_by = own.maximum, [archive.label]
        elif own.maximum is not None and own.maximum == maximum and limited_by:
            limited_by.append(archive.label)
        if own.minimum is not None and (minimum is None or own.minimum > minimum):
            minimum = own.minimum
    if (minimum, maximum) == (spec.minimum, spec.maximum):
        return spec, ""
    note = (
        f"{' and '.join(limited_by)} search{'es' if len(limited_by) == 1 else ''} at most {maximum:g}"
        if limited_by
        else ""
    )
    return replace(spec, minimum=minimum, maximum=maximum, help=f"{spec.help}; {note}" if note else spec.help), note


def check_kind(kind: QueryKind, values: Mapping[str, Any], archives: Iterable[Archive] | None = None) -> dict[str, Any]:
    """The one-form question of ``kind``, within the bounds of ``archives`` too; raises :class:`QueryError`."""
    if archives is None:
        checked = check(KIND_FIELDS[kind], values)
    else:
        narrowed = [_narrowed(spec, answering(list(archives), kind)) for spec in KIND_FIELDS[kind]]
        try:
            checked = check([spec for spec, _ in narrowed], values)
        except QueryError as error:
            notes = {spec.name: note for spec, note in narrowed if note}
            raise QueryError(
                {
                    name: f"{problem} ({notes[name]})" if name in notes else problem
                    for name, problem in error.problems.items()
                }
            ) from None
    if kind is QueryKind.POSITION and checked["radius"] <= 0:
        raise QueryError({"radius": "Radius (deg) must be more than 0"})
    return checked


def archive_query(archive: Archive, values: Mapping[str, Any], kind: QueryKind | None = None) -> dict[str, Any]:
    """The query ``archive.search`` gets: its own fields checked (with defaults) and, for a kind, its values."""
    if kind is None:
        return check(archive.fields, values)
    asked = check_kind(kind, values)
    declared = {spec.name for spec in archive.fields}
    # The kind's values must also fit the archive's own bounds for them (a smaller maximum radius, say).
    own = check(archive.fields, {**{k: v for k, v in values.items() if k in declared}, **asked})
    return {**own, **asked}


def answering(archives: Iterable[Archive], kind: QueryKind) -> list[Archive]:
    return [archive for archive in archives if kind in archive.answers]


def check_page(value: Any) -> int:
    try:
        page = int(str(value or 1))
    except ValueError:
        raise QueryError({"page": "page must be a whole number"}) from None
    if not 1 <= page <= MAX_PAGE:
        raise QueryError({"page": f"page must be between 1 and {MAX_PAGE}"})
    return page


# --- asking archives -----------------------------------------------------------------


def shared_token(user: UserContext) -> UserContext:
    """The same user, whose delegated token is fetched (or refreshed) once for all archives of a search."""
    lock = threading.Lock()
    memo: dict[str, Any] = {}

    def access_token() -> str | None:
        with lock:
            if "token" not in memo:
                try:
                    memo["token"] = user.access_token()
                except CredentialsExpired as error:
                    memo["token"] = error
            if isinstance(memo["token"], CredentialsExpired):
                raise memo["token"]
            return memo["token"]

    return UserContext(user.username, user.claims, user.is_admin, access_token)


def call(
    archive: Archive,
    function: Callable[[float], Any],
    timeout: float,
    app: Flask | None = None,
) -> Any:
    """Run ``function(timeout)`` for ``archive`` in a worker, waiting at most ``timeout`` plus grace.

    Raises ArchiveError (with the archive's own message, or a timeout message) or
    CredentialsExpired; any other exception is logged and becomes a generic ArchiveError.
    """
    app = app or current_app._get_current_object()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"archive-{archive.name}")
    try:
        future = pool.submit(_in_context, app, function, timeout)
        try:
            return future.result(timeout=timeout + GRACE)
        except FutureTimeout:
            raise ArchiveTimeout(f"{archive.label} did not answer within {timeout:g} s.") from None
        except (ArchiveError, CredentialsExpired):
            raise
        except Exception:
            log.exception("archive %r failed", archive.name)
            raise ArchiveError(f"{archive.label} failed unexpectedly; the error is logged.") from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a hung archive keeps its thread, not the page


def _in_context(app: Flask, function: Callable[[float], Any], timeout: float) -> Any:
    with app.app_context():
        return function(timeout)


def timed_out(error: BaseException) -> bool:
    """Whether an archive's failure was a timeout: ours, or one the archive caught and reworded.

    Plugins raise ArchiveError from the network error (``raise ... from``, or inside the
    ``except`` block), so the timeout is found among its causes and contexts (and pyvo's
    ``cause`` attribute).
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        if isinstance(current, ArchiveTimeout | TimeoutError | requests.Timeout):
            return True
        seen.add(id(current))
        cause = getattr(current, "cause", None)
        pending += [current.__cause__, current.__context__, cause if isinstance(cause, BaseException) else None]
    return False


def ask(
    archive: Archive,
    query: Mapping[str, Any],
    page: int,
    user: UserContext,
    timeout: float,
    app: Flask | None = None,
) -> Outcome:
    """One archive's answer to ``query`` (already checked), or its failure as a message."""
    started = time.monotonic()
    title = archive.label

    def outcome(**kwargs: Any) -> Outcome:
        return Outcome(archive.name, title, seconds=time.monotonic() - started, query=dict(query), **kwargs)

    try:
        result = call(archive, lambda left: archive.search(query, page, user, left), timeout, app)
    except CredentialsExpired:
        return outcome(message=RELOGIN, status="login")
    except ArchiveError as error:
        status = "timeout" if timed_out(error) else "error"
        return outcome(message=str(error) or f"{title} failed.", status=status, detail=detail_of(error))
    if not isinstance(result, ResultPage):
        log.error("archive %r returned %r instead of a ResultPage", archive.name, type(result).__name__)
        return outcome(message=f"{title} answered something ESAP cannot show.", status="error")
    return outcome(result=result)


def fan_out(
    archives: Iterable[Archive],
    kind: QueryKind,
    values: Mapping[str, Any],
    user: UserContext,
    timeout: float,
    app: Flask | None = None,
) -> list[Outcome]:
    """Ask every archive that answers ``kind`` at once; one Outcome each, in the archives' order.

    ``values`` must hold a valid question of ``kind`` (:func:`check_kind` raises otherwise);
    an archive whose own fields refuse it gets an ``invalid`` outcome.
    """
    archives = list(archives)
    check_kind(kind, values, archives)
    app = app or current_app._get_current_object()
    user = shared_token(user)
    chosen = answering(archives, kind)
    if not chosen:
        return []
    outcomes: dict[str, Outcome] = {}
    pool = ThreadPoolExecutor(max_workers=min(len(chosen), 16), thread_name_prefix="fan-out")
    try:
        futures = {}
        for archive in chosen:
            try:
                query = archive_query(archive, values, kind)
            except QueryError as error:
                title = archive.label
                outcomes[archive.name] = Outcome(archive.name, title, message=str(error), status="invalid")
                continue
            futures[archive.name] = pool.submit(ask, archive, query, 1, user, timeout, app)
        for name, future in futures.items():
            outcomes[name] = future.result()  # ask() never raises and returns within timeout + grace
    finally:
        pool.shutdown(wait=False)
    return [outcomes[archive.name] for archive in chosen]
