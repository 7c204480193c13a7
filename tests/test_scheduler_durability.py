"""Leases, crash recovery, graceful shutdown and DST, through the real store and service."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from scheduler_core.clock import parse_instant
from scheduler_core.model import AuditEventType, JobStatus, RunStatus, RunTrigger
from scheduler_core.store import SqliteJobStore, open_store

from .conftest import Harness


def t(text: str) -> datetime:
    return parse_instant(text)


@pytest.mark.sqlite_only  # one leader per store; a shared store's nodes: test_multinode.py
async def test_two_schedulers_one_store_never_double_fire(harness_factory, clock) -> None:
    first: Harness = await harness_factory(owner="node-a", lease_ttl_seconds=300)
    second: Harness = await harness_factory(owner="node-b", lease_ttl_seconds=300)
    try:
        assert first.scheduler.is_leader and not second.scheduler.is_leader
        for i in range(20):
            await first.service.add_job({"name": f"j{i}", "agent": "a", "cron": "* * * * *"})
        for minute in range(1, 6):
            clock.set(f"2026-03-02T09:0{minute}:00Z")
            await asyncio.gather(first.settle(), second.settle())
        runs = await first.service.history(limit=1000)
        keys = [(r.job_id, r.scheduled_for) for r in runs]
        assert len(keys) == len(set(keys)) == 100
        assert len(first.agents.calls) == 100
        # the leader goes away without releasing (a crash): standby takes over after the TTL
        first.scheduler._stopping = True
        first.scheduler._wake.set()
        await first.scheduler._loop_task
        first.scheduler._lease_task.cancel()
        clock.set("2026-03-02T09:05:05Z")
        await second.scheduler._try_lead()
        assert not second.scheduler.is_leader  # the lease is still live
        clock.set("2026-03-02T09:11:00Z")  # past the 300 s TTL
        await second.scheduler._try_lead()
        assert second.scheduler.is_leader
        await second.settle()
        runs = await second.service.history(limit=1000)
        keys = [(r.job_id, r.scheduled_for) for r in runs]
        # 09:06 .. 09:11 were missed while nobody led: one catch-up run per job
        assert len(keys) == len(set(keys)) == 120
        assert sum(r.trigger is RunTrigger.CATCH_UP for r in runs) == 40  # + 09:00-09:01
    finally:
        first.scheduler._loop_task = None
        await second.engine.stop()
        await first.engine.store.close()


async def test_graceful_shutdown_interrupts_and_retries(harness_factory, clock) -> None:
    h: Harness = await harness_factory()
    h.agents.block("stuck")
    await h.service.add_job({"name": "long", "agent": "stuck", "cron": "0 9 * * *"})
    await h.clock_step("2026-03-02T09:00:00Z")
    assert h.scheduler.in_flight == 1
    await h.engine.scheduler.stop(grace=0.05)
    await h.engine.store.close()
    store = await open_store(h.engine.config.store_url())
    try:
        runs = await store.list_runs()
        by_status = {r.status: r for r in runs}
        assert by_status[RunStatus.INTERRUPTED].error_message.startswith("interrupted")
        retry = by_status[RunStatus.QUEUED]
        assert retry.trigger is RunTrigger.RETRY and retry.attempt == 2
        assert (await store.get_lease()) is None  # released on a graceful stop
    finally:
        await store.close()


async def test_shutdowns_never_count_as_failures_nor_dead_letter_a_job(harness_factory) -> None:
    """max_retries = 1, and three shutdowns in a row each interrupt the run in flight: each is
    recorded interrupted with a CronRunInterrupted event, none counts as a failure, and each is
    retried per policy by the next start."""
    instants = ["2026-03-02T09:00:00Z", "2026-03-02T09:00:10Z", "2026-03-02T09:00:30Z"]
    for n, instant in enumerate(instants):
        h: Harness = await harness_factory(shutdown_timeout_seconds=0.05)
        h.agents.block("stuck")
        if n == 0:
            job = {"name": "long", "agent": "stuck", "cron": "0 9 * * *", "max_retries": 1}
            await h.service.add_job(job)
        await h.clock_step(instant)  # the job's instant, then each retry's backoff
        assert h.scheduler.in_flight == 1, n
        await h.engine.stop()  # what SIGTERM does in the daemon
    h = await harness_factory()
    try:
        job = await h.service.get_job("long")
        assert (job.status, job.failure_count) == (JobStatus.ACTIVE, 0)
        runs = sorted(await h.service.history("long"), key=lambda r: r.attempt)
        assert [(r.attempt, r.status) for r in runs] == [
            (1, RunStatus.INTERRUPTED),
            (2, RunStatus.INTERRUPTED),
            (3, RunStatus.INTERRUPTED),
            (4, RunStatus.QUEUED),
        ]
        assert [r.trigger for r in runs[1:]] == [RunTrigger.RETRY] * 3
        events = await h.service.audit(type=AuditEventType.CRON_RUN_INTERRUPTED)
        assert sorted(e.run_id for e in events) == sorted(r.id for r in runs[:3])
        assert not await h.service.audit(type=AuditEventType.CRON_JOB_FAILED)
        assert not await h.service.audit(type=AuditEventType.CRON_JOB_DEAD_LETTERED)
    finally:
        await h.engine.stop()


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from scheduler_core.clock import FakeClock
    from scheduler_core.config import SchedulerConfig, StoreConfig
    from scheduler_core.engine import Engine
    from scheduler_core.runtime.base import CallableExecutor

    async def hang(ctx):
        print("started", flush=True)
        await asyncio.sleep(3600)

    async def main():
        clock = FakeClock("2026-03-02T08:59:59Z")
        engine = Engine(SchedulerConfig(store=StoreConfig(url=sys.argv[1])),
                        executor=CallableExecutor({"hang": hang}), clock=clock)
        service = await engine.start()
        await service.add_job({"name": "victim", "agent": "hang", "cron": "0 9 * * *"})
        clock.set("2026-03-02T09:00:00Z")
        engine.scheduler.notify()
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def test_killed_process_leaves_interrupted_run_after_restart(
    harness_factory, db_path: str, tmp_path: Path, clock
) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen(  # noqa: ASYNC220 - a child we kill -9 on purpose
        [sys.executable, str(script), db_path], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
        assert line.strip() == "started"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    store = await open_store(db_path)
    (run,) = await store.list_runs()
    assert run.status is RunStatus.RUNNING  # what the dead process left behind
    await store.close()
    clock.set("2026-03-02T09:00:01Z")
    h: Harness = await harness_factory()  # the dead holder's pid is gone: lease taken at once
    try:
        assert h.scheduler.is_leader
        runs = await h.service.history("victim")
        statuses = {r.attempt: r.status for r in runs}
        assert statuses[1] is RunStatus.INTERRUPTED
        assert statuses[2] is RunStatus.QUEUED  # retried per policy
        job = await h.service.get_job("victim")
        # an interruption is not the agent's failure: the count stays, the audit says why
        assert job.failure_count == 0 and job.next_run_at == t("2026-03-03T09:00:00Z")
        events = await h.service.audit(type=AuditEventType.CRON_RUN_INTERRUPTED)
        assert [e.run_id for e in events] == [r.id for r in runs if r.attempt == 1]
        assert await h.store.integrity_check() == "ok"
    finally:
        await h.engine.stop()


@pytest.mark.parametrize(
    ("tz", "cron", "start", "end", "expected"),
    [
        # spring forward in New York (2026-03-08 02:00 -> 03:00): a fixed-time job in the gap
        # runs once at the jump
        (
            "America/New_York",
            "30 2 * * *",
            "2026-03-07T12:00:00Z",
            "2026-03-09T12:00:00Z",
            ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"],
        ),
        # fall back in New York (2026-11-01 02:00 -> 01:00): a fixed-time job runs once
        (
            "America/New_York",
            "30 1 * * *",
            "2026-10-31T12:00:00Z",
            "2026-11-02T12:00:00Z",
            ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"],
        ),
        # fall back in London (2026-10-25 02:00 BST -> 01:00 GMT): a wildcard job runs twice
        (
            "Europe/London",
            "*/30 1 * * *",
            "2026-10-24T23:50:00Z",
            "2026-10-25T02:10:00Z",
            [
                "2026-10-25T00:00:00Z",
                "2026-10-25T00:30:00Z",
                "2026-10-25T01:00:00Z",
                "2026-10-25T01:30:00Z",
            ],
        ),
        # spring forward in London (2026-03-29 01:00 GMT -> 02:00 BST): wildcard minutes lost
        (
            "Europe/London",
            "*/30 1 * * *",
            "2026-03-28T23:50:00Z",
            "2026-03-29T03:00:00Z",
            [],
        ),
        # a leap day
        (
            "UTC",
            "0 12 29 2 *",
            "2027-01-01T00:00:00Z",
            "2028-03-01T00:00:00Z",
            ["2028-02-29T12:00:00Z"],
        ),
        # day-of-month OR day-of-week when neither is '*'
        (
            "UTC",
            "0 0 1,15 * 1",
            "2026-06-01T00:30:00Z",
            "2026-06-16T00:30:00Z",
            ["2026-06-08T00:00:00Z", "2026-06-15T00:00:00Z"],
        ),
    ],
)
async def test_dst_and_calendar_rules_through_the_service(
    harness_factory, clock, tz: str, cron: str, start: str, end: str, expected: list[str]
) -> None:
    clock.set(start)
    h: Harness = await harness_factory(misfire_threshold_seconds=1)
    try:
        await h.service.add_job({"name": "d", "agent": "a", "cron": cron, "timezone": tz})
        fired: list[str] = []
        job = await h.service.get_job("d")
        while job.next_run_at is not None and job.next_run_at <= t(end):
            clock.set(job.next_run_at)
            await h.settle()
            job = await h.service.get_job("d")
        runs = await h.service.history("d", limit=100)
        fired = sorted(r.scheduled_for.strftime("%Y-%m-%dT%H:%M:%SZ") for r in runs)
        assert fired == expected
        assert all(r.trigger is RunTrigger.SCHEDULE for r in runs)
    finally:
        await h.engine.stop()


@pytest.mark.sqlite_only
async def test_store_refuses_a_newer_schema(db_path: str) -> None:
    import sqlite3

    from scheduler_core.errors import StoreError

    store = await open_store(db_path)
    await store.close()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        await SqliteJobStore(db_path).open()


async def test_history_is_keyset_paginated_newest_first(harness: Harness) -> None:
    await harness.service.add_job({"name": "h", "agent": "a", "cron": "* * * * *"})
    await harness.to("2026-03-02T09:00:00Z")
    for _ in range(24):
        await harness.advance(60)
    first = await harness.service.history("h", limit=10)
    assert [r.scheduled_for for r in first] == sorted(
        (r.scheduled_for for r in first), reverse=True
    )
    second = await harness.service.history("h", limit=10, before_seq=first[-1].details["seq"])
    third = await harness.service.history("h", limit=10, before_seq=second[-1].details["seq"])
    seen = [r.id for r in first + second + third]
    assert len(seen) == len(set(seen)) == 25
    assert first[0].scheduled_for == t("2026-03-02T09:24:00Z")


async def test_job_status_counts_and_health(harness: Harness) -> None:
    harness.agents.fail("bad")
    await harness.service.add_job({"name": "ok", "agent": "good", "cron": "0 9 * * *"})
    await harness.service.add_job(
        {"name": "bad", "agent": "bad", "cron": "0 9 * * *", "max_retries": 1}
    )
    await harness.service.add_job({"name": "p", "agent": "good", "cron": "0 9 * * *"})
    await harness.service.pause_job("p")
    await harness.to("2026-03-02T09:00:00Z")
    health = (await harness.service.health()).to_dict()
    assert health["status"] == "healthy"
    assert health["active_jobs"] == 1 and health["paused_jobs"] == 1
    assert health["dead_letter_jobs"] == 1
    assert health["metrics"]["runs_total"] == 2
    assert health["metrics"]["runs_succeeded"] == 1 and health["metrics"]["runs_failed"] == 1
    assert (await harness.service.get_job("bad")).status is JobStatus.DEAD_LETTER


def test_wall_clock_sleep_is_not_used_for_schedules() -> None:
    """The engine's loop waits through the injected clock only."""
    files = sorted((Path(__file__).parents[1] / "scheduler_core" / "scheduling").glob("*.py"))
    assert len(files) >= 5, files
    source = "\n".join(f.read_text() for f in files)
    import re

    waits = re.findall(r"asyncio\.sleep\(([^)]*)\)", source)
    assert all(w == "0" for w in waits)  # sleep(0) is a yield, not a wait
    assert "time.sleep(" not in source
    assert time  # imported for the subprocess tests' timing helpers


