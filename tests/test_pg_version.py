"""How the nodes of a PostgreSQL store learn of each other's writes (issue 23): the store
version as per-writer counters, NOTIFY in the transaction for what others must act on at once,
and the scheduler's own transactions announced after their commit (``store/postgres/_version.py``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from scheduler_core.model import HeartbeatIteration, JobDefinition, RunStatus
from scheduler_core.store import open_store
from scheduler_core.store.base import ClaimPlan, FinishItem
from scheduler_core.store.postgres import PostgresJobStore
from scheduler_core.store.postgres._listen import ChangeListener
from scheduler_core.store.postgres._version import ANNOUNCE_WINDOW, BUMP, SOON, Announcer
from scheduler_core.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION, migrate

from .pg import PgCluster, run_sync
from .test_store import T0, at, finish_planner, make_job, make_run

OWNER = "node-a"
HEARTBEAT = make_job("heartbeat", next_in=None)
RUN = make_run(HEARTBEAT)  #: a running run (its iterations, its finish)


def job(name: str) -> JobDefinition:
    return make_job(name, next_in=0)


def iteration(index: int) -> HeartbeatIteration:
    return HeartbeatIteration(run_id=RUN.id, index=index, started_at=T0, outcome="continue")


def claim_all(jobs: Sequence[JobDefinition], others: Mapping[str, int]) -> list[ClaimPlan]:
    """Every due job runs now and comes back in an hour."""
    return [
        ClaimPlan(
            job=j,
            next_run_at=T0 + timedelta(hours=1),
            run=make_run(j, scheduled=T0, status=RunStatus.RUNNING),
        )
        for j in jobs
    ]


@pytest.fixture
async def stores(pg_url: str) -> AsyncIterator[tuple[PostgresJobStore, PostgresJobStore]]:
    """Two store objects on one database, as two nodes have."""
    a, b = PostgresJobStore(pg_url), PostgresJobStore(pg_url)
    await a.open()
    await b.open()
    await a.insert_jobs([HEARTBEAT], [])
    await a.insert_run(RUN, [])
    yield a, b
    await a.close()
    await b.close()


async def writers(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {r[0]: r[1] for r in await conn.fetch("SELECT writer, version FROM store_version")}
    finally:
        await conn.close()


async def listening(url: str) -> tuple[asyncpg.Connection, list[tuple[float, int, str]]]:
    """A raw LISTEN on the store's channel: (when, sender's backend pid, payload) of each."""
    heard: list[tuple[float, int, str]] = []
    conn = await asyncpg.connect(url)
    await conn.add_listener(
        "symbi_store", lambda _c, pid, _ch, payload: heard.append((time.monotonic(), pid, payload))
    )
    return conn, heard


async def heard_after(heard: list[Any], count: int) -> None:
    for _ in range(1000):
        if len(heard) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"heard {len(heard)} notification(s), expected {count}")


async def test_a_write_waits_for_no_other_writers_commit(
    stores: tuple[PostgresJobStore, PostgresJobStore], pg_url: str
) -> None:
    """Another node's transaction that has bumped its version (its last statement, held while
    its commit is flushed) holds no lock this node's writes need, whichever kind they are (with
    one version row for all, every write here waited for it)."""
    _, b = stores
    await b.register_node(OWNER, now=T0, ttl=3600)
    await b.insert_jobs([job("j1"), job("j2")], [])
    conn = await asyncpg.connect(pg_url)
    try:
        async with conn.transaction():
            await conn.execute(BUMP, "another-node")  # in its commit, for as long as we like
            await conn.execute("UPDATE store_version SET version = version WHERE writer = ''")
            writes = [
                b.insert_jobs([job("j3")], []),  # notified in the transaction
                b.claim_due(T0, 10, OWNER, claim_all),  # announced after it
                b.record_iteration(iteration(1)),
            ]
            for write in writes:
                await asyncio.wait_for(write, 10)
    finally:
        await conn.close()
    assert len(await b.list_runs(limit=10)) == 4  # the heartbeat's, and a run of each job


async def test_the_version_changes_with_every_write_and_only_then(
    stores: tuple[PostgresJobStore, PostgresJobStore], pg_url: str
) -> None:
    a, b = stores
    seen = [await a.data_version()]
    await a.insert_jobs([job("x")], [])
    seen.append(await a.data_version())
    await b.record_iteration(iteration(1))  # a quiet write: no NOTIFY, still a change
    seen.append(await a.data_version())
    await b.get_job("x")
    await b.register_node(OWNER, now=T0, ttl=60)  # a renewal is not a change
    seen.append(await b.data_version())
    assert seen[0] < seen[1] < seen[2] == seen[3]
    assert set(await writers(pg_url)) == {"", a._instance, b._instance}


async def test_closing_and_stale_writers_are_folded_into_the_base_row(pg_url: str) -> None:
    """The table keeps a row per live writer; folding rows away never changes the version."""
    a, b = PostgresJobStore(pg_url), PostgresJobStore(pg_url)
    await a.open()
    await b.open()
    try:
        await a.insert_jobs([job("x")], [])
        await b.insert_jobs([job("y")], [])
        await b.insert_jobs([job("y2")], [])
        before = await a.data_version()
        await b.close()  # its counter (2) goes into the base row
        rows = await writers(pg_url)
        assert set(rows) == {"", a._instance} and await a.data_version() == before
        conn = await asyncpg.connect(pg_url)
        try:  # a writer that died an hour ago without closing
            await conn.execute(
                "INSERT INTO store_version VALUES (7, 'dead', now() - interval '2 hours')"
            )
            await conn.execute(
                "INSERT INTO run_stats_rows VALUES (99999, 3, 2, 1, 40, 3, now() - interval '2h')"
            )
            with_dead = await a.data_version()
            assert with_dead == before + 7
            assert (await a.run_stats()).runs_total == 3
            await a.register_node(OWNER, now=T0, ttl=60)  # renewals fold the stale rows
            assert set(await writers(pg_url)) == {"", a._instance}
            assert await a.data_version() == with_dead
            assert await conn.fetchval("SELECT array_agg(writer) FROM run_stats_rows") == [0]
            stats = await a.run_stats()
            assert (stats.runs_total, stats.runs_succeeded, stats.runs_failed) == (3, 2, 1)
            await a.insert_jobs([job("z")], [])
            assert await a.data_version() == with_dead + 1
        finally:
            await conn.close()
        assert await a.integrity_check() == "ok"
    finally:
        await a.close()
        await b.close()


async def test_what_others_must_act_on_is_notified_in_its_transaction(
    stores: tuple[PostgresJobStore, PostgresJobStore], pg_url: str, monkeypatch: Any
) -> None:
    """Job changes notify in the transaction that makes them; the scheduler's own transactions
    (claims, starts, finishes, iterations) do not: without their announcements, nothing is
    heard of them."""
    monkeypatch.setattr(Announcer, "soon", lambda self: None)
    a, b = stores
    await b.register_node(OWNER, now=T0, ttl=3600)
    conn, heard = await listening(pg_url)
    try:
        await b.insert_jobs([job("j1")], [])
        await heard_after(heard, 1)
        assert heard[0][2] == b._instance
        assert await b.claim_due(T0, 10, OWNER, claim_all)
        await b.record_iteration(iteration(1))
        await a.insert_jobs([job("j2")], [])  # heard after theirs, had they been sent
        await heard_after(heard, 2)
        await asyncio.sleep(0.05)
        assert [p for _, _, p in heard] == [b._instance, a._instance]
    finally:
        await conn.close()


async def test_quiet_writes_are_announced_after_they_commit_a_few_times_a_second(
    stores: tuple[PostgresJobStore, PostgresJobStore], pg_url: str
) -> None:
    """A burst of the scheduler's writes: the others hear of it at once, then at most once per
    window, and once more after the last write of the burst (nothing is left unannounced)."""
    _, b = stores
    conn, heard = await listening(pg_url)
    try:
        started = time.monotonic()
        for i in range(40):
            await b.record_iteration(iteration(i + 1))
        last_commit = time.monotonic()
        elapsed = last_commit - started
        await asyncio.sleep(ANNOUNCE_WINDOW * 3)
        ours = [t for t, _, payload in heard if payload == b._instance + SOON]
        assert ours, "the burst was never announced"
        assert ours[-1] >= last_commit  # the last write is covered by an announcement after it
        assert len(ours) <= elapsed / ANNOUNCE_WINDOW + 2 < 40 or elapsed > 3
    finally:
        await conn.close()


async def test_a_watching_node_is_woken_by_another_nodes_claim_and_finish(
    stores: tuple[PostgresJobStore, PostgresJobStore],
) -> None:
    a, b = stores
    woken = asyncio.Event()
    assert a.watch(woken.set)
    try:
        assert await asyncio.wait_for(a.wait_watching(), 10)
        await asyncio.sleep(0.05)
        woken.clear()  # (the call a watch makes when it starts)
        await b.register_node(OWNER, now=T0, ttl=3600)
        await b.insert_jobs([job("j1")], [])
        await asyncio.wait_for(woken.wait(), 10)
        woken.clear()
        await asyncio.sleep(ANNOUNCE_WINDOW * 2)  # past the window of b's last announcement
        assert await b.claim_due(T0, 10, OWNER, claim_all)
        await asyncio.wait_for(woken.wait(), 10)
    finally:
        a.unwatch()


async def test_a_finish_waits_for_no_other_nodes_run_counters(
    stores: tuple[PostgresJobStore, PostgresJobStore], pg_url: str
) -> None:
    """The run counters (``run_stats``) every finish adds to: another node's finish, open
    after adding to them, holds nothing this node's finish waits for; the sums hold both."""
    a, b = stores
    conn = await asyncpg.connect(pg_url)
    try:
        async with conn.transaction():
            await conn.execute(
                "UPDATE run_stats SET runs_total = runs_total + 5, "
                "runs_succeeded = runs_succeeded + 5 WHERE id = 1"
            )
            await conn.execute("UPDATE run_stats_rows SET runs_total = runs_total WHERE writer = 0")
            done = dataclasses.replace(RUN, status=RunStatus.SUCCEEDED, finished_at=at(5))
            finish = b.finish_runs([FinishItem(run=done, job=HEARTBEAT)], finish_planner([]))
            assert (await asyncio.wait_for(finish, 10))[0] is not None
            assert (await a.run_stats()).runs_total == 1  # theirs is not committed yet
    finally:
        await conn.close()
    stats = await a.run_stats()
    assert (stats.runs_total, stats.runs_succeeded, stats.runs_failed) == (6, 6, 0)
    assert await a.integrity_check() == "ok"


