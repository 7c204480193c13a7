"""Scheduler core benchmarks against the issue's targets.

    .venv/bin/python benchmarks/bench_core.py              # everything, about 2 minutes
    .venv/bin/python benchmarks/bench_core.py --quick      # idle measured over 15 s, scaled
    .venv/bin/python benchmarks/bench_core.py --only fire_lag,idle
    .venv/bin/python benchmarks/bench_core.py --profile    # also cProfile each child

Every scenario runs in a fresh child process over a fresh SQLite store in a temporary directory,
with the real :class:`SystemClock` and a no-op async Python agent (:class:`CallableExecutor`) that
records ``time.time()`` when it is called. The script always exits 0; each target is flagged PASS
or FAIL in the final table, and everything is saved to ``benchmarks/results/core-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sqlite3
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    RESULTS_DIR,
    Report,
    Target,
    child_main,
    fmt,
    machine_info,
    print_table,
    print_targets,
    run_child,
    save_results,
    summary_ms,
    temp_dir,
)

SCRIPT = Path(__file__).resolve()
SECTIONS = ("fire_lag", "burst", "drain", "bulk_load", "cold_start", "idle", "scale", "throughput")


# --- child-side helpers (run inside the child process) ------------------------------------------


class Instrument:
    """Wraps store coroutine methods on one instance to count calls and time them."""

    def __init__(self, store: Any, names: tuple[str, ...]) -> None:
        self.calls: dict[str, int] = dict.fromkeys(names, 0)
        self.seconds: dict[str, float] = dict.fromkeys(names, 0.0)
        self.spans: dict[str, list[tuple[float, float, int]]] = {n: [] for n in names}
        for name in names:
            setattr(store, name, self._wrap(name, getattr(store, name)))

    def _wrap(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.time()
            result = await fn(*args, **kwargs)
            t1 = time.time()
            self.calls[name] += 1
            self.seconds[name] += t1 - t0
            size = (
                len(result)
                if isinstance(result, list)
                else (len(args[0]) if args and isinstance(args[0], list) else 0)
            )
            self.spans[name].append((t0, t1, size))
            return result

        return wrapper


def _config(db: str, data_dir: str, **settings: Any) -> Any:
    from scheduler_core.config import SchedulerConfig, SchedulerSettings, StoreConfig

    return SchedulerConfig(
        scheduler=SchedulerSettings(**settings),
        store=StoreConfig(url=db),
        data_dir=data_dir,
    )


def _profiled(profile: str | None, main: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    if not profile:
        return asyncio.run(main())
    import cProfile
    import pstats

    from scheduler_core.store.sqlite import _inline

    # the store's transactions run on the writer connection's thread, which the event loop's
    # profile does not see: a second profile covers them (PROFILE.writer(.txt)); its times are
    # wall times on that thread, a wait for the GIL included
    writer = cProfile.Profile()
    run_tx = _inline.run_tx

    def profiled_tx(*args: Any) -> Any:
        if threading.current_thread() is threading.main_thread():
            return run_tx(*args)  # a small one run on the event loop (see _inline)
        writer.enable()
        try:
            return run_tx(*args)
        finally:
            writer.disable()

    _inline.run_tx = profiled_tx  # type: ignore[assignment]
    prof = cProfile.Profile()
    prof.enable()
    try:
        result = asyncio.run(main())
    finally:
        prof.disable()
        _inline.run_tx = run_tx
        for p, path in ((prof, profile), (writer, profile + ".writer")):
            p.dump_stats(path)
            with open(path + ".txt", "w") as out:
                pstats.Stats(p, stream=out).sort_stats("cumulative").print_stats(40)
                pstats.Stats(p, stream=out).sort_stats("tottime").print_stats(40)
    result["profile"] = profile
    return result


class WriterTime:
    """The time the store's writer thread spends in transactions: its CPU time
    (``time.thread_time``) and its wall time (a wait for the GIL or a lock included)."""

    def __init__(self) -> None:
        from scheduler_core.store.sqlite import _inline

        self.cpu = self.wall = 0.0
        self._inline = _inline
        self._run_tx = run_tx = _inline.run_tx

        def timed_tx(*args: Any) -> Any:
            if threading.current_thread() is threading.main_thread():
                return run_tx(*args)  # a small one run on the event loop (see _inline)
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return run_tx(*args)
            finally:
                self.cpu += time.thread_time() - cpu
                self.wall += time.perf_counter() - wall

        _inline.run_tx = timed_tx

    def now(self) -> tuple[float, float]:
        return self.cpu, self.wall

    def close(self) -> None:
        self._inline.run_tx = self._run_tx


# --- child scenarios --------------------------------------------------------------------------


def child_fire(
    n: int,
    db: str,
    lead: float,
    profile: str | None = None,
    timeout: float = 120,
    settings: dict[str, Any] | None = None,
    prefix: str = "job-",
) -> dict[str, Any]:
    """N one-shot jobs at one instant ``lead`` seconds ahead; start lag and time to all finished.

    ``db`` may hold other jobs and runs already (the scale row): only this scenario's runs, those
    scheduled for the instant, are counted.
    """

    async def main() -> dict[str, Any]:
        from scheduler_core.engine import Engine
        from scheduler_core.runtime.base import CallableExecutor

        calls: list[float] = []
        finished = [0]
        done = asyncio.Event()

        async def agent(ctx: Any) -> None:
            calls.append(time.time())

        config = _config(
            db,
            str(Path(db).parent),
            **{"max_concurrent_jobs": n + 10, "max_jitter_seconds": 0, **(settings or {})},
        )
        engine = Engine(config, executor=CallableExecutor({"a": agent}))
        writer = WriterTime()
        service = await engine.start()
        store = engine.store
        inst = Instrument(store, ("claim_due", "finish_runs", "start_queued", "next_wakeup"))
        original_finish = store.finish_runs

        async def finish_runs(items: Any, planner: Any, chain: Any = None, **kw: Any) -> Any:
            plans = await original_finish(items, planner, chain, **kw)
            finished[0] += len(items)
            if finished[0] >= n:
                done.set()
            return plans

        store.finish_runs = finish_runs
        instant = datetime.now(UTC) + timedelta(seconds=lead)
        instant_ts = instant.timestamp()
        items = [{"name": f"{prefix}{i}", "agent": "a", "at": instant} for i in range(n)]
        t_add = time.perf_counter()
        await service.add_jobs(items)
        add_seconds = time.perf_counter() - t_add
        del items
        gc.collect()
        rss_before = _rss()
        sqlite_mem = SqliteMemory()
        sqlite_before = sqlite_mem.used_mb()
        sqlite_mem.reset_peak()
        hwm_reset = _reset_peak_rss()
        gc_watch = GcWatch()
        cpu_before = time.process_time()
        writer_before = writer.now()
        setup_margin = instant_ts - time.time()
        try:
            await asyncio.wait_for(done.wait(), lead + timeout)
        except TimeoutError:
            pass
        all_done = time.time()
        gc_watch.close()
        sqlite_peak, sqlite_after = sqlite_mem.peak_mb(), sqlite_mem.used_mb()
        cpu_seconds = time.process_time() - cpu_before
        writer_cpu, writer_wall = (a - b for a, b in zip(writer.now(), writer_before, strict=True))
        writer.close()
        rss_after = _rss()
        fire_peak = _peak_rss_since_reset() if hwm_reset else None
        await engine.stop()
        peak = _peak_rss()

        conn = sqlite3.connect(db)
        mine = "scheduled_for = ?"
        key = (instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),)
        rows = conn.execute(
            f"SELECT scheduled_for, started_at, finished_at, status FROM runs WHERE {mine}", key
        ).fetchall()
        by_status = dict(
            conn.execute(f"SELECT status, count(*) FROM runs WHERE {mine} GROUP BY status", key)
        )
        durable = conn.execute(
            f"SELECT count(*) FROM runs WHERE {mine} AND status = 'succeeded' "
            "AND started_at IS NOT NULL AND finished_at IS NOT NULL",
            key,
        ).fetchone()[0]
        jobs_completed = conn.execute(
            "SELECT count(*) FROM jobs WHERE status = 'completed' AND name LIKE ?",
            (prefix + "%",),
        ).fetchone()[0]
        stats = conn.execute("SELECT runs_total, runs_succeeded FROM run_stats").fetchone()
        conn.close()

        def ts(text: str | None) -> float | None:
            return datetime.fromisoformat(text).timestamp() if text else None

        store_start = [ts(r[1]) - ts(r[0]) for r in rows if r[1]]
        store_finish = [ts(r[2]) - ts(r[0]) for r in rows if r[2]]
        lags = [c - instant_ts for c in calls]
        claims = inst.spans["claim_due"]
        first_claim = min((s for s, _, k in claims if k), default=None)
        return {
            "n": n,
            "add_seconds": add_seconds,
            "setup_margin_seconds": setup_margin,
            "calls": len(calls),
            "start_lag_ms": summary_ms(lags),
            "last_start_ms": (max(calls) - instant_ts) * 1000 if calls else None,
            "first_claim_lag_ms": (first_claim - instant_ts) * 1000 if first_claim else None,
            "store_started_minus_scheduled_ms": summary_ms(store_start),
            "store_finished_minus_scheduled_ms": summary_ms(store_finish),
            "all_finished_ms": (all_done - instant_ts) * 1000 if done.is_set() else None,
            "runs_by_status": by_status,
            "durable_succeeded": durable,
            "jobs_completed": jobs_completed,
            "run_stats": {"runs_total": stats[0], "runs_succeeded": stats[1]},
            "claim_batches": sum(1 for _, _, k in claims if k),
            "claim_ms_total": sum((e - s) for s, e, k in claims if k) * 1000,
            "finish_batches": inst.calls["finish_runs"],
            "finish_batch_sizes": summary_sizes([k for _, _, k in inst.spans["finish_runs"]]),
            "finish_ms_total": inst.seconds["finish_runs"] * 1000,
            "cpu_seconds": cpu_seconds,  #: every thread, from the jobs added to all finished
            #: the store's writer thread in transactions, over the same span (CPU; wall time)
            "writer_cpu_seconds": writer_cpu,
            "writer_wall_seconds": writer_wall,
            "rss_before_instant_mb": rss_before / 2**20,
            "rss_all_finished_mb": rss_after / 2**20,
            "child_peak_rss_mb": max(peak, rss_before, rss_after) / 2**20,
            # from just before the instant (the jobs added) until every run finished
            "peak_rss_mb": (fire_peak or max(peak, rss_before, rss_after)) / 2**20,
            "peak_rss_from": "instant" if fire_peak else "child start",
            #: SQLite's own memory (every connection): before the instant, its peak until every
            #: run finished, and then (statements still cached)
            "sqlite_memory_mb": {
                "before": sqlite_before,
                "peak": sqlite_peak,
                "after": sqlite_after,
            },
            #: garbage collections from the jobs added to all finished: passes per generation,
            #: their wall time, and each full pass (ms from the instant, ms it took): one of
            #: 50-100 ms between the instant and the last start delays every start behind it
            "gc": {
                "passes": gc_watch.count,
                "seconds": gc_watch.seconds,
                "full": [((t - instant_ts) * 1000, ms) for t, ms in gc_watch.full],
            },
        }

    return _profiled(profile, main)


def _rss() -> int:
    """This process's resident memory now (bytes)."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def _reset_peak_rss() -> bool:
    """Reset this process's peak resident memory (VmHWM), so that the peak of the firing alone
    is read afterwards (Linux: ``echo 5 > /proc/self/clear_refs``); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _peak_rss_since_reset() -> int | None:
    """VmHWM (bytes) from /proc/self/status: the peak since :func:`_reset_peak_rss`."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _peak_rss() -> int:
    """This process's peak resident memory (bytes): ``ru_maxrss`` (KiB on Linux), the whole
    life of the child (adding the jobs included)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class SqliteMemory:
    """SQLite's own memory (``sqlite3_memory_used`` / ``_highwater`` of the library the
    ``sqlite3`` module is linked to, every connection of the process): prepared statements,
    page caches, journals kept in memory. None where the library cannot be reached."""

    def __init__(self) -> None:
        self._used: Any = None
        self._high: Any = None
        try:
            import _sqlite3
            import ctypes

            lib = ctypes.CDLL(_sqlite3.__file__)
            self._used, self._high = lib.sqlite3_memory_used, lib.sqlite3_memory_highwater
            self._used.restype = self._high.restype = ctypes.c_int64
            self._high.argtypes = [ctypes.c_int]
        except (ImportError, OSError, AttributeError):
            pass

    def used_mb(self) -> float | None:
        return self._used() / 2**20 if self._used else None

    def reset_peak(self) -> None:
        if self._high:
            self._high(1)

    def peak_mb(self) -> float | None:
        return self._high(0) / 2**20 if self._high else None


class GcWatch:
    """The garbage collector's passes while it watches: how many of each generation, their
    wall time, and each full (generation 2) pass as (start, ms), the start in ``time.time()``."""

    def __init__(self) -> None:
        self.count = [0, 0, 0]
        self.seconds = 0.0
        self.full: list[tuple[float, float]] = []
        self._t = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t = time.perf_counter()
            return
        took = time.perf_counter() - self._t
        self.count[info["generation"]] += 1
        self.seconds += took
        if info["generation"] == 2:
            self.full.append((time.time() - took, took * 1000))

    def close(self) -> None:
        gc.callbacks.remove(self._callback)


def summary_sizes(sizes: list[int]) -> dict[str, float]:
    if not sizes:
        return {"count": 0}
    return {
        "count": len(sizes),
        "min": min(sizes),
        "max": max(sizes),
        "mean": sum(sizes) / len(sizes),
    }


def bulk_items(n: int) -> list[dict[str, Any]]:
    """Varied 5-field expressions: 1,440 distinct daily times plus a share of common shapes."""
    shapes = ("*/5 * * * *", "0 * * * *", "15 9 * * 1-5", "0 0 1 * *", "30 2 * * 0")
    items: list[dict[str, Any]] = []
    for i in range(n):
        cron = shapes[i % 5] if i % 10 == 0 else f"{i % 60} {(i // 60) % 24} * * *"
        items.append({"name": f"job-{i}", "agent": "a", "cron": cron})
    return items


def child_bulk(
    n: int,
    db: str,
    profile: str | None = None,
    settings: dict[str, Any] | None = None,
    mode: str = "batch",
) -> dict[str, Any]:
    """Add n cron jobs through the service: one ``add_jobs`` call, or ``add_job`` one by one."""

    async def main() -> dict[str, Any]:
        from scheduler_core.engine import Engine

        engine = Engine(_config(db, str(Path(db).parent), **(settings or {})), run_scheduler=False)
        service = await engine.start()
        inst = Instrument(engine.store, ("insert_jobs",))
        items = bulk_items(n)
        gc.collect()
        t0 = time.perf_counter()
        if mode == "batch":
            returned = len(await service.add_jobs(items))
        else:
            returned = 0
            for item in items:
                await service.add_job(item)
                returned += 1
        seconds = time.perf_counter() - t0
        await engine.stop()
        conn = sqlite3.connect(db)
        stored = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        audits = conn.execute("SELECT count(*) FROM audit_events").fetchone()[0]
        conn.close()
        insert_s = inst.seconds["insert_jobs"]
        return {
            "n": n,
            "mode": mode,
            "returned": returned,
            "stored": stored,
            "audit_events": audits,
            "seconds": seconds,
            "jobs_per_second": n / seconds,
            "store_insert_seconds": insert_s,
            "prepare_seconds": seconds - insert_s,
            "db_bytes": _db_bytes(db),
        }

    return _profiled(profile, main)


def _db_bytes(db: str) -> int:
    return sum(os.path.getsize(p) for p in (db, db + "-wal") if os.path.exists(p))


def child_build(n: int, db: str, history: int = 0) -> dict[str, Any]:
    """A store with n jobs, each at a fixed minute of an hour about 12 h from now.

    With ``history``, that many past ``succeeded`` runs are written straight into the runs table
    (spread over the jobs, one a minute going back), as a long-running store would have them.
    """

    async def main() -> dict[str, Any]:
        from scheduler_core.engine import Engine

        hour = (datetime.now(UTC).hour + 12) % 24
        engine = Engine(_config(db, str(Path(db).parent)), run_scheduler=False)
        service = await engine.start()
        t0 = time.perf_counter()
        items = [
            {"name": f"job-{i}", "agent": "a", "cron": f"{i % 60} {hour} * * *"} for i in range(n)
        ]
        await service.add_jobs(items)
        seconds = time.perf_counter() - t0
        await engine.stop()
        t1 = time.perf_counter()
        if history:
            _write_history(db, history)
        return {
            "n": n,
            "seconds": seconds,
            "hour": hour,
            "history": history,
            "history_seconds": time.perf_counter() - t1,
        }

    return asyncio.run(main())


def _write_history(db: str, count: int) -> None:
    conn = sqlite3.connect(db)
    jobs = conn.execute("SELECT id, name FROM jobs ORDER BY id").fetchall()
    start = datetime.now(UTC) - timedelta(minutes=count + 10)
    fmt_ = "%Y-%m-%dT%H:%M:%S.%fZ"

    def rows() -> Any:
        for i in range(count):
            job_id, name = jobs[i % len(jobs)]
            at = (start + timedelta(minutes=i)).strftime(fmt_)
            end = (start + timedelta(minutes=i, milliseconds=5)).strftime(fmt_)
            yield (
                f"{i:032x}",
                job_id,
                name,
                "a",
                "schedule",
                at,
                at,
                at,
                end,
                "succeeded",
                1,
                5,
            )

    with conn:
        conn.executemany(
            "INSERT INTO runs (id, job_id, job_name, agent_id, trigger, scheduled_for, due_at, "
            "started_at, finished_at, status, attempt, execution_time_ms) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            rows(),
        )
    conn.close()


def make_one_due(db: str) -> str:
    """Make job-0 due now (its next run one millisecond ago), as a restart would find it."""
    stamp = (datetime.now(UTC) - timedelta(milliseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE jobs SET next_run_at = ? WHERE name = 'job-0'", (stamp,))
    conn.close()
    return stamp


def child_cold(
    db: str, profile: str | None = None, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    import resource

    import psutil

    proc = psutil.Process()
    rss_base = proc.memory_info().rss
    t_imp = time.perf_counter()
    from scheduler_core.engine import Engine
    from scheduler_core.runtime.base import CallableExecutor

    import_seconds = time.perf_counter() - t_imp
    rss_imported = proc.memory_info().rss

    async def main() -> dict[str, Any]:
        fired = asyncio.Event()
        first: list[float] = []

        async def agent(ctx: Any) -> None:
            first.append(time.perf_counter())
            fired.set()

        engine = Engine(
            _config(db, str(Path(db).parent), **(settings or {})),
            executor=CallableExecutor({"a": agent}),
        )
        t0 = time.perf_counter()
        await engine.start()
        start_seconds = time.perf_counter() - t0
        await asyncio.wait_for(fired.wait(), 30)
        await asyncio.sleep(0.2)  # let the finish be written
        rss = proc.memory_info().rss
        # ru_maxrss (KiB on Linux) is updated lazily: never report a peak below the current RSS
        peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, rss)
        scheduler = engine.scheduler
        assert scheduler is not None
        await engine.stop()
        conn = sqlite3.connect(db)
        runs = dict(conn.execute("SELECT status, count(*) FROM runs GROUP BY status"))
        jobs = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        conn.close()
        return {
            "jobs": jobs,
            "import_seconds": import_seconds,
            "engine_start_seconds": start_seconds,
            "first_fire_seconds": first[0] - t0,
            "rss_interpreter_mb": rss_base / 2**20,
            "rss_after_import_mb": rss_imported / 2**20,
            "rss_after_fire_mb": rss / 2**20,
            "rss_peak_mb": peak / 2**20,
            "textual_imported": "textual" in sys.modules,
            "modules_loaded": len(sys.modules),
            "runs_by_status": runs,
        }

    return _profiled(profile, main)


def child_idle(
    db: str,
    seconds: float,
    warmup: float,
    profile: str | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    import psutil

    async def main() -> dict[str, Any]:
        from scheduler_core.engine import Engine
        from scheduler_core.runtime.base import CallableExecutor

        calls: list[float] = []

        async def agent(ctx: Any) -> None:
            calls.append(time.time())

        engine = Engine(
            _config(db, str(Path(db).parent), **(settings or {})),
            executor=CallableExecutor({"a": agent}),
        )
        await engine.start()
        inst = Instrument(
            engine.store,
            ("data_version", "acquire_lease", "claim_due", "next_wakeup", "start_queued"),
        )
        await asyncio.sleep(warmup)
        gc.collect()
        proc = psutil.Process()
        c0, t0, p0 = time.process_time(), time.perf_counter(), proc.cpu_times()
        for key in inst.calls:
            inst.calls[key] = 0
        await asyncio.sleep(seconds)
        c1, t1, p1 = time.process_time(), time.perf_counter(), proc.cpu_times()
        counts = dict(inst.calls)
        threads = proc.num_threads()
        rss = proc.memory_info().rss
        await engine.stop()
        cpu = c1 - c0
        wall = t1 - t0
        return {
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "cpu_seconds_per_minute": cpu / wall * 60,
            "psutil_user_s": p1.user - p0.user,
            "psutil_system_s": p1.system - p0.system,
            "store_calls": counts,
            "store_calls_per_minute": {k: v / wall * 60 for k, v in counts.items()},
            "agent_calls": len(calls),
            "threads": threads,
            "rss_mb": rss / 2**20,
        }

    return _profiled(profile, main)


# --- the parent: orchestration and tables ------------------------------------------------------


def _prof(args: argparse.Namespace, name: str) -> str | None:
    if not args.profile:
        return None
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    return str(RESULTS_DIR / f"core-{name}.prof")


def section_fire_lag(args: argparse.Namespace, report: Report) -> None:
    rows = []
    results = {}
    for n, lead in ((1_000, 3.0), (10_000, 4.0)):
        with temp_dir() as tmp:
            r = run_child(
                SCRIPT,
                "fire",
                {
                    "n": n,
                    "db": str(tmp / "fire.db"),
                    "lead": lead,
                    "profile": _prof(args, f"fire-{n}"),
                    "settings": args.settings,
                },
            )
        results[str(n)] = r
        lag = r["start_lag_ms"]
        st = r["store_started_minus_scheduled_ms"]
        rows.append(
            (
                f"{n:,} jobs",
                r["calls"],
                lag["p50"],
                lag["p99"],
                lag["max"],
                r["last_start_ms"],
                r["first_claim_lag_ms"],
                st["p99"],
                r["all_finished_ms"],
                r["claim_batches"],
                r["cpu_seconds"],
                r["peak_rss_mb"],
                r["setup_margin_seconds"],
            )
        )
    print_table(
        "fire lag (one-shot jobs at one instant, SystemClock, no jitter)",
        rows,
        (
            "workload",
            "started",
            "lag p50 ms",
            "lag p99 ms",
            "lag max ms",
            "last start ms",
            "1st claim ms",
            "store st-sch p99 ms",
            "all finished ms",
            "claim batches",
            "CPU s",
            "peak RSS MB",
            "setup margin s",
        ),
    )
    report.sections["fire_lag"] = results
    r1, r10 = results["1000"], results["10000"]
    report.targets.append(
        Target(
            "fire lag 1,000 jobs: p99 start lag",
            r1["start_lag_ms"]["p99"],
            20,
            "ms",
            note=_complete(r1),
        )
    )
    report.targets.append(
        Target(
            "fire lag 10,000 jobs: last start",
            r10["last_start_ms"] or float("nan"),
            500,
            "ms",
            note="; ".join(filter(None, (_complete(r10), _gc_note(r10)))),
        )
    )
    report.targets.append(
        Target(
            "fire lag 10,000 jobs: peak RSS",
            r10["peak_rss_mb"],
            60,
            "MB",
            note=_rss_note(r10),
        )
    )


def section_burst(args: argparse.Namespace, report: Report) -> None:
    """100,000 one-shot jobs due at one instant, max_concurrent_jobs above N: the last start,
    every run recorded, and the child's peak RSS."""
    n = args.burst_jobs
    with temp_dir() as tmp:
        r = run_child(
            SCRIPT,
            "fire",
            {
                "n": n,
                "db": str(tmp / "burst.db"),
                "lead": 15.0,
                "profile": _prof(args, "burst"),
                "settings": args.settings,
                "timeout": 240,
            },
        )
    report.sections["burst"] = r
    _burst_table(f"{n:,} one-shot jobs at one instant (max_concurrent_jobs > N)", r)
    report.targets.append(
        Target(
            f"{n:,} jobs at one instant: last start",
            r["last_start_ms"] or float("nan"),
            2000,
            "ms",
            note=_recorded(r),
        )
    )
    report.targets.append(
        Target(
            f"{n:,} jobs at one instant: peak RSS",
            r["peak_rss_mb"],
            250,
            "MB",
            note=_rss_note(r),
        )
    )


