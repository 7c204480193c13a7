"""RemoteBackend against a real uvicorn server on 127.0.0.1, next to a LocalBackend on the same
service: the same records, the same exceptions, and an event stream that survives a restart.

The engine runs on the fake clock of tests/conftest.py, so nothing waits on a schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from scheduler_core.access import Role
from scheduler_core.api import ApiKeys, ApiServer, bind_socket, create_app
from scheduler_core.errors import (
    ConflictError,
    DslError,
    Forbidden,
    JobNotFound,
    RunNotFound,
    SchedulerError,
    ValidationError,
)
from scheduler_core.events import Dropped, Event, JobChanged, RunChanged, SchedulerState
from scheduler_core.jobspec import job_to_dict
from scheduler_core.model import AuditEventType, JobStatus, RunStatus
from scheduler_core.settings import ApiKeySpec
from scheduler_core.wire import audit_to_dict, run_to_dict
from symbi_tui.backend import Backend, LocalBackend
from symbi_tui.remote import Disconnected, RemoteBackend, Unauthorized, error_from_answer
from tests.conftest import Harness
from tests.keys import ALICE_KEY

KEY = "remote-test-key-0123456789"
T = TypeVar("T")

REPORT: dict[str, Any] = {
    "name": "daily-report",
    "agent_id": "reporter-agent",
    "cron_expr": "0 9 * * *",
    "delivery": ["webhook"],
    "webhook_url": "https://hooks.example.com/in?token=s3cret",
    "webhook_headers": {"Authorization": "Bearer hunter2"},
    "policy": {"max_runtime": "5m", "allowed_hours": {"start": "00:00", "end": "23:00"}},
    "heartbeat": {"enabled": True, "context_mode": "fully_ephemeral", "max_iterations": 3},
}
GATED: dict[str, Any] = {
    "name": "production-deploy",
    "agent_id": "deploy-agent",
    "cron_expr": "0 0 * * 0",
    "policy": {"require_approval": True, "approvers": ["alice"]},
}


@dataclass
class Pair:
    harness: Harness
    local: LocalBackend
    remote: RemoteBackend
    server: ApiServer

    def both(self) -> tuple[Backend, Backend]:
        return self.local, self.remote


def _server(harness: Harness, port: int = 0) -> ApiServer:
    app = create_app(
        harness.service,
        config=harness.service.config,
        bus=harness.engine.bus,
        keys=ApiKeys.of([KEY], named={"alice": ApiKeySpec(key=ALICE_KEY, role=Role.OPERATOR)}),
        heartbeat_seconds=0.2,
    )
    return ApiServer(app, sock=bind_socket("127.0.0.1", port))


@pytest.fixture
async def pair(harness: Harness) -> AsyncIterator[Pair]:
    server = _server(harness)
    await server.start()
    remote = RemoteBackend(server.url, api_key=KEY, retry_initial=0.05, retry_max=0.2)
    try:
        yield Pair(harness, LocalBackend(harness.service, harness.engine.bus), remote, server)
    finally:
        await remote.aclose()
        await server.stop()


async def _error(call: Callable[[], Any]) -> SchedulerError:
    try:
        await call()
    except SchedulerError as exc:
        return exc
    raise AssertionError("no error was raised")


# --- the same records -----------------------------------------------------------------------------


async def test_jobs_come_back_as_the_same_records_with_secrets_masked(pair: Pair) -> None:
    created = await pair.remote.add_job(REPORT)
    await pair.remote.add_job({"name": "other", "agent_id": "x", "cron_expr": "*/5 * * * *"})
    local = await pair.local.get_job(created.id)
    for ref in (created.id, created.id[:24], "daily-report"):
        remote = await pair.remote.get_job(ref)
        assert job_to_dict(remote) == job_to_dict(local)
    shown = job_to_dict(created)
    assert shown["webhook_headers"] == {"Authorization": "****"}
    assert "s3cret" not in str(shown) and "hunter2" not in str(shown)
    assert created.policy.max_runtime_seconds == 300
    assert created.heartbeat is not None and created.heartbeat.max_iterations == 3

    for backend in pair.both():
        page = await backend.list_jobs(agent="reporter-agent")
        assert [j.name for j in page.jobs] == ["daily-report"] and page.total == 1
        page = await backend.list_jobs(text="oth", limit=1)
        assert [j.name for j in page.jobs] == ["other"]
        assert (await backend.list_jobs(status=JobStatus.PAUSED)).total == 0
        assert (await backend.list_jobs(limit=1)).total == 2
    assert await pair.remote.next_runs("daily-report", 3) == await pair.local.next_runs(
        "daily-report", 3
    )
    health = await pair.remote.health()
    assert health.active_jobs == 2 and health.status == "healthy"


async def test_transitions_runs_and_audit_match_the_local_backend(pair: Pair) -> None:
    h = pair.harness
    await pair.local.add_job({"name": "sync", "agent_id": "sync-agent", "cron_expr": "0 * * * *"})
    paused = await pair.remote.pause_job("sync")
    assert paused.status is JobStatus.PAUSED
    assert (await pair.local.get_job("sync")).status is JobStatus.PAUSED
    assert (await pair.remote.resume_job("sync")).status is JobStatus.ACTIVE

    run = await pair.remote.run_now("sync", input="Check production database")
    assert run.status is RunStatus.QUEUED and run.input == "Check production database"
    await h.settle()
    done = await pair.remote.get_run(run.id)
    assert done.status is RunStatus.SUCCEEDED and done.output == "ok sync"
    assert run_to_dict(done) == run_to_dict(await pair.local.get_run(run.id))
    assert await pair.remote.iterations(run.id) == []

    h.agents.fail("sync-agent")
    failed = await pair.local.run_now("sync")
    await h.settle()
    remote_history = await pair.remote.history("sync", limit=10)
    local_history = await pair.local.history("sync", limit=10)
    assert [run_to_dict(r) for r in remote_history] == [run_to_dict(r) for r in local_history]
    only_failed = await pair.remote.history("sync", status=RunStatus.FAILED)
    assert [r.id for r in only_failed] == [failed.id]
    all_runs = await pair.remote.history(None, limit=50)
    assert {r.id for r in all_runs} >= {run.id, failed.id}
    oldest = local_history[-1]
    older = await pair.remote.history("sync", before_seq=int(local_history[0].details["seq"]))
    assert oldest.id in [r.id for r in older] and local_history[0].id not in [r.id for r in older]
    last = await pair.remote.last_results([(await pair.local.get_job("sync")).id, "gone"])
    assert [r.id for r in last.values()] == [failed.id]

    reset = await pair.remote.reset_job("sync")
    assert reset.status is JobStatus.ACTIVE and reset.failure_count == 0
    events = await pair.remote.audit(type="CronJobFailed", job="sync", limit=5)
    assert [audit_to_dict(e) for e in events] == [
        audit_to_dict(e) for e in await pair.local.audit(type="CronJobFailed", job="sync")
    ]
    assert events and events[0].type is AuditEventType.CRON_JOB_FAILED
    since = await pair.remote.audit(since=datetime.fromisoformat("2030-01-01T00:00:00+00:00"))
    assert since == []

    removed = await pair.remote.remove_job("sync")
    assert removed.name == "sync"
    with pytest.raises(JobNotFound):
        await pair.local.get_job("sync")


async def test_approvals_through_the_api(pair: Pair) -> None:
    h = pair.harness
    await pair.local.add_job(GATED)
    first = await pair.remote.run_now("production-deploy")
    await h.settle()
    (waiting,) = await pair.remote.pending_approvals()
    assert waiting.id == first.id and waiting.status is RunStatus.AWAITING_APPROVAL
    # the key that triggered it (key-1) is not among the approvers: refused, naming who may
    refused = await _error(lambda: pair.remote.approve(first.id))
    assert isinstance(refused, Forbidden) and refused.approvers == ("alice",)
    assert "'key-1' may not approve this run (it triggered this run" in refused.message
    assert pair.remote.connection.state == "connected"  # refused, yet reached
    async with RemoteBackend(pair.server.url, api_key=ALICE_KEY) as alice:
        approved = await alice.approve(first.id, reason="change #42")
        assert approved.status is RunStatus.QUEUED
        await h.settle()
        assert (await pair.remote.get_run(first.id)).status is RunStatus.SUCCEEDED
        (event,) = await pair.local.audit(type=AuditEventType.CRON_RUN_APPROVED)
        assert event.actor == "alice" and event.details["reason"] == "change #42"

        second = await pair.remote.run_now("production-deploy")
        await h.settle()
        assert isinstance(await _error(lambda: pair.remote.deny(second.id)), Forbidden)
        denied = await alice.deny(second.id, reason="freeze week")
    assert denied.status is RunStatus.DENIED
    assert await pair.remote.pending_approvals() == []


# --- the same exceptions --------------------------------------------------------------------------


async def test_errors_map_back_to_the_same_exceptions(pair: Pair) -> None:
    await pair.local.add_job(REPORT)
    await pair.local.pause_job("daily-report")
    cases: list[tuple[type[SchedulerError], Callable[[Backend], Any]]] = [
        (JobNotFound, lambda b: b.get_job("daily-reprot")),
        (JobNotFound, lambda b: b.pause_job("no-such-job")),
        (ValidationError, lambda b: b.add_job({**REPORT, "name": "x", "cron_expr": "61 * * * *"})),
        (ValidationError, lambda b: b.add_job({"name": "y", "agent_id": "a", "cron_exp": "x"})),
        (ValidationError, lambda b: b.audit(type="CronJobFaild")),
        (ConflictError, lambda b: b.add_job(REPORT)),
        (ConflictError, lambda b: b.pause_job("daily-report")),
        (RunNotFound, lambda b: b.get_run("0123456789abcdef")),
        (RunNotFound, lambda b: b.approve("0123456789abcdef")),
    ]
    for kind, call in cases:
        local = await _error(lambda call=call: call(pair.local))
        remote = await _error(lambda call=call: call(pair.remote))
        assert type(local) is kind, local
        assert type(remote) is kind, (remote, local)
        assert str(remote) == str(local)
        assert remote.details() == local.details()
    missing = await _error(lambda: pair.remote.get_job("daily-reprot"))
    assert isinstance(missing, JobNotFound) and missing.suggestion == "daily-report"
    assert "did you mean 'daily-report'?" in str(missing)
    bad = await _error(
        lambda: pair.remote.add_job({**REPORT, "name": "z", "timezone": "Mars/Base"})
    )
    assert isinstance(bad, ValidationError) and bad.field == "timezone"
    several = await _error(lambda: pair.remote.add_job({"name": "!", "agent_id": "?"}))
    assert isinstance(several, ValidationError) and len(several.errors) >= 2


def test_error_answers_without_a_service_error_are_still_named() -> None:
    assert isinstance(error_from_answer(404, {"error": "Not Found"}, job="x"), JobNotFound)
    assert isinstance(error_from_answer(404, {"error": "Not Found"}, run="r"), RunNotFound)
    assert isinstance(error_from_answer(401, {"error": "invalid API key"}), Unauthorized)
    odd = error_from_answer(500, "not json")
    assert "HTTP 500" in str(odd)


async def test_a_wrong_key_and_a_dead_daemon(pair: Pair) -> None:
    async with RemoteBackend(pair.server.url, api_key="wrong") as stranger:
        with pytest.raises(Unauthorized, match="refused the API key"):
            await stranger.list_jobs()
        assert stranger.connected  # it answered
    assert pair.remote.mode_label == f"attached to 127.0.0.1:{pair.server.port}"
    await pair.remote.health()
    assert pair.remote.connected
    await pair.server.stop()
    with pytest.raises(Disconnected, match="cannot reach the scheduler"):
        await pair.remote.list_jobs()
    assert not pair.remote.connected


# --- the event stream -----------------------------------------------------------------------------


class Stream:
    """A subscription pumped into a queue by a task, so a test can wait on it with timeouts
    (cancelling an ``async for`` over the generator itself would close the generator)."""

    def __init__(self, backend: Backend) -> None:
        self.queue: asyncio.Queue[Event | BaseException] = asyncio.Queue()
        self.task = asyncio.create_task(self._pump(backend))

    async def _pump(self, backend: Backend) -> None:
        try:
            async for event in backend.subscribe():
                self.queue.put_nowait(event)
        except Exception as exc:
            self.queue.put_nowait(exc)

    async def next(self, want: Callable[[Event], bool], within: float = 10) -> Event:
        async def scan() -> Event:
            while True:
                item = await self.queue.get()
                if isinstance(item, BaseException):
                    raise item
                if want(item):
                    return item

        return await asyncio.wait_for(scan(), within)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def test_events_follow_changes_and_survive_a_restart(pair: Pair) -> None:
    h = pair.harness
    await pair.local.add_job({"name": "probe", "agent_id": "a", "cron_expr": "* * * * *"})
    job = await pair.local.get_job("probe")
    stream = Stream(pair.remote)
    try:
        # the stream is up once a change made after subscribing comes through
        for _ in range(100):
            await pair.local.pause_job("probe")
            await pair.local.resume_job("probe")
            with contextlib.suppress(TimeoutError):
                first = await stream.next(lambda e: isinstance(e, JobChanged), within=0.1)
                break
        else:
            raise AssertionError("no event came through")
        assert isinstance(first, JobChanged) and first.job_id == job.id
        assert pair.remote.connected

        await pair.local.run_now("probe")
        ran = await stream.next(lambda e: isinstance(e, RunChanged) and e.run.status.is_final)
        assert isinstance(ran, RunChanged) and ran.run.output == "ok probe"

        # the daemon goes away: one "disconnected", and the state says so
        port = pair.server.port
        await pair.server.stop()
        lost = await stream.next(lambda e: isinstance(e, SchedulerState))
        assert isinstance(lost, SchedulerState) and lost.state == "disconnected"
        assert not pair.remote.connected

        # it comes back on the same port: "connected", then Dropped (reload: events were missed)
        pair.server = _server(h, port)
        await pair.server.start()
        back = await stream.next(lambda e: isinstance(e, SchedulerState))
        assert isinstance(back, SchedulerState) and back.state == "connected"
        assert isinstance(await stream.next(lambda e: True), Dropped)
        assert pair.remote.connected
        await pair.local.pause_job("probe")
        again = await stream.next(lambda e: isinstance(e, JobChanged))
        assert isinstance(again, JobChanged) and again.change == "paused"
    finally:
        await stream.close()


async def test_a_refused_key_ends_the_stream(pair: Pair) -> None:
    async with RemoteBackend(pair.server.url, api_key="wrong") as stranger:
        stream = Stream(stranger)
        with pytest.raises(Unauthorized):
            await stream.next(lambda e: True)
        await stream.close()


def test_backends_satisfy_the_protocol(pair: Pair) -> None:
    assert isinstance(pair.local, Backend) and isinstance(pair.remote, Backend)
    assert pair.local.mode_label == "embedded" and pair.local.connected


async def test_dsl_files_are_applied_by_name_through_the_api(pair: Pair, tmp_path: Path) -> None:
    source = tmp_path / "agent.symbi"
    block = (
        'schedule {\n  name: "data-sync"\n  agent: "sync-agent"\n  cron: "%s"\n%s}\n'
        'schedule {\n  name: "backup"\n  agent: "backup-agent"\n  cron: "0 3 * * *"\n}\n'
    )
    source.write_text(block % ("*/5 * * * *", "  max_concurrent: 2\n"))
    first = await pair.remote.apply_dsl([str(source)], schedule="data-sync")
    assert (first.created, first.updated, first.unchanged) == (["data-sync"], [], [])
    again = await pair.remote.apply_dsl([str(source)])
    assert (again.created, again.updated, again.unchanged) == (["backup"], [], ["data-sync"])
    source.write_text(block % ("*/10 * * * *", ""))  # a new cron, max_concurrent back to 1
    changed = await pair.remote.apply_dsl([str(source)])
    assert changed.updated == ["data-sync"] and changed.unchanged == ["backup"]
    job = await pair.local.get_job("data-sync")
    assert job.cron == "*/10 * * * *" and job.max_concurrent == 1
    with pytest.raises(ValidationError, match="no schedule 'nope'"):
        await pair.remote.apply_dsl([str(source)], schedule="nope")


async def test_a_dsl_file_is_applied_all_or_nothing_through_the_api(
    pair: Pair, tmp_path: Path
) -> None:
    source = tmp_path / "two.symbi"
    source.write_text(
        'schedule {\n  name: "fine"\n  agent: "a"\n  cron: "0 3 * * *"\n}\n'
        'schedule {\n  name: "stale"\n  agent: "a"\n  at: "2020-01-01T00:00:00Z"\n}\n'
    )
    # refused by the daemon, reported at the schedule's place in the file
    with pytest.raises(DslError, match=r'two\.symbi:6:1: schedule "stale": at: .* in the past'):
        await pair.remote.apply_dsl([str(source)])
    assert (await pair.local.list_jobs()).total == 0  # "fine" was not created either
    bodies = [{"name": "ok", "agent": "a", "cron": "0 3 * * *"}, {"agent": "a", "cron": "x"}]
    auth = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=pair.server.url, headers=auth) as http:
        got = await http.post("/api/v1/apply", json={"jobs": bodies})
    assert got.status_code == 422  # the body at fault named by its index; nothing written
    fields = [e["field"] for e in got.json()["details"]["errors"]]
    assert sorted(fields) == ["jobs[1].cron", "jobs[1].name"], got.json()
    assert (await pair.local.list_jobs()).total == 0
