"""Several scheduler nodes on one PostgreSQL database (issue 10), in one process.

Each node is a whole :class:`~scheduler_core.engine.Engine` with its own store object (its own
connection pool), as separate daemons would have; they share the fake clock and the agents, so
what is checked is the database's arbitration, not timing. The subprocess version (three real
daemons, kill -9) is in ``test_reliability.py``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from scheduler_core.clock import FakeClock

from .conftest import Agents, Harness

OWNERS = ("node-a", "node-b", "node-c")


@pytest.fixture
async def nodes(
    request: pytest.FixtureRequest, harness_factory: Callable[..., Any], pg_url: str
) -> AsyncIterator[list[Harness]]:
    """Three nodes on a fresh database, 20 run slots each; leases of 30 s unless the test is
    marked ``lease_ttl(seconds)``."""
    marker = request.node.get_closest_marker("lease_ttl")
    ttl = marker.args[0] if marker else 30
    built = [
        await harness_factory(
            path=pg_url, owner=owner, max_concurrent_jobs=20, lease_ttl_seconds=ttl
        )
        for owner in OWNERS
    ]
    yield built
    for node in built:
        await node.engine.stop()


async def runs_by(pg_url: str, sql: str = "") -> list[asyncpg.Record]:
    conn = await asyncpg.connect(pg_url)
    try:
        return await conn.fetch(
            "SELECT job_name, scheduled_for, attempt, status, owner, trigger, error_message "
            f"FROM runs {sql} ORDER BY seq"
        )
    finally:
        await conn.close()


async def until(condition: Callable[[], Any], what: str) -> Any:
    """Poll ``condition`` (an async callable) until it is truthy: work in flight on real
    connections, with the fake clock standing still."""
    for _ in range(2000):  # up to 20 s on a loaded machine; usually a few polls
        value = await condition()
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def settle(nodes: list[Harness], pg_url: str) -> None:
    """Until no run is running or due to start anywhere: one node's idle is not the cluster's,
    as another node can start a queued run (on its NOTIFY) after its own idle was seen."""
    for _ in range(200):
        await asyncio.gather(*(n.settle() for n in nodes))
        now = nodes[0].clock.now().isoformat()
        busy = f"WHERE status = 'running' OR (status = 'queued' AND due_at <= '{now}')"
        if not await runs_by(pg_url, busy):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("runs still queued or running after 200 settles")


def crash(node: Harness) -> None:
    """Stop a node as kill -9 would: no more claims or renewals, nothing written on the way out."""
    scheduler = node.scheduler
    scheduler._stopping = True
    scheduler._wake.set()
    assert scheduler._lease_task is not None
    scheduler._lease_task.cancel()


async def test_every_node_is_active_and_listed(nodes: list[Harness], clock: FakeClock) -> None:
    assert all(n.scheduler.is_leader for n in nodes)
    listed = await nodes[0].store.list_nodes(clock.now())
    assert sorted((n.owner, n.role) for n in listed) == [(o, "active") for o in OWNERS]
    health = (await nodes[1].service.health()).to_dict()
    assert sorted(n["owner"] for n in health["nodes"]) == list(OWNERS)
    assert (health["status"], health["role"], health["node"]) == ("healthy", "active", "node-b")


@pytest.mark.lease_ttl(3600)  # minute steps of the fake clock, as below
async def test_nodes_share_the_work_and_fire_each_instant_once(
    nodes: list[Harness], clock: FakeClock, agents: Agents, pg_url: str
) -> None:
    gate = agents.block("a")
    for i in range(60):
        await nodes[0].service.add_job({"name": f"j{i:02d}", "agent": "a", "cron": "* * * * *"})
    clock.set("2026-03-02T09:00:00Z")
    for n in nodes:
        n.scheduler.notify()

    async def every_slot_busy() -> bool:
        listed = await nodes[0].store.list_nodes(clock.now())
        return sorted(n.running for n in listed) == [20, 20, 20]

    # whichever node claimed a run it had no slot for queued it; the others started it
    await until(every_slot_busy, "each node running 20 of the 60 runs")
    gate.set()
    await settle(nodes, pg_url)
    for minute in range(1, 4):
        clock.set(f"2026-03-02T09:0{minute}:00Z")
        await settle(nodes, pg_url)
    rows = await runs_by(pg_url)
    instants = Counter((r["job_name"], r["scheduled_for"], r["attempt"]) for r in rows)
    assert len(instants) == 240 and set(instants.values()) == {1}
    odd = [dict(r) for r in rows if r["status"] != "succeeded"]
    assert not odd, odd
    assert len(agents.calls) == 240
    assert {r["owner"] for r in rows} == set(OWNERS)


# the fake clock steps a minute at a time with runs in flight: past a 30 s lease every node's
# would lapse at each step, and nodes would (rightly) recover each other's runs
@pytest.mark.lease_ttl(3600)
async def test_max_concurrent_holds_across_nodes(
    nodes: list[Harness], clock: FakeClock, agents: Agents, pg_url: str
) -> None:
    gate = agents.block("slow")
    for i in range(6):
        await nodes[0].service.add_job(
            {"name": f"solo{i}", "agent": "slow", "cron": "* * * * *", "max_concurrent": 1}
        )
    for minute in range(0, 5):
        clock.set(f"2026-03-02T09:0{minute}:00Z")
        for n in nodes:
            n.scheduler.notify()

        async def claimed(minute: int = minute) -> bool:
            rows = await runs_by(pg_url)
            return len(rows) == 6 * (minute + 1)

        await until(claimed, f"the runs of 09:0{minute}")
    rows = await runs_by(pg_url)
    for i in range(6):
        mine = [r for r in rows if r["job_name"] == f"solo{i}"]
        # whichever node claimed each instant counted the run another node holds (without the
        # database's count, a node that does not run the job would start a second run)
        assert [r["status"] for r in mine] == ["running"] + ["skipped"] * 4
        assert all("max_concurrent (1) reached" in r["error_message"] for r in mine[1:])
    gate.set()
    await settle(nodes, pg_url)


async def test_a_dead_nodes_runs_are_interrupted_and_retried_by_the_others(
    nodes: list[Harness], clock: FakeClock, agents: Agents, pg_url: str
) -> None:
    gate = agents.block("a")
    for i in range(60):
        await nodes[0].service.add_job(
            {"name": f"j{i:02d}", "agent": "a", "cron": "0 * * * *", "max_retries": 3}
        )
    clock.set("2026-03-02T09:00:00Z")
    for n in nodes:
        n.scheduler.notify()

    async def all_running() -> bool:
        listed = await nodes[0].store.list_nodes(clock.now())
        return sum(n.running for n in listed) == 60

    await until(all_running, "60 runs in flight")
    dead, alive = nodes[0], nodes[1:]
    held = [r for r in await runs_by(pg_url) if r["owner"] == "node-a"]
    assert len(held) == 20
    crash(dead)
    # within the lease the others leave node-a's runs alone
    clock.set("2026-03-02T09:00:20Z")
    for n in alive:
        await n.scheduler._try_lead()
    assert [r["status"] for r in await runs_by(pg_url, "WHERE owner = 'node-a'")] == [
        "running"
    ] * 20
    # past it, they are interrupted and retried (after the backoff) by the living
    clock.set("2026-03-02T09:00:31Z")
    for n in alive:
        await n.scheduler._try_lead()
    rows = await runs_by(pg_url, "WHERE owner = 'node-a'")
    assert {r["status"] for r in rows} == {"interrupted"}
    assert {n.owner for n in await alive[0].store.list_nodes(clock.now())} == set(OWNERS[1:])
    gate.set()  # node-a's agents finish late: their results are dropped (fenced)
    await settle(alive, pg_url)
    await asyncio.wait_for(dead.scheduler._loop_task, 10)  # type: ignore[arg-type]
    for task in list(dead.scheduler._tasks.values()):
        await task
    clock.set("2026-03-02T09:01:00Z")  # past the retry backoff
    for n in alive:
        n.scheduler.notify()
    await settle(alive, pg_url)
    rows = await runs_by(pg_url)
    by_attempt = Counter((r["job_name"], r["attempt"]) for r in rows)
    assert set(by_attempt.values()) == {1}
    retries = [r for r in rows if r["attempt"] == 2]
    assert len(retries) == 20 and {r["status"] for r in retries} == {"succeeded"}
    assert {r["owner"] for r in retries} <= set(OWNERS[1:])
    assert Counter(r["status"] for r in rows) == {"succeeded": 60, "interrupted": 20}


async def test_nodes_loading_the_same_dsl_at_once_create_each_job_once(
    nodes: list[Harness], tmp_path: Path, pg_url: str
) -> None:
    dsl = tmp_path / "jobs.symbi"
    dsl.write_text(
        "".join(
            f'schedule {{\n  name: "dsl-{i}"\n  agent: "a"\n  cron: "0 {i} * * *"\n}}\n'
            for i in range(20)
        )
    )
    results = await asyncio.gather(*(n.service.load_dsl([str(dsl)]) for n in nodes))
    created = sorted(name for r in results for name in r.created)
    assert created == sorted(f"dsl-{i}" for i in range(20))  # each by exactly one node
    assert all(set(r.created) | set(r.unchanged) == set(created) for r in results)
    names = [j.name for j in (await nodes[0].service.list_jobs(limit=100)).jobs]
    assert sorted(names) == created


async def test_a_shared_persistent_context_follows_the_job_from_node_to_node(
    pg_url: str, agents: Agents, clock: FakeClock
) -> None:
    """Each node reads the job's context for each run: a node never resumes from what it saw
    itself last time when another node has run the job since."""
    from scheduler_core.config import SchedulerSettings
    from scheduler_core.events import EventBus
    from scheduler_core.model import JobDefinition, JobRun, SessionMode, new_id
    from scheduler_core.runtime.session import AgentRuntime
    from scheduler_core.store.postgres import PostgresJobStore

    stores = [PostgresJobStore(pg_url), PostgresJobStore(pg_url)]
    for store in stores:
        await store.open()
    try:
        job = JobDefinition(
            id=new_id(),
            name="memo",
            agent="a",
            cron="* * * * *",
            session_mode=SessionMode.SHARED_PERSISTENT,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        await stores[0].insert_jobs([job], [])
        runtimes = [
            AgentRuntime(
                agents.executor(),
                store=store,
                bus=EventBus(),
                clock=clock,
                settings=SchedulerSettings(),
                shared=store.shared,
            )
            for store in stores
        ]
        for i, node in enumerate([0, 1, 0, 0, 1, 0]):
            run = JobRun(
                id=new_id(),
                job_id=job.id,
                job_name=job.name,
                agent_id=job.agent,
                scheduled_for=clock.now(),
                input=f"step {i}",
            )
            runtimes[node].prefetch([job])
            await runtimes[node].execute(job, run)
        context = await stores[1].load_context(job.id)
        assert context is not None
        assert [e["input"] for e in context.memory] == [f"step {i}" for i in range(6)]
    finally:
        for store in stores:
            await store.close()


async def test_a_clock_jump_past_every_lease_recovers_nobody_alive(
    nodes: list[Harness], clock: FakeClock, agents: Agents, pg_url: str
) -> None:
    """Every node finds its lease lapsed at once (the wall clock jumped past it): each renews,
    and none takes the others' runs for a dead node's."""
    gate = agents.block("a")
    for i in range(30):
        await nodes[0].service.add_job({"name": f"j{i:02d}", "agent": "a", "cron": "0 * * * *"})
    clock.set("2026-03-02T09:00:00Z")
    for n in nodes:
        n.scheduler.notify()

    async def all_running() -> bool:
        listed = await nodes[0].store.list_nodes(clock.now())
        return sum(n.running for n in listed) == 30

    await until(all_running, "30 runs in flight")
    for n in nodes:  # from here the test renews the nodes' leases itself, in a known order
        crash(n)
        await asyncio.wait_for(n.scheduler._loop_task, 10)  # type: ignore[arg-type]
    clock.set("2026-03-02T09:05:00Z")  # five minutes: every 30 s lease has lapsed
    for n in nodes:  # the first to renew sees the others' leases lapsed too
        await n.scheduler._try_lead()
    clock.advance(3)  # its next renewal: now it recovers what is really orphaned (nothing)
    for n in nodes:
        await n.scheduler._try_lead()
    assert {r["status"] for r in await runs_by(pg_url)} == {"running"}
    gate.set()

    async def all_succeeded() -> bool:
        return {r["status"] for r in await runs_by(pg_url)} == {"succeeded"}

    await until(all_succeeded, "every run recorded succeeded")
