"""symbi's scheduler core side by side with APScheduler 3.11 (AsyncIOScheduler).

    .venv/bin/python benchmarks/bench_apscheduler.py            # about 1.5 minutes
    .venv/bin/python benchmarks/bench_apscheduler.py --quick    # 1,000-job workloads only

Needs ``apscheduler==3.11.*`` and ``sqlalchemy`` in the virtualenv
(``.venv/bin/pip install 'apscheduler==3.11.3' sqlalchemy``).

Workloads, each in a fresh child process over a fresh store:

* fire lag: N one-shot jobs at one instant (symbi: ``at``; APScheduler: a ``date`` trigger), a
  no-op async function recording ``time.time()``; lag = call time - instant.
* bulk add: N cron jobs with the same varied expressions as ``bench_core.py`` (APScheduler:
  ``CronTrigger.from_crontab``); symbi both as one ``add_jobs`` call and as ``add_job`` one by one,
  APScheduler has only the one-by-one ``add_job``.

APScheduler stores: ``SQLAlchemyJobStore`` on a SQLite file, once with the library's defaults
(rollback journal, ``synchronous=FULL``: an fsync per job written) and once tuned to what symbi's
store uses (WAL, ``synchronous=NORMAL``); plus ``MemoryJobStore`` (not durable) for reference.
APScheduler jobs get ``misfire_grace_time=None`` so that late starts are measured, not dropped.
APScheduler keeps no run history, so durable throughput has no counterpart here.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Report,
    child_main,
    fmt,
    machine_info,
    print_table,
    run_child,
    save_results,
    summary_ms,
    temp_dir,
)
from bench_core import bulk_items, child_bulk, child_fire

SCRIPT = Path(__file__).resolve()
CALLS: list[float] = []


async def aps_agent() -> None:
    """The APScheduler job: referenced as ``__main__:aps_agent`` by the SQLAlchemy store."""
    CALLS.append(time.time())


def _scheduler(kind: str, db: str) -> Any:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    job_defaults = {"misfire_grace_time": None, "coalesce": False, "max_instances": 1}
    if kind == "memory":
        from apscheduler.jobstores.memory import MemoryJobStore

        store: Any = MemoryJobStore()
    else:
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
        from sqlalchemy import create_engine, event

        engine = create_engine(f"sqlite:///{db}")
        if kind == "sqlalchemy-wal":

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi: Any, record: Any) -> None:
                dbapi.execute("PRAGMA journal_mode=WAL")
                dbapi.execute("PRAGMA synchronous=NORMAL")

        store = SQLAlchemyJobStore(engine=engine)
    return AsyncIOScheduler(jobstores={"default": store}, job_defaults=job_defaults, timezone=UTC)


def child_aps_fire(n: int, db: str, kind: str, rate: float) -> dict[str, Any]:
    """N date jobs at one instant; ``rate`` (jobs/s, measured beforehand) sizes the lead time."""

    async def main() -> dict[str, Any]:
        from apscheduler.events import EVENT_JOB_EXECUTED

        executed: list[float] = []
        scheduler = _scheduler(kind, db)
        scheduler.add_listener(lambda e: executed.append(time.time()), EVENT_JOB_EXECUTED)
        scheduler.start(paused=True)
        lead = n / rate * 1.5 + 2.0
        instant = datetime.now(UTC) + timedelta(seconds=lead)
        instant_ts = instant.timestamp()
        t0 = time.perf_counter()
        for i in range(n):
            scheduler.add_job(aps_agent, "date", run_date=instant, id=f"job-{i}", name=f"job-{i}")
        add_seconds = time.perf_counter() - t0
        margin = instant_ts - time.time()
        scheduler.resume()
        deadline = instant_ts + 600
        while len(executed) < n and time.time() < deadline:  # noqa: ASYNC110 - a peer's counter
            await asyncio.sleep(0.005)
        scheduler.shutdown(wait=False)
        lags = [c - instant_ts for c in CALLS]
        return {
            "n": n,
            "kind": kind,
            "add_seconds": add_seconds,
            "setup_margin_seconds": margin,
            "calls": len(CALLS),
            "start_lag_ms": summary_ms(lags),
            "last_start_ms": (max(CALLS) - instant_ts) * 1000 if CALLS else None,
            "all_executed_ms": (max(executed) - instant_ts) * 1000 if executed else None,
        }

    return asyncio.run(main())


def child_aps_bulk(n: int, db: str, kind: str) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        from apscheduler.triggers.cron import CronTrigger

        scheduler = _scheduler(kind, db)
        scheduler.start(paused=True)
        items = bulk_items(n)
        gc.collect()
        t0 = time.perf_counter()
        for item in items:
            scheduler.add_job(
                aps_agent,
                CronTrigger.from_crontab(item["cron"], timezone=UTC),
                id=item["name"],
                name=item["name"],
            )
        seconds = time.perf_counter() - t0
        stored = len(scheduler.get_jobs())
        scheduler.shutdown(wait=False)
        return {
            "n": n,
            "kind": kind,
            "seconds": seconds,
            "jobs_per_second": n / seconds,
            "stored": stored,
        }

    return asyncio.run(main())


CHILDREN = {
    "aps_fire": child_aps_fire,
    "aps_bulk": child_aps_bulk,
    "fire": child_fire,
    "bulk": child_bulk,
}

KIND_LABEL = {
    "sqlalchemy": "APScheduler SQLAlchemy/SQLite (defaults)",
    "sqlalchemy-wal": "APScheduler SQLAlchemy/SQLite (WAL, sync=NORMAL)",
    "memory": "APScheduler MemoryJobStore (not durable)",
}


def _ratio(a: float | None, b: float | None) -> float:
    if not a or not b:
        return float("nan")
    return a / b


def section_fire(args: argparse.Namespace, report: Report, rates: dict[str, float]) -> None:
    sizes = (1_000,) if args.quick else (1_000, 10_000)
    results: dict[str, Any] = {}
    rows = []
    for n in sizes:
        with temp_dir() as tmp:
            ours = run_child(
                SCRIPT, "fire", {"n": n, "db": str(tmp / "s.db"), "lead": 3.0 + n / 5000}
            )
        results[f"symbi-{n}"] = ours
        runs = [("symbi (SqliteJobStore)", ours)]
        kinds = ["sqlalchemy-wal", "memory"]
        if n <= 1_000 or args.full:
            kinds.insert(0, "sqlalchemy")
        for kind in kinds:
            with temp_dir() as tmp:
                r = run_child(
                    SCRIPT,
                    "aps_fire",
                    {"n": n, "db": str(tmp / "a.db"), "kind": kind, "rate": rates[kind]},
                    timeout=900,
                )
            results[f"{kind}-{n}"] = r
            runs.append((KIND_LABEL[kind], r))
        for label, r in runs:
            lag = r["start_lag_ms"]
            rows.append(
                (
                    f"{n:,} jobs",
                    label,
                    r["calls"],
                    lag["p50"],
                    lag["p99"],
                    r["last_start_ms"],
                    _ratio(lag["p99"], ours["start_lag_ms"]["p99"]),
                    _ratio(r["last_start_ms"], ours["last_start_ms"]),
                    "ok" if r["setup_margin_seconds"] > 0.5 else "SETUP OVERRAN",
                )
            )
    print_table(
        "fire lag: N one-shot jobs at one instant (ratio > 1: APScheduler slower)",
        rows,
        (
            "workload",
            "scheduler",
            "started",
            "p50 ms",
            "p99 ms",
            "last start ms",
            "p99 / symbi",
            "last / symbi",
            "setup",
        ),
    )
    report.sections["fire_lag"] = results


def section_bulk(args: argparse.Namespace, report: Report) -> dict[str, float]:
    """Bulk add; returns APScheduler add rates per store kind (they size the fire-lag lead)."""
    n = 1_000 if args.quick else 10_000
    results: dict[str, Any] = {}
    with temp_dir() as tmp:
        results["symbi-batch"] = run_child(SCRIPT, "bulk", {"n": n, "db": str(tmp / "b.db")})
    with temp_dir() as tmp:
        results["symbi-single"] = run_child(
            SCRIPT, "bulk", {"n": n, "db": str(tmp / "s.db"), "mode": "single"}
        )
    sizes = {"sqlalchemy": min(n, 1_000), "sqlalchemy-wal": n, "memory": n}
    for kind, size in sizes.items():
        with temp_dir() as tmp:
            results[kind] = run_child(
                SCRIPT, "aps_bulk", {"n": size, "db": str(tmp / "a.db"), "kind": kind}, timeout=900
            )
    batch = results["symbi-batch"]["jobs_per_second"]
    single = results["symbi-single"]["jobs_per_second"]
    rows = [
        (
            "symbi add_jobs (one call)",
            n,
            results["symbi-batch"]["seconds"],
            batch,
            1.0,
            batch / single,
        ),
        (
            "symbi add_job (one by one)",
            n,
            results["symbi-single"]["seconds"],
            single,
            single / batch,
            1.0,
        ),
    ]
    for kind in sizes:
        r = results[kind]
        rate = r["jobs_per_second"]
        rows.append((KIND_LABEL[kind], r["n"], r["seconds"], rate, rate / batch, rate / single))
    print_table(
        f"bulk add of cron jobs (varied expressions; rates per second; n={n:,})",
        rows,
        ("adder", "jobs", "seconds", "jobs/s", "vs symbi add_jobs", "vs symbi add_job"),
    )
    report.sections["bulk_add"] = results
    return {kind: results[kind]["jobs_per_second"] for kind in sizes}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1,000-job workloads only")
    parser.add_argument(
        "--full", action="store_true", help="also 10,000 jobs on the default SQLite store (slow)"
    )
    args = parser.parse_args()
    try:
        import apscheduler
        import sqlalchemy
    except ImportError as exc:
        print(f"skipped: {exc}; run .venv/bin/pip install 'apscheduler==3.11.3' sqlalchemy")
        return 0
    print(f"APScheduler {apscheduler.__version__}, SQLAlchemy {sqlalchemy.__version__}")
    print(f"{machine_info()}")
    report = Report()
    t0 = time.perf_counter()
    rates = {"sqlalchemy": 300.0, "sqlalchemy-wal": 2000.0, "memory": 10000.0}
    for name, step in (
        ("bulk_add", lambda: rates.update(section_bulk(args, report))),
        ("fire_lag", lambda: section_fire(args, report, rates)),
    ):
        try:
            step()
        except Exception as exc:
            report.errors[name] = "".join(traceback.format_exception(exc))[-4000:]
            print(f"\n!! {name} failed: {exc}", file=sys.stderr)
    total = time.perf_counter() - t0
    path = save_results(
        "apscheduler",
        {
            "apscheduler": apscheduler.__version__,
            "sqlalchemy": sqlalchemy.__version__,
            "quick": args.quick,
            "total_seconds": total,
            **report.to_dict(),
        },
    )
    print(f"\ndone in {fmt(total)} s; results: {path}")
    return 0


if __name__ == "__main__":
    if not child_main(CHILDREN):
        sys.exit(main())