@pytest.mark.sqlite_only
async def test_migrations_upgrade_a_version_1_store(db_path: str) -> None:
    import sqlite3

    from scheduler_core.store.schema import MIGRATIONS, SCHEMA_VERSION

    conn = sqlite3.connect(db_path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = await open_store(db_path)
    try:
        assert SCHEMA_VERSION >= 2
        rows = await store._fetchall("SELECT name FROM sqlite_master WHERE type = 'index'")
        names = {r[0] for r in rows}
        assert "runs_status" in names and "runs_open" not in names
        plan = await store._fetchall(
            "EXPLAIN QUERY PLAN SELECT min(due_at) FROM runs INDEXED BY runs_status "
            "WHERE status = 'queued' AND due_at > ?",
            ("x",),
        )
        assert "runs_status" in str(plan)
    finally:
        await store.close()


@pytest.mark.sqlite_only
async def test_a_version_2_store_gains_nodes_and_recovers_its_unowned_runs(
    db_path: str, harness_factory
) -> None:
    """Runs left running before runs recorded their owner (migration 3) belong to nobody alive:
    the first scheduler on the upgraded store interrupts and retries them."""
    import sqlite3

    from scheduler_core.model import JobRun, new_id

    first: Harness = await harness_factory(path=db_path, owner="old")
    job = await first.service.add_job({"name": "legacy", "agent": "a", "cron": "0 0 1 1 *"})
    await first.engine.stop()
    store = await open_store(db_path)
    run = JobRun(
        id=new_id(),
        job_id=job.id,
        job_name=job.name,
        agent_id=job.agent,
        scheduled_for=t("2026-03-02T08:00:00Z"),
        started_at=t("2026-03-02T08:00:00Z"),
        status=RunStatus.RUNNING,
    )
    await store.insert_run(run, [])
    await store.close()
    conn = sqlite3.connect(db_path)  # back to version 2: no owners, no nodes
    conn.executescript(
        "DROP TRIGGER jobs_text_delete; "
        "DROP TRIGGER jobs_text_update; DROP TABLE job_text_log; "
        "DROP INDEX jobs_next_order; DROP INDEX jobs_last_order; DROP INDEX jobs_failures; "
        "ALTER TABLE runs DROP COLUMN owner; DROP TABLE nodes; "
        "ALTER TABLE lease DROP COLUMN machine; PRAGMA user_version = 2;"
    )
    conn.close()
    second: Harness = await harness_factory(path=db_path, owner="new")
    try:
        await second.settle()
        got = await second.service.get_run(run.id)
        assert got.status is RunStatus.INTERRUPTED
        retry = [r for r in await second.service.history("legacy") if r.attempt == 2]
        assert len(retry) == 1
        [node] = await second.store.list_nodes(second.clock.now())
        assert (node.owner, node.role) == ("new", "leader")
    finally:
        await second.engine.stop()


async def test_idle_scheduler_is_woken_by_another_process(tmp_path: Path, agents) -> None:
    """No per-second polling when idle: a write from another process pokes the lease holder."""
    from scheduler_core.config import SchedulerConfig, SchedulerSettings, StoreConfig
    from scheduler_core.engine import Engine

    db = str(tmp_path / "wake.db")
    settings = SchedulerSettings(idle_poll_seconds=60, shutdown_timeout_seconds=0.5)
    engine = Engine(
        SchedulerConfig(scheduler=settings, store=StoreConfig(url=db)),
        executor=agents.executor(),
    )
    service = await engine.start()
    try:
        await service.add_job({"name": "poked", "agent": "a", "cron": "0 0 1 1 *"})
        await asyncio.wait_for(engine.scheduler.wait_idle(), 5)
        code = (
            "import asyncio, sys\n"
            "from scheduler_core.service import SchedulerService\n"
            "from scheduler_core.store import open_store\n"
            "async def main():\n"
            "    store = await open_store(sys.argv[1])\n"
            "    await SchedulerService(store).run_now('poked', actor='cli')\n"
            "    await store.close()\n"
            "asyncio.run(main())\n"
        )
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, db)
        assert await proc.wait() == 0
        while not agents.calls and time.monotonic() - started < 10:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        assert agents.names() == ["poked"]
        assert time.monotonic() - started < 5  # far sooner than the 60 s idle poll
    finally:
        await engine.stop()


