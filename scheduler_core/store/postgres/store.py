"""PostgresJobStore: the store for several scheduler nodes, on asyncpg.

The same semantics as :class:`~scheduler_core.store.sqlite.SqliteJobStore`, which is the reference:

- every method is one transaction on a connection from an asyncpg pool (READ COMMITTED); write
  transactions of one store object run one at a time (as SQLite's single writer), reads beside them;
- ``claim_due`` locks the due jobs with ``FOR NO KEY UPDATE SKIP LOCKED``, so concurrent claimers
  get disjoint jobs; the planner runs on the locked rows and the plan (advance the jobs, insert the
  runs ``ON CONFLICT DO NOTHING``, audit) is applied in the same transaction, in a few round trips
  whatever the batch size (``unnest`` of column arrays). ``start_queued`` locks queued runs the
  same way. Both check the lease row (``FOR SHARE``, so a takeover waits for them to commit);
- ``finish_runs`` finishes a run only if it is still in ``item.expected`` status (fencing); it
  locks the jobs it touches in id order first (no deadlock between concurrent finishers) and
  writes a whole batch in a few statements, with the outcome of finishing the items one by one;
- every transaction that wrote bumps the ``store_version`` counter as its last statement (so the
  row lock is held only while it commits) and sends ``NOTIFY symbi_store`` (delivered at commit):
  ``data_version()`` reads the counter, ``watch()`` LISTENs on a dedicated connection. Correctness
  never depends on the notifications; they only wake the scheduler sooner.

Text is kept as SQLite keeps it (JSON as text, instants as ``timestamptz``), except that PostgreSQL
text cannot hold NUL characters: they are stored as U+FFFD in free text (agent output and the like).
"""

from __future__ import annotations

__all__ = ["NOTIFY_CHANNEL", "NodeInfo", "PostgresJobStore"]

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ...errors import ConflictError, StoreError, ValidationError
from ...liveness import process_alive
from ...model import (
    AgentContext,
    AuditEvent,
    HeartbeatIteration,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
    RunTrigger,
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
from .schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger("scheduler_core.store.postgres")  # the name it has always logged under

T = TypeVar("T")
NOTIFY_CHANNEL = "symbi_store"
#: pg_advisory_xact_lock key serialising migrations between nodes starting together
_MIGRATION_LOCK = 0x73796D6269  # "symbi"

#: a node's columns, and the machine it runs on
_NODE_COLUMNS = NODE_COLUMNS + ", machine"


# --- conversions --------------------------------------------------------------------------------


def _t(value: str | None) -> str | None:
    """Free text as PostgreSQL can hold it: NUL characters become U+FFFD."""
    if value is not None and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def _nul(*values: object) -> bool:
    """Whether a look-up key holds a NUL: nothing stored does, and PostgreSQL refuses it."""
    return any(isinstance(v, str) and "\x00" in v for v in values)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _same(value: Any) -> Any:
    return value


#: placeholders ``$1``, ``$2``...; instants as ``timestamptz`` (asyncpg reads them aware); free
#: text without NUL characters
_DIALECT = Dialect("$", _same, _utc, _t)


def _job(row: Sequence[Any]) -> JobDefinition:
    return job_from_row(row, _same)


def _run(row: Sequence[Any]) -> JobRun:
    return run_from_row(row, _same)


def _run_params(run: JobRun) -> tuple[Any, ...]:
    return run_params(run, _utc, _t)


_RUN_INSERT_COLUMNS = (
    "id, job_id, job_name, agent_id, trigger, scheduled_for, due_at, started_at, finished_at, "
    "status, attempt, input, output, error_message, summary, execution_time_ms, details, owner"
)
_INSERT_RUN = (
    f"INSERT INTO runs ({_RUN_INSERT_COLUMNS}) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)"
)
#: a batch of runs from column arrays; an instant already recorded is skipped, never fired twice
_INSERT_RUNS_ONCE = (
    f"INSERT INTO runs ({_RUN_INSERT_COLUMNS}) "
    "SELECT u.*, $18::text FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
    "$5::text[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], "
    "$10::text[], $11::int[], $12::text[], $13::text[], $14::text[], $15::text[], $16::bigint[], "
    "$17::text[]) AS u ON CONFLICT DO NOTHING RETURNING id"
)
_UPDATE_RUN = (
    "UPDATE runs SET due_at=$1, started_at=$2, finished_at=$3, status=$4, output=$5, "
    "error_message=$6, summary=$7, execution_time_ms=$8, details=$9 WHERE id=$10"
)


def _update_run_params(run: JobRun) -> tuple[Any, ...]:
    return run_update_params(run, _utc, _t)


def _job_params(job: JobDefinition) -> tuple[Any, ...]:
    return job_params(job, _utc, _t)


_INSERT_JOB = (
    "INSERT INTO jobs (id, name, agent, status, schedule, timezone, definition, next_run_at, "
    "last_run_at, last_run_status, last_error, run_count, failure_count, created_at, "
    "updated_at, source) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)"
)
_UPDATE_JOB_DEFINITION = (
    "UPDATE jobs SET name=$1, agent=$2, status=$3, schedule=$4, timezone=$5, definition=$6, "
    "next_run_at=$7, failure_count=$8, last_error=$9, updated_at=$10, source=$11 WHERE id=$12"
)
#: insert a job, or rewrite an existing one's definition keeping its run state
_UPSERT_JOB = (
    _INSERT_JOB + " ON CONFLICT (id) DO UPDATE SET name=EXCLUDED.name, agent=EXCLUDED.agent, "
    "status=EXCLUDED.status, schedule=EXCLUDED.schedule, timezone=EXCLUDED.timezone, "
    "definition=EXCLUDED.definition, next_run_at=EXCLUDED.next_run_at, "
    "failure_count=EXCLUDED.failure_count, last_error=EXCLUDED.last_error, "
    "updated_at=EXCLUDED.updated_at, source=EXCLUDED.source"
)


def _update_job_params(job: JobDefinition) -> tuple[Any, ...]:
    return job_definition_params(job, _utc, _t)


def _audit_params(e: AuditEvent) -> tuple[Any, ...]:
    return audit_params(e, _utc, _t)


_INSERT_AUDIT = (
    "INSERT INTO audit_events (at, type, actor, job_id, run_id, details) "
    "SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], "
    "$6::text[])"
)
_BUMP = (
    "WITH v AS (UPDATE store_version SET version = version + 1 WHERE id = 1 RETURNING version) "
    f"SELECT pg_notify('{NOTIFY_CHANNEL}', $1) FROM v"
)


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as column lists (``unnest`` parameters)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(c) for c in zip(*rows, strict=True)]


