"""ESAP's own jobs as an IVOA UWS 1.1 service (the REST binding), so VO tools follow them: ``/uws/jobs``.

The same jobs as ``/api/v1/jobs``, with the same tokens and scopes (``jobs:read`` to read,
``jobs:write`` to change). A job made here waits PENDING until ``PHASE=RUN``, as UWS says;
its parameters are those of ``POST /api/v1/jobs``, flattened into form fields:

- ``facility`` (required), ``software`` (a software id), ``items`` (basket data item ids,
  comma-separated; all data items when left out), ``command``, ``notebook``;
- ``option.<name>``: one of the facility's checkout options;
- any other name: a parameter of the job (a notebook's, or the UWS service's it runs on).

``RUNID`` labels the job, ``PHASE=RUN`` in the same request runs it at once. ESAP bounds the
execution time itself (``job_executing_timeout``) and keeps jobs until deleted: posting an
execution duration or a destruction time answers with the job, unchanged, which UWS allows.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

from flask import Blueprint, Response, abort, current_app, redirect, request

from esap_core import jobs
from esap_core.auth import current_user, require_scope
from esap_core.db import MAX_ID, end_transaction, session
from esap_core.hookspecs import JobPhase
from esap_core.models import Job
from esap_core.queue import QueueUnavailable
from esap_core.security import external_url

bp = Blueprint("uws", __name__, url_prefix="/uws")

UWS = "http://www.ivoa.net/xml/UWS/v1.0"
XLINK = "http://www.w3.org/1999/xlink"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ElementTree.register_namespace("uws", UWS)
ElementTree.register_namespace("xlink", XLINK)
ElementTree.register_namespace("xsi", XSI)

MAX_WAIT = 60.0  # seconds one blocking GET may hold a web worker (WAIT=-1 asks for this)
WAIT_STEP = 0.25  # seconds between two looks at the job while blocking
BLOCKING = {JobPhase.PENDING.value, JobPhase.QUEUED.value, JobPhase.EXECUTING.value}
CHOICES = {"facility", "software", "items", "command", "notebook"}  # the job's own fields, not parameters
CONTROL = {"phase", "runid", "action", "destruction", "executionduration", "quote"}
OPTION = "option."
MAX_FIELDS = 200


# --- the job list --------------------------------------------------------------------------------------------


@bp.get("/jobs")
@require_scope("jobs:read")
def job_list():
    """Your jobs, newest first; ``PHASE`` (repeatable), ``AFTER`` (an ISO time) and ``LAST`` (a count) filter."""
    phases = [value.upper() for value in request.args.getlist("PHASE")]
    unknown = sorted(set(phases) - {phase.value for phase in JobPhase})
    if unknown:
        abort(400, f"PHASE {', '.join(unknown)[:100]} is not a UWS phase.")
    after = _time_argument("AFTER")
    last = _count_argument("LAST")
    found = [job for job in jobs.history(current_user(), limit=1000) if not phases or job.phase in phases]
    if not phases:  # UWS 1.1: archived jobs are listed only when asked for
        found = [job for job in found if job.phase != JobPhase.ARCHIVED.value]
    if after is not None:  # at the millisecond, as creationTime is written
        found = [job for job in found if _to_millisecond(job.created) > after]
    if last is not None:
        found = found[:last]
    root = _element("jobs", version="1.1")
    for job in found:
        ref = _child(root, "jobref", id=job.id, **{f"{{{XLINK}}}href": _job_url(job)})
        _text(ref, "phase", job.phase)
        if job.run_id:
            _text(ref, "runId", job.run_id)
        _text(ref, "ownerId", current_user().username)
        _text(ref, "creationTime", _when(job.created))
    return _xml(root)


@bp.post("/jobs")
@require_scope("jobs:write")
def create():
    """A new job from form fields (see the module's text); 303 to it, PENDING unless ``PHASE=RUN`` came too."""
    fields = _form_fields()
    choices, options, parameters = _split(fields)
    run = _control(fields, "phase", "").upper()
    if run not in ("", "RUN"):
        abort(400, f"A new job can be created PENDING or with PHASE=RUN, not PHASE={run[:20]}.")
    if not choices.get("facility"):
        abort(400, "Say which job facility runs it: the field 'facility' (a facility's name).")
    try:
        job = jobs.submit(
            current_user(),
            _software_id(choices.get("software", "")),
            choices["facility"],
            _item_ids(choices.get("items")),
            parameters,
            choices.get("command", ""),
            choices.get("notebook", ""),
            options,
            external_url("pages.home"),
            hold=run != "RUN",
            run_id=_control(fields, "runid", ""),
        )
    except (jobs.JobProblem, QueueUnavailable) as error:
        abort(503 if isinstance(error, QueueUnavailable) else 400, str(error))
    return redirect(_job_url(job), 303)


# --- one job -------------------------------------------------------------------------------------------------


@bp.get("/jobs/<job_id>")
@require_scope("jobs:read")
def job(job_id: str):
    """The job; ``WAIT=n`` blocks up to n seconds (-1: ESAP's most) while it is active and unchanged, UWS 1.1."""
    found = _own(job_id)
    if "WAIT" in request.args:
        found = _wait(found, _wait_seconds(), request.args.get("PHASE", "").upper())
    return _xml(_job_element(found))


@bp.post("/jobs/<job_id>")
@require_scope("jobs:write")
def job_action(job_id: str):
    """``ACTION=DELETE``: the job goes (cancelled first if it runs); 303 to the job list."""
    found = _own(job_id)
    action = _control(_form_fields(), "action", "")
    if action.upper() != "DELETE":
        abort(400, "POST to a job takes ACTION=DELETE; its phase, parameters and times have their own addresses.")
    return _delete(found)


@bp.delete("/jobs/<job_id>")
@require_scope("jobs:write")
def delete(job_id: str):
    """The job goes (cancelled first if it runs); 303 to the job list."""
    return _delete(_own(job_id))


@bp.get("/jobs/<job_id>/phase")
@require_scope("jobs:read")
def phase(job_id: str):
    return _plain(_own(job_id).phase)


@bp.post("/jobs/<job_id>/phase")
@require_scope("jobs:write")
def change_phase(job_id: str):
    """``PHASE=RUN`` runs a PENDING job, ``PHASE=ABORT`` cancels it; 303 to the job."""
    found = _own(job_id)
    wanted = _control(_form_fields(), "phase", "").upper()
    try:
        if wanted == "RUN":
            if jobs.is_final(found):
                abort(409, f"The job has ended ({found.phase}): it cannot run again. Make a new job.")
            jobs.start(found, external_url("pages.home"))
        elif wanted == "ABORT":
            jobs.cancel(found)
        else:
            abort(400, "PHASE takes RUN or ABORT.")
    except jobs.NotCancellable as error:
        abort(409, str(error))
    except QueueUnavailable as error:
        abort(503, str(error))
    return redirect(_job_url(found), 303)


@bp.get("/jobs/<job_id>/executionduration")
@require_scope("jobs:read")
def execution_duration(job_id: str):
    _own(job_id)
    return _plain(str(int(current_app.extensions["esap.config"].job_executing_timeout)))


@bp.get("/jobs/<job_id>/destruction")
@require_scope("jobs:read")
def destruction(job_id: str):
    _own(job_id)
    return _plain("")  # kept until deleted: no destruction time


@bp.post("/jobs/<job_id>/executionduration")
@bp.post("/jobs/<job_id>/destruction")
@require_scope("jobs:write")
def keep_value(job_id: str):
    """UWS lets the service keep its own value: back to the job, unchanged."""
    return redirect(_job_url(_own(job_id)), 303)


@bp.get("/jobs/<job_id>/quote")
@require_scope("jobs:read")
def quote(job_id: str):
    _own(job_id)
    return _plain("")  # ESAP cannot tell when a facility will finish


@bp.get("/jobs/<job_id>/error")
@require_scope("jobs:read")
def error(job_id: str):
    found = _own(job_id)
    if found.phase != JobPhase.ERROR.value:
        abort(404, f"The job is {found.phase}: it has no error.")
    return _plain(found.message or "The job failed without a message.")


@bp.get("/jobs/<job_id>/owner")
@require_scope("jobs:read")
def owner(job_id: str):
    _own(job_id)
    return _plain(current_user().username)


@bp.get("/jobs/<job_id>/parameters")
@require_scope("jobs:read")
def parameters(job_id: str):
    root = _element("parameters")
    _parameters(root, _own(job_id))
    return _xml(root)


@bp.post("/jobs/<job_id>/parameters")
@require_scope("jobs:write")
def change_parameters(job_id: str):
    """Add or change parameters of a PENDING job; 303 to the job."""
    found = _own(job_id)
    choices, options, given = _split(_form_fields())
    if choices or options:
        abort(400, "Only the job's parameters change while it waits; make a new job for another facility or software.")
    try:
        jobs.change_parameters(found, given)
    except jobs.JobProblem as problem:
        abort(409 if not jobs.is_held(found) else 400, str(problem))
    return redirect(_job_url(found), 303)


@bp.get("/jobs/<job_id>/parameters/<name>")
@require_scope("jobs:read")
def parameter(job_id: str, name: str):
    values = dict(_parameter_values(_own(job_id)))
    if name not in values:
        abort(404, f"The job has no parameter named {name[:100]!r}.")
    return _plain(values[name])


@bp.get("/jobs/<job_id>/results")
@require_scope("jobs:read")
def results(job_id: str):
    root = _element("results")
    _results(root, _own(job_id))
    return _xml(root)


@bp.get("/jobs/<job_id>/results/<path:name>")
@require_scope("jobs:read")
def result(job_id: str, name: str):
    """303 to the result's bytes in the jobs API (the same token reads them)."""
    found = _own(job_id)
    if name not in {entry["name"] for entry in found.results}:
        abort(404, f"The job has no result named {name[:200]!r}.")
    return redirect(jobs.result_url(external_url("pages.home"), found, name), 303)


# --- what the answers are made of ----------------------------------------------------------------------------


def _job_element(job: Job) -> ElementTree.Element:
    root = _element("job", version="1.1")
    _text(root, "jobId", job.id)
    if job.run_id:
        _text(root, "runId", job.run_id)
    _text(root, "ownerId", current_user().username)
    _text(root, "phase", job.phase)
    _nil(root, "quote")
    _text(root, "creationTime", _when(job.created))
    _time(root, "startTime", job.started)
    _time(root, "endTime", job.finished)
    _text(root, "executionDuration", str(int(current_app.extensions["esap.config"].job_executing_timeout)))
    _nil(root, "destruction")
    _parameters(_child(root, "parameters"), job)
    _results(_child(root, "results"), job)
    if job.phase in (JobPhase.ERROR.value, JobPhase.ABORTED.value) and job.message:
        summary = _child(root, "errorSummary", type="fatal", hasDetail="true")
        _text(summary, "message", job.message)
    info = _child(root, "jobInfo")
    for key, value in (("facility", job.facility.get("title", "")), ("software", job.software.get("name", ""))):
        ElementTree.SubElement(info, key).text = _clean(value)
    return root


def _parameter_values(job: Job) -> list[tuple[str, str]]:
    """The job as the form fields that would make it again."""
    values = [("facility", job.facility.get("name", ""))]
    if job.software.get("id") is not None:
        values.append(("software", str(job.software["id"])))
    values.append(("items", ",".join(str(item["id"]) for item in job.data if item.get("id") is not None)))
    values += [(key, value) for key, value in (("command", job.command), ("notebook", job.notebook)) if value]
    values += [(f"{OPTION}{key}", jobs.parameter_text(value)) for key, value in job.options.items()]
    values += [(key, jobs.parameter_text(value)) for key, value in job.parameters.items()]
    return values


def _parameters(parent: ElementTree.Element, job: Job) -> None:
    for name, value in _parameter_values(job):
        _text(parent, "parameter", value, id=name)


def _results(parent: ElementTree.Element, job: Job) -> None:
    home = external_url("pages.home")
    for entry in job.results:
        attributes = {"id": entry["name"], f"{{{XLINK}}}href": jobs.result_url(home, job, entry["name"])}
        if entry.get("size") is not None:
            attributes["size"] = str(entry["size"])
        if entry.get("media_type"):
            attributes["mime-type"] = entry["media_type"]
        _child(parent, "result", **attributes)


def _element(name: str, **attributes: str) -> ElementTree.Element:
    return ElementTree.Element(f"{{{UWS}}}{name}", attributes)


def _child(parent: ElementTree.Element, name: str, **attributes: str) -> ElementTree.Element:
    return ElementTree.SubElement(parent, f"{{{UWS}}}{name}", attributes)


def _text(parent: ElementTree.Element, name: str, value: str, **attributes: str) -> None:
    _child(parent, name, **attributes).text = _clean(value)


def _time(parent: ElementTree.Element, name: str, moment: datetime | None) -> None:
    if moment is None:
        _nil(parent, name)
    else:
        _text(parent, name, _when(moment))


def _nil(parent: ElementTree.Element, name: str) -> None:
    _child(parent, name, **{f"{{{XSI}}}nil": "true"})


def _clean(value: Any) -> str:
    # XML 1.0 cannot carry most control characters: a facility's log line must not break the document.
    return "".join(c for c in str(value) if c in "\t\n\r" or ord(c) >= 0x20 and c not in "\ufffe\uffff")


def _to_millisecond(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _when(moment: datetime) -> str:
    return _to_millisecond(moment).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _xml(root: ElementTree.Element) -> Response:
    body = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, mimetype="text/xml", headers={"Cache-Control": "no-store"})


def _plain(text: str) -> Response:
    return Response(_clean(text), mimetype="text/plain", headers={"Cache-Control": "no-store"})


def _job_url(job: Job) -> str:
    return external_url("uws.job", job_id=job.id)


def _own(job_id: str) -> Job:
    found = jobs.visible(current_user(), job_id)
    if found is None:
        abort(404, "You have no job with that id.")
    return found


def _delete(job: Job) -> Response:
    try:
        jobs.delete(job)
    except jobs.NotCancellable as problem:
        abort(409, f"{problem} The job is kept.")
    return redirect(external_url("uws.job_list"), 303)


def _wait(job: Job, seconds: float, only_in: str) -> Job:
    """Block while the job is active, in ``only_in`` when given, and its phase unchanged: UWS 1.1's WAIT."""
    phase = job.phase
    if phase not in BLOCKING or (only_in and only_in != phase):
        return job
    job_id, deadline = job.id, time.monotonic() + seconds
    while time.monotonic() < deadline:
        end_transaction()  # a blocking look must hold no lock nor snapshot
        time.sleep(min(WAIT_STEP, max(0.0, deadline - time.monotonic())))
        session().expire_all()
        job = session().get(Job, job_id)
        if job is None:
            abort(404, "The job was deleted while you waited for it.")
        if job.phase != phase:
            break
    return job


def _wait_seconds() -> float:
    text = request.args.get("WAIT", "")
    try:
        seconds = float(text)
    except ValueError:
        abort(400, f"WAIT takes a number of seconds (-1 for as long as ESAP allows), not {text[:40]!r}.")
    if seconds != seconds or seconds < -1:  # NaN, or a negative other than -1
        abort(400, "WAIT takes a number of seconds, or -1 for as long as ESAP allows.")
    return MAX_WAIT if seconds == -1 else min(seconds, MAX_WAIT)


def _time_argument(name: str) -> datetime | None:
    text = request.args.get(name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        abort(400, f"{name} takes an ISO 8601 time such as 2026-12-03T06:00:00Z, not {text[:40]!r}.")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _count_argument(name: str) -> int | None:
    text = request.args.get(name)
    if text is None:
        return None
    if not text.strip().isdigit() or not 0 < int(text) <= 1000:
        abort(400, f"{name} takes a number of jobs from 1 to 1000, not {text[:40]!r}.")
    return int(text)


def _form_fields() -> dict[str, str]:
    """The request's fields, each name once (the first value), from the body or the query."""
    values = request.form if request.form else request.args
    if len(values) > MAX_FIELDS:
        abort(400, f"A job takes at most {MAX_FIELDS} fields.")
    return {name: values.get(name, "") for name in values}


def _control(fields: dict[str, str], name: str, default: str) -> str:
    """A UWS control field (RUNID, PHASE, ACTION...), whose name UWS reads in any case."""
    return next((value for key, value in fields.items() if key.lower() == name), default)


def _split(fields: dict[str, str]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """The fields as the job's choices, the facility's options and the job's parameters."""
    choices, options, parameters = {}, {}, {}
    for name, value in fields.items():
        if name.lower() in CHOICES:
            choices[name.lower()] = value
        elif name.lower().startswith(OPTION):
            options[name[len(OPTION) :]] = value
        elif name.lower() not in CONTROL:
            parameters[name] = value
    return choices, options, parameters


def _software_id(text: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit() or not 0 < int(text) <= MAX_ID:
        abort(400, f"'software' takes a software id (a whole number), not {text[:40]!r}.")
    return int(text)


def _item_ids(text: str | None) -> list[int] | None:
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not all(part.isdigit() and 0 < int(part) <= MAX_ID for part in parts):
        abort(400, f"'items' takes basket item ids separated by commas, not {text[:60]!r}.")
    return [int(part) for part in parts]
