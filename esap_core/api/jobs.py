"""The jobs API: submit software with your data to a job facility, follow it, cancel it, read its log and results.

Cancelling is ``POST /jobs/{id}/cancel``, not DELETE: the job stays, as a record of what ran
(ending ABORTED); DELETE would say the resource goes, which it does not.
"""

from __future__ import annotations

import re

from flask import Response, abort, g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from esap_core import jobs
from esap_core.api import provenance_files
from esap_core.api.blueprint import Blueprint
from esap_core.auth import current_user, refuse_anonymous, require_scope
from esap_core.db import MAX_ID
from esap_core.hookspecs import JobPhase
from esap_core.security import external_url

blp = Blueprint("api_jobs", __name__, description="Jobs: software run unattended on a facility, with your data")
PHASES = [phase.value for phase in JobPhase]


class JobPhaseSchema(Schema):
    phase = fields.String(metadata={"enum": PHASES})
    at = fields.String()
    message = fields.String()


class JobResultSchema(Schema):
    name = fields.String(metadata={"description": "Unique within the job; a path below its output folder"})
    size = fields.Integer(allow_none=True, metadata={"description": "Bytes, when the facility knows"})
    media_type = fields.String()


class JobSchema(Schema):
    id = fields.String(dump_only=True)
    phase = fields.String(dump_only=True, metadata={"enum": PHASES, "description": "The IVOA UWS phase"})
    phases = fields.List(fields.Nested(JobPhaseSchema), dump_only=True, metadata={"description": "Each with its time"})
    software = fields.Dict(dump_only=True, metadata={"description": "The software as submitted"})
    facility = fields.Dict(dump_only=True, metadata={"description": "name, kind, title, url"})
    data = fields.List(fields.Dict(), dump_only=True, metadata={"description": "The data items, as submitted"})
    parameters = fields.Dict(dump_only=True)
    options = fields.Dict(dump_only=True)
    command = fields.String(dump_only=True)
    notebook = fields.String(dump_only=True)
    message = fields.String(dump_only=True, metadata={"description": "The outcome, or the facility's word on it"})
    details = fields.Dict(dump_only=True, metadata={"description": "What the facility said: commit, exit code"})
    results = fields.List(fields.Nested(JobResultSchema), dump_only=True)
    remote_id = fields.String(dump_only=True, metadata={"description": "The facility's id of the job"})
    created = fields.AwareDateTime(dump_only=True)
    started = fields.AwareDateTime(dump_only=True, allow_none=True)
    finished = fields.AwareDateTime(dump_only=True, allow_none=True)


class NewJobSchema(Schema):
    software_id = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "The software to run; leave out for a facility that runs its own (a UWS service)"},
    )
    facility = fields.String(required=True, metadata={"description": "The job facility's name"})
    items = fields.List(
        fields.Integer(validate=validate.Range(min=1, max=MAX_ID)),
        load_default=None,
        metadata={"description": "Ids of basket data items to take along; all of them when left out"},
    )
    parameters = fields.Dict(load_default=dict, metadata={"description": "The job's parameters (a notebook's)"})
    command = fields.String(load_default="", metadata={"description": "A shell command, run in the software"})
    notebook = fields.String(load_default="", metadata={"description": "A notebook's path in the software"})
    options = fields.Dict(load_default=dict, metadata={"description": "How it runs: the facility's choices"})


class JobFilterSchema(Schema):
    phase = fields.String(load_default="", validate=validate.OneOf(["", *PHASES]))
    facility = fields.String(load_default="", validate=validate.Length(max=100))
    software = fields.String(load_default="", validate=validate.Length(max=500), metadata={"description": "Its name"})


class JobListSchema(Schema):
    jobs = fields.List(fields.Nested(JobSchema), required=True)


class ResultListSchema(Schema):
    results = fields.List(fields.Nested(JobResultSchema), required=True)


class LogSchema(Schema):
    phase = fields.String(required=True)
    log = fields.String(required=True, metadata={"description": "The end of the job's output"})


class ResultNameSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=1000), metadata={"example": "summary.json"})


class ResultAddedSchema(Schema):
    added = fields.Integer(required=True, metadata={"description": "1 when the result was not in the basket yet"})


def own_job_or_404(job_id: str):
    job = jobs.visible(current_user(), job_id)
    if job is None:
        abort(404, "You have no job with that id.")
    return job


