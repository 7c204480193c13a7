"""JobTemplates (store/_rows.py): a job built from a row whose definition was parsed before is
the job ``job_from_row`` builds, field by field; and the SQLite start of many queued runs in one
statement (store/sqlite/_transitions._start_batch) writes what the one-by-one loop writes, or
nothing."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler_core.model import (
    AllowedHours,
    HeartbeatSpec,
    JobDefinition,
    JobRun,
    JobStatus,
    PolicySpec,
    RunStatus,
    SessionMode,
    new_id,
)
from scheduler_core.store import open_store
from scheduler_core.store._rows import JOB_COLUMNS, JobTemplates, job_from_row
from scheduler_core.store.base import StartPlan
from scheduler_core.store.sqlite import _transitions
from scheduler_core.store.sqlite._sql import instant

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _jobs() -> list[JobDefinition]:
    base = {"agent": "bot", "created_at": T0, "updated_at": T0, "source": "test"}
    return [
        JobDefinition(id=new_id(), name="plain", cron="*/5 * * * *", next_run_at=T0, **base),
        JobDefinition(
            id=new_id(),
            name="rich",
            at=T0 + timedelta(hours=1),
            timezone="Europe/Paris",
            session_mode=SessionMode.SHARED_PERSISTENT,
            delivery=("slack", "email"),
            slack_channel="#ops",
            email_recipients=("a@example.com",),
            on_failure=(),
            policy=PolicySpec(
                max_runtime_seconds=30,
                approvers=("alice",),
                allowed_hours=AllowedHours(start="08:00", end="18:00"),
            ),
            policies=("night",),
            heartbeat=HeartbeatSpec(max_iterations=7),
            max_concurrent=3,
            max_retries=2,
            jitter_seconds=1.5,
            input="hello",
            next_run_at=T0,
            **base,
        ),
        JobDefinition(
            id=new_id(),
            name="hooked",
            cron="0 * * * *",
            webhook_url="https://example.com/h",
            webhook_headers={"X-Key": "v"},
            delivery_config={"custom": {"k": [1, 2]}},
            **base,
        ),
    ]


async def _rows(tmp_path: Path, jobs: list[JobDefinition]) -> list[tuple[object, ...]]:
    path = tmp_path / "store.db"
    store = await open_store(str(path))
    try:
        await store.insert_jobs(jobs, [])
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        return [tuple(r) for r in conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs ORDER BY name")]


async def test_a_template_builds_the_job_job_from_row_builds(tmp_path: Path) -> None:
    jobs = await _rows(tmp_path, _jobs())
    templates = JobTemplates()
    for row in jobs:
        first = templates.job(row, instant)  # parsed
        again = templates.job(row, instant)  # from the template, where one is kept
        assert first == again == job_from_row(row, instant)
        assert first is not again
        # the same definition, other state columns: the row's state, the template's definition
        state = list(row)
        state[0] = "other-id"
        state[3] = "paused"
        state[5:11] = [None, "2026-03-02T08:00:00.000000Z", "failed", "boom", 4, 2]
        state[13] = "api"
        other = templates.job(state, instant)
        assert other == job_from_row(state, instant)
        assert (other.id, other.status, other.last_run_status) == (
            "other-id",
            JobStatus.PAUSED,
            RunStatus.FAILED,
        )
    hooked = next(r for r in jobs if r[1] == "hooked")
    one, two = templates.job(hooked, instant), templates.job(hooked, instant)
    assert one.delivery_config == {"custom": {"k": [1, 2]}}
    assert one.delivery_config is not two.delivery_config  # (never a mapping shared)
    assert one.delivery_config["custom"] is not two.delivery_config["custom"]
    plain = next(r for r in jobs if r[1] == "plain")
    a, b = templates.job(plain, instant), templates.job(plain, instant)
    assert a.webhook_headers == {} and a.webhook_headers is not b.webhook_headers


async def test_a_finish_takes_the_job_its_claim_kept(tmp_path: Path) -> None:
    """``take``: built from the kept job (then no longer kept); a definition changed since (its
    text) is parsed, not taken from the job kept for the old one."""
    rows = await _rows(tmp_path, _jobs())
    plain = next(r for r in rows if r[1] == "plain")
    templates = JobTemplates()
    claimed = templates.job(plain, instant)
    finished = list(plain)
    finished[6:10] = ["2026-03-02T09:00:01.000000Z", "succeeded", None, 1]
    taken = templates.take(finished, instant)
    assert taken == job_from_row(finished, instant) != claimed
    assert taken.run_count == 1 and taken.name == "plain"
    assert templates._parsed == {}
    assert templates.take(finished, instant) == taken  # (parsed: nothing kept)
    templates.job(plain, instant)
    renamed = list(finished)
    renamed[4] = plain[4].replace('"plain"', '"renamed"')
    assert renamed[4] != plain[4]
    edited = templates.take(renamed, instant)
    assert edited == job_from_row(renamed, instant)
    assert edited.name == "renamed"
    assert list(templates._parsed) == [plain[4]]  # (the old text's job still kept)


async def test_templates_keep_at_most_their_limit(tmp_path: Path) -> None:
    """While full, nothing more is kept (the first kept stays); full for four times the limit
    in a row with nothing taken back, everything is dropped."""
    rows = await _rows(tmp_path, _jobs())
    plain, rich = (next(r for r in rows if r[1] == name) for name in ("plain", "rich"))
    templates = JobTemplates(limit=1)
    for row in rows:
        assert templates.job(row, instant) == job_from_row(row, instant)
    assert list(templates._parsed) == [plain[4]]  # (the first; "hooked" holds a mapping)
    for _ in range(3):
        templates.job(rich, instant)
    assert list(templates._parsed) == [plain[4]]
    templates.take(plain, instant)  # taken back: room for one
    templates.job(rich, instant)
    assert list(templates._parsed) == [rich[4]]
    for _ in range(4):
        templates.job(plain, instant)  # refused, four times the limit
    assert list(templates._parsed) == [rich[4]]
    templates.job(plain, instant)  # once more: dropped
    assert templates._parsed == {}


async def _queued(tmp_path: Path, n: int) -> tuple[Path, list[JobRun]]:
    path = tmp_path / "store.db"
    store = await open_store(str(path))
    job = _jobs()[0]
    runs = [
        JobRun(
            id=new_id(),
            job_id=job.id,
            job_name=job.name,
            agent_id=job.agent,
            scheduled_for=T0 + timedelta(minutes=k),
            due_at=T0,
            status=RunStatus.QUEUED,
        )
        for k in range(n)
    ]
    try:
        await store.insert_jobs([job], [])
        for run in runs:
            await store.insert_run(run, [])
    finally:
        await store.close()
    return path, runs


@pytest.mark.parametrize("taken", [False, True])
async def test_a_batch_start_writes_all_or_nothing(tmp_path: Path, taken: bool) -> None:
    """Three queued runs, one cancelled, two started: in one statement each kind if all are
    still queued; if one was taken meanwhile, nothing written (the loop writes them)."""
    from dataclasses import replace

    path, runs = await _queued(tmp_path, 3)
    started = T0 + timedelta(seconds=1)
    job = _jobs()[0]
    plans = [
        StartPlan(run=runs[0], job=job, start=False, cancel_reason="gone"),
        StartPlan(
            run=replace(runs[1], status=RunStatus.RUNNING, started_at=started), job=job, start=True
        ),
        StartPlan(
            run=replace(runs[2], status=RunStatus.RUNNING, started_at=started), job=job, start=True
        ),
    ]
    with sqlite3.connect(path, isolation_level=None) as conn:
        if taken:
            conn.execute("UPDATE runs SET status = 'running' WHERE id = ?", (runs[2].id,))
        before = conn.execute(
            "SELECT id, status, started_at, owner FROM runs ORDER BY id"
        ).fetchall()
        conn.execute("BEGIN IMMEDIATE")
        done = _transitions._start_batch(conn, plans, "2026-03-02T09:00:01.000000Z", "me")
        conn.execute("COMMIT")
        after = dict(
            (r[0], r[1:])
            for r in conn.execute("SELECT id, status, started_at, owner, error_message FROM runs")
        )
    assert done is not taken
    if taken:
        assert sorted((i, s, st, o) for i, (s, st, o, _) in after.items()) == sorted(before)
        return
    assert after[runs[0].id] == ("cancelled", None, None, "gone")
    for run in runs[1:]:
        assert after[run.id] == ("running", "2026-03-02T09:00:01.000000Z", "me", None)
