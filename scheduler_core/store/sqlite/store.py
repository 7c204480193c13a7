"""SqliteJobStore: the embedded default store, on aiosqlite.

Two connections: a writer, on which every state change is one ``BEGIN IMMEDIATE`` transaction run
whole on aiosqlite's worker thread (one thread hop per transaction, however many statements), and a
reader for queries, which WAL lets run beside the writer. Instants are stored as fixed-width UTC
text, so they sort and compare as strings and stay readable in the ``sqlite3`` shell.
"""

from __future__ import annotations

__all__ = ["SqliteJobStore"]

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from ...clock import format_instant, parse_instant
from ...errors import ConflictError, StoreError
from ...model import (
    AgentContext,
    AuditEvent,
    HeartbeatIteration,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
)
from .._accounting import JobOutcome, RunTally, recorded_claims
from .._common import Dialect, StoreBase, name_conflict
from .._leases import LEASE_NAME, NODE_MEMORY, held_by_another, tenure, this_process
from .._queries import JOB_ORDERS, Params, job_filters, job_ref, where_clause
from .._rows import (
    J_JOB_COLUMNS,
    JOB_COLUMNS,
    LEASE_COLUMNS,
    NODE_COLUMNS,
    R_RUN_COLUMNS,
    RUN_COLUMNS,
    audit_params,
    context_from_row,
    encode_memory,
    job_definition_params,
    job_from_row,
    job_params,
    lease_from_row,
    node_from_row,
    orphan_from_row,
    run_and_job_from_row,
    run_from_row,
    run_params,
    run_stats_from_rows,
    run_update_params,
    status_counts,
)
from ..base import (
    ApprovalDecision,
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
    RunStats,
    StartPlan,
    StartPlanner,
    cap_context,
)
from ..text_index import JobTextIndex
from .schema import MIGRATIONS, SCHEMA_VERSION

T = TypeVar("T")
_fmt = format_instant


def _ts(value: str | None) -> datetime | None:
    return _parse_stored(value) if value else None


@lru_cache(maxsize=4096)
def _parse_stored(value: str) -> datetime:
    # rows share instants (a batch's due instant, its creation time): parse each text once
    return parse_instant(value)


def _opt(value: datetime | None) -> str | None:
    return _fmt(value) if value else None


#: placeholders ``?``; instants as fixed-width UTC text; any text as it is
_DIALECT = Dialect("?", _ts, _opt)


def _job(row: Sequence[Any]) -> JobDefinition:
    return job_from_row(row, _ts)


def _run(row: Sequence[Any]) -> JobRun:
    return run_from_row(row, _ts)


def _run_params(run: JobRun) -> tuple[Any, ...]:
    return run_params(run, _opt)


def _update_run_params(run: JobRun) -> tuple[Any, ...]:
    return run_update_params(run, _opt)


def _job_params(job: JobDefinition) -> tuple[Any, ...]:
    return job_params(job, _opt)


def _audit_params(e: AuditEvent) -> tuple[Any, ...]:
    return audit_params(e, _opt)


