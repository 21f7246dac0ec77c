"""The conformance suite: checks a plugin author runs on their own archives, software sources and facility types.

Each ``check_*`` function calls the object as ESAP would and raises
:class:`ConformanceError` (an ``AssertionError``, so pytest shows it as a failed
test) listing every way the answers differ from the contract in
``esap_core/hookspecs.py``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from esap_core.hookspecs import (
    Archive,
    ArchiveError,
    CheckResult,
    Column,
    DataItem,
    Facility,
    FacilityError,
    FacilityType,
    FieldType,
    HarvestProblem,
    LaunchRequest,
    QueryField,
    QueryKind,
    ResultPage,
    SoftwareRecord,
    SoftwareSource,
    StagingResult,
    UIType,
    UserContext,
)
from esap_core.testing.report import RecordingReport, json_problems

MAX_PAYLOAD_BYTES = 64 * 1024  # what the basket stores per item (esap_core.basket.MAX_PAYLOAD_BYTES)
# The fields of the one-form search across archives, per kind of question (esap_core.QueryKind).
KIND_FIELDS = {
    QueryKind.POSITION: ("ra", "dec", "radius"),
    QueryKind.TARGET: ("target",),
    QueryKind.KEYWORDS: ("keywords",),
}
# The generic fields of each fetch method a notebook understands without plugin code (esap_core.DataItem).
FETCH_FIELDS = {
    "http": ("url",),
    "datalink": ("url",),
    "tap": ("service", "adql"),
    "rucio": ("did", "host"),
}
URL_FIELDS = {"url", "service"}
STAGING_STATES = ("ready", "pending", "failed")
STAGING_GRACE = 5.0  # seconds a stage may run past its timeout (closing connections, a last answer)


class ConformanceError(AssertionError):
    """An object does not keep the plugin contract; the message lists each problem."""

    def __init__(self, subject: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{subject} does not keep the plugin contract:\n- " + "\n- ".join(problems))


def _raise_if(subject: str, problems: list[str]) -> None:
    if problems:
        raise ConformanceError(subject, problems)


# --- archives -------------------------------------------------------------------------


def check_archive(
    archive: Archive,
    query: Mapping[str, Any],
    user: UserContext | None = None,
    page: int = 1,
    timeout: float = 20.0,
) -> ResultPage:
    """Search ``archive`` with ``query`` and make a basket item of every row; return the page.

    Checks the archive's name, title and query fields, that ``query`` fits the fields
    (as the core would have checked it), that ``search`` returns a :class:`ResultPage`
    of JSON-safe rows keyed by the declared columns, and that ``basket_item`` turns
    each row into a :class:`DataItem` with a usable fetch hint and a JSON payload
    under 64 KiB. Give a query that finds something: a page without rows checks less.
    """
    subject = f"archive {getattr(archive, 'name', archive)!r}"
    if not isinstance(archive, Archive):
        raise ConformanceError(subject, [f"{archive!r} is not an esap_core.Archive"])
    problems = _identity_problems(archive, "name", ("title",))
    problems += field_problems(archive.fields, "fields")
    answers = archive.answers
    if not isinstance(answers, frozenset | set) or not all(isinstance(kind, QueryKind) for kind in answers):
        problems.append(f"answers {answers!r} is not a set of esap_core.QueryKind")
        answers = frozenset()
    _raise_if(subject, problems)
    _raise_if(subject, query_problems(archive.fields, answers, query))

    result = archive.search(query, page, user or UserContext(username="conformance"), timeout)
    _raise_if(subject, _page_problems(result, page))
    problems = []
    for index, row in enumerate(result.rows):
        try:
            item = archive.basket_item(row)
        except Exception as error:
            problems.append(f"basket_item(row {index}) raised {type(error).__name__}: {error}")
            continue
        problems += [f"basket_item(row {index}): {problem}" for problem in data_item_problems(item)]
    _raise_if(subject, problems)
    return result


def check_staging(
    archive: Archive,
    items: Iterable[DataItem],
    storage: str,
    user: UserContext | None = None,
    timeout: float = 10.0,
) -> StagingResult:
    """Ask ``archive`` to stage ``items`` at ``storage`` as a launch would; return its answer.

    Checks that the archive implements ``stage``, that it answers within ``timeout`` (plus a
    few seconds' grace) with a :class:`StagingResult` whose state is ``ready``, ``pending`` or
    ``failed``, and that its paths name only the items asked for, each with a path. A refusal
    is an :class:`ArchiveError`, which this lets through for the test to expect.
    """
    subject = f"archive {getattr(archive, 'name', archive)!r}"
    if type(archive).stage is Archive.stage:
        raise ConformanceError(subject, ["it does not implement stage"])
    items = list(items)
    started = time.monotonic()
    try:
        result = archive.stage(items, storage, user or UserContext(username="conformance"), timeout)
    except ArchiveError:
        raise
    except Exception as error:
        raise ConformanceError(
            subject, [f"stage raised {type(error).__name__}: {error}; raise esap_core.ArchiveError instead"]
        ) from error
    took = time.monotonic() - started
    problems = [f"stage took {took:.1f} s with a timeout of {timeout:g} s"] if took > timeout + STAGING_GRACE else []
    if not isinstance(result, StagingResult):
        problems.append(f"stage returned {type(result).__name__}, not an esap_core.StagingResult")
        _raise_if(subject, problems)
    if result.state not in STAGING_STATES:
        problems.append(f"state {result.state!r} is not one of {', '.join(STAGING_STATES)}")
    if not isinstance(result.message, str):
        problems.append("message is not a string")
    asked = {item.identifier for item in items}
    for identifier, path in dict(result.paths).items():
        if identifier not in asked:
            problems.append(f"paths names {identifier!r}, which was not asked for")
        if not isinstance(path, str) or not path:
            problems.append(f"the path of {identifier!r} is {path!r}, not a non-empty string")
    _raise_if(subject, problems)
    return result


def field_problems(fields: Any, where: str) -> list[str]:
    """What is wrong with a sequence of :class:`QueryField` (an archive's fields, a facility type's options)."""
    if not isinstance(fields, tuple | list):
        return [f"{where} is {type(fields).__name__}, not a tuple of esap_core.QueryField"]
    problems: list[str] = []
    names: set[str] = set()
    for index, query_field in enumerate(fields):
        if not isinstance(query_field, QueryField):
            problems.append(f"{where}[{index}] is {query_field!r}, not an esap_core.QueryField")
            continue
        name = query_field.name
        label = f"{where}[{index}] {name!r}"
        if not isinstance(name, str) or not name.isidentifier():
            problems.append(f"{label}: the name must be a Python identifier (it is a form field and a query key)")
        if name in names:
            problems.append(f"{label}: the name is used twice")
        names.add(name)
        if not isinstance(query_field.label, str) or not query_field.label.strip():
            problems.append(f"{label}: give a label (the form shows it)")
        if not isinstance(query_field.type, FieldType):
            problems.append(f"{label}: type {query_field.type!r} is not an esap_core.FieldType")
            continue
        if query_field.type is FieldType.CHOICE and not (
            query_field.choices and all(isinstance(choice, str) for choice in query_field.choices)
        ):
            problems.append(f"{label}: a choice field needs choices, as strings")
        low, high = query_field.minimum, query_field.maximum
        if low is not None and high is not None and low > high:
            problems.append(f"{label}: minimum {low} is above maximum {high}")
        if query_field.default is not None:
            problems += [f"{label}: default {problem}" for problem in value_problems(query_field, query_field.default)]
    return problems


def value_problems(query_field: QueryField, value: Any) -> list[str]:
    """Whether ``value`` is what the core hands over for ``query_field`` (already converted from the form)."""
    kind = query_field.type
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is FieldType.TEXT and not isinstance(value, str):
        return [f"{value!r} is not a string"]
    if kind is FieldType.BOOLEAN and not isinstance(value, bool):
        return [f"{value!r} is not true or false"]
    if kind is FieldType.INTEGER and not (number and isinstance(value, int)):
        return [f"{value!r} is not a whole number"]
    if kind is FieldType.NUMBER and not number:
        return [f"{value!r} is not a number"]
    if kind is FieldType.CHOICE and value not in query_field.choices:
        return [f"{value!r} is not one of the choices {list(query_field.choices)}"]
    if number and query_field.minimum is not None and value < query_field.minimum:
        return [f"{value!r} is below the minimum {query_field.minimum}"]
    if number and query_field.maximum is not None and value > query_field.maximum:
        return [f"{value!r} is above the maximum {query_field.maximum}"]
    return []


def query_problems(fields: Iterable[QueryField], answers: Iterable[QueryKind], query: Mapping[str, Any]) -> list[str]:
    """Whether the core would pass ``query``: declared fields (or one-form fields it answers), valid values."""
    if not isinstance(query, Mapping):
        return [f"the query {query!r} is not a mapping of field name to value"]
    declared = {query_field.name: query_field for query_field in fields}
    one_form = {name for kind in answers for name in KIND_FIELDS.get(kind, ())}
    problems = [
        f"the query has {key!r}, which is neither a field nor a field of a QueryKind the archive answers"
        for key in query
        if key not in declared and key not in one_form
    ]
    for key, value in query.items():
        if key in declared and value is not None:
            problems += [f"the query's {key!r}: {problem}" for problem in value_problems(declared[key], value)]
    one_form_only = bool(query) and set(query) <= one_form - set(declared)
    if not one_form_only:
        problems += [
            f"the query lacks the required field {name!r}"
            for name, query_field in declared.items()
            if query_field.required and query.get(name) in (None, "")
        ]
    return problems


def _page_problems(result: Any, page: int) -> list[str]:
    if not isinstance(result, ResultPage):
        return [f"search returned {type(result).__name__}, not an esap_core.ResultPage"]
    problems = []
    columns = result.columns
    if not isinstance(columns, list | tuple) or not all(isinstance(column, Column) for column in columns):
        return [f"columns {columns!r} is not a list of esap_core.Column"]
    names = [column.name for column in columns]
    if len(set(names)) != len(names):
        problems.append(f"the column names repeat: {names}")
    if not isinstance(result.rows, list):
        return [*problems, f"rows is {type(result.rows).__name__}, not a list"]
    if result.page != page:
        problems.append(f"the page is {result.page!r}; page {page} was asked for")
    if not isinstance(result.page_size, int) or result.page_size < 1:
        problems.append(f"page_size {result.page_size!r} is not a positive whole number")
    elif len(result.rows) > result.page_size:
        problems.append(f"{len(result.rows)} rows on a page of {result.page_size}")
    if result.total is not None and (not isinstance(result.total, int) or result.total < len(result.rows)):
        problems.append(f"total {result.total!r} is not None or a whole number of at least the rows shown")
    if not isinstance(result.notes, list) or not all(isinstance(note, str) for note in result.notes):
        problems.append("notes must be a list of strings")
    for index, row in enumerate(result.rows):
        if not isinstance(row, dict):
            problems.append(f"row {index} is {type(row).__name__}, not a dict")
            continue
        undeclared = sorted(str(key) for key in row if key not in names)
        if undeclared:
            problems.append(f"row {index} has keys that are not declared columns: {', '.join(undeclared)}")
        problems += json_problems(row, f"row {index}")
    return problems


def data_item_problems(item: Any) -> list[str]:
    """What is wrong with a basket item: identifier, title, fetch hint, payload."""
    if not isinstance(item, DataItem):
        return [f"returned {type(item).__name__}, not an esap_core.DataItem"]
    problems = []
    if not isinstance(item.identifier, str) or not item.identifier.strip() or len(item.identifier) > 1000:
        problems.append(f"identifier {item.identifier!r} must be a non-empty string of at most 1000 characters")
    if not isinstance(item.title, str):
        problems.append(f"title {item.title!r} is not a string")
    problems += fetch_problems(item.fetch)
    payload = item.payload
    if not isinstance(payload, Mapping):
        return [*problems, f"payload is {type(payload).__name__}, not a dict"]
    payload_problems = json_problems(dict(payload), "payload")
    problems += payload_problems
    if not payload_problems and len(json.dumps(dict(payload)).encode()) > MAX_PAYLOAD_BYTES:
        problems.append(f"the payload is over {MAX_PAYLOAD_BYTES // 1024} KiB as JSON: keep the row, not the data")
    return problems


def fetch_problems(fetch: Any) -> list[str]:
    """A fetch hint: a dict with ``method`` and that method's generic fields."""
    if not isinstance(fetch, Mapping):
        return [f"fetch is {type(fetch).__name__}, not a dict"]
    problems = json_problems(dict(fetch), "fetch")
    method = fetch.get("method")
    if not isinstance(method, str) or not method:
        return [*problems, f"fetch has no method (one of {', '.join(FETCH_FIELDS)}, or the plugin's own)"]
    for key in FETCH_FIELDS.get(method, ()):
        value = fetch.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"fetch method {method!r} needs {key!r}")
        elif key in URL_FIELDS and not value.startswith(("http://", "https://")):
            problems.append(f"fetch {key!r} {value!r} is not an http(s) URL")
        elif key == "did" and ":" not in value:
            problems.append(f"fetch 'did' {value!r} is not scope:name")
    return problems


