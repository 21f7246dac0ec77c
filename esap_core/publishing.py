"""Publishing results: files from a researcher's workspace and the launch or job they came from, out with a DOI.

ESAP prefills the metadata from what it knows (the login's claims, the software, the facility,
the data's identifiers, the launch's own page), the researcher reviews it, a publisher plugin
(``esap-zenodo``) publishes, and ESAP keeps the record's DOI beside the launch or job. The
launch's RO-Crate goes with the files. The user's token for the repository is theirs, kept
encrypted on their profile, and handed to the publisher only for the publication.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select

from esap_core import credentials, workspace
from esap_core.db import session
from esap_core.hookspecs import (
    Creator,
    InvalidValues,
    Publication,
    Publisher,
    RelatedIdentifier,
    Secret,
    Upload,
)
from esap_core.models import Job, Launch, PublishedRecord, User
from esap_core.security import external_url

TOKEN_PREFIX = "publisher:"  # the credentials' name of a user's token for a publisher
PUBLISH_TIMEOUT = 3600.0  # seconds a publisher may take for one publication (its files' uploads included)
MAX_FILES = 100
FORM_FIELDS = ("title", "description", "creators", "keywords", "licence", "upload_type", "related")
LICENCES = ("cc-by-4.0", "cc0-1.0", "cc-by-sa-4.0", "mit", "apache-2.0", "bsd-3-clause", "gpl-3.0-or-later")
UPLOAD_TYPES = ("dataset", "software", "publication", "poster", "presentation", "image", "video", "other")
# DataCite's relation types ESAP offers (its metadata schema 4.4); a publisher maps them to its own.
RELATIONS = {
    name.lower(): name
    for name in (
        "isDerivedFrom",
        "isCompiledBy",
        "isDocumentedBy",
        "isSupplementTo",
        "references",
        "requires",
        "isNewVersionOf",
        "isPartOf",
    )
}
ORCID = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")
DOI = re.compile(r"^10\.\d{4,9}/\S+$")


class PublishProblem(ValueError):
    """A publication that cannot be made as asked (no token, no such file...); the message says why."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Metadata:
    """What the researcher reviewed: everything of a :class:`Publication` but its files and provenance."""

    title: str
    description: str
    creators: tuple[Creator, ...]
    keywords: tuple[str, ...]
    licence: str
    upload_type: str
    related: tuple[RelatedIdentifier, ...]


# --- publishers and the user's tokens for them ------------------------------------------------


def publishers() -> dict[str, Publisher]:
    return current_app.extensions["esap.plugins"].publishers


def publisher(name: str) -> Publisher:
    found = publishers().get(name)
    if found is None:
        installed = ", ".join(sorted(publishers())) or "none is installed"
        raise PublishProblem(f"There is no publisher named {name!r} (installed: {installed}).", 404)
    return found


def keep_token(user: User, name: str, token: str) -> None:
    """Keep (encrypted) the user's token for the publisher, or forget it when ``token`` is empty."""
    publisher(name)
    if token.strip():
        credentials.put(user.id, TOKEN_PREFIX + name, token.strip()[:4000])
    else:
        credentials.forget(user.id, TOKEN_PREFIX + name)


def token(user: User, name: str) -> Secret | None:
    value = credentials.get(user.id, TOKEN_PREFIX + name)
    return Secret(value, f"profile of {user.username}") if value else None


# --- where the files came from ----------------------------------------------------------------


def origin(user: User, launch_id: str = "", job_id: str = "") -> Launch | Job:
    """The user's own launch or job the publication comes from (one of the two must be given)."""
    if bool(launch_id) == bool(job_id):
        raise PublishProblem("Say which launch or which job the files come from (one of them).")
    found = session().get(Launch, launch_id) if launch_id else session().get(Job, job_id)
    if found is None or found.user_id != user.id:
        raise PublishProblem(f"You have no such {'launch' if launch_id else 'job'}.", 404)
    return found


def run_url(run: Launch | Job) -> str:
    """ESAP's own page of the launch or job: what the record names as documenting it."""
    if isinstance(run, Launch):
        return external_url("launches.show", launch_id=run.id)
    return external_url("jobs.show", job_id=run.id)


def records_of(user: User, run: Launch | Job | None = None) -> list[PublishedRecord]:
    """The user's publications, newest first; only those of ``run`` when given."""
    query = select(PublishedRecord).where(PublishedRecord.user_id == user.id)
    if isinstance(run, Launch):
        query = query.where(PublishedRecord.launch_id == run.id)
    elif isinstance(run, Job):
        query = query.where(PublishedRecord.job_id == run.id)
    return list(session().scalars(query.order_by(PublishedRecord.created.desc(), PublishedRecord.id.desc())))