def _affected(status: str) -> int:
    """The row count of a command tag ("UPDATE 3", "INSERT 0 1", "DELETE 0")."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class _Tx:
    """A connection inside a transaction that remembers whether it wrote anything."""

    __slots__ = ("conn", "dirty")

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.dirty = False

    async def execute(self, sql: str, *args: Any) -> int:
        n = _affected(await self.conn.execute(sql, *args))
        if n:
            self.dirty = True
        return n

    async def executemany(self, sql: str, args: Sequence[Sequence[Any]]) -> None:
        if args:
            await self.conn.executemany(sql, args)
            self.dirty = True

    async def fetch_written(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """A statement with RETURNING: it wrote if it returned rows."""
        rows: list[asyncpg.Record] = await self.conn.fetch(sql, *args)
        if rows:
            self.dirty = True
        return rows

    async def audit(self, events: Sequence[AuditEvent]) -> None:
        if events:
            await self.conn.execute(_INSERT_AUDIT, *_columns([_audit_params(e) for e in events], 6))
            self.dirty = True


async def _save_contexts(tx: _Tx, contexts: Sequence[AgentContext]) -> None:
    """Save contexts of distinct jobs in one statement."""
    encoded = [encode_memory(c) for c in contexts]
    await tx.execute(
        "INSERT INTO agent_contexts (job_id, mode, summary, memory, size, updated_at) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], "
        "$6::timestamptz[]) ON CONFLICT (job_id) DO UPDATE SET mode=EXCLUDED.mode, "
        "summary=EXCLUDED.summary, memory=EXCLUDED.memory, size=EXCLUDED.size, "
        "updated_at=EXCLUDED.updated_at",
        [c.job_id for c in contexts],
        [c.mode.value for c in contexts],
        [_t(c.previous_summary) for c in contexts],
        [_t(e) for e in encoded],
        [len(e) for e in encoded],
        [_utc(c.updated_at) or datetime.now(UTC) for c in contexts],
    )


@dataclass(slots=True)
class _FinishAcc:
    """What a finish_runs transaction gathers before writing it in bulk."""

    plans: list[FinishPlan | None] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)
    retries: list[JobRun] = field(default_factory=list)
    audits: list[AuditEvent] = field(default_factory=list)
    tally: RunTally = field(default_factory=RunTally)


def _unique_runs(items: Sequence[FinishItem]) -> list[list[FinishItem]]:
    """Consecutive chunks in which no run appears twice (a repeat starts a new chunk)."""
    chunks: list[list[FinishItem]] = [[]]
    seen: set[str] = set()
    for item in items:
        if item.run.id in seen:
            chunks.append([])
            seen = set()
        seen.add(item.run.id)
        chunks[-1].append(item)
    return [c for c in chunks if c]


async def _decide(tx: _Tx, run_id: str, decision: ApprovalDecision) -> None:
    await tx.execute(
        "UPDATE approvals SET decision = $1, decided_by = $2, decided_at = $3, reason = $4 "
        "WHERE run_id = $5 AND decision IS NULL",
        decision.decision,
        _t(decision.decided_by),
        _utc(decision.decided_at),
        _t(decision.reason),
        run_id,
    )


async def _holds_lease(conn: asyncpg.Connection, owner: str, now: datetime) -> bool:
    """Whether ``owner`` may fire: its node row is live and not a standby's. FOR SHARE: a node
    renewing or expiring this row waits until this transaction commits."""
    row = await conn.fetchrow(
        "SELECT expires_at, role FROM nodes WHERE owner = $1 FOR SHARE", owner
    )
    return row is not None and row[0] > now and row[1] != "standby"


async def _others_running(
    conn: asyncpg.Connection, job_ids: Sequence[str], owner: str
) -> dict[str, int]:
    """Runs of these (locked) jobs that other nodes have running: with the claimer's own count,
    what each job's max_concurrent holds across nodes."""
    rows = await conn.fetch(
        "SELECT job_id, count(*) FROM runs WHERE job_id = ANY($1::text[]) AND status = 'running' "
        "AND owner IS DISTINCT FROM $2 GROUP BY job_id",
        list(set(job_ids)),
        owner,
    )
    return {r[0]: r[1] for r in rows}


