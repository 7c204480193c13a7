"""Retention: what pruning removes and keeps, on every store (SQLite file, PostgreSQL database),
the scheduler holding the lease pruning on its interval, and archived context entries.

Ages come from the injected clock (``FakeClock``); nothing here waits on wall time for them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler_core.clock import FakeClock
from scheduler_core.config import SchedulerConfig, SchedulerSettings, StoreConfig, load_config_text
from scheduler_core.engine import Engine
from scheduler_core.errors import ConfigError, StoreUnavailable
from scheduler_core.model import (
    AgentContext,
    AuditEventType,
    HeartbeatIteration,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
    SessionMode,
)
from scheduler_core.store import JobStore, open_store
from scheduler_core.store.base import FinishItem, cap_context
from scheduler_core.store.pruning import ANOTHER_NODE, NO_RETENTION, Pruner
from scheduler_core.store.retention import RetentionPolicy
from tests.conftest import Agents, Harness
from tests.test_store import T0, event, make_job, make_run

pytest_plugins = ("tests.pg",)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[JobStore]:
    s = await open_store(store_url)
    yield s
    await s.close()


def ended(job: JobDefinition, days_ago: float, **kw: Any) -> JobRun:
    """A run of ``job`` that succeeded ``days_ago`` days before T0."""
    t = T0 - timedelta(days=days_ago)
    kw.setdefault("status", RunStatus.SUCCEEDED)
    return make_run(job, scheduled=t, started_at=t, finished_at=t + timedelta(seconds=5), **kw)


def pruner(store: JobStore, clock: FakeClock | None = None, **policy: Any) -> Pruner:
    """A pruner with tiny batches, so that every pass crosses several batch boundaries."""
    p = Pruner(store, RetentionPolicy(**policy), clock=clock or FakeClock(T0))
    p.first_batch = p.min_batch = 2
    p.dry_batch = 3
    p.min_pause = 0
    return p


async def insert(store: JobStore, *runs: JobRun) -> None:
    for run in runs:
        await store.insert_run(run, [])


async def run_ids(store: JobStore, job: JobDefinition) -> set[str]:
    return {r.id for r in await store.list_runs(job.id, limit=1000)}


# --- what a pass removes and keeps ----------------------------------------------------------------


async def test_runs_go_by_age_but_each_jobs_newest_dead_letter_and_open_runs_stay(
    store: JobStore,
) -> None:
    busy, four, few = make_job("busy"), make_job("four"), make_job("few")
    dead = make_job("dead", status=JobStatus.DEAD_LETTER)
    await store.insert_jobs([busy, four, few, dead], [])
    busy_old = [ended(busy, 40 - i) for i in range(10)]  # 40..31 days ago
    busy_new = [ended(busy, 1), ended(busy, 0.5)]
    four_old = [ended(four, 30 - i) for i in range(4)]
    few_old = [ended(few, 50), ended(few, 49)]
    dead_old = [ended(dead, 20 + i, status=RunStatus.FAILED) for i in range(4)]
    # a run left running for 60 days is not history, however old
    stuck = make_run(busy, scheduled=T0 - timedelta(days=60), status=RunStatus.RUNNING)
    await insert(store, *busy_old, stuck, *busy_new, *four_old, *few_old, *dead_old)

    p = pruner(store, run_days=7, keep_runs_per_job=3)
    dry = await p.run(dry_run=True)
    assert dry.dry_run and dry.removed["runs"] == 11 and dry.skipped is None
    assert len(await run_ids(store, busy)) == 13  # a dry run removes nothing

    report = await p.run()
    assert report.removed["runs"] == 11 and report.batches > 3
    assert report.cutoffs["runs"] == T0 - timedelta(days=7)
    # busy: the old ten go, its newest three (one of them the stuck one) stay
    assert await run_ids(store, busy) == {stuck.id, *(r.id for r in busy_new)}
    # four: all four are old; its newest three stay whatever their age
    assert await run_ids(store, four) == {r.id for r in four_old[1:]}
    assert await run_ids(store, few) == {r.id for r in few_old}
    assert await run_ids(store, dead) == {r.id for r in dead_old}  # dead-lettered: kept

    again = await p.run()
    assert again.removed["runs"] == 0
    # without the exceptions, only the open run and what is recent stay
    bare = await pruner(store, run_days=7, keep_runs_per_job=0, keep_dead_letter_runs=False).run()
    assert bare.removed["runs"] == 3 + 2 + 4
    assert await run_ids(store, dead) == set() and await run_ids(store, four) == set()
    assert await run_ids(store, busy) == {stuck.id, *(r.id for r in busy_new)}


async def test_runs_finished_at_the_same_instant_are_all_pruned_across_batches(
    store: JobStore,
) -> None:
    job = make_job("burst")
    await store.insert_jobs([job], [])
    same = T0 - timedelta(days=10)
    runs = [
        make_run(job, scheduled=same + timedelta(minutes=i), started_at=same, finished_at=same)
        for i in range(25)
    ]
    await insert(store, *[_succeeded(r) for r in runs])
    p = pruner(store, run_days=1, keep_runs_per_job=0)
    assert (await p.run(dry_run=True)).removed["runs"] == 25
    assert (await p.run()).removed["runs"] == 25
    assert await run_ids(store, job) == set()


def _succeeded(run: JobRun) -> JobRun:
    return dataclasses.replace(run, status=RunStatus.SUCCEEDED)


async def test_iterations_go_by_their_age_and_with_their_run_counted_once(
    store: JobStore,
) -> None:
    job, dead = make_job("monitor"), make_job("dead", status=JobStatus.DEAD_LETTER)
    await store.insert_jobs([job, dead], [])
    oldest, older, recent = ended(job, 20), ended(job, 10), ended(job, 1)
    dead_run = ended(dead, 20, status=RunStatus.FAILED)
    await insert(store, oldest, older, recent, dead_run)
    for run in (oldest, older, recent, dead_run):
        for i in (1, 2):
            await store.record_iteration(
                HeartbeatIteration(
                    run_id=run.id,
                    index=i,
                    started_at=run.started_at + timedelta(seconds=i),  # type: ignore[operator]
                    outcome="continue",
                )
            )
    # iterations past 3 days go, but not those of the newest run or of a dead-lettered job
    p = pruner(store, iteration_days=3, keep_runs_per_job=1)
    assert (await p.run(dry_run=True)).removed == {"heartbeat_iterations": 4}
    assert (await p.run()).removed == {"heartbeat_iterations": 4}
    assert await store.list_iterations(oldest.id) == []
    assert await store.list_iterations(older.id) == []
    assert len(await store.list_iterations(recent.id)) == 2
    assert len(await store.list_iterations(dead_run.id)) == 2

    # runs past 15 days go, with the iterations left of them (none here: counted once)
    both = pruner(store, run_days=15, iteration_days=3, keep_runs_per_job=1)
    report = await both.run()
    assert report.removed["runs"] == 1 and report.removed["heartbeat_iterations"] == 0
    assert await store.get_run(oldest.id) is None

    # an iteration kept by its own age goes with its run, and is counted
    with_run = ended(job, 30)
    await insert(store, with_run)
    await store.record_iteration(
        HeartbeatIteration(run_id=with_run.id, index=1, started_at=T0, outcome="sleep")
    )
    await insert(store, ended(job, 0.1))  # with_run is no longer the newest
    report = await pruner(store, run_days=15, keep_runs_per_job=1).run(dry_run=True)
    assert report.removed == {
        "heartbeat_iterations": 1,
        "runs": 1,
        "context_archive": 0,
        "llm_cost_days": 0,
        "llm_cost_day_ends": 0,
    }


async def test_audit_events_go_by_age(store: JobStore) -> None:
    job = make_job("j")
    await store.insert_jobs([job], [])
    old = [
        event(AuditEventType.CRON_JOB_EXECUTED, T0 - timedelta(days=40 + i), job) for i in range(5)
    ]
    new = [event(AuditEventType.CRON_JOB_FAILED, T0 - timedelta(days=i), job) for i in range(2)]
    await store.record_audit([*old, *new])
    p = pruner(store, audit_days=30)
    assert (await p.run(dry_run=True)).removed == {"audit_events": 5}
    assert (await p.run()).removed == {"audit_events": 5}
    kept = await store.query_audit(job_id=job.id)
    assert sorted(e.type for e in kept) == [AuditEventType.CRON_JOB_FAILED] * 2


async def test_nothing_is_pruned_without_retention(store: JobStore) -> None:
    job = make_job("j")
    await store.insert_jobs([job], [])
    await insert(store, ended(job, 3650))
    report = await pruner(store).run()
    assert report.skipped == NO_RETENTION and report.total == 0
    assert len(await run_ids(store, job)) == 1


async def test_stats_count_rows_and_name_the_oldest_run(store: JobStore, store_url: str) -> None:
    job = make_job("j")
    await store.insert_jobs([job], [event(AuditEventType.CRON_JOB_CREATED, T0, job)])
    await insert(store, ended(job, 3), ended(job, 2), make_run(job, scheduled=T0))
    stats = await store.store_stats()
    assert stats.backend == ("postgresql" if store_url.startswith("postgres") else "sqlite")
    assert stats.tables["runs"].rows == 3 and stats.tables["jobs"].rows == 1
    assert stats.tables["audit_events"].rows == 1
    assert stats.tables["context_archive"].rows == 0
    assert stats.oldest_run_at == T0 - timedelta(days=3, seconds=-5)
    assert stats.oldest_audit_at == T0
    assert stats.total_bytes > 0
    assert all(t.bytes is None or t.bytes > 0 for t in stats.tables.values())


async def test_pg_nodes_prune_one_at_a_time(pg_url: str) -> None:
    first, second = await open_store(pg_url), await open_store(pg_url)
    try:
        job = make_job("j")
        await first.insert_jobs([job], [])
        await insert(first, ended(job, 30))
        async with first.maintenance() as mine:
            assert mine
            report = await pruner(second, run_days=1, keep_runs_per_job=0).run()
            assert report.skipped == ANOTHER_NODE and report.total == 0
        report = await pruner(second, run_days=1, keep_runs_per_job=0).run()
        assert report.removed["runs"] == 1
    finally:
        await first.close()
        await second.close()


# --- archived context entries ------------------------------------------------------------------


def test_the_cap_hands_dropped_entries_to_the_archive_only_when_asked() -> None:
    entries = tuple({"run_id": f"r{i}", "output": "x" * 300} for i in range(5))
    context = AgentContext(job_id="j", mode=SessionMode.SHARED_PERSISTENT, memory=entries)
    lost = cap_context(context, 700)
    assert [e["run_id"] for e in lost.memory] == ["r3", "r4"] and lost.archived == ()
    kept = cap_context(context, 700, archive=True)
    assert kept.memory == lost.memory
    assert [e["run_id"] for e in kept.archived] == ["r0", "r1", "r2"]


async def test_archived_entries_are_kept_and_pruned_with_the_runs(store: JobStore) -> None:
    job = make_job("j")
    await store.insert_jobs([job], [])
    old = AgentContext(
        job_id=job.id,
        mode=SessionMode.SHARED_PERSISTENT,
        memory=({"run_id": "r2"},),
        archived=({"run_id": "r1", "output": "first"},),
        updated_at=T0 - timedelta(days=20),
    )
    await store.save_context(old, 10_000)
    recent = AgentContext(
        job_id=job.id,
        mode=SessionMode.SHARED_PERSISTENT,
        memory=({"run_id": "r3"},),
        archived=({"run_id": "r2"},),
        updated_at=T0,
    )
    await store.save_context(recent, 10_000)
    assert (await store.store_stats()).tables["context_archive"].rows == 2
    loaded = await store.load_context(job.id)
    assert loaded is not None and loaded.archived == () and len(loaded.memory) == 1
    report = await pruner(store, run_days=10).run()
    assert report.removed["context_archive"] == 1
    assert (await store.store_stats()).tables["context_archive"].rows == 1


async def test_each_finished_runs_archive_is_kept_when_one_job_finishes_twice_at_once(
    store: JobStore,
) -> None:
    job = make_job("j")
    await store.insert_jobs([job], [])
    first, second = make_run(job, scheduled=T0), make_run(job, scheduled=T0 + timedelta(minutes=1))
    await insert(store, first, second)

    def finished(run: JobRun, dropped: str) -> FinishItem:
        context = AgentContext(
            job_id=job.id,
            mode=SessionMode.SHARED_PERSISTENT,
            memory=({"run_id": run.id},),
            archived=({"run_id": dropped},),
            updated_at=T0,
        )
        done = dataclasses.replace(run, status=RunStatus.SUCCEEDED, finished_at=T0)
        return FinishItem(run=done, job=job, context=context)

    items = [finished(first, "older"), finished(second, "old")]
    await store.finish_runs(items, lambda item, current: None)
    assert (await store.store_stats()).tables["context_archive"].rows == 2
    context = await store.load_context(job.id)
    assert context is not None and context.memory == ({"run_id": second.id},)


@pytest.mark.parametrize("archive", [True, False])
async def test_a_shared_persistent_context_archives_what_its_cap_drops(
    harness_factory: Any, archive: bool
) -> None:
    h: Harness = await harness_factory(context_max_bytes=5000, context_archive=archive)
    h.agents.behaviour["a"] = lambda ctx: "y" * 3000 + "\nSUMMARY: s"
    await h.service.add_job(
        {"name": "j", "agent": "a", "cron": "0 * * * *", "session_mode": "shared_persistent"}
    )
    for hour in ["09", "10", "11", "12"]:
        await h.to(f"2026-03-02T{hour}:00:00Z")
    runs = await h.service.history("j")
    assert len(runs) == 4
    context = await h.store.load_context(runs[0].job_id)
    assert context is not None and len(context.memory) == 1  # one entry fits
    archived = (await h.store.store_stats()).tables["context_archive"].rows
    assert archived == (3 if archive else 0)
    # what each run saw is its one predecessor, archive or not
    assert [len(c.memory) for c in h.agents.calls] == [0, 1, 1, 1]


# --- the scheduler that holds the lease prunes --------------------------------------------------


def _retention_config(url: str, **store: Any) -> SchedulerConfig:
    return SchedulerConfig(
        # (the fake clock moves minutes at a time: a lease that outlives the jumps)
        scheduler=SchedulerSettings(
            claim_ahead_seconds=0, shutdown_timeout_seconds=0.5, lease_ttl_seconds=3600
        ),
        store=StoreConfig(url=url, **store),
    )


async def test_the_lease_holder_prunes_on_its_interval(
    db_path: str, clock: FakeClock, agents: Agents
) -> None:
    config = _retention_config(
        db_path, run_retention_days=7, keep_runs_per_job=1, prune_interval_seconds=600
    )
    leader = Engine(config, executor=agents.executor(), clock=clock, owner="leader")
    other = Engine(config, executor=agents.executor(), clock=clock, owner="other")
    await leader.start()
    await other.start()
    try:
        store = leader.store
        assert leader.scheduler is not None and other.scheduler is not None
        upkeep = [leader.scheduler.maintenance, other.scheduler.maintenance]
        # on SQLite the other is a standby and never prunes; on PostgreSQL every node may,
        # one at a time
        pruning = upkeep if store.shared else upkeep[:1]
        job = make_job("j", next_in=None)
        await store.insert_jobs([job], [])
        await insert(store, *[ended(job, 30 + i) for i in range(5)], ended(job, 1))

        async def passes(count: int) -> int:
            """Wait for each pruning node's ``count``-th pass; the runs they removed."""
            reports = [await asyncio.wait_for(m.wait_passes(count), 10) for m in pruning]
            return sum(r.removed.get("runs", 0) for r in reports)

        clock.advance(290)  # the first pass comes 5 minutes after start
        await asyncio.sleep(0.05)
        assert [m.passes for m in upkeep] == [0, 0]
        clock.advance(20)
        assert await passes(1) == 5
        assert len(await run_ids(store, job)) == 1
        assert leader.service is not None
        (audited,) = await leader.service.audit(type=AuditEventType.STORE_PRUNED)
        assert audited.actor == "scheduler" and audited.details["removed"] == {"runs": 5}
        # and again one interval later
        await insert(store, ended(job, 40), ended(job, 0.5))
        clock.advance(600)
        assert await passes(2) == 1
        assert upkeep[1].passes == (2 if store.shared else 0)
    finally:
        await other.stop()
        await leader.stop()