# --- software sources -----------------------------------------------------------------


def check_software_source(source: SoftwareSource, since: datetime | None = None) -> list[SoftwareRecord]:
    """Harvest ``source`` and check what it yields; return the records.

    A harvest yields only :class:`SoftwareRecord` and :class:`HarvestProblem`; external
    ids are unique; fields have their declared types; UI types are :class:`UIType`;
    a problem with ``kept=True`` names a record that was yielded, one with ``kept=False``
    names none.
    """
    subject = f"software source {getattr(source, 'name', source)!r}"
    if not isinstance(source, SoftwareSource):
        raise ConformanceError(subject, [f"{source!r} is not an esap_core.SoftwareSource"])
    _raise_if(subject, _identity_problems(source, "name", ("title",)))
    records: list[SoftwareRecord] = []
    harvest_problems: list[HarvestProblem] = []
    problems: list[str] = []
    for index, yielded in enumerate(source.harvest(since)):
        if isinstance(yielded, SoftwareRecord):
            records.append(yielded)
            problems += [f"record {yielded.external_id!r}: {problem}" for problem in record_problems(yielded)]
        elif isinstance(yielded, HarvestProblem):
            harvest_problems.append(yielded)
            if not isinstance(yielded.reason, str) or not yielded.reason.strip():
                problems.append(f"the problem with {yielded.external_id!r} gives no reason")
        else:
            problems.append(f"item {index} of the harvest is {type(yielded).__name__}, not a SoftwareRecord")
    seen: set[str] = set()
    for record in records:
        if record.external_id in seen:
            problems.append(f"the external id {record.external_id!r} is yielded twice")
        seen.add(record.external_id)
    for problem in harvest_problems:
        if problem.kept and problem.external_id not in seen:
            problems.append(f"a problem says {problem.external_id!r} was kept, but no such record was yielded")
        if not problem.kept and problem.external_id in seen:
            problems.append(f"a problem says {problem.external_id!r} was left out, but it was yielded")
    _raise_if(subject, problems)
    return records


