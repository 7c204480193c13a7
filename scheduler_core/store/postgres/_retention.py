"""Retention on PostgreSQL: pruning in batches, and the store's stats.

A batch is one short transaction of its own, beside the store's write transactions rather than
queued behind them (it touches only rows that have ended, which no claim or finish locks) and
without bumping ``store_version``: removing old history is nothing another node must react to.
Runs and iterations are walked in the order of their age index from where the last batch stopped;
audit events and archived context entries, which have no exceptions, go oldest first. The space
deleted rows held is reused once autovacuum has visited the table (the tables pruning deletes from
are tuned to be visited after 2 % of their rows are dead; see ``schema.py``); the files do not
shrink (a ``VACUUM FULL`` would lock the tables for as long as it runs).

Nodes of one database prune one at a time: a pass holds a session advisory lock
(:meth:`PostgresRetention.maintenance`); a node that finds it taken skips its pass.
"""

from __future__ import annotations

__all__ = ["PostgresRetention"]

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from ..retention import PruneBatch, PruneCursor, PruneTarget, StoreStats, TableStats

#: pg_try_advisory_lock key held by the node that prunes
_PRUNE_LOCK = 0x73796D6270  # "symbp"
_OPEN = ["queued", "running", "awaiting_approval"]
_NO_BOUND = 1 << 62
_COUNTED = (
    "jobs",
    "runs",
    "heartbeat_iterations",
    "approvals",
    "agent_contexts",
    "context_archive",
    "audit_events",
)
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)

_RUNS = (
    "SELECT r.seq, r.finished_at, r.job_id, r.status, j.status FROM runs r "
    "LEFT JOIN jobs j ON j.id = r.job_id "
    "WHERE r.finished_at < $1 AND (r.finished_at, r.seq) > ($2, $3) "
    "ORDER BY r.finished_at, r.seq LIMIT $4"
)
_ITERATIONS = (
    "SELECT h.run_id, h.idx, h.started_at, r.seq, r.job_id, r.status, j.status "
    "FROM heartbeat_iterations h LEFT JOIN runs r ON r.id = h.run_id "
    "LEFT JOIN jobs j ON j.id = r.job_id "
    "WHERE h.started_at < $1 AND (h.started_at, h.run_id, h.idx) > ($2, $3, $4) "
    "ORDER BY h.started_at, h.run_id, h.idx LIMIT $5"
)
#: the tables pruned oldest first with no exceptions: their instant column
_PLAIN = {
    "audit_events": "at",
    "context_archive": "archived_at",
    "llm_cost_days": "ends_at",
    "llm_cost_day_ends": "ends_at",
}


async def _bounds(
    conn: asyncpg.Connection, job_ids: set[str], target: PruneTarget, cursor: PruneCursor
) -> None:
    """Learn, for the jobs not known yet, the seq below which their runs are not among their
    newest ``keep_per_job`` (one query for all of them)."""
    wanted = [j for j in job_ids if j not in cursor.bounds]
    if not wanted:
        return
    if target.keep_per_job <= 0:
        cursor.bounds.update(dict.fromkeys(wanted, _NO_BOUND))
        return
    rows = await conn.fetch(
        "SELECT j.id, (SELECT r.seq FROM runs r WHERE r.job_id = j.id "
        "ORDER BY r.seq DESC LIMIT 1 OFFSET $2) FROM unnest($1::text[]) AS j(id)",
        wanted,
        target.keep_per_job - 1,
    )
    for job_id, seq in rows:
        cursor.bounds[job_id] = int(seq) if seq is not None else 0


def _goes(
    target: PruneTarget,
    cursor: PruneCursor,
    seq: int | None,
    job_id: str | None,
    run_status: str | None,
    job_status: str | None,
) -> bool:
    if seq is None or job_id is None:
        return True  # an iteration whose run is gone
    if run_status in _OPEN:
        return False
    if target.keep_dead_letter and job_status == "dead_letter":
        return False
    return seq < cursor.bounds[job_id]


async def _walk(
    conn: asyncpg.Connection,
    target: PruneTarget,
    after: PruneCursor | None,
    limit: int,
    delete: bool,
) -> PruneBatch:
    """One batch of runs or iterations (see :func:`prune_batch`)."""
    runs = target.table == "runs"
    cursor = after or PruneCursor(position=(_EPOCH, 0) if runs else (_EPOCH, "", -1))
    sql = _RUNS if runs else _ITERATIONS
    rows = await conn.fetch(sql, target.before, *cursor.position, limit)
    if not rows:
        return PruneBatch(examined=0, removed=0, cursor=None)
    if runs:
        await _bounds(conn, {r[2] for r in rows if r[2] is not None}, target, cursor)
        seqs = [r[0] for r in rows if _goes(target, cursor, r[0], r[2], r[3], r[4])]
        cascaded = await _iterations_of(conn, seqs, target) if seqs else 0
        if seqs and delete:
            await conn.execute("DELETE FROM runs WHERE seq = ANY($1::bigint[])", seqs)
        cursor.position = (rows[-1][1], rows[-1][0])
        removed = len(seqs)
    else:
        await _bounds(conn, {r[4] for r in rows if r[4] is not None}, target, cursor)
        keys = [(r[0], r[1]) for r in rows if _goes(target, cursor, r[3], r[4], r[5], r[6])]
        if keys and delete:
            await conn.execute(
                "DELETE FROM heartbeat_iterations h USING unnest($1::text[], $2::int[]) "
                "AS k(run_id, idx) WHERE h.run_id = k.run_id AND h.idx = k.idx",
                [k[0] for k in keys],
                [k[1] for k in keys],
            )
        cursor.position = (rows[-1][2], rows[-1][0], rows[-1][1])
        removed, cascaded = len(keys), 0
    more = cursor if len(rows) == limit else None
    return PruneBatch(examined=len(rows), removed=removed, cascaded=cascaded, cursor=more)


