"""Backfill through SchedulerService, on both stores, driven by a fake clock: one queued run per
past cron instant, started like any queued run (gate, max_concurrent, the global queue)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from scheduler_core.clock import parse_instant
from scheduler_core.cron import CronSchedule
from scheduler_core.errors import ConflictError, JobNotFound, ValidationError
from scheduler_core.model import RunStatus, RunTrigger

from .conftest import Harness


def t(text: str) -> datetime:
    return parse_instant(text)


async def _hourly(harness: Harness, name: str = "report", **extra: Any) -> None:
    await harness.service.add_job({"name": name, "agent": "rep", "cron": "0 * * * *", **extra})


async def _until(check: Callable[[], Any], what: str) -> None:
    """Let the scheduler's loop work (no schedule is waited for: the clock stands still)."""
    for _ in range(400):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def test_one_queued_run_per_instant_run_oldest_first_and_audited(harness: Harness) -> None:
    await _hourly(harness)
    result = await harness.service.backfill(
        "report", start="2026-03-02T00:00:00Z", end="2026-03-02T05:30:00Z", actor="alice"
    )
    expected = [t(f"2026-03-02T0{h}:00:00Z") for h in range(6)]
    assert [r.scheduled_for for r in result.created] == expected
    assert result.skipped == () and result.instants == 6 and not result.dry_run
    assert all(
        r.trigger is RunTrigger.BACKFILL and r.status is RunStatus.QUEUED for r in result.created
    )
    await harness.settle()
    runs = await harness.service.history("report", limit=100)
    assert sorted(r.scheduled_for for r in runs) == expected
    assert [(r.status, r.trigger) for r in runs] == [(RunStatus.SUCCEEDED, RunTrigger.BACKFILL)] * 6
    # started oldest instant first
    started = [c.run.scheduled_for for c in harness.agents.calls]
    assert started == expected
    events = await harness.service.audit(type="CronJobBackfilled")
    assert len(events) == 1
    event = events[0]
    assert event.actor == "alice" and event.details["job_name"] == "report"
    assert event.details["from"] == "2026-03-02T00:00:00.000000Z"
    assert event.details["to"] == "2026-03-02T05:30:00.000000Z"
    assert (event.details["instants"], event.details["created"], event.details["skipped"]) == (
        6,
        6,
        0,
    )


async def test_twice_creates_nothing_new_and_lists_the_skips(harness: Harness) -> None:
    await _hourly(harness)
    first = await harness.service.backfill(
        "report", start="2026-03-02T03:00:00Z", end="2026-03-02T05:00:00Z"
    )
    await harness.settle()
    again = await harness.service.backfill(
        "report", start="2026-03-02T02:00:00Z", end="2026-03-02T05:00:00Z"
    )
    assert [r.scheduled_for for r in again.created] == [t("2026-03-02T02:00:00Z")]
    assert [s.run_id for s in again.skipped] == [r.id for r in first.created]
    assert all("backfill, succeeded" in s.reason for s in again.skipped)
    await harness.settle()
    third = await harness.service.backfill(
        "report", start="2026-03-02T02:00:00Z", end="2026-03-02T05:00:00Z"
    )
    assert third.created == () and len(third.skipped) == 4
    runs = await harness.service.history("report", limit=100)
    assert len(runs) == 4
    events = await harness.service.audit(type="CronJobBackfilled")
    assert [e.details["created"] for e in events] == [0, 1, 3]