def test_a_store_at_the_previous_schema_keeps_its_version(pg_cluster: PgCluster) -> None:
    """Migrating the single counters to per-writer rows keeps the version and the run counts
    where they were."""
    step = next(i for i, sql in enumerate(MIGRATIONS) if "ADD COLUMN writer" in sql)
    name = f"symbi_version_{id(pg_cluster)}_{time.monotonic_ns()}"

    async def check() -> None:
        url = await pg_cluster.create_database(name)
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "CREATE TABLE schema_version (id integer PRIMARY KEY CHECK (id = 1), "
                "version integer NOT NULL); INSERT INTO schema_version VALUES (1, 0)"
            )
            for number in range(step):
                await conn.execute(MIGRATIONS[number])
                await conn.execute("UPDATE schema_version SET version = $1", number + 1)
            await conn.execute("UPDATE store_version SET version = 41 WHERE id = 1")
            await conn.execute("UPDATE run_stats SET runs_total = 7, runs_failed = 2 WHERE id = 1")
            await migrate(conn)
            assert await conn.fetchval("SELECT version FROM schema_version") == SCHEMA_VERSION
        finally:
            await conn.close()
        store = await open_store(url)
        try:
            assert await store.data_version() == 41
            await store.insert_jobs([job("after")], [])
            assert await store.data_version() == 42
            stats = await store.run_stats()
            assert (stats.runs_total, stats.runs_failed) == (7, 2)
            assert await store.integrity_check() == "ok"
        finally:
            await store.close()

    try:
        run_sync(check())
    finally:
        run_sync(pg_cluster.drop_database(name))


