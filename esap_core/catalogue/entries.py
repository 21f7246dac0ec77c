"""Researchers' own entries: git repositories each user adds for themselves, seen by nobody else."""

from __future__ import annotations

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError

from esap_core.builtins import git_repositories
from esap_core.catalogue.cleaning import UI_TYPES, CatalogueError, http_url, one_line, record_values
from esap_core.catalogue.store import fingerprint
from esap_core.db import session
from esap_core.hookspecs import SoftwareRecord, UIType
from esap_core.models import Software, User

PRIVATE_SOURCE = "private"  # the source name of users' own entries


def add_private(
    user: User,
    repository_url: str,
    name: str = "",
    ref: str = "",
    path: str = "",
    ui_type: str = "notebook",
    description: str = "",
) -> Software:
    """A user's own entry (a git repository), visible only to them; raises :class:`CatalogueError`."""
    url = http_url(repository_url)
    if not url:
        raise CatalogueError("Give the repository as an http(s) URL, such as https://github.com/owner/name.")
    if ui_type not in UI_TYPES:
        raise CatalogueError(f"The UI type must be one of {', '.join(UI_TYPES)}.")
    ref, path = one_line(ref, 255), one_line(path, 1000).lstrip("/")
    values = record_values(
        SoftwareRecord(
            external_id=git_repositories.identifier({"url": url, "ref": ref, "path": path}),
            name=name.strip() or url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or url,
            description=description,
            repository_url=url,
            ref=ref,
            path=path,
            ui_type=UIType(ui_type),
        )
    )
    db = session()
    # The same repository, ref and path once per user (entries made before ids were 16 characters included).
    same = (Software.repository_url == url) & (Software.ref == ref) & (Software.path == path)
    if db.scalar(select(exists().where(Software.owner_id == user.id, same))):
        raise CatalogueError("You added this repository (with this ref and path) already.")
    software = Software(source=PRIVATE_SOURCE, owner_id=user.id, fingerprint=fingerprint(values), **values)
    db.add(software)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise CatalogueError("You added this repository (with this ref and path) already.") from None
    return software


def remove_private(user: User, software_id: int) -> bool:
    result = session().execute(delete(Software).where(Software.id == software_id, Software.owner_id == user.id))
    session().commit()
    return result.rowcount > 0