async def test_a_late_finish_never_overwrites_a_takeover(harness: Harness) -> None:
    """Fencing: once a run is marked interrupted by another scheduler, its old result is dropped."""
    release = harness.agents.block("slow")
    await harness.service.add_job({"name": "f", "agent": "slow", "cron": "0 9 * * *"})
    await harness.clock_step("2026-03-02T09:00:00Z")
    (run,) = await harness.service.history("f")
    assert run.status is RunStatus.RUNNING
    # another scheduler took over and recovered the run meanwhile
    interrupted = dataclasses.replace(
        run, status=RunStatus.INTERRUPTED, error_message="interrupted: taken over"
    )
    assert await harness.store.update_run(interrupted, expected=RunStatus.RUNNING)
    release.set()
    await harness.settle()
    (run,) = [r for r in await harness.service.history("f") if r.attempt == 1]
    assert run.status is RunStatus.INTERRUPTED and run.error_message == "interrupted: taken over"
    assert (await harness.service.get_job("f")).run_count == 0


async def test_an_idle_leader_sleeps_until_its_renewal_which_sees_a_write_that_does_not_poke(
    harness: Harness,
) -> None:
    """Idle, the loop has no timer of its own before the next instant: the only other sleeper
    is the lease renewal, a third of the TTL away (renewed in time), and a write that wakes no
    one (a ``sqlite3`` shell pausing a job) is seen at that renewal, without an idle poll."""
    import sqlite3

    h = harness
    if not isinstance(h.engine.store, SqliteJobStore):
        pytest.skip("SQLite: a node of a shared store renews every 2 s (and hears NOTIFY)")
    await h.service.add_job({"name": "far", "agent": "a", "cron": "0 0 1 1 *"})
    await h.settle()
    now = h.clock.now()
    ttl = h.engine.config.scheduler.lease_ttl_seconds
    renewal = now + timedelta(seconds=ttl / 3)
    sleepers = h.clock.sleepers()
    assert renewal in sleepers
    assert all(s >= renewal for s in sleepers), sleepers  # (maintenance: minutes away)
    poll = h.engine.config.scheduler.idle_poll_seconds
    assert now + timedelta(seconds=poll) not in sleepers  # the poll rides on the renewals
    job = await h.service.get_job("far")
    assert job.next_run_at is not None and job.next_run_at > now + timedelta(days=1)
    lease = h.scheduler.lease
    assert lease is not None and lease.expires_at == now + timedelta(seconds=ttl)
    with sqlite3.connect(h.store.path) as shell:
        shell.execute("UPDATE jobs SET status = 'paused' WHERE name = 'far'")
    shell.close()
    events = h.engine.bus.subscribe()
    h.clock.advance(ttl / 3)
    seen: list[str] = []
    for _ in range(200):  # the renewal runs on the event loop, and tells the views
        await asyncio.sleep(0.005)
        while (event := events.get_nowait()) is not None:
            seen.append(type(event).__name__)
        if "Dropped" in seen:
            break
    events.close()
    assert "Dropped" in seen, seen
    renewed = h.scheduler.lease
    assert renewed is not None and renewed.expires_at == now + timedelta(seconds=ttl * 4 / 3)


