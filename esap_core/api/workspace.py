"""The workspace API: list, upload, download and delete your files, your usage, and a file into the basket."""

from __future__ import annotations

from functools import wraps

from flask import Response, abort, request
from flask.views import MethodView
from marshmallow import Schema, fields

from esap_core import basket, job_results, jobs, workspace
from esap_core.api.blueprint import Blueprint
from esap_core.auth import current_user, require_scope
from esap_core.hookspecs import QuotaExceeded, StorageError
from esap_core.security import external_url

blp = Blueprint("api_workspace", __name__, description="Your workspace: files you keep, in the storage ESAP uses")


class UsageSchema(Schema):
    storage = fields.String(required=True, metadata={"description": "The storage that holds your workspace"})
    used = fields.Integer(required=True, metadata={"description": "Bytes in your workspace"})
    quota = fields.Integer(allow_none=True, required=True, metadata={"description": "Your quota in bytes, if any"})
    max_upload = fields.Integer(required=True, metadata={"description": "The largest file one upload may be"})


class FileSchema(Schema):
    path = fields.String(required=True, metadata={"description": "Relative to your workspace, with '/'"})
    name = fields.String(required=True)
    size = fields.Integer(required=True)
    modified = fields.AwareDateTime(allow_none=True)
    folder = fields.Boolean(required=True)


class ListArgs(Schema):
    folder = fields.String(load_default="", metadata={"description": "A folder of your workspace; the top if empty"})


class ListingSchema(Schema):
    folder = fields.String(required=True)
    files = fields.List(fields.Nested(FileSchema), required=True)


class BasketArgs(Schema):
    path = fields.String(required=True, metadata={"description": "The workspace file to put into the basket"})


class BasketAddedSchema(Schema):
    added = fields.Integer(required=True, metadata={"description": "1 if it was new, 0 if it was there already"})
    total = fields.Integer(required=True)
    identifier = fields.String(required=True)
    fetch = fields.Dict(required=True, metadata={"description": "How a notebook fetches it"})


def answers_workspace_errors(view):
    """Workspace and storage failures become a 4xx or 5xx with the message, nothing half-done."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except workspace.WorkspaceError as error:
            abort(error.status, str(error))
        except QuotaExceeded as error:
            raise workspace.InsufficientStorage(str(error)) from None
        except StorageError as error:
            abort(502, str(error))

    return wrapper


def file_dict(entry) -> dict:
    return {
        "path": entry.path,
        "name": entry.path.rpartition("/")[2],
        "size": entry.size,
        "modified": entry.modified,
        "folder": entry.folder,
    }


def download_url(path: str) -> str:
    return external_url("api_workspace.File", path=path)


@blp.url_value_preprocessor
def allow_large_uploads(endpoint, values):
    # Before any before_request reads the body: an upload may be as large as the workspace allows.
    if endpoint == "api_workspace.File" and request.method == "PUT":
        request.max_content_length = workspace.max_upload()


@blp.route("/workspace/usage")
class UsageView(MethodView):
    @blp.response(200, UsageSchema)
    @require_scope("workspace:read")
    @answers_workspace_errors
    def get(self):
        """How much your workspace holds, and your quota."""
        found = workspace.usage(current_user())
        return {
            "storage": workspace.storage().name,
            "used": found.used,
            "quota": found.quota,
            "max_upload": workspace.max_upload(),
        }


@blp.route("/workspace/files")
class Files(MethodView):
    @blp.arguments(ListArgs, location="query")
    @blp.response(200, ListingSchema)
    @require_scope("workspace:read")
    @answers_workspace_errors
    def get(self, args):
        """What a folder of your workspace holds (the top without `folder`): folders first, then files."""
        folder = workspace.clean_path(args["folder"], folder=True)
        return {"folder": folder, "files": [file_dict(entry) for entry in workspace.listing(current_user(), folder)]}


@blp.route("/workspace/files/<path:path>")
class File(MethodView):
    @blp.doc(
        responses={
            "200": {"description": "The file's bytes", "content": {"application/octet-stream": {}}},
            "404": {"description": "No such file"},
        }
    )
    @require_scope("workspace:read")
    @answers_workspace_errors
    def get(self, path: str):
        """Download a file of your workspace."""
        entry, stream = workspace.open_file(current_user(), path)
        name = entry.path.rpartition("/")[2]
        ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
        headers = {
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{workspace.url_path(name)}"
        }
        if entry.size:
            headers["Content-Length"] = str(entry.size)
        return Response(workspace.chunks(stream), mimetype="application/octet-stream", headers=headers)

    @blp.doc(
        requestBody={
            "description": "The file's bytes; send Content-Type: application/octet-stream and a Content-Length",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    )
    @blp.response(201, FileSchema)
    @blp.alt_response(411, description="No Content-Length")
    @blp.alt_response(413, description="Larger than one upload may be")
    @blp.alt_response(507, description="Past your quota")
    @require_scope("workspace:write")
    @answers_workspace_errors
    def put(self, path: str):
        """Save the request's body as a file of your workspace (replacing one of that name)."""
        if request.content_length is None:
            abort(411, "Send a Content-Length header with the file's size.")
        size = workspace.check_size(request.content_length)  # before the body is touched: werkzeug's 413 says less
        return file_dict(workspace.write(current_user(), path, request.stream, size))

    @blp.response(204)
    @require_scope("workspace:write")
    @answers_workspace_errors
    def delete(self, path: str):
        """Delete a file of your workspace."""
        workspace.delete(current_user(), path)


@blp.route("/workspace/basket")
class ToBasket(MethodView):
    @blp.arguments(BasketArgs)
    @blp.response(201, BasketAddedSchema)
    @require_scope("workspace:read")
    @require_scope("basket:write")
    @answers_workspace_errors
    def post(self, args):
        """Put a workspace file into your basket as a data item (notebooks then fetch it like any other)."""
        path = workspace.clean_path(args["path"])
        try:
            added, item = workspace.add_to_basket(current_user(), path, download_url(path))
        except basket.BasketError as error:
            abort(error.status, str(error))
        return {
            "added": added,
            "total": basket.count(current_user()),
            "identifier": item.identifier,
            "fetch": dict(item.fetch),
        }


class JobResultArgs(Schema):
    folder = fields.String(load_default="", metadata={"description": "Where in your workspace; jobs/<id> if empty"})


@blp.route("/jobs/<job_id>/results/<path:name>/workspace")
class JobResultToWorkspace(MethodView):
    @blp.arguments(JobResultArgs)
    @blp.response(201, FileSchema)
    @blp.alt_response(409, description="No such result, or the facility cannot give it now")
    @blp.alt_response(413, description="Larger than one upload may be")
    @blp.alt_response(507, description="Past your quota")
    @require_scope("jobs:read")
    @require_scope("workspace:write")
    @answers_workspace_errors
    def post(self, args, job_id: str, name: str):
        """Save one of a job's results into your workspace, streamed from the facility."""
        job = jobs.visible(current_user(), job_id)
        if job is None:
            abort(404, "You have no job with that id.")
        try:
            return file_dict(job_results.save(current_user(), job, name, args["folder"]))
        except jobs.JobProblem as error:
            abort(409, str(error))
