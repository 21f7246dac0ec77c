"""The durable state: users, their tokens and secrets, software, baskets, plugin state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from esap_core.db import Base, UTCDateTime


def now() -> datetime:
    return datetime.now(UTC)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(255))  # "local" for the single-user mode
    subject: Mapped[str] = mapped_column(String(255))
    username: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    email: Mapped[str] = mapped_column(String(255), default="")
    claims: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_login: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PluginState(Base):
    """A small key → JSON value store per plugin (harvest bookmarks, say): plugins never touch the DB."""

    __tablename__ = "plugin_state"

    plugin: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class ApiToken(Base):
    """A personal API token. Only a hash of the secret is kept; the secret is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the secret, hex
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_used: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class LoginSession(Base):
    """A browser login, kept on the server: logging out ends it, wherever its cookie was copied to.

    The cookie holds only a random secret; this row holds its hash, the times that bound it,
    and the issuer's ID token (encrypted, for the logout hint), so no cookie carries the token.
    """

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the cookie's secret, hex
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    revoked: Mapped[datetime | None] = mapped_column(UTCDateTime)
    id_token: Mapped[bytes | None] = mapped_column(LargeBinary)

    user: Mapped[User] = relationship()


class UserSecret(Base):
    """A secret kept for a user, encrypted at rest: delegated OIDC tokens, a facility's personal token."""

    __tablename__ = "user_secrets"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class Software(Base):
    """A launchable piece of software from a software source (harvested) or added by a user (private)."""

    __tablename__ = "software"
    __table_args__ = (
        UniqueConstraint("source", "external_id", "owner_id"),
        # NULLs are distinct in the constraint above: public records (no owner) need this one.
        Index(
            "uq_software_public",
            "source",
            "external_id",
            unique=True,
            sqlite_where=text("owner_id IS NULL"),
            postgresql_where=text("owner_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(255))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    repository_url: Mapped[str] = mapped_column(String(1000), default="")
    ref: Mapped[str] = mapped_column(String(255), default="")
    path: Mapped[str] = mapped_column(String(1000), default="")
    version: Mapped[str] = mapped_column(String(100), default="")
    doi: Mapped[str] = mapped_column(String(255), default="")
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    runtime_platform: Mapped[str] = mapped_column(String(255), default="")
    ui_type: Mapped[str] = mapped_column(String(20), default="notebook")
    licence: Mapped[str] = mapped_column(String(255), default="")
    updated: Mapped[datetime | None] = mapped_column(UTCDateTime)
    harvested: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")  # of the harvested record: unchanged → skipped


class BasketItem(Base):
    """One thing in a user's basket: a data item from an archive, or a piece of software.

    The unique constraint, not a read-then-write, keeps concurrent adds of the same item to one row.
    """

    __tablename__ = "basket_items"
    __table_args__ = (UniqueConstraint("user_id", "kind", "archive", "identifier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # "data" or "software"
    archive: Mapped[str] = mapped_column(String(100))  # for software items: the software source
    identifier: Mapped[str] = mapped_column(String(1000))
    title: Mapped[str] = mapped_column(String(1000), default="")
    fetch: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    software_id: Mapped[int | None] = mapped_column(ForeignKey("software.id", ondelete="CASCADE"))
    added: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    software: Mapped[Software | None] = relationship()


class RegisteredFacility(Base):
    """A compute facility of a registered kind: public (no owner) or private to its owner.

    Names are unique among public facilities, and among each owner's own.
    """

    __tablename__ = "facilities"
    __table_args__ = (
        UniqueConstraint("owner_id", "name", name="uq_facilities_owner_id"),
        # NULLs are distinct in the constraint above: public facilities (no owner) need this one.
        Index(
            "uq_facilities_public_name",
            "name",
            unique=True,
            sqlite_where=text("owner_id IS NULL"),
            postgresql_where=text("owner_id IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))  # URL-safe
    kind: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(1000))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # secrets as {"env": "NAME"}
    rucio_rse: Mapped[str] = mapped_column(String(255), default="")  # where its sessions read Rucio data
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    from_config: Mapped[bool] = mapped_column(default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    check_up: Mapped[bool | None] = mapped_column()
    check_message: Mapped[str] = mapped_column(Text, default="")
    check_version: Mapped[str] = mapped_column(String(255), default="")
    check_latency_ms: Mapped[float | None] = mapped_column()
    check_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    checked: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Launch(Base):
    """One launch and its provenance: who, which software at which commit, which data, where, when, outcome."""

    __tablename__ = "launches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random, used in URLs
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id", ondelete="SET NULL"))
    software_id: Mapped[int | None] = mapped_column(ForeignKey("software.id", ondelete="SET NULL"))
    facility: Mapped[dict[str, Any]] = mapped_column(JSON)  # name, kind, url, title at launch time
    software: Mapped[dict[str, Any]] = mapped_column(JSON)  # the record as launched
    data: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # the basket items, a snapshot
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)  # queued running ready failed stopped
    phase: Mapped[str] = mapped_column(String(30), default="queued")
    progress: Mapped[float | None] = mapped_column()
    phases: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{phase, at, message}]
    log: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # commit, image, ... as reported
    url: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    job_id: Mapped[str] = mapped_column(String(64), default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    started: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The Dask (or other) cluster of the launch, beside its session or the launch itself (esap_core.clusters):
    # the facility as chosen, the options, and once started its name, dashboard and connection; {} for none.
    cluster: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cluster_state: Mapped[str] = mapped_column(String(20), default="", index=True)  # "" starting running stopped


class Job(Base):
    """One unattended job and its provenance: who, which software at which commit, which data and parameters, where,
    each phase with its time, the log's end, the outcome and the files it produced."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random, used in URLs
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id", ondelete="SET NULL"))
    software_id: Mapped[int | None] = mapped_column(ForeignKey("software.id", ondelete="SET NULL"))
    facility: Mapped[dict[str, Any]] = mapped_column(JSON)  # name, kind, url, title at submission
    software: Mapped[dict[str, Any]] = mapped_column(JSON)  # the record as submitted
    data: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # the basket items, a snapshot
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    command: Mapped[str] = mapped_column(Text, default="")
    notebook: Mapped[str] = mapped_column(String(1000), default="")
    phase: Mapped[str] = mapped_column(String(20), default="PENDING", index=True)  # a UWS phase (JobPhase)
    phases: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{phase, at, message}]
    log: Mapped[str] = mapped_column(Text, default="")  # the end of the job's output
    message: Mapped[str] = mapped_column(Text, default="")  # the outcome, or the facility's word on it
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # commit, exit code, ... as the facility says
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{name, size, media_type}]
    remote_id: Mapped[str] = mapped_column(String(255), default="")  # the facility's id of the job
    queue_id: Mapped[str] = mapped_column(String(64), default="")  # the queue's job that submits and follows it
    run_id: Mapped[str] = mapped_column(String(64), default="")  # the submitter's own label (UWS runId)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    started: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PublishedRecord(Base):
    """A record a user published through ESAP: the repository's id and DOI, and the launch or job its files are from."""

    __tablename__ = "publications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    publisher: Mapped[str] = mapped_column(String(100))  # the publisher plugin's name
    record_id: Mapped[str] = mapped_column(String(255))  # the repository's own id (a new version names it)
    doi: Mapped[str] = mapped_column(String(255))
    url: Mapped[str] = mapped_column(String(1000))  # the record's page
    title: Mapped[str] = mapped_column(String(1000))
    launch_id: Mapped[str | None] = mapped_column(ForeignKey("launches.id", ondelete="SET NULL"), index=True)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    files: Mapped[list[str]] = mapped_column(JSON, default=list)  # the names published, the crate among them
    version_of: Mapped[str] = mapped_column(String(255), default="")  # the record this one is a new version of
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