async def test_an_idle_leader_renews_for_the_idle_ttl_and_for_the_short_one_before_work(
    harness: Harness,
) -> None:
    """Idle on SQLite, the holder renews its lease for ``idle_lease_ttl_seconds`` at a third of
    it (its only timer, the idle poll riding on it); once there is work (a job due soon), the
    lease is renewed at the short TTL before anything is claimed, and every third of it after."""
    h = harness
    if not isinstance(h.engine.store, SqliteJobStore):
        pytest.skip("SQLite: a node of a shared store renews every 2 s")
    settings = h.engine.config.scheduler
    ttl, idle_ttl = settings.lease_ttl_seconds, settings.idle_lease_ttl_seconds
    assert idle_ttl > ttl
    await h.service.add_job({"name": "far", "agent": "a", "cron": "0 0 1 1 *"})
    await h.settle()
    h.clock.advance(ttl / 3)  # the first renewal after the start finds the loop idle
    for _ in range(200):  # (not settle(): its notify() is work, which shortens the lease)
        await asyncio.sleep(0.005)
        if h.scheduler.leadership.stretched:
            break
    now = h.clock.now()
    lease = h.scheduler.lease
    assert lease is not None and lease.expires_at == now + timedelta(seconds=idle_ttl)
    assert h.scheduler.leadership.stretched
    sleepers = h.clock.sleepers()
    renewal = now + timedelta(seconds=idle_ttl / 3)
    assert renewal in sleepers and all(s >= renewal for s in sleepers), sleepers
    # a job due in a minute: the loop renews at the short TTL before it claims anything
    await h.service.add_job({"name": "soon", "agent": "a", "cron": "1 * * * *"})
    await h.settle()
    lease = h.scheduler.lease
    assert lease is not None and lease.expires_at == now + timedelta(seconds=ttl)
    assert not h.scheduler.leadership.stretched
    assert now + timedelta(seconds=ttl / 3) in h.clock.sleepers()  # the renewal task re-armed
    for _ in range(3):  # renewed every third of the short TTL until the job has run
        h.clock.advance(ttl / 3)
        await h.settle()
        lease = h.scheduler.lease
        assert lease is not None and lease.expires_at == h.clock.now() + timedelta(seconds=ttl)


