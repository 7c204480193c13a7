"""Rows to records and records to parameters, shared by the SQLite and PostgreSQL stores.

The stores differ only in how an instant is stored (ISO text in SQLite, ``timestamptz`` in
PostgreSQL) and in what text PostgreSQL can hold, so each passes its own converters. The column
lists name the columns the readers here expect, in their order.
"""

from __future__ import annotations

__all__ = [
    "JOB_COLUMNS",
    "J_JOB_COLUMNS",
    "LEASE_COLUMNS",
    "NODE_COLUMNS",
    "RUN_COLUMNS",
    "RUN_WIDTH",
    "R_RUN_COLUMNS",
    "JobTemplates",
    "archived_entries",
    "audit_from_row",
    "audit_params",
    "context_from_row",
    "details_json",
    "encode_memory",
    "iteration_from_row",
    "job_definition_params",
    "job_from_row",
    "job_params",
    "lease_from_row",
    "node_from_row",
    "orphan_from_row",
    "qualified",
    "run_and_job_from_row",
    "run_from_row",
    "run_params",
    "run_stats_from_rows",
    "run_update_params",
    "same",
    "status_counts",
]

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any

from ..fastjson import compact_encoder
from ..jobspec import STATE_FIELDS, spec_from_json, spec_to_json
from ..model import (
    AgentContext,
    AuditEvent,
    AuditEventType,
    HeartbeatIteration,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
    RunTrigger,
    SessionMode,
)
from .base import LeaseInfo, NodeInfo, Orphan, RunStats

#: a stored instant (or None) -> an aware datetime (or None)
ReadInstant = Callable[[Any], datetime | None]
#: an aware datetime (or None) -> what the store keeps
WriteInstant = Callable[[datetime | None], Any]
#: text (or None) -> text the store can hold
WriteText = Callable[[str | None], str | None]


def same(value: Any) -> Any:
    """A value kept as it is (text a store holds whole; instants a driver reads aware)."""
    return value


def qualified(columns: str, alias: str) -> str:
    """``"a, b"`` as ``"x.a, x.b"``: a column list for a join."""
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


#: what ``job_from_row`` reads
JOB_COLUMNS = (
    "id, name, agent, status, definition, next_run_at, last_run_at, last_run_status, "
    "last_error, run_count, failure_count, created_at, updated_at, source"
)
#: what ``run_from_row`` reads
RUN_COLUMNS = (
    "id, job_id, job_name, agent_id, trigger, scheduled_for, due_at, started_at, finished_at, "
    "status, attempt, input, output, error_message, summary, execution_time_ms, details, seq"
)
#: the same, for a join of ``runs r`` with ``jobs j``
R_RUN_COLUMNS, J_JOB_COLUMNS = qualified(RUN_COLUMNS, "r"), qualified(JOB_COLUMNS, "j")
RUN_WIDTH = len(RUN_COLUMNS.split(","))
#: what ``lease_from_row`` reads
LEASE_COLUMNS = "owner, pid, host, api_address, acquired_at, renewed_at, expires_at, machine"
#: what ``node_from_row`` reads
NODE_COLUMNS = "owner, host, pid, api_address, role, started_at, heartbeat, expires_at"

_encode_json = compact_encoder(default=str)


def _required(instant: ReadInstant, value: Any) -> datetime:
    """An instant a NOT NULL column holds."""
    read = instant(value)
    assert read is not None
    return read


# --- rows to records -----------------------------------------------------------------------------


def job_from_row(row: Sequence[Any], instant: ReadInstant) -> JobDefinition:
    """A job from the store's job columns (``JOB_COLUMNS``)."""
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


#: a job's fields, in order, and how each is set on a new instance (its slot's descriptor)
_JOB_FIELDS = tuple(f.name for f in dataclasses.fields(JobDefinition))
_JOB_VALUES = attrgetter(*_JOB_FIELDS)
_JOB_SETTERS = tuple(getattr(JobDefinition, name).__set__ for name in _JOB_FIELDS)
#: the fields job_from_row takes from the row's state columns, not from the definition (in
#: their order, which ``_like`` follows)
_STATE_AT = tuple(_JOB_FIELDS.index(name) for name in STATE_FIELDS)
#: fields a definition may hold a mapping in: a job made from a template gets its own
_MAPPINGS = tuple(_JOB_FIELDS.index(name) for name in ("webhook_headers", "delivery_config"))