# --- the metadata ESAP prefills, and the researcher's review of it ---------------------------


def prefill(user: User, run: Launch | Job, page_url: str) -> dict[str, str]:
    """The review form's values, as text, from the login's claims and the launch or job."""
    software, facility = run.software or {}, run.facility or {}
    name = software.get("name") or "software"
    when = (run.started or run.created).strftime("%Y-%m-%d %H:%M UTC")
    kind = "launched" if isinstance(run, Launch) else "run as a job"
    description = (software.get("description") or "").strip()[:4000]
    where = facility.get("title") or facility.get("name") or "a facility"
    made_with = f"Made with ESAP: {name} {kind} on {where}, {when}."
    data = [item.get("identifier", "") for item in run.data or [] if item.get("identifier")]
    if data:
        made_with += f" Data: {len(data)} item{'s' if len(data) != 1 else ''}, listed among the related identifiers."
    return {
        "title": f"Results of {name}"[:1000],
        "description": f"{description}\n\n{made_with}".strip(),
        "creators": creator_line(user),
        "keywords": ", ".join(str(word) for word in software.get("keywords") or [])[:1000],
        "licence": LICENCES[0],
        "upload_type": UPLOAD_TYPES[0],
        "related": "\n".join(f"{relation} {identifier}" for relation, identifier in related_of(run, page_url)),
    }


def creator_line(user: User) -> str:
    """``Family, Given; affiliation; ORCID`` from the login's OIDC claims (what is known of them)."""
    claims = user.claims or {}
    family, given = claims.get("family_name") or "", claims.get("given_name") or ""
    name = f"{family}, {given}" if family and given else (user.name or user.username)
    affiliation = claims.get("affiliation") or claims.get("schac_home_organization") or ""
    if isinstance(affiliation, list):
        affiliation = affiliation[0] if affiliation else ""
    orcid = str(claims.get("orcid") or "").removeprefix("https://orcid.org/")
    parts = [name, str(affiliation), orcid if ORCID.match(orcid) else ""]
    while parts and not parts[-1]:
        parts.pop()
    return "; ".join(parts)


def related_of(run: Launch | Job, page_url: str) -> list[tuple[str, str]]:
    """(relation, identifier): the software at its commit or its DOI, each data item, and ESAP's page of the run."""
    software, details = run.software or {}, run.details or {}
    related = []
    if software.get("doi"):
        related.append(("isCompiledBy", str(software["doi"]).removeprefix("https://doi.org/")))
    repository, commit = software.get("repository_url") or "", details.get("commit") or ""
    if repository.startswith(("http://", "https://")):
        related.append(("isCompiledBy", f"{repository.removesuffix('.git')}/tree/{commit}" if commit else repository))
    for item in run.data or []:
        if item.get("identifier"):
            related.append(("isDerivedFrom", str(item["identifier"])))
    related.append(("isDocumentedBy", page_url))
    return related


def read_metadata(values: Mapping[str, Any]) -> Metadata:
    """The reviewed form (or API body, as text) checked; raises :class:`InvalidValues` naming each bad field."""
    problems: dict[str, str] = {}
    title = " ".join(str(values.get("title") or "").split())
    if not title:
        problems["title"] = "Give the record a title."
    elif len(title) > 1000:
        problems["title"] = "The title is over 1,000 characters."
    description = str(values.get("description") or "").strip()
    if not description:
        problems["description"] = "Say in a sentence or two what the files are."
    elif len(description) > 20_000:
        problems["description"] = "The description is over 20,000 characters."
    creators = _creators(str(values.get("creators") or ""), problems)
    keywords = tuple(word.strip() for word in str(values.get("keywords") or "").split(",") if word.strip())
    if any(len(word) > 200 for word in keywords) or len(keywords) > 50:
        problems["keywords"] = "At most 50 keywords, each under 200 characters, separated by commas."
    licence = str(values.get("licence") or LICENCES[0])
    if licence not in LICENCES:
        problems["licence"] = f"Choose one of {', '.join(LICENCES)}."
    upload_type = str(values.get("upload_type") or UPLOAD_TYPES[0])
    if upload_type not in UPLOAD_TYPES:
        problems["upload_type"] = f"Choose one of {', '.join(UPLOAD_TYPES)}."
    related = _related(str(values.get("related") or ""), problems)
    if problems:
        raise InvalidValues(problems)
    return Metadata(title, description, creators, keywords, licence, upload_type, related)


