"""The wire format: every JSON shape the API speaks, in both directions, in one place.

The HTTP API answers with these shapes and its event stream carries them; a remote front end
rebuilds the same ``scheduler_core.model`` records, and the same ``SchedulerError`` exceptions, with
the ``*_from_*`` functions, so its screens cannot tell a remote scheduler from an embedded one.
Adding a field to a record means changing its two functions here (and the round-trip test in
``tests/test_wire.py`` checks they agree). Nothing here imports FastAPI: the client side loads
this module too.

Errors: :data:`ERROR_STATUS` maps each ``SchedulerError`` kind to its HTTP status;
:func:`error_answer` makes the answer's body (``{error, code, field, details}``) and
:func:`error_from_answer` the exception back. Errors only a client can meet::

    RemoteError            the daemon answered with an error that has no closer counterpart
     +-- Unauthorized      the API key is missing or wrong (401)
     +-- Disconnected      the daemon cannot be reached (refused, reset, timed out)
"""

from __future__ import annotations

__all__ = [
    "ERROR_STATUS",
    "EVENT_KINDS",
    "Disconnected",
    "RemoteError",
    "Unauthorized",
    "audit_from_dict",
    "audit_to_dict",
    "error_answer",
    "error_from_answer",
    "error_status",
    "event_from_wire",
    "event_to_wire",
    "health_from_dict",
    "health_to_dict",
    "instant_in",
    "instant_out",
    "iteration_from_dict",
    "iteration_to_dict",
    "job_from_dict",
    "job_to_dict",
    "log_page_from_dict",
    "log_page_to_dict",
    "public_health",
    "run_from_dict",
    "run_to_dict",
]

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import MISSING
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .clock import format_instant, parse_instant
from .errors import (
    ConfigError,
    ConflictError,
    CronError,
    DslError,
    DslIssue,
    Forbidden,
    JobNotFound,
    LeaseError,
    NotFoundError,
    RunNotFound,
    SchedulerError,
    StoreError,
    StoreUnavailable,
    ValidationError,
)
from .events import (
    AuditRecorded,
    Dropped,
    Event,
    IterationRecorded,
    JobChanged,
    RunChanged,
    SchedulerState,
)
from .jobspec import JOB_FIELDS, _mask_mapping, job_to_dict, spec_from_json
from .llm_cost import run_cost, run_tokens
from .logfile import LogLine, LogPage
from .model import (
    AuditEvent,
    AuditEventType,
    HeartbeatIteration,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
    RunTrigger,
)
from .store.base import NodeInfo, RunStats

if TYPE_CHECKING:
    from .service import Health, StoreFault

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_DEFAULT = object()
_FIELD_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(JobDefinition) if f.default is not MISSING
}


# --- records --------------------------------------------------------------------------------------


def instant_out(value: datetime | None) -> str | None:
    """An instant as the API writes it (UTC, ``Z``), or None."""
    return format_instant(value) if value is not None else None


def instant_in(value: Any) -> datetime | None:
    """An instant as the API writes it, back; None for null or empty."""
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
        "scheduled_for": instant_out(run.scheduled_for),
        "due_at": instant_out(run.due_at),
        "started_at": instant_out(run.started_at),
        "finished_at": instant_out(run.finished_at),
        "execution_time_ms": run.execution_time_ms,
        "input": run.input,
        "output": run.output,
        "summary": run.summary,
        "error_message": run.error_message,
        "tokens": _tokens(run),
        "cost_usd": run_cost(run.details),
        "details": _mask_mapping(run.details),
    }


def _tokens(run: JobRun) -> dict[str, int] | None:
    """An LLM run's tokens, summed over its calls (None: the run made no LLM call)."""
    tokens = run_tokens(run.details)
    return {"input": tokens[0], "output": tokens[1]} if tokens is not None else None


