"""Several scheduler nodes on one PostgreSQL database: fire lag and durable runs per second with
1, 2 and 3 nodes (issue 10).

    .venv/bin/python benchmarks/bench_multinode.py                 # a throwaway local server
    .venv/bin/python benchmarks/bench_multinode.py --url postgresql://user:pw@127.0.0.1/postgres
    .venv/bin/python benchmarks/bench_multinode.py --nodes 1,3 --fire 1000 --runs 10000

For each node count, a fresh database; each node is its own process (a whole ``Engine`` with a
no-op async Python agent and the real clock), as separate daemons would be. Two scenarios:

* fire lag: ``--fire`` one-shot jobs all due at one instant a few seconds ahead; the lag of each
  run's recorded start after its instant (p50, p99, the last start);
* durable throughput: ``--runs`` one-shot jobs all due at once; runs recorded ``succeeded`` per
  second, from the instant to the last finish (every run claimed, started, finished and its job
  completed, each in a committed transaction).

Without ``--url`` a PostgreSQL server is started in a temporary directory (``initdb`` on PATH or
in /usr/lib/postgresql/*/bin), as the tests do. The machine's cores are shared by the nodes and
the database server: on a small machine more nodes add availability, not speed. Results are
printed and saved to ``benchmarks/results/multinode-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import fmt, machine_info, print_table, save_results, summary_ms  # noqa: E402

SCRIPT = Path(__file__).resolve()


# --- a node (child process) ---------------------------------------------------------------------


async def node_main(url: str, claim_ahead: float) -> list[tuple[str, float]]:
    """One node: an engine firing from ``url`` until SIGTERM; returns the wall-clock instant of
    each agent call (job name, time.time())."""
    from scheduler_core.config import SchedulerConfig, SchedulerSettings, StoreConfig
    from scheduler_core.engine import Engine
    from scheduler_core.runtime.base import CallableExecutor

    calls: list[tuple[str, float]] = []

    async def agent(ctx: Any) -> None:
        calls.append((ctx.job.name, time.time()))

    config = SchedulerConfig(
        scheduler=SchedulerSettings(
            max_concurrent_jobs=20_000,
            max_jitter_seconds=0,
            lease_ttl_seconds=10,
            claim_ahead_seconds=claim_ahead,
        ),
        store=StoreConfig(url=url),
    )
    engine = Engine(config, executor=CallableExecutor({"a": agent}))
    await engine.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await engine.stop()
    return calls


# --- the parent ---------------------------------------------------------------------------------


async def add_jobs(url: str, prefix: str, count: int, instant: datetime) -> float:
    """Insert the jobs through the service (one transaction); seconds it took."""
    from scheduler_core.service import SchedulerService
    from scheduler_core.store import open_store

    store = await open_store(url)
    try:
        service = SchedulerService(store)
        started = time.perf_counter()
        await service.add_jobs(
            [{"name": f"{prefix}{i}", "agent": "a", "at": instant} for i in range(count)]
        )
        return time.perf_counter() - started
    finally:
        await store.close()


async def fetch(url: str, sql: str, *args: Any) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def wait_done(url: str, prefix: str, count: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        rows = await fetch(
            url,
            "SELECT count(*) FROM runs WHERE job_name LIKE $1 AND status = 'succeeded'",
            prefix + "%",
        )
        if rows[0][0] >= count:
            return True
        await asyncio.sleep(0.2)
    return False


async def scenario(
    url: str, n: int, claim_ahead: float, prefix: str, count: int, lead: float
) -> dict[str, Any]:
    procs, files = start_nodes(url, n, claim_ahead)
    try:
        instant = datetime.now(UTC) + timedelta(seconds=lead)
        add_seconds = await add_jobs(url, prefix, count, instant)
        margin = instant.timestamp() - time.time()
        done = await wait_done(url, prefix, count, within=lead + 120)
    finally:
        stop_nodes(procs)
    rows = await fetch(
        url,
        "SELECT scheduled_for, started_at, finished_at, owner FROM runs WHERE job_name LIKE $1",
        prefix + "%",
    )
    called = [
        float(line.split()[1]) - instant.timestamp()
        for f in files
        for line in f.read_text().splitlines()
        if line.startswith(prefix)
    ]
    starts = [(r[1] - r[0]).total_seconds() for r in rows if r[1]]
    finishes = [(r[2] - r[0]).total_seconds() for r in rows if r[2]]
    per_node: dict[str, int] = {}
    for r in rows:
        per_node[r[3] or "?"] = per_node.get(r[3] or "?", 0) + 1
    span = max(finishes) if finishes else float("nan")
    return {
        "count": count,
        "all_succeeded": done,
        "add_seconds": add_seconds,
        "margin_seconds": margin,
        "agent_lag_ms": summary_ms(called),  #: agent called, after the instant
        "start_lag_ms": summary_ms(starts),  #: recorded start (claimed ahead: the instant)
        "last_finish_s": span,
        "runs_per_second": count / span if finishes and span > 0 else float("nan"),
        "runs_per_node": sorted(per_node.values(), reverse=True),
    }


def start_nodes(
    url: str, n: int, claim_ahead: float
) -> tuple[list[subprocess.Popen[str]], list[Path]]:
    procs, files = [], []
    for i in range(n):
        files.append(Path(tempfile.gettempdir()) / f"symbi-bench-node-{os.getpid()}-{i}.calls")
        proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--node", url, str(claim_ahead), str(files[-1])],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        procs.append(proc)
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"a node did not start (said {line!r})")
    return procs, files


def stop_nodes(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def measure(url_of: Any, nodes: list[int], fire: int, runs: int) -> dict[int, Any]:
    results: dict[int, Any] = {}
    for n in nodes:
        url = await url_of(f"symbi_bench_{n}_{os.getpid()}")
        # the default claim-ahead (1 s) for the lag, as a daemon runs; none for the throughput,
        # so that every run's whole life (claim, start, finish) falls after its instant
        lag = await scenario(url, n, 1.0, "fire-", fire, lead=4.0)
        throughput = await scenario(url, n, 0.0, "bulk-", runs, lead=4.0 + runs / 10_000)
        results[n] = {"fire_lag": lag, "throughput": throughput}
        print(
            f"{n} node(s): fire lag p99 {fmt(lag['agent_lag_ms']['p99'])} ms, "
            f"{fmt(throughput['runs_per_second'])} runs/s",
            flush=True,
        )
    return results


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--node":
        calls = asyncio.run(node_main(sys.argv[2], float(sys.argv[3])))
        Path(sys.argv[4]).write_text("\n".join(f"{name} {t}" for name, t in calls))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an admin URL of a PostgreSQL server (else a throwaway one)")
    parser.add_argument("--nodes", default="1,2,3", help="node counts to measure (default 1,2,3)")
    parser.add_argument("--fire", type=int, default=1000, help="jobs due at one instant")
    parser.add_argument("--runs", type=int, default=10_000, help="runs for the throughput")
    args = parser.parse_args()
    nodes = [int(n) for n in args.nodes.split(",")]

    from tests.pg import PgCluster, start_cluster

    cluster = PgCluster(admin_url=args.url) if args.url else start_cluster(durable=True)
    try:

        async def url_of(name: str) -> str:
            from scheduler_core.store.postgres import PostgresJobStore

            url = await cluster.create_database(name)
            store = PostgresJobStore(url)
            await store.open()  # migrated before the nodes race to do it
            await store.close()
            return url

        results = asyncio.run(measure(url_of, nodes, args.fire, args.runs))
    finally:
        cluster.stop()
    rows = [
        (
            n,
            fmt(r["fire_lag"]["agent_lag_ms"]["p50"]),
            fmt(r["fire_lag"]["agent_lag_ms"]["p99"]),
            fmt(r["fire_lag"]["agent_lag_ms"]["max"]),
            fmt(r["throughput"]["runs_per_second"]),
            fmt(r["throughput"]["last_finish_s"]),
            "/".join(map(str, r["throughput"]["runs_per_node"])),
            "yes" if r["fire_lag"]["all_succeeded"] and r["throughput"]["all_succeeded"] else "NO",
        )
        for n, r in results.items()
    ]
    print_table(
        f"{args.fire} jobs at one instant; {args.runs} durable runs",
        rows,
        ("nodes", "lag p50 ms", "p99 ms", "last start ms", "runs/s", "span s", "per node", "ok"),
    )
    path = save_results(
        "multinode",
        {"machine": machine_info(), "fire": args.fire, "runs": args.runs, "results": results},
    )
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
