"""The JobStore protocol, against every store: SQLite (a file) and PostgreSQL (a fresh database).

Each test runs once per store (``store`` is parametrised); PostgreSQL's are skipped when no server
can be had (tests/pg.py). A few tests at the end are PostgreSQL-only: concurrent claimers, nodes,
the runs' owner column.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler_core.errors import ConflictError, StoreError
from scheduler_core.model import (
    AgentContext,
    AuditEvent,
    AuditEventType,
    HeartbeatIteration,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
    RunTrigger,
    SessionMode,
    new_id,
)
from scheduler_core.store import JobStore, SqliteJobStore, open_store
from scheduler_core.store.base import (
    ApprovalDecision,
    ClaimPlan,
    FinishItem,
    FinishPlan,
    JobQuery,
    StartPlan,
    StoredDefinition,
)

pytest_plugins = ("tests.pg",)

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWNER = "node-a"


def at(seconds: float = 0, **delta: float) -> datetime:
    return T0 + timedelta(seconds=seconds, **delta)


def make_job(
    name: str, *, agent: str = "bot", next_in: float | None = 0, **kw: Any
) -> JobDefinition:
    return JobDefinition(
        id=new_id(),
        name=name,
        agent=agent,
        cron="*/5 * * * *",
        next_run_at=at(next_in) if next_in is not None else None,
        created_at=at(-3600),
        updated_at=at(-3600),
        source="test",
        **kw,
    )


def make_run(
    job: JobDefinition,
    *,
    scheduled: datetime = T0,
    status: RunStatus = RunStatus.RUNNING,
    trigger: RunTrigger = RunTrigger.SCHEDULE,
    attempt: int = 1,
    **kw: Any,
) -> JobRun:
    return JobRun(
        id=new_id(),
        job_id=job.id,
        job_name=job.name,
        agent_id=job.agent,
        trigger=trigger,
        scheduled_for=scheduled,
        due_at=kw.pop("due_at", scheduled),
        started_at=kw.pop("started_at", scheduled if status is RunStatus.RUNNING else None),
        status=status,
        attempt=attempt,
        **kw,
    )


def event(
    kind: AuditEventType, when: datetime, job: JobDefinition | None = None, **d: Any
) -> AuditEvent:
    return AuditEvent(at=when, type=kind, actor="test", job_id=job.id if job else None, details=d)


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "store.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def is_pg(store_url: str) -> bool:
    return store_url.startswith("postgres")


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[JobStore]:
    s = await open_store(store_url)
    yield s
    await s.close()


@pytest.fixture
async def other(store_url: str, store: JobStore) -> AsyncIterator[JobStore]:
    """A second store object on the same database (another process, another node)."""
    s = await open_store(store_url)
    yield s
    await s.close()


@pytest.fixture
async def leader(store: JobStore) -> JobStore:
    await store.acquire_lease(OWNER, now=T0, ttl=3600)
    return store


def advance_planner(
    step: float = 300,
    *,
    seen: list[JobDefinition] | None = None,
    status: RunStatus = RunStatus.RUNNING,
) -> Callable[[Sequence[JobDefinition], Mapping[str, int]], list[ClaimPlan]]:
    """A claim planner: every job runs now and moves ``step`` seconds on."""

    def plan(jobs: Sequence[JobDefinition], others: Mapping[str, int]) -> list[ClaimPlan]:
        if seen is not None:
            seen.extend(jobs)
        assert all(j.next_run_at is not None for j in jobs)
        return [
            ClaimPlan(
                job=j,
                next_run_at=j.next_run_at + timedelta(seconds=step),  # type: ignore[operator]
                run=make_run(j, scheduled=j.next_run_at, status=status),  # type: ignore[arg-type]
                audit=(event(AuditEventType.CRON_JOB_EXECUTED, T0, j),),
            )
            for j in jobs
        ]

    return plan


# --- lifecycle ------------------------------------------------------------------------------------


async def test_reopening_keeps_the_data_and_checks_ok(store_url: str, store: JobStore) -> None:
    job = make_job("keep")
    await store.insert_jobs([job], [])
    assert await store.integrity_check() == "ok"
    again = await open_store(store_url)
    try:
        assert (await again.get_job(job.id)) == job
        assert await again.integrity_check() == "ok"
    finally:
        await again.close()


async def test_open_store_picks_the_implementation(store: JobStore, is_pg: bool) -> None:
    from scheduler_core.store import PostgresJobStore

    assert isinstance(store, PostgresJobStore if is_pg else SqliteJobStore)


# --- jobs -----------------------------------------------------------------------------------------


async def test_insert_and_get_round_trip(store: JobStore) -> None:
    job = make_job(
        "round",
        next_in=90.123456,
        last_run_status=RunStatus.FAILED,
        last_error="nope",
        run_count=3,
        failure_count=2,
        input="hello",
        webhook_headers={"X-A": "1"},
    )
    await store.insert_jobs([job], [event(AuditEventType.CRON_JOB_CREATED, T0, job)])
    assert await store.get_job(job.id) == job
    assert await store.get_job_by_name("round") == job
    assert await store.get_job("nope") is None
    assert await store.get_job_by_name("nope") is None
    [audit] = await store.query_audit()
    assert audit.type is AuditEventType.CRON_JOB_CREATED and audit.job_id == job.id


async def test_runs_are_found_by_a_prefix_of_their_id(store: JobStore) -> None:
    job = make_job("prefixed", next_in=None)
    await store.insert_jobs([job], [])
    runs = [
        dataclasses.replace(make_run(job, scheduled=T0 + timedelta(minutes=i)), id=run_id)
        for i, run_id in enumerate(("abc1230000", "abc1239999", "abd0000000", "abc"))
    ]
    for run in runs:
        await store.insert_run(run, [])
    assert [r.id for r in await store.runs_with_prefix("abc123", limit=5)] == [
        "abc1230000",
        "abc1239999",
    ]
    assert [r.id for r in await store.runs_with_prefix("abc1239")] == ["abc1239999"]
    assert [r.id for r in await store.runs_with_prefix("abc", limit=1)] == ["abc"]
    assert await store.runs_with_prefix("abz") == [] and await store.runs_with_prefix("") == []


async def test_definitions_are_registered_with_jobs_and_rewritten_by_kind_and_name(
    store: JobStore,
) -> None:
    job = make_job("with-agent", next_in=60)

    def agent(model: str) -> StoredDefinition:
        return StoredDefinition(
            kind="agent", name="helper", definition={"model": model}, source="dsl:a.symbi:1"
        )

    other = StoredDefinition(kind="policy", name="helper", definition={"require_approval": True})
    await store.upsert_jobs([job], [], [agent("gpt-4o"), other])
    assert await store.get_job(job.id) is not None
    (stored,) = await store.list_definitions("agent")
    assert (stored.name, stored.definition, stored.source) == (
        "helper",
        {"model": "gpt-4o"},
        "dsl:a.symbi:1",
    )
    await store.upsert_jobs([], [], [agent("gpt-4o-mini")])  # the same kind and name: rewritten
    assert [d.definition for d in await store.list_definitions("agent")] == [
        {"model": "gpt-4o-mini"}
    ]
    assert [d.definition for d in await store.list_definitions("policy")] == [
        {"require_approval": True}
    ]


async def test_insert_refuses_a_taken_name(store: JobStore) -> None:
    await store.insert_jobs([make_job("a")], [])
    with pytest.raises(ConflictError, match="'a' already exists"):
        await store.insert_jobs([make_job("b"), make_job("a")], [])
    assert await store.get_job_by_name("b") is None  # the whole batch was refused
    with pytest.raises(ConflictError, match="'c' already exists"):
        await store.insert_jobs([make_job("c"), make_job("c")], [])
    assert await store.all_job_names() == ["a"]


async def test_upsert_inserts_and_rewrites_keeping_run_state(store: JobStore) -> None:
    job = make_job("up", run_count=0)
    await store.insert_jobs([job], [])
    # the run state columns are the store's: an upsert does not overwrite them
    ran = dataclasses.replace(
        job, run_count=5, last_run_at=at(10), last_run_status=RunStatus.SUCCEEDED
    )
    edited = dataclasses.replace(
        ran, agent="other", cron="0 * * * *", failure_count=1, last_error="x", updated_at=at(5)
    )
    new = make_job("fresh")
    await store.upsert_jobs([edited, new], [event(AuditEventType.CRON_JOB_UPDATED, T0, job)])
    got = await store.get_job(job.id)
    assert got is not None
    assert (got.agent, got.cron, got.failure_count, got.last_error) == (
        "other",
        "0 * * * *",
        1,
        "x",
    )
    assert got.updated_at == at(5) and got.created_at == job.created_at
    assert got.run_count == 0 and got.last_run_at is None  # kept, not taken from the upsert
    assert await store.get_job(new.id) == new
    assert len(await store.query_audit()) == 1


async def test_update_job(store: JobStore) -> None:
    a, b = make_job("a"), make_job("b")
    await store.insert_jobs([a, b], [])
    await store.update_job(
        dataclasses.replace(a, status=JobStatus.PAUSED, next_run_at=None, updated_at=at(1)),
        [event(AuditEventType.CRON_JOB_PAUSED, T0, a)],
    )
    got = await store.get_job(a.id)
    assert got is not None and got.status is JobStatus.PAUSED and got.next_run_at is None
    with pytest.raises(ConflictError, match="'b' already exists"):
        await store.update_job(dataclasses.replace(a, name="b"), [])
    with pytest.raises(ConflictError, match="removed meanwhile"):
        await store.update_job(make_job("ghost"), [])
    assert [e.type for e in await store.query_audit()] == [AuditEventType.CRON_JOB_PAUSED]


async def test_delete_job_cascades(store: JobStore) -> None:
    job = make_job("gone")
    await store.insert_jobs([job], [])
    run = make_run(job)
    await store.insert_run(run, [])
    await store.record_iteration(HeartbeatIteration(run_id=run.id, index=1, started_at=T0))
    await store.save_context(AgentContext(job_id=job.id, mode=SessionMode.SHARED_PERSISTENT), 1000)
    assert await store.delete_job(job.id, [event(AuditEventType.CRON_JOB_DELETED, T0, job)])
    assert not await store.delete_job(job.id, [event(AuditEventType.CRON_JOB_DELETED, T0, job)])
    assert await store.get_run(run.id) is None
    assert await store.list_iterations(run.id) == []
    assert await store.load_context(job.id) is None
    assert len(await store.query_audit()) == 1  # audited once: only when something was deleted


async def test_find_jobs_by_id_prefix_and_name(store: JobStore) -> None:
    a, b = make_job("alpha"), make_job("beta")
    await store.insert_jobs([a, b], [])
    assert [j.id for j in await store.find_jobs(a.id)] == [a.id]
    assert [j.name for j in await store.find_jobs("beta")] == ["beta"]
    assert {j.id for j in await store.find_jobs(a.id[:6])} >= {a.id}  # same millisecond: both
    assert [j.id for j in await store.find_jobs(b.id[-20:].upper())] == []
    assert [j.id for j in await store.find_jobs(a.id.upper())] == [a.id]  # hex ids fold case
    assert await store.find_jobs("zzz") == []
    assert len(await store.find_jobs(a.id[:3], limit=1)) == 1


async def test_list_jobs_filters_orders_and_pages(store: JobStore) -> None:
    jobs = [
        make_job("web-1", agent="crawler", next_in=30),
        make_job("web-2", agent="crawler", next_in=10),
        make_job("Report", agent="writer", next_in=None, status=JobStatus.PAUSED),
        make_job("digest", agent="writer", next_in=20, failure_count=4),
    ]
    await store.insert_jobs(jobs, [])
    page = await store.list_jobs(JobQuery())
    assert [j.name for j in page.jobs] == ["Report", "digest", "web-1", "web-2"]  # byte order
    assert page.total == 4
    page = await store.list_jobs(JobQuery(order="next_run_at"))
    assert [j.name for j in page.jobs] == ["web-2", "digest", "web-1", "Report"]  # nulls last
    page = await store.list_jobs(JobQuery(order="next_run_at", descending=True))
    assert [j.name for j in page.jobs] == ["Report", "web-1", "digest", "web-2"]  # nulls first
    page = await store.list_jobs(JobQuery(status=JobStatus.PAUSED))
    assert [j.name for j in page.jobs] == ["Report"] and page.total == 1
    page = await store.list_jobs(JobQuery(agent="crawler", order="name", descending=True))
    assert [j.name for j in page.jobs] == ["web-2", "web-1"]
    page = await store.list_jobs(JobQuery(text="REP"))
    assert [j.name for j in page.jobs] == ["Report"]
    page = await store.list_jobs(JobQuery(text="writ", status=JobStatus.ACTIVE))
    assert [j.name for j in page.jobs] == ["digest"]
    page = await store.list_jobs(JobQuery(order="failure_count", descending=True, limit=1))
    assert [j.name for j in page.jobs] == ["digest"] and page.total == 4
    page = await store.list_jobs(JobQuery(limit=2, offset=2))
    assert [j.name for j in page.jobs] == ["web-1", "web-2"] and page.total == 4
    page = await store.list_jobs(JobQuery(order="bogus; DROP TABLE jobs"))  # falls back to name
    assert page.total == 4


async def test_count_jobs_and_names(store: JobStore) -> None:
    await store.insert_jobs(
        [make_job("b"), make_job("a", status=JobStatus.DEAD_LETTER), make_job("c")], []
    )
    counts = await store.count_jobs()
    assert counts[JobStatus.ACTIVE] == 2 and counts[JobStatus.DEAD_LETTER] == 1
    assert counts[JobStatus.PAUSED] == 0 and set(counts) == set(JobStatus)
    assert await store.all_job_names() == ["a", "b", "c"]


async def test_next_wakeup(store: JobStore) -> None:
    assert await store.next_wakeup(T0) is None
    job = make_job("j", next_in=100)
    paused = make_job("p", next_in=5, status=JobStatus.PAUSED)
    await store.insert_jobs([job, paused], [])
    assert await store.next_wakeup(T0) == at(100)
    assert await store.next_wakeup(T0, ahead=2.5) == at(97.5)
    await store.insert_run(
        make_run(job, scheduled=at(-60), status=RunStatus.QUEUED, due_at=at(40)), []
    )
    await store.insert_run(
        make_run(job, scheduled=at(-120), status=RunStatus.QUEUED, due_at=at(-1)), []
    )
    assert await store.next_wakeup(T0) == at(40)  # a queued run already due is left out
    running = make_run(job, scheduled=at(-180))
    await store.insert_run(running, [])
    await store.park_run(
        dataclasses.replace(running, status=RunStatus.AWAITING_APPROVAL),
        expires_at=at(20),
        approvers=["ops"],
    )
    assert await store.next_wakeup(T0) == at(20)


# --- the scheduler's transactions -----------------------------------------------------------------


async def test_claim_due_needs_the_lease(store: JobStore) -> None:
    await store.insert_jobs([make_job("j")], [])
    assert await store.claim_due(T0, 10, OWNER, advance_planner()) is None
    await store.acquire_lease("someone-else", now=T0, ttl=60)
    assert await store.claim_due(T0, 10, OWNER, advance_planner()) is None
    # an expired lease is no lease either
    assert await store.claim_due(at(61), 10, "someone-else", advance_planner()) is None


async def test_claim_due_applies_the_plans(leader: JobStore) -> None:
    store = leader
    due = [make_job(f"due-{i}", next_in=-i) for i in range(3)]
    later = make_job("later", next_in=30)
    paused = make_job("paused", next_in=-100, status=JobStatus.PAUSED)
    await store.insert_jobs([*due, later, paused], [])
    seen: list[JobDefinition] = []
    plans = await store.claim_due(T0, 2, OWNER, advance_planner(seen=seen))
    assert plans is not None
    assert [j.name for j in seen] == ["due-2", "due-1"]  # oldest instant first, limit kept
    assert [p.job.name for p in plans] == ["due-2", "due-1"]
    for p in plans:
        job = await store.get_job(p.job.id)
        assert job is not None and job.next_run_at == p.next_run_at
        assert p.run is not None and await store.get_run(p.run.id) is not None
    assert len(await store.query_audit(type=AuditEventType.CRON_JOB_EXECUTED)) == 2
    seen.clear()
    plans = await store.claim_due(T0, 10, OWNER, advance_planner(seen=seen))
    assert [j.name for j in seen] == ["due-0"]
    seen.clear()
    assert await store.claim_due(T0, 10, OWNER, advance_planner(seen=seen)) == []
    assert seen == []
    # ``until`` claims ahead of ``now``
    plans = await store.claim_due(T0, 10, OWNER, advance_planner(seen=seen), until=at(30))
    assert [j.name for j in seen] == ["later"]


async def test_claim_due_status_change_and_no_run(leader: JobStore) -> None:
    store = leader
    job = make_job("once", next_in=-1)
    await store.insert_jobs([job], [])

    def planner(jobs: Sequence[JobDefinition], others: Mapping[str, int]) -> list[ClaimPlan]:
        return [ClaimPlan(job=j, next_run_at=None, status=JobStatus.COMPLETED) for j in jobs]

    plans = await store.claim_due(T0, 10, OWNER, planner)
    assert plans is not None and len(plans) == 1 and plans[0].run is None
    got = await store.get_job(job.id)
    assert got is not None and got.status is JobStatus.COMPLETED and got.next_run_at is None
    assert await store.list_runs() == []


async def test_claim_due_never_fires_an_instant_twice(leader: JobStore) -> None:
    store = leader
    job = make_job("dup", next_in=-1)
    await store.insert_jobs([job], [])
    # the instant was recorded already (a crash after insert, another node...)
    await store.insert_run(make_run(job, scheduled=at(-1)), [])
    plans = await store.claim_due(T0, 10, OWNER, advance_planner(60))
    assert plans == []  # the plan whose run was not inserted is dropped, with its audit
    got = await store.get_job(job.id)
    assert got is not None and got.next_run_at == at(59)  # but the job still moved on
    assert len(await store.list_runs(job.id)) == 1
    assert await store.query_audit() == []


async def test_start_queued(leader: JobStore, other: JobStore) -> None:
    store = leader
    job = make_job("q")
    await store.insert_jobs([job], [])
    runs = [
        make_run(job, scheduled=at(-i), status=RunStatus.QUEUED, due_at=at(-i)) for i in range(4)
    ]
    not_due = make_run(job, scheduled=at(-10), status=RunStatus.QUEUED, due_at=at(5))
    for r in [*runs, not_due]:
        await store.insert_run(r, [])
    assert await other.start_queued(T0, 10, "not-the-leader", lambda pairs, others: []) is None
    seen: list[tuple[JobRun, JobDefinition]] = []

    def planner(
        pairs: Sequence[tuple[JobRun, JobDefinition]], others: Mapping[str, int]
    ) -> list[StartPlan]:
        seen.extend(pairs)
        out = []
        for i, (run, j) in enumerate(pairs):
            if i == 0:
                out.append(StartPlan(run=run, job=j, start=False, cancel_reason="job paused"))
            elif i == 1:
                out.append(StartPlan(run=run, job=j, start=False))  # stays queued
            else:
                started = dataclasses.replace(run, status=RunStatus.RUNNING, started_at=T0)
                out.append(StartPlan(run=started, job=j, start=True))
        return out

    plans = await store.start_queued(T0, 10, OWNER, planner)
    assert [r.id for r, _ in seen] == [r.id for r in reversed(runs)]  # by due time
    assert all(j == job for _, j in seen)
    assert plans is not None and [p.run.id for p in plans] == [runs[3].id, runs[1].id, runs[0].id]
    cancelled = await store.get_run(runs[3].id)
    assert cancelled is not None and cancelled.status is RunStatus.CANCELLED
    assert cancelled.error_message == "job paused" and cancelled.finished_at == T0
    left = await store.get_run(runs[2].id)
    assert left is not None and left.status is RunStatus.QUEUED
    for r in runs[:2]:
        got = await store.get_run(r.id)
        assert got is not None and got.status is RunStatus.RUNNING and got.started_at == T0
    assert (await store.get_run(not_due.id)).status is RunStatus.QUEUED  # type: ignore[union-attr]
    # a plan for a run no longer queued is not applied
    stale = dataclasses.replace(runs[0], status=RunStatus.RUNNING, started_at=T0)
    assert await store.start_queued(at(100), 10, OWNER, lambda pairs, others: []) == []
    assert (
        await store.start_queued(
            at(100),
            10,
            OWNER,
            lambda pairs, others: [StartPlan(run=stale, job=job, start=True)],
        )
        == []
    )


def finish_planner(
    calls: list[tuple[FinishItem, JobDefinition | None]], *, retry: bool = False
) -> Callable[[FinishItem, JobDefinition | None], FinishPlan | None]:
    def plan(item: FinishItem, job: JobDefinition | None) -> FinishPlan | None:
        calls.append((item, job))
        if job is None:
            return None
        failed = item.run.status.is_failure
        return FinishPlan(
            job_id=job.id,
            status=JobStatus.DEAD_LETTER if failed and job.failure_count >= 1 else None,
            failure_count=job.failure_count + 1 if failed else 0,
            last_error=item.run.error_message if failed else None,
            count_run=item.run.status not in (RunStatus.DENIED, RunStatus.SKIPPED),
            retry=make_run(
                job,
                scheduled=item.run.scheduled_for,
                status=RunStatus.QUEUED,
                attempt=item.run.attempt + 1,
                trigger=RunTrigger.RETRY,
                due_at=at(60),
            )
            if retry and failed
            else None,
            audit=(
                event(
                    AuditEventType.CRON_JOB_FAILED if failed else AuditEventType.CRON_JOB_EXECUTED,
                    T0,
                    job,
                ),
            ),
        )

    return plan


async def test_finish_runs_updates_job_stats_and_retries(store: JobStore) -> None:
    job = make_job("fin")
    await store.insert_jobs([job], [])
    ok, bad = make_run(job, scheduled=at(-60)), make_run(job, scheduled=at(-30))
    for r in (ok, bad):
        await store.insert_run(r, [])
    calls: list[tuple[FinishItem, JobDefinition | None]] = []
    done_ok = dataclasses.replace(
        ok, status=RunStatus.SUCCEEDED, finished_at=at(1), output="fine", execution_time_ms=100
    )
    done_bad = dataclasses.replace(
        bad, status=RunStatus.FAILED, finished_at=at(2), error_message="boom", execution_time_ms=50
    )
    context = AgentContext(
        job_id=job.id, mode=SessionMode.SHARED_PERSISTENT, memory=({"n": 1},), updated_at=at(2)
    )
    plans = await store.finish_runs(
        [FinishItem(run=done_ok, job=job), FinishItem(run=done_bad, job=job, context=context)],
        finish_planner(calls, retry=True),
    )
    assert all(p is not None for p in plans)
    assert calls[0][1] is not None and calls[0][1].run_count == 0
    assert calls[1][1] is not None and calls[1][1].run_count == 1  # sees the first item's write
    got = await store.get_job(job.id)
    assert got is not None
    assert (got.run_count, got.failure_count, got.last_error) == (2, 1, "boom")
    assert got.last_run_at == at(2) and got.last_run_status is RunStatus.FAILED
    got_ok = await store.get_run(ok.id)
    assert got_ok is not None and got_ok == dataclasses.replace(done_ok, details=got_ok.details)
    retries = await store.list_runs(job.id, status=RunStatus.QUEUED)
    assert [(r.attempt, r.trigger, r.scheduled_for) for r in retries] == [
        (2, RunTrigger.RETRY, at(-30))
    ]
    loaded = await store.load_context(job.id)
    assert loaded is not None and loaded.memory == ({"n": 1},)
    stats = await store.run_stats()
    assert (stats.runs_total, stats.runs_succeeded, stats.runs_failed) == (2, 1, 1)
    assert (stats.execution_ms_total, stats.executions, stats.avg_execution_time_ms) == (150, 2, 75)
    assert stats.by_status == {"queued": 1}
    assert [e.type for e in await store.query_audit()] == [
        AuditEventType.CRON_JOB_FAILED,
        AuditEventType.CRON_JOB_EXECUTED,
    ]


async def test_finish_runs_batch_is_as_if_one_after_another(store: JobStore) -> None:
    a, b = make_job("a"), make_job("b")
    await store.insert_jobs([a, b], [])
    r1, r2, r3 = make_run(a, scheduled=at(1)), make_run(a, scheduled=at(2)), make_run(b)
    queued = make_run(b, scheduled=at(9), status=RunStatus.QUEUED)
    for r in (r1, r2, r3, queued):
        await store.insert_run(r, [])

    def ctx(job: JobDefinition, n: int) -> AgentContext:
        return AgentContext(
            job_id=job.id, mode=SessionMode.SHARED_PERSISTENT, memory=({"n": n},), updated_at=at(n)
        )

    items = [
        FinishItem(run=dataclasses.replace(r1, status=RunStatus.FAILED, error_message="1"), job=a),
        FinishItem(run=dataclasses.replace(queued, status=RunStatus.SUCCEEDED), job=b),  # fenced
        FinishItem(
            run=dataclasses.replace(r3, status=RunStatus.SUCCEEDED), job=b, context=ctx(b, 1)
        ),
        FinishItem(run=dataclasses.replace(r2, status=RunStatus.FAILED, error_message="2"), job=a),
        # the same run again, expecting what the first item of the batch made of it
        FinishItem(
            run=dataclasses.replace(r3, status=RunStatus.SUCCEEDED, summary="again"),
            job=b,
            expected=RunStatus.SUCCEEDED,
            context=ctx(b, 2),
        ),
    ]
    calls: list[tuple[FinishItem, JobDefinition | None]] = []
    plans = await store.finish_runs(items, finish_planner(calls))
    assert [p is not None for p in plans] == [True, False, True, True, True]
    assert [(j.failure_count, j.run_count) for _, j in calls if j] == [
        (0, 0),
        (0, 0),
        (1, 1),
        (0, 1),
    ]
    got_a, got_b = await store.get_job(a.id), await store.get_job(b.id)
    assert got_a is not None and got_b is not None
    assert (got_a.failure_count, got_a.run_count, got_a.status) == (2, 2, JobStatus.DEAD_LETTER)
    assert got_a.last_error == "2"
    assert (got_b.failure_count, got_b.run_count, got_b.last_run_status) == (
        0,
        2,
        RunStatus.SUCCEEDED,
    )
    assert (await store.get_run(r3.id)).summary == "again"  # type: ignore[union-attr]
    assert (await store.load_context(b.id)).memory == ({"n": 2},)  # type: ignore[union-attr]
    assert (await store.get_run(queued.id)).status is RunStatus.QUEUED  # type: ignore[union-attr]
    assert (await store.run_stats()).runs_total == 4


async def test_finish_runs_of_many_jobs_as_one_by_one(store: JobStore) -> None:
    """A batch of runs of as many jobs (SQLite writes it in a few statements) records what
    finishing them one call each records."""

    async def finished(tag: str, together: bool) -> tuple[list[Any], list[Any], list[Any]]:
        jobs = [make_job(f"{tag}-{k}") for k in range(3)]
        await store.insert_jobs(jobs, [])
        runs = [make_run(j, scheduled=at(-k)) for k, j in enumerate(jobs)]
        for r in runs:
            await store.insert_run(r, [])
        ends = [
            dataclasses.replace(
                runs[0], status=RunStatus.FAILED, finished_at=at(1), error_message="boom"
            ),
            dataclasses.replace(
                runs[1], status=RunStatus.SUCCEEDED, finished_at=at(2), execution_time_ms=7
            ),
            dataclasses.replace(runs[2], status=RunStatus.SKIPPED, finished_at=at(3)),
        ]
        context = AgentContext(
            job_id=jobs[1].id,
            mode=SessionMode.SHARED_PERSISTENT,
            memory=({"n": tag},),
            updated_at=at(2),
        )
        items = [FinishItem(run=r, job=j) for r, j in zip(ends, jobs, strict=True)]
        items[1] = dataclasses.replace(items[1], context=context)
        calls: list[tuple[FinishItem, JobDefinition | None]] = []
        if together:
            plans = await store.finish_runs(items, finish_planner(calls, retry=True))
        else:
            plans = [
                p
                for i in items
                for p in await store.finish_runs([i], finish_planner(calls, retry=True))
            ]
        assert all(p is not None for p in plans)
        assert [j.run_count for _, j in calls if j] == [0, 0, 0]
        got_jobs = []
        for j in jobs:
            got = await store.get_job(j.id)
            assert got is not None
            got_jobs.append(
                (got.status, got.run_count, got.failure_count, got.last_error, got.last_run_at)
            )
        got_runs = []
        for j in jobs:
            for r in await store.list_runs(j.id):
                got_runs.append((r.status, r.trigger, r.attempt, r.finished_at, r.error_message))
        audit = [
            (e.type, e.job_id)
            for e in await store.query_audit()
            if e.job_id in {j.id for j in jobs}
        ]
        assert (await store.load_context(jobs[1].id)).memory == ({"n": tag},)  # type: ignore[union-attr]
        return got_jobs, got_runs, [(t, [j.id for j in jobs].index(i)) for t, i in audit]

    apart = await finished("apart", together=False)
    stats = await store.run_stats()
    together = await finished("together", together=True)
    assert together == apart
    assert apart[0][0][1:] == (1, 1, "boom", at(1))  # (not all alike)
    after = await store.run_stats()
    assert (after.runs_total, after.runs_failed, after.executions) == (
        2 * stats.runs_total,
        2 * stats.runs_failed,
        2 * stats.executions,
    )
    assert stats.runs_total == 2 and stats.executions == 1


async def test_finish_runs_of_many_jobs_one_fenced(store: JobStore) -> None:
    """One run of a batch of as many jobs finished elsewhere meanwhile: the others finish,
    that one is left as it is and its job untouched."""
    a, b, c = make_job("fa"), make_job("fb"), make_job("fc")
    await store.insert_jobs([a, b, c], [])
    runs = [make_run(j) for j in (a, b, c)]
    for r in runs:
        await store.insert_run(r, [])
    interrupted = dataclasses.replace(runs[1], status=RunStatus.INTERRUPTED, finished_at=at(1))
    assert await store.update_run(interrupted, expected=RunStatus.RUNNING)
    items = [
        FinishItem(run=dataclasses.replace(r, status=RunStatus.SUCCEEDED, finished_at=at(2)), job=j)
        for r, j in zip(runs, (a, b, c), strict=True)
    ]
    calls: list[tuple[FinishItem, JobDefinition | None]] = []
    plans = await store.finish_runs(items, finish_planner(calls))
    assert [p is not None for p in plans] == [True, False, True]
    assert [i.run.id for i, _ in calls] == [runs[0].id, runs[2].id]
    assert [(await store.get_run(r.id)).status for r in runs] == [  # type: ignore[union-attr]
        RunStatus.SUCCEEDED,
        RunStatus.INTERRUPTED,
        RunStatus.SUCCEEDED,
    ]
    assert [(await store.get_job(j.id)).run_count for j in (a, b, c)] == [1, 0, 1]  # type: ignore[union-attr]
    assert (await store.run_stats()).runs_total == 2
    assert [e.job_id for e in await store.query_audit()] == [c.id, a.id]  # (newest first)


async def test_finish_runs_of_a_job_renamed_since_its_claim_chains_by_its_new_name(
    store: JobStore,
) -> None:
    """A batch of runs of as many jobs, one of them renamed while its run ran, to the name a
    job comes after: that job's run is chained (looked up under the new name)."""
    lead, other = make_job("lead"), make_job("other")
    follower = make_job("follower", after="renamed", next_in=None)
    await store.insert_jobs([lead, other, follower], [])
    runs = [make_run(lead), make_run(other)]
    for r in runs:
        await store.insert_run(r, [])
    await store.update_job(dataclasses.replace(lead, name="renamed"), [])
    items = [
        FinishItem(run=dataclasses.replace(r, status=RunStatus.SUCCEEDED, finished_at=at(1)), job=j)
        for r, j in zip(runs, (lead, other), strict=True)
    ]
    seen: list[tuple[str, list[str]]] = []

    def chain(
        item: FinishItem,
        plan: FinishPlan,
        leader: JobDefinition,
        followers: Sequence[JobDefinition],
    ) -> FinishPlan:
        seen.append((leader.name, [f.name for f in followers]))
        runs = tuple(make_run(f, status=RunStatus.QUEUED, scheduled=at(1)) for f in followers)
        return dataclasses.replace(plan, chained=runs)

    calls: list[tuple[FinishItem, JobDefinition | None]] = []
    plans = await store.finish_runs(items, finish_planner(calls), chain)
    assert seen == [("renamed", ["follower"])]
    assert plans[0] is not None and len(plans[0].chained) == 1
    assert [r.status for r in await store.list_runs(follower.id)] == [RunStatus.QUEUED]
    assert [(await store.get_job(j.id)).run_count for j in (lead, other)] == [1, 1]  # type: ignore[union-attr]