def test_an_idle_leader_on_a_long_lease_refuses_a_second_and_a_killed_one_is_replaced_at_once(
    tmp_path: Path,
) -> None:
    """The guarantee the short TTL gave, kept with the idle one: while an idle holder (its lease
    renewed for 180 s) lives, a second scheduler on the store stands by; once it is killed
    (SIGKILL: nothing released), the next one takes the store over at its start."""
    db = tmp_path / "store.db"
    code = textwrap.dedent(
        """
        import asyncio, sys
        from scheduler_core.config import SchedulerConfig, SchedulerSettings, StoreConfig
        from scheduler_core.engine import Engine
        from scheduler_core.runtime.base import CallableExecutor

        async def main():
            settings = SchedulerSettings(lease_ttl_seconds=0.3, idle_lease_ttl_seconds=180)
            config = SchedulerConfig(scheduler=settings, store=StoreConfig(url=sys.argv[1]),
                                     data_dir=sys.argv[2])
            executor = CallableExecutor({"a": lambda ctx: None})
            engine = Engine(config, executor=executor, owner="first")
            await engine.start()
            await asyncio.Event().wait()

        asyncio.run(main())
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(db), str(tmp_path / "first")])
    try:

        async def lease_row() -> tuple[str, float] | None:
            store = await open_store(str(db))
            try:
                lease = await store.get_lease()
            finally:
                await store.close()
            if lease is None:
                return None
            return lease.owner, (lease.expires_at - lease.renewed_at).total_seconds()

        deadline = time.monotonic() + 30
        while asyncio.run(lease_row()) != ("first", 180.0):  # renewed on the idle TTL
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)

        async def second(owner: str) -> bool:
            from scheduler_core.config import SchedulerConfig, SchedulerSettings, StoreConfig
            from scheduler_core.engine import Engine
            from scheduler_core.runtime.base import CallableExecutor

            settings = SchedulerSettings(lease_ttl_seconds=0.3, idle_lease_ttl_seconds=180)
            config = SchedulerConfig(
                scheduler=settings, store=StoreConfig(url=str(db)), data_dir=str(tmp_path / owner)
            )
            engine = Engine(config, executor=CallableExecutor({}), owner=owner)
            await engine.start()
            try:
                assert engine.scheduler is not None
                return engine.scheduler.leadership.is_leader
            finally:
                await engine.stop()

        assert asyncio.run(second("second")) is False  # the live holder keeps the store
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        assert asyncio.run(second("third")) is True  # 180 s left on its lease: taken at once
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
