"""The scheduling loop through SchedulerService, driven by a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from scheduler_core.clock import parse_instant
from scheduler_core.model import JobStatus, RunStatus, RunTrigger

from .conftest import Harness


def t(text: str) -> datetime:
    return parse_instant(text)


async def test_fires_at_the_instant_and_advances(harness: Harness) -> None:
    job = await harness.service.add_job(
        {"name": "daily-report", "agent_id": "reporter", "cron_expr": "0 9 * * *"}
    )
    assert job.next_run_at == t("2026-03-02T09:00:00Z")
    await harness.advance(29)  # 08:59:59
    assert harness.agents.calls == []
    await harness.advance(1)
    assert harness.agents.names() == ["daily-report"]
    runs = await harness.service.history("daily-report")
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED]
    assert runs[0].scheduled_for == t("2026-03-02T09:00:00Z")
    assert runs[0].started_at == t("2026-03-02T09:00:00Z")
    assert runs[0].output == "ok daily-report"
    job = await harness.service.get_job(job.id)
    assert job.next_run_at == t("2026-03-03T09:00:00Z")
    assert job.run_count == 1 and job.last_run_status is RunStatus.SUCCEEDED


async def test_every_instant_once(harness: Harness) -> None:
    await harness.service.add_job({"name": "q", "agent": "a", "cron": "*/15 * * * *"})
    await harness.to("2026-03-02T09:00:00Z")
    for _ in range(7):
        await harness.advance(minutes=15)
    runs = await harness.service.history("q", limit=100)
    instants = sorted(r.scheduled_for for r in runs)
    assert len(instants) == 8 == len(set(instants))
    assert all(r.trigger is RunTrigger.SCHEDULE for r in runs)


async def test_retry_backoff_then_dead_letter_and_reset(harness: Harness) -> None:
    harness.agents.fail("flaky", "connection refused")
    await harness.service.add_job(
        {"name": "flaky-job", "agent": "flaky", "cron": "0 * * * *", "max_retries": 3}
    )
    await harness.to("2026-03-02T09:00:00Z")
    job = await harness.service.get_job("flaky-job")
    assert job.failure_count == 1 and job.status is JobStatus.ACTIVE
    queued = await harness.service.history("flaky-job", status="queued")
    assert queued[0].attempt == 2 and queued[0].due_at == t("2026-03-02T09:00:10Z")
    await harness.advance(10)  # attempt 2 at +10 s
    await harness.advance(20)  # attempt 3 at +20 s more
    job = await harness.service.get_job("flaky-job")
    assert job.status is JobStatus.DEAD_LETTER and job.failure_count == 3
    assert job.last_error == "connection refused"
    failed = await harness.service.history("flaky-job", status="failed")
    assert [r.attempt for r in failed] == [3, 2, 1]
    # dead-lettered jobs do not fire
    await harness.to("2026-03-02T10:00:00Z")
    assert len(harness.agents.calls) == 3
    events = await harness.service.audit(type="CronJobDeadLettered")
    assert len(events) == 1 and events[0].details["failures"] == 3
    # reset: active again, next run fresh, failures cleared
    harness.agents.behaviour.pop("flaky")
    job = await harness.service.reset_job("flaky-job")
    assert job.status is JobStatus.ACTIVE and job.failure_count == 0
    assert job.next_run_at == t("2026-03-02T11:00:00Z")
    await harness.to("2026-03-02T11:00:00Z")
    job = await harness.service.get_job("flaky-job")
    assert job.last_run_status is RunStatus.SUCCEEDED


async def test_success_resets_failure_count(harness: Harness) -> None:
    calls = {"n": 0}

    def sometimes(ctx):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("first attempt fails")
        return "fine"

    harness.agents.behaviour["s"] = sometimes
    await harness.service.add_job({"name": "s", "agent": "s", "cron": "0 9 * * *"})
    await harness.to("2026-03-02T09:00:00Z")
    assert (await harness.service.get_job("s")).failure_count == 1
    await harness.advance(10)
    job = await harness.service.get_job("s")
    assert job.failure_count == 0 and job.last_run_status is RunStatus.SUCCEEDED


async def test_one_shot_completes(harness: Harness) -> None:
    await harness.service.add_job(
        {"name": "deployment-check", "agent": "health-checker", "at": "2026-03-02T14:30:00Z"}
    )
    await harness.to("2026-03-02T14:30:00Z")
    job = await harness.service.get_job("deployment-check")
    assert job.status is JobStatus.COMPLETED and job.next_run_at is None
    await harness.advance(hours=48)
    assert harness.agents.names() == ["deployment-check"]


async def test_the_configured_zone_applies_to_every_way_of_adding_jobs(
    harness_factory: Callable[..., Any],
) -> None:
    """One job or a batch, a job that names no zone gets the configured one (a batch used to
    get UTC: the two paths prepared new jobs differently)."""
    h = await harness_factory(timezone="Europe/Berlin")
    one = await h.service.add_job({"name": "one", "agent": "a", "cron": "0 9 * * *"})
    many = await h.service.add_jobs(
        [
            {"name": "two", "agent": "a", "cron": "0 9 * * *"},
            {"name": "three", "agent": "a", "cron": "0 9 * * *", "timezone": "UTC"},
        ]
    )
    assert [j.timezone for j in (one, *many)] == ["Europe/Berlin", "Europe/Berlin", "UTC"]
    # 09:00 in Berlin is 08:00 UTC in March; the same first instant either way
    assert one.next_run_at == many[0].next_run_at
    assert one.next_run_at is not None and one.next_run_at.hour == 8
    assert many[1].next_run_at is not None and many[1].next_run_at.hour == 9
