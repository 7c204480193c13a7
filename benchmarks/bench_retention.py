"""Pruning a large history while jobs fire: the issue's retention targets.

    .venv/bin/python benchmarks/bench_retention.py               # 1,000,000 expired runs
    .venv/bin/python benchmarks/bench_retention.py --expired 100000 --kept 20000   # smaller
    .venv/bin/python benchmarks/bench_retention.py --no-cache    # build the store again

A store of 1,000 jobs is built with ``--expired`` runs that finished 40 to 100 days ago and
``--kept`` runs of the last 20 days (the retention is 30 days), written straight into a SQLite file
as months of running would have left it. The built file is kept in ``--cache`` (default
``/tmp/symbi-bench-retention``) and copied for each measurement.

Then a fresh child runs the engine over a copy (the real ``SystemClock``, a no-op agent) and
makes the scheduler's pruning pass run (the pass ``symbi store prune`` asks for, the one the lease
holder makes every ``prune_interval_seconds``) while, ``--rounds`` times, 1,000 one-shot jobs fire
at one instant a few seconds ahead. Measured: the start lag of every run (agent call time minus
its instant), how long each pruning batch held the store's write lock, the pass's duration; then,
the pass done, the file's size against the size of a compact copy of what it kept (``VACUUM
INTO``). The same fire rounds without pruning give the baseline.

The script always exits 0 and prints PASS/FAIL per target; figures go to
``benchmarks/results/retention-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
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
RETENTION_DAYS = 30


# --- child: build the store -----------------------------------------------------------------------


def child_build(db: str, expired: int, kept: int, jobs: int) -> dict[str, Any]:
    """``jobs`` jobs (yearly: none fires meanwhile) and their history, oldest first."""

    async def add() -> None:
        from scheduler_core.config import SchedulerConfig, StoreConfig
        from scheduler_core.engine import Engine

        engine = Engine(SchedulerConfig(store=StoreConfig(url=db)), run_scheduler=False)
        service = await engine.start()
        await service.add_jobs(
            [{"name": f"job-{i}", "agent": "a", "cron": "0 3 1 1 *"} for i in range(jobs)]
        )
        await engine.stop()

    started = time.perf_counter()
    asyncio.run(add())
    conn = sqlite3.connect(db)
    ids = [r[0] for r in conn.execute("SELECT id FROM jobs ORDER BY name")]
    now = datetime.now(UTC)
    total = expired + kept
    details = '{"policy": {"decision": "allow"}, "exit_code": 0}'

    def rows() -> Any:
        for i in range(total):
            if i < expired:  # 100 .. 40 days ago
                ago = 100 - 60 * i / max(expired, 1)
            else:  # 20 days ago .. now
                ago = 20 - 20 * (i - expired) / max(kept, 1)
            t = now - timedelta(days=ago)
            at = t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            end = (t + timedelta(milliseconds=40)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            job = ids[i % jobs]
            yield (
                f"{int(t.timestamp() * 1000):012x}{i:020x}",
                job,
                f"job-{i % jobs}",
                "a",
                "schedule",
                at,
                at,
                at,
                end,
                "succeeded",
                1,
                f"run {i}: all good, 42 items checked\n",
                "all good",
                40,
                details,
            )

    with conn:
        conn.executemany(
            "INSERT INTO runs (id, job_id, job_name, agent_id, trigger, scheduled_for, due_at, "
            "started_at, finished_at, status, attempt, output, summary, execution_time_ms, "
            "details) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows(),
        )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {
        "jobs": jobs,
        "expired": expired,
        "kept": kept,
        "seconds": time.perf_counter() - started,
        "bytes": os.path.getsize(db),
    }


# --- child: fire while pruning -------------------------------------------------------------------


def child_fire(
    db: str,
    rounds: int,
    prune: bool,
    lead: float,
    gap: float,
    keep: int,
    jobs: int,
    claim_ahead: float,
) -> dict[str, Any]:
    """``rounds`` times ``jobs`` one-shot jobs at one instant; with ``prune``, during a pass that
    keeps each job's newest ``keep`` runs."""

    async def main() -> dict[str, Any]:
        from scheduler_core.config import SchedulerConfig, SchedulerSettings, StoreConfig
        from scheduler_core.engine import Engine
        from scheduler_core.runtime.base import CallableExecutor

        calls: list[tuple[float, float]] = []  # (call time, instant)
        instants: dict[str, float] = {}

        async def agent(ctx: Any) -> None:
            calls.append((time.time(), instants[ctx.job.name.split("-")[0]]))

        config = SchedulerConfig(
            scheduler=SchedulerSettings(
                max_concurrent_jobs=jobs + 10,
                max_jitter_seconds=0,
                claim_ahead_seconds=claim_ahead,
            ),
            store=StoreConfig(url=db, run_retention_days=RETENTION_DAYS, keep_runs_per_job=keep),
            data_dir=str(Path(db).parent),
        )
        engine = Engine(config, executor=CallableExecutor({"a": agent}))
        service = await engine.start()
        assert engine.scheduler is not None
        store = engine.store
        holds: list[tuple[float, float, float]] = []  # (start, end, ms held) per batch
        original = store.prune_batch

        async def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.time()
            batch = await original(*args, **kwargs)
            holds.append((t0, time.time(), batch.held_ms))
            return batch

        store.prune_batch = timed  # type: ignore[method-assign]
        pass_task = None
        if prune:
            pass_task = asyncio.create_task(service.prune_store(actor="bench"))
            await asyncio.sleep(1.0)  # the pass is well under way
        windows = []
        for r in range(rounds):
            instant = datetime.now(UTC) + timedelta(seconds=lead)
            instants[f"r{r}"] = instant.timestamp()
            await service.add_jobs(
                [{"name": f"r{r}-{i}", "agent": "a", "at": instant} for i in range(jobs)]
            )
            pruning = pass_task is not None and not pass_task.done()
            await asyncio.sleep(max(instant.timestamp() - time.time(), 0) + gap)
            windows.append({"round": r, "pruning_at_instant": pruning})
        await engine.scheduler.wait_idle()
        report = None
        if pass_task is not None:
            report = (await pass_task).to_dict()
        await engine.stop()
        lags = [call - instant for call, instant in calls]
        held = [h for _, _, h in holds if h > 0]
        for w in windows:  # batches that ran while a round's runs were being claimed and started
            instant = instants[f"r{w['round']}"]
            last = max((c for c, i in calls if i == instant), default=instant)
            w["batches_while_firing"] = sum(
                1 for start, end, h in holds if h > 0 and start < last and end > instant - 0.05
            )
        return {
            "prune": prune,
            "rounds": windows,
            "calls": len(calls),
            "start_lag_ms": summary_ms(lags),
            "batches": len(held),
            "hold_ms": summary_ms([h / 1000 for h in held]),
            "report": report,
        }

    return asyncio.run(main())