async def test_finish_runs_is_fenced_by_the_expected_status(store: JobStore) -> None:
    job = make_job("fence")
    await store.insert_jobs([job], [])
    run = make_run(job)
    await store.insert_run(run, [])
    # someone else (a scheduler that took over) marked it interrupted meanwhile
    interrupted = dataclasses.replace(run, status=RunStatus.INTERRUPTED, finished_at=at(1))
    assert await store.update_run(interrupted, expected=RunStatus.RUNNING)
    calls: list[tuple[FinishItem, JobDefinition | None]] = []
    late = dataclasses.replace(run, status=RunStatus.SUCCEEDED, finished_at=at(2), output="late")
    assert await store.finish_runs([FinishItem(run=late, job=job)], finish_planner(calls)) == [None]
    assert calls == []  # the planner never saw it
    got = await store.get_run(run.id)
    assert got is not None and got.status is RunStatus.INTERRUPTED and got.output is None
    assert (await store.get_job(job.id)).run_count == 0  # type: ignore[union-attr]
    assert (await store.run_stats()).runs_total == 0


async def test_finish_an_awaiting_run_records_the_decision(store: JobStore) -> None:
    job = make_job("deny")
    await store.insert_jobs([job], [])
    run = make_run(job)
    await store.insert_run(run, [])
    parked = dataclasses.replace(run, status=RunStatus.AWAITING_APPROVAL)
    assert await store.park_run(parked, expires_at=at(60), approvers=["ops"])
    denied = dataclasses.replace(
        run, status=RunStatus.DENIED, finished_at=at(5), error_message="no"
    )
    decision = ApprovalDecision(
        decision="denied", decided_by="alice", decided_at=at(5), reason="no"
    )
    calls: list[tuple[FinishItem, JobDefinition | None]] = []
    # the wrong expectation changes nothing
    assert await store.finish_runs(
        [FinishItem(run=denied, job=job, approval=decision)], finish_planner(calls)
    ) == [None]
    plans = await store.finish_runs(
        [FinishItem(run=denied, job=job, expected=RunStatus.AWAITING_APPROVAL, approval=decision)],
        finish_planner(calls),
    )
    assert plans[0] is not None and not plans[0].count_run
    assert await store.expired_approvals(at(100)) == []  # decided: no longer open
    assert (await store.get_run(run.id)).status is RunStatus.DENIED  # type: ignore[union-attr]
    assert (await store.run_stats()).runs_total == 0


