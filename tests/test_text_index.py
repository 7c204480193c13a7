"""The SQLite store's in-memory index of job names and agents (the jobs filter).

It must answer exactly what ``name LIKE '%text%' OR agent LIKE '%text%'`` answers, with the other
filters, every order and page, and follow every change to the jobs, whichever process makes it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from scheduler_core.model import JobDefinition, JobStatus
from scheduler_core.store import SqliteJobStore, text_index
from scheduler_core.store.base import JobQuery
from scheduler_core.store.text_index import JobTextIndex

from .test_store import make_job

ORDERS = ("name", "next_run_at", "status", "agent", "last_run_at", "failure_count")
WORDS = ("report", "Daily", "db", "backup", "sync", "EU", "us-east", "nightly", "x_y", "50%")
AGENTS = ("reporter", "Prober", "syncer", "backup-bot", "db_admin")
STATUSES = (JobStatus.ACTIVE, JobStatus.ACTIVE, JobStatus.PAUSED, JobStatus.DEAD_LETTER)


def jobs(count: int, seed: int = 5) -> list[JobDefinition]:
    """Jobs with names and agents made of a few words, so that texts match many or few."""
    rng = random.Random(seed)
    made = []
    for i in range(count):
        words = rng.sample(WORDS, rng.randint(1, 3))
        name = "-".join(words).replace("%", "pct") + f"-{i:05d}"
        made.append(
            make_job(
                name,
                agent=rng.choice(AGENTS),
                next_in=rng.choice([None, rng.randint(0, 9000)]),
                status=rng.choice(STATUSES),
                failure_count=rng.randint(0, 3),
            )
        )
    return made


def like(path: Path, text: str, status: JobStatus | None = None) -> set[str]:
    """The ids plain SQL finds: what the index must find."""
    pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    sql = "SELECT id FROM jobs WHERE (name LIKE ? ESCAPE '\\' OR agent LIKE ? ESCAPE '\\')"
    params: list[object] = [pattern + "%", pattern + "%"]
    if status is not None:
        sql += " AND status = ?"
        params.append(status.value)
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute(sql, params)}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteJobStore]:
    async with SqliteJobStore(str(tmp_path / "symbi.db")) as opened:
        yield opened


async def listed(store: SqliteJobStore, **query: object) -> tuple[list[str], int]:
    """Every page of a query, walked through: the ids in order, and the total."""
    ids: list[str] = []
    offset = 0
    while True:
        page = await store.list_jobs(JobQuery(limit=700, offset=offset, **query))  # type: ignore[arg-type]
        ids += [job.id for job in page.jobs]
        offset += 700
        if offset >= page.total:
            return ids, page.total


async def test_the_filter_finds_what_like_finds_in_every_order(store: SqliteJobStore) -> None:
    """3,000 jobs: texts matching most jobs (past the 2,000 found-then-sorted), a few, none;
    ASCII case ignored; LIKE's wildcards taken literally; with and without a status."""
    made = jobs(3000)
    await store.insert_jobs(made, [])
    path = Path(store.path)
    texts = ["r", "REPORT", "daily-", "eu-us", "x_y", "50%", "pct", "-0012", "bot", "nope", "%"]
    for order in ORDERS:
        for descending in (False, True):
            # the order is the one the unfiltered list has
            everything, _ = await listed(store, order=order, descending=descending)
            for text in texts:
                for status in (None, JobStatus.PAUSED):
                    want = like(path, text, status)
                    ids, total = await listed(
                        store, text=text, status=status, order=order, descending=descending
                    )
                    assert total == len(want), (text, status, order)
                    assert ids == [i for i in everything if i in want], (text, status, order)


