"""Wall-clock jumps and DST transitions (issue 9), through SchedulerService over a SQLite file.

The scheduler runs on the FakeClock of tests/conftest.py the whole time (never stopped), and the
clock is moved the way a real wall clock can move: forward by hours (a suspended VM, an NTP step),
backward by an hour or a day (a clock set right after running fast), and through the DST
transitions of Europe/Berlin and America/New_York. No test sleeps on wall time.

What must hold (DESIGN.md, "Scheduling semantics"):

* forward: the instants missed are handled per ``catch_up``: ``once`` is one catch-up run
  standing for all of them if the latest is within ``misfire_grace``, else a recorded skip;
  ``skip`` is one recorded skipped run; the next run is the first instant after the jump;
* backward: nothing fires twice (a run is unique per job, scheduled instant and attempt), and
  every job fires again at its next instant once the clock has caught up;
* DST: cronie's rules: in a spring-forward gap a fixed-time job runs once at the jump and a
  wildcard job's skipped minutes are lost; in a fall-back overlap a fixed-time job runs in the
  first pass only and a wildcard job in both.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scheduler_core.clock import parse_instant
from scheduler_core.model import (
    AuditEventType,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
    RunTrigger,
)
from scheduler_core.policy import Allow, Decision

from .conftest import Harness

UTC_FMT = "%Y-%m-%dT%H:%M:%SZ"


def t(text: str) -> datetime:
    return parse_instant(text)


def z(instant: datetime) -> str:
    return instant.strftime(UTC_FMT)


async def all_runs(h: Harness) -> list[JobRun]:
    return await h.service.history(limit=10_000)


async def runs_of(h: Harness, name: str) -> list[JobRun]:
    return sorted(
        await h.service.history(name, limit=10_000), key=lambda r: (r.scheduled_for, r.attempt)
    )


def assert_no_duplicates(runs: list[JobRun]) -> None:
    keys = Counter((r.job_id, r.scheduled_for, r.attempt) for r in runs)
    twice = {k: n for k, n in keys.items() if n > 1}
    assert not twice, f"fired twice: {twice}"


# ---------------------------------------------------------------------------------------------
# Forward
# ---------------------------------------------------------------------------------------------


async def test_jump_forward_three_hours_catches_up_per_job(harness: Harness) -> None:
    h = harness  # the clock reads 2026-03-02T08:59:30Z
    await h.service.add_job({"name": "quarter", "agent": "a", "cron": "*/15 * * * *"})
    await h.service.add_job(
        {"name": "hourly-skip", "agent": "a", "cron": "0 * * * *", "catch_up": "skip"}
    )
    await h.service.add_job(
        {"name": "daily-grace", "agent": "a", "cron": "0 9 * * *", "misfire_grace": "30m"}
    )
    await h.service.add_job({"name": "once-at", "agent": "a", "at": "2026-03-02T11:30:00Z"})
    await h.service.add_job({"name": "stale-at", "agent": "a", "at": "2026-03-02T10:00:00Z"})
    await h.service.add_job(
        {"name": "skip-at", "agent": "a", "at": "2026-03-02T11:30:00Z", "catch_up": "skip"}
    )
    await h.settle()
    assert h.agents.calls == []

    await h.advance(hours=3)  # 11:59:30: the scheduler was not running for any of it
    assert h.clock.now() == t("2026-03-02T11:59:30Z")

    # once, within misfire_grace (1 h): one catch-up run standing for 09:00 .. 11:45
    (run,) = await runs_of(h, "quarter")
    assert run.trigger is RunTrigger.CATCH_UP and run.status is RunStatus.SUCCEEDED
    assert run.scheduled_for == t("2026-03-02T11:45:00Z")
    assert run.started_at == t("2026-03-02T11:59:30Z")
    assert run.details["missed_instants"] == 12
    assert run.details["first_missed"] == "2026-03-02T09:00:00+00:00"
    # skip: one skipped run recorded, with the reason
    (run,) = await runs_of(h, "hourly-skip")
    assert run.status is RunStatus.SKIPPED and run.scheduled_for == t("2026-03-02T11:00:00Z")
    assert "missed 3 instant(s)" in (run.error_message or "")
    assert "catch_up=skip" in (run.error_message or "")
    # once, but the missed instant is older than its misfire_grace (30 m): skipped
    (run,) = await runs_of(h, "daily-grace")
    assert run.status is RunStatus.SKIPPED and run.scheduled_for == t("2026-03-02T09:00:00Z")
    assert "older than misfire_grace (1800s)" in (run.error_message or "")
    # one-shot jobs: caught up once (within misfire_grace) and completed, or skipped (older
    # than it, or catch_up=skip) and missed: never left due, and never looking as if they ran
    (run,) = await runs_of(h, "once-at")
    assert run.trigger is RunTrigger.CATCH_UP and run.status is RunStatus.SUCCEEDED
    (run,) = await runs_of(h, "stale-at")
    assert run.status is RunStatus.SKIPPED and "older than misfire_grace" in run.error_message
    (run,) = await runs_of(h, "skip-at")
    assert run.status is RunStatus.SKIPPED and "catch_up=skip" in (run.error_message or "")
    for name, status in (
        ("once-at", JobStatus.COMPLETED),
        ("stale-at", JobStatus.MISSED),
        ("skip-at", JobStatus.MISSED),
    ):
        job = await h.service.get_job(name)
        assert job.status is status and job.next_run_at is None, name
    health = await h.service.health()
    assert (health.completed_jobs, health.missed_jobs) == (1, 2)

    assert sorted(h.agents.names()) == ["once-at", "quarter"]
    skipped = {e.details["job_name"] for e in await h.service.audit(type="CronJobSkipped")}
    assert skipped == {"hourly-skip", "daily-grace", "stale-at", "skip-at"}

    # next runs are the first instants after the jump, not the missed ones
    nexts = {n: (await h.service.get_job(n)).next_run_at for n in ("quarter", "hourly-skip")}
    assert nexts == {
        "quarter": t("2026-03-02T12:00:00Z"),
        "hourly-skip": t("2026-03-02T12:00:00Z"),
    }
    assert (await h.service.get_job("daily-grace")).next_run_at == t("2026-03-03T09:00:00Z")

    # and the schedule carries on as usual from there
    await h.to("2026-03-02T12:00:00Z")
    await h.to("2026-03-02T12:15:00Z")
    quarter = await runs_of(h, "quarter")
    assert [(z(r.scheduled_for), r.trigger.value) for r in quarter] == [
        ("2026-03-02T11:45:00Z", "catch_up"),
        ("2026-03-02T12:00:00Z", "schedule"),
        ("2026-03-02T12:15:00Z", "schedule"),
    ]
    hourly = await runs_of(h, "hourly-skip")
    assert [(z(r.scheduled_for), r.status.value) for r in hourly] == [
        ("2026-03-02T11:00:00Z", "skipped"),
        ("2026-03-02T12:00:00Z", "succeeded"),
    ]
    assert_no_duplicates(await all_runs(h))


@pytest.mark.parametrize(
    ("to", "trigger", "missed"),
    [
        ("2026-03-02T09:00:45Z", RunTrigger.SCHEDULE, None),  # 45 s late: within the threshold
        ("2026-03-02T09:02:00Z", RunTrigger.CATCH_UP, 1),  # 2 min late: a misfire, caught up
        ("2026-03-02T09:14:59Z", RunTrigger.CATCH_UP, 1),  # just before the next instant
        ("2026-03-02T09:15:00Z", RunTrigger.CATCH_UP, 2),  # on it: both stand in one run
    ],
)
async def test_small_forward_jumps(
    harness: Harness, to: str, trigger: RunTrigger, missed: int | None
) -> None:
    """misfire_threshold_seconds is 60 in these tests: a run later than that is a misfire."""
    h = harness
    await h.service.add_job({"name": "q", "agent": "a", "cron": "*/15 * * * *"})
    await h.to(to)
    (run,) = await runs_of(h, "q")
    assert run.trigger is trigger and run.status is RunStatus.SUCCEEDED
    assert run.details.get("missed_instants") == missed
    job = await h.service.get_job("q")
    assert job.next_run_at == t("2026-03-02T09:15:00Z") + timedelta(
        minutes=15 if to >= "2026-03-02T09:15" else 0
    )


async def test_jump_forward_while_a_run_is_in_flight(harness: Harness) -> None:
    """The run in flight finishes; the job at its max_concurrent records the catch-up as
    skipped (DESIGN.md: a job at its limit skips that tick and says why)."""
    h = harness
    release = h.agents.block("slow")
    await h.service.add_job({"name": "q", "agent": "slow", "cron": "*/15 * * * *"})
    await h.clock_step("2026-03-02T09:00:00Z")
    h.clock.set("2026-03-02T12:00:30Z")
    await h.clock_step("2026-03-02T12:00:30Z")
    runs = await runs_of(h, "q")
    assert [(z(r.scheduled_for), r.status.value) for r in runs] == [
        ("2026-03-02T09:00:00Z", "running"),
        ("2026-03-02T12:00:00Z", "skipped"),
    ]
    assert "max_concurrent (1) reached" in (runs[1].error_message or "")
    release.set()
    await h.settle()
    runs = await runs_of(h, "q")
    assert runs[0].status is RunStatus.SUCCEEDED
    assert runs[0].finished_at == t("2026-03-02T12:00:30Z")
    assert (await h.service.get_job("q")).next_run_at == t("2026-03-02T12:15:00Z")
    await h.to("2026-03-02T12:15:00Z")
    assert [r.status.value for r in await runs_of(h, "q")][-1] == "succeeded"


# ---------------------------------------------------------------------------------------------
# Backward
# ---------------------------------------------------------------------------------------------


async def _setup_backward(h: Harness) -> None:
    """Jobs that have all fired up to 10:00 (one of them failed at 10:00, its retry queued)."""

    def flaky(ctx: Any) -> str:
        if ctx.run.scheduled_for == t("2026-03-02T10:00:00Z") and ctx.run.attempt == 1:
            raise RuntimeError("transient")
        return "ok"

    h.agents.behaviour["flaky"] = flaky
    await h.service.add_job({"name": "quarter", "agent": "a", "cron": "*/15 * * * *"})
    await h.service.add_job({"name": "hourly", "agent": "a", "cron": "0 * * * *"})
    await h.service.add_job({"name": "flaky", "agent": "flaky", "cron": "0 * * * *"})
    await h.service.add_job({"name": "once-at", "agent": "a", "at": "2026-03-02T09:30:00Z"})
    instant = t("2026-03-02T09:00:00Z")
    while instant <= t("2026-03-02T10:00:00Z"):
        await h.to(instant.isoformat())
        instant += timedelta(minutes=15)
    queued = await h.service.history("flaky", status="queued")
    assert [(r.attempt, z(r.due_at)) for r in queued] == [(2, "2026-03-02T10:00:10Z")]


@pytest.mark.parametrize(
    ("back", "step"),
    [(timedelta(hours=1), timedelta(minutes=5)), (timedelta(days=1), timedelta(minutes=60))],
    ids=["minus-1h", "minus-1d"],
)
async def test_jump_backward_never_fires_twice(
    harness: Harness, back: timedelta, step: timedelta
) -> None:
    h = harness
    await _setup_backward(h)
    before = await all_runs(h)
    # quarter 09:00 .. 10:00, hourly 09:00 and 10:00, flaky the same plus its queued retry,
    # once-at 09:30
    assert len(before) == 5 + 2 + 3 + 1
    nexts = {j.name: j.next_run_at for j in (await h.service.list_jobs()).jobs}

    h.clock.set(t("2026-03-02T10:00:00Z") - back)
    # the clock walks the repeated time again: 09:00, 09:15, 09:30, 10:00 ... all came already
    while h.clock.now() + step <= t("2026-03-02T10:00:00Z"):
        await h.advance(step.total_seconds())
        assert len(await all_runs(h)) == len(before), f"fired again at {h.clock.now()}"
    await h.to("2026-03-02T10:00:00Z")
    assert len(await all_runs(h)) == len(before)
    assert {j.name: j.next_run_at for j in (await h.service.list_jobs()).jobs} == nexts

    # caught up: the queued retry runs at its due time, the jobs at their next instants
    await h.to("2026-03-02T10:00:10Z")
    flaky = await runs_of(h, "flaky")
    assert [(z(r.scheduled_for), r.attempt, r.status.value) for r in flaky] == [
        ("2026-03-02T09:00:00Z", 1, "succeeded"),
        ("2026-03-02T10:00:00Z", 1, "failed"),
        ("2026-03-02T10:00:00Z", 2, "succeeded"),
    ]
    for instant in ("10:15", "10:30", "10:45", "11:00"):
        await h.to(f"2026-03-02T{instant}:00Z")
    quarter = [z(r.scheduled_for) for r in await runs_of(h, "quarter")]
    assert quarter == [f"2026-03-02T{x}:00Z" for x in ("09:00", "09:15", "09:30", "09:45")] + [
        f"2026-03-02T{x}:00Z" for x in ("10:00", "10:15", "10:30", "10:45", "11:00")
    ]
    for name in ("hourly", "flaky"):
        last = (await runs_of(h, name))[-1]
        assert last.scheduled_for == t("2026-03-02T11:00:00Z") and last.attempt == 1
    assert len(await runs_of(h, "once-at")) == 1
    assert (await h.service.get_job("once-at")).status is JobStatus.COMPLETED
    runs = await all_runs(h)
    assert_no_duplicates(runs)
    assert all(r.trigger is not RunTrigger.CATCH_UP for r in runs)
    assert all(r.status is RunStatus.SUCCEEDED for r in runs if r.job_name != "flaky")


async def test_jump_backward_with_a_run_in_flight(harness: Harness) -> None:
    """A run started before the jump finishes after it, once; its instant does not fire again
    and its job's next run stays where it was."""
    h = harness
    release = h.agents.block("slow")
    await h.service.add_job({"name": "q", "agent": "slow", "cron": "*/15 * * * *"})
    await h.clock_step("2026-03-02T09:00:00Z")
    h.clock.set("2026-03-02T08:00:00Z")
    release.set()
    await h.settle()
    (run,) = await runs_of(h, "q")
    assert run.status is RunStatus.SUCCEEDED and run.started_at == t("2026-03-02T09:00:00Z")
    # the wall clock said 08:00 when it finished: a run never ends before it starts, so it is
    # recorded ending at its start plus its duration (from the monotonic clock)
    assert run.execution_time_ms is not None and run.execution_time_ms >= 0
    assert run.finished_at == run.started_at + timedelta(milliseconds=run.execution_time_ms)
    await h.to("2026-03-02T09:00:00Z")
    assert len(await runs_of(h, "q")) == 1
    await h.to("2026-03-02T09:15:00Z")
    assert [z(r.scheduled_for) for r in await runs_of(h, "q")] == [
        "2026-03-02T09:00:00Z",
        "2026-03-02T09:15:00Z",
    ]


