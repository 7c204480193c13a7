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
in /usr/lib/postgresql/*/bin), as the tests do. ``--stats`` (a throwaway server only) also says
where the time of the throughput scenario went, per 1,000 runs: CPU seconds of the nodes and of
the server's processes, commits and WAL flushes, the statements (``pg_stat_statements``), and
what the database's sessions were waiting for (``pg_stat_activity`` sampled every 5 ms: a row
lock, the NOTIFY queue's lock, a WAL flush, the node itself). The machine's cores are shared by
the nodes and the database server: on a small machine more nodes add availability, not speed.
Results are printed and saved to ``benchmarks/results/multinode-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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


async def node_main(url: str, claim_ahead: float, batch: int) -> list[tuple[str, float]]:
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
            **({"claim_batch_size": batch} if batch else {}),
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


# --- where the time went (--stats) --------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def server_pids(data_dir: str | None) -> list[int]:
    """The postmaster of ``data_dir`` and every process it started (backends, WAL writer...)."""
    if data_dir is None:
        return []
    try:
        postmaster = int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    pids.append(int(entry.name))
    return pids


class Probe:
    """What the server and the nodes did between ``start`` and ``stop``: deltas of the server's
    counters, the statements, CPU seconds, and samples of what the sessions waited for."""

    def __init__(self, url: str, data_dir: str | None, nodes: list[int]) -> None:
        self.url = url
        self.data_dir = data_dir
        self.nodes = nodes
        self.samples = 0
        self.waits: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        self._before: dict[str, float] = {}

    async def _counters(self) -> dict[str, float]:
        row = await self._conn.fetchrow(
            "SELECT xact_commit, xact_rollback, blks_hit, blks_read, "
            "(SELECT wal_records FROM pg_stat_wal), (SELECT wal_bytes FROM pg_stat_wal), "
            "(SELECT wal_write FROM pg_stat_wal), (SELECT wal_sync FROM pg_stat_wal), "
            "(SELECT wal_sync_time FROM pg_stat_wal) "
            "FROM pg_stat_database WHERE datname = current_database()"
        )
        names = ("commits", "rollbacks", "blks_hit", "blks_read", "wal_records", "wal_bytes")
        names += ("wal_writes", "wal_syncs", "wal_sync_ms")
        values = {k: float(v or 0) for k, v in zip(names, row, strict=True)}
        values["node_cpu_s"] = sum(cpu_seconds(p) for p in self.nodes)
        values["server_cpu_s"] = sum(cpu_seconds(p) for p in server_pids(self.data_dir))
        return values

    async def start(self) -> None:
        import asyncpg

        self._conn = await asyncpg.connect(self.url)
        await self._conn.execute("SELECT pg_stat_statements_reset()")
        await self._conn.execute("SELECT pg_stat_reset_shared('wal')")
        await self._conn.execute("SELECT pg_stat_clear_snapshot()")
        self._before = await self._counters()
        self._task = asyncio.get_running_loop().create_task(self._sample())

    async def _sample(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            while True:
                rows = await conn.fetch(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend' AND state <> 'idle'"
                )
                self.samples += 1
                for state, kind, event in rows:
                    key = f"{kind}:{event}" if kind else f"CPU ({state})"
                    if kind == "Client" and state == "idle in transaction":
                        key = "node (idle in transaction)"
                    self.waits[key] = self.waits.get(key, 0) + 1
                await asyncio.sleep(0.005)
        finally:
            await conn.close()

    async def stop(self, runs: int) -> dict[str, Any]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._conn.execute("SELECT pg_stat_clear_snapshot()")
        await asyncio.sleep(0.6)  # the statistics collector's reports (PostgreSQL <= 14)
        after = await self._counters()
        statements = await self._conn.fetch(
            "SELECT calls, total_exec_time, rows, query FROM pg_stat_statements "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "ORDER BY total_exec_time DESC"
        )
        sizes = await self._conn.fetchrow(
            "SELECT pg_table_size('runs'), pg_indexes_size('runs'), "
            "pg_total_relation_size('audit_events'), (SELECT count(*) FROM runs), "
            "(SELECT count(*) FROM audit_events)"
        )
        await self._conn.close()
        per = 1000 / runs
        counters = {k: (after[k] - self._before[k]) * per for k in after}
        # the probe's own queries (a sample, a poll for the end) are no node's work
        own = [r for r in statements if "pg_stat_activity" in r[3] or "job_name LIKE" in r[3]]
        counters["commits"] -= per * sum(r[0] for r in own)
        statements = [r for r in statements if r not in own]
        # a scheduler's cycle asks for its next wake-up once: how often the nodes looked again
        counters["cycles"] = per * sum(r[0] for r in statements if "min(next_run_at)" in r[3])
        counters["statements"] = per * sum(r[0] for r in statements)
        return {
            "per_1000_runs": counters,
            "bytes_per_run": {
                "runs table": sizes[0] / sizes[3],
                "runs indexes": sizes[1] / sizes[3],
                "audit events (table and indexes)": sizes[2] / max(sizes[4], 1),
            },
            "waiting": {k: v / max(self.samples, 1) for k, v in sorted(self.waits.items())},
            "samples": self.samples,
            "statements": [
                {
                    "calls_per_1000_runs": r[0] * per,
                    "ms_per_1000_runs": r[1] * per,
                    "rows": r[2],
                    "query": " ".join(r[3].split())[:110],
                }
                for r in statements
            ],
        }


def print_probe(n: int, probe: dict[str, Any]) -> None:
    c = probe["per_1000_runs"]
    print(
        f"\n-- {n} node(s), per 1,000 runs: node CPU {c['node_cpu_s']:.3f} s, server CPU "
        f"{c['server_cpu_s']:.3f} s, {c['commits']:.0f} commits, {c['wal_syncs']:.0f} WAL "
        f"syncs ({c['wal_sync_ms']:.1f} ms), {c['wal_bytes'] / 1024:.0f} KiB WAL, "
        f"{c['statements']:.0f} statements, {c['cycles']:.1f} scheduler cycles"
    )
    sizes = ", ".join(f"{k} {v:.0f}" for k, v in probe["bytes_per_run"].items())
    print(f"   bytes per run: {sizes}")
    print("   sessions of the database, on average, by what they were doing or waiting for:")
    for key, mean in sorted(probe["waiting"].items(), key=lambda kv: -kv[1]):
        print(f"   {mean:7.3f}  {key}")
    print("   statements (calls, ms per 1,000 runs):")
    for s in probe["statements"][:15]:
        print(f"   {s['calls_per_1000_runs']:8.1f} {s['ms_per_1000_runs']:8.1f}  {s['query']}")


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
    import asyncpg

    deadline = time.monotonic() + within
    conn = await asyncpg.connect(url)
    try:
        while time.monotonic() < deadline:
            done = await conn.fetchval(
                "SELECT count(*) FROM runs WHERE job_name LIKE $1 AND status = 'succeeded'",
                prefix + "%",
            )
            if done >= count:
                return True
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    return False


async def scenario(
    url: str,
    n: int,
    claim_ahead: float,
    prefix: str,
    count: int,
    lead: float,
    stats: str | None = None,
    batch: int = 0,
) -> dict[str, Any]:
    """``stats``: the data directory of the server (or "" for one elsewhere): probe where the
    time went, from just before the instant to the last run's end."""
    procs, files = start_nodes(url, n, claim_ahead, batch)
    probed: dict[str, Any] | None = None
    try:
        instant = datetime.now(UTC) + timedelta(seconds=lead)
        add_seconds = await add_jobs(url, prefix, count, instant)
        margin = instant.timestamp() - time.time()
        probe = None
        if stats is not None:
            await asyncio.sleep(max(0.0, margin - claim_ahead - 0.2))
            probe = Probe(url, stats or None, [p.pid for p in procs])
            await probe.start()
        done = await wait_done(url, prefix, count, within=lead + 120)
        if probe is not None:
            probed = await probe.stop(count)
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
        **({"probe": probed} if probed is not None else {}),
    }


def start_nodes(
    url: str, n: int, claim_ahead: float, batch: int
) -> tuple[list[subprocess.Popen[str]], list[Path]]:
    procs, files = [], []
    for i in range(n):
        files.append(Path(tempfile.gettempdir()) / f"symbi-bench-node-{os.getpid()}-{i}.calls")
        proc = subprocess.Popen(
            [
                sys.executable,
                str(SCRIPT),
                "--node",
                url,
                str(claim_ahead),
                str(batch),
                str(files[-1]),
            ],
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


async def measure(
    url_of: Any, nodes: list[int], fire: int, runs: int, stats: str | None, batch: int
) -> dict[int, Any]:
    results: dict[int, Any] = {}
    for n in nodes:
        url = await url_of(f"symbi_bench_{n}_{os.getpid()}")
        # the default claim-ahead (1 s) for the lag, as a daemon runs; none for the throughput,
        # so that every run's whole life (claim, start, finish) falls after its instant
        lag = await scenario(url, n, 1.0, "fire-", fire, lead=4.0)
        throughput = await scenario(
            url, n, 0.0, "bulk-", runs, lead=4.0 + runs / 10_000, stats=stats, batch=batch
        )
        results[n] = {"fire_lag": lag, "throughput": throughput}
        print(
            f"{n} node(s): fire lag p99 {fmt(lag['agent_lag_ms']['p99'])} ms, "
            f"{fmt(throughput['runs_per_second'])} runs/s",
            flush=True,
        )
        if "probe" in throughput:
            print_probe(n, throughput["probe"])
    return results


def with_statistics(cluster: Any) -> None:
    """Restart the throwaway server with ``pg_stat_statements`` loaded and WAL flushes timed."""
    for setting in ("shared_preload_libraries = 'pg_stat_statements'", "track_wal_io_timing = on"):
        asyncio.run(fetch(cluster.admin_url, f"ALTER SYSTEM SET {setting}"))
    kwargs: dict[str, Any] = {}
    if cluster.run_as is not None:
        kwargs = {"user": cluster.run_as[0], "group": cluster.run_as[1], "extra_groups": []}
    subprocess.run(
        [cluster.pg_ctl, "-D", cluster.data_dir, "-w", "-t", "60", "restart"],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=120,
        **kwargs,
    )


def main() -> int:
    if len(sys.argv) == 6 and sys.argv[1] == "--node":
        calls = asyncio.run(node_main(sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
        Path(sys.argv[5]).write_text("\n".join(f"{name} {t}" for name, t in calls))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an admin URL of a PostgreSQL server (else a throwaway one)")
    parser.add_argument("--nodes", default="1,2,3", help="node counts to measure (default 1,2,3)")
    parser.add_argument("--fire", type=int, default=1000, help="jobs due at one instant")
    parser.add_argument("--runs", type=int, default=10_000, help="runs for the throughput")
    parser.add_argument(
        "--stats",
        action="store_true",
        help="where the throughput's time went: CPU, commits, statements, waits (its own server)",
    )
    parser.add_argument(
        "--claim-batch",
        type=int,
        default=0,
        help="the nodes' claim_batch_size for the throughput (default: the scheduler's); a small "
        "one makes many small transactions, as runs spread over time do",
    )
    args = parser.parse_args()
    nodes = [int(n) for n in args.nodes.split(",")]
    if args.stats and args.url:
        parser.error("--stats starts its own server (pg_stat_statements preloaded): no --url")

    from tests.pg import PgCluster, start_cluster

    cluster = PgCluster(admin_url=args.url) if args.url else start_cluster(durable=True)
    try:
        if args.stats:
            with_statistics(cluster)

        async def url_of(name: str) -> str:
            from scheduler_core.store.postgres import PostgresJobStore

            url = await cluster.create_database(name)
            store = PostgresJobStore(url)
            await store.open()  # migrated before the nodes race to do it
            await store.close()
            if args.stats:
                await fetch(url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            return url

        stats = (cluster.data_dir or "") if args.stats else None
        results = asyncio.run(measure(url_of, nodes, args.fire, args.runs, stats, args.claim_batch))
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
        {
            "machine": machine_info(),
            "fire": args.fire,
            "runs": args.runs,
            "claim_batch": args.claim_batch,
            "results": results,
        },
    )
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