async def test_finish_runs_of_a_removed_job(store: JobStore) -> None:
    job = make_job("removed")
    await store.insert_jobs([job], [])
    run = make_run(job)
    await store.insert_run(run, [])
    await store.delete_job(job.id, [])
    calls: list[tuple[FinishItem, JobDefinition | None]] = []
    done = dataclasses.replace(run, status=RunStatus.SUCCEEDED, finished_at=at(1))
    assert await store.finish_runs([FinishItem(run=done, job=job)], finish_planner(calls)) == [None]


async def test_insert_run_is_unique_per_instant_and_attempt(store: JobStore) -> None:
    job = make_job("uniq")
    await store.insert_jobs([job], [])
    await store.insert_run(make_run(job), [event(AuditEventType.CRON_JOB_TRIGGERED, T0, job)])
    with pytest.raises((ConflictError, sqlite3.IntegrityError)):
        await store.insert_run(make_run(job), [])
    await store.insert_run(make_run(job, attempt=2), [])  # the next attempt is another row
    await store.insert_run(make_run(job, trigger=RunTrigger.CATCH_UP, scheduled=at(1)), [])
    with pytest.raises((ConflictError, sqlite3.IntegrityError)):  # whatever the trigger
        await store.insert_run(make_run(job, trigger=RunTrigger.RETRY, scheduled=at(1)), [])
    # manual runs may share an instant
    await store.insert_run(make_run(job, trigger=RunTrigger.MANUAL), [])
    await store.insert_run(make_run(job, trigger=RunTrigger.MANUAL), [])
    assert len(await store.list_runs(job.id)) == 5
    assert len(await store.query_audit()) == 1