async def test_scheduled_and_retried_instants_count_manual_runs_do_not(
    harness: Harness,
) -> None:
    harness.agents.fail("rep")
    await _hourly(harness, max_retries=2)
    await harness.to("2026-03-02T09:00:00Z")  # the scheduler's own run at 09:00 fails...
    await harness.advance(10)  # ...and its retry too: the job is dead-lettered
    await harness.service.reset_job("report")
    harness.agents.behaviour.clear()
    await harness.to("2026-03-02T10:00:00Z")  # fired by the scheduler
    await harness.service.run_now("report")  # a manual run at exactly 10:00
    await harness.settle()
    result = await harness.service.backfill(
        "report", start="2026-03-02T08:00:00Z", end="2026-03-02T10:00:00Z"
    )
    assert [r.scheduled_for for r in result.created] == [t("2026-03-02T08:00:00Z")]
    skipped = {s.instant: s.reason for s in result.skipped}
    assert list(skipped) == [t("2026-03-02T09:00:00Z"), t("2026-03-02T10:00:00Z")]
    assert "(schedule, failed)" in skipped[t("2026-03-02T09:00:00Z")]
    assert "(schedule, succeeded)" in skipped[t("2026-03-02T10:00:00Z")]


async def test_dry_run_lists_the_same_and_writes_nothing(harness: Harness) -> None:
    await _hourly(harness)
    await harness.service.backfill("report", start="2026-03-02T04:00Z", end="2026-03-02T04:00Z")
    await harness.settle()
    dry = await harness.service.backfill(
        "report", start="2026-03-02T03:00Z", end="2026-03-02T05:00Z", dry_run=True
    )
    assert dry.dry_run
    assert [r.scheduled_for for r in dry.created] == [
        t("2026-03-02T03:00Z"),
        t("2026-03-02T05:00Z"),
    ]
    assert [s.instant for s in dry.skipped] == [t("2026-03-02T04:00Z")]
    await harness.settle()
    assert len(await harness.service.history("report", limit=100)) == 1
    assert len(await harness.service.audit(type="CronJobBackfilled")) == 1
    real = await harness.service.backfill(
        "report", start="2026-03-02T03:00Z", end="2026-03-02T05:00Z"
    )
    assert [r.scheduled_for for r in real.created] == [r.scheduled_for for r in dry.created]


async def test_to_defaults_to_now_and_instants_the_scheduler_has_not_reached_are_left(
    harness: Harness,
) -> None:
    await _hourly(harness)
    await harness.engine.scheduler.stop()  # the scheduler is down: 09:00 and 10:00 go by
    harness.clock.set("2026-03-02T10:30:00Z")
    result = await harness.service.backfill("report", start="2026-03-02T08:00:00Z")
    assert result.end == t("2026-03-02T10:30:00Z")
    assert [r.scheduled_for for r in result.created] == [t("2026-03-02T08:00:00Z")]
    assert [s.instant for s in result.skipped] == [
        t("2026-03-02T09:00:00Z"),
        t("2026-03-02T10:00:00Z"),
    ]
    assert all("not reached by the scheduler" in s.reason for s in result.skipped)


async def test_more_instants_than_the_limit_is_refused_whole(
    harness_factory: Callable[..., Any],
) -> None:
    h = await harness_factory(max_backfill_runs=5)
    await _hourly(h)
    with pytest.raises(ValidationError) as err:
        await h.service.backfill("report", start="2026-03-02T00:00Z", end="2026-03-02T05:00Z")
    assert err.value.field == "to"
    assert "holds 6 instants" in str(err.value) and "5 one backfill may create" in str(err.value)
    assert "max_backfill_runs" in str(err.value) and "nothing was created" in str(err.value)
    assert await h.service.history("report") == []
    assert await h.service.audit(type="CronJobBackfilled") == []
    ok = await h.service.backfill("report", start="2026-03-02T00:00Z", end="2026-03-02T04:00Z")
    assert len(ok.created) == 5


async def test_a_huge_range_is_refused_quickly_saying_more_than(harness: Harness) -> None:
    await harness.service.add_job({"name": "m", "agent": "a", "cron": "* * * * *"})
    with pytest.raises(ValidationError, match=r"holds more than 100,000 instants"):
        await harness.service.backfill("m", start="2020-01-01T00:00Z", end="2026-03-01T00:00Z")


