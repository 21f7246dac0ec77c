"""The database: one engine and a scoped session per app, SQLite by default, PostgreSQL in production."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL: a bigger one is bad input, not a server error


class Base(DeclarativeBase):
    pass


class Database:
    """``app.extensions["esap.db"]``: the engine and the session of one app."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self.session = scoped_session(sessionmaker(bind=self.engine, expire_on_commit=False))
        self._pid = os.getpid()

    def init_app(self, app: Flask) -> None:
        app.extensions["esap.db"] = self
        app.teardown_appcontext(lambda _exc: self.session.remove())

    def end_transaction(self) -> None:
        """End the session's transaction (committing it) before waiting on the network.

        On SQLite a transaction holds the database's write lock from its first statement (BEGIN
        IMMEDIATE, see :func:`make_engine`): a request or job that waits on an archive or a
        facility with one open would hold every other writer, and every page, up for as long.
        On PostgreSQL an open transaction blocks nobody, and this spares the round trip.
        """
        if self.engine.dialect.name == "sqlite":
            self.session.commit()

    def after_fork(self) -> None:
        """Drop connections inherited from a parent process (``esap worker --fork`` forks a horse per job)."""
        if os.getpid() != self._pid:
            self.session.remove()
            self.engine.dispose(close=False)
            self._pid = os.getpid()


def end_transaction() -> None:
    """:meth:`Database.end_transaction` for the current app."""
    current_app.extensions["esap.db"].end_transaction()


def database_url(configured: str, instance_path: Path) -> str:
    return configured or f"sqlite:///{instance_path / 'esap.sqlite3'}"


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_on_connect)
    # IMMEDIATE: take the write lock at the start, so a transaction that reads and then writes waits
    # its turn (busy_timeout) instead of failing with "database is locked" when another wrote meanwhile.
    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy, not the sqlite3 module, issue BEGIN, so savepoints work (tests, bulk adds).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA busy_timeout = 30000")
    cursor.close()


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (SQLite keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given: use datetime.now(UTC)")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value
