"""Rows to records and records to parameters, shared by the SQLite and PostgreSQL stores.

The stores differ only in how an instant is stored (ISO text in SQLite, ``timestamptz`` in
PostgreSQL) and in what text PostgreSQL can hold, so each passes its own converters.
"""

from __future__ import annotations

__all__ = [
    "details_json",
    "job_from_row",
    "node_from_row",
    "qualified",
    "run_from_row",
    "run_params",
]

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ..jobspec import spec_from_json
from ..model import JobDefinition, JobRun, JobStatus, RunStatus, RunTrigger
from .base import NodeInfo

#: a stored instant (or None) -> an aware datetime (or None)
ReadInstant = Callable[[Any], datetime | None]
#: an aware datetime (or None) -> what the store keeps
WriteInstant = Callable[[datetime | None], Any]
#: text (or None) -> text the store can hold
WriteText = Callable[[str | None], str | None]


def _same(value: Any) -> Any:
    return value


def qualified(columns: str, alias: str) -> str:
    """``"a, b"`` as ``"x.a, x.b"``: a column list for a join."""
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


def job_from_row(row: Sequence[Any], instant: ReadInstant) -> JobDefinition:
    """A job from the store's job columns (id, name, agent, status, definition, next_run_at,
    last_run_at, last_run_status, last_error, run_count, failure_count, created_at, updated_at,
    source)."""
    return spec_from_json(
        row[4],
        id=row[0],
        status=JobStatus(row[3]),
        next_run_at=instant(row[5]),
        last_run_at=instant(row[6]),
        last_run_status=RunStatus(row[7]) if row[7] else None,
        last_error=row[8],
        run_count=row[9],
        failure_count=row[10],
        created_at=instant(row[11]),
        updated_at=instant(row[12]),
        source=row[13],
    )


def node_from_row(row: Sequence[Any], instant: ReadInstant, running: int = 0) -> NodeInfo:
    """A node from the columns (owner, host, pid, api_address, role, started_at, heartbeat,
    expires_at), holding ``running`` runs."""
    return NodeInfo(
        owner=row[0],
        host=row[1],
        pid=row[2],
        api_address=row[3],
        role=row[4],
        started_at=instant(row[5]),  # type: ignore[arg-type]
        heartbeat=instant(row[6]),  # type: ignore[arg-type]
        expires_at=instant(row[7]),  # type: ignore[arg-type]
        running=running,
    )


def run_from_row(row: Sequence[Any], instant: ReadInstant) -> JobRun:
    """A run from the store's run columns; ``details["seq"]`` is its place in the history."""
    scheduled = instant(row[5])
    assert scheduled is not None
    return JobRun(
        id=row[0],
        job_id=row[1],
        job_name=row[2],
        agent_id=row[3],
        trigger=RunTrigger(row[4]),
        scheduled_for=scheduled,
        due_at=instant(row[6]),
        started_at=instant(row[7]),
        finished_at=instant(row[8]),
        status=RunStatus(row[9]),
        attempt=row[10],
        input=row[11],
        output=row[12],
        error_message=row[13],
        summary=row[14],
        execution_time_ms=row[15],
        details={**json.loads(row[16]), "seq": row[17]} if row[16] else {"seq": row[17]},
    )


def details_json(run: JobRun) -> str | None:
    """The run's details as stored (without ``seq``, which the store assigns)."""
    if not run.details:
        return None
    d = {k: v for k, v in run.details.items() if k != "seq"}
    return json.dumps(d, separators=(",", ":"), default=str) if d else None


def run_params(run: JobRun, instant: WriteInstant, text: WriteText = _same) -> tuple[Any, ...]:
    """The values of a run row, in the order of the stores' insert statements."""
    return (
        run.id,
        run.job_id,
        text(run.job_name),
        text(run.agent_id),
        run.trigger.value,
        instant(run.scheduled_for),
        instant(run.due_at),
        instant(run.started_at),
        instant(run.finished_at),
        run.status.value,
        run.attempt,
        text(run.input),
        text(run.output),
        text(run.error_message),
        text(run.summary),
        run.execution_time_ms,
        text(details_json(run)),
    )