async def test_update_run_with_and_without_expectation(store: JobStore) -> None:
    job = make_job("upd")
    await store.insert_jobs([job], [])
    run = make_run(job, status=RunStatus.QUEUED)
    await store.insert_run(run, [])
    started = dataclasses.replace(
        run, status=RunStatus.RUNNING, started_at=at(1), details={"policy": "allow", "seq": 999}
    )
    assert not await store.update_run(started, expected=RunStatus.RUNNING)
    assert await store.update_run(
        started, expected=RunStatus.QUEUED, audit=[event(AuditEventType.CRON_JOB_EXECUTED, T0, job)]
    )
    got = await store.get_run(run.id)
    assert got is not None and got.status is RunStatus.RUNNING and got.started_at == at(1)
    assert got.details["policy"] == "allow" and got.details["seq"] != 999  # seq is the store's
    assert await store.update_run(dataclasses.replace(got, summary="s", details={}))
    got = await store.get_run(run.id)
    assert got is not None and got.summary == "s" and set(got.details) == {"seq"}
    assert not await store.update_run(make_run(job))  # no such run
    assert len(await store.query_audit()) == 1


async def test_list_runs_keyset_pages(store: JobStore) -> None:
    a, b = make_job("a"), make_job("b")
    await store.insert_jobs([a, b], [])
    runs = []
    for i in range(7):
        job = a if i % 2 == 0 else b
        status = RunStatus.SUCCEEDED if i % 3 else RunStatus.FAILED
        r = make_run(job, scheduled=at(i), status=status)
        await store.insert_run(r, [])
        runs.append(r)
    newest = await store.list_runs(limit=3)
    assert [r.id for r in newest] == [r.id for r in reversed(runs[-3:])]
    seqs = [r.details["seq"] for r in newest]
    assert seqs == sorted(seqs, reverse=True)
    rest = await store.list_runs(limit=10, before_seq=seqs[-1])
    assert [r.id for r in rest] == [r.id for r in reversed(runs[:4])]
    assert [r.id for r in await store.list_runs(a.id)] == [runs[i].id for i in (6, 4, 2, 0)]
    failed = await store.list_runs(status=RunStatus.FAILED)
    assert [r.id for r in failed] == [runs[i].id for i in (6, 3, 0)]
    both = await store.list_runs(b.id, status=[RunStatus.FAILED, RunStatus.SUCCEEDED], limit=2)
    assert [r.id for r in both] == [runs[5].id, runs[3].id]
    assert await store.list_runs(status=[RunStatus.QUEUED]) == []