class JobTemplates:
    """Jobs built from rows whose definition was parsed before: the scheduler reads a job's row
    when it claims (or starts) a run and again when it records the run's end, and parsing the
    definition and building the 40-field record was most of what each read cost. A claim keeps
    the job it parsed (:meth:`job`), by its definition text (the whole of it: a changed
    definition is another text); the finish takes it back (:meth:`take`) and builds its job
    from that one's definition fields and the row's state columns: the same job as
    :func:`job_from_row` builds (equal, field by field). A job kept is the one the claim handed
    to the run, which holds it until its end: keeping it costs the text and a slot, and taking
    it back drops them. Definitions holding a mapping (webhook headers, custom channels'
    settings) are parsed anew each time.

    At most ``limit`` kept: while full, nothing more is kept (a burst's first runs, which end
    first, keep theirs; dropping the oldest for each new one cost a burst of 100,000 more than
    it saved), until finishes take some back; full for ``4 * limit`` reads in a row with
    nothing taken back, what it holds is dropped (runs that never came back for theirs). Safe
    to share between threads (a miss parses)."""

    def __init__(self, limit: int = 16384) -> None:
        self.limit = limit
        self._parsed: dict[str, JobDefinition] = {}
        self._refused = 0  #: reads not kept (full) since the last one taken back

    def job(self, row: Sequence[Any], instant: ReadInstant) -> JobDefinition:
        """``job_from_row(row, instant)``, kept for a read of the same definition to come."""
        text = row[4]
        template = self._parsed.get(text)
        if template is not None:
            return _like(template, row, instant)
        job = job_from_row(row, instant)
        if job.webhook_headers or job.delivery_config:
            return job
        if len(self._parsed) < self.limit:
            self._parsed[text] = job
        else:
            self._refused += 1
            if self._refused > 4 * self.limit:
                self._parsed.clear()
                self._refused = 0
        return job

    def take(self, row: Sequence[Any], instant: ReadInstant) -> JobDefinition:
        """``job_from_row(row, instant)``, the job kept for its definition no longer kept."""
        template = self._parsed.pop(row[4], None)
        if template is None:
            return job_from_row(row, instant)
        self._refused = 0
        return _like(template, row, instant)


#: a status from its stored text (what the enum's call gives, without its cost)
_JOB_STATUS = {s.value: s for s in JobStatus}
_RUN_STATUS = {s.value: s for s in RunStatus}


def _like(template: JobDefinition, row: Sequence[Any], instant: ReadInstant) -> JobDefinition:
    """``job_from_row(row, instant)`` for a row whose definition ``template`` was parsed from
    (and holds no mapping)."""
    values = list(_JOB_VALUES(template))
    state = (
        row[0],
        _JOB_STATUS.get(row[3]) or JobStatus(row[3]),
        instant(row[5]),
        instant(row[6]),
        (_RUN_STATUS.get(row[7]) or RunStatus(row[7])) if row[7] else None,
        row[8],
        row[9],
        row[10],
        instant(row[11]),
        instant(row[12]),
        row[13],
    )
    for at, value in zip(_STATE_AT, state, strict=True):
        values[at] = value
    for at in _MAPPINGS:
        values[at] = {}
    job = object.__new__(JobDefinition)
    for setter, value in zip(_JOB_SETTERS, values, strict=True):
        setter(job, value)
    return job


def node_from_row(row: Sequence[Any], instant: ReadInstant, running: int = 0) -> NodeInfo:
    """A node from the columns (``NODE_COLUMNS``), holding ``running`` runs."""
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