def section_drain(args: argparse.Namespace, report: Report) -> None:
    """10,000 one-shot jobs due at one instant with the default max_concurrent_jobs = 10: the
    runs beyond the slots wait queued and start as slots free (the queue's drain rate)."""
    n = 10_000
    with temp_dir() as tmp:
        r = run_child(
            SCRIPT,
            "fire",
            {
                "n": n,
                "db": str(tmp / "drain.db"),
                "lead": 4.0,
                "profile": _prof(args, "drain"),
                "settings": {"max_concurrent_jobs": 10, **args.settings},
            },
        )
    report.sections["drain"] = r
    _burst_table("10,000 one-shot jobs at one instant, max_concurrent_jobs = 10", r)
    report.targets.append(
        Target(
            "10,000 jobs, max_concurrent_jobs = 10: last start",
            r["last_start_ms"] or float("nan"),
            1000,
            "ms",
            note=_recorded(r),
        )
    )


def _rss_note(r: dict[str, Any]) -> str:
    sqlite = r.get("sqlite_memory_mb") or {}
    peak = f", SQLite's own peak {sqlite['peak']:.1f} MB" if sqlite.get("peak") is not None else ""
    return (
        f"from the instant; {r['rss_before_instant_mb']:.0f} MB before it, "
        f"{r['child_peak_rss_mb']:.0f} MB peak of the whole child (adding the jobs included)"
        f"{peak}"
    )