def _creators(text: str, problems: dict[str, str]) -> tuple[Creator, ...]:
    creators = []
    for number, line in enumerate((line for line in text.splitlines() if line.strip()), start=1):
        name, affiliation, orcid = ([part.strip() for part in line.split(";")] + ["", ""])[:3]
        if not name or len(name) > 255:
            problems["creators"] = f"Line {number}: a name (Family, Given) of at most 255 characters comes first."
        elif orcid and not ORCID.match(orcid.removeprefix("https://orcid.org/")):
            problems["creators"] = f"Line {number}: {orcid[:40]!r} is not an ORCID (0000-0002-1825-0097)."
        else:
            creators.append(Creator(name, affiliation[:255], orcid.removeprefix("https://orcid.org/")))
    if not creators and "creators" not in problems:
        problems["creators"] = "Name at least one creator: Family, Given; affiliation; ORCID (one per line)."
    return tuple(creators)


def _related(text: str, problems: dict[str, str]) -> tuple[RelatedIdentifier, ...]:
    related = []
    for number, line in enumerate((line for line in text.splitlines() if line.strip()), start=1):
        relation, _, identifier = line.strip().partition(" ")
        identifier = identifier.strip()
        if relation.lower() not in RELATIONS or not identifier or len(identifier) > 1000:
            problems["related"] = (
                f"Line {number}: a relation ({', '.join(RELATIONS.values())}), a space, then the identifier."
            )
            continue
        related.append(RelatedIdentifier(identifier, RELATIONS[relation.lower()], scheme_of(identifier)))
    return tuple(related)


def scheme_of(identifier: str) -> str:
    """The identifier's scheme: doi, url, ivoid (IVOA), did (Rucio scope:name), or other."""
    if DOI.match(identifier.removeprefix("https://doi.org/")) and not identifier.startswith("http://"):
        return "doi"
    if identifier.startswith(("http://", "https://")):
        return "url"
    if identifier.startswith("ivo://"):
        return "ivoid"
    if re.match(r"^[\w.\-]+:[^\s/][^\s]*$", identifier):
        return "did"
    return "other"


# --- publishing ------------------------------------------------------------------------------------


def publish(
    user: User,
    publisher_name: str,
    metadata: Metadata,
    paths: Sequence[str],
    run: Launch | Job,
    page_url: str,
    new_version_of: str = "",
) -> PublishedRecord:
    """Publish the workspace files at ``paths`` with the run's crate; raises PublishProblem or PublishError."""
    chosen = publisher(publisher_name)
    secret = token(user, publisher_name)
    if secret is None:
        raise PublishProblem(f"Keep your {chosen.label} token on your profile first: ESAP publishes as you.")
    uploads = _uploads(user, paths)
    if new_version_of and new_version_of not in {
        record.record_id for record in records_of(user) if record.publisher == publisher_name
    }:
        raise PublishProblem("A new version is made only of a record you published through ESAP.")
    publication = Publication(
        title=metadata.title,
        description=metadata.description,
        creators=metadata.creators,
        files=tuple(uploads),
        keywords=metadata.keywords,
        licence=metadata.licence,
        upload_type=metadata.upload_type,
        related=metadata.related,
        provenance=_crate(run, page_url, user),
        new_version_of=new_version_of,
    )
    published = chosen.publish(publication, secret, PUBLISH_TIMEOUT)
    record = PublishedRecord(
        user_id=user.id,
        publisher=publisher_name,
        record_id=str(published.record_id)[:255],
        doi=str(published.doi)[:255],
        url=str(published.url)[:1000],
        title=metadata.title,
        launch_id=run.id if isinstance(run, Launch) else None,
        job_id=run.id if isinstance(run, Job) else None,
        files=[upload.name for upload in uploads],
        version_of=new_version_of,
    )
    session().add(record)
    session().commit()
    return record


def _uploads(user: User, paths: Sequence[str]) -> list[Upload]:
    if not paths:
        raise PublishProblem("Choose at least one file of your workspace to publish.")
    if len(paths) > MAX_FILES:
        raise PublishProblem(f"At most {MAX_FILES} files go into one record; {len(paths)} were chosen.")
    uploads, names = [], set()
    for path in dict.fromkeys(paths):
        try:
            found = workspace.find(user, path)  # a file, never a folder
        except workspace.WorkspaceError as error:  # no such file, a malformed path, no workspace at all
            raise PublishProblem(str(error), error.status) from None
        name = posixpath.basename(found.path)
        if name in names:
            raise PublishProblem(f"Two chosen files are named {name!r}: a record holds one file of each name.")
        names.add(name)
        uploads.append(Upload(name, found.size, lambda path=found.path: workspace.open_file(user, path)[1]))
    return uploads


def _crate(run: Launch | Job, page_url: str, user: User) -> str:
    """The run's RO-Crate metadata (JSON text): what the record carries as ro-crate-metadata.json."""
    from esap_core import provenance  # rocrate is heavy: loaded when a record is made, not at start-up

    return json.dumps(provenance.crate_metadata(run, page_url, user.name or user.username), indent=2)