async def test_announcements_wake_a_listener_at_most_once_per_window_however_many_send(
    pg_url: str,
) -> None:
    """Four nodes' bursts of the scheduler's writes wake a watching node a few times a second
    in all (each wake-up is a scheduler cycle), the last after their last write."""
    watcher = PostgresJobStore(pg_url)
    await watcher.open()
    writers_ = [PostgresJobStore(pg_url) for _ in range(4)]
    for w in writers_:
        await w.open()
    wakes: list[float] = []
    try:
        await watcher.insert_jobs([HEARTBEAT], [])
        await watcher.insert_run(RUN, [])
        assert watcher.watch(lambda: wakes.append(time.monotonic()))
        assert await asyncio.wait_for(watcher.wait_watching(), 10)
        await asyncio.sleep(ANNOUNCE_WINDOW * 2)
        wakes.clear()
        started = time.monotonic()
        for i in range(15):
            await asyncio.gather(
                *(w.record_iteration(iteration(4 * i + k + 1)) for k, w in enumerate(writers_))
            )
        last_commit = time.monotonic()
        await asyncio.sleep(ANNOUNCE_WINDOW * 4)
        elapsed = last_commit - started
        assert wakes and wakes[-1] >= last_commit  # the last writes are covered
        assert len(wakes) <= (elapsed + ANNOUNCE_WINDOW * 2) / ANNOUNCE_WINDOW + 1
        gaps = [b - a for a, b in itertools.pairwise(wakes)]
        assert all(gap >= ANNOUNCE_WINDOW * 0.9 for gap in gaps), gaps
    finally:
        watcher.unwatch()
        for w in writers_:
            await w.close()
        await watcher.close()