async def test_clear_errors(harness: Harness) -> None:
    await _hourly(harness)
    await harness.service.add_job({"name": "once", "agent": "a", "at": "2026-03-05T00:00:00Z"})
    service = harness.service
    with pytest.raises(ValidationError) as err:
        await service.backfill("report", start="2026-03-02T05:00Z", end="2026-03-02T04:00Z")
    assert err.value.field == "from" and "after 'to'" in str(err.value)
    with pytest.raises(ValidationError) as err:
        await service.backfill("report", start="2026-03-02T05:00Z", end="2026-03-02T09:00Z")
    assert err.value.field == "to" and "in the future" in str(err.value)
    with pytest.raises(ValidationError) as err:
        await service.backfill("report", start="yesterday", end="2026-03-02T04:00Z")
    assert err.value.field == "from" and "ISO 8601" in str(err.value)
    with pytest.raises(ValidationError) as err:
        await service.backfill("report", start="0001-01-01T00:00+05:00", end="2026-03-02T04:00Z")
    assert err.value.field == "from" and "out of range" in str(err.value)
    with pytest.raises(ValidationError) as err:
        await service.backfill("report", start="0001-01-01T00:00Z", end="2026-03-02T04:00Z")
    assert err.value.field == "from" and "before 1970" in str(err.value)
    with pytest.raises(ConflictError, match="one-shot"):
        await service.backfill("once", start="2026-03-01T00:00Z", end="2026-03-02T04:00Z")
    await service.add_job({"name": "follower", "agent": "a", "after": "report"})
    with pytest.raises(ConflictError, match=r"is a chained job \(after report\): only a cron job"):
        await service.backfill("follower", start="2026-03-01T00:00Z", end="2026-03-02T04:00Z")
    with pytest.raises(JobNotFound):
        await service.backfill("nope", start="2026-03-01T00:00Z", end="2026-03-02T04:00Z")
    await service.pause_job("report")
    with pytest.raises(ConflictError, match=r"paused.*resume it first"):
        await service.backfill("report", start="2026-03-01T00:00Z", end="2026-03-02T04:00Z")
    assert await service.history("report") == []


