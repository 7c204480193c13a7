"""Heartbeat iterations and agent contexts on SQLite: a mixin of ``SqliteJobStore`` (which
provides the transactions and reads)."""

from __future__ import annotations

__all__ = ["SqliteSessions", "read_contexts"]

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ...model import AgentContext, HeartbeatIteration
from .._rows import context_from_row
from ..base import cap_context
from ._sql import fmt, instant, stored, write_context

T = TypeVar("T")


def read_contexts(conn: sqlite3.Connection, job_ids: Sequence[str]) -> dict[str, AgentContext]:
    """The agent contexts of ``job_ids`` that exist."""
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
            out[row[0]] = context_from_row(row, instant)
    return out


class SqliteSessions:
    """``record_iteration``, ``load_contexts`` and ``save_context``."""

    async def _tx(self, fn: Callable[..., T], *args: Any) -> T:
        raise NotImplementedError  # the store's

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        raise NotImplementedError  # the store's

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
                    fmt(it.started_at),
                    stored(it.finished_at),
                    it.outcome,
                    it.assessment,
                    it.action,
                    it.summary,
                    it.output_excerpt,
                ),
            )

        await self._tx(tx)

    async def load_contexts(self, job_ids: Sequence[str]) -> dict[str, AgentContext]:
        return await self._read(read_contexts, job_ids) if job_ids else {}

    async def save_context(self, context: AgentContext, max_bytes: int) -> None:
        """Persist a context, dropping its oldest memory entries beyond ``max_bytes``."""
        capped = cap_context(context, max_bytes)
        await self._tx(lambda conn: write_context(conn, capped))