_INSERT_RUN = (
    "INSERT INTO runs (id, job_id, job_name, agent_id, trigger, scheduled_for, due_at, "
    "started_at, finished_at, status, attempt, input, output, error_message, summary, "
    "execution_time_ms, details) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_INSERT_RUN_ONCE = _INSERT_RUN.replace("INSERT INTO", "INSERT OR IGNORE INTO")
#: a run claimed by a scheduler, recorded under its name (``owner``, the last parameter)
_INSERT_OWNED_RUN_ONCE = _INSERT_RUN_ONCE.replace(
    "execution_time_ms, details) VALUES (", "execution_time_ms, details, owner) VALUES (?,"
)
_UPDATE_RUN = (
    "UPDATE runs SET due_at=?, started_at=?, finished_at=?, status=?, output=?, "
    "error_message=?, summary=?, execution_time_ms=?, details=? WHERE id=?"
)


def _save_context(conn: sqlite3.Connection, context: AgentContext) -> None:
    encoded = encode_memory(context)
    conn.execute(
        "INSERT OR REPLACE INTO agent_contexts (job_id, mode, summary, memory, size, updated_at) "
        "VALUES (?,?,?,?,?,?)",
        (
            context.job_id,
            context.mode.value,
            context.previous_summary,
            encoded,
            len(encoded),
            _fmt(context.updated_at or datetime.now(UTC)),
        ),
    )


def _decide(conn: sqlite3.Connection, run_id: str, decision: ApprovalDecision) -> None:
    conn.execute(
        "UPDATE approvals SET decision = ?, decided_by = ?, decided_at = ?, reason = ? "
        "WHERE run_id = ? AND decision IS NULL",
        (
            decision.decision,
            decision.decided_by,
            _fmt(decision.decided_at),
            decision.reason,
            run_id,
        ),
    )


def _statements(script: str) -> list[str]:
    """The SQL statements of ``script``, split where SQLite says one ends (not at each ``;``,
    which a trigger's body holds too)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements


#: a job added, for every process's text index (see schema migration 6)
_LOG_NEW_JOB = "INSERT INTO job_text_log (job_id) VALUES (?)"
_INSERT_JOB = (
    "INSERT INTO jobs (id, name, agent, status, schedule, timezone, definition, next_run_at, "
    "last_run_at, last_run_status, last_error, run_count, failure_count, created_at, "
    "updated_at, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_UPDATE_JOB_DEFINITION = (
    "UPDATE jobs SET name=?, agent=?, status=?, schedule=?, timezone=?, definition=?, "
    "next_run_at=?, failure_count=?, last_error=?, updated_at=?, source=? WHERE id=?"
)


_INSERT_AUDIT = (
    "INSERT INTO audit_events (at, type, actor, job_id, run_id, details) VALUES (?,?,?,?,?,?)"
)


class SqliteJobStore(StoreBase):
    """The embedded store. ``url`` is a file path, ``sqlite:///path`` or ``:memory:``."""

    shared = False  #: one scheduler at a time (the lease holder); the others wait as standby
    _dialect = _DIALECT

    def __init__(self, url: str) -> None:
        self.url = url
        path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._probe: sqlite3.Connection | None = None
        self._wake_listener: socket.socket | None = None
        self._wake_sender: socket.socket | None = None
        #: list_jobs totals, counted again only after a commit (the operator pages and sorts
        #: while the scheduler is idle): (where, params) -> ((data version, changes), total)
        self._job_totals: dict[tuple[object, ...], tuple[tuple[int, int], int]] = {}
        #: count_jobs' answer and the (data version, changes) it was counted at
        self._status_counts: tuple[tuple[int, int], list[Any]] | None = None
        self._text_index = JobTextIndex()  #: names and agents, for the jobs filter

    # --- lifecycle ------------------------------------------------------------------------------

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
        try:
            self._writer = await aiosqlite.connect(self.path, isolation_level=None)
            await self._writer.execute("PRAGMA busy_timeout = 10000")
            await self._writer.execute("PRAGMA journal_mode = WAL")
            await self._writer.execute("PRAGMA synchronous = NORMAL")
            await self._writer.execute("PRAGMA foreign_keys = ON")
            await self._writer.execute("PRAGMA temp_store = MEMORY")
            await self._call(self._writer, self._migrate)
            if self.path == ":memory:":
                self._reader = self._writer
            else:
                self._reader = await aiosqlite.connect(self.path, isolation_level=None)
                await self._reader.execute("PRAGMA busy_timeout = 10000")
                await self._reader.execute("PRAGMA query_only = ON")
                # data_version is read on the event loop itself, without a thread hop: it only
                # looks at the WAL index in shared memory, so an idle tick costs microseconds
                self._probe = sqlite3.connect(self.path, check_same_thread=False)
                self._probe.execute("PRAGMA query_only = ON")
        except sqlite3.DatabaseError as exc:
            await self.close()
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from exc
        except BaseException:
            await self.close()  # never leave a worker thread behind: it keeps the process alive
            raise

    async def close(self) -> None:
        self.unwatch()
        if self._wake_sender is not None:
            self._wake_sender.close()
            self._wake_sender = None
        if self._probe is not None:
            self._probe.close()
            self._probe = None
        for conn in {id(c): c for c in (self._reader, self._writer) if c}.values():
            await conn.close()
        self._writer = self._reader = None

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store's schema version {version} is newer than this program's "
                f"({SCHEMA_VERSION}); upgrade symbi-tui"
            )
        for number in range(version, SCHEMA_VERSION):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(MIGRATIONS[number]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    @staticmethod
    async def _call(conn: aiosqlite.Connection | None, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(sqlite3_connection, *args)`` on the connection's worker thread.

        aiosqlite's ``_execute`` is the documented-by-source way to run a callable on its thread;
        using it keeps a whole transaction to one thread hop.
        """
        if conn is None:
            raise StoreError("the store is not open")
        result: T = await conn._execute(fn, conn._conn, *args)  # type: ignore[no-untyped-call]
        return result

    async def _tx(self, fn: Callable[..., T], *args: Any) -> T:
        changed = [False]

        def run(conn: sqlite3.Connection) -> T:
            before = conn.total_changes
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn, *args)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            changed[0] = conn.total_changes != before
            return result

        result = await self._call(self._writer, run)
        if changed[0]:  # (a standby's lease check that wrote nothing has nothing to show)
            self._poke()
        return result

    # --- change notification ----------------------------------------------------------------------
    # The scheduler holding the lease listens on a datagram socket named after the store; every
    # other store object (the CLI, a console attached to the same file) sends one byte after each
    # commit, so the scheduler sees outside writes at once without polling every second. The
    # data_version probe stays as the backstop for writers that do not poke (a sqlite3 shell).

    @property
    def wake_address(self) -> str | None:
        if self.path == ":memory:":
            return None
        real = os.path.realpath(os.path.expanduser(self.path))
        digest = hashlib.sha1(real.encode()).hexdigest()[:20]
        return os.path.join(tempfile.gettempdir(), f"symbi-{os.getuid()}-{digest}.wake")

    def watch(self, callback: Callable[[], None]) -> bool:
        """Call ``callback`` on the event loop whenever another process commits and pokes."""
        address = self.wake_address
        if address is None or not hasattr(socket, "AF_UNIX"):
            return False
        self.unwatch()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)
        try:
            sock.bind(address)
        except OSError:
            sock.close()
            return False
        sock.setblocking(False)

        def readable() -> None:
            with contextlib.suppress(BlockingIOError, OSError):
                while sock.recv(64):
                    pass
            callback()

        asyncio.get_running_loop().add_reader(sock.fileno(), readable)
        self._wake_listener = sock
        return True

    def unwatch(self) -> None:
        sock, self._wake_listener = self._wake_listener, None
        if sock is None:
            return
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(sock.fileno())
        with contextlib.suppress(OSError):
            if sock.getsockname():
                os.unlink(sock.getsockname())
        sock.close()

    def _poke(self) -> None:
        if self._wake_listener is not None:  # the scheduler's own writes need no poke
            return
        address = self.wake_address
        if address is None or not hasattr(socket, "AF_UNIX"):
            return
        if self._wake_sender is None:
            self._wake_sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._wake_sender.setblocking(False)
        with contextlib.suppress(OSError):  # nobody listening, or its queue is full: fine
            self._wake_sender.sendto(b"!", address)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._call(self._reader, fn, *args)

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._read(lambda c: c.execute(sql, params).fetchall())

    # --- jobs -------------------------------------------------------------------------------------

    async def insert_jobs(self, jobs: Sequence[JobDefinition], audit: Sequence[AuditEvent]) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            try:
                conn.executemany(_INSERT_JOB, [_job_params(j) for j in jobs])
            except sqlite3.IntegrityError as exc:
                names = [j.name for j in jobs]
                raise name_conflict(_stored_names(conn, names), names, exc) from None
            conn.executemany(_LOG_NEW_JOB, [(j.id,) for j in jobs])
            conn.executemany(_INSERT_AUDIT, [_audit_params(e) for e in audit])

        await self._tx(tx)

    async def upsert_jobs(self, jobs: Sequence[JobDefinition], audit: Sequence[AuditEvent]) -> None:
        """Insert new jobs and rewrite existing ones (matched by id) keeping their run state."""

        def tx(conn: sqlite3.Connection) -> None:
            for job in jobs:
                cur = conn.execute(_UPDATE_JOB_DEFINITION, job_definition_params(job, _opt))
                if cur.rowcount == 0:
                    conn.execute(_INSERT_JOB, _job_params(job))
                    conn.execute(_LOG_NEW_JOB, (job.id,))
            conn.executemany(_INSERT_AUDIT, [_audit_params(e) for e in audit])

        await self._tx(tx)

    async def update_job(self, job: JobDefinition, audit: Sequence[AuditEvent]) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            try:
                cur = conn.execute(_UPDATE_JOB_DEFINITION, job_definition_params(job, _opt))
            except sqlite3.IntegrityError:
                raise ConflictError(f"a job named {job.name!r} already exists") from None
            if cur.rowcount == 0:
                raise ConflictError(f"job {job.id} was removed meanwhile")
            conn.executemany(_INSERT_AUDIT, [_audit_params(e) for e in audit])

        await self._tx(tx)

    async def delete_job(self, job_id: str, audit: Sequence[AuditEvent]) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            if cur.rowcount:
                conn.executemany(_INSERT_AUDIT, [_audit_params(e) for e in audit])
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
        return [_job(r) for r in rows]

    async def prepare_text_search(self) -> None:
        """Read every job's name and agent into the filter's index now, rather than on the
        first key typed into the console's filter (150-250 ms for 100,000 jobs)."""
        await self._read(self._text_index.refresh)

    async def list_jobs(self, query: JobQuery) -> JobPage:
        p = Params("?")
        where = job_filters(p, query)
        params = p.values
        others, other_params = list(where), list(params)  #: the filters besides the text
        if query.text:
            # LIKE folds ASCII case as lower() does, at half the cost of instr(lower(...))
            text = query.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append("(name LIKE ? ESCAPE '\\' OR agent LIKE ? ESCAPE '\\')")
            params += [f"%{text}%", f"%{text}%"]
        clause = where_clause(where)
        column = JOB_ORDERS.get(query.order, "name")
        direction = "DESC" if query.descending else "ASC"
        # NULLs last going up and first going down (the exact reverse), as an index on
        # (column IS NULL, column, name) reads; NOT NULL columns have no NULL term, so their
        # (column, name) indexes serve the order and a page is read without sorting the table
        nullable = column in ("next_run_at", "last_run_at")
        terms = [f"{column} IS NULL", column] if nullable else [column]
        terms += ["name"] if column != "name" else []
        order = ", ".join(f"{term} {direction}" for term in terms)
        # the same order, which no index can serve: for a few matches, sorted once found
        sorted_order = ", ".join(f"+{term} {direction}" for term in terms)
        few = 2000  #: at most this many matches are found first and sorted
        totals = self._job_totals
        key = (clause, *params)
        index = self._text_index

        def sorted_page(conn: sqlite3.Connection, source: str, values: list[Any]) -> list[Any]:
            """A page of the few jobs ``source`` selects (by id), sorted once found."""
            return conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE {source} "
                f"ORDER BY {sorted_order} LIMIT ? OFFSET ?",
                [*values, query.limit, query.offset],
            ).fetchall()

        def read(conn: sqlite3.Connection) -> JobPage:
            # data_version moves with other connections' commits (the writer's included),
            # total_changes with this one's (the reader is the writer for :memory:)
            version = (conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes)
            known = totals.get(key)
            found: list[int] | None = None
            total: int | None = known[1] if known is not None and known[0] == version else None
            if query.text:
                # the text's matches from the names held in memory, not a scan of every job
                index.refresh(conn)
                ids = index.search(query.text)
                if len(ids) <= few:
                    source = "id IN (SELECT value FROM json_each(?))"
                    source += "".join(f" AND {term}" for term in others)
                    values = [json.dumps(ids), *other_params]
                    if total is None:
                        total = (
                            conn.execute(
                                f"SELECT count(*) FROM jobs WHERE {source}", values
                            ).fetchone()[0]
                            if others
                            else len(ids)
                        )
                    if len(totals) > 256:
                        totals.clear()
                    totals[key] = (version, total)
                    rows = sorted_page(conn, source, values) if query.offset < total else []
                    return JobPage(jobs=[_job(r) for r in rows], total=total)
                if total is None and not others:
                    total = len(ids)
            if total is None and where:
                # one pass over the filter's index: the matches' rowids if they are few, else
                # the proof that they are many, counted then
                rowids = conn.execute(
                    f"SELECT rowid FROM jobs {clause} LIMIT {few + 1}", params
                ).fetchall()
                if len(rowids) <= few:
                    found = [r[0] for r in rowids]
                    total = len(found)
                else:
                    count = conn.execute(f"SELECT count(*) FROM jobs {clause}", params)
                    total = count.fetchone()[0]
            elif total is None:
                total = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
            if len(totals) > 256:
                totals.clear()
            totals[key] = (version, total)
            if query.offset >= total:
                rows = []
            elif where and total <= few:
                # a few matches: fetch and sort them, rather than walk an order index past
                # all the jobs that do not match
                if found is None:
                    rows = sorted_page(conn, f"rowid IN (SELECT rowid FROM jobs {clause})", params)
                else:
                    rows = sorted_page(
                        conn, "rowid IN (SELECT value FROM json_each(?))", [json.dumps(found)]
                    )
            else:
                rows = conn.execute(
                    f"SELECT {JOB_COLUMNS} FROM jobs {clause} ORDER BY {order} LIMIT ? OFFSET ?",
                    [*params, query.limit, query.offset],
                ).fetchall()
            return JobPage(jobs=[_job(r) for r in rows], total=total)

        return await self._read(read)

    async def count_jobs(self) -> dict[JobStatus, int]:
        def read(conn: sqlite3.Connection) -> list[Any]:
            # counted again only after a commit, as list_jobs' totals (health asks every tick)
            version = (conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes)
            known = self._status_counts
            if known is None or known[0] != version:
                rows = conn.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
                known = self._status_counts = (version, rows)
            return list(known[1])

        return status_counts(await self._read(read))

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
                (_fmt(now),),
            ).fetchone()[0]
            approval = conn.execute(
                "SELECT min(expires_at) FROM approvals WHERE decision IS NULL"
            ).fetchone()[0]
            if job and ahead:
                job = _fmt(parse_instant(job) - timedelta(seconds=ahead))
            candidates = [v for v in (job, run, approval) if v]
            return min(candidates) if candidates else None

        value = await self._call(self._writer, read)
        return _ts(value)

    # --- the scheduler's transactions -------------------------------------------------------------

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
        stamp = _fmt(now)
        horizon = _fmt(until) if until is not None else stamp

        def tx(conn: sqlite3.Connection) -> list[ClaimPlan] | None:
            if not _holds_lease(conn, owner, stamp):
                return None
            rows = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs INDEXED BY jobs_due "
                "WHERE status = 'active' AND next_run_at <= ? ORDER BY next_run_at LIMIT ?",
                (horizon, limit),
            ).fetchall()
            if not rows:
                return []
            plans = planner([_job(r) for r in rows], {})
            conn.executemany(
                "UPDATE jobs SET next_run_at = ?, status = ? WHERE id = ?",
                [(_opt(p.next_run_at), (p.status or p.job.status).value, p.job.id) for p in plans],
            )
            runs = [p.run for p in plans if p.run is not None]
            before = conn.total_changes
            conn.executemany(_INSERT_OWNED_RUN_ONCE, [(*_run_params(r), owner) for r in runs])
            if conn.total_changes - before != len(runs):
                # some instant was fired already (never twice): keep only the runs inserted now
                ids = [r.id for r in runs]
                inserted: set[str] = set()
                for k in range(0, len(ids), 500):
                    chunk = ids[k : k + 500]
                    inserted.update(
                        row[0]
                        for row in conn.execute(
                            f"SELECT id FROM runs WHERE id IN ({','.join('?' * len(chunk))})",
                            chunk,
                        )
                    )
                plans = recorded_claims(plans, inserted)
            audits = [e for p in plans for e in p.audit]
            if audits:
                conn.executemany(_INSERT_AUDIT, [_audit_params(e) for e in audits])
            return list(plans)

        return await self._tx(tx)

    async def start_queued(
        self, now: datetime, limit: int, owner: str, planner: StartPlanner
    ) -> list[StartPlan] | None:
        stamp = _fmt(now)

        def tx(conn: sqlite3.Connection) -> list[StartPlan] | None:
            if not _holds_lease(conn, owner, stamp):
                return None
            rows = conn.execute(
                f"SELECT {R_RUN_COLUMNS}, {J_JOB_COLUMNS} "
                "FROM runs r INDEXED BY runs_status JOIN jobs j ON j.id = r.job_id "
                "WHERE r.status = 'queued' AND r.due_at <= ? ORDER BY r.due_at LIMIT ?",
                (stamp, limit),
            ).fetchall()
            if not rows:
                return []
            plans = planner([run_and_job_from_row(r, _ts) for r in rows], {})
            out = []
            for plan in plans:
                if plan.cancel_reason is not None:
                    cur = conn.execute(
                        "UPDATE runs SET status = 'cancelled', finished_at = ?, error_message = ? "
                        "WHERE id = ? AND status = 'queued'",
                        (stamp, plan.cancel_reason, plan.run.id),
                    )
                    if cur.rowcount:
                        out.append(plan)
                    continue
                if not plan.start:
                    continue
                cur = conn.execute(
                    "UPDATE runs SET status = ?, started_at = ?, owner = ? "
                    "WHERE id = ? AND status = 'queued'",
                    (plan.run.status.value, _opt(plan.run.started_at), owner, plan.run.id),
                )
                if cur.rowcount:
                    out.append(plan)
            return out

        return await self._tx(tx)

    async def finish_runs(
        self, items: Sequence[FinishItem], planner: FinishPlanner
    ) -> list[FinishPlan | None]:
        def tx(conn: sqlite3.Connection) -> list[FinishPlan | None]:
            plans: list[FinishPlan | None] = []
            audits: list[AuditEvent] = []
            tally = RunTally()
            for item in items:
                run = item.run
                # only a run still recorded as running can finish: if its job was removed, or a
                # scheduler that took over the lease already marked it interrupted (and retried
                # it), this late result must not overwrite that decision
                cur = conn.execute(
                    _UPDATE_RUN + " AND status = ?", (*_update_run_params(run), item.expected.value)
                )
                if cur.rowcount == 0:
                    plans.append(None)
                    continue
                if item.approval is not None:
                    _decide(conn, run.id, item.approval)
                if item.context is not None:
                    _save_context(conn, item.context)
                row = conn.execute(
                    f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (run.job_id,)
                ).fetchone()
                current = _job(row) if row else None
                plan = planner(item, current)
                plans.append(plan)
                if plan is None or current is None:
                    continue
                outcome = JobOutcome.of(current, run, plan)
                conn.execute(
                    "UPDATE jobs SET status = ?, failure_count = ?, last_error = ?, "
                    "last_run_at = ?, last_run_status = ?, run_count = run_count + ? "
                    "WHERE id = ?",
                    (
                        outcome.status.value,
                        outcome.failure_count,
                        outcome.last_error,
                        _fmt(outcome.last_run_at),
                        outcome.last_run_status.value,
                        outcome.counted,
                        run.job_id,
                    ),
                )
                if plan.retry is not None:
                    conn.execute(_INSERT_RUN_ONCE, _run_params(plan.retry))
                audits.extend(plan.audit)
                tally.add(run, plan.count_run)
            if audits:
                conn.executemany(_INSERT_AUDIT, [_audit_params(e) for e in audits])
            if tally:
                conn.execute(
                    "UPDATE run_stats SET runs_total = runs_total + ?, "
                    "runs_succeeded = runs_succeeded + ?, runs_failed = runs_failed + ?, "
                    "execution_ms_total = execution_ms_total + ?, executions = executions + ? "
                    "WHERE id = 1",
                    tally.values(),
                )
            return plans

        return await self._tx(tx)

    async def insert_run(self, run: JobRun, audit: Sequence[AuditEvent]) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute(_INSERT_RUN, _run_params(run))
            conn.executemany(_INSERT_AUDIT, [_audit_params(e) for e in audit])

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
            sql = _UPDATE_RUN + (" AND status = ?" if expected else "")
            params = _update_run_params(run) + ((expected.value,) if expected else ())
            if conn.execute(sql, params).rowcount == 0:
                return False
            conn.executemany(_INSERT_AUDIT, [_audit_params(e) for e in audit])
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
                    run = _run(row)
                    out[run.job_id] = run
            return out

        return await self._read(read)

    # --- approvals ------------------------------------------------------------------------------

    async def park_run(
        self,
        run: JobRun,
        *,
        expires_at: datetime | None,
        approvers: Sequence[str],
        audit: Sequence[AuditEvent] = (),
    ) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(_UPDATE_RUN + " AND status = 'running'", _update_run_params(run))
            if cur.rowcount == 0:
                return False
            conn.execute(
                "INSERT OR REPLACE INTO approvals (run_id, job_id, requested_at, expires_at, "
                "approvers) VALUES (?,?,?,?,?)",
                (
                    run.id,
                    run.job_id,
                    _fmt(run.started_at or run.scheduled_for),
                    _opt(expires_at),
                    json.dumps(list(approvers)),
                ),
            )
            conn.executemany(_INSERT_AUDIT, [_audit_params(e) for e in audit])
            return True

        return await self._tx(tx)

    async def approve_run(
        self, run: JobRun, decision: ApprovalDecision, audit: Sequence[AuditEvent] = ()
    ) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                _UPDATE_RUN + " AND status = 'awaiting_approval'", _update_run_params(run)
            )
            if cur.rowcount == 0:
                return False
            _decide(conn, run.id, decision)
            conn.executemany(_INSERT_AUDIT, [_audit_params(e) for e in audit])
            return True

        return await self._tx(tx)

    async def run_stats(self) -> RunStats:
        def read(conn: sqlite3.Connection) -> RunStats:
            row = conn.execute(
                "SELECT runs_total, runs_succeeded, runs_failed, execution_ms_total, executions "
                "FROM run_stats WHERE id = 1"
            ).fetchone()
            open_rows = conn.execute(
                "SELECT status, count(*) FROM runs "
                "WHERE status IN ('queued', 'running', 'awaiting_approval') GROUP BY status"
            ).fetchall()
            return run_stats_from_rows(row, open_rows)

        return await self._read(read)

    # --- heartbeat, contexts, audit ---------------------------------------------------------------

    async def record_iteration(self, iteration: HeartbeatIteration) -> None:
        it = iteration

        def tx(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO heartbeat_iterations (run_id, idx, started_at, "
                "finished_at, outcome, assessment, action, summary, output_excerpt) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    it.run_id,
                    it.index,
                    _fmt(it.started_at),
                    _opt(it.finished_at),
                    it.outcome,
                    it.assessment,
                    it.action,
                    it.summary,
                    it.output_excerpt,
                ),
            )

        await self._tx(tx)

    async def load_contexts(self, job_ids: Sequence[str]) -> dict[str, AgentContext]:
        def read(conn: sqlite3.Connection) -> dict[str, AgentContext]:
            out: dict[str, AgentContext] = {}
            for start in range(0, len(job_ids), 500):
                chunk = list(job_ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    "SELECT job_id, mode, summary, memory, updated_at FROM agent_contexts "
                    f"WHERE job_id IN ({marks})",
                    chunk,
                ).fetchall()
                for row in rows:
                    out[row[0]] = context_from_row(row, _ts)
            return out

        return await self._read(read) if job_ids else {}

    async def save_context(self, context: AgentContext, max_bytes: int) -> None:
        """Persist a context, dropping its oldest memory entries beyond ``max_bytes``."""
        capped = cap_context(context, max_bytes)
        await self._tx(lambda conn: _save_context(conn, capped))

    async def record_audit(self, events: Sequence[AuditEvent]) -> None:
        await self._tx(
            lambda conn: conn.executemany(_INSERT_AUDIT, [_audit_params(e) for e in events])
        )

    # --- lease ------------------------------------------------------------------------------------

    async def acquire_lease(
        self, owner: str, *, now: datetime, ttl: float, api_address: str | None = None
    ) -> LeaseInfo:
        """Take or renew the lease if it is free, expired or ours; return whoever holds it."""
        stamp, expires = _fmt(now), _fmt(now + timedelta(seconds=ttl))

        def tx(conn: sqlite3.Connection) -> LeaseInfo:
            row = conn.execute(
                f"SELECT {LEASE_COLUMNS} FROM lease WHERE name = ?", (LEASE_NAME,)
            ).fetchone()
            current = _lease(row) if row is not None else None
            if current is not None and held_by_another(current, owner, now):
                # a standby checks every 2 s but re-announces itself at a third of the TTL, as
                # the holder renews: each write wakes the holder
                mine = conn.execute(
                    "SELECT role, expires_at FROM nodes WHERE owner = ?", (owner,)
                ).fetchone()
                due = _fmt(now + timedelta(seconds=ttl * 2 / 3))
                if mine is None or mine[0] != "standby" or mine[1] <= due:
                    _write_node(conn, owner, "standby", now, ttl, api_address)
                return current
            _write_node(conn, owner, "leader", now, ttl, api_address)
            pid, host, machine = this_process()
            acquired = _fmt(tenure(current, owner, now))
            values = (owner, pid, host, api_address, acquired, stamp, expires, machine)
            conn.execute(
                f"INSERT OR REPLACE INTO lease (name, {LEASE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                (LEASE_NAME, *values),
            )
            return _lease(values)

        return await self._tx(tx)

    async def release_lease(self, owner: str) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM lease WHERE name = ? AND owner = ?", (LEASE_NAME, owner))
            conn.execute("DELETE FROM nodes WHERE owner = ?", (owner,))

        await self._tx(tx)

    async def get_lease(self) -> LeaseInfo | None:
        rows = await self._fetchall(
            f"SELECT {LEASE_COLUMNS} FROM lease WHERE name = ?", (LEASE_NAME,)
        )
        return _lease(rows[0]) if rows else None

    # --- nodes ------------------------------------------------------------------------------------

    async def register_node(
        self,
        owner: str,
        *,
        now: datetime,
        ttl: float,
        api_address: str | None = None,
        role: str = "active",
    ) -> NodeInfo:
        return await self._tx(_write_node, owner, role, now, ttl, api_address)

    async def unregister_node(self, owner: str) -> None:
        await self._tx(lambda conn: conn.execute("DELETE FROM nodes WHERE owner = ?", (owner,)))

    async def list_nodes(self, now: datetime) -> list[NodeInfo]:
        rows = await self._fetchall(
            f"SELECT {NODE_COLUMNS}, (SELECT count(*) FROM runs INDEXED BY runs_status "
            "WHERE runs.status = 'running' AND runs.owner = nodes.owner) FROM nodes "
            "WHERE expires_at > ? ORDER BY started_at, owner",
            (_fmt(now),),
        )
        return [_node(r) for r in rows]

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
        return [orphan_from_row(r, _ts) for r in rows]

    async def data_version(self) -> int:
        """Changes whenever another connection commits (how the scheduler sees CLI writes)."""
        if self._probe is not None:
            return int(self._probe.execute("PRAGMA data_version").fetchone()[0])
        return await self._call(
            self._writer, lambda c: c.execute("PRAGMA data_version").fetchone()[0]
        )

    async def integrity_check(self) -> str:
        rows = await self._fetchall("PRAGMA integrity_check")
        return "; ".join(r[0] for r in rows)