async def test_last_runs_per_job_in_one_query(store: JobStore) -> None:
    a, b, c = make_job("a"), make_job("b"), make_job("c")
    await store.insert_jobs([a, b, c], [])
    runs = [
        make_run(a, scheduled=at(1), status=RunStatus.SUCCEEDED),
        make_run(a, scheduled=at(2), status=RunStatus.FAILED),
        make_run(a, scheduled=at(3), status=RunStatus.QUEUED),
        make_run(b, scheduled=at(1), status=RunStatus.SKIPPED),
    ]
    for r in runs:
        await store.insert_run(r, [])
    final = [RunStatus.SUCCEEDED, RunStatus.FAILED]
    last = await store.last_runs([a.id, b.id, c.id], final)
    assert {k: v.id for k, v in last.items()} == {a.id: runs[1].id}
    anything = await store.last_runs([a.id, b.id], list(RunStatus))
    assert {k: v.id for k, v in anything.items()} == {a.id: runs[2].id, b.id: runs[3].id}
    assert await store.last_runs([], final) == {}
    many = [f"missing-{i}" for i in range(900)] + [a.id]  # more ids than one statement takes
    assert set(await store.last_runs(many, final)) == {a.id}


async def test_open_and_awaiting_runs_by_job(store: JobStore) -> None:
    a, b = make_job("a"), make_job("b")
    await store.insert_jobs([a, b], [])
    r1, r2, r3 = make_run(a, scheduled=at(1)), make_run(a, scheduled=at(2)), make_run(b)
    for r in (r1, r2, r3):
        await store.insert_run(r, [])
    await store.insert_run(make_run(b, scheduled=at(9), status=RunStatus.QUEUED), [])
    await store.insert_run(make_run(b, scheduled=at(8), status=RunStatus.SUCCEEDED), [])
    assert await store.open_runs_by_job() == {a.id: 2, b.id: 1}
    assert await store.awaiting_by_job() == {}
    await store.park_run(
        dataclasses.replace(r2, status=RunStatus.AWAITING_APPROVAL), expires_at=None, approvers=[]
    )
    assert await store.open_runs_by_job() == {a.id: 2, b.id: 1}
    assert await store.awaiting_by_job() == {a.id: 1}
    assert (await store.run_stats()).by_status == {
        "running": 2,
        "awaiting_approval": 1,
        "queued": 1,
    }


# --- approvals ------------------------------------------------------------------------------------


async def test_park_approve_and_expire(store: JobStore) -> None:
    job = make_job("gate")
    await store.insert_jobs([job], [])
    r1, r2, r3 = (make_run(job, scheduled=at(i)) for i in range(3))
    for r in (r1, r2, r3):
        await store.insert_run(r, [])
    parked = [dataclasses.replace(r, status=RunStatus.AWAITING_APPROVAL) for r in (r1, r2, r3)]
    audit = [event(AuditEventType.CRON_RUN_AWAITING_APPROVAL, T0, job)]
    assert await store.park_run(parked[0], expires_at=at(30), approvers=["ops"], audit=audit)
    assert await store.park_run(parked[1], expires_at=at(10), approvers=["ops", "dev"])
    assert await store.park_run(parked[2], expires_at=None, approvers=[])  # waits forever
    assert not await store.park_run(parked[0], expires_at=at(30), approvers=[])  # not running now
    assert await store.expired_approvals(at(5)) == []
    assert await store.expired_approvals(at(10)) == [r2.id]
    assert await store.expired_approvals(at(31)) == [r2.id, r1.id]  # soonest first
    queued = dataclasses.replace(r1, status=RunStatus.QUEUED, due_at=at(12))
    decision = ApprovalDecision(decision="approved", decided_by="alice", decided_at=at(12))
    assert await store.approve_run(
        queued, decision, [event(AuditEventType.CRON_RUN_APPROVED, T0, job)]
    )
    assert not await store.approve_run(queued, decision)  # no longer awaiting
    got = await store.get_run(r1.id)
    assert got is not None and got.status is RunStatus.QUEUED and got.due_at == at(12)
    assert await store.expired_approvals(at(31)) == [r2.id]
    assert await store.awaiting_by_job() == {job.id: 2}
    assert [e.type for e in await store.query_audit()] == [
        AuditEventType.CRON_RUN_APPROVED,
        AuditEventType.CRON_RUN_AWAITING_APPROVAL,
    ]
    # parked again (approved, ran, asked again): a fresh, undecided request
    running = dataclasses.replace(got, status=RunStatus.RUNNING)
    assert await store.update_run(running)
    assert await store.park_run(
        dataclasses.replace(running, status=RunStatus.AWAITING_APPROVAL),
        expires_at=at(40),
        approvers=[],
    )
    assert await store.expired_approvals(at(41)) == [r2.id, r1.id]


# --- heartbeat iterations, contexts, audit ---------------------------------------------------


async def test_iterations(store: JobStore) -> None:
    job = make_job("hb")
    await store.insert_jobs([job], [])
    run = make_run(job)
    await store.insert_run(run, [])
    first = HeartbeatIteration(run_id=run.id, index=1, started_at=at(1), assessment="look")
    second = HeartbeatIteration(run_id=run.id, index=2, started_at=at(2), outcome="continue")
    await store.record_iteration(second)
    await store.record_iteration(first)
    done = dataclasses.replace(
        second, finished_at=at(3), outcome="sleep", summary="done", action="x"
    )
    await store.record_iteration(done)  # replaces
    assert await store.list_iterations(run.id) == [first, done]
    assert await store.list_iterations("nope") == []