async def test_a_pass_the_store_refuses_is_one_warning_line_and_the_next_pass_prunes(
    db_path: str, clock: FakeClock, agents: Agents, caplog: pytest.LogCaptureFixture
) -> None:
    config = _retention_config(
        db_path, run_retention_days=7, keep_runs_per_job=1, prune_interval_seconds=600
    )
    engine = Engine(config, executor=agents.executor(), clock=clock, owner="leader")
    await engine.start()
    try:
        store = engine.store
        assert engine.scheduler is not None
        upkeep = engine.scheduler.maintenance
        job = make_job("j", next_in=None)
        await store.insert_jobs([job], [])
        await insert(store, *[ended(job, 30 + i) for i in range(3)], ended(job, 1))
        refused = asyncio.Event()
        real = store.prune_batch

        async def full_disk(*args: Any, **kw: Any) -> Any:
            refused.set()
            raise StoreUnavailable("disk_full", store=store.url, reason="database or disk is full")

        store.prune_batch = full_disk  # type: ignore[method-assign]
        clock.advance(310)
        await asyncio.wait_for(refused.wait(), 10)
        await asyncio.sleep(0.05)
        lines = [r for r in caplog.records if "pruning" in r.getMessage()]
        assert [r.levelname for r in lines] == ["WARNING"] and lines[0].exc_info is None
        assert "disk is full" in lines[0].getMessage() and upkeep.passes == 0
        store.prune_batch = real  # type: ignore[method-assign]
        clock.advance(600)
        report = await asyncio.wait_for(upkeep.wait_passes(1), 10)
        assert report.removed.get("runs") == 3
    finally:
        await engine.stop()


