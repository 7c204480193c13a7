"""Concurrency, jitter, catch-up, manual runs and external writes, through SchedulerService."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from scheduler_core.clock import parse_instant
from scheduler_core.errors import ConflictError, JobNotFound, ValidationError
from scheduler_core.model import AuditEventType, JobStatus, RunStatus, RunTrigger
from scheduler_core.service import SchedulerService
from scheduler_core.store import open_store

from .conftest import Harness


def t(text: str) -> datetime:
    return parse_instant(text)


async def test_per_job_max_concurrent_skips_the_tick(harness: Harness) -> None:
    release = harness.agents.block("sync-agent")
    await harness.service.add_job(
        {"name": "data-sync", "agent": "sync-agent", "cron": "*/5 * * * *", "max_concurrent": 2}
    )
    await harness.clock_step("2026-03-02T09:00:00Z")
    await harness.clock_step("2026-03-02T09:05:00Z")
    await harness.clock_step("2026-03-02T09:10:00Z")
    runs = await harness.service.history("data-sync")
    by_instant = {r.scheduled_for: r for r in runs}
    assert by_instant[t("2026-03-02T09:00:00Z")].status is RunStatus.RUNNING
    assert by_instant[t("2026-03-02T09:05:00Z")].status is RunStatus.RUNNING
    skipped = by_instant[t("2026-03-02T09:10:00Z")]
    assert skipped.status is RunStatus.SKIPPED
    assert "max_concurrent (2) reached" in (skipped.error_message or "")
    assert (await harness.service.audit(type="CronJobSkipped"))[0].details["reason"]
    release.set()
    await harness.settle()
    runs = await harness.service.history("data-sync")
    assert sorted(r.status.value for r in runs) == ["skipped", "succeeded", "succeeded"]


async def test_global_limit_queues_visibly(harness_factory) -> None:
    h: Harness = await harness_factory(max_concurrent_jobs=2)
    try:
        release = h.agents.block("slow")
        for i in range(5):
            await h.service.add_job({"name": f"j{i}", "agent": "slow", "cron": "0 9 * * *"})
        await h.clock_step("2026-03-02T09:00:00Z")
        health = await h.service.health()
        assert health.in_flight_jobs == 2 and health.queued_runs == 3
        queued = await h.service.history(status="queued")
        assert len(queued) == 3 and all(r.started_at is None for r in queued)
        release.set()
        await h.settle()
        runs = await h.service.history(limit=10)
        assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 5
        assert all(r.started_at == t("2026-03-02T09:00:00Z") for r in runs)
    finally:
        await h.engine.stop()


async def test_jitter_delays_each_run_within_bound(harness_factory) -> None:
    h: Harness = await harness_factory(max_jitter_seconds=30)
    try:
        for i in range(10):
            await h.service.add_job({"name": f"j{i}", "agent": "a", "cron": "0 9 * * *"})
        await h.to("2026-03-02T09:00:00Z")
        queued = await h.service.history(status="queued", limit=20)
        delays = [(r.due_at - r.scheduled_for).total_seconds() for r in queued]
        assert len(delays) >= 9  # a zero draw would start at once
        assert all(0 <= d <= 30 for d in delays) and len(set(delays)) > 5
        await h.advance(30)
        runs = await h.service.history(limit=20)
        assert len(runs) == 10 and all(r.status is RunStatus.SUCCEEDED for r in runs)
        assert all(r.started_at >= r.due_at for r in runs)
    finally:
        await h.engine.stop()


async def test_job_jitter_overrides_config(harness: Harness) -> None:
    await harness.service.add_job({"name": "j", "agent": "a", "cron": "0 9 * * *", "jitter": "10s"})
    await harness.to("2026-03-02T09:00:00Z")
    (run,) = await harness.service.history("j")
    assert (
        run.status is RunStatus.QUEUED
        and 0 < (run.due_at - run.scheduled_for).total_seconds() <= 10
    )


@pytest.mark.parametrize(
    ("catch_up", "grace", "expected"),
    [
        ("once", None, RunStatus.SUCCEEDED),
        ("skip", None, RunStatus.SKIPPED),
        ("once", "30m", RunStatus.SKIPPED),
    ],
)
async def test_catch_up_after_downtime(
    harness_factory, clock, catch_up: str, grace: str | None, expected: RunStatus
) -> None:
    h: Harness = await harness_factory()
    body = {"name": "hourly", "agent": "a", "cron": "0 * * * *", "catch_up": catch_up}
    if grace:
        body["misfire_grace"] = grace
    await h.service.add_job(body)
    await h.engine.stop()  # down from 08:59:30 ...
    clock.set("2026-03-02T12:45:00Z")  # ... to 12:45: 09:00, 10:00, 11:00, 12:00 missed
    h = await harness_factory()
    try:
        await h.settle()
        runs = await h.service.history("hourly")
        assert len(runs) == 1
        (run,) = runs
        assert run.status is expected
        assert run.scheduled_for == t("2026-03-02T12:00:00Z")
        assert run.details["missed_instants"] == 4
        if expected is RunStatus.SUCCEEDED:
            assert run.trigger is RunTrigger.CATCH_UP
        else:
            assert "missed 4 instant(s)" in (run.error_message or "")
        job = await h.service.get_job("hourly")
        assert job.next_run_at == t("2026-03-02T13:00:00Z")
    finally:
        await h.engine.stop()


async def test_manual_run_with_input_bypasses_pause(harness: Harness) -> None:
    await harness.service.add_job({"name": "m", "agent": "a", "cron": "0 9 * * *"})
    await harness.service.pause_job("m")
    run = await harness.service.run_now("m", input="Check production database", actor="cli")
    assert run.status is RunStatus.QUEUED and run.trigger is RunTrigger.MANUAL
    await harness.settle()
    done = await harness.service.get_run(run.id)
    assert done.status is RunStatus.SUCCEEDED
    assert harness.agents.calls[-1].input == "Check production database"
    events = await harness.service.audit(type=AuditEventType.CRON_JOB_TRIGGERED)
    assert events[0].actor == "cli"
    # paused jobs do not fire on schedule
    await harness.to("2026-03-02T09:00:00Z")
    assert len(harness.agents.calls) == 1


async def test_pause_resume_reset_state_rules(harness: Harness) -> None:
    await harness.service.add_job({"name": "p", "agent": "a", "cron": "0 9 * * *"})
    with pytest.raises(ConflictError, match="not paused"):
        await harness.service.resume_job("p")
    paused = await harness.service.pause_job("p")
    assert paused.status is JobStatus.PAUSED
    with pytest.raises(ConflictError, match="not active"):
        await harness.service.pause_job("p")
    await harness.to("2026-03-02T10:30:00Z")
    resumed = await harness.service.resume_job("p")
    # resuming does not replay what was missed while paused: next run from now
    assert resumed.next_run_at == t("2026-03-03T09:00:00Z")
    kinds = [e.type for e in await harness.service.audit(job="p")]
    assert AuditEventType.CRON_JOB_PAUSED in kinds and AuditEventType.CRON_JOB_RESUMED in kinds


async def test_change_from_another_process_is_seen_within_a_tick(
    harness: Harness, db_path: str
) -> None:
    """The CLI writes straight to the store while the scheduler runs (data_version wakes it)."""
    other = await open_store(db_path)
    try:
        cli = SchedulerService(other, clock=harness.clock)
        run_job = await cli.add_job({"name": "from-cli", "agent": "a", "cron": "0 9 * * *"})
        await cli.run_now(run_job.id, actor="cli")
        await harness.advance(1)  # one tick
        assert harness.agents.names() == ["from-cli"]
    finally:
        await other.close()


async def test_resolve_by_id_prefix_and_name(harness: Harness) -> None:
    job = await harness.service.add_job({"name": "reporter", "agent": "a", "cron": "0 9 * * *"})
    assert (await harness.service.get_job(job.id)).id == job.id
    assert (await harness.service.get_job(job.id[:10])).id == job.id
    assert (await harness.service.get_job("reporter")).id == job.id
    with pytest.raises(JobNotFound, match="did you mean 'reporter'"):
        await harness.service.get_job("reportr")


async def test_validation_names_the_field(harness: Harness) -> None:
    with pytest.raises(ValidationError) as err:
        await harness.service.add_job({"name": "x", "agent_id": "a", "cron_expr": "60 * * * *"})
    assert err.value.field == "cron_expr" and "minute" in str(err.value)
    with pytest.raises(ValidationError) as err:
        await harness.service.add_job({"name": "x", "agent": "a", "at": "2020-01-01T00:00:00Z"})
    assert err.value.field == "at" and "past" in str(err.value)
    with pytest.raises(ValidationError) as err:
        await harness.service.add_job({"name": "x", "agent": "a", "cron": "* * * * *", "crn": 1})
    assert "did you mean 'cron'" in str(err.value)
    with pytest.raises(ValidationError) as err:
        await harness.service.add_job({"name": "../etc/passwd", "agent": "a", "cron": "* * * * *"})
    assert err.value.field == "name"
    await harness.service.add_job({"name": "x", "agent": "a", "cron": "* * * * *"})
    with pytest.raises(ConflictError, match="already exists"):
        await harness.service.add_job({"name": "x", "agent": "b", "cron": "* * * * *"})


async def test_update_reschedules(harness: Harness) -> None:
    await harness.service.add_job({"name": "u", "agent": "a", "cron": "0 9 * * *"})
    job = await harness.service.update_job("u", {"cron_expr": "0 */2 * * *"})
    assert job.cron == "0 */2 * * *" and job.next_run_at == t("2026-03-02T10:00:00Z")
    (event,) = await harness.service.audit(type="CronJobUpdated")
    assert event.details["fields"] == ["cron"]


async def test_remove_cancels_in_flight_and_deletes(harness: Harness) -> None:
    harness.agents.block("hang")
    await harness.service.add_job({"name": "r", "agent": "hang", "cron": "0 9 * * *"})
    await harness.clock_step("2026-03-02T09:00:00Z")
    assert harness.scheduler.in_flight == 1
    await harness.service.remove_job("r")
    await harness.settle()
    assert harness.scheduler.in_flight == 0
    with pytest.raises(JobNotFound):
        await harness.service.get_job("r")
    assert [e.type for e in await harness.service.audit(limit=1)] == [
        AuditEventType.CRON_JOB_DELETED
    ]


async def test_bulk_add_is_all_or_nothing(harness: Harness) -> None:
    items = [{"name": f"b{i}", "agent": "a", "cron": "0 9 * * *"} for i in range(100)]
    items[57]["cron"] = "0 25 * * *"
    with pytest.raises(ValidationError) as err:
        await harness.service.add_jobs(items)
    assert "[57].cron" in str(err.value)
    assert (await harness.service.list_jobs()).total == 0
    items[57]["cron"] = "0 9 * * *"
    await harness.service.add_jobs(items)
    page = await harness.service.list_jobs(limit=10, offset=95)
    assert page.total == 100 and len(page.jobs) == 5


async def test_at_job_respects_global_queue_and_timeout(harness_factory) -> None:
    h: Harness = await harness_factory()
    try:

        async def slow(ctx):
            await asyncio.sleep(5)

        h.agents.behaviour["slow"] = slow
        await h.service.add_job(
            {
                "name": "t",
                "agent": "slow",
                "at": "2026-03-02T09:00:00Z",
                "policy": {"max_runtime": 0.05},
                "max_retries": 1,
            }
        )
        await h.to("2026-03-02T09:00:00Z")
        (run,) = await h.service.history("t")
        assert run.status is RunStatus.TIMED_OUT and "max_runtime" in (run.error_message or "")
        assert (await h.service.get_job("t")).status is JobStatus.DEAD_LETTER
    finally:
        await h.engine.stop()


async def test_claimed_ahead_starts_on_the_instant(harness_factory) -> None:
    harness: Harness = await harness_factory(claim_ahead_seconds=1.0)
    await harness.service.add_job({"name": "a", "agent": "a", "cron": "0 9 * * *"})
    await harness.clock_step("2026-03-02T08:59:59.700000Z")  # within claim_ahead_seconds
    (run,) = await harness.service.history("a")
    assert run.status is RunStatus.RUNNING and run.started_at == t("2026-03-02T09:00:00Z")
    assert harness.agents.calls == []  # recorded, not started
    assert (await harness.service.get_job("a")).next_run_at == t("2026-03-03T09:00:00Z")
    harness.clock.set("2026-03-02T09:00:00Z")
    await harness.settle()
    assert harness.agents.names() == ["a"]
    (run,) = await harness.service.history("a")
    assert run.status is RunStatus.SUCCEEDED and run.trigger is RunTrigger.SCHEDULE


async def test_bulk_add_names_a_duplicate_within_the_batch(harness: Harness) -> None:
    items = [{"name": n, "agent": "a", "cron": "0 9 * * *"} for n in ("x", "y", "x")]
    with pytest.raises(ConflictError, match="a job named 'x' already exists"):
        await harness.service.add_jobs(items)
    assert (await harness.service.list_jobs()).total == 0


async def test_a_job_that_cannot_be_planned_fails_alone(harness: Harness) -> None:
    """A stored definition no check would pass today (a jitter past datetime's range) must not
    keep the other jobs of its batch from firing."""
    from scheduler_core.model import JobDefinition

    bad = JobDefinition(name="huge", agent="a", cron="0 9 * * *", jitter_seconds=1e15)
    await harness.service.add_jobs([bad, {"name": "fine", "agent": "a", "cron": "0 9 * * *"}])
    await harness.to("2026-03-02T09:00:00Z")
    assert harness.agents.names() == ["fine"]
    job = await harness.service.get_job("huge")
    assert job.status is JobStatus.FAILED and job.next_run_at is None
    (run,) = await harness.service.history("huge")
    assert run.status is RunStatus.SKIPPED
    assert "cannot be scheduled: OverflowError" in (run.error_message or "")
    await harness.to("2026-03-03T09:00:00Z")
    assert harness.agents.names() == ["fine", "fine"]


async def test_manual_input_is_capped(harness: Harness) -> None:
    from scheduler_core.errors import ValidationError

    await harness.service.add_job({"name": "j", "agent": "a", "cron": "0 9 * * *"})
    with pytest.raises(ValidationError, match="at most 1,048,576") as info:
        await harness.service.run_now("j", input="x" * ((1 << 20) + 1))
    assert info.value.field == "input"


def test_an_interrupted_run_is_retried_per_policy_but_never_counted() -> None:
    """plan_finish: an interrupted run (shutdown, crash) keeps the failure count and the last
    error, audits CronRunInterrupted, and is retried unless the policy allows no retries or the
    job is no longer active (a manual run is retried anyway, as a failed one would be)."""
    from dataclasses import replace

    from scheduler_core.model import JobDefinition, JobRun
    from scheduler_core.scheduling import plan_finish
    from scheduler_core.settings import SchedulerSettings
    from scheduler_core.store.base import FinishItem

    now = t("2026-03-02T09:00:05Z")
    job = JobDefinition(
        id="j", name="long", agent="a", cron="0 9 * * *", max_retries=2, failure_count=1
    )
    job = replace(job, last_error="exit code 1")
    run = JobRun(
        id="r",
        job_id="j",
        job_name="long",
        agent_id="a",
        scheduled_for=t("2026-03-02T09:00:00Z"),
        status=RunStatus.INTERRUPTED,
        attempt=2,
        error_message="interrupted: the scheduler shut down before the run finished",
    )
    settings = SchedulerSettings(retry_backoff_seconds=10)

    def plan(job: JobDefinition, run: JobRun = run) -> Any:
        return plan_finish(FinishItem(run=run, job=job), job, settings=settings, now=now)

    got = plan(job)
    assert (got.status, got.failure_count, got.last_error) == (None, 1, "exit code 1")
    assert got.count_run is True
    assert [e.type for e in got.audit] == [AuditEventType.CRON_RUN_INTERRUPTED]
    assert got.audit[0].run_id == "r" and "shut down" in got.audit[0].details["reason"]
    retry = got.retry
    assert retry is not None and (retry.trigger, retry.attempt) == (RunTrigger.RETRY, 3)
    assert retry.due_at == t("2026-03-02T09:00:25Z")  # the backoff of a third attempt
    assert plan(replace(job, max_retries=0)).retry is None  # no retries allowed: none
    paused = replace(job, status=JobStatus.PAUSED)
    assert plan(paused).retry is None and plan(paused).status is None
    manual = replace(run, trigger=RunTrigger.MANUAL)
    assert plan(paused, manual).retry is not None