async def test_dst_instants_in_the_jobs_zone_with_cronies_rules(harness: Harness) -> None:
    harness.clock.set("2026-11-01T00:00:00Z")
    service = harness.service
    # fixed-time: 02:30 does not exist on 29 March in Berlin: it runs at the jump (03:00 CEST)
    await service.add_job(
        {"name": "fixed", "agent": "a", "cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    )
    # naive from/to are the job's wall time
    spring = await service.backfill("fixed", start="2026-03-28T00:00", end="2026-03-30T23:59")
    assert [r.scheduled_for for r in spring.created] == [
        t("2026-03-28T01:30:00Z"),  # 02:30 CET
        t("2026-03-29T01:00:00Z"),  # the jump: 03:00 CEST
        t("2026-03-30T00:30:00Z"),  # 02:30 CEST
    ]
    assert spring.start == t("2026-03-27T23:00:00Z") and spring.end == t("2026-03-30T21:59:00Z")
    # wildcard: in the repeated hour of 25 October it runs in both passes
    await service.add_job(
        {"name": "wild", "agent": "a", "cron": "*/30 2 * * *", "timezone": "Europe/Berlin"}
    )
    fall = await service.backfill("wild", start="2026-10-25T00:00", end="2026-10-25T12:00")
    got = [r.scheduled_for for r in fall.created]
    assert got == [
        t("2026-10-25T00:00:00Z"),
        t("2026-10-25T00:30:00Z"),
        t("2026-10-25T01:00:00Z"),
        t("2026-10-25T01:30:00Z"),
    ]
    # the scheduler's own engine gives the same chain
    schedule = CronSchedule("*/30 2 * * *", "Europe/Berlin")
    assert schedule.next_n(t("2026-10-24T23:59:00Z"), 4) == got


async def test_backfilled_runs_respect_max_concurrent(harness: Harness) -> None:
    gate = harness.agents.block("slow")
    await harness.service.add_job(
        {"name": "slow-job", "agent": "slow", "cron": "0 * * * *", "max_concurrent": 1}
    )
    await harness.service.backfill("slow-job", start="2026-03-02T00:00Z", end="2026-03-02T02:00Z")

    async def one_running() -> bool:
        runs = await harness.service.history("slow-job")
        return [r.status for r in runs].count(RunStatus.RUNNING) == 1

    await _until(one_running, "one run started")
    await asyncio.sleep(0.1)  # the loop had its chance to start more
    runs = await harness.service.history("slow-job")
    statuses = sorted(r.status.value for r in runs)
    assert statuses == ["queued", "queued", "running"]
    assert len(harness.agents.calls) == 1
    gate.set()
    await harness.settle()
    runs = await harness.service.history("slow-job")
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 3
    assert [c.run.scheduled_for for c in harness.agents.calls] == [
        t("2026-03-02T00:00Z"),
        t("2026-03-02T01:00Z"),
        t("2026-03-02T02:00Z"),
    ]


async def test_backfilled_runs_wait_in_the_global_queue(
    harness_factory: Callable[..., Any],
) -> None:
    h = await harness_factory(max_concurrent_jobs=2)
    gate = h.agents.block("slow")
    await h.service.add_job(
        {"name": "wide", "agent": "slow", "cron": "0 * * * *", "max_concurrent": 10}
    )
    await h.service.backfill("wide", start="2026-03-02T00:00Z", end="2026-03-02T04:00Z")

    async def two_running() -> bool:
        runs = await h.service.history("wide")
        return [r.status for r in runs].count(RunStatus.RUNNING) == 2

    await _until(two_running, "two runs started")
    await asyncio.sleep(0.1)
    runs = await h.service.history("wide")
    assert sorted(r.status.value for r in runs) == ["queued"] * 3 + ["running"] * 2
    gate.set()
    await h.settle()
    runs = await h.service.history("wide")
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 5


async def test_backfilled_runs_go_through_the_policy_gate(harness: Harness) -> None:
    await harness.service.add_job(
        {
            "name": "gated",
            "agent": "a",
            "cron": "0 * * * *",
            "max_concurrent": 5,
            "policy": {"require_approval": True},
        }
    )
    await harness.service.backfill("gated", start="2026-03-02T00:00Z", end="2026-03-02T01:00Z")
    await harness.settle()
    runs = await harness.service.history("gated")
    assert [r.status for r in runs] == [RunStatus.AWAITING_APPROVAL] * 2
    assert harness.agents.calls == []


async def test_two_schedulers_backfilling_one_range_at_once_create_each_instant_once(
    harness_factory: Callable[..., Any],
) -> None:
    first = await harness_factory(owner="node-1")
    second = await harness_factory(owner="node-2")  # same store: a standby, or a second node
    await _hourly(first)
    answers = await asyncio.gather(
        first.service.backfill("report", start="2026-03-01T00:00Z", end="2026-03-02T05:00Z"),
        second.service.backfill("report", start="2026-03-01T00:00Z", end="2026-03-02T05:00Z"),
    )
    assert sum(len(a.created) for a in answers) == 30
    assert sorted(len(a.skipped) for a in answers) == [0, 30]
    await first.settle()
    runs = await first.service.history("report", limit=100)
    assert len(runs) == 30 == len({r.scheduled_for for r in runs})


async def test_pausing_the_job_cancels_its_backfill_runs_not_yet_started(
    harness: Harness,
) -> None:
    gate = harness.agents.block("slow")
    await harness.service.add_job({"name": "slow-job", "agent": "slow", "cron": "0 * * * *"})
    await harness.service.backfill("slow-job", start="2026-03-02T00:00Z", end="2026-03-02T02:00Z")

    async def one_running() -> bool:
        runs = await harness.service.history("slow-job")
        return RunStatus.RUNNING in [r.status for r in runs]

    await _until(one_running, "the first run started")
    await harness.service.pause_job("slow-job")
    gate.set()
    await harness.settle()
    runs = sorted(await harness.service.history("slow-job"), key=lambda r: r.scheduled_for)
    assert [r.status for r in runs] == [
        RunStatus.SUCCEEDED,
        RunStatus.CANCELLED,
        RunStatus.CANCELLED,
    ]
    assert runs[1].error_message == "cancelled: the job is paused"
