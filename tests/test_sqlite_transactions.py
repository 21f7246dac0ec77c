"""SQLite: reads take no write lock, and a read that turns into a write waits its turn instead of failing."""

from __future__ import annotations

import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import text

from esap_core.app import create_app
from esap_core.db import make_engine, reading
from tests.fixtures import LiveServer, _upgrade, bearer, emptied_after, make_user

ITEM = {"archive": "mine", "identifier": "run-1", "fetch": {"method": "http", "url": "https://x.org/1"}}


def test_reads_proceed_while_another_connection_holds_the_write_lock_and_writes_wait(redis_url, tmp_path):
    path = tmp_path / "esap.sqlite3"
    url = f"sqlite:///{path}"
    _upgrade(url)
    settings = {"database_url": url, "redis_url": redis_url, "instance_path": str(tmp_path / "instance")}
    with emptied_after(create_app({**settings, "load_plugins": []})) as app, LiveServer(app) as server:
        auth = bearer(app, make_user(app, "ada"))
        basket = f"{server.url}/api/v1/basket"
        assert requests.get(basket, headers=auth, timeout=30).json()["total"] == 0  # the token is marked used

        writer = sqlite3.connect(path, isolation_level=None)  # another process's write transaction, held open
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE users SET name = name")
        try:
            adding = ThreadPoolExecutor(1).submit(requests.post, f"{basket}/items", json=ITEM, headers=auth, timeout=30)
            started = time.monotonic()
            with ThreadPoolExecutor(2) as pool:
                reads = list(pool.map(lambda _: requests.get(basket, headers=auth, timeout=30), range(2)))
            assert [read.status_code for read in reads] == [200, 200]
            assert time.monotonic() - started < 5  # not behind the lock (busy_timeout is 30 s)
            time.sleep(0.5)
            assert not adding.done()  # the write waits for the lock
        finally:
            writer.execute("COMMIT")
            writer.close()
        assert adding.result(30).status_code == 201
        assert requests.get(basket, headers=auth, timeout=30).json()["total"] == 1


def test_a_reading_transaction_that_writes_after_another_wrote_does_not_fail(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'rw.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counts (n INTEGER)"))
        connection.execute(text("INSERT INTO counts VALUES (0)"))
    try:
        with reading(), engine.connect() as reader:
            assert reader.scalar(text("SELECT count(*) FROM counts")) == 1  # a read snapshot is open
            with engine.begin() as other:  # another connection writes and commits meanwhile
                other.execute(text("INSERT INTO counts VALUES (1)"))
            # Upgraded in place, this write would fail at once: "database is locked" (SQLITE_BUSY_SNAPSHOT).
            reader.execute(text("INSERT INTO counts VALUES (2)"))
            reader.commit()
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM counts")) == 3
    finally:
        engine.dispose()


def test_a_reading_transaction_that_writes_while_another_holds_the_lock_waits_for_it(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'rw.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counts (n INTEGER)"))
    holding, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with engine.begin() as other:
            other.execute(text("INSERT INTO counts VALUES (1)"))
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_lock)
    try:
        with reading(), engine.connect() as reader:
            assert reader.scalar(text("SELECT count(*) FROM counts")) == 0
            holder.start()
            assert holding.wait(10)
            threading.Timer(0.5, release.set).start()
            started = time.monotonic()
            reader.execute(text("INSERT INTO counts VALUES (2)"))  # waits for the other's commit
            assert time.monotonic() - started >= 0.4
            reader.commit()
        holder.join(10)
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM counts")) == 2
    finally:
        release.set()
        engine.dispose()