def _gc_note(r: dict[str, Any]) -> str:
    """The full garbage collections of a fire scenario that began before its last start."""
    g = r.get("gc")
    if not g or r.get("last_start_ms") is None:
        return ""
    inside = [(at, ms) for at, ms in g["full"] if at < r["last_start_ms"]]
    shown = ", ".join(f"{ms:.0f} ms at {at:+.0f} ms" for at, ms in inside)
    return f"full GCs before the last start: {shown or 'none'}; {g['seconds']:.2f} s of GC in all"


def _burst_table(title: str, r: dict[str, Any]) -> None:
    lag = r["start_lag_ms"]
    print_table(
        title,
        [
            (
                f"{r['n']:,} jobs",
                r["calls"],
                lag["p50"],
                lag["max"],
                r["last_start_ms"],
                r["all_finished_ms"],
                r["durable_succeeded"],
                r["claim_batches"],
                r["finish_batches"],
                r["cpu_seconds"],
                r.get("writer_cpu_seconds"),
                r["rss_before_instant_mb"],
                r["peak_rss_mb"],
                r["setup_margin_seconds"],
            )
        ],
        (
            "workload",
            "started",
            "lag p50 ms",
            "lag max ms",
            "last start ms",
            "all finished ms",
            "succeeded (SQL)",
            "claim tx",
            "finish tx",
            "CPU s",
            "writer CPU s",
            "RSS at instant MB",
            "peak RSS MB",
            "setup margin s",
        ),
    )


