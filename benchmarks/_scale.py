"""Large SQLite stores for the scale benchmarks, built once and reused.

    from _scale import scale_store, copy_store
    base = scale_store(1_000_000, runs=5_000_000)   # built on first use (minutes), then cached
    db = copy_store(base, tmp / "symbi.db")           # a scenario works on its own copy

Jobs are written through ``SchedulerService.add_jobs`` in batches (the store is what the product
writes): 90 % at one of 1,380 daily minutes, 10 % other shapes (weekdays, a day of the month...)
at such minutes. Nothing is due within the hour of the build (idle figures need none due).
Runs, when asked for, are written by SQL (succeeded, finished over the last two days, spread
over the jobs), then the store is analysed. The cache is keyed by the sizes and the schema version:
``$SYMBI_BENCH_CACHE`` (default ``/tmp/symbi-bench-cache``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

CACHE = Path(os.environ.get("SYMBI_BENCH_CACHE") or "/tmp/symbi-bench-cache")
BATCH = 20_000
#: the shapes of the one job in ten that is not a plain daily time ({m} {h}: its minute)
SHAPES = ("{m} {h} * * 1-5", "{m} {h} 1 * *", "{m} {h} * * 0,6", "{m} {h} */2 * *", "{m} {h} * 6 *")


def job_cron(i: int, now: datetime) -> str:
    """Job ``i``'s schedule: a daily minute (1,380 of them, the nearest an hour away), one in ten
    of the other shapes at such a minute. Nothing is due within the hour."""
    start = now + timedelta(hours=1)
    minute = (start.hour * 60 + start.minute + i % 1380) % 1440
    m, h = minute % 60, minute // 60
    if i % 10 == 9:
        return SHAPES[(i // 10) % len(SHAPES)].format(m=m, h=h)
    return f"{m} {h} * * *"


def _schema_version() -> int:
    from scheduler_core.store.sqlite.schema import SCHEMA_VERSION

    return SCHEMA_VERSION


def scale_store(jobs: int, runs: int = 0, *, agent: str = "a", quiet: bool = False) -> Path:
    """The path of a cached store with ``jobs`` jobs (named ``job-0000001``...) on ``agent``
    and ``runs`` finished runs; built if missing. Never modify it: copy it (copy_store)."""
    path = CACHE / f"jobs{jobs}-runs{runs}-v{_schema_version()}.db"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    for leftover in CACHE.glob(partial.name + "*"):
        leftover.unlink()
    started = time.perf_counter()
    asyncio.run(_add_jobs(str(partial), jobs, agent, quiet))
    if runs:
        _add_runs(partial, runs)
    with sqlite3.connect(partial) as conn:
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("-wal", "-shm"):
        Path(str(partial) + suffix).unlink(missing_ok=True)
    partial.rename(path)
    if not quiet:
        print(f"built {path} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


async def _add_jobs(db: str, n: int, agent: str, quiet: bool) -> None:
    from scheduler_core.config import SchedulerConfig, StoreConfig
    from scheduler_core.service import SchedulerService
    from scheduler_core.store import open_store

    store = await open_store(db)
    service = SchedulerService(store, config=SchedulerConfig(store=StoreConfig(url=db)))
    now = datetime.now(UTC)
    try:
        for first in range(0, n, BATCH):
            items = [
                {"name": f"job-{i:07d}", "agent": agent, "cron": job_cron(i, now)}
                for i in range(first, min(first + BATCH, n))
            ]
            await service.add_jobs(items, actor="bench")
            if not quiet and (first // BATCH) % 10 == 9:
                print(f"  {first + len(items):,} jobs", flush=True)
    finally:
        await store.close()


def _add_runs(path: Path, runs: int) -> None:
    """``runs`` succeeded runs over the jobs, finished over the last two days, one SQL pass."""
    now = datetime.now(UTC)
    span = 2 * 86400
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TEMP TABLE j AS SELECT rowid AS k, id, name, agent FROM jobs")
        n = conn.execute("SELECT count(*) FROM j").fetchone()[0]
        base = (now - timedelta(seconds=span)).timestamp()
        conn.execute(
            """
            WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < ?)
            INSERT INTO runs (id, job_id, job_name, agent_id, trigger, scheduled_for, due_at,
                              started_at, finished_at, status, attempt, output,
                              execution_time_ms, details)
            SELECT printf('%016x%016x', 190, s.i), j.id, j.name, j.agent, 'schedule',
                   strftime('%Y-%m-%dT%H:%M:%fZ', ? + s.i * ? , 'unixepoch'),
                   strftime('%Y-%m-%dT%H:%M:%fZ', ? + s.i * ?, 'unixepoch'),
                   strftime('%Y-%m-%dT%H:%M:%fZ', ? + s.i * ?, 'unixepoch'),
                   strftime('%Y-%m-%dT%H:%M:%fZ', ? + s.i * ? + 0.05, 'unixepoch'),
                   'succeeded', 1, 'ok', 50, '{}'
            FROM s JOIN j ON j.k = (s.i % ?) + 1
            """,
            (runs, *(base, span / runs) * 4, n),
        )


def copy_store(base: Path, dest: Path) -> Path:
    """A private copy of a cached store (0600, as the product makes its stores)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(base, dest)
    dest.chmod(0o600)
    return dest