def _lease(row: Sequence[Any]) -> LeaseInfo:
    return lease_from_row(row, _ts)


def _write_node(
    conn: sqlite3.Connection,
    owner: str,
    role: str,
    now: datetime,
    ttl: float,
    api_address: str | None,
) -> NodeInfo:
    """Announce or renew ``owner``; a node whose row had expired (or changed role) starts afresh."""
    stamp = _fmt(now)
    conn.execute("DELETE FROM nodes WHERE expires_at < ?", (_fmt(now - NODE_MEMORY),))
    row = conn.execute(
        "SELECT started_at, expires_at, role FROM nodes WHERE owner = ?", (owner,)
    ).fetchone()
    started = row[0] if row is not None and row[1] > stamp and row[2] == role else stamp
    pid, host, _ = this_process()
    values = (
        owner,
        host,
        pid,
        api_address,
        role,
        started,
        stamp,
        _fmt(now + timedelta(seconds=ttl)),
    )
    conn.execute(f"INSERT OR REPLACE INTO nodes ({NODE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", values)
    return _node(values)


def _node(row: Sequence[Any]) -> NodeInfo:
    return node_from_row(row, _ts, row[8] if len(row) > 8 else 0)


def _holds_lease(conn: sqlite3.Connection, owner: str, stamp: str) -> bool:
    row = conn.execute(
        "SELECT owner, expires_at FROM lease WHERE name = ?", (LEASE_NAME,)
    ).fetchone()
    return row is not None and row[0] == owner and row[1] > stamp


def _stored_names(conn: sqlite3.Connection, names: list[str]) -> list[str]:
    """Those of ``names`` that jobs have."""
    taken = []
    for i in range(0, len(names), 500):
        chunk = names[i : i + 500]
        rows = conn.execute(
            f"SELECT name FROM jobs WHERE name IN ({','.join('?' * len(chunk))})", chunk
        ).fetchall()
        taken += [r[0] for r in rows]
    return taken