def _recorded(r: dict[str, Any]) -> str:
    note = _complete(r)
    if r["durable_succeeded"] != r["n"]:
        extra = f"{r['durable_succeeded']} of {r['n']} succeeded in SQL"
        note = f"{note}; {extra}" if note else extra
    return note


def _complete(r: dict[str, Any]) -> str:
    notes = []
    if r["calls"] != r["n"]:
        notes.append(f"only {r['calls']} of {r['n']} started")
    if r["setup_margin_seconds"] < 0.5:
        notes.append("setup overran the instant: figures invalid")
    return "; ".join(notes)


def section_bulk(args: argparse.Namespace, report: Report) -> None:
    n = 100_000
    with temp_dir() as tmp:
        r = run_child(
            SCRIPT,
            "bulk",
            {
                "n": n,
                "db": str(tmp / "bulk.db"),
                "profile": _prof(args, "bulk"),
                "settings": args.settings,
            },
        )
    report.sections["bulk_load"] = r
    print_table(
        "bulk load (SchedulerService.add_jobs, one call, varied cron expressions)",
        [
            (
                f"{n:,} jobs",
                r["seconds"],
                r["jobs_per_second"],
                r["prepare_seconds"],
                r["store_insert_seconds"],
                r["stored"],
                r["db_bytes"] / 2**20,
            )
        ],
        (
            "workload",
            "seconds",
            "jobs/s",
            "validate+prepare s",
            "store insert s",
            "stored",
            "db MB",
        ),
    )
    note = "" if r["stored"] == n else f"only {r['stored']} stored"
    report.targets.append(
        Target("bulk load 100,000 jobs: rate", r["jobs_per_second"], 20_000, "jobs/s", ">=", note)
    )