async def _iterations_of(conn: asyncpg.Connection, seqs: Sequence[int], target: PruneTarget) -> int:
    """How many iterations go with these runs (not those the pass over iterations counted)."""
    count = await conn.fetchval(
        "SELECT count(*) FROM heartbeat_iterations h JOIN runs r ON r.id = h.run_id "
        "WHERE r.seq = ANY($1::bigint[]) AND ($2::timestamptz IS NULL OR h.started_at >= $2)",
        list(seqs),
        target.iterations_before,
    )
    return int(count)


async def _plain(
    conn: asyncpg.Connection, target: PruneTarget, limit: int, delete: bool
) -> PruneBatch:
    """Audit events or archived context entries: the oldest ``limit`` before the cutoff go (a
    dry run counts them all at once)."""
    column = _PLAIN[target.table]
    if not delete:
        count = await conn.fetchval(
            f"SELECT count(*) FROM {target.table} WHERE {column} < $1", target.before
        )
        return PruneBatch(examined=int(count), removed=int(count), cursor=None)
    status = await conn.execute(
        f"DELETE FROM {target.table} WHERE seq IN (SELECT seq FROM {target.table} "
        f"WHERE {column} < $1 ORDER BY {column} LIMIT $2)",
        target.before,
        limit,
    )
    removed = int(status.rsplit(" ", 1)[-1])
    more = PruneCursor(position=()) if removed == limit else None
    return PruneBatch(examined=removed, removed=removed, cursor=more)


async def prune_batch(
    conn: asyncpg.Connection,
    target: PruneTarget,
    after: PruneCursor | None,
    limit: int,
    delete: bool,
) -> PruneBatch:
    """One batch of ``target`` on ``conn`` (in the caller's transaction)."""
    if target.table in _PLAIN:
        return await _plain(conn, target, limit, delete)
    return await _walk(conn, target, after, limit, delete)


class PostgresRetention:
    """Pruning and stats for ``PostgresJobStore`` (which provides the pool)."""

    url: str

    def _need_pool(self) -> asyncpg.Pool:
        raise NotImplementedError  # the store's

    async def prune_batch(
        self,
        target: PruneTarget,
        *,
        after: PruneCursor | None = None,
        limit: int = 500,
        dry_run: bool = False,
    ) -> PruneBatch:
        async with self._need_pool().acquire() as conn:
            started = time.perf_counter()
            async with conn.transaction(readonly=dry_run):
                batch = await prune_batch(conn, target, after, limit, not dry_run)
            held = 0.0 if dry_run else (time.perf_counter() - started) * 1000
        return PruneBatch(
            examined=batch.examined,
            removed=batch.removed,
            cascaded=batch.cascaded,
            cursor=batch.cursor,
            held_ms=held,
        )

    async def reclaim_space(self, max_pages: int) -> tuple[int, float]:
        """Nothing to do by hand: autovacuum makes the space of deleted rows reusable."""
        return 0, 0.0

    @contextlib.asynccontextmanager
    async def maintenance(self) -> AsyncIterator[bool]:
        """True while this node holds the pruning lock (False: another node is pruning)."""
        async with self._need_pool().acquire() as conn:
            held = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", _PRUNE_LOCK))
            try:
                yield held
            finally:
                if held:
                    await conn.execute("SELECT pg_advisory_unlock($1)", _PRUNE_LOCK)

    async def store_stats(self, *, exact: bool = True) -> StoreStats:
        async with (
            self._need_pool().acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            tables = {}
            oldest_run = oldest_audit = None
            if exact:
                for name in _COUNTED:
                    rows = await conn.fetchval(f"SELECT count(*) FROM {name}")
                    size = await conn.fetchval("SELECT pg_total_relation_size($1::regclass)", name)
                    tables[name] = TableStats(rows=int(rows), bytes=int(size))
                oldest_run = await conn.fetchval(
                    "SELECT min(finished_at) FROM runs WHERE finished_at IS NOT NULL"
                )
                oldest_audit = await conn.fetchval("SELECT min(at) FROM audit_events")
            total = await conn.fetchval("SELECT pg_database_size(current_database())")
        return StoreStats(
            url=self.url,
            backend="postgresql",
            tables=tables,
            total_bytes=int(total),
            oldest_run_at=_as_datetime(oldest_run),
            oldest_audit_at=_as_datetime(oldest_audit),
        )

    async def vacuum(self) -> tuple[int, int]:
        from ...errors import StoreError

        raise StoreError(
            "a PostgreSQL store needs no vacuum from symbi: autovacuum reuses the space of "
            "pruned rows (VACUUM FULL in psql shrinks the files, locking the tables meanwhile)"
        )


def _as_datetime(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None
