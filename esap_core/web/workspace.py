"""The workspace page: your files with sizes and dates, usage, upload, download, delete, and into the basket."""

from __future__ import annotations

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for

from esap_core import job_results, jobs, workspace
from esap_core.api.workspace import download_url
from esap_core.auth import current_user, login_required
from esap_core.hookspecs import QuotaExceeded, StorageError
from esap_core.web.basket import CHANGED
from esap_core.web.rendering import htmx, render

blueprint = Blueprint("workspace", __name__)
FORM_OVERHEAD = 64 * 1024  # the form's other fields and multipart boundaries, beside the file itself


@blueprint.url_value_preprocessor
def allow_large_uploads(endpoint, values):
    # Before the CSRF check reads the form: an upload may be as large as the workspace allows.
    if endpoint == "workspace.upload":
        request.max_content_length = workspace.max_upload() + FORM_OVERHEAD


def _page(folder: str = "", status: int = 200, message: str = "", error: str = "", changed: bool = False):
    context = {"folder": "", "files": [], "usage": None, "message": message, "error": error}
    context["max_upload"] = workspace.human_size(workspace.max_upload())
    try:
        context["storage"] = workspace.storage()
        context["folder"] = workspace.clean_path(folder, folder=True)
        context["files"] = workspace.listing(current_user(), context["folder"])
        context["usage"] = workspace.usage(current_user())
    except workspace.WorkspaceError as problem:
        context["error"], status = str(problem), (status if status >= 400 else problem.status)
        context.setdefault("storage", None)
    except StorageError as problem:
        context["error"], status = str(problem), 502
        context.setdefault("storage", None)
    context["parents"] = _parents(context["folder"])
    if htmx and request.method == "POST":
        response = make_response(render_template("_workspace.html", **context), status)
    else:
        response = make_response(render("workspace.html", **context), status)
    if changed:
        response.headers["HX-Trigger"] = CHANGED
    return response


def _parents(folder: str) -> list[tuple[str, str]]:
    """(name, path) of each folder from the top down to ``folder``, for the breadcrumb."""
    parts = folder.split("/") if folder else []
    return [(part, "/".join(parts[: index + 1])) for index, part in enumerate(parts)]


@blueprint.get("/workspace")
@login_required
def page():
    return _page(request.args.get("folder", ""))


@blueprint.post("/workspace/upload")
@login_required
def upload():
    folder = request.form.get("folder", "")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(folder, 400, error="Choose a file to upload.")
    name = request.form.get("name", "").strip() or upload.filename.replace("\\", "/").rpartition("/")[2]
    try:
        path = workspace.clean_path(f"{workspace.clean_path(folder, folder=True)}/{name}")
        upload.stream.seek(0, 2)
        size = upload.stream.tell()
        upload.stream.seek(0)
        saved = workspace.write(current_user(), path, upload.stream, size)
    except workspace.WorkspaceError as problem:
        return _page(folder, problem.status, error=str(problem))
    except QuotaExceeded as problem:
        return _page(folder, 507, error=str(problem))
    except StorageError as problem:
        return _page(folder, 502, error=str(problem))
    return _page(folder, message=f"Saved {saved.path} ({workspace.human_size(saved.size)}).")


@blueprint.post("/workspace/delete")
@login_required
def delete():
    folder, path = request.form.get("folder", ""), request.form.get("path", "")
    try:
        workspace.delete(current_user(), path)
    except workspace.WorkspaceError as problem:
        return _page(folder, problem.status, error=str(problem))
    except StorageError as problem:
        return _page(folder, 502, error=str(problem))
    return _page(folder, message=f"Deleted {path}.")


@blueprint.post("/workspace/basket")
@login_required
def to_basket():
    folder, path = request.form.get("folder", ""), request.form.get("path", "")
    try:
        clean = workspace.clean_path(path)
        added, item = workspace.add_to_basket(current_user(), clean, download_url(clean))
    except (workspace.WorkspaceError, ValueError) as problem:  # BasketError is a ValueError too
        return _page(folder, getattr(problem, "status", 400), error=str(problem))
    except StorageError as problem:
        return _page(folder, 502, error=str(problem))
    said = f"Added {item.title} to your basket." if added else f"{item.title} is in your basket already."
    return _page(folder, message=said, changed=True)


@blueprint.post("/jobs/<job_id>/workspace")
@login_required
def save_job_result(job_id: str):
    """One of a job's results into the workspace (``jobs/<id>/`` unless a folder is named); then that folder."""
    job = jobs.visible(current_user(), job_id) or abort(404, "You have no job with that id.")
    try:
        saved = job_results.save(current_user(), job, request.form.get("name", ""), request.form.get("folder", ""))
    except jobs.JobProblem as problem:
        abort(409, str(problem))
    except workspace.WorkspaceError as problem:
        abort(problem.status, str(problem))
    except QuotaExceeded as problem:
        raise workspace.InsufficientStorage(f"{problem} Free some room in your workspace first.") from None
    except StorageError as problem:
        abort(502, str(problem))
    return redirect(url_for("workspace.page", folder=saved.path.rpartition("/")[0]), 303)
