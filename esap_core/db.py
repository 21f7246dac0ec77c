"""The database: one engine and a scoped session per app, SQLite by default, PostgreSQL in production."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, current_app, request
from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL: a bigger one is bad input, not a server error


def database_id(text: str) -> int:
    """``text`` as an id the database can hold; ``ValueError`` otherwise (werkzeug's ``type=`` then gives None)."""
    value = int(str(text).strip())
    if not 1 <= value <= MAX_ID:
        raise ValueError(f"{text!r} is not an id")
    return value


class DatabaseId(IntegerConverter):
    """``<int:...>`` in paths fits the database's integer ids: a bigger number is a 404, not an overflow."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def database_ids(values) -> list[int]:
    """The values that are ids the database can hold, in order; the others are dropped."""
    ids = []
    for value in values:
        try:
            ids.append(database_id(value))
        except ValueError:
            continue
    return ids


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
        app.before_request(_reads_for_safe_methods)  # before authentication, which reads the user
        app.teardown_request(_reset_transaction_mode)
        app.teardown_appcontext(lambda _exc: self.session.remove())

    def end_transaction(self) -> None:
        """End the session's transaction (committing it) before waiting on the network.

        On SQLite a writing transaction holds the database's write lock from its first statement
        (BEGIN IMMEDIATE, see :func:`make_engine`): a request or job that waits on an archive or a
        facility with one open would hold every other writer up for as long.
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


def session():
    """The current app's database session (a scoped session: one per thread and app context)."""
    return current_app.extensions["esap.db"].session


def end_transaction() -> None:
    """:meth:`Database.end_transaction` for the current app."""
    current_app.extensions["esap.db"].end_transaction()


def database_url(configured: str, instance_path: Path) -> str:
    return configured or f"sqlite:///{instance_path / 'esap.sqlite3'}"


# SQLite transactions: IMMEDIATE (the write lock from the first statement) unless this thread said it
# reads. A request with a safe method reads; everything else (other requests, the worker, the CLI) writes.
_reading: ContextVar[bool] = ContextVar("esap_db_reading", default=False)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Statements that write, or may (a savepoint comes before writes that can be undone alone).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "SAVEPOINT")


@contextmanager
def reading() -> Iterator[None]:
    """SQLite transactions begun inside start DEFERRED, taking no write lock until they write."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def _reads_for_safe_methods() -> None:
    _reading.set(request.method in SAFE_METHODS)


def _reset_transaction_mode(_exc) -> None:
    _reading.set(False)


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith("sqlite"):
        engine = create_engine(url)
        event.listen(engine, "checkin", _note_return)
        event.listen(engine, "checkout", _ping_after_idle)
        return engine
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_begin)
    event.listen(engine, "before_cursor_execute", _sqlite_before_statement)
    return engine


# A connection back in the pool for longer than this is pinged before use: the server may have restarted
# meanwhile. One just used is not (pool_pre_ping would, on every checkout: a round trip per request).
IDLE_BEFORE_PING = 1.0  # seconds


def _note_return(_dbapi_connection, record) -> None:
    record.info["esap.returned"] = time.monotonic()


def _ping_after_idle(dbapi_connection, record, _proxy) -> None:
    """Ping a connection that sat idle; a dead one is replaced (the pool retries on DisconnectionError).

    A server that restarts while connections are in use fails the statements in flight, pinged or
    not; SQLAlchemy then sees the disconnect and replaces every connection of the pool. So the
    ping is needed only for connections that slept through a restart, which a busy pool's are not.
    """
    returned = record.info.get("esap.returned")
    if returned is None or time.monotonic() - returned < IDLE_BEFORE_PING:
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.rollback()
    except Exception as error:  # whatever the driver raises for a dead connection
        raise DisconnectionError(f"an idle connection was dead: {error}") from error


def _sqlite_begin(connection) -> None:
    # IMMEDIATE: a transaction that reads and then writes waits its turn (busy_timeout) for the write
    # lock, instead of failing with "database is locked" when another wrote meanwhile. A reading one
    # begins DEFERRED, so reads run side by side (WAL) and never wait for a writer.
    deferred = _reading.get()
    connection.info["esap.deferred"] = deferred
    connection.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def _sqlite_before_statement(connection, cursor, statement, _parameters, _context, _executemany) -> None:
    """A deferred transaction's first write ends its reads and begins IMMEDIATE, never upgrading in place.

    SQLite cannot upgrade a deferred transaction that has read to a writing one while another
    connection writes or has written since its reads began: it fails at once with SQLITE_BUSY,
    without waiting. So the reads are committed (they changed nothing) and the writes run in a
    transaction of their own that waits for the lock. What the reads saw may have changed by then,
    as between any two statements under PostgreSQL's READ COMMITTED, which the code is written for.
    """
    info = connection.info
    if not info.get("esap.deferred"):
        return
    if statement.lstrip()[:9].upper().startswith(_WRITES):
        info["esap.deferred"] = False
        raw = cursor.connection
        raw.execute("COMMIT")
        raw.execute("BEGIN IMMEDIATE")


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