def run_from_dict(data: Mapping[str, Any]) -> JobRun:
    scheduled = instant_in(data["scheduled_for"])
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
        due_at=instant_in(data.get("due_at")),
        started_at=instant_in(data.get("started_at")),
        finished_at=instant_in(data.get("finished_at")),
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
        "started_at": instant_out(iteration.started_at),
        "finished_at": instant_out(iteration.finished_at),
        "outcome": iteration.outcome,
        "assessment": iteration.assessment,
        "action": iteration.action,
        "summary": iteration.summary,
        "output_excerpt": iteration.output_excerpt,
    }


def iteration_from_dict(data: Mapping[str, Any]) -> HeartbeatIteration:
    started = instant_in(data["started_at"])
    assert started is not None
    return HeartbeatIteration(
        run_id=data["run_id"],
        index=data["index"],
        started_at=started,
        finished_at=instant_in(data.get("finished_at")),
        outcome=data.get("outcome", "continue"),
        assessment=data.get("assessment"),
        action=data.get("action"),
        summary=data.get("summary"),
        output_excerpt=data.get("output_excerpt"),
    )


def audit_to_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": instant_out(event.at),
        "type": event.type.value,
        "actor": event.actor,
        "job_id": event.job_id,
        "run_id": event.run_id,
        "details": _mask_mapping(event.details),
    }


def audit_from_dict(data: Mapping[str, Any]) -> AuditEvent:
    at = instant_in(data["at"])
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


def job_from_dict(data: Mapping[str, Any]) -> JobDefinition:
    """A job as :func:`scheduler_core.jobspec.job_to_dict` shows it, rebuilt (secrets stay
    masked: a remote front end never holds them)."""
    # values equal to a field's default are left out, so the rebuilt job carries the default
    # itself and job_to_dict gives the same keys in the same order as for the original
    spec = {
        k: data[k]
        for k in JOB_FIELDS
        if data.get(k) is not None and data[k] != _FIELD_DEFAULTS.get(k, _NO_DEFAULT)
    }
    last = data.get("last_run_status")
    return spec_from_json(
        json.dumps(spec),
        id=data["id"],
        status=JobStatus(data["status"]),
        next_run_at=instant_in(data.get("next_run_at")),
        last_run_at=instant_in(data.get("last_run_at")),
        last_run_status=RunStatus(last) if last else None,
        last_error=data.get("last_error"),
        run_count=data.get("run_count") or 0,
        failure_count=data.get("failure_count") or 0,
        created_at=instant_in(data.get("created_at")),
        updated_at=instant_in(data.get("updated_at")),
        source=data.get("source"),
    )


def health_to_dict(health: Health) -> dict[str, Any]:
    """The guide's health shape (``status``, counts, ``metrics``), plus what an operator also
    wants to see; ``stats`` carries the run statistics whole, so a client rebuilds them."""
    stats = health.stats
    return {
        "status": health.status,
        "active_jobs": health.active_jobs,
        "paused_jobs": health.paused_jobs,
        "in_flight_jobs": health.in_flight_jobs,
        "metrics": {
            "runs_total": stats.runs_total,
            "runs_succeeded": stats.runs_succeeded,
            "runs_failed": stats.runs_failed,
            "avg_execution_time_ms": stats.avg_execution_time_ms,
        },
        "dead_letter_jobs": health.dead_letter_jobs,
        "completed_jobs": health.completed_jobs,
        "missed_jobs": health.missed_jobs,
        "failed_jobs": health.failed_jobs,
        "queued_runs": health.queued_runs,
        "awaiting_approval": health.awaiting_approval,
        "role": health.role,
        "lease_owner": health.lease_owner,
        "lease_address": health.lease_address,
        "node": health.node,
        "nodes": [
            {
                "owner": n.owner,
                "host": n.host,
                "pid": n.pid,
                "role": n.role,
                "api_address": n.api_address,
                "started_at": format_instant(n.started_at),
                "heartbeat": format_instant(n.heartbeat),
                "expires_at": format_instant(n.expires_at),
                "running": n.running,
            }
            for n in health.nodes
        ],
        "stats": {
            "runs_total": stats.runs_total,
            "runs_succeeded": stats.runs_succeeded,
            "runs_failed": stats.runs_failed,
            "execution_ms_total": stats.execution_ms_total,
            "executions": stats.executions,
            "by_status": dict(stats.by_status),
        },
        "store_fault": _fault_to_dict(health.store) if health.store is not None else None,
    }