async def _write_node(
    conn: asyncpg.Connection,
    owner: str,
    role: str,
    now: datetime,
    ttl: float,
    api_address: str | None,
) -> NodeInfo:
    """Announce or renew ``owner``; a node whose row had expired (or changed role) starts afresh."""
    pid, host, machine = this_process()
    await conn.execute("DELETE FROM nodes WHERE expires_at < $1", now - NODE_MEMORY)
    row = await conn.fetchrow(
        "INSERT INTO nodes (owner, host, pid, machine, api_address, role, started_at, heartbeat, "
        "expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$7,$8) ON CONFLICT (owner) DO UPDATE SET "
        "host=EXCLUDED.host, pid=EXCLUDED.pid, machine=EXCLUDED.machine, "
        "api_address=EXCLUDED.api_address, role=EXCLUDED.role, heartbeat=EXCLUDED.heartbeat, "
        "expires_at=EXCLUDED.expires_at, started_at = CASE WHEN nodes.expires_at > "
        "EXCLUDED.heartbeat AND nodes.role = EXCLUDED.role THEN nodes.started_at "
        f"ELSE EXCLUDED.started_at END RETURNING {_NODE_COLUMNS}",
        owner,
        host,
        pid,
        machine,
        api_address,
        role,
        now,
        now + timedelta(seconds=ttl),
    )
    return _node(row)


def _lease(row: Sequence[Any]) -> LeaseInfo:
    return lease_from_row(row, _same)


def _node(row: Sequence[Any]) -> NodeInfo:
    return node_from_row(row, _same, row[9] if len(row) > 9 else 0)