def _cold_row(label: str, r: dict[str, Any]) -> tuple[Any, ...]:
    return (
        label,
        r["import_seconds"],
        r["engine_start_seconds"],
        r["first_fire_seconds"],
        r["rss_interpreter_mb"],
        r["rss_after_import_mb"],
        r["rss_after_fire_mb"],
        r["rss_peak_mb"],
        str(r["textual_imported"]),
    )


_COLD_HEADER = (
    "store",
    "imports s",
    "Engine.start s",
    "first fire s",
    "RSS python MB",
    "RSS imported MB",
    "RSS after fire MB",
    "peak RSS MB",
    "textual loaded",
)


def section_store(args: argparse.Namespace, report: Report, sections: set[str]) -> None:
    """Cold start, idle and the scale rows, over one store of 100,000 jobs."""
    n = 100_000
    history = 300_000
    with temp_dir() as tmp:
        db = str(tmp / "big.db")
        built = run_child(SCRIPT, "build", {"n": n, "db": db})
        print(
            f"\n(built a store of {n:,} jobs in {built['seconds']:.1f} s, "
            f"all at {built['hour']:02d}:MM UTC)"
        )
        if "cold_start" in sections:
            make_one_due(db)
            r = run_child(
                SCRIPT,
                "cold",
                {"db": db, "profile": _prof(args, "cold"), "settings": args.settings},
            )
            report.sections["cold_start"] = r
            print_table(
                "cold start (fresh process, 100,000 stored jobs, one due now)",
                [_cold_row(f"{r['jobs']:,} jobs", r)],
                _COLD_HEADER,
            )
            report.targets.append(
                Target(
                    "cold start: open to first due job",
                    r["first_fire_seconds"],
                    0.3,
                    "s",
                    note="page cache warm (store just built)",
                )
            )
            note = "textual WAS imported" if r["textual_imported"] else "textual not imported"
            report.targets.append(
                Target(
                    "cold start: scheduler core RSS", r["rss_after_fire_mb"], 60, "MB", note=note
                )
            )
        if "idle" in sections:
            seconds = 15.0 if args.quick else 60.0
            r = run_child(
                SCRIPT,
                "idle",
                {
                    "db": db,
                    "seconds": seconds,
                    "warmup": 3.0,
                    "profile": _prof(args, "idle"),
                    "settings": args.settings,
                },
                timeout=seconds + 120,
            )
            report.sections["idle"] = r
            calls = r["store_calls_per_minute"]
            print_table(
                f"idle (100,000 jobs, none due for hours; measured {seconds:g} s)",
                [
                    (
                        f"{n:,} jobs",
                        r["wall_seconds"],
                        r["cpu_seconds"],
                        r["cpu_seconds_per_minute"],
                        calls["data_version"],
                        calls["acquire_lease"],
                        calls["claim_due"],
                        r["agent_calls"],
                        r["threads"],
                        r["rss_mb"],
                    )
                ],
                (
                    "store",
                    "wall s",
                    "CPU s",
                    "CPU s/min",
                    "data_version/min",
                    "lease renewals/min",
                    "claims/min",
                    "agent calls",
                    "threads",
                    "RSS MB",
                ),
            )
            note = "scaled from 15 s (--quick)" if args.quick else ""
            report.targets.append(
                Target(
                    "idle: CPU per minute",
                    r["cpu_seconds_per_minute"],
                    0.01,
                    "CPU-s/min",
                    note=note,
                )
            )
        if "scale" in sections:
            section_scale(args, report, db, n, history)