#: what the health answer shows without an API key: the guide's fields (status and counts);
#: nothing of the host, its processes, addresses or store
PUBLIC_HEALTH_FIELDS = ("status", "active_jobs", "paused_jobs", "in_flight_jobs", "metrics")


def public_health(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The guide's part of a :func:`health_to_dict` answer, for a caller without a key."""
    return {k: answer[k] for k in PUBLIC_HEALTH_FIELDS if k in answer}


def _fault_to_dict(fault: StoreFault) -> dict[str, Any]:
    return {**dataclasses.asdict(fault), "since": format_instant(fault.since)}


def _fault_from_dict(data: Any) -> StoreFault | None:
    from .service import StoreFault

    if not isinstance(data, Mapping) or not data.get("error"):
        return None
    return StoreFault(
        error=str(data["error"]),
        since=instant_in(data.get("since")) or _EPOCH,
        cause=data.get("cause"),
        failures=int(data.get("failures") or 0),
        waiting=int(data.get("waiting") or 0),
    )


def health_from_dict(data: Mapping[str, Any]) -> Health:
    """A health answer back as a :class:`~scheduler_core.service.Health`: whole when it carries
    ``stats`` (this API does), else rebuilt as well as the guide's shape allows."""
    from .service import Health

    queued = int(data.get("queued_runs") or 0)
    awaiting = int(data.get("awaiting_approval") or 0)
    in_flight = int(data.get("in_flight_jobs") or 0)
    full = data.get("stats")
    if isinstance(full, Mapping):
        stats = RunStats(
            runs_total=int(full.get("runs_total") or 0),
            runs_succeeded=int(full.get("runs_succeeded") or 0),
            runs_failed=int(full.get("runs_failed") or 0),
            execution_ms_total=int(full.get("execution_ms_total") or 0),
            executions=int(full.get("executions") or 0),
            by_status={str(k): int(v) for k, v in (full.get("by_status") or {}).items()},
        )
    else:  # the guide's shape: only totals and an average
        metrics = data.get("metrics") or {}
        total = int(metrics.get("runs_total") or 0)
        average = int(metrics.get("avg_execution_time_ms") or 0)
        executions = max(total, 1) if average else 0
        stats = RunStats(
            runs_total=total,
            runs_succeeded=int(metrics.get("runs_succeeded") or 0),
            runs_failed=int(metrics.get("runs_failed") or 0),
            execution_ms_total=average * executions,
            executions=executions,
            by_status={
                RunStatus.QUEUED.value: queued,
                RunStatus.AWAITING_APPROVAL.value: awaiting,
                RunStatus.RUNNING.value: in_flight,
            },
        )
    return Health(
        status=str(data.get("status") or "unknown"),
        active_jobs=int(data.get("active_jobs") or 0),
        paused_jobs=int(data.get("paused_jobs") or 0),
        in_flight_jobs=in_flight,
        dead_letter_jobs=int(data.get("dead_letter_jobs") or 0),
        completed_jobs=int(data.get("completed_jobs") or 0),
        missed_jobs=int(data.get("missed_jobs") or 0),
        failed_jobs=int(data.get("failed_jobs") or 0),
        queued_runs=queued,
        awaiting_approval=awaiting,
        stats=stats,
        role=str(data.get("role") or "remote"),
        lease_owner=data.get("lease_owner"),
        lease_address=data.get("lease_address"),
        nodes=tuple(_node_from_dict(n) for n in data.get("nodes") or () if isinstance(n, Mapping)),
        node=data.get("node"),
        store=_fault_from_dict(data.get("store_fault")),
    )


def _node_from_dict(data: Mapping[str, Any]) -> NodeInfo:
    return NodeInfo(
        owner=str(data.get("owner") or "?"),
        host=str(data.get("host") or "?"),
        pid=int(data.get("pid") or 0),
        api_address=data.get("api_address"),
        role=str(data.get("role") or "?"),
        started_at=instant_in(data.get("started_at")) or _EPOCH,
        heartbeat=instant_in(data.get("heartbeat")) or _EPOCH,
        expires_at=instant_in(data.get("expires_at")) or _EPOCH,
        running=int(data.get("running") or 0),
    )


def log_page_to_dict(page: LogPage) -> dict[str, Any]:
    """``GET /api/v1/logs``: the lines (oldest first), the cursor to follow from, the level."""
    lines = [
        {**dataclasses.asdict(line), "time": instant_out(line.time), "fields": _plain(line.fields)}
        for line in page.lines
    ]
    return {"lines": lines, "cursor": page.cursor, "level": page.level}


def log_page_from_dict(data: Mapping[str, Any]) -> LogPage:
    lines = tuple(
        LogLine(
            time=instant_in(item.get("time")),
            fields=dict(item.get("fields") or {}),
            **{k: str(item.get(k) or "") for k in ("level", "logger", "event", "message", "text")},
        )
        for item in data.get("lines") or []
        if isinstance(item, Mapping)
    )
    cursor, level = str(data.get("cursor") or ""), str(data.get("level") or "")
    return LogPage(lines=lines, cursor=cursor, level=level)


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# --- errors ---------------------------------------------------------------------------------------


class RemoteError(SchedulerError):
    """The daemon answered with an error that has no closer ``SchedulerError`` counterpart."""

    code = "remote_error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    def details(self) -> dict[str, object]:
        return {"status": self.status}


class Unauthorized(RemoteError):
    """The API refused the key (missing or wrong)."""

    code = "unauthorized"


class Disconnected(RemoteError):
    """The daemon cannot be reached."""

    code = "disconnected"


#: the HTTP status of each kind of error (the first that matches); any other: 400
ERROR_STATUS: tuple[tuple[type[SchedulerError], int], ...] = (
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (LeaseError, 409),
    (ValidationError, 422),
    (DslError, 422),
    (ConfigError, 422),
    (StoreError, 503),
)


def error_status(exc: SchedulerError) -> int:
    return next((status for kind, status in ERROR_STATUS if isinstance(exc, kind)), 400)


def error_answer(exc: SchedulerError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body that answer ``exc``."""
    field = None
    if isinstance(exc, ValidationError):
        field = exc.field or next((e.field for e in exc.errors if e.field), None)
    body = {"error": exc.message, "code": exc.code, "field": field, "details": dict(exc.details())}
    return error_status(exc), body


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _not_found(
    message: str, details: Mapping[str, Any], job: str | None, run: str | None
) -> SchedulerError:
    if "job" in details:
        return JobNotFound(str(details["job"]), suggestion=details.get("suggestion"))
    if "run" in details:
        return RunNotFound(str(details["run"]))
    if job is not None:
        return JobNotFound(job)
    if run is not None:
        return RunNotFound(run)
    return NotFoundError(message)


def _invalid(message: str, field: str | None, details: Mapping[str, Any]) -> ValidationError:
    errors = details.get("errors")
    if isinstance(errors, list) and len(errors) > 1:
        return ValidationError.collect(
            [
                ValidationError(str(e.get("message")), field=e.get("field"))
                for e in errors
                if isinstance(e, Mapping)
            ]
        )
    if field and message.startswith(f"{field}: "):
        message = message[len(field) + 2 :]
    return ValidationError(message, field=field)


def _invalid_dsl(message: str, details: Mapping[str, Any]) -> SchedulerError:
    issues = [
        DslIssue(str(i.get("path")), int(i.get("line", 0)), int(i.get("col", 0)), i["message"])
        for i in details.get("issues") or []
        if isinstance(i, Mapping) and "message" in i
    ]
    return DslError(issues) if issues else SchedulerError(message)


#: the code an answer without a known ``code`` stands for, by its status
_CODE_OF_STATUS = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    422: "validation_error",
    503: "store_error",
}


_KNOWN_CODES = frozenset(_CODE_OF_STATUS.values()) | {
    "invalid_cron",
    "invalid_dsl",
    "invalid_config",
    "invalid_json",
    "lease_held",
    "store_unavailable",
}


def error_from_answer(
    status: int,
    body: Any,
    *,
    job: str | None = None,
    run: str | None = None,
) -> SchedulerError:
    """The ``SchedulerError`` an API error answer (``{error, code, field, details}``) stands for.

    ``job``/``run``: what the request was about, for a bare 404 (an unroutable path).
    """
    if not isinstance(body, Mapping):
        body = {}
    message = str(body.get("error") or f"the scheduler answered HTTP {status}")
    field = body.get("field")
    details = body.get("details")
    if not isinstance(details, Mapping):
        details = {}
    code = body.get("code")
    if status in (401, 404) or code not in _KNOWN_CODES:
        code = _CODE_OF_STATUS.get(status, code)
    if code == "unauthorized":
        return Unauthorized(
            f"the scheduler refused the API key ({message}); "
            "give one with --api-key, SYMBI_API_KEY or [api] api_keys",
            status=status,
        )
    if code == "forbidden":
        approvers = details.get("approvers")
        return Forbidden(
            message,
            key=_str_or_none(details.get("key")),
            role=_str_or_none(details.get("role")),
            required_role=_str_or_none(details.get("required_role")),
            approvers=tuple(map(str, approvers)) if isinstance(approvers, list) else None,
        )
    if code == "not_found":
        return _not_found(message, details, job, run)
    if code == "invalid_cron":
        return CronError(
            message,
            expression=str(details.get("expression") or ""),
            cron_field=details.get("cron_field"),
            value=details.get("value"),
        )
    if code == "invalid_dsl":
        return _invalid_dsl(message, details)
    if code == "invalid_config":
        error = ConfigError(message)  # the message already names the file, line and key
        error.key, error.path, error.line = (
            details.get("key"),
            details.get("path"),
            details.get("line"),
        )
        return error
    if code in ("validation_error", "invalid_json"):
        return _invalid(message, field, details)
    if code == "lease_held":
        return LeaseError(message)
    if code == "conflict":
        return ConflictError(message)
    if code == "store_unavailable":
        store = str(details.get("store") or "")
        cause = str(details.get("cause") or "")
        return StoreUnavailable(cause, store=store, reason=message, message=message)
    if code == "store_error":
        return StoreError(message)
    return RemoteError(message, status=status)


# --- the event stream -----------------------------------------------------------------------------

#: the kinds of event the stream carries (``event: <kind>``)
EVENT_KINDS = ("job", "run", "iteration", "audit", "scheduler", "dropped")


def event_to_wire(event: Event) -> tuple[str, dict[str, Any]] | None:
    """An event as ``(kind, data)``; None for events the stream does not carry."""
    if isinstance(event, RunChanged):
        return "run", run_to_dict(event.run)
    if isinstance(event, JobChanged):
        return "job", {"job_id": event.job_id, "change": event.change}
    if isinstance(event, IterationRecorded):
        return "iteration", iteration_to_dict(event.iteration)
    if isinstance(event, AuditRecorded):
        return "audit", audit_to_dict(event.event)
    if isinstance(event, SchedulerState):
        return "scheduler", {"state": event.state, "detail": event.detail}
    if isinstance(event, Dropped):
        return "dropped", {"count": event.count}
    return None


def event_from_wire(kind: str, text: str) -> Event | None:
    """An event back from its kind and JSON data; None for a shape this client does not know."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, Mapping):
        return None
    try:
        if kind == "run":
            return RunChanged(run_from_dict(data))
        if kind == "job":
            return JobChanged(str(data["job_id"]), str(data.get("change") or "updated"))
        if kind == "iteration":
            return IterationRecorded(iteration_from_dict(data))
        if kind == "audit":
            return AuditRecorded(audit_from_dict(data))
        if kind == "scheduler":
            return SchedulerState(str(data.get("state") or ""), str(data.get("detail") or ""))
        if kind == "dropped":
            return Dropped(int(data.get("count") or 0))
    except (KeyError, TypeError, ValueError):
        return None  # a shape this client does not know: skip it rather than stop
    return None
