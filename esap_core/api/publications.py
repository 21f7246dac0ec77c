"""The publications API: publish workspace files with a launch's or job's record, and list what you published."""

from __future__ import annotations

from flask import abort
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from esap_core import publishing
from esap_core.api.blueprint import Blueprint
from esap_core.auth import current_user, require_scope
from esap_core.hookspecs import InvalidValues, PublishError, StorageError, detail_of

blp = Blueprint("api_publications", __name__, description="Your results out with a DOI: publications to Zenodo and kin")


class CreatorSchema(Schema):
    name = fields.String(required=True, metadata={"description": "Family, Given"})
    affiliation = fields.String(load_default="")
    orcid = fields.String(load_default="", metadata={"example": "0000-0002-1825-0097"})


class RelatedSchema(Schema):
    relation = fields.String(required=True, metadata={"description": "DataCite's relation type: isDerivedFrom..."})
    identifier = fields.String(required=True, metadata={"description": "A DOI, URL, IVOA identifier or Rucio DID"})


class PublishArgs(Schema):
    publisher = fields.String(required=True, metadata={"description": "GET /api/v1/publishers lists them"})
    launch_id = fields.String(load_default="", metadata={"description": "The launch the files come from"})
    job_id = fields.String(load_default="", metadata={"description": "Or the job they come from"})
    files = fields.List(fields.String(), required=True, validate=validate.Length(min=1, max=publishing.MAX_FILES))
    new_version_of = fields.String(load_default="", metadata={"description": "A record_id you published before"})
    # Left out, each takes what ESAP prefills from the login and the launch or job (GET .../prefill shows it).
    title = fields.String()
    description = fields.String()
    creators = fields.List(fields.Nested(CreatorSchema))
    keywords = fields.List(fields.String())
    licence = fields.String()
    upload_type = fields.String()
    related = fields.List(fields.Nested(RelatedSchema))

    @validates_schema
    def one_source(self, data, **kwargs):
        if bool(data.get("launch_id")) == bool(data.get("job_id")):
            raise ValidationError("Give launch_id or job_id: the launch or job the files come from.")


class RecordSchema(Schema):
    id = fields.Integer(required=True)
    publisher = fields.String(required=True)
    record_id = fields.String(required=True)
    doi = fields.String(required=True)
    url = fields.String(required=True, metadata={"description": "The record's page at the repository"})
    title = fields.String(required=True)
    launch_id = fields.String(allow_none=True)
    job_id = fields.String(allow_none=True)
    files = fields.List(fields.String(), required=True)
    version_of = fields.String(required=True)
    created = fields.AwareDateTime(required=True)


class PublisherSchema(Schema):
    name = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    token_kept = fields.Boolean(required=True, metadata={"description": "Whether your token for it is on your profile"})


class SourceArgs(Schema):
    launch_id = fields.String(load_default="")
    job_id = fields.String(load_default="")


def _as_text(args: dict) -> dict[str, str]:
    """The API's lists in the review form's text form, which publishing.read_metadata checks (one rule for both)."""
    text = {name: args[name] for name in ("title", "description", "licence", "upload_type") if name in args}
    if "creators" in args:
        text["creators"] = "\n".join(f"{c['name']}; {c['affiliation']}; {c['orcid']}" for c in args["creators"])
    if "keywords" in args:
        text["keywords"] = ", ".join(word.replace(",", " ") for word in args["keywords"])
    if "related" in args:
        text["related"] = "\n".join(f"{r['relation']} {r['identifier']}" for r in args["related"])
    return text


@blp.route("/publishers")
class Publishers(MethodView):
    @blp.response(200, PublisherSchema(many=True))
    @require_scope("publish")
    def get(self):
        """The repositories ESAP publishes to, and whether your token for each is kept."""
        user = current_user()
        return [
            {
                "name": name,
                "title": chosen.label,
                "description": chosen.description,
                "token_kept": publishing.token(user, name) is not None,
            }
            for name, chosen in publishing.publishers().items()
        ]


@blp.route("/publications/prefill")
class Prefill(MethodView):
    @blp.arguments(SourceArgs, location="query")
    @blp.response(200)
    @require_scope("publish")
    def get(self, args):
        """The metadata ESAP would prefill for files from this launch or job (the review form's text fields)."""
        try:
            run = publishing.origin(current_user(), args["launch_id"], args["job_id"])
        except publishing.PublishProblem as problem:
            abort(problem.status, str(problem))
        return publishing.prefill(current_user(), run, publishing.run_url(run))


@blp.route("/publications")
class Publications(MethodView):
    @blp.response(200, RecordSchema(many=True))
    @require_scope("publish")
    def get(self):
        """What you published through ESAP, newest first."""
        return publishing.records_of(current_user())

    @blp.arguments(PublishArgs)
    @blp.response(201, RecordSchema)
    @blp.alt_response(400, description="Bad metadata (each field named), no token kept, a file twice by name")
    @blp.alt_response(502, description="The repository refused or failed: its message; nothing is kept")
    @require_scope("publish")
    def post(self, args):
        """Publish files of your workspace with the launch's or job's RO-Crate; metadata left out is prefilled."""
        user = current_user()
        try:
            run = publishing.origin(user, args["launch_id"], args["job_id"])
            url = publishing.run_url(run)
            metadata = publishing.read_metadata({**publishing.prefill(user, run, url), **_as_text(args)})
            return publishing.publish(
                user, args["publisher"], metadata, args["files"], run, url, args["new_version_of"]
            )
        except InvalidValues as invalid:
            abort(400, "; ".join(f"{name}: {problem}" for name, problem in invalid.problems.items()))
        except publishing.PublishProblem as problem:
            abort(problem.status, str(problem))
        except (PublishError, StorageError) as error:
            detail = detail_of(error)
            abort(502, f"{error} ({detail})" if detail else str(error))