def section_scale(args: argparse.Namespace, report: Report, db: str, n: int, history: int) -> None:
    """The same store with a run history: cold start again, then 1,000 due among 100,000."""
    t0 = time.perf_counter()
    run_child(SCRIPT, "history", {"db": db, "count": history})
    print(f"\n(wrote {history:,} past runs into the store in {time.perf_counter() - t0:.1f} s)")
    make_one_due(db)
    cold = run_child(SCRIPT, "cold", {"db": db, "settings": args.settings})
    fire = run_child(
        SCRIPT,
        "fire",
        {
            "n": 1_000,
            "db": db,
            "lead": 3.0,
            "prefix": "due-",
            "profile": _prof(args, "fire-scale"),
            "settings": args.settings,
        },
    )
    report.sections["scale"] = {"history": history, "cold_start": cold, "fire_lag_1000": fire}
    label = f"{n // 1000}k jobs + {history // 1000}k runs"
    print_table(
        "scale: cold start over a store with history (informational)",
        [_cold_row(label, cold)],
        _COLD_HEADER,
    )
    lag = fire["start_lag_ms"]
    print_table(
        "scale: 1,000 jobs due at one instant among 100,000 stored (informational)",
        [
            (
                label,
                fire["calls"],
                lag["p50"],
                lag["p99"],
                fire["last_start_ms"],
                fire["first_claim_lag_ms"],
                fire["all_finished_ms"],
                fire["claim_ms_total"],
                fire["claim_batches"],
            )
        ],
        (
            "store",
            "started",
            "lag p50 ms",
            "lag p99 ms",
            "last start ms",
            "1st claim ms",
            "all finished ms",
            "claim ms",
            "claim tx",
        ),
    )
    report.targets.append(
        Target(
            "(info) cold start with 300k runs of history",
            cold["first_fire_seconds"],
            0.3,
            "s",
            note="same goal, bigger store",
        )
    )
    report.targets.append(
        Target(
            "(info) fire lag 1,000 due among 100k jobs: p99",
            lag["p99"],
            20,
            "ms",
            note="same goal, bigger store; " + _complete(fire),
        )
    )