async def test_contexts_save_load_and_cap(store: JobStore) -> None:
    a, b, c = make_job("a"), make_job("b"), make_job("c")
    await store.insert_jobs([a, b, c], [])
    assert await store.load_context(a.id) is None
    assert await store.load_contexts([]) == {}
    memory = tuple({"i": i, "text": "x" * 20} for i in range(10))
    ctx = AgentContext(
        job_id=a.id,
        mode=SessionMode.SHARED_PERSISTENT,
        previous_summary="before",
        memory=memory,
        updated_at=at(1),
    )
    await store.save_context(ctx, 10_000)
    assert await store.load_context(a.id) == ctx
    await store.save_context(dataclasses.replace(ctx, previous_summary="after"), 100)
    capped = await store.load_context(a.id)
    assert capped is not None and capped.previous_summary == "after"
    assert 0 < len(capped.memory) < 10 and capped.memory == memory[-len(capped.memory) :]
    other = AgentContext(job_id=b.id, mode=SessionMode.EPHEMERAL_WITH_SUMMARY, updated_at=at(2))
    await store.save_context(other, 100)
    loaded = await store.load_contexts([a.id, b.id, c.id, "missing"])
    assert set(loaded) == {a.id, b.id} and loaded[b.id] == other


async def test_audit_query_filters(store: JobStore) -> None:
    a, b = make_job("a"), make_job("b")
    await store.insert_jobs([a, b], [])
    events = [
        event(AuditEventType.CRON_JOB_CREATED, at(0), a, n=1),
        event(AuditEventType.CRON_JOB_CREATED, at(10), b),
        event(AuditEventType.CRON_JOB_PAUSED, at(20), a, nested={"k": [1, 2]}),
        event(AuditEventType.SCHEDULER_STARTED, at(30)),
        event(AuditEventType.CRON_JOB_EXECUTED, at(20), b),  # same instant as the pause
    ]
    await store.record_audit(events[:3])
    await store.record_audit(events[3:])
    got = await store.query_audit()
    assert [e.at for e in got] == [at(30), at(20), at(20), at(10), at(0)]  # newest first
    assert got[1].type is AuditEventType.CRON_JOB_EXECUTED  # ties: the later record first
    assert all(e.id is not None for e in got) and got[1].id > got[2].id  # type: ignore[operator]
    assert got[2].details == {"nested": {"k": [1, 2]}} and got[4].details == {"n": 1}
    assert got[0].details == {} and got[0].job_id is None and got[0].actor == "test"
    created = await store.query_audit(type=AuditEventType.CRON_JOB_CREATED)
    assert [e.job_id for e in created] == [b.id, a.id]
    assert len(await store.query_audit(type="CronJobCreated")) == 2
    assert [e.at for e in await store.query_audit(job_id=a.id)] == [at(20), at(0)]
    assert [e.at for e in await store.query_audit(since=at(10), until=at(30))] == [
        at(20),
        at(20),
        at(10),
    ]
    assert len(await store.query_audit(limit=2)) == 2
    assert await store.query_audit(type=AuditEventType.CRON_JOB_FAILED) == []


# --- lease ----------------------------------------------------------------------------------------


async def test_lease_acquire_renew_expire_release(store: JobStore, other: JobStore) -> None:
    assert await store.get_lease() is None
    mine = await store.acquire_lease("a", now=T0, ttl=30, api_address="http://127.0.0.1:1")
    assert (mine.owner, mine.api_address, mine.acquired_at, mine.expires_at) == (
        "a",
        "http://127.0.0.1:1",
        T0,
        at(30),
    )
    assert mine.is_live(at(29)) and not mine.is_live(at(30))
    theirs = await other.acquire_lease("b", now=at(10), ttl=30)
    assert theirs.owner == "a"  # live: b gets the holder back
    renewed = await store.acquire_lease("a", now=at(20), ttl=30)
    assert (renewed.acquired_at, renewed.renewed_at, renewed.expires_at) == (T0, at(20), at(50))
    assert await other.acquire_lease("b", now=at(49), ttl=30) == renewed
    taken = await other.acquire_lease("b", now=at(50), ttl=30)  # expired: taken over
    assert (taken.owner, taken.acquired_at) == ("b", at(50))
    assert await other.get_lease() == taken
    await store.release_lease("a")  # not a's to release
    assert (await store.get_lease()) == taken
    await other.release_lease("b")
    assert await store.get_lease() is None
    assert (await store.acquire_lease("a", now=at(60), ttl=30)).owner == "a"


async def test_lease_of_a_dead_process_on_this_host_is_taken_over(
    store_url: str, store: JobStore
) -> None:
    script = (
        "import asyncio, sys\n"
        "from datetime import datetime, UTC\n"
        "from scheduler_core.store import open_store\n"
        "async def main():\n"
        "    s = await open_store(sys.argv[1])\n"
        "    await s.acquire_lease('dead', now=datetime(2026, 3, 2, 9, tzinfo=UTC), ttl=3600)\n"
        "    await s.close()\n"
        "asyncio.run(main())\n"
    )
    root = str(ROOT)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, store_url, cwd=root, stderr=subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    holder = await store.get_lease()
    assert holder is not None and holder.owner == "dead" and holder.pid == proc.pid
    got = await store.acquire_lease("alive", now=at(1), ttl=30)
    assert got.owner == "alive"  # its process is gone: no need to wait an hour


async def test_claims_are_fenced_by_the_lease(store: JobStore, other: JobStore) -> None:
    await store.insert_jobs([make_job("j", next_in=-1)], [])
    await store.acquire_lease("a", now=T0, ttl=10)
    await other.acquire_lease("b", now=at(10), ttl=10)  # a's lease expired: b took over
    assert await store.claim_due(at(10), 10, "a", advance_planner()) is None
    assert await store.start_queued(at(10), 10, "a", lambda pairs, others: []) is None
    plans = await other.claim_due(at(10), 10, "b", advance_planner())
    assert plans is not None and len(plans) == 1


async def test_lease_holder_and_standby_are_nodes(store: JobStore, other: JobStore) -> None:
    await store.acquire_lease("a", now=T0, ttl=30, api_address="http://127.0.0.1:1")
    await other.acquire_lease("b", now=at(1), ttl=30)
    nodes = await store.list_nodes(at(2))
    assert [(n.owner, n.role, n.api_address) for n in nodes] == [
        ("a", "leader", "http://127.0.0.1:1"),
        ("b", "standby", None),
    ]
    assert (nodes[0].started_at, nodes[0].heartbeat, nodes[0].expires_at) == (T0, T0, at(30))
    await store.acquire_lease("a", now=at(10), ttl=30)
    renewed = (await store.list_nodes(at(11)))[0]
    assert (renewed.started_at, renewed.heartbeat) == (T0, at(10))  # same tenure, renewed
    # a stops renewing; b takes over: b's tenure as leader starts then
    await other.acquire_lease("b", now=at(41), ttl=30)
    assert [(n.owner, n.role, n.started_at) for n in await store.list_nodes(at(42))] == [
        ("b", "leader", at(41))
    ]
    await other.release_lease("b")
    assert await store.list_nodes(at(42)) == []


async def test_nodes_count_the_runs_they_hold_and_orphans_name_the_dead(
    store: JobStore, other: JobStore, is_pg: bool
) -> None:
    await store.insert_jobs([make_job("j", next_in=-1), make_job("k", next_in=-1)], [])
    await store.acquire_lease("a", now=T0, ttl=30)
    plans = await store.claim_due(T0, 10, "a", advance_planner())
    assert plans is not None and len(plans) == 2
    [node] = await store.list_nodes(at(1))
    assert (node.owner, node.running) == ("a", 2)
    assert await store.orphaned_runs(at(1), "a") == []  # a's own runs are not orphans
    # a dies (its lease lapses at 30); b takes over and finds a's runs, with a's last heartbeat
    await store.acquire_lease("a", now=at(5), ttl=30)
    await other.acquire_lease("b", now=at(40), ttl=30)
    orphans = await other.orphaned_runs(at(40), "b")
    assert sorted(o.run.job_name for o in orphans) == ["j", "k"]
    assert {o.heartbeat for o in orphans} == {at(5)}
    assert [o.run.job_name for o in await other.orphaned_runs(at(40), "b", limit=1)] == ["j"]


async def test_a_node_that_lapsed_starts_a_new_tenure(store: JobStore) -> None:
    first = await store.register_node("n", now=T0, ttl=10)
    again = await store.register_node("n", now=at(5), ttl=10)
    assert (again.started_at, again.heartbeat, again.expires_at) == (T0, at(5), at(15))
    late = await store.register_node("n", now=at(16), ttl=10)  # expired at 15
    assert (first.started_at, late.started_at) == (T0, at(16))
    await store.unregister_node("n")
    assert await store.list_nodes(at(17)) == []


# --- change detection -----------------------------------------------------------------------------


async def test_data_version_changes_when_another_store_writes(
    store: JobStore, other: JobStore
) -> None:
    before = await store.data_version()
    await store.get_job("x")
    await store.list_jobs(JobQuery())
    assert await store.data_version() == before  # reads change nothing
    await other.insert_jobs([make_job("w")], [])
    after = await store.data_version()
    assert after != before
    await other.record_audit([event(AuditEventType.SCHEDULER_STARTED, T0)])
    assert await store.data_version() != after


