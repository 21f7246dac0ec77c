"""Asynchronous TAP queries: submit, follow the phase, cancel, page through the results."""

from __future__ import annotations

from typing import Any

from flask import make_response, render_template, request, url_for

from esap_core import jobs
from esap_core.auth import current_user, login_required
from esap_core.discovery import Outcome, QueryError
from esap_core.hookspecs import (
    Archive,
    ArchiveError,
    CredentialsExpired,
)
from esap_core.web.data.common import (
    archive_or_404,
    ask,
    blueprint,
    failure,
    job_from_request,
    service_from_request,
    service_params,
    signature,
)
from esap_core.web.data.panels import panel
from esap_core.web.data.services import max_rows_of
from esap_core.web.rendering import htmx, render

FINAL_PHASES = {"COMPLETED", "ERROR", "ABORTED"}


@blueprint.post("/data/archives/<archive_name>/jobs")
@login_required
def submit_job(archive_name: str):
    """Start an async query; the answer sends the browser to the job's page."""
    archive = archive_or_404(archive_name)
    kind, url = service_from_request(archive)
    adql = request.form.get("adql", "")
    title = request.form.get("title", "")[:300]
    try:
        if kind != "tap" or not adql.strip():
            raise ArchiveError("Only TAP services run jobs, and a job needs an ADQL query.")
        max_rows = max_rows_of(request.form.get("max_rows"))
        job = ask(archive, lambda user, left: archive.submit_query(url, adql, max_rows, user, left))
    except (ArchiveError, CredentialsExpired, QueryError) as error:
        outcome = failure(archive, error, "invalid" if isinstance(error, QueryError) else "error")
        return panel(archive, outcome, lambda number: "", source=None)
    target = url_for(
        "data.job",
        archive_name=archive.name,
        job=job,
        jsig=signature("job", job),
        adql=adql,
        title=title,
        **service_params(kind, url),
    )
    jobs.record_query(current_user(), archive, url, adql, title, job, target)  # in "Your jobs" from now on
    if htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return make_response("", 303, {"Location": target})


def job_context(archive: Archive) -> dict[str, Any]:
    kind, url = service_from_request(archive)
    job = job_from_request()
    params = {
        **service_params(kind, url),
        "job": job,
        "jsig": request.values.get("jsig", ""),
        "adql": request.values.get("adql", ""),
        "title": request.values.get("title", "")[:300],
    }
    return {"archive": archive, "url": url, "job": job, "params": params}


@blueprint.get("/data/archives/<archive_name>/job")
@login_required
def job(archive_name: str):
    archive = archive_or_404(archive_name)
    context = job_context(archive)
    return render("data_job.html", **context)


@blueprint.get("/data/archives/<archive_name>/job/status")
@login_required
def job_status(archive_name: str):
    """The job's phase; while it runs, the fragment asks again a second later."""
    archive = archive_or_404(archive_name)
    context = job_context(archive)
    try:
        phase = ask(archive, lambda user, left: archive.job_phase(context["job"], user, left))
    except (ArchiveError, CredentialsExpired) as problem:
        return job_fragment(context, "UNKNOWN", failure(archive, problem).message)
    if phase != "ERROR":
        return noted(job_fragment(context, phase), phase)
    try:  # the job's result document carries the service's own error message
        ask(archive, lambda user, left: archive.job_results(context["job"], user, left))
    except (ArchiveError, CredentialsExpired) as problem:
        return noted(job_fragment(context, phase, failure(archive, problem).message), phase, str(problem))
    return noted(job_fragment(context, phase, "The job failed; the service gave no reason."), phase)


def noted(answer: Any, phase: str, message: str = "") -> Any:
    """The answer, once the phase is on the query's record in the jobs list (when it was kept)."""
    kept = jobs.query_of(current_user(), job_from_request())
    if kept is not None:
        jobs.note_query_phase(kept, phase, message)
    return answer


def job_fragment(context: dict[str, Any], phase: str, error: str = ""):
    final = bool(error) or phase in FINAL_PHASES or phase == "CANCELLED"
    return render_template("_data_job.html", phase=phase, error=error, final=final, **context)


@blueprint.post("/data/archives/<archive_name>/job/cancel")
@login_required
def cancel_job(archive_name: str):
    archive = archive_or_404(archive_name)
    context = job_context(archive)
    try:
        ask(archive, lambda user, left: archive.cancel_job(context["job"], user, left))
    except (ArchiveError, CredentialsExpired) as error:
        return job_fragment(context, "UNKNOWN", failure(archive, error).message)
    if htmx:
        return noted(job_fragment(context, "CANCELLED"), "CANCELLED", "Cancelled by you")
    return noted(render("data_job.html", cancelled=True, **context), "CANCELLED", "Cancelled by you")


@blueprint.get("/data/archives/<archive_name>/job/results")
@login_required
def job_results(archive_name: str):
    archive = archive_or_404(archive_name)
    context = job_context(archive)
    params, url = context["params"], context["url"]
    try:
        result = ask(archive, lambda user, left: archive.job_results(context["job"], user, left))
        outcome = Outcome(archive.name, params["title"] or url, result=result)
    except (ArchiveError, CredentialsExpired) as error:
        outcome = failure(archive, error)
    source = {"kind": "tap", "url": url, "adql": params["adql"]}

    def page_url(number: int) -> str:
        return url_for("data.job_results", archive_name=archive.name, page=number, **params)

    return panel(archive, outcome, page_url, source=source, local_paging=True)