def child_history(db: str, count: int) -> dict[str, Any]:
    _write_history(db, count)
    return {"count": count}


def section_throughput(args: argparse.Namespace, report: Report) -> None:
    n = 20_000
    with temp_dir() as tmp:
        r = run_child(
            SCRIPT,
            "fire",
            {
                "n": n,
                "db": str(tmp / "tp.db"),
                "lead": 5.0,
                "profile": _prof(args, "throughput"),
                "settings": args.settings,
            },
        )
    report.sections["throughput"] = r
    elapsed = (r["all_finished_ms"] or float("nan")) / 1000
    rate = n / elapsed if r["durable_succeeded"] == n else float("nan")
    r["runs_per_second"] = rate
    print_table(
        "durable throughput (20,000 no-op runs due at one instant, start and finish recorded)",
        [
            (
                f"{n:,} runs",
                elapsed,
                rate,
                r["durable_succeeded"],
                r["jobs_completed"],
                r["run_stats"]["runs_succeeded"],
                r["claim_batches"],
                r["claim_ms_total"],
                r["finish_batches"],
                r["finish_ms_total"],
                r["last_start_ms"],
                r["cpu_seconds"],
                r.get("writer_cpu_seconds"),
                r.get("writer_wall_seconds"),
            )
        ],
        (
            "workload",
            "instant->all done s",
            "runs/s",
            "succeeded (SQL)",
            "jobs completed",
            "run_stats ok",
            "claim tx",
            "claim ms",
            "finish tx",
            "finish ms",
            "last start ms",
            "CPU s",
            "writer CPU s",
            "writer wall s",
        ),
    )
    note = _complete(r)
    if r["durable_succeeded"] != n:
        note = (note + "; " if note else "") + f"{r['durable_succeeded']} of {n} succeeded in SQL"
    report.targets.append(
        Target("durable throughput: no-op runs", rate, 5_000, "runs/s", ">=", note)
    )