def lease_from_row(row: Sequence[Any], instant: ReadInstant) -> LeaseInfo:
    """The store lease from its columns (``LEASE_COLUMNS``; ``machine`` may be left out)."""
    return LeaseInfo(
        owner=row[0],
        pid=row[1],
        host=row[2],
        api_address=row[3],
        acquired_at=_required(instant, row[4]),
        renewed_at=_required(instant, row[5]),
        expires_at=_required(instant, row[6]),
        machine=row[7] if len(row) > 7 else None,
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


def run_and_job_from_row(row: Sequence[Any], instant: ReadInstant) -> tuple[JobRun, JobDefinition]:
    """A run and its job from a row of ``R_RUN_COLUMNS, J_JOB_COLUMNS``."""
    values = tuple(row)
    return run_from_row(values[:RUN_WIDTH], instant), job_from_row(values[RUN_WIDTH:], instant)


def orphan_from_row(row: Sequence[Any], instant: ReadInstant) -> Orphan:
    """An orphaned run from a row of ``R_RUN_COLUMNS`` and its holder's last heartbeat."""
    values = tuple(row)
    return Orphan(
        run=run_from_row(values[:RUN_WIDTH], instant), heartbeat=instant(values[RUN_WIDTH])
    )


def audit_from_row(row: Sequence[Any], instant: ReadInstant) -> AuditEvent:
    """An audit event from (seq, at, type, actor, job_id, run_id, details)."""
    return AuditEvent(
        id=row[0],
        at=_required(instant, row[1]),
        type=AuditEventType(row[2]),
        actor=row[3],
        job_id=row[4],
        run_id=row[5],
        details=json.loads(row[6]) if row[6] else {},
    )


def iteration_from_row(row: Sequence[Any], instant: ReadInstant) -> HeartbeatIteration:
    """A heartbeat iteration from (run_id, idx, started_at, finished_at, outcome, assessment,
    action, summary, output_excerpt)."""
    return HeartbeatIteration(
        run_id=row[0],
        index=row[1],
        started_at=_required(instant, row[2]),
        finished_at=instant(row[3]),
        outcome=row[4],
        assessment=row[5],
        action=row[6],
        summary=row[7],
        output_excerpt=row[8],
    )


def context_from_row(row: Sequence[Any], instant: ReadInstant) -> AgentContext:
    """An agent context from (job_id, mode, summary, memory, updated_at)."""
    job_id, mode, summary, memory, updated = row
    return AgentContext(
        job_id=job_id,
        mode=SessionMode(mode),
        previous_summary=summary,
        memory=tuple(json.loads(memory)),
        updated_at=instant(updated),
    )


def status_counts(rows: Iterable[Sequence[Any]]) -> dict[JobStatus, int]:
    """Jobs per status (every status, 0 where none) from (status, count) rows."""
    counts = dict.fromkeys(JobStatus, 0)
    counts.update({JobStatus(row[0]): row[1] for row in rows})
    return counts


def run_stats_from_rows(totals: Sequence[Any], open_rows: Iterable[Sequence[Any]]) -> RunStats:
    """The run counters (runs_total, runs_succeeded, runs_failed, execution_ms_total,
    executions) and the open runs per status, from (status, count) rows."""
    return RunStats(
        runs_total=totals[0],
        runs_succeeded=totals[1],
        runs_failed=totals[2],
        execution_ms_total=totals[3],
        executions=totals[4],
        by_status={row[0]: row[1] for row in open_rows},
    )


# --- records to parameters ------------------------------------------------------------------------


def details_json(run: JobRun) -> str | None:
    """The run's details as stored (without ``seq``, which the store assigns)."""
    if not run.details:
        return None
    d = {k: v for k, v in run.details.items() if k != "seq"}
    return json.dumps(d, separators=(",", ":"), default=str) if d else None


def encode_memory(context: AgentContext) -> str:
    """A context's memory entries as stored (a JSON list)."""
    return json.dumps([dict(e) for e in context.memory], separators=(",", ":"), default=str)


def archived_entries(context: AgentContext) -> list[tuple[str, str | None, str]]:
    """The entries a context's size cap pushed out, as ``context_archive`` rows: (job id, the
    run the entry came from, the entry as JSON)."""
    out = []
    for entry in context.archived:
        run_id = entry.get("run_id")
        text = json.dumps(dict(entry), separators=(",", ":"), default=str)
        out.append((context.job_id, run_id if isinstance(run_id, str) else None, text))
    return out


def job_params(
    job: JobDefinition, instant: WriteInstant, text: WriteText = same
) -> tuple[Any, ...]:
    """The values of a job row: (id, name, agent, status, schedule, timezone, definition,
    next_run_at, last_run_at, last_run_status, last_error, run_count, failure_count, created_at,
    updated_at, source), the order of the stores' insert statements."""
    return (
        job.id,
        job.name,
        job.agent,
        job.status.value,
        job.schedule_text,
        job.timezone,
        text(spec_to_json(job)),
        instant(job.next_run_at),
        instant(job.last_run_at),
        job.last_run_status.value if job.last_run_status else None,
        text(job.last_error),
        job.run_count,
        job.failure_count,
        instant(job.created_at),
        instant(job.updated_at),
        text(job.source),
    )


def job_definition_params(
    job: JobDefinition, instant: WriteInstant, text: WriteText = same
) -> tuple[Any, ...]:
    """A job's definition, keeping its run state: (name, agent, status, schedule, timezone,
    definition, next_run_at, failure_count, last_error, updated_at, source, id), the order of the
    stores' ``UPDATE jobs`` statements."""
    return (
        *job_params(job, instant, text)[1:8],
        job.failure_count,
        text(job.last_error),
        instant(job.updated_at),
        text(job.source),
        job.id,
    )


def run_params(run: JobRun, instant: WriteInstant, text: WriteText = same) -> tuple[Any, ...]:
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


def run_update_params(
    run: JobRun, instant: WriteInstant, text: WriteText = same
) -> tuple[Any, ...]:
    """What a run's update writes: (due_at, started_at, finished_at, status, output,
    error_message, summary, execution_time_ms, details, id), the order of the stores'
    ``UPDATE runs`` statements."""
    return (
        instant(run.due_at),
        instant(run.started_at),
        instant(run.finished_at),
        run.status.value,
        text(run.output),
        text(run.error_message),
        text(run.summary),
        run.execution_time_ms,
        text(details_json(run)),
        run.id,
    )


def audit_params(
    event: AuditEvent, instant: WriteInstant, text: WriteText = same
) -> tuple[Any, ...]:
    """The values of an audit row: (at, type, actor, job_id, run_id, details)."""
    return (
        instant(event.at),
        str(event.type),
        text(event.actor),
        event.job_id,
        event.run_id,
        text(_encode_json(dict(event.details))) if event.details else None,
    )
