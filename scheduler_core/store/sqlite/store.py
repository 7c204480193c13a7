"""SqliteJobStore: the embedded default store, on aiosqlite.

Two connections: a writer, on which every state change is one ``BEGIN IMMEDIATE`` transaction run
whole on aiosqlite's worker thread (one thread hop per transaction, however many statements), and a
reader for queries, which WAL lets run beside the writer. Instants are stored as fixed-width UTC
text, so they sort and compare as strings and stay readable in the ``sqlite3`` shell.

Beside this module: the SQL and the writes transactions share (``_sql.py``), the scheduler's
transactions (``_transitions.py``), the lease and node rows (``_lease.py``), the jobs list
(``_job_list.py``), change notification (``_wake.py``) and the schema (``schema.py``); what both
stores do alike is in ``store/`` (``_common.py``, ``_rows.py``, ``_queries.py``, ...).
"""

from __future__ import annotations

import asyncio

__all__ = ["SqliteJobStore"]

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from ...clock import parse_instant
from ...collector import collector_paused
from ...errors import ConflictError, StoreError
from ...model import (
    AuditEvent,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
)
from ...private import create_private_file
from .._common import StoreBase, definition_values, name_conflict
from .._leases import LEASE_NAME
from .._queries import job_ref
from .._rows import (
    JOB_COLUMNS,
    LEASE_COLUMNS,
    NODE_COLUMNS,
    R_RUN_COLUMNS,
    RUN_COLUMNS,
    orphan_from_row,
    status_counts,
)
from ..base import (
    ApprovalDecision,
    BackfillPlanner,
    ChainPlanner,
    ClaimPlan,
    ClaimPlanner,
    FinishItem,
    FinishPlan,
    FinishPlanner,
    JobPage,
    JobQuery,
    LeaseInfo,
    NodeInfo,
    Orphan,
    QueuedStart,
    StartPlan,
    StartPlanner,
    StoredDefinition,
)
from ..text_index import JobTextIndex
from . import _faults, _inline, _lease, _transitions
from ._job_list import JobListing
from ._retention import SqliteRetention, prepare_file, prepare_new_file
from ._sessions import SqliteSessions
from ._sql import (
    DIALECT,
    INSERT_JOB,
    INSERT_RUN,
    LOG_NEW_JOB,
    UPDATE_JOB_DEFINITION,
    UPDATE_RUN,
    UPSERT_DEFINITION,
    fmt,
    instant,
    job_definition_values,
    job_of,
    job_values,
    lease_of,
    node_of,
    run_of,
    run_update_values,
    run_values,
    stored,
    stored_ids,
    stored_names,
    write_audit,
    write_decision,
)
from ._wake import WakeSocket
from .schema import migrate

T = TypeVar("T")


#: jobs written in one transaction from which its page cache grows (see _bulk_cache)
_BULK_JOBS = 2_000
#: the most that cache grows to, in KiB (a negative cache_size counts KiB)
_BULK_CACHE_KIB = 256 * 1024


@contextlib.contextmanager
def _bulk_cache(conn: sqlite3.Connection, jobs: int) -> Iterator[None]:
    """While a transaction writes ``jobs`` jobs (a bulk load: each touches the table and nine
    indexes, with its audit row and its text-log row), a page cache of 1 KiB a job, at most
    256 MiB, then the connection's own again, which gives the pages back. With the default 2 MB
    the dirty pages of a batch of 100,000 spill and index pages are read again: the insert cost
    30 us a job in CPU at 300,000 jobs, 23 us with the cache. And the cycle collector held off
    while its rows are made and written (see collector_paused: from this thread it holds off the
    whole process's, for that long; the next collection takes what it would have)."""
    if jobs < _BULK_JOBS:
        yield
        return
    before = int(conn.execute("PRAGMA cache_size").fetchone()[0])
    conn.execute(f"PRAGMA cache_size = {-min(jobs, _BULK_CACHE_KIB)}")
    try:
        with collector_paused(promote=False):
            yield
    finally:
        conn.execute(f"PRAGMA cache_size = {before}")


