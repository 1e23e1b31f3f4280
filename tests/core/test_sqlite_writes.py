"""SQLite writers queue on a file lock (hubcore/sqlite_writes.py)."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from hubcore.sqlite_writes import QueuedWritesConnection, lock_path


def connect(path) -> QueuedWritesConnection:
    connection = sqlite3.connect(path, timeout=5, factory=QueuedWritesConnection,
                                 check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    return connection


@pytest.fixture
def database(tmp_path):
    path = str(tmp_path / "queue.sqlite3")
    with connect(path) as first:
        first.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)")
    return path


def test_the_lock_file_sits_beside_the_database_and_memory_has_none(tmp_path):
    assert lock_path(str(tmp_path / "a.db")) == str(tmp_path / "a.db") + "-writers.lock"
    assert lock_path(f"file:{tmp_path}/a.db?mode=rwc") == f"{tmp_path}/a.db-writers.lock"
    assert lock_path(":memory:") is None
    assert lock_path("file:shared?mode=memory&cache=shared") is None


def test_a_second_writer_waits_for_the_first_to_commit_then_writes(database):
    first, second = connect(database), connect(database)
    first.execute("INSERT INTO items (label) VALUES ('first')")
    assert first._holding and first.in_transaction
    wrote = threading.Event()

    def write_second():
        second.execute("INSERT INTO items (label) VALUES ('second')")
        second.commit()
        wrote.set()

    waiter = threading.Thread(target=write_second)
    waiter.start()
    assert not wrote.wait(0.3)  # queued behind the first writer
    first.commit()
    assert wrote.wait(5)
    waiter.join()
    assert not first._holding and not second._holding
    labels = [row[0] for row in first.execute("SELECT label FROM items ORDER BY id")]
    assert labels == ["first", "second"]


def test_reads_do_not_queue_behind_a_writer(database):
    writer, reader = connect(database), connect(database)
    writer.execute("INSERT INTO items (label) VALUES ('pending')")
    started = time.monotonic()
    assert reader.execute("SELECT count(*) FROM items").fetchone() == (0,)
    assert time.monotonic() - started < 1
    assert not reader._holding
    writer.rollback()
    assert not writer._holding


def test_a_failed_write_lets_the_lock_go_on_rollback(database):
    connection = connect(database)
    connection.execute("INSERT INTO items (label) VALUES ('kept out')")
    with pytest.raises(sqlite3.OperationalError):
        connection.execute("INSERT INTO no_such_table VALUES (1)")
    assert connection._holding  # still inside the transaction
    connection.rollback()
    assert not connection._holding
    other = connect(database)
    other.execute("INSERT INTO items (label) VALUES ('next')")
    other.commit()


def test_a_statement_outside_a_transaction_gives_the_lock_back_at_once(database):
    connection = connect(database)
    connection.execute("CREATE TABLE more (id INTEGER PRIMARY KEY)")  # DDL: autocommit
    assert not connection.in_transaction and not connection._holding


def test_one_thread_never_waits_on_itself(database):
    first, second = connect(database), connect(database)
    second.execute("PRAGMA busy_timeout = 200")
    first.execute("INSERT INTO items (label) VALUES ('held')")
    started = time.monotonic()
    # Without the check this would block for ever on the thread's own flock;
    # it meets SQLite's busy timeout instead, as it would with no queue at all.
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        second.execute("INSERT INTO items (label) VALUES ('same thread')")
    assert time.monotonic() - started < 5
    first.rollback()
    second.rollback()
    second.execute("INSERT INTO items (label) VALUES ('now free')")
    second.commit()


def test_closing_a_connection_that_holds_the_lock_lets_it_go(database):
    first = connect(database)
    first.execute("INSERT INTO items (label) VALUES ('abandoned')")
    first.close()
    second = connect(database)
    second.execute("INSERT INTO items (label) VALUES ('after close')")
    second.commit()
    assert second.execute("SELECT label FROM items").fetchall() == [("after close",)]


def test_the_platform_engine_queues_its_sqlite_writers(app, db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    raw = db.engine.raw_connection()
    try:
        assert isinstance(raw.driver_connection, QueuedWritesConnection)
    finally:
        raw.close()