@blp.route("/jobs")
class Jobs(MethodView):
    @blp.arguments(JobFilterSchema, location="query")
    @blp.response(200, JobListSchema)
    @require_scope("jobs:read")
    def get(self, filters):
        """Your jobs, newest first, of one phase, facility or software when asked."""
        return {
            "jobs": jobs.history(current_user(), filters["phase"], filters["facility"], software=filters["software"])
        }

    @blp.arguments(NewJobSchema)
    @blp.response(202, JobSchema)
    @blp.alt_response(503, description="The job queue is unreachable: nothing was submitted")
    @require_scope("jobs:write")
    def post(self, data):
        """Run software with data from your basket on a job facility; follow it at /jobs/{id}."""
        try:
            return jobs.submit(
                current_user(),
                data["software_id"],
                data["facility"],
                data["items"],
                data["parameters"],
                data["command"],
                data["notebook"],
                data["options"],
                external_url("pages.home"),
            )
        except jobs.JobProblem as error:
            abort(400, str(error))


@blp.route("/jobs/<job_id>")
class JobById(MethodView):
    @blp.response(200, JobSchema)
    @require_scope("jobs:read")
    def get(self, job_id: str):
        """One job: its phases so far, its outcome and results once ended."""
        return own_job_or_404(job_id)


@blp.route("/jobs/<job_id>/cancel")
class JobCancel(MethodView):
    @blp.response(200, JobSchema)
    @blp.alt_response(409, description="The job has ended, or its facility did not cancel it")
    @require_scope("jobs:write")
    def post(self, job_id: str):
        """Cancel the job at its facility; it ends ABORTED and stays in your list."""
        job = own_job_or_404(job_id)
        try:
            jobs.cancel(job)
        except jobs.NotCancellable as error:
            abort(409, str(error))
        return job


@blp.route("/jobs/<job_id>/log")
class JobLog(MethodView):
    @blp.response(200, LogSchema)
    @require_scope("jobs:read")
    def get(self, job_id: str):
        """The end of the job's output, as last read from its facility."""
        job = own_job_or_404(job_id)
        return {"phase": job.phase, "log": job.log}


@blp.route("/jobs/<job_id>/results")
class JobResults(MethodView):
    @blp.response(200, ResultListSchema)
    @require_scope("jobs:read")
    def get(self, job_id: str):
        """The files the completed job produced (none before it completes)."""
        return {"results": own_job_or_404(job_id).results}


@blp.route("/jobs/<job_id>/results/<path:name>")
class JobResult(MethodView):
    @blp.doc(
        responses={
            "200": {"description": "The file", "content": {"application/octet-stream": {"schema": {"type": "string"}}}}
        }
    )
    def get(self, job_id: str, name: str):
        """One result, streamed from its facility: with jobs:read, or basket:read once it is in your basket."""
        if current_user() is None:
            refuse_anonymous()
        job = own_job_or_404(job_id)
        if "jobs:read" not in g.scopes and not (
            "basket:read" in g.scopes and jobs.in_basket(current_user(), job, name)
        ):
            abort(403, "This needs the 'jobs:read' scope, or 'basket:read' for a result in your basket.")
        try:
            result, stream = jobs.open_result(job, name)
        except jobs.JobProblem as error:
            abort(404 if "no result named" in str(error) else 502, str(error))
        file_name = re.sub(r"[^\w.-]+", "_", name.rsplit("/", 1)[-1]) or "result"
        headers = {"Content-Disposition": f'attachment; filename="{file_name}"'}
        if result.get("size") is not None:
            headers["Content-Length"] = str(result["size"])
        mimetype = result.get("media_type") or "application/octet-stream"
        return Response(jobs.chunks(stream), mimetype=mimetype, headers=headers)


@blp.route("/jobs/<job_id>/basket")
class JobResultToBasket(MethodView):
    @blp.arguments(ResultNameSchema)
    @blp.response(200, ResultAddedSchema)
    @require_scope("jobs:read")
    @require_scope("basket:write")
    def post(self, data, job_id: str):
        """Put one of the job's results into your basket: a data item the notebook client fetches (``esap`` method)."""
        job = own_job_or_404(job_id)
        try:
            home = external_url("pages.home")
            return {"added": jobs.add_result_to_basket(current_user(), job, data["name"], home)}
        except jobs.JobProblem as error:
            abort(404, str(error))


@blp.route("/jobs/<job_id>/provenance.crate.zip")
class JobCrate(MethodView):
    @blp.doc(responses=provenance_files.crate_doc("job"))
    @require_scope("jobs:read")
    def get(self, job_id: str):
        """The job's provenance as an RO-Crate: software at its commit, data, parameters, facility, phases, results."""
        return provenance_files.crate(own_job_or_404(job_id))


@blp.route("/jobs/<job_id>/provenance.prov.json")
class JobProv(MethodView):
    @blp.doc(responses=provenance_files.prov_doc("job"))
    @require_scope("jobs:read")
    def get(self, job_id: str):
        """The job's provenance as W3C PROV-JSON (an activity that used the software, data and settings)."""
        return provenance_files.prov(own_job_or_404(job_id))
