"""The SQLite store's jobs per status, kept in ``job_counts`` by triggers (migration 12).

They must equal what counting the jobs gives after every kind of change, whichever connection
makes it, and a store migrated from version 11 starts from its jobs' counts.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from scheduler_core.model import JobStatus
from scheduler_core.store import SqliteJobStore
from scheduler_core.store.base import JobQuery

from .test_store import make_job


def counted(path: Path) -> dict[str, int]:
    """The jobs per status, counted."""
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall())


def kept(path: Path) -> dict[str, int]:
    """The jobs per status the triggers kept (statuses with none left out)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT status, jobs FROM job_counts WHERE jobs != 0").fetchall()
    return dict(rows)


async def check(store: SqliteJobStore) -> None:
    """job_counts, count_jobs and every total list_jobs gives without a text or agent agree
    with counting the jobs."""
    path = Path(store.path)
    want = counted(path)
    assert kept(path) == want
    counts = await store.count_jobs()
    assert {s.value: n for s, n in counts.items() if n} == want
    assert set(counts) == set(JobStatus)
    assert (await store.list_jobs(JobQuery(limit=5))).total == sum(want.values())
    for status in JobStatus:
        page = await store.list_jobs(JobQuery(status=status, limit=5))
        assert page.total == want.get(status.value, 0), status
        assert len(page.jobs) == min(5, page.total)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteJobStore]:
    async with SqliteJobStore(str(tmp_path / "symbi.db")) as opened:
        yield opened


async def test_counts_follow_inserts_status_changes_and_deletes(store: SqliteJobStore) -> None:
    statuses = [JobStatus.ACTIVE] * 5 + [JobStatus.PAUSED] * 3 + [JobStatus.DEAD_LETTER]
    made = [make_job(f"job-{i}", status=s) for i, s in enumerate(statuses)]
    await store.insert_jobs(made[:4], [])  # a bulk add
    for job in made[4:]:
        await store.insert_jobs([job], [])  # one by one
    assert kept(Path(store.path)) == {"active": 5, "paused": 3, "dead_letter": 1}
    await check(store)
    await store.update_job(dataclasses.replace(made[0], status=JobStatus.PAUSED), [])
    await store.update_job(dataclasses.replace(made[1], name="renamed"), [])  # status kept
    await store.update_job(dataclasses.replace(made[8], status=JobStatus.ACTIVE), [])
    assert kept(Path(store.path)) == {"active": 5, "paused": 4}
    await check(store)
    assert await store.delete_job(made[2].id, [])
    assert not await store.delete_job(made[2].id, [])  # gone already: nothing counted twice
    await store.upsert_jobs(
        [
            dataclasses.replace(made[3], status=JobStatus.FAILED),
            make_job("new", status=JobStatus.PAUSED),
        ],
        [],
    )
    assert kept(Path(store.path)) == {"active": 3, "paused": 5, "failed": 1}
    await check(store)
    for job in made:
        await store.delete_job(job.id, [])
    await check(store)
    assert kept(Path(store.path)) == {"paused": 1}


async def test_counts_follow_changes_from_another_connection(store: SqliteJobStore) -> None:
    """Another process's writes (plain SQL here) are counted in their own transaction, and a
    transaction rolled back counts nothing."""
    await store.insert_jobs([make_job(f"job-{i}") for i in range(6)], [])
    await check(store)  # counted once: the next answers must not be remembered ones
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE jobs SET status = 'dead_letter' WHERE name IN ('job-1', 'job-2')")
        conn.execute("DELETE FROM jobs WHERE name = 'job-3'")
    await check(store)
    assert kept(Path(store.path)) == {"active": 3, "dead_letter": 2}
    conn = sqlite3.connect(store.path)
    conn.execute("BEGIN")
    conn.execute("UPDATE jobs SET status = 'paused'")
    conn.execute("ROLLBACK")
    conn.close()
    await check(store)
    assert kept(Path(store.path)) == {"active": 3, "dead_letter": 2}


async def test_the_service_moving_a_job_is_counted(tmp_path: Path) -> None:
    """The service's pause, resume and removal are counted (the real service over a file)."""
    from scheduler_core.clock import FakeClock
    from scheduler_core.config import SchedulerConfig, StoreConfig
    from scheduler_core.engine import Engine

    path = tmp_path / "symbi.db"
    engine = Engine(
        SchedulerConfig(store=StoreConfig(url=str(path))),
        run_scheduler=False,
        clock=FakeClock("2026-03-02T08:00:00Z"),
    )
    service = await engine.start()
    try:
        await service.add_jobs(
            [{"name": f"j{i}", "agent": "a", "cron": "* * * * *"} for i in range(4)]
        )
        await service.pause_job("j1")
        await service.pause_job("j2")
        await service.resume_job("j2")
        await service.remove_job("j3")
        assert kept(path) == {"active": 2, "paused": 1} == counted(path)
    finally:
        await engine.stop()


async def test_a_version_11_store_counts_its_jobs_when_migrated(tmp_path: Path) -> None:
    path = tmp_path / "symbi.db"
    async with SqliteJobStore(str(path)) as store:
        await store.insert_jobs(
            [
                make_job(f"job-{i}", status=JobStatus.PAUSED if i % 3 else JobStatus.ACTIVE)
                for i in range(30)
            ],
            [],
        )
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "DROP TRIGGER jobs_count_insert; DROP TRIGGER jobs_count_delete; "
            "DROP TRIGGER jobs_count_update; DROP TABLE job_counts; PRAGMA user_version = 11;"
        )
        conn.execute("UPDATE jobs SET status = 'failed' WHERE name = 'job-1'")  # uncounted
    async with SqliteJobStore(str(path)) as store:
        assert kept(path) == {"active": 10, "paused": 19, "failed": 1}
        await check(store)