# --- settings ------------------------------------------------------------------------------------


def test_retention_settings_load_and_bad_values_name_their_key() -> None:
    cfg = load_config_text(
        "[store]\nrun_retention_days = 90\niteration_retention_days = 30.5\n"
        "audit_retention_days = 365\nkeep_runs_per_job = 10\nkeep_dead_letter_runs = false\n"
        "[scheduler]\ncontext_archive = true\n",
        env={},
    )
    policy = RetentionPolicy.of(cfg.store)
    assert policy == RetentionPolicy(
        run_days=90,
        iteration_days=30.5,
        audit_days=365,
        keep_runs_per_job=10,
        keep_dead_letter_runs=False,
    )
    assert cfg.scheduler.context_archive is True
    defaults = load_config_text("", env={})
    assert not RetentionPolicy.of(defaults.store).enabled  # nothing is pruned unless asked
    assert defaults.store.keep_runs_per_job == 100 and defaults.store.keep_dead_letter_runs
    for text, key in (
        ("run_retention_days = -1", "store.run_retention_days"),
        ("audit_retention_days = 1e9", "store.audit_retention_days"),
        ('iteration_retention_days = "30"', "store.iteration_retention_days"),
        ("keep_runs_per_job = 2.5", "store.keep_runs_per_job"),
        ("keep_dead_letter_runs = 1", "store.keep_dead_letter_runs"),
        ("prune_interval_seconds = 0", "store.prune_interval_seconds"),
        ("run_retention = 30", "store.run_retention"),
    ):
        with pytest.raises(ConfigError) as caught:
            load_config_text(f"[store]\n{text}\n", path="c.toml", env={})
        assert caught.value.key == key, text
        assert "c.toml:2" in str(caught.value), text