def record_problems(record: SoftwareRecord) -> list[str]:
    problems = []
    for name in ("external_id", "name"):
        value = getattr(record, name)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{name} must be a non-empty string")
    for name in ("description", "repository_url", "ref", "path", "version", "doi", "runtime_platform", "licence"):
        if not isinstance(getattr(record, name), str):
            problems.append(f"{name} is not a string")
    for name in ("authors", "keywords"):
        value = getattr(record, name)
        if not isinstance(value, tuple) or not all(isinstance(item, str) for item in value):
            problems.append(f"{name} must be a tuple of strings, not {value!r}")
    url = record.repository_url
    if isinstance(url, str) and url and not url.startswith(("http://", "https://")):
        problems.append(f"repository_url {url!r} is not an http(s) URL")
    if not isinstance(record.ui_type, UIType):
        problems.append(f"ui_type {record.ui_type!r} is not an esap_core.UIType ({', '.join(UIType)})")
    if record.updated is not None and (not isinstance(record.updated, datetime) or record.updated.tzinfo is None):
        problems.append(f"updated {record.updated!r} is not a datetime with a time zone")
    return problems


# --- facility types -------------------------------------------------------------------


def check_facility_type(
    facility_type: FacilityType,
    facility: Facility,
    request: LaunchRequest,
    timeout: float = 30.0,
    stop: bool = True,
) -> RecordingReport:
    """Check ``facility``, ask its options, launch ``request`` on it, and stop it again; return the launch's report.

    ``check`` must return a :class:`CheckResult`; ``options`` valid query fields; ``launch``
    must report phases in the order of :class:`Phase` (repeats allowed), progress from 0
    to 100, and end with exactly one ``ready(url)`` or ``failed(message)``, or raise
    :class:`FacilityError`. When the launch is ready and the type implements ``stop``,
    it is stopped (``stop=False`` leaves it running).
    """
    subject = f"facility type {getattr(facility_type, 'kind', facility_type)!r}"
    if not isinstance(facility_type, FacilityType):
        raise ConformanceError(subject, [f"{facility_type!r} is not an esap_core.FacilityType"])
    problems = _identity_problems(facility_type, "kind", ("title",))
    accepts = facility_type.accepts
    if not isinstance(accepts, frozenset | set) or not accepts or not all(isinstance(u, UIType) for u in accepts):
        problems.append(f"accepts {accepts!r} must be a non-empty set of esap_core.UIType")
    elif request.software.ui_type not in accepts:
        problems.append(f"the test's software is {request.software.ui_type.value!r}, which this type does not accept")
    if not isinstance(facility_type.personal_token_label, str):
        problems.append("personal_token_label must be a string (empty when users keep no token of their own)")
    _raise_if(subject, problems)

    result = facility_type.check(facility, timeout)
    if not isinstance(result, CheckResult):
        problems.append(f"check returned {type(result).__name__}, not an esap_core.CheckResult")
    else:
        if not isinstance(result.up, bool) or not isinstance(result.message, str):
            problems.append("check: up must be true or false and message a string")
        problems += json_problems(dict(result.metadata), "check metadata")
    problems += field_problems(facility_type.options(facility), "options")
    _raise_if(subject, problems)

    report = RecordingReport()
    raised = False
    try:
        facility_type.launch(facility, request, report)
    except FacilityError:
        raised = True
    except Exception as error:
        raise ConformanceError(
            subject, [f"launch raised {type(error).__name__}: {error}; raise esap_core.FacilityError instead"]
        ) from error
    _raise_if(subject, report.problems(raised=raised))
    if stop and report.ready_url and type(facility_type).stop is not FacilityType.stop:
        try:
            facility_type.stop(facility, request.launch_id, request.user)
        except FacilityError:
            pass  # a facility that cannot stop this launch says so; that is allowed
        except Exception as error:
            raise ConformanceError(subject, [f"stop raised {type(error).__name__}: {error}"]) from error
    return report


