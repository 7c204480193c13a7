"""A PostgreSQL transaction, and the writes and checks several of the store's transactions share."""

from __future__ import annotations

__all__ = ["Tx", "others_running", "write_archive", "write_contexts", "write_decision"]

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from ...model import AgentContext, AuditEvent
from .._rows import archived_entries, encode_memory
from ..base import ApprovalDecision
from ._sql import INSERT_AUDIT, audit_values, columns, storable, utc


def _affected(status: str) -> int:
    """The row count of a command tag ("UPDATE 3", "INSERT 0 1", "DELETE 0")."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class Tx:
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
            await self.conn.execute(INSERT_AUDIT, *columns([audit_values(e) for e in events], 6))
            self.dirty = True


async def write_contexts(tx: Tx, contexts: Sequence[AgentContext]) -> None:
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
        [storable(c.previous_summary) for c in contexts],
        [storable(e) for e in encoded],
        [len(e) for e in encoded],
        [utc(c.updated_at) or datetime.now(UTC) for c in contexts],
    )


async def write_archive(tx: Tx, contexts: Sequence[AgentContext]) -> None:
    """Archive the entries these contexts' size cap pushed out (every context's, even when
    several of one job are saved together and only the last is kept)."""
    rows = [
        (job, run, storable(entry), utc(c.updated_at) or datetime.now(UTC))
        for c in contexts
        for job, run, entry in archived_entries(c)
    ]
    if rows:
        await tx.execute(
            "INSERT INTO context_archive (job_id, run_id, entry, archived_at) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])",
            *columns(rows, 4),
        )


async def write_decision(tx: Tx, run_id: str, decision: ApprovalDecision) -> None:
    await tx.execute(
        "UPDATE approvals SET decision = $1, decided_by = $2, decided_at = $3, reason = $4 "
        "WHERE run_id = $5 AND decision IS NULL",
        decision.decision,
        storable(decision.decided_by),
        utc(decision.decided_at),
        storable(decision.reason),
        run_id,
    )


async def others_running(
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