async def _loop_turns() -> None:
    """Two turns of the event loop: a wake-up already in the socket is read in the first (after
    the task that yielded), and its callback has run when the second resumes us."""
    for _ in range(2):
        await asyncio.sleep(0)


async def _watching(store: JobStore, callback: Any) -> None:
    """``store.watch(callback)``, once it listens, past the call a watch may make when it starts
    (for writes it may have missed)."""
    assert store.watch(callback)
    wait = getattr(store, "wait_watching", None)  # PostgreSQL listens in the background
    if wait is not None:
        assert await asyncio.wait_for(wait(), 10)
    await asyncio.sleep(0.05)


async def test_watch_calls_back_on_another_stores_write(
    store: JobStore, other: JobStore, store_url: str, is_pg: bool
) -> None:
    fired = asyncio.Event()
    calls: list[str] = []

    def callback() -> None:
        calls.append("call")
        fired.set()

    await _watching(store, callback)
    try:
        fired.clear()  # a watch may call back once when it starts (writes it may have missed)
        calls.clear()
        await store.insert_jobs([make_job("own")], [])
        await _loop_turns()  # (SQLite sends its wake-up before the write returns)
        assert not fired.is_set()  # our own writes need no wake-up
        await other.insert_jobs([make_job("theirs")], [])
        await asyncio.wait_for(fired.wait(), 10)
        # wake-ups arrive in commit order: had ours sent one, it would have come before theirs
        await _loop_turns()
        assert calls == ["call"], calls
    finally:
        store.unwatch()
    fired.clear()
    witness: JobStore | None = None
    woken = asyncio.Event()
    if is_pg:
        # PostgreSQL delivers in the background: a third store object listens, and once it has
        # heard of the next write, so would we have (SQLite's one listening socket per database
        # would be taken over by a witness; its wake-up is sent before the write returns)
        witness = await open_store(store_url)
        await _watching(witness, woken.set)
        woken.clear()
    try:
        await other.insert_jobs([make_job("after")], [])
        if witness is not None:
            await asyncio.wait_for(woken.wait(), 10)
        await _loop_turns()
    finally:
        if witness is not None:
            witness.unwatch()
            await witness.close()
    assert not fired.is_set()  # unwatched: not called for it
    assert calls == ["call"], calls


# --- PostgreSQL only ------------------------------------------------------------------------------


@pytest.fixture
def pg_store(store: JobStore, is_pg: bool) -> Any:
    if not is_pg:
        pytest.skip("PostgreSQL only")
    return store


def _claim_in_thread(url: str, planner: Any, out: list[Any]) -> threading.Thread:
    async def claim() -> None:
        from scheduler_core.store.postgres import PostgresJobStore

        s = PostgresJobStore(url)
        await s.open()
        try:
            out.append(await s.claim_due(T0, 5, OWNER, planner))
        finally:
            await s.close()

    thread = threading.Thread(target=lambda: asyncio.run(claim()))
    thread.start()
    return thread


async def test_pg_concurrent_claimers_get_disjoint_jobs(store_url: str, pg_store: Any) -> None:
    store = pg_store
    await store.acquire_lease(OWNER, now=T0, ttl=3600)
    jobs = [make_job(f"j{i}", next_in=-10 + i) for i in range(10)]
    await store.insert_jobs(jobs, [])
    a_locked, b_done = threading.Event(), threading.Event()
    a_out: list[Any] = []
    b_out: list[Any] = []
    plan = advance_planner(3600)

    def planner_a(due: Sequence[JobDefinition], others: Mapping[str, int]) -> list[ClaimPlan]:
        a_locked.set()  # A holds its rows locked until B has claimed
        assert b_done.wait(20)
        return plan(due, others)

    def planner_b(due: Sequence[JobDefinition], others: Mapping[str, int]) -> list[ClaimPlan]:
        return plan(due, others)

    ta = _claim_in_thread(store_url, planner_a, a_out)
    assert await asyncio.to_thread(a_locked.wait, 20)
    tb = _claim_in_thread(store_url, planner_b, b_out)
    await asyncio.to_thread(tb.join, 20)
    b_done.set()
    await asyncio.to_thread(ta.join, 20)
    a_names = [p.job.name for p in a_out[0]]
    b_names = [p.job.name for p in b_out[0]]
    assert a_names == [f"j{i}" for i in range(5)]
    assert b_names == [f"j{i}" for i in range(5, 10)]  # skipped A's locked rows, did not wait
    assert len(await store.list_runs(limit=100)) == 10


async def test_pg_many_concurrent_claims_fire_each_instant_once(
    store_url: str, pg_store: Any
) -> None:
    from scheduler_core.store.postgres import PostgresJobStore

    store = pg_store
    await store.acquire_lease(OWNER, now=T0, ttl=3600)
    await store.insert_jobs([make_job(f"j{i:02d}", next_in=-i) for i in range(40)], [])
    stores = [PostgresJobStore(store_url) for _ in range(4)]
    for s in stores:
        await s.open()
    try:
        results = await asyncio.gather(
            *(s.claim_due(T0, 3, OWNER, advance_planner(3600)) for s in stores for _ in range(5))
        )
    finally:
        for s in stores:
            await s.close()
    claimed = [p.job.id for plans in results for p in plans]
    assert len(claimed) == len(set(claimed)) == 40
    assert len(await store.list_runs(limit=100)) == 40


async def test_pg_concurrent_finishes_of_one_job_lose_no_update(
    store_url: str, pg_store: Any
) -> None:
    from scheduler_core.store.postgres import PostgresJobStore

    store = pg_store
    job = make_job("busy", max_concurrent=10)
    await store.insert_jobs([job], [])
    runs = [make_run(job, scheduled=at(i)) for i in range(12)]
    for r in runs:
        await store.insert_run(r, [])
    stores = [PostgresJobStore(store_url) for _ in range(3)]
    for s in stores:
        await s.open()
    calls: list[Any] = []
    try:
        await asyncio.gather(
            *(
                stores[i % 3].finish_runs(
                    [
                        FinishItem(
                            run=dataclasses.replace(
                                r, status=RunStatus.SUCCEEDED, finished_at=at(99)
                            ),
                            job=job,
                        )
                    ],
                    finish_planner(calls),
                )
                for i, r in enumerate(runs)
            )
        )
    finally:
        for s in stores:
            await s.close()
    got = await store.get_job(job.id)
    assert got is not None and got.run_count == 12
    assert (await store.run_stats()).runs_succeeded == 12


async def test_pg_nodes(pg_store: Any) -> None:
    store = pg_store
    a = await store.register_node("a", now=T0, ttl=30, api_address="http://10.0.0.1:8080")
    assert (a.owner, a.api_address, a.started_at, a.heartbeat, a.expires_at) == (
        "a",
        "http://10.0.0.1:8080",
        T0,
        T0,
        at(30),
    )
    await store.register_node("b", now=at(5), ttl=30)
    renewed = await store.register_node("a", now=at(20), ttl=30)
    assert (renewed.started_at, renewed.heartbeat, renewed.expires_at) == (T0, at(20), at(50))
    assert [n.owner for n in await store.list_nodes(at(21))] == ["a", "b"]
    assert [n.owner for n in await store.list_nodes(at(36))] == ["a"]  # b's heartbeat stopped
    await store.unregister_node("a")
    assert [n.owner for n in await store.list_nodes(at(21))] == ["b"]


async def test_pg_planners_see_the_runs_other_nodes_hold(pg_store: Any, store_url: str) -> None:
    from scheduler_core.store.postgres import PostgresJobStore

    a, b = pg_store, PostgresJobStore(store_url)
    await b.open()
    try:
        await a.register_node("a", now=T0, ttl=60)
        await b.register_node("b", now=T0, ttl=60)
        job = make_job("shared", next_in=-1)
        await a.insert_jobs([job], [])
        assert await a.claim_due(T0, 10, "a", advance_planner(30)) is not None
        seen: dict[str, Any] = {}

        def claim(jobs: Sequence[JobDefinition], others: Mapping[str, int]) -> list[ClaimPlan]:
            seen["claim"] = dict(others)
            return advance_planner(30)(jobs, others)

        assert await b.claim_due(at(30), 10, "b", claim) is not None
        manual = make_run(job, trigger=RunTrigger.MANUAL, status=RunStatus.QUEUED)
        await a.insert_run(manual, [])

        def start(
            pairs: Sequence[tuple[JobRun, JobDefinition]], others: Mapping[str, int]
        ) -> list[StartPlan]:
            seen["start"] = dict(others)
            return []

        await a.start_queued(at(31), 10, "a", start)
        # b counts a's run; a counts b's (its own it knows itself)
        assert seen == {"claim": {job.id: 1}, "start": {job.id: 1}}
        # a node whose row is gone (or a standby) may not claim
        await b.unregister_node("b")
        assert await b.claim_due(at(90), 10, "b", advance_planner()) is None
    finally:
        await b.close()