async def test_the_filter_follows_every_change_from_any_process(
    store: SqliteJobStore, tmp_path: Path
) -> None:
    """Jobs added, renamed, given another agent and deleted through another connection (another
    process's store) are found, or no longer found, by this store's next query."""
    made = jobs(50)
    await store.insert_jobs(made, [])
    assert (await store.list_jobs(JobQuery(text="zebra"))).total == 0
    async with SqliteJobStore(str(tmp_path / "symbi.db")) as other:
        await other.insert_jobs([make_job("zebra-1"), make_job("zebra-2")], [])
        assert (await store.list_jobs(JobQuery(text="ZEBRA"))).total == 2
        renamed = dataclasses.replace(made[0], name="zebra-renamed")
        await other.update_job(renamed, [])
        reagented = dataclasses.replace(made[1], agent="zebra-agent")
        await other.upsert_jobs([reagented], [])
        page = await store.list_jobs(JobQuery(text="zebra"))
        assert {j.name for j in page.jobs} == {"zebra-1", "zebra-2", "zebra-renamed", made[1].name}
        assert (await store.list_jobs(JobQuery(text=made[0].name))).total == 0
        zebra_1 = await other.get_job_by_name("zebra-1")
        assert zebra_1 is not None
        await other.delete_job(zebra_1.id, [])
        page = await store.list_jobs(JobQuery(text="zebra"))
        assert page.total == 3 and "zebra-1" not in {j.name for j in page.jobs}
        await other.upsert_jobs([make_job("zebra-from-a-dsl-load")], [])  # inserted by upsert
        page = await store.list_jobs(JobQuery(text="zebra"))
        assert page.total == 4 and "zebra-from-a-dsl-load" in {j.name for j in page.jobs}


async def test_a_log_pruned_past_what_the_index_saw_rebuilds_it(store: SqliteJobStore) -> None:
    await store.insert_jobs(jobs(20), [])
    await store.prepare_text_search()
    path = Path(store.path)
    async with SqliteJobStore(str(path)) as other:
        await other.insert_jobs([make_job("late-arrival")], [])
    with sqlite3.connect(path) as conn:  # the entries this store has not read yet are pruned
        conn.execute("DELETE FROM job_text_log")
        conn.execute("INSERT INTO job_text_log (seq, job_id) VALUES (1000, 'unrelated')")
    assert (await store.list_jobs(JobQuery(text="late-arrival"))).total == 1


async def test_the_log_keeps_its_latest_entries(store: SqliteJobStore) -> None:
    """Every 10,000th entry drops those 100,000 older than it."""
    with sqlite3.connect(store.path) as conn:
        conn.executemany(
            "INSERT INTO job_text_log (seq, job_id) VALUES (?, 'x')",
            [(seq,) for seq in (1, 50_000, 99_999, 100_001, 150_000)],
        )
        conn.execute("INSERT INTO job_text_log (seq, job_id) VALUES (200000, 'x')")
        kept = [row[0] for row in conn.execute("SELECT seq FROM job_text_log ORDER BY seq")]
    assert kept == [100_001, 150_000, 200_000]


async def test_a_version_4_store_gains_the_index(tmp_path: Path) -> None:
    """Jobs written before the log existed are found: the first query reads them all."""
    path = tmp_path / "symbi.db"
    async with SqliteJobStore(str(path)) as store:
        await store.insert_jobs(jobs(30), [])
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "DROP TRIGGER jobs_text_delete; "
            "DROP TRIGGER jobs_text_update; DROP TABLE job_text_log; "
            "ALTER TABLE lease DROP COLUMN machine; PRAGMA user_version = 4;"
        )
    async with SqliteJobStore(str(path)) as store:
        ids, total = await listed(store, text="report")
        assert set(ids) == like(path, "report") and total == len(ids) > 0
        await store.insert_jobs([make_job("report-new")], [])
        assert (await store.list_jobs(JobQuery(text="report-new"))).total == 1


async def test_tabs_and_newlines_match_nothing(store: SqliteJobStore) -> None:
    await store.insert_jobs([make_job("a-b", agent="c")], [])
    for text in ("a-b\tc", "b\tc", "\n"):
        assert (await store.list_jobs(JobQuery(text=text))).total == 0


