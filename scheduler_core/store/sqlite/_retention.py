"""Retention on SQLite: pruning in batches, giving the file's space back, and the store's stats.

A batch walks one table in the order of its age index (``runs_finished``, ``iterations_started``,
``audit_at``, ``context_archive_at``) from where the last one stopped, decides for each row whether
it goes, and deletes those that do, all in one ``BEGIN IMMEDIATE`` transaction on the writer
connection (so it queues behind the scheduler's transactions, never beside them: no busy-waiting
either way). A dry run does the same reading on the reading connection and deletes nothing.

The space deleted rows held goes to the file's free list; a file in ``auto_vacuum = INCREMENTAL``
mode gives it back to the file system a few pages at a time (``reclaim``). New files are created
in that mode; an existing file can only change mode by a ``VACUUM`` that rewrites it whole, which a
small file gets when it is opened (``prepare_file``) and a large one when its operator runs
``symbi store vacuum`` (it holds the write lock for as long as it takes).

:class:`SqliteRetention` is the store's half of it (mixed into ``SqliteJobStore``).
"""

from __future__ import annotations

__all__ = ["SMALL_FILE_BYTES", "SqliteRetention", "prepare_file", "prepare_new_file"]

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

import aiosqlite

from ...errors import StoreError
from ..retention import PruneBatch, PruneCursor, PruneTarget, StoreStats, TableStats
from ._sql import fmt, instant

T = TypeVar("T")
log = logging.getLogger("symbi.store")

#: an existing file up to this size is switched to incremental vacuum when it is opened (a VACUUM
#: of 32 MiB takes well under a second); a larger one is left for ``symbi store vacuum``
SMALL_FILE_BYTES = 32 * 1024 * 1024
_INCREMENTAL = 2
_VACUUM_MODES = {0: "none", 1: "full", 2: "incremental"}
_OPEN = ("queued", "running", "awaiting_approval")
#: the tables ``symbi store stats`` counts
_COUNTED = (
    "jobs",
    "runs",
    "heartbeat_iterations",
    "approvals",
    "agent_contexts",
    "context_archive",
    "audit_events",
)
_NO_BOUND = 1 << 62


# --- opening a file -------------------------------------------------------------------------------


def prepare_new_file(conn: sqlite3.Connection) -> None:
    """A file with no pages yet is created in incremental-vacuum mode (this must come before
    anything is written to it, the WAL header included)."""
    if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
        conn.execute(f"PRAGMA auto_vacuum = {_INCREMENTAL}")


