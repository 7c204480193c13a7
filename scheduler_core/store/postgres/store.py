"""PostgresJobStore: the store for several scheduler nodes, on asyncpg.

The same semantics as :class:`~scheduler_core.store.sqlite.SqliteJobStore`, which is the reference:

- every method is one transaction on a connection from an asyncpg pool (READ COMMITTED); write
  transactions of one store object run one at a time (as SQLite's single writer), reads beside them;
- the scheduler's transactions (``claim_due``, ``start_queued``, ``finish_runs``) lock the rows
  they plan on and write a whole batch in a few statements (``_transitions.py``);
- every transaction that wrote bumps its store object's own counter in ``store_version`` as its
  last statement (``data_version()`` reads their sum) and either notifies the other nodes in the
  transaction (what they must act on at once: jobs, runs asked for, cancel requests) or, for the
  scheduler's own transactions (claims, starts, finishes), announces itself after its commit,
  at most once per 0.1 s: nothing any two nodes' commits wait for (``_version.py`` says what
  each node learns, how fast, and why); ``watch()`` LISTENs on a dedicated connection
  (``_listen.py``). Correctness never depends on the notifications; they only wake the scheduler
  sooner.

Beside this module: the SQL and how values are kept (``_sql.py``: free text holds no NUL), the
transaction and the writes transactions share (``_tx.py``), the lease and node rows
(``_lease.py``) and the schema (``schema.py``); what both stores do alike is in ``store/``
(``_common.py``, ``_rows.py``, ``_queries.py``, ...).
"""

from __future__ import annotations

__all__ = ["NOTIFY_CHANNEL", "NodeInfo", "PostgresJobStore"]

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import asyncpg

from ...clock import format_instant
from ...errors import ConflictError, StoreError, ValidationError
from ...model import (
    AgentContext,
    AuditEvent,
    HeartbeatIteration,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
)
from .._common import StoreBase, definition_values, name_conflict
from .._leases import LEASE_NAME
from .._queries import job_ref, page_cursor
from .._rows import (
    JOB_COLUMNS,
    LEASE_COLUMNS,
    RUN_COLUMNS,
    context_from_row,
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
    cap_context,
)
from . import _faults, _lease, _transitions
from ._listen import ChangeListener
from ._retention import PostgresRetention
from ._sql import (
    DIALECT,
    INSERT_JOB,
    INSERT_RUN,
    NODE_MACHINE_COLUMNS,
    NOTIFY_CHANNEL,
    UPDATE_JOB_DEFINITION,
    UPDATE_RUN,
    UPSERT_APPROVAL,
    UPSERT_DEFINITION,
    UPSERT_ITERATION,
    UPSERT_JOB,
    has_nul,
    job_definition_values,
    job_list_queries,
    job_of,
    job_values,
    lease_of,
    node_of,
    redact,
    run_of,
    run_update_values,
    run_values,
    same,
    storable,
    utc,
)
from ._tx import Tx, write_archive, write_contexts, write_decision
from ._version import (
    ANNOUNCE_WINDOW,
    BUMP,
    BUMP_AND_NOTIFY,
    FOLD_WRITER,
    READ_VERSION,
    Announcer,
)
from .schema import integrity_problems, migrate

T = TypeVar("T")


