"""SQLite writers wait their turn in the kernel, not in SQLite's busy loop.

SQLite lets one connection write at a time. A second writer is told "busy"
and SQLite's busy handler sleeps and retries (1, 2, 5, 10... ms), so under
load from several gunicorn processes a waiting request often sleeps well past
the moment the lock came free. Here each connection takes an exclusive
``flock`` on a lock file beside the database before its first write and lets
it go when the transaction ends: a waiter wakes the instant the writer is done.

Reads never take it (write-ahead logging lets them run beside the writer).
Writers from outside Hubcore (the sqlite3 shell, say) do not take it either;
they still meet SQLite's own lock and busy timeout, so nothing waits for ever.
Nor does a thread that already holds the lock through another connection: its
second connection meets SQLite's busy timeout, as it would without the queue,
instead of waiting on itself.
The lock file is separate because opening and closing the database file
itself would drop SQLite's own POSIX locks in this process.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading

# Statements that may read only; anything else may write, so it queues first.
# Those that turn out not to open a transaction give the lock back at once.
_READS = ("SELECT", "PRAGMA", "EXPLAIN")

# The lock files each thread holds now, so that it never queues behind itself.
_held = threading.local()


def _held_here() -> set[str]:
    if not hasattr(_held, "paths"):
        _held.paths = set()
    return _held.paths


def lock_path(database: str) -> str | None:
    """The lock file for a database file, or None for an in-memory database."""
    if not database or database == ":memory:" or "mode=memory" in database:
        return None
    if database.startswith("file:"):
        database = database[len("file:"):].split("?", 1)[0]
    return database + "-writers.lock"


class QueuedWritesConnection(sqlite3.Connection):
    """A sqlite3 connection whose write transactions queue on a ``flock``."""

    def __init__(self, database, *args, **kwargs):
        super().__init__(database, *args, **kwargs)
        self._lock_path = lock_path(os.fspath(database))
        self._lock_fd = (os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
                         if self._lock_path else None)
        self._holding = False

    def cursor(self, factory=None):
        return super().cursor(factory or QueuedWritesCursor)

    def execute(self, sql, parameters=(), /):
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, parameters, /):
        return self.cursor().executemany(sql, parameters)

    def _queue_for(self, sql: str) -> None:
        if (self._lock_fd is not None and not self._holding
                and not sql.lstrip()[:7].upper().startswith(_READS)
                and self._lock_path not in _held_here()):
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self._holding = True
            self._holder = _held_here()  # the taking thread's set, wherever it is let go
            self._holder.add(self._lock_path)

    def _done_if_idle(self) -> None:
        if self._holding and not self.in_transaction:
            self._let_go()

    def _let_go(self) -> None:
        self._holding = False
        self._holder.discard(self._lock_path)
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self):
        try:
            super().commit()
        finally:
            self._done_if_idle()

    def rollback(self):
        try:
            super().rollback()
        finally:
            self._done_if_idle()

    def close(self):
        try:
            super().close()
        finally:
            if self._lock_fd is not None:
                if self._holding:
                    self._let_go()
                os.close(self._lock_fd)
                self._lock_fd = None


class QueuedWritesCursor(sqlite3.Cursor):
    def execute(self, sql, parameters=(), /):
        connection = self.connection
        connection._queue_for(sql)
        try:
            return super().execute(sql, parameters)
        finally:
            connection._done_if_idle()

    def executemany(self, sql, parameters, /):
        connection = self.connection
        connection._queue_for(sql)
        try:
            return super().executemany(sql, parameters)
        finally:
            connection._done_if_idle()