def prepare_file(conn: sqlite3.Connection, path: str) -> None:
    """An existing file that does not give space back is switched to incremental vacuum here if it
    is small (a ``VACUUM``, which rewrites it); a large one is left as it is (pruning frees its
    pages for reuse, and ``symbi store vacuum`` converts it). Never fails the open."""
    if path == ":memory:" or conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 0:
        return  # (a file in full auto-vacuum mode gives space back at every commit)
    size = _file_bytes(conn)
    if size > SMALL_FILE_BYTES:
        return
    try:
        conn.execute(f"PRAGMA auto_vacuum = {_INCREMENTAL}")
        conn.execute("VACUUM")
    except sqlite3.OperationalError as exc:  # busy, or no room for the copy: next time
        log.info("store %s: not switched to incremental vacuum yet (%s)", path, exc)
        return
    log.info("store %s switched to incremental vacuum (%d KiB)", path, size // 1024)


def vacuum_file(conn: sqlite3.Connection) -> tuple[int, int]:
    """Rewrite the whole file in incremental-vacuum mode (``symbi store vacuum``); the file's
    size before and after, in bytes."""
    before = _file_bytes(conn)
    conn.execute(f"PRAGMA auto_vacuum = {_INCREMENTAL}")
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return before, _file_bytes(conn)


def _file_bytes(conn: sqlite3.Connection) -> int:
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    return int(pages) * int(conn.execute("PRAGMA page_size").fetchone()[0])


# --- pruning --------------------------------------------------------------------------------------


def prune_batch(
    conn: sqlite3.Connection,
    target: PruneTarget,
    after: PruneCursor | None,
    limit: int,
    delete: bool,
) -> PruneBatch:
    """One batch of ``target``: look at up to ``limit`` rows past ``after``, remove those that go
    (only count them unless ``delete``). Runs inside the caller's transaction, if any."""
    cursor = after or PruneCursor(position=_START[target.table])
    walk = _WALKS[target.table]
    rows = conn.execute(walk.sql, (fmt(target.before), *cursor.position, limit)).fetchall()
    if not rows:
        return PruneBatch(examined=0, removed=0, cursor=None)
    keys = [walk.key(r) for r in rows if walk.goes(conn, r, target, cursor)]
    cascaded = 0
    if keys and target.table == "runs":
        cascaded = _iterations_of(conn, keys, target)
    if keys and delete:
        walk.delete(conn, keys)
    cursor.position = walk.position(rows[-1])
    more = cursor if len(rows) == limit else None
    return PruneBatch(examined=len(rows), removed=len(keys), cascaded=cascaded, cursor=more)


def prune_in_transaction(
    conn: sqlite3.Connection, target: PruneTarget, after: PruneCursor | None, limit: int
) -> PruneBatch:
    """:func:`prune_batch` in a write transaction of its own, timed from BEGIN to COMMIT."""
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    try:
        batch = prune_batch(conn, target, after, limit, True)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    held = (time.perf_counter() - started) * 1000
    return PruneBatch(
        examined=batch.examined,
        removed=batch.removed,
        cascaded=batch.cascaded,
        cursor=batch.cursor,
        held_ms=held,
    )


def _bound(conn: sqlite3.Connection, job_id: str, target: PruneTarget, cursor: PruneCursor) -> int:
    """The seq below which the job's runs are not among its newest ``keep_per_job``."""
    bound = cursor.bounds.get(job_id)
    if bound is None:
        if target.keep_per_job <= 0:
            bound = _NO_BOUND
        else:
            row = conn.execute(
                "SELECT seq FROM runs INDEXED BY runs_job WHERE job_id = ? "
                "ORDER BY seq DESC LIMIT 1 OFFSET ?",
                (job_id, target.keep_per_job - 1),
            ).fetchone()
            bound = int(row[0]) if row else 0  # fewer runs than that: all of them are kept
        cursor.bounds[job_id] = bound
    return bound


def _run_goes(
    conn: sqlite3.Connection,
    target: PruneTarget,
    cursor: PruneCursor,
    seq: int | None,
    job_id: str | None,
    run_status: str | None,
    job_status: str | None,
) -> bool:
    """Whether a run (or the run of an iteration) may go: it has ended, its job is not
    dead-lettered (when those are kept), and it is not among its job's newest runs."""
    if seq is None or job_id is None:
        return True  # an iteration whose run is gone
    if run_status in _OPEN:
        return False
    if target.keep_dead_letter and job_status == "dead_letter":
        return False
    return seq < _bound(conn, job_id, target, cursor)


def _iterations_of(conn: sqlite3.Connection, seqs: Sequence[Any], target: PruneTarget) -> int:
    """How many iterations go with these runs (those older than ``iterations_before`` were
    counted already, by the pass over the iterations)."""
    marks = ",".join("?" * len(seqs))
    floor = fmt(target.iterations_before) if target.iterations_before else ""
    row = conn.execute(
        "SELECT count(*) FROM heartbeat_iterations h JOIN runs r ON r.id = h.run_id "
        f"WHERE r.seq IN ({marks}) AND h.started_at >= ?",
        (*seqs, floor),
    ).fetchone()
    return int(row[0])


class _Walk:
    """How a batch walks one table: its query (rows past the cursor, oldest first), the key a
    row is deleted by, whether a row goes, and the delete."""

    def __init__(
        self,
        sql: str,
        key: Callable[[Any], Any],
        position: Callable[[Any], tuple[Any, ...]],
        delete: Callable[[sqlite3.Connection, list[Any]], None],
        goes: Callable[[sqlite3.Connection, Any, PruneTarget, PruneCursor], bool] | None = None,
    ) -> None:
        self.sql = sql
        self.key = key
        self.position = position
        self.delete = delete
        self.goes = goes or (lambda conn, row, target, cursor: True)


def _delete_by_seq(table: str) -> Callable[[sqlite3.Connection, list[Any]], None]:
    def delete(conn: sqlite3.Connection, seqs: list[Any]) -> None:
        conn.execute(f"DELETE FROM {table} WHERE seq IN ({','.join('?' * len(seqs))})", seqs)

    return delete


def _delete_iterations(conn: sqlite3.Connection, keys: list[Any]) -> None:
    conn.executemany("DELETE FROM heartbeat_iterations WHERE run_id = ? AND idx = ?", keys)


_WALKS: dict[str, _Walk] = {
    "runs": _Walk(
        "SELECT r.seq, r.finished_at, r.job_id, r.status, j.status "
        "FROM runs r INDEXED BY runs_finished LEFT JOIN jobs j ON j.id = r.job_id "
        "WHERE r.finished_at < ? AND (r.finished_at, r.seq) > (?, ?) "
        "ORDER BY r.finished_at, r.seq LIMIT ?",
        key=lambda r: r[0],
        position=lambda r: (r[1], r[0]),
        delete=_delete_by_seq("runs"),
        goes=lambda conn, r, t, c: _run_goes(conn, t, c, r[0], r[2], r[3], r[4]),
    ),
    "heartbeat_iterations": _Walk(
        "SELECT h.run_id, h.idx, h.started_at, r.seq, r.job_id, r.status, j.status "
        "FROM heartbeat_iterations h INDEXED BY iterations_started "
        "LEFT JOIN runs r ON r.id = h.run_id LEFT JOIN jobs j ON j.id = r.job_id "
        "WHERE h.started_at < ? AND (h.started_at, h.run_id, h.idx) > (?, ?, ?) "
        "ORDER BY h.started_at, h.run_id, h.idx LIMIT ?",
        key=lambda r: (r[0], r[1]),
        position=lambda r: (r[2], r[0], r[1]),
        delete=_delete_iterations,
        goes=lambda conn, r, t, c: _run_goes(conn, t, c, r[3], r[4], r[5], r[6]),
    ),
    "audit_events": _Walk(
        "SELECT seq, at FROM audit_events INDEXED BY audit_at "
        "WHERE at < ? AND (at, seq) > (?, ?) ORDER BY at, seq LIMIT ?",
        key=lambda r: r[0],
        position=lambda r: (r[1], r[0]),
        delete=_delete_by_seq("audit_events"),
    ),
    "context_archive": _Walk(
        "SELECT seq, archived_at FROM context_archive INDEXED BY context_archive_at "
        "WHERE archived_at < ? AND (archived_at, seq) > (?, ?) ORDER BY archived_at, seq LIMIT ?",
        key=lambda r: r[0],
        position=lambda r: (r[1], r[0]),
        delete=_delete_by_seq("context_archive"),
    ),
    "llm_cost_days": _Walk(
        "SELECT seq, ends_at FROM llm_cost_days INDEXED BY llm_cost_days_ends "
        "WHERE ends_at < ? AND (ends_at, seq) > (?, ?) ORDER BY ends_at, seq LIMIT ?",
        key=lambda r: r[0],
        position=lambda r: (r[1], r[0]),
        delete=_delete_by_seq("llm_cost_days"),
    ),
    "llm_cost_day_ends": _Walk(
        "SELECT seq, ends_at FROM llm_cost_day_ends "
        "WHERE ends_at < ? AND (ends_at, seq) > (?, ?) ORDER BY ends_at, seq LIMIT ?",
        key=lambda r: r[0],
        position=lambda r: (r[1], r[0]),
        delete=_delete_by_seq("llm_cost_day_ends"),
    ),
}
_START: dict[str, tuple[Any, ...]] = {
    "runs": ("", 0),
    "heartbeat_iterations": ("", "", -1),
    "audit_events": ("", 0),
    "context_archive": ("", 0),
    "llm_cost_days": ("", 0),
    "llm_cost_day_ends": ("", 0),
}


def reclaim(conn: sqlite3.Connection, pages: int) -> tuple[int, float]:
    """Give up to ``pages`` free pages back to the file system (an incremental-vacuum file only):
    the pages given back, and how long the write lock was held (ms)."""
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != _INCREMENTAL:
        return 0, 0.0
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    if not free:
        return 0, 0.0
    started = time.perf_counter()
    try:
        # executescript steps the pragma to its end (execute would free one page per call)
        conn.executescript(f"BEGIN IMMEDIATE; PRAGMA incremental_vacuum({int(pages)}); COMMIT;")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    held = (time.perf_counter() - started) * 1000
    return free - int(conn.execute("PRAGMA freelist_count").fetchone()[0]), held


# --- stats ----------------------------------------------------------------------------------------


def stats(conn: sqlite3.Connection, url: str, path: str, exact: bool) -> StoreStats:
    """Rows and bytes per table, the file's size, free pages and vacuum mode, the oldest run
    (without ``exact``, only the file's figures)."""
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    tables: dict[str, TableStats] = {}
    oldest_run = oldest_audit = None
    if exact:
        sizes = _table_bytes(conn)
        for name in _COUNTED:
            rows = int(conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0])
            tables[name] = TableStats(rows=rows, bytes=sizes.get(name) if sizes else None)
        oldest_run = conn.execute(
            "SELECT min(finished_at) FROM runs INDEXED BY runs_finished "
            "WHERE finished_at IS NOT NULL"
        ).fetchone()[0]
        oldest_audit = conn.execute("SELECT min(at) FROM audit_events").fetchone()[0]
    wal = 0
    if path != ":memory:":
        with contextlib.suppress(OSError):
            wal = os.path.getsize(path + "-wal")
    mode = int(conn.execute("PRAGMA auto_vacuum").fetchone()[0])
    return StoreStats(
        url=url,
        backend="sqlite",
        tables=tables,
        total_bytes=_file_bytes(conn) + wal,
        free_bytes=int(conn.execute("PRAGMA freelist_count").fetchone()[0]) * page_size,
        wal_bytes=wal,
        auto_vacuum=_VACUUM_MODES.get(mode, str(mode)),
        oldest_run_at=instant(oldest_run),
        oldest_audit_at=instant(oldest_audit),
    )


