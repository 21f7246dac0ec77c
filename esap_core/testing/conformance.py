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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from esap_core.hookspecs import (
    Archive,
    ArchiveError,
    CheckResult,
    Cluster,
    ClusterFacility,
    Column,
    DataItem,
    DidCatalogue,
    Facility,
    FacilityError,
    FacilityType,
    FieldType,
    HarvestProblem,
    JobFacility,
    JobPhase,
    JobRequest,
    JobResult,
    JobStatus,
    LaunchRequest,
    QueryField,
    QueryKind,
    ResultPage,
    Secret,
    Service,
    ServiceRegistry,
    SessionFacility,
    SoftwareRecord,
    SoftwareSource,
    StagingArchive,
    StagingResult,
    StopsSessions,
    TableInfo,
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
JOB_CALL_TIMEOUT = 30.0  # seconds each call of a job's check may take (at most the check's own timeout)
JOB_GRACE = 5.0  # seconds a job facility's call may run past its timeout
JOB_POLL = 0.5  # seconds between two status calls while a job runs
RESULTS_OPENED = 20  # results a job's check opens and reads, at most


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
    if not isinstance(archive, StagingArchive):
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


UWS_PHASES = {"PENDING", "QUEUED", "EXECUTING", "COMPLETED", "ERROR", "ABORTED", "UNKNOWN", "HELD", "SUSPENDED"}
JOB_WAIT = 60.0  # seconds an asynchronous query of check_services may take to complete


def check_services(
    archive: Archive,
    row: Mapping[str, Any],
    statement: str = "",
    user: UserContext | None = None,
    timeout: float = 20.0,
    run_async: bool = True,
    cone: tuple[float, float, float] = (0.0, 0.0, 1.0),
) -> ResultPage:
    """Query the service a registry ``row`` describes as the service pages would; return the rows it answered.

    Checks that the archive is a :class:`ServiceRegistry`, that ``service_of`` names a TAP or
    cone search service by http(s) URL, and then, for TAP: ``tables`` and ``table`` (with
    :class:`Column` objects), ``run_query`` of ``statement`` (by default the first rows of the
    first table) within its row limit, the same statement as an asynchronous job followed to
    COMPLETED, its results and its deletion (``run_async``); for a cone search, ``cone_search``
    of ``cone`` (ra, dec, radius in degrees). Every row must become a basket item (``service_item``).
    """
    subject = f"archive {getattr(archive, 'name', archive)!r}"
    if not isinstance(archive, ServiceRegistry):
        raise ConformanceError(subject, ["it is not an esap_core.ServiceRegistry"])
    user = user or UserContext(username="conformance")
    service = _answer(subject, "service_of", archive.service_of, row)
    if not isinstance(service, Service) or service.kind not in ("tap", "scs"):
        raise ConformanceError(subject, [f"service_of(row) is {service!r}, not a Service of kind tap or scs"])
    if not service.url.startswith(("http://", "https://")):
        raise ConformanceError(subject, [f"service_of(row) gives the URL {service.url!r}, not an http(s) one"])
    if service.kind == "scs":
        result = _answer(subject, "cone_search", archive.cone_search, service.url, *cone, user, timeout)
        _raise_if(subject, _page_problems(result, result.page if isinstance(result, ResultPage) else 1))
        _raise_if(subject, _service_item_problems(archive, service, result, ""))
        return result
    tables = _answer(subject, "tables", archive.tables, service.url, user, timeout)
    problems = _table_problems(tables, "tables")
    _raise_if(subject, problems or ([] if tables else ["tables lists no table"]))
    table = _answer(subject, "table", archive.table, service.url, tables[0].name, user, timeout)
    problems = _table_problems([table], "table")
    if not problems and not table.columns:
        problems.append(f"table {tables[0].name!r} has no columns")
    _raise_if(subject, problems)
    statement = statement or f"SELECT TOP 3 * FROM {table.name}"
    result = _answer(subject, "run_query", archive.run_query, service.url, statement, 3, user, timeout)
    problems = _page_problems(result, result.page if isinstance(result, ResultPage) else 1)
    if not problems and len(result.rows) > 3:
        problems.append(f"run_query returned {len(result.rows)} rows with a limit of 3")
    _raise_if(subject, problems)
    _raise_if(subject, _service_item_problems(archive, service, result, statement))
    if run_async:
        _check_async_query(subject, archive, service.url, statement, user, timeout)
    return result


def _check_async_query(
    subject: str, archive: ServiceRegistry, url: str, statement: str, user: UserContext, timeout: float
) -> None:
    job = _answer(subject, "submit_query", archive.submit_query, url, statement, 3, user, timeout)
    if not isinstance(job, str) or not job.startswith(("http://", "https://")):
        raise ConformanceError(subject, [f"submit_query returned {job!r}, not the job's http(s) URL"])
    try:
        deadline = time.monotonic() + JOB_WAIT
        while (phase := _answer(subject, "job_phase", archive.job_phase, job, user, timeout)) != "COMPLETED":
            if phase not in UWS_PHASES or phase in ("ERROR", "ABORTED") or time.monotonic() > deadline:
                raise ConformanceError(subject, [f"the asynchronous query's phase is {phase!r}, not COMPLETED"])
            time.sleep(JOB_POLL)
        result = _answer(subject, "job_results", archive.job_results, job, user, timeout)
        _raise_if(subject, _page_problems(result, result.page if isinstance(result, ResultPage) else 1))
    finally:
        _answer(subject, "cancel_job", archive.cancel_job, job, user, timeout)


def check_dids(
    archive: Archive,
    did: str,
    user: UserContext | None = None,
    timeout: float = 20.0,
) -> ResultPage:
    """Browse ``did`` (a dataset or container) as the DID pages would; return its first page of contents.

    Checks that the archive is a :class:`DidCatalogue`, that ``scopes`` lists strings, that
    ``metadata`` is JSON-safe, that ``contents`` is a page whose rows become basket items
    (``basket_item``), and that ``replicas`` are JSON-safe dicts as :meth:`DidCatalogue.replicas` says.
    """
    subject = f"archive {getattr(archive, 'name', archive)!r}"
    if not isinstance(archive, DidCatalogue):
        raise ConformanceError(subject, ["it is not an esap_core.DidCatalogue"])
    user = user or UserContext(username="conformance")
    scopes = _answer(subject, "scopes", archive.scopes, user, timeout)
    problems = [] if isinstance(scopes, list) else [f"scopes returned {type(scopes).__name__}, not a list"]
    problems += [f"scope {scope!r} is not a non-empty string" for scope in scopes if not problems and not scope]
    metadata = _answer(subject, "metadata", archive.metadata, did, user, timeout)
    if not isinstance(metadata, dict):
        problems.append(f"metadata returned {type(metadata).__name__}, not a dict")
    else:
        problems += json_problems(metadata, "metadata")
    _raise_if(subject, problems)
    contents = _answer(subject, "contents", archive.contents, did, 1, user, timeout)
    _raise_if(subject, _page_problems(contents, 1))
    for index, row in enumerate(contents.rows):
        item = _answer(subject, f"basket_item(contents row {index})", archive.basket_item, row)
        problems += [f"basket_item(contents row {index}): {problem}" for problem in data_item_problems(item)]
    replicas = _answer(subject, "replicas", archive.replicas, did, user, timeout)
    if not isinstance(replicas, list):
        problems.append(f"replicas returned {type(replicas).__name__}, not a list")
    else:
        for index, replica in enumerate(replicas):
            rses = replica.get("rses", []) if isinstance(replica, dict) else None
            if not isinstance(replica, dict) or not isinstance(replica.get("did"), str):
                problems.append(f"replica {index} is {replica!r}, not a dict naming its 'did'")
            elif not isinstance(rses, list) or not all(isinstance(rse, str) for rse in rses):
                problems.append(f"replica {index}: rses {rses!r} is not a list of storage element names")
            else:
                problems += json_problems(replica, f"replica {index}")
    _raise_if(subject, problems)
    return contents


def _answer(subject: str, method: str, call: Any, *args: Any) -> Any:
    """``call(*args)``; an archive must raise ArchiveError (let through for the test to see), nothing else."""
    try:
        return call(*args)
    except (ArchiveError, ConformanceError):
        raise
    except Exception as error:
        raise ConformanceError(
            subject, [f"{method} raised {type(error).__name__}: {error}; raise esap_core.ArchiveError instead"]
        ) from error


def _table_problems(tables: Any, where: str) -> list[str]:
    if not isinstance(tables, list):
        return [f"{where} returned {type(tables).__name__}, not a list of esap_core.TableInfo"]
    problems = []
    for table in tables:
        if not isinstance(table, TableInfo) or not isinstance(table.name, str) or not table.name:
            problems.append(f"{where}: {table!r} is not an esap_core.TableInfo with a name")
        elif not all(isinstance(column, Column) for column in table.columns):
            problems.append(f"{where}: the columns of {table.name!r} are not esap_core.Column objects")
    return problems


def _service_item_problems(archive: ServiceRegistry, service: Service, result: ResultPage, statement: str) -> list[str]:
    problems = []
    for index, row in enumerate(result.rows):
        item = _answer(
            f"archive {archive.name!r}",
            f"service_item(row {index})",
            archive.service_item,
            service.kind,
            service.url,
            row,
            statement,
        )
        problems += [f"service_item(row {index}): {problem}" for problem in data_item_problems(item)]
    return problems


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
    it is stopped (``stop=False`` leaves it running). A type that is also a
    :class:`ClusterFacility` must report ``cluster=<name>`` when ready; that cluster is
    stopped with ``stop_cluster``, however the launch ended.
    """
    subject = f"facility type {getattr(facility_type, 'kind', facility_type)!r}"
    if not isinstance(facility_type, SessionFacility):
        raise ConformanceError(subject, [f"{facility_type!r} is not an esap_core.SessionFacility: it cannot launch"])
    problems = _facility_type_problems(facility_type)
    if not problems and request.software.ui_type not in facility_type.accepts:
        problems.append(f"the test's software is {request.software.ui_type.value!r}, which this type does not accept")
    _raise_if(subject, problems)
    _raise_if(subject, _check_and_options_problems(facility_type, facility, timeout))

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
    problems = report.problems(raised=raised)
    cluster = report.details.get("cluster") if isinstance(facility_type, ClusterFacility) else None
    if isinstance(facility_type, ClusterFacility) and report.ready_url and not cluster:
        problems.append("the launch is ready but reported no cluster=<name>: ESAP could not stop its cluster")
    if stop and isinstance(cluster, str) and cluster:
        problems += _stop_cluster_problems(facility_type, facility, cluster, request.user)
    _raise_if(subject, problems)
    if stop and report.ready_url and isinstance(facility_type, StopsSessions):
        can_stop = facility_type.can_stop(facility)
        if not isinstance(can_stop, bool):
            raise ConformanceError(subject, [f"can_stop returned {can_stop!r}, not true or false"])
        try:
            facility_type.stop(facility, request.launch_id, request.user, details=report.details)
        except FacilityError:
            pass  # a facility that cannot stop this launch says so; that is allowed
        except Exception as error:
            raise ConformanceError(subject, [f"stop raised {type(error).__name__}: {error}"]) from error
    return report


def check_cluster_facility(
    facility_type: FacilityType,
    facility: Facility,
    request: LaunchRequest,
    timeout: float = 30.0,
    stop: bool = True,
) -> Cluster:
    """Check ``facility``, ask its options, start a cluster for ``request`` and stop it again; return the cluster.

    ``start_cluster`` must report phases as a launch does but never end the launch (no
    ``ready`` or ``failed``: the session that follows does), report ``cluster=<name>``, and
    return a :class:`Cluster` whose name is that one, whose dashboard is empty or an http(s)
    URL, whose connection is JSON with a ``kind``, and whose credentials are
    :class:`Secret` values. A refusal (:class:`FacilityError`) is let through for the test to
    expect. ``stop_cluster`` is then called twice: a cluster already gone is not an error
    (``stop=False`` leaves the cluster running).
    """
    subject = f"facility type {getattr(facility_type, 'kind', facility_type)!r}"
    if not isinstance(facility_type, ClusterFacility):
        raise ConformanceError(subject, [f"{facility_type!r} is not an esap_core.ClusterFacility"])
    _raise_if(subject, _facility_type_problems(facility_type))
    _raise_if(subject, _check_and_options_problems(facility_type, facility, timeout))

    report = RecordingReport()
    try:
        cluster = facility_type.start_cluster(facility, request, report)
    except FacilityError:
        raise
    except Exception as error:
        raise ConformanceError(
            subject, [f"start_cluster raised {type(error).__name__}: {error}; raise esap_core.FacilityError instead"]
        ) from error
    named = report.details.get("cluster")
    problems = [problem for problem in report.problems(raised=True) if "called ready() and then raised" not in problem]
    problems += [
        f"start_cluster called report.{name}(): the session launched after it ends the launch"
        for name in ("ready", "failed")
        if report.of(name)
    ]
    if not isinstance(cluster, Cluster):
        problems.append(f"start_cluster returned {type(cluster).__name__}, not an esap_core.Cluster")
        if isinstance(named, str) and named and stop:
            problems += _stop_cluster_problems(facility_type, facility, named, request.user)
        _raise_if(subject, problems)
    problems += _cluster_problems(cluster, named)
    if stop:
        problems += _stop_cluster_problems(facility_type, facility, cluster.name, request.user)
    _raise_if(subject, problems)
    return cluster


def _cluster_problems(cluster: Cluster, named: Any) -> list[str]:
    problems = []
    if not isinstance(cluster.name, str) or not cluster.name:
        problems.append(f"the cluster's name {cluster.name!r} is not a non-empty string")
    if named != cluster.name:
        problems.append(f"start_cluster reported cluster={named!r}, not the cluster's name {cluster.name!r}")
    dashboard = cluster.dashboard
    if not isinstance(dashboard, str) or (dashboard and not dashboard.startswith(("http://", "https://"))):
        problems.append(f"the dashboard {dashboard!r} is neither empty nor an http(s) URL")
    if not isinstance(cluster.connection, Mapping):
        problems.append(f"the connection is {type(cluster.connection).__name__}, not a dict")
    else:
        problems += json_problems(dict(cluster.connection), "connection")
        if not isinstance(cluster.connection.get("kind"), str) or not cluster.connection.get("kind"):
            problems.append("the connection has no kind (the client that connects, such as 'dask')")
    if not isinstance(cluster.credentials, Mapping):
        problems.append(f"the credentials are {type(cluster.credentials).__name__}, not a dict")
    else:
        problems += [
            f"the credential {key!r} is {type(value).__name__}, not an esap_core.Secret"
            for key, value in cluster.credentials.items()
            if not isinstance(value, Secret)
        ]
    return problems


def _stop_cluster_problems(
    facility_type: ClusterFacility, facility: Facility, name: str, user: UserContext
) -> list[str]:
    """Stop the cluster, then stop it again: the second time it is gone, which is not an error."""
    for attempt in ("stop_cluster", "stop_cluster of a cluster already stopped"):
        try:
            facility_type.stop_cluster(facility, name, user)
        except Exception as error:
            return [f"{attempt} raised {type(error).__name__}: {error}"]
    return []


def _facility_type_problems(facility_type: FacilityType) -> list[str]:
    problems = _identity_problems(facility_type, "kind", ("title",))
    accepts = facility_type.accepts
    if not isinstance(accepts, frozenset | set) or not accepts or not all(isinstance(u, UIType) for u in accepts):
        problems.append(f"accepts {accepts!r} must be a non-empty set of esap_core.UIType")
    if not isinstance(facility_type.personal_token_label, str):
        problems.append("personal_token_label must be a string (empty when users keep no token of their own)")
    return problems


def _check_and_options_problems(facility_type: FacilityType, facility: Facility, timeout: float) -> list[str]:
    problems = []
    result = facility_type.check(facility, timeout)
    if not isinstance(result, CheckResult):
        problems.append(f"check returned {type(result).__name__}, not an esap_core.CheckResult")
    else:
        if not isinstance(result.up, bool) or not isinstance(result.message, str):
            problems.append("check: up must be true or false and message a string")
        problems += json_problems(dict(result.metadata), "check metadata")
    problems += field_problems(facility_type.options(facility), "options")
    return problems


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


# --- job facilities -------------------------------------------------------------------


@dataclass
class JobRun:
    """What :func:`check_job_facility` saw: the facility's id of the job, its phases, its end, results and log."""

    job: str
    phases: list[JobPhase] = field(default_factory=list)
    status: JobStatus | None = None
    results: list[JobResult] = field(default_factory=list)
    contents: dict[str, bytes] = field(default_factory=dict)
    log: str = ""


def check_job_facility(
    facility_type: FacilityType,
    facility: Facility,
    request: JobRequest,
    timeout: float = 120.0,
) -> JobRun:
    """Submit ``request``, follow it to its end within ``timeout`` seconds, and read what it left; return the run.

    ``check`` must return a :class:`CheckResult`; ``options`` and ``job_fields`` valid query
    fields that the request's options and parameters fit (as the core would have checked
    them); ``submit`` a non-empty id; ``status`` a :class:`JobStatus` each time, never UNKNOWN
    for the job just submitted, reaching a final phase within ``timeout`` and staying there;
    ``log`` text of at most the tail asked for; ``results`` :class:`JobResult` with unique
    names, each of which ``open_result`` streams (its size as listed, never past
    ``request.max_result_bytes``), while a name leaving the job's folder is refused with
    :class:`FacilityError`; and ``cancel`` of the ended job raises :class:`FacilityError`
    saying why. A :class:`FacilityError` from ``job_fields`` or ``submit`` is let through for
    the test to expect; any other exception is a breach. The job may end in any final phase:
    the test says which it expects.
    """
    subject = f"facility type {getattr(facility_type, 'kind', facility_type)!r}"
    if not isinstance(facility_type, JobFacility):
        raise ConformanceError(subject, [f"{facility_type!r} is not an esap_core.JobFacility: it cannot run jobs"])
    problems = _identity_problems(facility_type, "kind", ("title",))
    accepts = facility_type.accepts
    if not isinstance(accepts, frozenset | set) or not all(isinstance(u, UIType) for u in accepts):
        problems.append(f"accepts {accepts!r} must be a set of esap_core.UIType")
    elif accepts and (request.command or request.notebook) and request.software.ui_type not in accepts:
        problems.append(f"the test's software is {request.software.ui_type.value!r}, which this type does not accept")
    if not isinstance(facility_type.personal_token_label, str):
        problems.append("personal_token_label must be a string (empty when users keep no token of their own)")
    _raise_if(subject, problems)

    call_timeout = min(timeout, JOB_CALL_TIMEOUT)
    call = _JobCalls(subject, call_timeout)
    result = call("check", facility_type.check, facility, call_timeout)
    if not isinstance(result, CheckResult):
        problems.append(f"check returned {type(result).__name__}, not an esap_core.CheckResult")
    options = facility_type.options(facility)
    problems += field_problems(options, "options")
    job_fields = call("job_fields", facility_type.job_fields, facility, call_timeout, let_through=True)
    problems += field_problems(job_fields, "job_fields")
    _raise_if(subject, problems + call.problems)
    problems += _request_problems(request.options, options, "options", strict=True)
    problems += _request_problems(request.parameters, job_fields, "parameters", strict=bool(job_fields))
    _raise_if(subject, problems)

    job = call("submit", facility_type.submit, facility, request, call_timeout, let_through=True)
    if not isinstance(job, str) or not job.strip() or len(job) > 1000:
        raise ConformanceError(
            subject, [*call.problems, f"submit returned {job!r}, not a job id of 1 to 1000 characters"]
        )
    run = JobRun(job)
    _follow(facility_type, facility, request, run, timeout, call)
    _raise_if(subject, call.problems)
    _read_results(facility_type, facility, request, run, call)
    log = call("log", facility_type.log, facility, job, request.user, call_timeout, tail=1000)
    if not isinstance(log, str) or len(log) > 1000:
        call.problems.append(f"log(tail=1000) returned {type(log).__name__} of {len(log or '')} characters, not text")
    run.log = log if isinstance(log, str) else ""
    try:
        facility_type.cancel(facility, job, request.user, call_timeout)
        call.problems.append(
            "cancel of a job that has ended returned: raise FacilityError saying it cannot be cancelled"
        )
    except FacilityError:
        pass
    except Exception as error:
        call.problems.append(f"cancel raised {type(error).__name__}: {error}; raise esap_core.FacilityError instead")
    _raise_if(subject, call.problems)
    return run


class _JobCalls:
    """Calls a job facility's methods, noting each that raises the wrong error or runs past its timeout."""

    def __init__(self, subject: str, timeout: float):
        self.subject, self.timeout, self.problems = subject, timeout, []

    def __call__(self, name: str, method: Any, *args: Any, let_through: bool = False, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return method(*args, **kwargs)
        except FacilityError:
            if let_through:
                raise
            self.problems.append(f"{name} raised FacilityError for a job that ran well")
        except Exception as error:
            problem = f"{name} raised {type(error).__name__}: {error}; raise esap_core.FacilityError instead"
            raise ConformanceError(self.subject, [*self.problems, problem]) from error
        finally:
            took = time.monotonic() - started
            if took > self.timeout + JOB_GRACE:
                self.problems.append(f"{name} took {took:.1f} s with a timeout of {self.timeout:g} s")
        return None


def _request_problems(values: Mapping[str, Any], fields: Any, where: str, strict: bool) -> list[str]:
    """Whether the core would pass ``values`` for ``fields``: known names (when ``strict``), fitting values."""
    declared = {query_field.name: query_field for query_field in fields or () if isinstance(query_field, QueryField)}
    problems = []
    for name, value in dict(values).items():
        if name not in declared:
            if strict:
                problems.append(f"the request's {where} has {name!r}, which the facility does not declare")
            elif not isinstance(name, str) or not name.isidentifier() or not isinstance(value, str | int | float):
                problems.append(f"the request's {where} {name!r}: free parameters are identifiers with plain values")
            continue
        problems += [f"the request's {where} {name!r}: {problem}" for problem in value_problems(declared[name], value)]
    return problems


def _follow(
    facility_type: JobFacility, facility: Facility, request: JobRequest, run: JobRun, timeout: float, call: _JobCalls
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = call("status", facility_type.status, facility, run.job, request.user, call.timeout)
        problems = job_status_problems(status)
        if problems:
            call.problems += [f"status: {problem}" for problem in problems]
            return
        if status.phase is JobPhase.UNKNOWN:
            call.problems.append(f"status is UNKNOWN for the job it just submitted: {status.message}")
            return
        if run.phases and run.phases[-1].final:  # asked once more after the end: it must stay put
            if status.phase is not run.phases[-1]:
                call.problems.append(f"status went from {run.phases[-1].value}, a final phase, to {status.phase.value}")
            return
        if not run.phases or run.phases[-1] is not status.phase:
            run.phases.append(status.phase)
        run.status = status
        if status.phase.final:
            continue
        if time.monotonic() > deadline:
            call.problems.append(f"the job did not end within {timeout:g} s (it is {status.phase.value})")
            return
        time.sleep(JOB_POLL)


def job_status_problems(status: Any) -> list[str]:
    """What is wrong with a :class:`JobStatus`: its phase, message, times and details."""
    if not isinstance(status, JobStatus):
        return [f"returned {type(status).__name__}, not an esap_core.JobStatus"]
    problems = []
    if not isinstance(status.phase, JobPhase):
        problems.append(f"phase {status.phase!r} is not an esap_core.JobPhase")
    if not isinstance(status.message, str):
        problems.append("message is not a string")
    for name in ("started", "finished"):
        value = getattr(status, name)
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            problems.append(f"{name} {value!r} is not None or a datetime with a time zone")
    times = (status.started, status.finished)
    if all(isinstance(time, datetime) and time.tzinfo for time in times) and times[1] < times[0]:
        problems.append(f"it finished ({status.finished}) before it started ({status.started})")
    if not isinstance(status.details, Mapping):
        problems.append(f"details is {type(status.details).__name__}, not a dict")
    else:
        problems += json_problems(dict(status.details), "details")
    return problems


def _read_results(
    facility_type: JobFacility, facility: Facility, request: JobRequest, run: JobRun, call: _JobCalls
) -> None:
    results = call("results", facility_type.results, facility, run.job, request.user, call.timeout)
    if not isinstance(results, list) or not all(isinstance(result, JobResult) for result in results):
        call.problems.append(f"results returned {results!r}, not a list of esap_core.JobResult")
        return
    run.results = results
    names = [result.name for result in results]
    if len(set(names)) != len(names):
        call.problems.append(f"result names repeat: {names}")
    limit = request.max_result_bytes
    for result in results:
        if not isinstance(result.name, str) or not result.name.strip():
            call.problems.append(f"a result's name {result.name!r} is not a non-empty string")
            continue
        if result.size is not None and (not isinstance(result.size, int) or result.size < 0):
            call.problems.append(f"result {result.name!r}: size {result.size!r} is not None or a whole number")
        if not isinstance(result.media_type, str):
            call.problems.append(f"result {result.name!r}: media_type is not a string")
    for result in results[:RESULTS_OPENED]:
        content = _read_result(facility_type, facility, request, run.job, result, call)
        if content is not None:
            run.contents[result.name] = content
            if isinstance(result.size, int) and len(content) != result.size:
                call.problems.append(
                    f"result {result.name!r} is listed with {result.size} bytes but gave {len(content)}"
                )
            if len(content) > limit:
                call.problems.append(f"result {result.name!r} gave {len(content)} bytes, past max_bytes {limit}")
    for escaping in ("../esap-conformance", "/etc/passwd"):
        try:
            stream = facility_type.open_result(facility, run.job, escaping, request.user, call.timeout, max_bytes=limit)
            stream.close()
            call.problems.append(f"open_result gave a stream for {escaping!r}, a name outside the job's results")
        except FacilityError:
            pass
        except Exception as error:
            call.problems.append(f"open_result({escaping!r}) raised {type(error).__name__}: raise FacilityError")


def _read_result(
    facility_type: JobFacility, facility: Facility, request: JobRequest, job: str, result: JobResult, call: _JobCalls
) -> bytes | None:
    limit = request.max_result_bytes
    too_large = isinstance(result.size, int) and result.size > limit
    try:
        stream = facility_type.open_result(facility, job, result.name, request.user, call.timeout, max_bytes=limit)
    except FacilityError as error:
        if not too_large:
            call.problems.append(f"open_result({result.name!r}) raised FacilityError for a listed result: {error}")
        return None
    except Exception as error:
        call.problems.append(f"open_result({result.name!r}) raised {type(error).__name__}: raise FacilityError")
        return None
    try:
        if too_large:
            call.problems.append(f"open_result({result.name!r}) streams a result of {result.size} bytes, past {limit}")
        if not callable(getattr(stream, "read", None)) or not callable(getattr(stream, "close", None)):
            call.problems.append(f"open_result({result.name!r}) returned {type(stream).__name__}, not a binary stream")
            return None
        content = stream.read(limit + 1)
        if not isinstance(content, bytes):
            call.problems.append(f"open_result({result.name!r}) read {type(content).__name__}, not bytes")
            return None
        return content
    except FacilityError as error:
        if not too_large:
            call.problems.append(f"reading result {result.name!r} raised FacilityError: {error}")
        return None
    finally:
        close = getattr(stream, "close", None)
        if callable(close):
            close()


def job_request(
    software: SoftwareRecord | None = None,
    command: str = "",
    notebook: str = "",
    data: Iterable[DataItem] = (),
    parameters: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    user: UserContext | None = None,
    files: Mapping[str, str] | None = None,
    max_result_bytes: int = 1024**3,
) -> JobRequest:
    """A :class:`JobRequest` for tests; ``files`` are what ``staging()`` returns (an ``esap_settings.json``)."""
    job_id = uuid.uuid4().hex
    software = software or SoftwareRecord(
        external_id="conformance",
        name="Conformance job",
        repository_url="https://example.org/job.git",
        ui_type=UIType.NOTEBOOK if notebook else UIType.CLI,
    )
    staged = (
        dict(files)
        if files is not None
        else {
            "esap_settings.json": json.dumps({"api_url": "http://127.0.0.1:9", "token": "conformance", "job": job_id})
        }
    )
    return JobRequest(
        job_id=job_id,
        software=software,
        data=tuple(data),
        user=user or UserContext(username="conformance"),
        parameters=dict(parameters or {}),
        command=command,
        notebook=notebook,
        options=dict(options or {}),
        staging=lambda: staged,
        max_result_bytes=max_result_bytes,
    )


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
