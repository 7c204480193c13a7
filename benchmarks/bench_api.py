"""HTTP API throughput and latency: GET /api/v1/schedule (a page of 100) and POST .../run.

    .venv/bin/python benchmarks/bench_api.py                 # 10,000 jobs, 10 s per workload
    .venv/bin/python benchmarks/bench_api.py --jobs 100000 --seconds 20 --clients 16

A real uvicorn server on 127.0.0.1 serves the API over a SQLite store with the scheduler embedded
(its agents are no-op Python callables, so POST .../run measures queueing and recording the run,
and the scheduler runs them meanwhile). ``--clients`` concurrent httpx clients (in a separate
process, so client and server do not share a core's event loop) send requests back to back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import machine_info, print_table, save_results, summary_ms, temp_dir

KEY = "bench-key-0123456789abcdef"


def _load(url: str, workload: str, clients: int, seconds: float, jobs: int, queue: Any) -> None:
    import httpx

    async def client(index: int, latencies: list[float], errors: list[int]) -> None:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
            deadline = time.perf_counter() + seconds
            n = index
            while time.perf_counter() < deadline:
                n += clients
                started = time.perf_counter()
                if workload == "list":
                    offset = (n * 100) % max(jobs - 100, 1)
                    response = await http.get(f"/api/v1/schedule?limit=100&offset={offset}")
                else:
                    name = f"job-{n % jobs:06d}"
                    response = await http.post(f"/api/v1/schedule/{name}/run", json={})
                latencies.append(time.perf_counter() - started)
                if response.status_code >= 400:
                    errors.append(response.status_code)

    async def main() -> None:
        latencies: list[float] = []
        errors: list[int] = []
        started = time.perf_counter()
        await asyncio.gather(*(client(i, latencies, errors) for i in range(clients)))
        queue.put((latencies, errors, time.perf_counter() - started))

    asyncio.run(main())


async def serve(path: Path, jobs: int, workloads: list[str], args: argparse.Namespace) -> Any:
    from scheduler_core.api import ApiKeys, ApiServer, create_app
    from scheduler_core.config import SchedulerConfig, SchedulerSettings, StoreConfig
    from scheduler_core.engine import Engine
    from scheduler_core.runtime.base import CallableExecutor

    async def noop(ctx: Any) -> str:
        return "ok"

    class Any_(dict):  # every agent name is the no-op agent
        def get(self, name: str, default: Any = None) -> Any:
            return noop

    config = SchedulerConfig(
        scheduler=SchedulerSettings(max_concurrent_jobs=100), store=StoreConfig(url=str(path))
    )
    engine = Engine(config, executor=CallableExecutor(Any_()))
    service = await engine.start()
    for first in range(0, jobs, 10_000):
        await service.add_jobs(
            [
                {"name": f"job-{i:06d}", "agent": "bench", "cron": "0 0 1 1 *"}
                for i in range(first, min(first + 10_000, jobs))
            ]
        )
    app = create_app(service, config=config, keys=ApiKeys.of([KEY]))
    server = ApiServer(app, host="127.0.0.1", port=0)
    await server.start()
    results = {}
    try:
        for workload in workloads:
            queue: Any = multiprocessing.get_context("spawn").Queue()
            proc = multiprocessing.get_context("spawn").Process(
                target=_load,
                args=(server.url, workload, args.clients, args.seconds, jobs, queue),
            )
            proc.start()
            latencies, errors, wall = await asyncio.to_thread(queue.get)
            proc.join()
            results[workload] = {
                "requests": len(latencies),
                "errors": len(errors),
                "rps": len(latencies) / wall,
                "latency_ms": summary_ms(latencies),
            }
    finally:
        await server.stop()
        await engine.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with temp_dir() as tmp:
        results = asyncio.run(serve(tmp / "symbi.db", args.jobs, ["list", "run"], args))
    rows = [
        [
            "GET /schedule?limit=100" if name == "list" else "POST /schedule/{id}/run",
            f"{r['rps']:,.0f}",
            f"{r['latency_ms']['p50']:.1f}",
            f"{r['latency_ms']['p99']:.1f}",
            r["requests"],
            r["errors"],
        ]
        for name, r in results.items()
    ]
    print_table(
        f"API, {args.jobs:,} jobs, {args.clients} clients",
        rows,
        ["request", "req/s", "p50 ms", "p99 ms", "requests", "errors"],
        (1, 2, 3, 4, 5),
    )
    save_results("api", {"machine": machine_info(), "args": vars(args), "results": results})
    print(json.dumps({k: round(v["rps"]) for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
