"""SQLite writers wait in a queue for the database's write lock instead of polling for it.

SQLite lets one transaction write at a time. A writer that finds the lock taken is answered
SQLITE_BUSY, and the busy handler (``busy_timeout``) sleeps and tries again, after 1, 2, 5,
10, 15, 20, 25, ... up to 100 ms (sqliteDefaultBusyCallback). Under load, with two gunicorn
workers and the audit writes of every request, that sleeping is where a third of the time
went: writers slept on while the lock was already free, and the CPU idled (loopback load:
28-41% idle on SQLite against 6-12% on PostgreSQL under the same load).

So every writing transaction of an engine made by ``make_engine`` first takes an exclusive
``flock`` on a file beside the database (``<database>-writers``, like SQLite's own ``-wal``
and ``-shm``), and lets it go when the transaction ends (commit, rollback, or the connection
going back to the pool or closed). The kernel wakes the next waiter as soon as it is let go,
across processes. The database's own lock is still what guards the data; ``busy_timeout``
still covers writers that do not queue here (another program on the same file).

A writer waits as long as the writers before it take, without a time limit, as a PostgreSQL
lock wait does by default. A thread that asks to write while it already holds the queue
through another connection would wait for itself: it gets an error at once instead.
"""
from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event


class NestedWriteError(RuntimeError):
    """A thread began a second writing transaction while its first was still open."""


class WriterQueue:
    """The queue of one SQLite database file's writers (one per engine)."""

    def __init__(self, database: Path) -> None:
        self.path = f"{database}-writers"
        self._held: dict[int, tuple[int, int]] = {}  # id(DBAPI connection) -> (fd, thread)

    def install(self, engine: Engine) -> None:
        """Let go of the queue whenever ``engine``'s transactions end or its connections
        close; ``enter`` is called by the engine's BEGIN IMMEDIATE."""
        dialect = engine.dialect
        commit, rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(dbapi_connection: Any) -> None:
            try:
                commit(dbapi_connection)
            finally:
                self.leave(dbapi_connection)

        def do_rollback(dbapi_connection: Any) -> None:
            try:
                rollback(dbapi_connection)
            finally:
                self.leave(dbapi_connection)

        dialect.do_commit = do_commit  # type: ignore[method-assign]
        dialect.do_rollback = do_rollback  # type: ignore[method-assign]
        event.listen(engine, "close", lambda dbapi_connection, _record:
                     self.leave(dbapi_connection))

    def enter(self, dbapi_connection: Any) -> None:
        """Wait for this connection's turn to write."""
        key = _key(dbapi_connection)
        if key in self._held:
            return  # already its turn (a BEGIN after a failed one)
        thread = threading.get_ident()
        if any(holder == thread for _fd, holder in self._held.values()):
            raise NestedWriteError("this thread already has a writing transaction open on "
                                   "another connection to the same SQLite database")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # blocks without holding the GIL
        except BaseException:
            os.close(fd)
            raise
        self._held[key] = (fd, thread)

    def leave(self, dbapi_connection: Any) -> None:
        held = self._held.pop(_key(dbapi_connection), None)
        if held is not None:
            os.close(held[0])  # closing the descriptor lets the lock go


def _key(dbapi_connection: Any) -> int:
    # The dialect is handed the pool's proxy, the pool's events the sqlite3 connection itself.
    return id(getattr(dbapi_connection, "dbapi_connection", dbapi_connection))
