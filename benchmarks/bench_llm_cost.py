"""What the LLM budget check costs at the gate, before each run starts.

    .venv/bin/python benchmarks/bench_llm_cost.py                 # 10,000 jobs, 90 days each
    .venv/bin/python benchmarks/bench_llm_cost.py --jobs 1000 --days 30

A SQLite store is given ``--jobs`` jobs' cost rows (``llm_cost_days``) for ``--days`` days each,
as months of LLM runs would have left it, plus ``--runs`` finished runs per job carrying tokens
and cost (what a check that summed a job's runs would have to read). Then
``scheduler_core.llm_cost.Budgets.denial`` is called as the gate calls it: for one job's own
budget (``max_cost_per_day``: one row by its unique key) and for the global budget
(``[scheduler] max_llm_cost_per_day``: the rows of ``llm_cost_day_ends`` not over yet, one per
instant a zone's day ends: the jobs are spread over 24 zones). For comparison, the same job's
cost today summed from its runs.

Always exits 0; prints the figures and PASS/FAIL per target; figures go to
``benchmarks/results/llm-cost-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import Target, machine_info, print_targets, save_results, summary_ms, temp_dir

from scheduler_core.llm_cost import Budgets
from scheduler_core.model import JobDefinition, PolicySpec
from scheduler_core.store import open_store
from scheduler_core.store.sqlite._sql import fmt

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def build(db: str, jobs: int, days: int, runs: int) -> None:
    conn = sqlite3.connect(db)
    today = NOW.date()
    rows = []
    ends_rows: dict[str, tuple[int, float]] = {}
    for j in range(jobs):
        for back in range(days):
            day = today - timedelta(days=back)
            # the jobs spread over 24 zones, an hour apart: their days end at 24 instants
            ends = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
                days=1, hours=j % 24 - 12
            )
            rows.append((f"job-{j:06d}", day.isoformat(), fmt(ends), 3, 3000, 1500, 0.006, 0))
            runs, cost = ends_rows.get(fmt(ends), (0, 0.0))
            ends_rows[fmt(ends)] = (runs + 3, cost + 0.006)
    conn.executemany(
        "INSERT INTO llm_cost_day_ends (ends_at, runs, cost_usd) VALUES (?, ?, ?)",
        [(at, runs, cost) for at, (runs, cost) in ends_rows.items()],
    )
    conn.executemany(
        "INSERT INTO llm_cost_days (job_id, day, ends_at, runs, input_tokens, output_tokens, "
        "cost_usd, unpriced_runs) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute(
        "INSERT INTO jobs (id, name, agent, status, schedule, timezone, definition, created_at, "
        "updated_at) VALUES ('job-000000', 'job-000000', 'llm', 'active', '0 * * * *', 'UTC', "
        "'{}', ?, ?)",
        (fmt(NOW), fmt(NOW)),
    )
    details = json.dumps({"tokens": {"input": 1000, "output": 500}, "cost_usd": 0.002})
    conn.executemany(
        "INSERT INTO runs (id, job_id, job_name, agent_id, trigger, status, attempt, "
        "scheduled_for, started_at, finished_at, details) "
        "VALUES (?, 'job-000000', 'job-000000', 'llm', 'schedule', 'succeeded', 1, ?, ?, ?, ?)",
        [
            (
                f"run-{i:08d}",
                fmt(NOW - timedelta(minutes=i)),
                fmt(NOW - timedelta(minutes=i)),
                fmt(NOW - timedelta(minutes=i)),
                details,
            )
            for i in range(runs)
        ],
    )
    conn.commit()
    conn.close()


async def measure(db: str, calls: int) -> dict[str, Any]:
    store = await open_store(db)
    try:
        job = JobDefinition(id="job-000000", name="job-000000", agent="llm", cron="0 * * * *")
        policy = PolicySpec(max_cost_per_day=1000.0)
        own = Budgets(store)
        every = Budgets(store, global_limit=1e9)
        figures: dict[str, list[float]] = {"job": [], "global": [], "runs_sum": []}
        for _ in range(calls):
            started = time.perf_counter()
            assert await own.denial(job, policy, NOW) is None
            figures["job"].append(time.perf_counter() - started)
        for _ in range(max(calls // 10, 10)):
            started = time.perf_counter()
            assert await every.denial(job, PolicySpec(), NOW) is None
            figures["global"].append(time.perf_counter() - started)
        day_start = fmt(datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC))
        for _ in range(max(calls // 10, 10)):  # what summing the job's runs would cost
            started = time.perf_counter()
            await store._fetchall(
                "SELECT sum(json_extract(details, '$.cost_usd')) FROM runs "
                "WHERE job_id = ? AND finished_at >= ?",
                ("job-000000", day_start),
            )
            figures["runs_sum"].append(time.perf_counter() - started)
        return {k: summary_ms(v) for k, v in figures.items()}
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=20_000, help="runs of the measured job")
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with temp_dir("symbi-bench-llm-cost-") as tmp:
        db = str(tmp / "symbi.db")
        store = await open_store(db)  # the schema, migrated
        await store.close()
        started = time.perf_counter()
        build(db, args.jobs, args.days, args.runs)
        built = time.perf_counter() - started
        figures = await measure(db, args.calls)
    print(
        f"{args.jobs:,} jobs x {args.days} days of cost rows, {args.runs:,} runs of the job "
        f"measured (built in {built:.1f} s)"
    )
    for name, label in (
        ("job", "job budget (one row by its key)"),
        ("global", f"global budget ({args.jobs:,} jobs over 24 zones spent today)"),
        ("runs_sum", "for comparison: the job's runs of today summed"),
    ):
        f = figures[name]
        print(f"  {label}: p50 {f['p50']:.3f} ms, p99 {f['p99']:.3f} ms")
    targets = [
        Target("job budget check p99", figures["job"]["p99"], 1.0, "ms"),
        Target("global budget check p99", figures["global"]["p99"], 1.0, "ms"),
    ]
    print_targets(targets)
    save_results(
        "llm-cost",
        {
            "machine": machine_info(),
            "args": vars(args),
            "figures": figures,
            "targets": [t.to_dict() for t in targets],
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