async def test_what_must_be_acted_on_wakes_at_once_inside_an_announcements_window(
    pg_url: str,
) -> None:
    """Announcements are coalesced into one wake-up per window; a change notified in its
    transaction is not held back by them; a stopped listener calls nothing more."""
    wakes: list[str] = []
    listener = ChangeListener(pg_url, "me", window=2.0)
    listener.start(lambda: wakes.append("wake"))
    conn = await asyncpg.connect(pg_url)
    try:
        assert await asyncio.wait_for(listener.wait(), 10)
        await asyncio.sleep(0.05)
        assert wakes == ["wake"]  # (the call when listening starts)
        wakes.clear()
        await conn.execute(f"SELECT pg_notify('symbi_store', 'a{SOON}')")  # at once
        await heard_after(wakes, 1)
        await conn.execute(f"SELECT pg_notify('symbi_store', 'b{SOON}')")  # at the window's end
        await conn.execute(f"SELECT pg_notify('symbi_store', 'c{SOON}')")  # covered by it
        await conn.execute(f"SELECT pg_notify('symbi_store', 'me{SOON}')")  # ours: nothing
        await conn.execute("SELECT pg_notify('symbi_store', 'd')")  # at once, not held back
        await heard_after(wakes, 2)
        await asyncio.sleep(0.3)
        assert len(wakes) == 2
        await heard_after(wakes, 3)  # b and c, once the window has passed
        await asyncio.sleep(0.2)
        assert len(wakes) == 3
        await conn.execute(f"SELECT pg_notify('symbi_store', 'e{SOON}')")  # pending...
        await asyncio.sleep(0.2)
        listener.stop()  # ...and dropped
        await asyncio.sleep(2.2)
        assert len(wakes) == 3
    finally:
        listener.stop()
        await conn.close()