async def test_the_filter_answers_exactly_while_the_index_is_read_apart(
    store: SqliteJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the names are read on their own thread (held here until released), a text filter
    is answered by SQLite, exactly, in every order and page; jobs changed meanwhile are found
    once the index is in, as they are after it."""
    made = jobs(3000)
    await store.insert_jobs(made, [])
    path = Path(store.path)
    release = threading.Event()
    entered = threading.Event()
    build = JobTextIndex._build_apart

    def held(self: JobTextIndex, where: str) -> None:
        entered.set()
        release.wait(30)
        build(self, where)

    monkeypatch.setattr(JobTextIndex, "_build_apart", held)
    monkeypatch.setattr(text_index, "_CHUNK", 700)  # read in five parts
    preparing = asyncio.ensure_future(store.prepare_text_search())
    assert await asyncio.to_thread(entered.wait, 30)
    index = store._text_index  # the test watches the build
    thread = index._thread
    assert thread is not None
    for order in ("name", "next_run_at", "failure_count"):
        everything, _ = await listed(store, order=order)
        for text in ("r", "daily-", "x_y", "-0012", "nope"):
            for status in (None, JobStatus.PAUSED):
                want = like(path, text, status)
                ids, total = await listed(store, text=text, status=status, order=order)
                assert total == len(want), (text, status, order)
                assert ids == [i for i in everything if i in want], (text, status, order)
    assert index.building and len(index) == 0  # all of the above without the index
    await store.insert_jobs([make_job("zebra-early")], [])
    assert (await store.list_jobs(JobQuery(text="zebra"))).total == 1
    release.set()
    await preparing  # done once the index is in
    assert not index.building and len(index) == 3001
    await store.update_job(dataclasses.replace(made[0], name="zebra-late"), [])
    page = await store.list_jobs(JobQuery(text="ZEBRA"))
    assert {j.name for j in page.jobs} == {"zebra-early", "zebra-late"} and page.total == 2
    assert len(index) == 3001  # answered from the index now
    ids, total = await listed(store, text="report")
    assert set(ids) == like(path, "report") and total == len(ids) > 0


async def test_a_build_apart_that_fails_leaves_the_first_query_to_read_the_jobs(
    store: SqliteJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.insert_jobs(jobs(40), [])
    monkeypatch.setattr(JobTextIndex, "_build_apart", lambda self, where: None)
    await store.prepare_text_search()  # the reading connection reads the jobs then
    index = store._text_index
    assert not index.building and len(index) == 40
    ids, total = await listed(store, text="report")
    assert set(ids) == like(Path(store.path), "report") and total == len(ids) > 0


async def test_a_name_with_a_newline_is_read_apart_row_by_row(
    store: SqliteJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build apart reads a part as one string per column, split at newlines: a part
    holding a name with one in it is read again row by row."""
    monkeypatch.setattr(text_index, "_CHUNK", 3)
    await store.insert_jobs([make_job(f"plain-{i}") for i in range(7)], [])
    await store.insert_jobs([make_job("two\nlines"), make_job("after-it")], [])
    await store.prepare_text_search()
    assert len(store._text_index) == 9
    for text in ("plain", "two", "lines", "after", "o"):
        ids, total = await listed(store, text=text)
        assert set(ids) == like(Path(store.path), text) and total == len(ids), text


async def test_jobs_changed_after_the_blocks_were_made_are_searched_apart(
    store: SqliteJobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The names are searched in blocks (here of 7 jobs); jobs renamed, added or deleted since
    are searched apart and their old names in the blocks skipped, until more than a few (here
    5) changed: then the blocks are made again. Every answer is what LIKE finds."""
    monkeypatch.setattr(text_index, "_CHUNK", 7)
    monkeypatch.setattr(text_index, "_CHANGED", 5)
    made = jobs(60)
    await store.insert_jobs(made, [])
    await store.prepare_text_search()
    path = Path(store.path)
    texts = ("r", "report", "-0001", "-00059", "zebra", "ZEBRA-0000", "bot", "nope")

    async def check(step: str) -> None:
        for text in texts:
            want = like(path, text)
            for limit in (1, 2000):  # few found; more than the limit found (None)
                page = await store.list_jobs(JobQuery(text=text, limit=limit))
                assert page.total == len(want), (step, text)
                assert {j.id for j in page.jobs} <= want, (step, text)
            ids, total = await listed(store, text=text)
            assert set(ids) == want and total == len(ids), (step, text)

    await check("as read")
    for job in made[:3]:  # searched apart
        await store.update_job(dataclasses.replace(job, name=f"zebra-{job.name}"), [])
    await store.delete_job(made[3].id, [])
    await store.insert_jobs([make_job("zebra-new")], [])
    await check("a few changed")
    assert store._text_index._blocks is not None  # the test watches the blocks
    for job in made[10:20]:
        await store.update_job(dataclasses.replace(job, agent="zebra-bot"), [])
    await check("many changed")
    await check("blocks made again")
