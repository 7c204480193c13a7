"""The wire format: every JSON shape survives the trip out and back, through real JSON."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from scheduler_core import wire
from scheduler_core.clock import parse_instant
from scheduler_core.errors import (
    ConfigError,
    ConflictError,
    CronError,
    DslError,
    DslIssue,
    JobNotFound,
    LeaseError,
    RunNotFound,
    SchedulerError,
    StoreError,
    ValidationError,
)
from scheduler_core.events import (
    AuditRecorded,
    Dropped,
    IterationRecorded,
    JobChanged,
    RunChanged,
    SchedulerState,
)
from scheduler_core.jobspec import job_from_mapping
from scheduler_core.model import (
    AuditEvent,
    AuditEventType,
    HeartbeatIteration,
    JobRun,
    JobStatus,
    RunStatus,
    RunTrigger,
)
from scheduler_core.service import Health
from scheduler_core.store.base import NodeInfo, RunStats

AT = parse_instant("2026-03-02T09:00:00Z")


def through_json(data: Any) -> Any:
    return json.loads(json.dumps(data))


def a_run(**changes: Any) -> JobRun:
    fields: dict[str, Any] = {
        "id": "r1",
        "job_id": "j1",
        "job_name": "backup",
        "agent_id": "backup-agent",
        "trigger": RunTrigger.RETRY,
        "status": RunStatus.FAILED,
        "attempt": 2,
        "scheduled_for": AT,
        "due_at": AT + timedelta(seconds=10),
        "started_at": AT + timedelta(seconds=11),
        "finished_at": AT + timedelta(seconds=12, milliseconds=345),
        "execution_time_ms": 1345,
        "input": "in",
        "output": "out",
        "summary": "sum",
        "error_message": "boom",
        "details": {"retry_of": "r0", "backoff_seconds": 10},
    }
    fields.update(changes)
    return JobRun(**fields)


def test_run_round_trip() -> None:
    run = a_run()
    assert wire.run_from_dict(through_json(wire.run_to_dict(run))) == run
    bare = a_run(due_at=None, started_at=None, finished_at=None, execution_time_ms=None, details={})
    assert wire.run_from_dict(through_json(wire.run_to_dict(bare))) == bare


def test_iteration_round_trip() -> None:
    it = HeartbeatIteration(
        run_id="r1",
        index=3,
        started_at=AT,
        finished_at=AT + timedelta(seconds=1),
        outcome="sleep",
        assessment="quiet",
        action="none",
        summary="all fine",
        output_excerpt="...",
    )
    assert wire.iteration_from_dict(through_json(wire.iteration_to_dict(it))) == it


def test_audit_round_trip() -> None:
    event = AuditEvent(
        id=7,
        at=AT,
        type=AuditEventType.CRON_JOB_DEAD_LETTERED,
        actor="scheduler",
        job_id="j1",
        run_id="r1",
        details={"failures": 3},
    )
    assert wire.audit_from_dict(through_json(wire.audit_to_dict(event))) == event


def test_job_round_trip() -> None:
    job = job_from_mapping(
        {
            "name": "nightly",
            "agent": "reporter",
            "cron": "0 2 * * *",
            "timezone": "Europe/Berlin",
            "max_retries": 5,
            "jitter": 30,
            "delivery": ["stdout"],
            "policy": {"max_runtime": 60, "allowed_hours": {"start": "01:00", "end": "05:00"}},
        }
    )
    job = job.__class__(
        **{
            **{f: getattr(job, f) for f in job.__dataclass_fields__},
            "id": "j1",
            "status": JobStatus.PAUSED,
            "next_run_at": AT,
            "last_run_at": AT - timedelta(days=1),
            "last_run_status": RunStatus.SUCCEEDED,
            "run_count": 4,
            "failure_count": 1,
            "created_at": AT - timedelta(days=9),
            "updated_at": AT - timedelta(days=2),
        }
    )
    back = wire.job_from_dict(through_json(wire.job_to_dict(job)))
    assert wire.job_to_dict(back) == wire.job_to_dict(job)
    assert back == job


def test_health_round_trip_is_lossless() -> None:
    node = NodeInfo(
        owner="host:1:abc",
        host="host",
        pid=1,
        api_address="127.0.0.1:8080",
        role="leader",
        started_at=AT,
        heartbeat=AT + timedelta(seconds=5),
        expires_at=AT + timedelta(seconds=35),
        running=2,
    )
    health = Health(
        status="healthy",
        active_jobs=3,
        paused_jobs=1,
        in_flight_jobs=2,
        dead_letter_jobs=1,
        completed_jobs=4,
        failed_jobs=0,
        queued_runs=5,
        awaiting_approval=1,
        stats=RunStats(
            runs_total=10,
            runs_succeeded=7,
            runs_failed=2,
            execution_ms_total=12_345,
            executions=9,
            by_status={"succeeded": 7, "failed": 2, "queued": 5, "denied": 1},
        ),
        role="leader",
        lease_owner="host:1:abc",
        lease_address="127.0.0.1:8080",
        nodes=(node,),
        node="host:1:abc",
    )
    answer = through_json(wire.health_to_dict(health))
    assert answer["metrics"] == {  # the guide's shape is still there
        "runs_total": 10,
        "runs_succeeded": 7,
        "runs_failed": 2,
        "avg_execution_time_ms": 1372,
    }
    assert wire.health_from_dict(answer) == health


def test_log_page_round_trip() -> None:
    """``GET /api/v1/logs``: lines of both formats, a traceback, a line that is no record."""
    from scheduler_core.logfile import LogLine, LogPage

    page = LogPage(
        lines=(
            LogLine(
                time=AT,
                level="warning",
                logger="symbi.events",
                event="run.failed",
                message="run failed",
                fields={"job": "backup", "attempt": 2, "details": {"a": [1, "b"]}},
                text='time=2026-03-02T09:00:00.000Z level=warning ... msg="run failed"',
            ),
            LogLine(
                time=AT + timedelta(milliseconds=5),
                level="error",
                logger="symbi.scheduler",
                event="symbi.scheduler",
                message="cycle failed",
                fields={"exception": "Traceback ...\nOSError: disk full"},
                text='time=... msg="cycle failed"\nTraceback ...\nOSError: disk full',
            ),
            LogLine(time=None, level="", logger="", event="", message="junk", text="junk"),
        ),
        cursor="1234:5678",
        level="info",
    )
    answer = through_json(wire.log_page_to_dict(page))
    assert answer["lines"][0]["time"] == "2026-03-02T09:00:00.000000Z"
    assert list(answer["lines"][0]) == [
        "time", "level", "logger", "event", "message", "fields", "text"
    ]  # fmt: skip
    assert wire.log_page_from_dict(answer) == page


def test_health_from_the_guides_shape_alone() -> None:
    """An answer without ``stats`` (another implementation of the guide) still reads."""
    health = wire.health_from_dict(
        {
            "status": "healthy",
            "active_jobs": 1,
            "paused_jobs": 0,
            "in_flight_jobs": 0,
            "metrics": {"runs_total": 4, "runs_succeeded": 4, "avg_execution_time_ms": 250},
        }
    )
    assert health.stats.runs_total == 4 and health.stats.avg_execution_time_ms == 250


ERRORS: list[SchedulerError] = [
    JobNotFound("nightly", suggestion="nightly-report"),
    RunNotFound("r9"),
    ConflictError("a job named 'x' already exists"),
    LeaseError("the store is held by another scheduler"),
    ValidationError("must be positive", field="max_retries"),
    ValidationError.collect(
        [ValidationError("required", field="name"), ValidationError("bad", field="cron")]
    ),
    CronError("bad minute", expression="61 * * * *", cron_field="minute", value="61"),
    DslError([DslIssue("jobs.symbi", 3, 5, "unknown key 'cronn'")]),
    ConfigError("unknown key", key="scheduler.foo"),
    StoreError("database is locked"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_error_round_trip(error: SchedulerError) -> None:
    status, body = wire.error_answer(error)
    assert status == wire.error_status(error) and 400 <= status < 600
    back = wire.error_from_answer(status, through_json(body))
    assert type(back) is type(error)
    assert str(back) == str(error) or isinstance(error, ConfigError)
    if isinstance(error, ValidationError):
        assert isinstance(back, ValidationError)
        assert [e.field for e in back.errors] == [e.field for e in error.errors]
        assert back.field == error.field or len(error.errors) > 1
    if isinstance(error, CronError):
        assert isinstance(back, CronError)
        assert (back.expression, back.cron_field, back.value) == ("61 * * * *", "minute", "61")
    assert wire.error_answer(back) == (status, body)


def test_error_statuses_and_client_errors() -> None:
    assert wire.error_answer(JobNotFound("x"))[0] == 404
    assert wire.error_answer(StoreError("disk full"))[0] == 503
    assert wire.error_answer(SchedulerError("odd"))[0] == 400
    assert isinstance(wire.error_from_answer(401, {"error": "bad key"}), wire.Unauthorized)
    odd = wire.error_from_answer(500, {"error": "internal error", "code": "internal_error"})
    assert type(odd) is wire.RemoteError and odd.status == 500


EVENTS = [
    RunChanged(a_run()),
    JobChanged("j1", "state"),
    IterationRecorded(
        HeartbeatIteration(
            run_id="r1", index=1, started_at=AT, finished_at=None, outcome="continue"
        )
    ),
    AuditRecorded(
        AuditEvent(at=AT, type=AuditEventType.CRON_JOB_CREATED, actor="cli", job_id="j1")
    ),
    SchedulerState("leader", "host:1:abc"),
    Dropped(12),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_event_round_trip(event: Any) -> None:
    encoded = wire.event_to_wire(event)
    assert encoded is not None and encoded[0] in wire.EVENT_KINDS
    kind, data = encoded
    assert wire.event_from_wire(kind, json.dumps(data)) == event


def test_unknown_event_shapes_are_skipped() -> None:
    assert wire.event_from_wire("run", "{not json") is None
    assert wire.event_from_wire("run", '{"id": "r1"}') is None
    assert wire.event_from_wire("future-kind", "{}") is None
