"""The SQLite writer's run path alone: the CPU its claims and finishes cost a run.

    .venv/bin/python benchmarks/bench_runpath.py                  # 20,000 runs, 3 rounds
    .venv/bin/python benchmarks/bench_runpath.py --runs 50000 --rounds 5
    SYMBI_BENCH_SRC=/path/to/other/tree .venv/bin/python benchmarks/bench_runpath.py

N one-shot jobs, all due, are claimed through ``SqliteJobStore.claim_due`` (batches of 512, the
default ``claim_batch_size``, planned by ``plan_fire``) and then finished through ``finish_runs``
(batches of 2,048, the finish writer's, all succeeded, planned by ``plan_finish``), with no agent
and nothing else running: the event loop idle, so the writer thread never waits for the GIL. The
figure is that thread's CPU time (``time.thread_time``) inside the transactions, for the claims
and for the finishes, in a fresh interpreter each round. ``bench_core.py``'s ``throughput`` runs
the same rows with the engine around them; on a shared machine its CPU figures move by 10-20 %
from run to run, these by a few per cent, so a change to the writer is measured here. No target
of its own: informational; exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import source_tree

SCRIPT = Path(__file__).resolve()


async def _child(n: int) -> dict[str, Any]:
    from scheduler_core.model import JobDefinition, RunStatus, new_id
    from scheduler_core.scheduling.chaining import plan_chain
    from scheduler_core.scheduling.rules import plan_finish, plan_fire
    from scheduler_core.settings import SchedulerSettings
    from scheduler_core.store import open_store
    from scheduler_core.store.base import FinishItem
    from scheduler_core.store.sqlite import _inline

    cpu = [0.0]
    run_tx = _inline.run_tx

    def timed(*args: Any) -> Any:
        started = time.thread_time()
        try:
            return run_tx(*args)
        finally:
            cpu[0] += time.thread_time() - started

    _inline.run_tx = timed
    settings = SchedulerSettings(max_concurrent_jobs=n + 10)
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(os.path.join(tmp, "runpath.db"))
        t0 = datetime.now(UTC).replace(microsecond=0)
        due = t0 - timedelta(seconds=1)
        jobs = [
            JobDefinition(
                id=new_id(),
                name=f"job-{i}",
                agent="a",
                at=due,
                next_run_at=due,
                created_at=t0,
                updated_at=t0,
                source="api",
            )
            for i in range(n)
        ]
        for k in range(0, n, 10_000):
            await store.insert_jobs(jobs[k : k + 10_000], [])
        await store.acquire_lease("bench", now=t0, ttl=3600)
        rng = random.Random(1)
        free = [n + 10]
        counts: dict[str, int] = {}

        def planner(batch: Any, others: Any) -> list[Any]:
            return [plan_fire(j, t0, settings, counts, free, rng) for j in batch]

        claimed: list[Any] = []
        cpu[0] = 0.0
        while plans := await store.claim_due(t0, 512, "bench", planner, until=t0):
            claimed.extend(plans)
        claim_cpu = cpu[0]
        now = t0 + timedelta(seconds=1)
        items = [
            FinishItem(
                run=replace(
                    p.run,
                    status=RunStatus.SUCCEEDED,
                    finished_at=now,
                    execution_time_ms=1,
                    details={"policy": {"decision": "allow"}},
                ),
                job=p.job,
            )
            for p in claimed
        ]

        def finish_planner(item: Any, current: Any) -> Any:
            return plan_finish(item, current, settings=settings, now=now)

        def chain(item: Any, plan: Any, leader: Any, followers: Any) -> Any:
            return plan_chain(item, plan, leader, followers, now=now)

        cpu[0] = 0.0
        for k in range(0, len(items), 2048):
            await store.finish_runs(items[k : k + 2048], finish_planner, chain)
        finish_cpu = cpu[0]
        await store.close()
    return {"runs": len(claimed), "claim_cpu": claim_cpu, "finish_cpu": finish_cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_child(args.child))))
        return
    tree = source_tree()
    print(f"scheduler_core from {tree}; {args.runs:,} runs, {args.rounds} round(s)")
    env = {**os.environ, "PYTHONPATH": tree, "PYTHONDONTWRITEBYTECODE": "1"}
    for r in range(1, args.rounds + 1):
        out = subprocess.run(
            [sys.executable, str(SCRIPT), "--child", str(args.runs)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if out.returncode != 0:
            print(f"round {r}: failed\n{out.stderr[-2000:]}")
            continue
        got = json.loads(out.stdout.strip().splitlines()[-1])
        n = got["runs"]
        claim, finish = got["claim_cpu"], got["finish_cpu"]
        print(
            f"round {r}: {n:,} runs: claims {claim:.3f} s ({claim / n * 1e6:.1f} us a run), "
            f"finishes {finish:.3f} s ({finish / n * 1e6:.1f} us a run), "
            f"together {(claim + finish) / n * 1e6:.1f} us a run"
        )


if __name__ == "__main__":
    main()