def _table_bytes(conn: sqlite3.Connection) -> dict[str, int] | None:
    """Bytes per table with its indexes, from the ``dbstat`` table (None if this SQLite was built
    without it)."""
    try:
        rows = conn.execute(
            "SELECT coalesce(s.tbl_name, d.name), sum(d.pgsize) FROM dbstat d "
            "LEFT JOIN sqlite_schema s ON s.name = d.name WHERE d.aggregate = 1 "
            "GROUP BY coalesce(s.tbl_name, d.name)"
        ).fetchall()
    except sqlite3.OperationalError:
        return None
    return {r[0]: int(r[1]) for r in rows}


# --- the store's half -----------------------------------------------------------------------------


class SqliteRetention:
    """Pruning, reclaiming and stats for ``SqliteJobStore`` (which provides the connections)."""

    url: str
    path: str
    _writer: aiosqlite.Connection | None
    _reader: aiosqlite.Connection | None
    #: runs PASSIVE checkpoints after a pruning batch, on a thread of its own, so that the
    #: write-ahead log pruning fills is copied back by neither the writer's commits (an automatic
    #: checkpoint would hold up the next claim) nor left to grow
    _checkpointer: aiosqlite.Connection | None = None

    async def _call(self, conn: aiosqlite.Connection | None, fn: Callable[..., T], *args: Any) -> T:
        raise NotImplementedError  # the store's (which names the store's faults)

    async def prune_batch(
        self,
        target: PruneTarget,
        *,
        after: PruneCursor | None = None,
        limit: int = 500,
        dry_run: bool = False,
    ) -> PruneBatch:
        if dry_run:
            return await self._call(self._reader, prune_batch, target, after, limit, False)
        batch = await self._call(self._writer, prune_in_transaction, target, after, limit)
        if batch.removed:
            await self._checkpoint()
        return batch

    async def reclaim_space(self, max_pages: int) -> tuple[int, float]:
        pages, held = await self._call(self._writer, reclaim, max_pages)
        if pages:
            await self._checkpoint()
        return pages, held

    @contextlib.asynccontextmanager
    async def maintenance(self) -> AsyncIterator[bool]:
        """One scheduler fires from a SQLite store; whoever prunes beside it waits its turn for
        the write lock, batch by batch."""
        yield True

    async def store_stats(self, *, exact: bool = True) -> StoreStats:
        return await self._call(self._reader, stats, self.url, self.path, exact)

    async def vacuum(self) -> tuple[int, int]:
        """Rewrite the file in incremental-vacuum mode (``symbi store vacuum``)."""
        if self.path == ":memory:":
            raise StoreError("an in-memory store has no file to vacuum")
        return await self._call(self._writer, vacuum_file)

    async def _checkpoint(self) -> None:
        if self.path == ":memory:":
            return
        if self._checkpointer is None:
            self._checkpointer = await aiosqlite.connect(self.path, isolation_level=None)
        await self._call(
            self._checkpointer, lambda c: c.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        )

    async def _close_checkpointer(self) -> None:
        conn, self._checkpointer = self._checkpointer, None
        if conn is not None:
            await conn.close()