def launch_request(
    software: SoftwareRecord | None = None,
    data: Iterable[DataItem] = (),
    options: Mapping[str, Any] | None = None,
    user: UserContext | None = None,
    files: Mapping[str, str] | None = None,
) -> LaunchRequest:
    """A :class:`LaunchRequest` for tests: a notebook by default, and ``files`` as the staging notebook's files."""
    launch_id = uuid.uuid4().hex
    software = software or SoftwareRecord(
        external_id="conformance", name="Conformance notebook", repository_url="https://example.org/notebook.git"
    )
    staged = dict(files) if files is not None else {f"esap-{launch_id[:8]}.ipynb": _EMPTY_NOTEBOOK}
    return LaunchRequest(
        launch_id=launch_id,
        software=software,
        data=tuple(data),
        user=user or UserContext(username="conformance"),
        options=dict(options or {}),
        staging_notebook=lambda: staged,
    )


_EMPTY_NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


# --- shared ---------------------------------------------------------------------------


def _identity_problems(obj: Any, key: str, texts: tuple[str, ...]) -> list[str]:
    problems = []
    value = getattr(obj, key, "")
    if not isinstance(value, str) or not value or not value.replace("-", "").replace("_", "").isalnum():
        problems.append(f"{key} {value!r} must be letters, digits, - and _ (it is used in URLs)")
    for name in texts:
        if not isinstance(getattr(obj, name, ""), str) or not getattr(obj, name, "").strip():
            problems.append(f"give a {name} (the pages show it)")
    if not isinstance(getattr(obj, "description", ""), str):
        problems.append("description is not a string")
    return problems
