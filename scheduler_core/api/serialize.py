"""Runs, heartbeat iterations and audit events as JSON, and back.

The API answers with these shapes and the SSE stream carries them; a remote front end rebuilds the
same ``scheduler_core.model`` records with the ``*_from_dict`` functions, so its screens cannot tell
a remote scheduler from an embedded one. Jobs go through :func:`scheduler_core.jobspec.job_to_dict`
(secrets masked).
"""

from __future__ import annotations

__all__ = [
    "audit_from_dict",
    "audit_to_dict",
    "iteration_from_dict",
    "iteration_to_dict",
    "run_from_dict",
    "run_to_dict",
]

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..clock import format_instant, parse_instant
from ..jobspec import _mask_mapping
from ..model import AuditEvent, AuditEventType, HeartbeatIteration, JobRun, RunStatus, RunTrigger


def _instant(value: datetime | None) -> str | None:
    return format_instant(value) if value is not None else None


def _parse(value: Any) -> datetime | None:
    return parse_instant(value) if value else None


def run_to_dict(run: JobRun) -> dict[str, Any]:
    """A run as the API shows it (the guide's ``id``, ``status``, ``execution_time_ms``, ...)."""
    return {
        "id": run.id,
        "job_id": run.job_id,
        "job_name": run.job_name,
        "agent_id": run.agent_id,
        "trigger": run.trigger.value,
        "status": run.status.value,
        "attempt": run.attempt,
        "scheduled_for": _instant(run.scheduled_for),
        "due_at": _instant(run.due_at),
        "started_at": _instant(run.started_at),
        "finished_at": _instant(run.finished_at),
        "execution_time_ms": run.execution_time_ms,
        "input": run.input,
        "output": run.output,
        "summary": run.summary,
        "error_message": run.error_message,
        "details": _mask_mapping(run.details),
    }


def run_from_dict(data: Mapping[str, Any]) -> JobRun:
    scheduled = _parse(data["scheduled_for"])
    assert scheduled is not None
    return JobRun(
        id=data["id"],
        job_id=data["job_id"],
        job_name=data.get("job_name") or "",
        agent_id=data["agent_id"],
        trigger=RunTrigger(data.get("trigger", RunTrigger.SCHEDULE.value)),
        status=RunStatus(data["status"]),
        attempt=data.get("attempt", 1),
        scheduled_for=scheduled,
        due_at=_parse(data.get("due_at")),
        started_at=_parse(data.get("started_at")),
        finished_at=_parse(data.get("finished_at")),
        execution_time_ms=data.get("execution_time_ms"),
        input=data.get("input"),
        output=data.get("output"),
        summary=data.get("summary"),
        error_message=data.get("error_message"),
        details=dict(data.get("details") or {}),
    )


def iteration_to_dict(iteration: HeartbeatIteration) -> dict[str, Any]:
    return {
        "run_id": iteration.run_id,
        "index": iteration.index,
        "started_at": _instant(iteration.started_at),
        "finished_at": _instant(iteration.finished_at),
        "outcome": iteration.outcome,
        "assessment": iteration.assessment,
        "action": iteration.action,
        "summary": iteration.summary,
        "output_excerpt": iteration.output_excerpt,
    }


def iteration_from_dict(data: Mapping[str, Any]) -> HeartbeatIteration:
    started = _parse(data["started_at"])
    assert started is not None
    return HeartbeatIteration(
        run_id=data["run_id"],
        index=data["index"],
        started_at=started,
        finished_at=_parse(data.get("finished_at")),
        outcome=data.get("outcome", "continue"),
        assessment=data.get("assessment"),
        action=data.get("action"),
        summary=data.get("summary"),
        output_excerpt=data.get("output_excerpt"),
    )


def audit_to_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": _instant(event.at),
        "type": event.type.value,
        "actor": event.actor,
        "job_id": event.job_id,
        "run_id": event.run_id,
        "details": _mask_mapping(event.details),
    }


def audit_from_dict(data: Mapping[str, Any]) -> AuditEvent:
    at = _parse(data["at"])
    assert at is not None
    return AuditEvent(
        id=data.get("id"),
        at=at,
        type=AuditEventType(data["type"]),
        actor=data.get("actor", "scheduler"),
        job_id=data.get("job_id"),
        run_id=data.get("run_id"),
        details=dict(data.get("details") or {}),
    )