class HeldGate:
    """A policy gate that answers (allow) when the test releases it: a slow policy check, which
    holds a claimed run between its claim and its agent's start."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.release = asyncio.Event()

    async def evaluate(self, job: JobDefinition, run: JobRun) -> Decision:
        self.asked.set()
        await self.release.wait()
        return Allow()


async def test_jump_backward_between_a_claim_and_its_start(harness: Harness) -> None:
    """The clock goes back after a run was claimed on its instant but before its agent started
    (anything the run awaits first: its policy check, its context read): it starts at once, not
    an hour later when the wall clock comes back to its instant."""
    h = harness
    gate = HeldGate()
    h.scheduler.runs.gate = gate
    await h.service.add_job({"name": "q", "agent": "a", "cron": "*/15 * * * *"})
    h.clock.set("2026-03-02T09:00:00Z")
    h.scheduler.notify()
    await asyncio.wait_for(gate.asked.wait(), 10)  # claimed and launched; its check under way
    h.clock.set("2026-03-02T08:00:00Z")
    gate.release.set()
    await h.settle()
    (run,) = await runs_of(h, "q")
    assert run.status is RunStatus.SUCCEEDED and run.started_at == t("2026-03-02T09:00:00Z")
    assert h.agents.names() == ["q"]
    assert run.execution_time_ms is not None
    assert run.finished_at == run.started_at + timedelta(milliseconds=run.execution_time_ms)
    assert (await h.service.get_job("q")).next_run_at == t("2026-03-02T09:15:00Z")


async def test_jump_backward_while_a_run_claimed_ahead_waits(harness_factory: Any) -> None:
    """A run claimed ahead of its instant (4 s) when the clock goes back an hour: it waits the
    4 s it had left when it was claimed (monotonic time), not the hour as well."""
    h: Harness = await harness_factory(claim_ahead_seconds=5)
    gate = HeldGate()
    h.scheduler.runs.gate = gate
    await h.service.add_job({"name": "q", "agent": "a", "cron": "*/15 * * * *"})
    await h.settle()
    h.clock.set("2026-03-02T08:59:56Z")
    h.scheduler.notify()
    await asyncio.wait_for(gate.asked.wait(), 10)  # claimed ahead, launched
    h.clock.set("2026-03-02T08:00:00Z")
    gate.release.set()
    for _ in range(1000):  # until the run waits for its start (not a wait for a schedule)
        if t("2026-03-02T08:00:04Z") in h.clock.sleepers():
            break
        await asyncio.sleep(0.01)
    assert t("2026-03-02T08:00:04Z") in h.clock.sleepers(), h.clock.sleepers()
    assert h.agents.calls == []
    h.clock.advance(4)
    await h.settle()
    (run,) = await runs_of(h, "q")
    assert run.status is RunStatus.SUCCEEDED and run.started_at == t("2026-03-02T09:00:00Z")
    assert run.details.get("claimed_ahead") is True
    assert h.agents.names() == ["q"]


async def test_jump_backward_then_forward_past_the_old_now(harness: Harness) -> None:
    """Back an hour, then forward three: the instants fired before the first jump are not
    part of the catch-up; only the ones after it are."""
    h = harness
    await h.service.add_job({"name": "q", "agent": "a", "cron": "*/15 * * * *"})
    await h.to("2026-03-02T09:00:00Z")
    await h.to("2026-03-02T09:15:00Z")
    h.clock.set("2026-03-02T08:15:00Z")
    await h.settle()
    await h.advance(hours=3)  # 11:15
    runs = await runs_of(h, "q")
    assert [(z(r.scheduled_for), r.trigger.value) for r in runs] == [
        ("2026-03-02T09:00:00Z", "schedule"),
        ("2026-03-02T09:15:00Z", "schedule"),
        ("2026-03-02T11:15:00Z", "catch_up"),
    ]
    assert runs[-1].details["missed_instants"] == 8  # 09:30 .. 11:15
    assert_no_duplicates(runs)


# ---------------------------------------------------------------------------------------------
# DST, traversed by the fake clock
# ---------------------------------------------------------------------------------------------

DST_CASES = [
    pytest.param(
        "Europe/Berlin",
        # spring forward: 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z); the local day is 23 h
        "2026-03-28T23:00:00Z",
        "2026-03-29T22:00:00Z",
        {"30 2 * * *": ["2026-03-29T01:00:00Z"]},  # 02:30 never exists: once, at the jump
        92,
        id="berlin-spring-forward",
    ),
    pytest.param(
        "Europe/Berlin",
        # fall back: 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z); 02:00-02:59 twice; 25 h
        "2026-10-24T22:00:00Z",
        "2026-10-25T23:00:00Z",
        {"30 2 * * *": ["2026-10-25T00:30:00Z"]},  # first pass (CEST) only, not 01:30Z
        100,
        id="berlin-fall-back",
    ),
    pytest.param(
        "America/New_York",
        # spring forward: 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z); 23 h
        "2026-03-08T05:00:00Z",
        "2026-03-09T04:00:00Z",
        {"30 2 * * *": ["2026-03-08T07:00:00Z"], "30 1 * * *": ["2026-03-08T06:30:00Z"]},
        92,
        id="new-york-spring-forward",
    ),
    pytest.param(
        "America/New_York",
        # fall back: 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z); 01:00-01:59 twice; 25 h
        "2026-11-01T04:00:00Z",
        "2026-11-02T05:00:00Z",
        # 02:30 happens once (EST); 01:30 happens twice, a fixed-time job runs the first only
        {"30 2 * * *": ["2026-11-01T07:30:00Z"], "30 1 * * *": ["2026-11-01T05:30:00Z"]},
        100,
        id="new-york-fall-back",
    ),
]


@pytest.mark.parametrize(("zone", "start", "end", "daily", "quarters"), DST_CASES)
async def test_dst_transition_traversed_by_the_clock(
    harness_factory: Any,
    clock: Any,
    zone: str,
    start: str,
    end: str,
    daily: dict[str, list[str]],
    quarters: int,
) -> None:
    """The local day of a transition, walked in 15-minute steps (every instant of these jobs
    falls on one): each job runs exactly per cronie's rules, each run on time."""
    clock.set(t(start) - timedelta(seconds=30))
    h: Harness = await harness_factory()
    try:
        await h.service.add_job(
            {"name": "quarter", "agent": "a", "cron": "*/15 * * * *", "timezone": zone}
        )
        for i, cron in enumerate(daily):
            await h.service.add_job(
                {"name": f"daily-{i}", "agent": "a", "cron": cron, "timezone": zone}
            )
        instant = t(start)
        while instant < t(end):
            await h.to(instant.isoformat())
            instant += timedelta(minutes=15)
        await h.settle()

        for i, expected in enumerate(daily.values()):
            assert [z(r.scheduled_for) for r in await runs_of(h, f"daily-{i}")] == expected

        quarter = await runs_of(h, "quarter")
        fired = [r.scheduled_for for r in quarter]
        # every 15 minutes of real time, none lost and none doubled: in the gap the local
        # minutes 02:00-02:45 do not exist (lost), in the overlap they come twice (both run)
        assert len(fired) == quarters
        assert fired[0] == t(start)
        assert all(b - a == timedelta(minutes=15) for a, b in pairwise(fired))
        local = Counter(f.astimezone(ZoneInfo(zone)).strftime("%H:%M") for f in fired)
        repeated = {k for k, n in local.items() if n > 1}
        if quarters == 100:
            hour = "02" if zone == "Europe/Berlin" else "01"
            assert repeated == {f"{hour}:{m}" for m in ("00", "15", "30", "45")}
        else:
            assert not repeated and len(local) == 92
            hour = "02"
            assert not {f"{hour}:{m}" for m in ("00", "15", "30", "45")} & set(local)

        runs = await all_runs(h)
        assert_no_duplicates(runs)
        # each run started on its instant: no catch-up, no skip, no drift
        assert all(r.trigger is RunTrigger.SCHEDULE for r in runs)
        assert all(r.status is RunStatus.SUCCEEDED for r in runs)
        assert all(r.started_at == r.scheduled_for for r in runs)
        assert not await h.service.audit(type=AuditEventType.CRON_JOB_SKIPPED.value)
    finally:
        await h.engine.stop()