def _prepare_writer(conn: sqlite3.Connection, path: str, preflight: bool, pages: str) -> None:
    """The writer's settings, the file checked, prepared and migrated (``open``).
    ``preflight``: first, before anything is written (WAL mode is, in the file's header).
    ``pages``: ``$SYMBI_SQLITE_MAX_PAGE_COUNT``, a fault drill (see _faults.MAX_PAGES_ENV)."""
    conn.execute(f"PRAGMA busy_timeout = {_inline.BUSY_TIMEOUT_MS}")
    if preflight:
        _faults.preflight(conn, path)
    prepare_new_file(conn)  # before its first page is written
    conn.execute("PRAGMA journal_mode = WAL")
    # the log is truncated back to this after a checkpoint (pruning can swell it)
    conn.execute("PRAGMA journal_size_limit = 16777216")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA temp_store = MEMORY")
    if pages.isdigit():
        conn.execute(f"PRAGMA max_page_count = {int(pages)}").fetchall()
    migrate(conn)
    prepare_file(conn, path)


def _prepare_reader(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA query_only = ON")


class SqliteJobStore(SqliteSessions, StoreBase, SqliteRetention):
    """The embedded store. ``url`` is a file path, ``sqlite:///path`` or ``:memory:``.

    One class for the whole ``JobStore`` protocol, one method per transaction (the look-ups both
    stores share come from ``StoreBase``), so it runs over 300 lines: each method is the SQL of
    its transaction, and the longer ones live beside it (``_transitions``, ``_lease``,
    ``_job_list``); pruning, reclaiming space and the stats are ``SqliteRetention``'s
    (``_retention``).
    """

    shared = False  #: one scheduler at a time (the lease holder); the others wait as standby
    _dialect = DIALECT

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._probe: sqlite3.Connection | None = None
        self._probe_seen = -1  #: the probe's data_version when the writer's was last read
        self._outside_seen: int | None = None  #: the writer's data_version, last read
        self._watcher: Callable[[], None] | None = None  #: told of outside writes (watch)
        self._writer_use = _inline.WriterUse()  #: whether the writer's thread has work
        self._wake = WakeSocket(path)
        #: names and agents, for the jobs filter (read apart from a file's own connection)
        self._text_index = JobTextIndex(None if path == ":memory:" else path)
        self._listing = JobListing(self._text_index)

    # --- lifecycle --------------------------------------------------------------------------------

    async def open(self, *, preflight: bool = False) -> None:
        """Connect and migrate. ``preflight``: first raise :class:`StoreUnavailable` if the file
        is corrupt (``quick_check``), read-only, or locked by another process for longer than the
        busy timeout (10 s); nothing is written to a file that fails it."""
        if self.path != ":memory:" and not self.path.startswith("file:"):
            db = Path(self.path).expanduser()  # noqa: ASYNC240
            db.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # a new store is its owner's alone; SQLite gives its -wal and -shm the same mode
            create_private_file(db)
        try:
            # its connection is used on the event loop too, while its thread is idle (_inline)
            self._writer = await aiosqlite.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
            pages = os.environ.get(_faults.MAX_PAGES_ENV, "").strip()
            # one trip to the writer's thread: a start waits for each
            await self._call(self._writer, _prepare_writer, self.path, preflight, pages)
            if self.path == ":memory:":
                self._reader = self._writer
            else:
                self._reader = await aiosqlite.connect(self.path, isolation_level=None)
                await self._call(self._reader, _prepare_reader)
                # data_version is read on the event loop itself, without a thread hop: it only
                # looks at the WAL index in shared memory, so an idle tick costs microseconds
                self._probe = sqlite3.connect(self.path, check_same_thread=False)
                self._probe.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            await self.close()
            fault = _faults.store_fault(exc, self.path)
            if fault is not None:
                raise self._fault(fault) from exc
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from exc
        except BaseException:
            await self.close()  # never leave a worker thread behind: it keeps the process alive
            raise

    async def close(self) -> None:
        self._text_index.stop()
        self._wake.close()
        await self._close_checkpointer()
        if self._probe is not None:
            self._probe.close()
            self._probe = None
        for conn in {id(c): c for c in (self._reader, self._writer) if c}.values():
            await conn.close()
        self._writer = self._reader = None

    async def _call(self, conn: aiosqlite.Connection | None, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(sqlite3_connection, *args)`` on the connection's worker thread; a fault of
        the file or its disk comes out as :class:`StoreUnavailable`.

        aiosqlite's ``_execute`` is the documented-by-source way to run a callable on its thread;
        using it keeps a whole transaction to one thread hop.
        """
        if conn is None:
            raise StoreError("the store is not open")
        if conn is self._writer:
            fn = self._writer_use.wrap(fn)
        try:
            result: T = await conn._execute(fn, conn._conn, *args)  # type: ignore[no-untyped-call]
        except sqlite3.Error as exc:
            fault = _faults.store_fault(exc, self.path)
            if fault is None:
                raise
            raise self._fault(fault) from exc
        return result

    async def _tx(self, fn: Callable[..., T], *args: Any) -> T:
        done: tuple[T, bool, int] = await self._call(self._writer, _inline.run_tx, fn, *args)
        return self._after_tx(*done)

    async def _small_tx(self, fn: Callable[..., T], *args: Any) -> T:
        """A transaction of a few rows (a lease renewal): on the event loop if the writer's
        thread is idle and the write lock free, else as :meth:`_tx` (see ``_inline``)."""
        writer = self._writer
        if writer is not None and self._writer_use.idle:
            try:
                done = _inline.try_inline(writer._conn, fn, *args)
            except sqlite3.Error as exc:
                fault = _faults.store_fault(exc, self.path)
                if fault is None:
                    raise
                raise self._fault(fault) from exc
            if done is not None:
                return self._after_tx(*done)
        return await self._tx(fn, *args)

    def _after_tx(self, result: T, changed: bool, outside: int) -> T:
        if changed:  # (a standby's lease check that wrote nothing has nothing to show)
            self._wake.poke()
        self._saw_version(outside)
        return result

    def _saw_version(self, version: int) -> None:
        """The writer's ``data_version`` as a transaction read it: if another process committed
        since the last reading, whoever watches the store is told (as by a poke), so a writer
        that does not poke (a ``sqlite3`` shell) is seen within a lease renewal."""
        if self._outside_seen is not None and version <= self._outside_seen:
            return  # (it only grows: an older reading that resolved late says nothing)
        known = self._outside_seen is not None
        self._outside_seen = version
        if known and self._watcher is not None:
            self._watcher()

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._call(self._reader, fn, *args)

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._read(lambda c: c.execute(sql, params).fetchall())

    async def _fetch_together(self, *queries: tuple[str, Sequence[Any]]) -> list[list[Any]]:
        return await self._read(lambda c: [c.execute(q, p).fetchall() for q, p in queries])

    # --- change notification (``_wake.py``) -------------------------------------------------------

    @property
    def wake_address(self) -> str | None:
        return self._wake.address

    def watch(self, callback: Callable[[], None]) -> bool:
        """Call ``callback`` on the event loop whenever another process commits and pokes, or
        a transaction of this store finds that another process committed."""
        watching = self._wake.watch(callback)
        self._watcher = callback if watching else None
        return watching

    def unwatch(self) -> None:
        self._watcher = None
        self._wake.unwatch()

    # --- jobs -------------------------------------------------------------------------------------

    async def insert_jobs(self, jobs: Sequence[JobDefinition], audit: Sequence[AuditEvent]) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            with _bulk_cache(conn, len(jobs)):
                try:
                    conn.executemany(INSERT_JOB, [job_values(j) for j in jobs])
                except sqlite3.IntegrityError as exc:
                    names = [j.name for j in jobs]
                    raise name_conflict(stored_names(conn, names), names, exc) from None
                conn.executemany(LOG_NEW_JOB, [(j.id,) for j in jobs])
                write_audit(conn, audit)

        await self._tx(tx)

    async def upsert_jobs(
        self,
        jobs: Sequence[JobDefinition],
        audit: Sequence[AuditEvent],
        definitions: Sequence[StoredDefinition] = (),
    ) -> None:
        """Insert new jobs and rewrite existing ones (matched by id) keeping their run state;
        register ``definitions`` (by kind and name)."""

        def tx(conn: sqlite3.Connection) -> None:
            with _bulk_cache(conn, len(jobs)):
                conn.executemany(UPSERT_DEFINITION, [definition_values(d) for d in definitions])
                # the jobs already stored are rewritten one by one; the new ones (a bulk load's
                # all) are inserted in one statement each, as insert_jobs does
                stored = stored_ids(conn, [job.id for job in jobs])
                new = [job for job in jobs if job.id not in stored]
                for job in jobs:
                    if job.id in stored:
                        conn.execute(UPDATE_JOB_DEFINITION, job_definition_values(job))
                conn.executemany(INSERT_JOB, [job_values(job) for job in new])
                conn.executemany(LOG_NEW_JOB, [(job.id,) for job in new])
                write_audit(conn, audit)

        await self._tx(tx)

    async def update_job(self, job: JobDefinition, audit: Sequence[AuditEvent]) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            try:
                cur = conn.execute(UPDATE_JOB_DEFINITION, job_definition_values(job))
            except sqlite3.IntegrityError:
                raise ConflictError(f"a job named {job.name!r} already exists") from None
            if cur.rowcount == 0:
                raise ConflictError(f"job {job.id} was removed meanwhile")
            write_audit(conn, audit)

        await self._tx(tx)

    async def delete_job(self, job_id: str, audit: Sequence[AuditEvent]) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            if cur.rowcount:
                write_audit(conn, audit)
            return bool(cur.rowcount)

        return await self._tx(tx)

    async def find_jobs(self, ref: str, limit: int = 5) -> list[JobDefinition]:
        """Jobs whose id is ``ref``, starts with it, or whose name is ``ref``."""
        rows = await self._fetchall(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1 OR name = ?1 "
            f"UNION SELECT {JOB_COLUMNS} FROM jobs WHERE id >= ?1 AND id < ?1 || 'g' "
            "LIMIT ?2",
            (job_ref(ref), limit),
        )
        return [job_of(r) for r in rows]

    async def prepare_text_search(self) -> None:
        """Read every job's name and agent into the filter's index now, rather than on the
        first key typed into the console's filter: on a thread and a connection of its own
        (2-5 s at 1,000,000 jobs), so the reading connection stays free for the console's keys
        meanwhile (a filter typed then is answered by SQLite)."""
        thread = self._text_index.start()
        if thread is not None:
            await asyncio.to_thread(thread.join)
        await self._read(self._text_index.refresh)  # take it in

    async def list_jobs(self, query: JobQuery) -> JobPage:
        return await self._read(self._listing.page, query)

    async def count_jobs(self) -> dict[JobStatus, int]:
        return status_counts(await self._read(self._listing.status_rows))

    async def next_wakeup(self, now: datetime, ahead: float = 0.0) -> datetime | None:
        """The earliest instant something becomes due: a job's next run, a queued run's due time.

        Queued runs already due at ``now`` are left out: they wait for a free slot, and a slot
        freeing up wakes the scheduler by itself. Jobs count ``ahead`` seconds early (they are
        claimed that much before their instant).
        """

        def read(conn: sqlite3.Connection) -> str | None:
            job = conn.execute(
                "SELECT min(next_run_at) FROM jobs INDEXED BY jobs_due WHERE status = 'active'"
            ).fetchone()[0]
            run = conn.execute(
                "SELECT min(due_at) FROM runs INDEXED BY runs_status "
                "WHERE status = 'queued' AND due_at > ?",
                (fmt(now),),
            ).fetchone()[0]
            approval = conn.execute(
                "SELECT min(expires_at) FROM approvals WHERE decision IS NULL"
            ).fetchone()[0]
            if job and ahead:
                job = fmt(parse_instant(job) - timedelta(seconds=ahead))
            candidates = [v for v in (job, run, approval) if v]
            return min(candidates) if candidates else None

        value = await self._call(self._writer, read)
        return instant(value)

    # --- the scheduler's transactions (``_transitions.py``) ---------------------------------------

    async def claim_due(
        self,
        now: datetime,
        limit: int,
        owner: str,
        planner: ClaimPlanner,
        *,
        until: datetime | None = None,
    ) -> list[ClaimPlan] | None:
        """Advance jobs due by ``until`` (default ``now``) and record their runs, in one
        transaction; None if this owner does not hold the lease."""
        stamp = fmt(now)
        horizon = fmt(until) if until is not None else stamp
        return await self._tx(_transitions.claim_due, stamp, horizon, limit, owner, planner)

    async def start_queued(
        self, now: datetime, limit: int, owner: str, planner: StartPlanner
    ) -> list[StartPlan] | None:
        return await self._tx(_transitions.start_queued, fmt(now), limit, owner, planner)

    async def finish_runs(
        self,
        items: Sequence[FinishItem],
        planner: FinishPlanner,
        chain: ChainPlanner | None = None,
        *,
        start: QueuedStart | None = None,
    ) -> list[FinishPlan | None]:
        return await self._tx(_transitions.finish_runs, items, planner, chain, start)

    # --- runs -------------------------------------------------------------------------------------

    async def insert_run(self, run: JobRun, audit: Sequence[AuditEvent]) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute(INSERT_RUN, run_values(run))
            write_audit(conn, audit)

        await self._tx(tx)

    async def backfill_runs(
        self, job_id: str, start: datetime, end: datetime, planner: BackfillPlanner
    ) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            rows = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
            job = next((job_of(r) for r in rows), None)
            existing = conn.execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE job_id = ? AND scheduled_for >= ? "
                "AND scheduled_for <= ? AND trigger != 'manual' ORDER BY scheduled_for, attempt",
                (job_id, fmt(start), fmt(end)),
            ).fetchall()
            runs, audit = planner(job, [run_of(r) for r in existing])
            conn.executemany(INSERT_RUN, [run_values(r) for r in runs])
            write_audit(conn, audit)

        await self._tx(tx)

    async def update_run(
        self,
        run: JobRun,
        *,
        expected: RunStatus | None = None,
        audit: Sequence[AuditEvent] = (),
    ) -> bool:
        """Rewrite a run; with ``expected``, only if it is still in that status."""

        def tx(conn: sqlite3.Connection) -> bool:
            sql = UPDATE_RUN + (" AND status = ?" if expected else "")
            params = run_update_values(run) + ((expected.value,) if expected else ())
            if conn.execute(sql, params).rowcount == 0:
                return False
            write_audit(conn, audit)
            return True

        return await self._tx(tx)

    async def last_runs(
        self, job_ids: Sequence[str], statuses: Sequence[RunStatus]
    ) -> dict[str, JobRun]:
        """The newest run in one of ``statuses`` of each job, in one round trip."""
        if not job_ids or not statuses:
            return {}
        wanted = [s.value for s in statuses]

        def read(conn: sqlite3.Connection) -> dict[str, JobRun]:
            out: dict[str, JobRun] = {}
            status_marks = ",".join("?" * len(wanted))
            for start in range(0, len(job_ids), 400):
                chunk = list(job_ids[start : start + 400])
                # per job, the newest matching seq through the (job_id, status, seq) index
                rows = conn.execute(
                    f"SELECT {RUN_COLUMNS} FROM runs WHERE seq IN ("
                    f" SELECT (SELECT max(seq) FROM runs r WHERE r.job_id = j.value"
                    f"  AND r.status IN ({status_marks}))"
                    f" FROM json_each(?) j)",
                    [*wanted, json.dumps(chunk)],
                ).fetchall()
                for row in rows:
                    run = run_of(row)
                    out[run.job_id] = run
            return out

        return await self._read(read)

    # --- approvals --------------------------------------------------------------------------------

    async def park_run(
        self,
        run: JobRun,
        *,
        expires_at: datetime | None,
        approvers: Sequence[str],
        audit: Sequence[AuditEvent] = (),
    ) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(UPDATE_RUN + " AND status = 'running'", run_update_values(run))
            if cur.rowcount == 0:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO approvals (run_id, job_id, requested_at, expires_at, "
                "approvers) VALUES (?,?,?,?,?)",
                (
                    run.id,
                    run.job_id,
                    fmt(run.started_at or run.scheduled_for),
                    stored(expires_at),
                    json.dumps(list(approvers)),
                ),
            )
            write_audit(conn, audit)
            return True

        return await self._tx(tx)

    async def approve_run(
        self, run: JobRun, decision: ApprovalDecision, audit: Sequence[AuditEvent] = ()
    ) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                UPDATE_RUN + " AND status = 'awaiting_approval'", run_update_values(run)
            )
            if cur.rowcount == 0:
                return False
            write_decision(conn, run.id, decision)
            write_audit(conn, audit)
            return True

        return await self._tx(tx)

    # --- audit ---------------------------------------------------------------

    async def record_audit(self, events: Sequence[AuditEvent]) -> None:
        await self._tx(write_audit, events)

    # --- lease (``_lease.py``) --------------------------------------------------------------------

    async def acquire_lease(
        self, owner: str, *, now: datetime, ttl: float, api_address: str | None = None
    ) -> LeaseInfo:
        """Take or renew the lease if it is free, expired or ours; return whoever holds it."""
        return await self._small_tx(_lease.acquire_lease, owner, now, ttl, api_address)

    async def release_lease(self, owner: str) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM lease WHERE name = ? AND owner = ?", (LEASE_NAME, owner))
            conn.execute("DELETE FROM nodes WHERE owner = ?", (owner,))

        await self._tx(tx)

    async def get_lease(self) -> LeaseInfo | None:
        rows = await self._fetchall(
            f"SELECT {LEASE_COLUMNS} FROM lease WHERE name = ?", (LEASE_NAME,)
        )
        return lease_of(rows[0]) if rows else None

    # --- nodes (``_lease.py``) --------------------------------------------------------------------

    async def register_node(
        self,
        owner: str,
        *,
        now: datetime,
        ttl: float,
        api_address: str | None = None,
        role: str = "active",
    ) -> NodeInfo:
        return await self._tx(_lease.write_node, owner, role, now, ttl, api_address)

    async def unregister_node(self, owner: str) -> None:
        await self._tx(lambda conn: conn.execute("DELETE FROM nodes WHERE owner = ?", (owner,)))

    async def list_nodes(self, now: datetime) -> list[NodeInfo]:
        rows = await self._fetchall(
            f"SELECT {NODE_COLUMNS}, (SELECT count(*) FROM runs INDEXED BY runs_status "
            "WHERE runs.status = 'running' AND runs.owner = nodes.owner) FROM nodes "
            "WHERE expires_at > ? ORDER BY started_at, owner",
            (fmt(now),),
        )
        return [node_of(r) for r in rows]

    async def orphaned_runs(self, now: datetime, owner: str, limit: int = 500) -> list[Orphan]:
        """Runs recorded running by another process than ``owner``, the lease holder (one
        scheduler at a time fires from a SQLite store: whatever it did not start is orphaned)."""
        rows = await self._fetchall(
            f"SELECT {R_RUN_COLUMNS}, "
            "n.heartbeat FROM runs r INDEXED BY runs_status LEFT JOIN nodes n ON n.owner = r.owner "
            "WHERE r.status = 'running' AND (r.owner IS NULL OR r.owner != ?) "
            "ORDER BY r.seq LIMIT ?",
            (owner, limit),
        )
        return [orphan_from_row(r, instant) for r in rows]

    async def data_version(self) -> int:
        """Changes whenever another connection commits (how the scheduler sees CLI writes); this
        store's own commits leave it as it was.

        The probe (read on the event loop, no thread hop: it only looks at the WAL index in
        shared memory) moves with every commit, this store's own writer's included: the lease
        renewals of an idle scheduler would look like outside writes, and each idle poll would
        read the whole due state again. So when the probe moved, the writer's connection is
        asked (one hop): its ``data_version`` moves only with other connections' commits, and
        is what is returned. An outside commit after the probe was read is seen by the writer's
        read, or moves the probe again for the next call: none is missed."""
        if self._probe is None:
            return await self._writer_version()
        try:
            probe = int(self._probe.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error as exc:
            fault = _faults.store_fault(exc, self.path)
            if fault is None:
                raise
            raise self._fault(fault) from exc
        if probe != self._probe_seen or self._outside_seen is None:
            self._probe_seen = probe
            self._outside_seen = max(await self._writer_version(), self._outside_seen or 0)
        return self._outside_seen

    async def _writer_version(self) -> int:
        """The writer connection's ``data_version``: read here if its thread is idle."""
        writer = self._writer
        if writer is not None and self._writer_use.idle:
            with contextlib.suppress(sqlite3.Error):  # (else through the thread, faults and all)
                return int(writer._conn.execute("PRAGMA data_version").fetchone()[0])
        version: int = await self._call(
            self._writer, lambda c: c.execute("PRAGMA data_version").fetchone()[0]
        )
        return version

    async def integrity_check(self) -> str:
        rows = await self._fetchall("PRAGMA integrity_check")
        return "; ".join(r[0] for r in rows)