CHILDREN = {
    "fire": child_fire,
    "bulk": child_bulk,
    "build": child_build,
    "cold": child_cold,
    "idle": child_idle,
    "history": child_history,
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="measure idle over 15 s and scale")
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of {','.join(SECTIONS)}"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile each child into results/")
    parser.add_argument(
        "--burst-jobs",
        type=int,
        default=100_000,
        metavar="N",
        help="jobs at one instant in `burst` (the target's is 100,000; fewer show how it grows)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a SchedulerSettings field in every scenario, e.g. "
        "--set tick_interval_seconds=5",
    )
    args = parser.parse_args()
    args.settings = {}
    for item in args.set:
        key, _, raw = item.partition("=")
        try:
            args.settings[key] = json.loads(raw)
        except json.JSONDecodeError:
            args.settings[key] = raw
    sections = set(args.only.split(",")) if args.only else set(SECTIONS)
    unknown = sections - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    print(f"symbi scheduler core benchmarks  {machine_info()}")
    if args.settings:
        print(f"settings overrides: {args.settings}")
    report = Report()
    t0 = time.perf_counter()
    steps: list[tuple[str, Callable[[], None]]] = []
    if "fire_lag" in sections:
        steps.append(("fire_lag", lambda: section_fire_lag(args, report)))
    if "burst" in sections:
        steps.append(("burst", lambda: section_burst(args, report)))
    if "drain" in sections:
        steps.append(("drain", lambda: section_drain(args, report)))
    if "bulk_load" in sections:
        steps.append(("bulk_load", lambda: section_bulk(args, report)))
    if sections & {"cold_start", "idle", "scale"}:
        steps.append(("store_100k", lambda: section_store(args, report, sections)))
    if "throughput" in sections:
        steps.append(("throughput", lambda: section_throughput(args, report)))
    for name, step in steps:
        try:
            step()
        except Exception as exc:  # a broken scenario is reported, the others still run
            report.errors[name] = "".join(traceback.format_exception(exc))[-4000:]
            print(f"\n!! {name} failed: {exc}", file=sys.stderr)
    print_targets(report.targets)
    for name in report.errors:
        print(f"ERROR in {name} (see the JSON)")
    total = time.perf_counter() - t0
    path = save_results(
        "core",
        {
            "quick": args.quick,
            "settings_overrides": args.settings,
            "total_seconds": total,
            **report.to_dict(),
        },
    )
    passed = sum(t.passed for t in report.targets)
    print(f"\n{passed}/{len(report.targets)} targets met in {fmt(total)} s; results: {path}")
    return 0


if __name__ == "__main__":
    if not child_main(CHILDREN):
        sys.exit(main())
