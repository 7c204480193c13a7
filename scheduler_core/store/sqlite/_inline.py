"""The writer's transactions, and the small ones run on the event loop when the writer is idle.

Every transaction of the store runs on the writer connection's aiosqlite thread: one hop there
and back, which for an idle scheduler is most of what it costs (its thread and the event loop
each wake two or three times a hop, handing the GIL over). A lease renewal, every ten seconds,
is a few rows; when the writer's thread has nothing queued or running and the write lock is free
at once, it runs on the event loop itself, on the same connection (made with
``check_same_thread=False``; the thread is idle, so the connection is not shared), with no busy
wait (``busy_timeout`` 0: a lock held elsewhere sends it to the thread as before) and no
automatic checkpoint (the thread's next commit makes it). Anything larger stays on the thread.
"""

from __future__ import annotations

__all__ = ["WriterUse", "run_tx", "try_inline"]

import contextlib
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: the busy timeout of the writer connection (ms), restored after an inline transaction
BUSY_TIMEOUT_MS = 10000
#: SQLite's default: the WAL is checkpointed by the commit that takes it past this many pages
AUTOCHECKPOINT_PAGES = 1000


def run_tx(conn: sqlite3.Connection, fn: Callable[..., T], *args: Any) -> tuple[T, bool, int]:
    """``fn(conn, *args)`` in one ``BEGIN IMMEDIATE`` transaction: its result, whether it wrote
    anything, and the connection's ``data_version`` once the write lock was taken (it moves
    with every commit of another connection until then, never with this one's)."""
    before = conn.total_changes
    conn.execute("BEGIN IMMEDIATE")
    try:
        # a lease renewal is also the idle scheduler's look for outside writes
        outside = int(conn.execute("PRAGMA data_version").fetchone()[0])
        result = fn(conn, *args)
        conn.execute("COMMIT")
    except BaseException:
        # a full disk or an I/O error may have rolled it back already (or failed the commit):
        # what was raised is the error to report, never the rollback's
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
    return result, conn.total_changes != before, outside


class WriterUse:
    """Whether the writer's thread has work: calls handed to it, and calls it finished (each
    counter written by one thread only)."""

    def __init__(self) -> None:
        self.submitted = 0  #: by the event loop
        self.finished = 0  #: by the writer's thread

    @property
    def idle(self) -> bool:
        return self.submitted == self.finished

    def wrap(self, fn: Callable[..., T]) -> Callable[..., T]:
        """``fn`` counted: submitted now, finished when the thread has run it (even if whoever
        awaited it was cancelled meanwhile)."""
        self.submitted += 1

        def counted(*args: Any) -> T:
            try:
                return fn(*args)
            finally:
                self.finished += 1

        return counted


def try_inline(
    conn: sqlite3.Connection, fn: Callable[..., T], *args: Any
) -> tuple[T, bool, int] | None:
    """:func:`run_tx` here and now, or None if another connection holds the write lock (the
    caller then goes through the thread, which waits for it). Other errors are raised."""
    conn.execute("PRAGMA busy_timeout = 0")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    try:
        return run_tx(conn, fn, *args)
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return None
        raise
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