def _redact(url: str) -> str:
    """The URL without its password (for logs and the console)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


class PostgresJobStore(StoreBase):
    """The store for several nodes. ``url`` is a ``postgresql://`` (or ``postgres://``) URL.

    ``url`` keeps the address without its password (it is shown in logs and the console).
    """

    shared = True  #: every node fires: claims are split by row locks, fenced by each node's row
    _dialect = _DIALECT

    def __init__(self, url: str, *, min_pool: int = 1, max_pool: int = 10) -> None:
        self._dsn = url
        self.url = _redact(url)
        self._min_pool = min_pool
        self._max_pool = max_pool
        self._pool: asyncpg.Pool | None = None
        self._instance = uuid.uuid4().hex  #: our NOTIFY payload: our own writes need no wake-up
        self._listen_task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None
        self._listening: asyncio.Event | None = None
        #: one write transaction at a time per store object, as with SQLite's single writer: the
        #: scheduler's transactions never interleave with each other (no lock waits, no skipped
        #: rows, no deadlocks within a node); other nodes' transactions are the database's to order
        self._write_lock = asyncio.Lock()

    # --- lifecycle ------------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=self._min_pool, max_size=self._max_pool
            )
            async with self._pool.acquire() as conn:
                await self._migrate(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self.close()
            raise StoreError(f"cannot open the store at {self.url}: {exc}") from exc
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        self.unwatch()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 10)
            except (TimeoutError, asyncpg.PostgresError, OSError):
                pool.terminate()

    @staticmethod
    async def _schema_version(conn: asyncpg.Connection) -> int | None:
        if await conn.fetchval("SELECT to_regclass('schema_version') IS NULL"):
            return None
        version = await conn.fetchval("SELECT version FROM schema_version WHERE id = 1")
        return int(version) if version is not None else None

    async def _migrate(self, conn: asyncpg.Connection) -> None:
        version = await self._schema_version(conn)
        if version == SCHEMA_VERSION:
            return
        async with conn.transaction():
            # nodes starting together: one migrates, the others wait here and find it done
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL)"
            )
            await conn.execute("INSERT INTO schema_version VALUES (1, 0) ON CONFLICT DO NOTHING")
            version = await conn.fetchval("SELECT version FROM schema_version WHERE id = 1")
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the store's schema version {version} is newer than this program's "
                    f"({SCHEMA_VERSION}); upgrade symbi-tui"
                )
            for number in range(version, SCHEMA_VERSION):
                await conn.execute(MIGRATIONS[number])
                await conn.execute(
                    "UPDATE schema_version SET version = $1 WHERE id = 1", number + 1
                )

    def _cannot_hold(self, *keys: object) -> bool:
        return _nul(*keys)

    def _need_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise StoreError("the store is not open")
        return self._pool

    async def _tx(self, fn: Callable[[_Tx], Awaitable[T]]) -> T:
        """Run ``fn`` in one transaction; if it wrote, bump the version and notify, last."""
        try:
            async with self._write_lock, self._need_pool().acquire() as conn:
                tx = _Tx(conn)
                async with conn.transaction():
                    result = await fn(tx)
                    if tx.dirty:
                        await conn.execute(_BUMP, self._instance)
                return result
        except asyncpg.CharacterNotInRepertoireError as exc:
            raise ValidationError(f"the store cannot hold this text: {exc}") from None

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[asyncpg.Record]:
        try:
            rows: list[asyncpg.Record] = await self._need_pool().fetch(sql, *params)
            return rows
        except asyncpg.CharacterNotInRepertoireError as exc:
            raise ValidationError(f"the store cannot hold this text: {exc}") from None

    # --- change notification --------------------------------------------------------------------
    # Every write transaction sends NOTIFY symbi_store with this store object's id as payload; a
    # watching store LISTENs on its own connection (not the pool's) and calls back for the others'.

    def watch(self, callback: Callable[[], None]) -> bool:
        """Call ``callback`` on the event loop whenever another store object commits a write.

        Listening starts in the background (``wait_watching`` awaits it); once it has started, the
        callback is called once, for writes that may have landed meanwhile. A lost connection is
        re-established with backoff, again followed by one call.
        """
        self.unwatch()
        if self._pool is None:
            return False
        self._listening = asyncio.Event()
        self._listen_task = asyncio.get_running_loop().create_task(
            self._listen(callback, self._listening), name="symbi-store-listen"
        )
        return True

    async def wait_watching(self) -> bool:
        """Wait until ``watch`` is listening (False if not watching); bound it with a timeout."""
        if self._listening is None:
            return False
        await self._listening.wait()
        return True

    async def _listen(self, callback: Callable[[], None], ready: asyncio.Event) -> None:
        def on_notify(conn: object, pid: int, channel: str, payload: str) -> None:
            if payload != self._instance:
                callback()

        delay = 0.5
        conn: asyncpg.Connection | None = None
        try:
            while True:
                try:
                    conn = await asyncpg.connect(self._dsn)
                    lost = asyncio.Event()
                    conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                    await conn.add_listener(NOTIFY_CHANNEL, on_notify)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    if conn is not None:
                        conn.terminate()
                        conn = None
                    log.warning(
                        "cannot listen for store changes (%s); retrying in %.1fs", exc, delay
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                self._listener = conn
                delay = 0.5
                ready.set()
                callback()  # whatever was written before LISTEN took effect
                await lost.wait()
                self._listener = conn = None
                log.warning("lost the store's change notifications; reconnecting")
        finally:
            if conn is not None and not conn.is_closed():
                conn.terminate()

    def unwatch(self) -> None:
        task, self._listen_task = self._listen_task, None
        conn, self._listener = self._listener, None
        self._listening = None
        if task is not None:
            task.cancel()
        if conn is not None and not conn.is_closed():
            conn.terminate()

    # --- jobs -------------------------------------------------------------------------------------

    async def insert_jobs(self, jobs: Sequence[JobDefinition], audit: Sequence[AuditEvent]) -> None:
        async def tx(t: _Tx) -> None:
            await t.executemany(_INSERT_JOB, [_job_params(j) for j in jobs])
            await t.audit(audit)

        try:
            await self._tx(tx)
        except asyncpg.UniqueViolationError as exc:
            names = [j.name for j in jobs]
            rows = await self._fetchall(
                "SELECT name FROM jobs WHERE name = ANY($1::text[])", (names,)
            )
            raise name_conflict([r[0] for r in rows], names, exc) from None

    async def upsert_jobs(self, jobs: Sequence[JobDefinition], audit: Sequence[AuditEvent]) -> None:
        """Insert new jobs and rewrite existing ones (matched by id) keeping their run state."""

        async def tx(t: _Tx) -> None:
            await t.executemany(_UPSERT_JOB, [_job_params(j) for j in jobs])
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
        async def tx(t: _Tx) -> None:
            try:
                n = await t.execute(_UPDATE_JOB_DEFINITION, *_update_job_params(job))
            except asyncpg.UniqueViolationError:
                raise ConflictError(f"a job named {job.name!r} already exists") from None
            if n == 0:
                raise ConflictError(f"job {job.id} was removed meanwhile")
            await t.audit(audit)

        await self._tx(tx)

    async def delete_job(self, job_id: str, audit: Sequence[AuditEvent]) -> bool:
        if _nul(job_id):
            return False

        async def tx(t: _Tx) -> bool:
            n = await t.execute("DELETE FROM jobs WHERE id = $1", job_id)
            if n:
                await t.audit(audit)
            return bool(n)

        return await self._tx(tx)

    async def find_jobs(self, ref: str, limit: int = 5) -> list[JobDefinition]:
        """Jobs whose id is ``ref``, starts with it, or whose name is ``ref``."""
        if _nul(ref):
            return []
        rows = await self._fetchall(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 OR name = $1 "
            f"UNION SELECT {JOB_COLUMNS} FROM jobs WHERE id >= $1 AND id < $1 || 'g' "
            "LIMIT $2",
            (job_ref(ref), limit),
        )
        return [_job(r) for r in rows]

    async def prepare_text_search(self) -> None:
        """Nothing to prepare: PostgreSQL filters in the query."""

    async def list_jobs(self, query: JobQuery) -> JobPage:
        if _nul(query.agent, query.text):
            return JobPage(jobs=[], total=0)
        p = Params("$")
        where = job_filters(p, query)
        if query.text:
            n = p(query.text.lower())
            where.append(f"(strpos(lower(name), {n}) > 0 OR strpos(lower(agent), {n}) > 0)")
        clause = where_clause(where)
        params = list(p.values)  #: the filters' (the count's)
        page = f"LIMIT {p(query.limit)} OFFSET {p(query.offset)}"
        column = JOB_ORDERS.get(query.order, "name")
        direction = "DESC" if query.descending else "ASC"
        nulls = "IS NULL" if not query.descending else "IS NOT NULL"
        order = f"{column} {nulls}, {column} {direction}, name {direction}"
        async with (
            self._need_pool().acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            total = await conn.fetchval(f"SELECT count(*) FROM jobs {clause}", *params)
            rows = await conn.fetch(
                f"SELECT {JOB_COLUMNS} FROM jobs {clause} ORDER BY {order} {page}", *p.values
            )
        return JobPage(jobs=[_job(r) for r in rows], total=total)

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
            (_utc(now),),
        )
        job, run, approval = rows[0]
        if job is not None and ahead:
            job = job - timedelta(seconds=ahead)
        candidates = [v for v in (job, run, approval) if v is not None]
        return min(candidates) if candidates else None

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
        transaction; None if this owner does not hold the lease.

        Jobs another transaction has locked (another claimer, a finishing run) are skipped, not
        waited for: they are claimed on a later pass.
        """
        now = _utc(now) or now
        horizon = _utc(until) if until is not None else now

        async def tx(t: _Tx) -> list[ClaimPlan] | None:
            if not await _holds_lease(t.conn, owner, now):
                return None
            rows = await t.conn.fetch(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'active' AND next_run_at <= $1 "
                "ORDER BY next_run_at LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED",
                horizon,
                limit,
            )
            if not rows:
                return []
            others = await _others_running(t.conn, [r[0] for r in rows], owner)
            plans = planner([_job(r) for r in rows], others)
            if plans:
                await t.execute(
                    "UPDATE jobs SET next_run_at = v.next_run_at, status = v.status "
                    "FROM unnest($1::text[], $2::timestamptz[], $3::text[]) "
                    "AS v(id, next_run_at, status) WHERE jobs.id = v.id",
                    [p.job.id for p in plans],
                    [_utc(p.next_run_at) for p in plans],
                    [(p.status or p.job.status).value for p in plans],
                )
            runs = [p.run for p in plans if p.run is not None]
            if runs:
                inserted = await t.fetch_written(
                    _INSERT_RUNS_ONCE, *_columns([_run_params(r) for r in runs], 17), owner
                )
                if len(inserted) != len(runs):
                    # some instant was fired already (never twice): keep only the runs inserted now
                    plans = recorded_claims(plans, {r[0] for r in inserted})
            await t.audit([e for p in plans for e in p.audit])
            return list(plans)

        return await self._tx(tx)

    async def start_queued(
        self, now: datetime, limit: int, owner: str, planner: StartPlanner
    ) -> list[StartPlan] | None:
        now = _utc(now) or now

        async def tx(t: _Tx) -> list[StartPlan] | None:
            if not await _holds_lease(t.conn, owner, now):
                return None
            rows = await t.conn.fetch(
                f"SELECT {R_RUN_COLUMNS}, {J_JOB_COLUMNS} "
                "FROM runs r JOIN jobs j ON j.id = r.job_id "
                "WHERE r.status = 'queued' AND r.due_at <= $1 ORDER BY r.due_at LIMIT $2 "
                # the job too: its runs start one transaction at a time across nodes
                "FOR NO KEY UPDATE OF r, j SKIP LOCKED",
                now,
                limit,
            )
            if not rows:
                return []
            pairs = [run_and_job_from_row(r, _same) for r in rows]
            others = await _others_running(t.conn, [run.job_id for run, _ in pairs], owner)
            plans = planner(pairs, others)
            cancels = [p for p in plans if p.cancel_reason is not None]
            starts = [p for p in plans if p.cancel_reason is None and p.start]
            done: set[str] = set()
            if cancels:
                rows = await t.fetch_written(
                    "UPDATE runs SET status = 'cancelled', finished_at = $1, "
                    "error_message = v.reason FROM unnest($2::text[], $3::text[]) AS v(id, reason) "
                    "WHERE runs.id = v.id AND runs.status = 'queued' RETURNING runs.id",
                    now,
                    [p.run.id for p in cancels],
                    [_t(p.cancel_reason) for p in cancels],
                )
                done.update(r[0] for r in rows)
            if starts:
                rows = await t.fetch_written(
                    "UPDATE runs SET status = v.status, started_at = v.started_at, owner = $1 "
                    "FROM unnest($2::text[], $3::text[], $4::timestamptz[]) "
                    "AS v(id, status, started_at) "
                    "WHERE runs.id = v.id AND runs.status = 'queued' RETURNING runs.id",
                    owner,
                    [p.run.id for p in starts],
                    [p.run.status.value for p in starts],
                    [_utc(p.run.started_at) for p in starts],
                )
                done.update(r[0] for r in rows)
            return [
                p for p in plans if (p.cancel_reason is not None or p.start) and p.run.id in done
            ]

        return await self._tx(tx)

    async def finish_runs(
        self, items: Sequence[FinishItem], planner: FinishPlanner
    ) -> list[FinishPlan | None]:
        """Finish runs and apply their consequences to their jobs, in one transaction.

        The same outcome as finishing the items one after another (each planner call sees the job
        as the previous items left it), in a handful of round trips per batch: the runs are
        finished with one fenced UPDATE, the planner runs on the locked job rows kept up to date
        in memory, and the jobs, retries, audit and stats are written with one statement each.
        """

        async def tx(t: _Tx) -> list[FinishPlan | None]:
            # lock the jobs in one order first: concurrent finishers cannot deadlock
            rows = await t.conn.fetch(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ANY($1::text[]) "
                "ORDER BY id FOR NO KEY UPDATE",
                sorted({item.run.job_id for item in items}),
            )
            jobs = {r[0]: _job(r) for r in rows}
            acc = _FinishAcc()
            for chunk in _unique_runs(items):
                await self._finish_chunk(t, chunk, planner, jobs, acc)
            if acc.changed:
                changed = [jobs[job_id] for job_id in sorted(acc.changed)]
                await t.execute(
                    "UPDATE jobs SET status = v.status, failure_count = v.failure_count, "
                    "last_error = v.last_error, last_run_at = v.last_run_at, "
                    "last_run_status = v.last_run_status, run_count = v.run_count "
                    "FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], "
                    "$5::timestamptz[], $6::text[], $7::bigint[]) AS v(id, status, "
                    "failure_count, last_error, last_run_at, last_run_status, run_count) "
                    "WHERE jobs.id = v.id",
                    [j.id for j in changed],
                    [j.status.value for j in changed],
                    [j.failure_count for j in changed],
                    [j.last_error for j in changed],
                    [j.last_run_at for j in changed],
                    [j.last_run_status.value if j.last_run_status else None for j in changed],
                    [j.run_count for j in changed],
                )
            if acc.retries:
                await t.fetch_written(
                    _INSERT_RUNS_ONCE, *_columns([_run_params(r) for r in acc.retries], 17), None
                )
            await t.audit(acc.audits)
            if acc.tally:
                await t.execute(
                    "UPDATE run_stats SET runs_total = runs_total + $1, "
                    "runs_succeeded = runs_succeeded + $2, runs_failed = runs_failed + $3, "
                    "execution_ms_total = execution_ms_total + $4, "
                    "executions = executions + $5 WHERE id = 1",
                    *acc.tally.values(),
                )
            return acc.plans

        return await self._tx(tx)

    @staticmethod
    async def _finish_chunk(
        t: _Tx,
        items: Sequence[FinishItem],
        planner: FinishPlanner,
        jobs: dict[str, JobDefinition],
        acc: _FinishAcc,
    ) -> None:
        """Finish runs with distinct ids; ``jobs`` (locked) is kept as the database holds them."""
        # only a run still recorded as expected can finish: if its job was removed, or a scheduler
        # that took over the lease already marked it interrupted (and retried it), this late
        # result must not overwrite that decision
        params = [(*_update_run_params(i.run), i.expected.value) for i in items]
        finished = {
            r[0]
            for r in await t.fetch_written(
                "UPDATE runs SET due_at = v.due_at, started_at = v.started_at, "
                "finished_at = v.finished_at, status = v.status, output = v.output, "
                "error_message = v.error_message, summary = v.summary, "
                "execution_time_ms = v.execution_time_ms, details = v.details "
                "FROM unnest($1::timestamptz[], $2::timestamptz[], $3::timestamptz[], "
                "$4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], "
                "$10::text[], $11::text[]) AS v(due_at, started_at, finished_at, status, output, "
                "error_message, summary, execution_time_ms, details, id, expected) "
                "WHERE runs.id = v.id AND runs.status = v.expected RETURNING runs.id",
                *_columns(params, 11),
            )
        }
        done = [i for i in items if i.run.id in finished]
        decided = [i for i in done if i.approval is not None]
        if decided:
            await t.execute(
                "UPDATE approvals SET decision = v.decision, decided_by = v.decided_by, "
                "decided_at = v.decided_at, reason = v.reason "
                "FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) "
                "AS v(run_id, decision, decided_by, decided_at, reason) "
                "WHERE approvals.run_id = v.run_id AND approvals.decision IS NULL",
                [i.run.id for i in decided],
                [i.approval.decision for i in decided if i.approval],
                [_t(i.approval.decided_by) for i in decided if i.approval],
                [_utc(i.approval.decided_at) for i in decided if i.approval],
                [_t(i.approval.reason) for i in decided if i.approval],
            )
        contexts = {i.context.job_id: i.context for i in done if i.context is not None}
        if contexts:  # the last one per job wins, as if saved one after another
            await _save_contexts(t, list(contexts.values()))
        for item in items:
            run = item.run
            if run.id not in finished:
                acc.plans.append(None)
                continue
            current = jobs.get(run.job_id)
            plan = planner(item, current)
            acc.plans.append(plan)
            if plan is None or current is None:
                continue
            jobs[run.job_id] = JobOutcome.of(current, run, plan).applied(current, _t, _utc)
            acc.changed.add(run.job_id)
            if plan.retry is not None:
                acc.retries.append(plan.retry)
            acc.audits.extend(plan.audit)
            acc.tally.add(run, plan.count_run)

    async def insert_run(self, run: JobRun, audit: Sequence[AuditEvent]) -> None:
        """Record a run (a manual one, typically); a duplicate id or instant is a ConflictError."""

        async def tx(t: _Tx) -> None:
            await t.execute(_INSERT_RUN, *_run_params(run), None)
            await t.audit(audit)

        try:
            await self._tx(tx)
        except asyncpg.UniqueViolationError:
            raise ConflictError(
                f"run {run.id} of job {run.job_id} for {run.scheduled_for.isoformat()} "
                f"(attempt {run.attempt}) is already recorded"
            ) from None

    async def update_run(
        self,
        run: JobRun,
        *,
        expected: RunStatus | None = None,
        audit: Sequence[AuditEvent] = (),
    ) -> bool:
        """Rewrite a run; with ``expected``, only if it is still in that status."""

        async def tx(t: _Tx) -> bool:
            if expected is not None:
                n = await t.execute(
                    _UPDATE_RUN + " AND status = $11", *_update_run_params(run), expected.value
                )
            else:
                n = await t.execute(_UPDATE_RUN, *_update_run_params(run))
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
        return {run.job_id: run for run in map(_run, rows)}

    # --- approvals ------------------------------------------------------------------------------

    async def park_run(
        self,
        run: JobRun,
        *,
        expires_at: datetime | None,
        approvers: Sequence[str],
        audit: Sequence[AuditEvent] = (),
    ) -> bool:
        async def tx(t: _Tx) -> bool:
            n = await t.execute(_UPDATE_RUN + " AND status = 'running'", *_update_run_params(run))
            if n == 0:
                return False
            await t.execute(
                "INSERT INTO approvals (run_id, job_id, requested_at, expires_at, approvers) "
                "VALUES ($1,$2,$3,$4,$5) ON CONFLICT (run_id) DO UPDATE SET "
                "job_id=EXCLUDED.job_id, requested_at=EXCLUDED.requested_at, "
                "expires_at=EXCLUDED.expires_at, approvers=EXCLUDED.approvers, decision=NULL, "
                "decided_by=NULL, decided_at=NULL, reason=NULL",
                run.id,
                run.job_id,
                _utc(run.started_at or run.scheduled_for),
                _utc(expires_at),
                _t(json.dumps(list(approvers))),
            )
            await t.audit(audit)
            return True

        return await self._tx(tx)

    async def approve_run(
        self, run: JobRun, decision: ApprovalDecision, audit: Sequence[AuditEvent] = ()
    ) -> bool:
        async def tx(t: _Tx) -> bool:
            n = await t.execute(
                _UPDATE_RUN + " AND status = 'awaiting_approval'", *_update_run_params(run)
            )
            if n == 0:
                return False
            await _decide(t, run.id, decision)
            await t.audit(audit)
            return True

        return await self._tx(tx)

    async def run_stats(self) -> RunStats:
        async with (
            self._need_pool().acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            row = await conn.fetchrow(
                "SELECT runs_total, runs_succeeded, runs_failed, execution_ms_total, executions "
                "FROM run_stats WHERE id = 1"
            )
            open_rows = await conn.fetch(
                "SELECT status, count(*) FROM runs "
                "WHERE status IN ('queued', 'running', 'awaiting_approval') GROUP BY status"
            )
        return run_stats_from_rows(row, open_rows)

    # --- heartbeat, contexts, audit ---------------------------------------------------------------

    async def record_iteration(self, iteration: HeartbeatIteration) -> None:
        it = iteration

        async def tx(t: _Tx) -> None:
            await t.execute(
                "INSERT INTO heartbeat_iterations (run_id, idx, started_at, finished_at, outcome, "
                "assessment, action, summary, output_excerpt) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) "
                "ON CONFLICT (run_id, idx) DO UPDATE SET started_at=EXCLUDED.started_at, "
                "finished_at=EXCLUDED.finished_at, outcome=EXCLUDED.outcome, "
                "assessment=EXCLUDED.assessment, action=EXCLUDED.action, "
                "summary=EXCLUDED.summary, output_excerpt=EXCLUDED.output_excerpt",
                it.run_id,
                it.index,
                _utc(it.started_at),
                _utc(it.finished_at),
                _t(it.outcome),
                _t(it.assessment),
                _t(it.action),
                _t(it.summary),
                _t(it.output_excerpt),
            )

        await self._tx(tx)

    async def load_contexts(self, job_ids: Sequence[str]) -> dict[str, AgentContext]:
        keys = [k for k in job_ids if not _nul(k)]
        if not keys:
            return {}
        rows = await self._fetchall(
            "SELECT job_id, mode, summary, memory, updated_at FROM agent_contexts "
            "WHERE job_id = ANY($1::text[])",
            (keys,),
        )
        return {row[0]: context_from_row(row, _same) for row in rows}

    async def save_context(self, context: AgentContext, max_bytes: int) -> None:
        """Persist a context, dropping its oldest memory entries beyond ``max_bytes``."""
        capped = cap_context(context, max_bytes)
        await self._tx(lambda t: _save_contexts(t, [capped]))

    async def record_audit(self, events: Sequence[AuditEvent]) -> None:
        await self._tx(lambda t: t.audit(events))

    # --- lease ------------------------------------------------------------------------------------

    async def acquire_lease(
        self, owner: str, *, now: datetime, ttl: float, api_address: str | None = None
    ) -> LeaseInfo:
        """Take or renew the lease if it is free, expired or ours; return whoever holds it.

        Renewing does not count as a change of the store (no version bump, no notification);
        taking it over does.
        """
        now = _utc(now) or now
        expires = now + timedelta(seconds=ttl)
        pid, host, machine = this_process()
        mine = (owner, pid, host, api_address)

        async def tx(t: _Tx) -> LeaseInfo:
            for _ in range(5):
                row = await t.conn.fetchrow(
                    f"SELECT {LEASE_COLUMNS} FROM lease WHERE name = $1 FOR UPDATE", LEASE_NAME
                )
                if row is None:
                    row = await t.conn.fetchrow(
                        "INSERT INTO lease (name, owner, pid, host, api_address, acquired_at, "
                        "renewed_at, expires_at, machine) VALUES ($1,$2,$3,$4,$5,$6,$6,$7,$8) "
                        f"ON CONFLICT (name) DO NOTHING RETURNING {LEASE_COLUMNS}",
                        LEASE_NAME,
                        *mine,
                        now,
                        expires,
                        machine,
                    )
                    if row is None:
                        continue  # another node inserted it meanwhile: read theirs
                    t.dirty = True
                    await _write_node(t.conn, owner, "leader", now, ttl, api_address)
                    return _lease(row)
                current = _lease(row)
                if held_by_another(current, owner, now):
                    await _write_node(t.conn, owner, "standby", now, ttl, api_address)
                    return current
                await _write_node(t.conn, owner, "leader", now, ttl, api_address)
                acquired = tenure(current, owner, now)
                if current.owner != owner:
                    t.dirty = True
                row = await t.conn.fetchrow(
                    "UPDATE lease SET owner=$2, pid=$3, host=$4, api_address=$5, acquired_at=$6, "
                    f"renewed_at=$7, expires_at=$8, machine=$9 WHERE name = $1 "
                    f"RETURNING {LEASE_COLUMNS}",
                    LEASE_NAME,
                    *mine,
                    acquired,
                    now,
                    expires,
                    machine,
                )
                return _lease(row)
            raise StoreError("the lease row kept changing; try again")

        return await self._tx(tx)

    async def release_lease(self, owner: str) -> None:
        async def tx(t: _Tx) -> None:
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
            return _lease(rows[0])
        rows = await self._fetchall(
            f"SELECT {_NODE_COLUMNS} FROM nodes WHERE role = 'active' "
            "ORDER BY api_address IS NULL, expires_at DESC LIMIT 1"
        )
        if not rows:
            return None
        return _node(rows[0]).as_lease()

    # --- nodes ------------------------------------------------------------------------------------
    # Every node announces itself in ``nodes``, renewing its row like a lease: its claims are
    # fenced by that row (``_holds_lease``), and the runs it holds (``runs.owner``) are recovered
    # by the others once the row expires.

    async def register_node(
        self,
        owner: str,
        *,
        now: datetime,
        ttl: float,
        api_address: str | None = None,
        role: str = "active",
    ) -> NodeInfo:
        now = _utc(now) or now
        return await self._tx(lambda t: _write_node(t.conn, owner, role, now, ttl, api_address))

    async def unregister_node(self, owner: str) -> None:
        await self._tx(lambda t: t.execute("DELETE FROM nodes WHERE owner = $1", owner))

    async def list_nodes(self, now: datetime) -> list[NodeInfo]:
        rows = await self._fetchall(
            f"SELECT {_NODE_COLUMNS}, (SELECT count(*) FROM runs WHERE runs.status = 'running' "
            "AND runs.owner = nodes.owner) FROM nodes WHERE expires_at > $1 "
            "ORDER BY started_at, owner",
            (_utc(now),),
        )
        return [_node(r) for r in rows]

    async def orphaned_runs(self, now: datetime, owner: str, limit: int = 500) -> list[Orphan]:
        """Runs recorded running whose node is gone: its row expired (or was removed), or it ran
        on this machine and its process no longer exists."""
        now = _utc(now) or now
        nodes = await self._fetchall(
            "SELECT owner, pid, host, machine FROM nodes WHERE expires_at > $1 AND role <> "
            "'standby'",
            (now,),
        )
        dead = [r[0] for r in nodes if not process_alive(r[1], r[2], r[3])]
        rows = await self._fetchall(
            f"SELECT {R_RUN_COLUMNS}, n.heartbeat "
            "FROM runs r LEFT JOIN nodes n ON n.owner = r.owner "
            "WHERE r.status = 'running' AND r.owner IS DISTINCT FROM $1 AND (n.owner IS NULL "
            "OR n.expires_at <= $2 OR n.role = 'standby' OR r.owner = ANY($3::text[])) "
            "ORDER BY r.seq LIMIT $4",
            (owner, now, dead, limit),
        )
        return [orphan_from_row(r, _same) for r in rows]

    # --- misc -------------------------------------------------------------------------------------

    async def data_version(self) -> int:
        """A counter every write transaction bumps as it commits (any node's, ours included)."""
        version = await self._need_pool().fetchval("SELECT version FROM store_version WHERE id = 1")
        return int(version)

    async def integrity_check(self) -> str:
        """ "ok", or the problems found: schema, invalid indexes or constraints, bad values."""
        problems: list[str] = []
        async with (
            self._need_pool().acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            if await conn.fetchval("SELECT 1") != 1:
                problems.append("the server does not answer queries")
            version = await self._schema_version(conn)
            if version != SCHEMA_VERSION:
                problems.append(f"schema version {version}, expected {SCHEMA_VERSION}")
                return "; ".join(problems)
            for name in ("run_stats", "store_version"):
                if await conn.fetchval(f"SELECT count(*) FROM {name} WHERE id = 1") != 1:
                    problems.append(f"the {name} row is missing")
            for (index,) in await conn.fetch(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_class t ON t.oid = i.indrelid "
                "WHERE t.relnamespace = current_schema()::regnamespace "
                "AND NOT (i.indisvalid AND i.indisready)"
            ):
                problems.append(f"index {index} is invalid")
            for (constraint,) in await conn.fetch(
                "SELECT conname FROM pg_constraint "
                "WHERE connamespace = current_schema()::regnamespace AND NOT convalidated"
            ):
                problems.append(f"constraint {constraint} is not validated")
            checks = (
                ("jobs", "status", [s.value for s in JobStatus]),
                ("runs", "status", [s.value for s in RunStatus]),
                ("runs", "trigger", [s.value for s in RunTrigger]),
            )
            for table, column, allowed in checks:
                bad = await conn.fetchval(
                    f"SELECT count(*) FROM {table} WHERE NOT {column} = ANY($1::text[])", allowed
                )
                if bad:
                    problems.append(f"{bad} row(s) of {table} have an unknown {column}")
        return "; ".join(problems) or "ok"
