"""SQLite's errors as store faults, and the checks made before a scheduler starts on a file.

A full disk, a read-only file, a lock held too long, an I/O error or a corrupt page reach the
store as ``sqlite3.OperationalError`` or ``DatabaseError``; :func:`store_fault` names their cause
(:class:`~scheduler_core.errors.StoreUnavailable`). Other errors (a constraint, SQL the schema
does not know) are bugs, not faults: they are left as they are.
"""

from __future__ import annotations

__all__ = ["MAX_PAGES_ENV", "preflight", "store_fault"]

import sqlite3

from ...errors import StoreUnavailable

#: a fault drill: caps the database at this many pages (``PRAGMA max_page_count`` on the
#: connection that writes), so a full store can be rehearsed without filling a disk
MAX_PAGES_ENV = "SYMBI_SQLITE_MAX_PAGE_COUNT"

#: SQLite's primary result codes (the low byte of an extended one) that are store faults
_CAUSES = {
    3: "cannot_open",  # SQLITE_PERM
    5: "locked",  # SQLITE_BUSY
    6: "locked",  # SQLITE_LOCKED
    7: "out_of_memory",  # SQLITE_NOMEM
    8: "read_only",  # SQLITE_READONLY
    10: "io_error",  # SQLITE_IOERR
    11: "corrupt",  # SQLITE_CORRUPT
    13: "disk_full",  # SQLITE_FULL
    14: "cannot_open",  # SQLITE_CANTOPEN
    15: "locked",  # SQLITE_PROTOCOL (a WAL lock could not be taken)
    22: "io_error",  # SQLITE_NOLFS
    26: "corrupt",  # SQLITE_NOTADB
}


def store_fault(exc: BaseException, path: str) -> StoreUnavailable | None:
    """The fault ``exc`` stands for (None: not a fault of the store's file or disk)."""
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(code, int):
        return None
    cause = _CAUSES.get(code & 0xFF)
    if cause is None:
        return None
    return StoreUnavailable(cause, store=path, reason=str(exc) or type(exc).__name__)


def preflight(conn: sqlite3.Connection, path: str) -> None:
    """Raise :class:`StoreUnavailable` if a scheduler cannot work on this file: it is corrupt
    (``PRAGMA quick_check``), read-only, or locked by another process past the connection's
    busy timeout. Nothing is written: the write that proves it can be made is rolled back."""
    found = [str(row[0]) for row in conn.execute("PRAGMA quick_check(3)").fetchall()]
    if found != ["ok"]:
        problems = "; ".join(" ".join(p.split()) for p in found)
        raise StoreUnavailable("corrupt", store=path, reason=f"quick_check: {problems}"[:300])
    conn.execute("BEGIN IMMEDIATE")  # waits up to busy_timeout for another writer
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        conn.execute(f"PRAGMA user_version = {version}")  # a read-only file refuses this
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