async def test_pg_runs_record_their_owner(store_url: str, pg_store: Any) -> None:
    import asyncpg

    store = pg_store
    await store.acquire_lease(OWNER, now=T0, ttl=3600)
    job = make_job("own", next_in=-1)
    await store.insert_jobs([job], [])
    [plan] = await store.claim_due(T0, 10, OWNER, advance_planner(status=RunStatus.QUEUED))
    manual = make_run(job, trigger=RunTrigger.MANUAL, status=RunStatus.QUEUED)
    await store.insert_run(manual, [])

    def start_all(
        pairs: Sequence[tuple[JobRun, JobDefinition]], others: Mapping[str, int]
    ) -> list[StartPlan]:
        return [
            StartPlan(
                run=dataclasses.replace(r, status=RunStatus.RUNNING, started_at=T0),
                job=j,
                start=True,
            )
            for r, j in pairs
        ]

    conn = await asyncpg.connect(store_url)
    try:
        owners = dict(await conn.fetch("SELECT id, owner FROM runs"))
        assert owners == {plan.run.id: OWNER, manual.id: None}
        await store.acquire_lease(OWNER, now=T0, ttl=3600)
        assert len(await store.start_queued(at(1), 10, OWNER, start_all)) == 2
        owners = dict(await conn.fetch("SELECT id, owner FROM runs"))
        assert set(owners.values()) == {OWNER}
    finally:
        await conn.close()


async def test_pg_text_with_nul_characters_is_kept_readable(pg_store: Any) -> None:
    store = pg_store
    job = make_job("nul")
    await store.insert_jobs([job], [])
    run = make_run(job)
    await store.insert_run(run, [])
    done = dataclasses.replace(
        run, status=RunStatus.FAILED, output="a\x00b", error_message="\x00", details={"k": "\x00"}
    )
    assert await store.update_run(done)
    got = await store.get_run(run.id)
    assert got is not None and got.output == "a\ufffdb" and got.error_message == "\ufffd"
    assert got.details["k"] == "\x00"  # JSON escapes it


async def test_pg_refuses_a_newer_schema_and_redacts_the_password(
    store_url: str, pg_store: Any
) -> None:
    import asyncpg

    from scheduler_core.store.postgres import PostgresJobStore

    conn = await asyncpg.connect(store_url)
    try:
        await conn.execute("UPDATE schema_version SET version = 99")
    finally:
        await conn.close()
    with pytest.raises(StoreError, match="newer than this program"):
        await PostgresJobStore(store_url).open()
    with pytest.raises(StoreError, match="newer than this program"):  # the short scheme too
        await open_store(store_url.replace("postgresql://", "postgres://", 1))
    secret = PostgresJobStore("postgresql://user:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in secret.url and secret.url == "postgresql://user:***@127.0.0.1:1/db"
    with pytest.raises(StoreError, match="cannot be reached") as info:
        await secret.open()
    assert "hunter2" not in str(info.value)


@pytest.mark.sqlite_only
async def test_runs_per_job_in_open_statuses_are_read_through_the_status_index(
    tmp_path: Path,
) -> None:
    """The scheduler counts the runs awaiting approval per job at every wake-up after a change:
    over millions of finished runs, walking the (job_id, status, seq) index for ``GROUP BY
    job_id`` (the plan SQLite picks once the store is analysed) took half a second, on the
    connection the console reads with; the few open runs are found through the status index."""
    from scheduler_core.store._common import runs_by_job_sql
    from scheduler_core.store.sqlite._sql import DIALECT

    path = str(tmp_path / "plan.db")
    await (await open_store(path)).close()  # the schema
    conn = sqlite3.connect(path)  # (runs of jobs not written here: no foreign keys checked)
    conn.executemany(
        "INSERT INTO runs (id, job_id, job_name, agent_id, trigger, scheduled_for, "
        "status, attempt) VALUES (?, ?, 'j', 'a', 'schedule', ?, ?, 1)",
        [
            (f"r{n}", f"job{n % 50}", f"t{n}", "awaiting_approval" if n < 3 else "succeeded")
            for n in range(5000)
        ],
    )
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    store = await open_store(path)
    try:
        for status in ("= 'awaiting_approval'", "IN ('running', 'awaiting_approval')"):
            plain = await store._fetchall(
                f"EXPLAIN QUERY PLAN SELECT job_id, count(*) FROM runs WHERE status {status} "
                "GROUP BY job_id"
            )
            assert "runs_job_status" in str(plain)  # the plan the hint avoids (every run)
            plan = await store._fetchall(f"EXPLAIN QUERY PLAN {runs_by_job_sql(DIALECT, status)}")
            assert "runs_status" in str(plan) and "runs_job_status" not in str(plan), plan
        assert await store.awaiting_by_job() == {"job0": 1, "job1": 1, "job2": 1}
        assert await store.open_runs_by_job() == {"job0": 1, "job1": 1, "job2": 1}
    finally:
        await store.close()


async def test_data_version_ignores_the_stores_own_commits(
    store: JobStore, other: JobStore
) -> None:
    """A scheduler's own writes (its lease renewals) are not outside writes: an idle
    scheduler that renews its lease does not read the store again for them. (SQLite: a
    PostgreSQL node hears other nodes through NOTIFY.)"""
    if not isinstance(store, SqliteJobStore):
        pytest.skip("SQLite only")
    before = await store.data_version()
    await store.acquire_lease("me", now=T0, ttl=30)
    await store.insert_jobs([make_job("mine")], [])
    assert await store.data_version() == before
    await other.insert_jobs([make_job("theirs")], [])
    after = await store.data_version()
    assert after != before
    await store.acquire_lease("me", now=at(10), ttl=30)
    assert await store.data_version() == after


async def test_a_write_that_does_not_poke_is_seen_at_the_next_lease_renewal(
    tmp_path: Path,
) -> None:
    """A ``sqlite3`` shell's write wakes no one; the holder's next renewal (its transaction
    reads the writer's data_version) tells the watcher, as a poke would. Its own commits do
    not."""
    import sqlite3

    path = tmp_path / "store.db"
    store = await open_store(str(path))
    told: list[int] = []
    try:
        assert store.watch(lambda: told.append(1))
        await store.acquire_lease(OWNER, now=T0, ttl=30)
        await store.insert_jobs([make_job("mine")], [])
        await store.acquire_lease(OWNER, now=at(10), ttl=30)
        assert told == []
        with sqlite3.connect(path) as shell:
            shell.execute("UPDATE jobs SET status = 'paused' WHERE name = 'mine'")
        shell.close()
        assert told == []  # nothing pokes
        await store.acquire_lease(OWNER, now=at(20), ttl=30)
        assert told == [1]
        await store.acquire_lease(OWNER, now=at(30), ttl=30)
        assert told == [1]
    finally:
        store.unwatch()
        await store.close()


async def test_a_renewal_never_waits_on_the_event_loop_for_a_lock_held_elsewhere(
    tmp_path: Path,
) -> None:
    """An idle holder renews on the event loop (no thread hop); when another connection holds
    the write lock it goes through the writer's thread, which waits for it, and the event loop
    runs on meanwhile. Either way the lease is renewed."""
    import sqlite3

    path = tmp_path / "store.db"
    store = await open_store(str(path))
    try:
        first = await store.acquire_lease(OWNER, now=T0, ttl=30)
        assert first.owner == OWNER
        shell = sqlite3.connect(path, isolation_level=None)
        shell.execute("BEGIN IMMEDIATE")
        renewal = asyncio.create_task(store.acquire_lease(OWNER, now=at(10), ttl=30))
        ticks = 0
        for _ in range(5):
            await asyncio.sleep(0.02)
            ticks += 1
        assert ticks == 5 and not renewal.done()  # it waits on the thread, not on the loop
        shell.execute("COMMIT")
        shell.close()
        renewed = await asyncio.wait_for(renewal, 10)
        assert (renewed.owner, renewed.expires_at) == (OWNER, at(40))
        again = await store.acquire_lease(OWNER, now=at(20), ttl=30)  # inline: the thread idle
        assert (again.expires_at, again.acquired_at) == (at(50), first.acquired_at)
        nodes = await store.list_nodes(at(21))
        assert [(n.owner, n.role, n.heartbeat) for n in nodes] == [(OWNER, "leader", at(20))]
    finally:
        await store.close()


async def test_the_text_index_is_built_on_the_first_text_filter_not_at_open(
    tmp_path: Path,
) -> None:
    """Opening a store (a scheduler's start) reads no job's name: the filter's index of names
    is built when a text filter is first used, then kept in step."""
    path = str(tmp_path / "store.db")
    first = await open_store(path)
    await first.insert_jobs([make_job(f"job-{i}") for i in range(50)], [])
    await first.close()
    store = await open_store(path)
    try:
        assert isinstance(store, SqliteJobStore)
        await store.list_jobs(JobQuery(limit=10))
        assert len(store._text_index) == 0
        page = await store.list_jobs(JobQuery(text="job-4", limit=100))
        assert len(store._text_index) == 50
        assert sorted(j.name for j in page.jobs) == ["job-4", *(f"job-{i}" for i in range(40, 50))]
    finally:
        await store.close()