class PostgresJobStore(StoreBase, PostgresRetention):
    """The store for several nodes. ``url`` is a ``postgresql://`` (or ``postgres://``) URL.

    ``url`` keeps the address without its password (it is shown in logs and the console).

    One class for the whole ``JobStore`` protocol, one method per transaction (the look-ups both
    stores share come from ``StoreBase``), so it runs over 300 lines: each method is the SQL of
    its transaction, and the longer ones live beside it (``_transitions``, ``_lease``); pruning
    and the stats are ``PostgresRetention``'s (``_retention``).
    """

    shared = True  #: every node fires: claims are split by row locks, fenced by each node's row
    _dialect = DIALECT

    def __init__(self, url: str, *, min_pool: int = 1, max_pool: int = 10) -> None:
        super().__init__()
        self._dsn = url
        self.url = redact(url)
        self._min_pool = min_pool
        self._max_pool = max_pool
        self._pool: asyncpg.Pool | None = None
        self._instance = uuid.uuid4().hex  #: our NOTIFY payload: our own writes need no wake-up
        self._changes = ChangeListener(url, self._instance)
        #: the notifications of our quiet writes (the scheduler's), sent after they commit
        self._announcer = Announcer(self._instance, lambda: self._pool, ANNOUNCE_WINDOW)
        self._wrote = False  #: our row in ``store_version`` exists (folded when we close)
        #: one write transaction at a time per store object, as with SQLite's single writer: the
        #: scheduler's transactions never interleave with each other (no lock waits, no skipped
        #: rows, no deadlocks within a node); other nodes' transactions are the database's to order
        self._write_lock = asyncio.Lock()

    # --- lifecycle --------------------------------------------------------------------------------

    async def open(self, *, preflight: bool = False) -> None:
        """Connect and migrate. ``preflight``: then raise ``StoreUnavailable`` if the database
        cannot be written (a hot standby) or a lock is held past 10 s (nothing is written)."""
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=self._min_pool, max_size=self._max_pool
            )
            async with self._pool.acquire() as conn:
                await migrate(conn)
                if preflight:
                    await _faults.preflight(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self.close()
            fault = _faults.store_fault(exc, self.url)
            if fault is not None:
                raise self._fault(fault) from exc
            raise StoreError(f"cannot open the store at {self.url}: {exc}") from exc
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        self.unwatch()
        self._announcer.stop()
        if self._pool is not None and self._wrote:
            # our counter into the base row: the store version stays as it is
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await asyncio.wait_for(self._pool.execute(FOLD_WRITER, self._instance), 5)
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 10)
            except (TimeoutError, asyncpg.PostgresError, OSError):
                pool.terminate()

    def _cannot_hold(self, *keys: object) -> bool:
        return has_nul(*keys)

    def _need_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the store is not open")
        return self._pool

    def _translated(self) -> contextlib.AbstractContextManager[None]:
        """Faults of the server met inside come out as ``StoreUnavailable``."""
        return _faults.translated(self.url, self._fault)

    async def _tx(self, fn: Callable[[Tx], Awaitable[T]], *, quiet: bool = False) -> T:
        """Run ``fn`` in one transaction; if it wrote, bump our version row, last, and notify
        the other nodes: in the transaction, or (``quiet``: the scheduler's own transactions)
        soon after it committed (``_version.py``)."""
        try:
            with self._translated():
                async with self._write_lock, self._need_pool().acquire() as conn:
                    tx = Tx(conn)
                    async with conn.transaction():
                        result = await fn(tx)
                        if tx.dirty:
                            await conn.execute(BUMP if quiet else BUMP_AND_NOTIFY, self._instance)
                            self._wrote = True
                    if tx.dirty and quiet:
                        self._announcer.soon()
                    return result
        except asyncpg.CharacterNotInRepertoireError as exc:
            raise ValidationError(f"the store cannot hold this text: {exc}") from None

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[asyncpg.Record]:
        try:
            with self._translated():
                rows: list[asyncpg.Record] = await self._need_pool().fetch(sql, *params)
                return rows
        except asyncpg.CharacterNotInRepertoireError as exc:
            raise ValidationError(f"the store cannot hold this text: {exc}") from None

    async def _fetch_together(self, *queries: tuple[str, Sequence[Any]]) -> list[list[Any]]:
        """The rows of each query, all of one snapshot (a read-only repeatable-read transaction)."""
        with self._translated():
            async with (
                self._need_pool().acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                return [await conn.fetch(sql, *params) for sql, params in queries]

    # --- change notification (``_listen.py``) -----------------------------------------------------

    def watch(self, callback: Callable[[], None]) -> bool:
        """Call ``callback`` on the event loop whenever another store object commits a write.

        Listening starts in the background (``wait_watching`` awaits it); once it has started, the
        callback is called once, for writes that may have landed meanwhile. A lost connection is
        re-established with backoff, again followed by one call.
        """
        self.unwatch()
        if self._pool is None:
            return False
        self._changes.start(callback)
        return True

    async def wait_watching(self) -> bool:
        """Wait until ``watch`` is listening (False if not watching); bound it with a timeout."""
        return await self._changes.wait()

    def unwatch(self) -> None:
        self._changes.stop()

    # --- jobs -------------------------------------------------------------------------------------

    async def insert_jobs(self, jobs: Sequence[JobDefinition], audit: Sequence[AuditEvent]) -> None:
        async def tx(t: Tx) -> None:
            await t.executemany(INSERT_JOB, [job_values(j) for j in jobs])
            await t.audit(audit)

        try:
            await self._tx(tx)
        except asyncpg.UniqueViolationError as exc:
            names = [j.name for j in jobs]
            rows = await self._fetchall(
                "SELECT name FROM jobs WHERE name = ANY($1::text[])", (names,)
            )
            raise name_conflict([r[0] for r in rows], names, exc) from None

    async def upsert_jobs(
        self,
        jobs: Sequence[JobDefinition],
        audit: Sequence[AuditEvent],
        definitions: Sequence[StoredDefinition] = (),
    ) -> None:
        """Insert new jobs and rewrite existing ones (matched by id) keeping their run state;
        register ``definitions`` (by kind and name)."""

        async def tx(t: Tx) -> None:
            if definitions:
                await t.executemany(UPSERT_DEFINITION, [definition_values(d) for d in definitions])
            if jobs:
                await t.executemany(UPSERT_JOB, [job_values(j) for j in jobs])
            await t.audit(audit)

        try:
            await self._tx(tx)
        except asyncpg.UniqueViolationError as exc:
            names = [j.name for j in jobs]
            rows = await self._fetchall(
                "SELECT name FROM jobs WHERE name = ANY($1::text[]) AND NOT id = ANY($2::text[])",
                (names, [j.id for j in jobs]),
            )
            raise name_conflict([r[0] for r in rows], names, exc) from None

    async def update_job(self, job: JobDefinition, audit: Sequence[AuditEvent]) -> None:
        async def tx(t: Tx) -> None:
            try:
                n = await t.execute(UPDATE_JOB_DEFINITION, *job_definition_values(job))
            except asyncpg.UniqueViolationError:
                raise ConflictError(f"a job named {job.name!r} already exists") from None
            if n == 0:
                raise ConflictError(f"job {job.id} was removed meanwhile")
            await t.audit(audit)

        await self._tx(tx)

    async def delete_job(self, job_id: str, audit: Sequence[AuditEvent]) -> bool:
        if has_nul(job_id):
            return False

        async def tx(t: Tx) -> bool:
            n = await t.execute("DELETE FROM jobs WHERE id = $1", job_id)
            if n:
                await t.audit(audit)
            return bool(n)

        return await self._tx(tx)

    async def find_jobs(self, ref: str, limit: int = 5) -> list[JobDefinition]:
        """Jobs whose id is ``ref``, starts with it, or whose name is ``ref``."""
        if has_nul(ref):
            return []
        rows = await self._fetchall(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 OR name = $1 "
            f"UNION SELECT {JOB_COLUMNS} FROM jobs WHERE id >= $1 AND id < $1 || 'g' "
            "LIMIT $2",
            (job_ref(ref), limit),
        )
        return [job_of(r) for r in rows]

    async def prepare_text_search(self) -> None:
        """Nothing to prepare: PostgreSQL filters in the query."""

    async def list_jobs(self, query: JobQuery) -> JobPage:
        if has_nul(query.agent, query.text):
            return JobPage(jobs=[], total=0)
        if query.after is not None and has_nul(query.after.name):
            return JobPage(jobs=[], total=0)
        counted, *runs = await self._fetch_together(*job_list_queries(query))
        rows = [row for run in runs for row in run]
        cursor = None
        if len(rows) > query.limit:
            del rows[query.limit :]
            cursor = page_cursor(query, rows[-1], format_instant)
        total = counted[0][0]
        if query.encode is not None:
            encode, read = query.encode, DIALECT.read_instant
            return JobPage(
                jobs=[], total=total, next_cursor=cursor, encoded=[encode(r, read) for r in rows]
            )
        return JobPage(jobs=[job_of(r) for r in rows], total=total, next_cursor=cursor)

    async def count_jobs(self) -> dict[JobStatus, int]:
        return status_counts(
            await self._fetchall("SELECT status, count(*) FROM jobs GROUP BY status")
        )

    async def next_wakeup(self, now: datetime, ahead: float = 0.0) -> datetime | None:
        """The earliest instant something becomes due: a job's next run, a queued run's due time.

        Queued runs already due at ``now`` are left out: they wait for a free slot, and a slot
        freeing up wakes the scheduler by itself. Jobs count ``ahead`` seconds early (they are
        claimed that much before their instant).
        """
        rows = await self._fetchall(
            "SELECT (SELECT min(next_run_at) FROM jobs WHERE status = 'active'), "
            "(SELECT min(due_at) FROM runs WHERE status = 'queued' AND due_at > $1), "
            "(SELECT min(expires_at) FROM approvals WHERE decision IS NULL)",
            (utc(now),),
        )
        job, run, approval = rows[0]
        if job is not None and ahead:
            job = job - timedelta(seconds=ahead)
        candidates = [v for v in (job, run, approval) if v is not None]
        return min(candidates) if candidates else None

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
        transaction; None if this owner does not hold the lease.

        Jobs another transaction has locked (another claimer, a finishing run) are skipped, not
        waited for: they are claimed on a later pass.
        """
        now = utc(now) or now
        horizon = now if until is None else (utc(until) or until)
        return await self._tx(
            lambda t: _transitions.claim_due(t, now, horizon, limit, owner, planner), quiet=True
        )

    async def start_queued(
        self, now: datetime, limit: int, owner: str, planner: StartPlanner
    ) -> list[StartPlan] | None:
        now = utc(now) or now
        return await self._tx(
            lambda t: _transitions.start_queued(t, now, limit, owner, planner), quiet=True
        )

    async def finish_runs(
        self,
        items: Sequence[FinishItem],
        planner: FinishPlanner,
        chain: ChainPlanner | None = None,
        *,
        start: QueuedStart | None = None,
    ) -> list[FinishPlan | None]:
        """Finish runs and apply their consequences to their jobs, in one transaction, with the
        outcome of finishing them one after another (and the runs of the jobs that come after
        those that succeeded, with ``chain``; and queued runs started, with ``start``)."""
        if start is not None:
            start.now = utc(start.now) or start.now
        return await self._tx(
            lambda t: _transitions.finish_runs(t, items, planner, chain, start), quiet=True
        )

    # --- runs -------------------------------------------------------------------------------------

    async def insert_run(self, run: JobRun, audit: Sequence[AuditEvent]) -> None:
        """Record a run (a manual one, typically); a duplicate id or instant is a ConflictError."""

        async def tx(t: Tx) -> None:
            await t.execute(INSERT_RUN, *run_values(run), None)
            await t.audit(audit)

        try:
            await self._tx(tx)
        except asyncpg.UniqueViolationError:
            raise ConflictError(
                f"run {run.id} of job {run.job_id} for {run.scheduled_for.isoformat()} "
                f"(attempt {run.attempt}) is already recorded"
            ) from None

    async def backfill_runs(
        self, job_id: str, start: datetime, end: datetime, planner: BackfillPlanner
    ) -> None:
        async def tx(t: Tx) -> None:
            rows = await t.conn.fetch(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 FOR NO KEY UPDATE", job_id
            )
            existing = await t.conn.fetch(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE job_id = $1 AND scheduled_for >= $2 "
                "AND scheduled_for <= $3 AND trigger <> 'manual' "
                "ORDER BY scheduled_for, attempt",
                job_id,
                utc(start),
                utc(end),
            )
            job = job_of(rows[0]) if rows else None
            runs, audit = planner(job, [run_of(r) for r in existing])
            await t.executemany(INSERT_RUN, [(*run_values(r), None) for r in runs])
            await t.audit(audit)

        await self._tx(tx)

    async def update_run(
        self,
        run: JobRun,
        *,
        expected: RunStatus | None = None,
        audit: Sequence[AuditEvent] = (),
    ) -> bool:
        """Rewrite a run; with ``expected``, only if it is still in that status."""

        async def tx(t: Tx) -> bool:
            if expected is not None:
                n = await t.execute(
                    UPDATE_RUN + " AND status = $11", *run_update_values(run), expected.value
                )
            else:
                n = await t.execute(UPDATE_RUN, *run_update_values(run))
            if n == 0:
                return False
            await t.audit(audit)
            return True

        return await self._tx(tx)

    async def last_runs(
        self, job_ids: Sequence[str], statuses: Sequence[RunStatus]
    ) -> dict[str, JobRun]:
        """The newest run in one of ``statuses`` of each job, in one round trip."""
        if not job_ids or not statuses:
            return {}
        rows = await self._fetchall(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE seq IN ("
            " SELECT (SELECT max(r.seq) FROM runs r WHERE r.job_id = j.id"
            "  AND r.status = ANY($2::text[]))"
            " FROM unnest($1::text[]) AS j(id))",
            (list(job_ids), [s.value for s in statuses]),
        )
        return {run.job_id: run for run in map(run_of, rows)}

    # --- approvals --------------------------------------------------------------------------------

    async def park_run(
        self,
        run: JobRun,
        *,
        expires_at: datetime | None,
        approvers: Sequence[str],
        audit: Sequence[AuditEvent] = (),
    ) -> bool:
        async def tx(t: Tx) -> bool:
            n = await t.execute(UPDATE_RUN + " AND status = 'running'", *run_update_values(run))
            if n == 0:
                return False
            await t.execute(
                UPSERT_APPROVAL,
                run.id,
                run.job_id,
                utc(run.started_at or run.scheduled_for),
                utc(expires_at),
                storable(json.dumps(list(approvers))),
            )
            await t.audit(audit)
            return True

        return await self._tx(tx)

    async def approve_run(
        self, run: JobRun, decision: ApprovalDecision, audit: Sequence[AuditEvent] = ()
    ) -> bool:
        async def tx(t: Tx) -> bool:
            n = await t.execute(
                UPDATE_RUN + " AND status = 'awaiting_approval'", *run_update_values(run)
            )
            if n == 0:
                return False
            await write_decision(t, run.id, decision)
            await t.audit(audit)
            return True

        return await self._tx(tx)

    # --- heartbeat, contexts, audit ---------------------------------------------------------------

    async def record_iteration(self, iteration: HeartbeatIteration) -> None:
        it = iteration

        async def tx(t: Tx) -> None:
            await t.execute(
                UPSERT_ITERATION,
                it.run_id,
                it.index,
                utc(it.started_at),
                utc(it.finished_at),
                storable(it.outcome),
                storable(it.assessment),
                storable(it.action),
                storable(it.summary),
                storable(it.output_excerpt),
            )

        await self._tx(tx, quiet=True)

    async def load_contexts(self, job_ids: Sequence[str]) -> dict[str, AgentContext]:
        keys = [k for k in job_ids if not has_nul(k)]
        if not keys:
            return {}
        rows = await self._fetchall(
            "SELECT job_id, mode, summary, memory, updated_at FROM agent_contexts "
            "WHERE job_id = ANY($1::text[])",
            (keys,),
        )
        return {row[0]: context_from_row(row, same) for row in rows}

    async def save_context(self, context: AgentContext, max_bytes: int) -> None:
        """Persist a context, dropping its oldest memory entries beyond ``max_bytes``."""
        capped = cap_context(context, max_bytes)

        async def tx(t: Tx) -> None:
            await write_contexts(t, [capped])
            await write_archive(t, [capped])

        await self._tx(tx, quiet=True)

    async def record_audit(self, events: Sequence[AuditEvent]) -> None:
        await self._tx(lambda t: t.audit(events))

    # --- lease (``_lease.py``) --------------------------------------------------------------------

    async def acquire_lease(
        self, owner: str, *, now: datetime, ttl: float, api_address: str | None = None
    ) -> LeaseInfo:
        """Take or renew the lease if it is free, expired or ours; return whoever holds it.

        Renewing does not count as a change of the store (no version bump, no notification);
        taking it over does.
        """
        now = utc(now) or now
        return await self._tx(lambda t: _lease.acquire_lease(t, owner, now, ttl, api_address))

    async def release_lease(self, owner: str) -> None:
        async def tx(t: Tx) -> None:
            await t.execute("DELETE FROM lease WHERE name = $1 AND owner = $2", LEASE_NAME, owner)
            await t.execute("DELETE FROM nodes WHERE owner = $1", owner)

        await self._tx(tx)

    async def get_lease(self) -> LeaseInfo | None:
        """The store lease's holder if any; else (the nodes share the work) the active node that
        renewed last, one with an API first: the one the CLI and a console talk to."""
        rows = await self._fetchall(
            f"SELECT {LEASE_COLUMNS} FROM lease WHERE name = $1", (LEASE_NAME,)
        )
        if rows:
            return lease_of(rows[0])
        rows = await self._fetchall(
            f"SELECT {NODE_MACHINE_COLUMNS} FROM nodes WHERE role = 'active' "
            "ORDER BY api_address IS NULL, expires_at DESC LIMIT 1"
        )
        if not rows:
            return None
        return node_of(rows[0]).as_lease()

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
        now = utc(now) or now
        return await self._tx(
            lambda t: _lease.write_node(t.conn, owner, role, now, ttl, api_address)
        )

    async def unregister_node(self, owner: str) -> None:
        await self._tx(lambda t: t.execute("DELETE FROM nodes WHERE owner = $1", owner))

    async def list_nodes(self, now: datetime) -> list[NodeInfo]:
        rows = await self._fetchall(
            f"SELECT {NODE_MACHINE_COLUMNS}, (SELECT count(*) FROM runs "
            "WHERE runs.status = 'running' AND runs.owner = nodes.owner) FROM nodes "
            "WHERE expires_at > $1 ORDER BY started_at, owner",
            (utc(now),),
        )
        return [node_of(r) for r in rows]

    async def orphaned_runs(self, now: datetime, owner: str, limit: int = 500) -> list[Orphan]:
        """Runs recorded running whose node is gone: its row expired (or was removed), or it ran
        on this machine and its process no longer exists."""
        return await _lease.orphaned_runs(self._fetchall, utc(now) or now, owner, limit)

    # --- misc -------------------------------------------------------------------------------------

    async def data_version(self) -> int:
        """A number every write transaction (any node's, ours included) raises as it commits:
        the sum of the writers' counters (``_version.py``)."""
        with self._translated():
            version = await self._need_pool().fetchval(READ_VERSION)
        return int(version)

    async def integrity_check(self) -> str:
        """ "ok", or the problems found: schema, invalid indexes or constraints, bad values."""
        with self._translated():
            async with (
                self._need_pool().acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                problems = await integrity_problems(conn)
        return "; ".join(problems) or "ok"