def child_sizes(db: str) -> dict[str, Any]:
    """The file after the pass, and a compact copy of what it kept."""
    wal = db + "-wal"
    conn = sqlite3.connect(db)
    compact = db + ".compact"
    if os.path.exists(compact):
        os.remove(compact)
    conn.execute(f"VACUUM INTO '{compact}'")
    runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    conn.close()
    out = {
        "file_bytes": os.path.getsize(db),
        "wal_bytes": os.path.getsize(wal) if os.path.exists(wal) else 0,
        "compact_bytes": os.path.getsize(compact),
        "runs_left": runs,
        "free_pages": free,
    }
    os.remove(compact)
    return out


# --- the parent -----------------------------------------------------------------------------------


def _built(args: argparse.Namespace) -> Path:
    cache = Path(args.cache)
    db = cache / f"store-{args.jobs}-{args.expired}-{args.kept}.db"
    if args.no_cache or not db.exists():
        cache.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        print(f"building {db} ({args.expired:,} expired runs, {args.kept:,} kept) ...", flush=True)
        built = run_child(
            SCRIPT,
            "build",
            {"db": str(db), "expired": args.expired, "kept": args.kept, "jobs": args.jobs},
            timeout=3600,
        )
        print(f"  built in {built['seconds']:.0f} s, {built['bytes'] / 2**20:,.0f} MiB")
    return db


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1_000, help="jobs, and jobs per instant")
    parser.add_argument("--expired", type=int, default=1_000_000)
    parser.add_argument("--kept", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3, help="fire instants during the pass")
    parser.add_argument("--lead", type=float, default=4.0, help="seconds from add to instant")
    parser.add_argument("--gap", type=float, default=4.0, help="seconds between rounds")
    parser.add_argument(
        "--claim-ahead",
        type=float,
        default=1.0,
        help="claim_ahead_seconds (0: jobs are claimed on their instant, beside the pass)",
    )
    parser.add_argument("--cache", default="/tmp/symbi-bench-retention")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--no-baseline", action="store_true", help="skip the rounds without a pass")
    args = parser.parse_args()
    print(f"symbi retention benchmark  {machine_info()}")
    report = Report()
    started = time.perf_counter()
    source = _built(args)
    # each job's newest runs are kept whatever their age: no more than it has recent ones
    keep = min(100, args.kept // args.jobs)
    fire = {
        "rounds": args.rounds,
        "lead": args.lead,
        "gap": args.gap,
        "keep": keep,
        "jobs": args.jobs,
        "claim_ahead": args.claim_ahead,
    }
    with temp_dir() as tmp:
        if not args.no_baseline:
            db = tmp / "baseline.db"
            shutil.copy(source, db)
            base = run_child(SCRIPT, "fire", {"db": str(db), "prune": False, **fire}, 3600)
            report.sections["baseline"] = base
            db.unlink()
        db = tmp / "pruned.db"
        shutil.copy(source, db)
        pruned = run_child(SCRIPT, "fire", {"db": str(db), "prune": True, **fire}, 7200)
        sizes = run_child(SCRIPT, "sizes", {"db": str(db)}, 3600)
    report.sections["pruning"] = pruned
    report.sections["sizes"] = sizes
    pass_ = pruned["report"] or {}
    rows = []
    if "baseline" in report.sections:
        b = report.sections["baseline"]
        lag = b["start_lag_ms"]
        rows.append(("no pass", b["calls"], lag["p50"], lag["p99"], lag["max"], "-", "-", "-"))
    lag, hold = pruned["start_lag_ms"], pruned["hold_ms"]
    during = sum(1 for w in pruned["rounds"] if w["pruning_at_instant"])
    overlapping = sum(w.get("batches_while_firing", 0) for w in pruned["rounds"])
    rows.append(
        (
            f"pruning ({during}/{args.rounds} instants mid-pass)",
            pruned["calls"],
            lag["p50"],
            lag["p99"],
            lag["max"],
            hold["p50"],
            hold["p99"],
            hold["max"],
        )
    )
    print_table(
        f"fire lag: {args.rounds} x {args.jobs:,} one-shot jobs at one instant "
        f"(claim_ahead_seconds {args.claim_ahead:g})",
        rows,
        ("", "runs", "lag p50 ms", "lag p99 ms", "lag max ms", "hold p50", "hold p99", "hold max"),
    )
    removed = pass_.get("removed", {})
    print(f"pruning batches that ran while a round's runs were claimed and started: {overlapping}")
    print_table(
        "the pass",
        [
            (
                removed.get("runs", 0),
                pass_.get("seconds", float("nan")),
                pass_.get("batches", 0),
                (pass_.get("bytes_before") or 0) / 2**20,
                (pass_.get("bytes_after") or 0) / 2**20,
                sizes["file_bytes"] / 2**20,
                sizes["wal_bytes"] / 2**20,
                sizes["compact_bytes"] / 2**20,
                sizes["file_bytes"] / sizes["compact_bytes"],
            )
        ],
        (
            "runs removed",
            "seconds",
            "batches",
            "MiB before",
            "MiB after",
            "file MiB",
            "WAL MiB",
            "kept (compact) MiB",
            "file / kept",
        ),
    )
    note = "" if during == args.rounds else f"only {during} of {args.rounds} instants mid-pass"
    report.targets.append(
        Target(f"fire lag p99 while pruning, {args.jobs:,} jobs", lag["p99"], 20, "ms", "<=", note)
    )
    ratio = sizes["file_bytes"] / sizes["compact_bytes"]
    report.targets.append(Target("file after pruning / what it keeps", ratio, 1.3, "x"))
    with_wal = (sizes["file_bytes"] + sizes["wal_bytes"]) / sizes["compact_bytes"]
    report.targets.append(
        Target("  the same, with the write-ahead log", with_wal, 1.3, "x", note="informative")
    )
    print_targets(report.targets)
    total = time.perf_counter() - started
    path = save_results(
        "retention",
        {"args": vars(args), "total_seconds": total, **report.to_dict()},
    )
    print(f"\nresults: {path} ({fmt(total)} s)")
    return 0


CHILDREN = {"build": child_build, "fire": child_fire, "sizes": child_sizes}

if __name__ == "__main__":
    if not child_main(CHILDREN):
        sys.exit(main())
