"""A :class:`DidCatalogue`'s pages: scopes, and a DID's metadata, contents and replicas."""

from __future__ import annotations

from flask import abort, render_template, request, url_for

from esap_core import discovery
from esap_core.auth import login_required
from esap_core.discovery import Outcome, QueryError
from esap_core.hookspecs import (
    Archive,
    ArchiveError,
    CredentialsExpired,
    DidCatalogue,
)
from esap_core.web.data.common import archive_or_404, ask, blueprint, failure
from esap_core.web.data.panels import panel
from esap_core.web.rendering import render


@blueprint.get("/data/archives/<archive_name>/scopes")
@login_required
def scopes(archive_name: str):
    archive = archive_or_404(archive_name)
    if not isinstance(archive, DidCatalogue):
        abort(404, f"{archive.label} has no scopes.")
    try:
        found, error = ask(archive, lambda user, left: archive.scopes(user, left)), ""
    except (ArchiveError, CredentialsExpired) as problem:
        found, error = [], failure(archive, problem).message
    return render("data_scopes.html", archive=archive, scopes=found, error=error), (502 if error else 200)


def did_from_request(archive: Archive) -> str:
    if not isinstance(archive, DidCatalogue):
        abort(404, f"{archive.label} has no DIDs to show.")
    did = request.args.get("did", "").strip()
    if ":" not in did or len(did) > 1000:
        abort(400, "Name the DID as scope:name.")
    return did


@blueprint.get("/data/archives/<archive_name>/did")
@login_required
def did(archive_name: str):
    archive = archive_or_404(archive_name)
    return render("data_did.html", archive=archive, did=did_from_request(archive))


@blueprint.get("/data/archives/<archive_name>/did/<any(metadata, contents, replicas):section>")
@login_required
def did_section(archive_name: str, section: str):
    """One section of a DID's page, loaded on its own: metadata, contents (paged) or replicas."""
    archive = archive_or_404(archive_name)
    did = did_from_request(archive)
    if section == "contents":
        try:
            page = discovery.check_page(request.args.get("page"))
            result = ask(archive, lambda user, left: archive.contents(did, page, user, left))
            outcome = Outcome(archive.name, archive.label, result=result)
        except (ArchiveError, CredentialsExpired, QueryError) as error:
            outcome = failure(archive, error)

        def page_url(number: int) -> str:
            return url_for("data.did_section", archive_name=archive.name, section="contents", did=did, page=number)

        return panel(archive, outcome, page_url, source=None)
    method = archive.metadata if section == "metadata" else archive.replicas
    try:
        found, error = ask(archive, lambda user, left: method(did, user, left)), ""
    except (ArchiveError, CredentialsExpired) as problem:
        found, error = None, failure(archive, problem).message
    return render_template("_data_did_section.html", section=section, found=found, error=error, archive=archive)
