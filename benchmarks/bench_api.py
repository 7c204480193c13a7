"""HTTP API throughput and latency: GET /api/v1/schedule (a page of 100) and POST .../run.

    .venv/bin/python benchmarks/bench_api.py                 # 10,000 jobs, 10 s per workload
    .venv/bin/python benchmarks/bench_api.py --jobs 100000 --seconds 20 --clients 16
    .venv/bin/python benchmarks/bench_api.py --jobs 1000000 --workloads list-deep,list-offset-deep

A real uvicorn server on 127.0.0.1 serves the API over a SQLite store with the scheduler embedded
(its agents are no-op Python callables, so POST .../run measures queueing and recording the run,
and the scheduler runs them meanwhile). ``--clients`` concurrent clients (in a separate process,
so client and server do not share a core's event loop) send requests back to back, each over
one keep-alive connection: raw HTTP/1.1 on asyncio streams (request bytes built from parts made
once, bodies read by Content-Length, every status checked), or ``--client httpx``
(httpx.AsyncClient, the load generator before: 0.3-0.6 ms of CPU a request, on the same two
cores as the server).

Workloads: ``list`` (pages at random offsets up to ``--jobs``, as before), ``list-deep`` (each
client walks ``--walk`` pages by cursor, following X-Next-Cursor, from a random depth, then jumps
to another), ``list-offset-deep`` (a page by OFFSET at a random depth: what the cursor replaces),
``run``. With ``--jobs`` of 100,000 or more the store is benchmarks/_scale.py's cached one (built
once, copied per run); smaller stores are filled here. The server's CPU time per request (its
process, every thread) and the clients' (their process) are shown beside the clients' view.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import multiprocessing
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
if os.environ.get("SYMBI_BENCH_SRC"):  # the server imports scheduler_core from that tree
    sys.path.insert(0, os.environ["SYMBI_BENCH_SRC"])

from benchmarks._common import (
    RESULTS_DIR,
    machine_info,
    print_table,
    save_results,
    summary_ms,
    temp_dir,
)

KEY = "bench-key-0123456789abcdef"
WORKLOADS = ("list", "list-deep", "list-offset-deep", "run")
#: from this size on the store is _scale's cached one
SCALE_FROM = 100_000


def job_name(i: int) -> str:
    """The ``i``-th job's name (both this script's stores and _scale's: job-0000000...)."""
    return f"job-{i:07d}"


def _cursor_at(depth: int) -> str:
    """The cursor of the job at ``depth`` in name order: the page after it starts there."""
    from scheduler_core.store.job_cursor import JobCursor, encode_cursor

    return encode_cursor(JobCursor("name", False, None, job_name(depth)))


def _target(workload: str, n: int, jobs: int, cursor: str | None) -> str:
    """The path and query of request ``n`` (``cursor``: list-deep's page to read)."""
    if workload == "list":
        return f"/api/v1/schedule?limit=100&offset={(n * 100) % max(jobs - 100, 1)}"
    if workload == "list-deep":
        return f"/api/v1/schedule?limit=100&after={cursor}"
    if workload == "list-offset-deep":
        return f"/api/v1/schedule?limit=100&offset={n}"
    return f"/api/v1/schedule/{job_name(n % jobs)}/run"


def _load(
    url: str,
    workload: str,
    clients: int,
    seconds: float,
    jobs: int,
    walk: int,
    queue: Any,
    kind: str = "raw",
) -> None:
    """``clients`` concurrent clients sending requests back to back for ``seconds``; puts
    (latencies, error statuses, wall seconds, this process's CPU seconds) on ``queue``."""
    import random

    async def client(index: int, latencies: list[float], errors: list[int]) -> None:
        send = await (_raw_client(url) if kind == "raw" else _httpx_client(url))
        try:
            deadline = time.perf_counter() + seconds
            n = index
            rng = random.Random(index)
            cursor: str | None = None
            pages = 0
            while time.perf_counter() < deadline:
                n += clients
                if workload == "list-deep" and (cursor is None or pages >= walk):
                    cursor, pages = _cursor_at(rng.randrange(max(jobs - 100, 1))), 0
                if workload == "list-offset-deep":
                    target = _target(workload, rng.randrange(max(jobs - 100, 1)), jobs, None)
                else:
                    target = _target(workload, n, jobs, cursor)
                started = time.perf_counter()
                status, next_cursor = await send(target, workload == "run")
                latencies.append(time.perf_counter() - started)
                if workload == "list-deep":
                    cursor = next_cursor
                    pages += 1
                if status != 200 and not (workload == "run" and status == 202):
                    errors.append(status)
        finally:
            await send(None, False)

    async def main() -> None:
        latencies: list[float] = []
        errors: list[int] = []
        cpu = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(client(i, latencies, errors) for i in range(clients)))
        wall = time.perf_counter() - started
        queue.put((latencies, errors, wall, time.process_time() - cpu))

    asyncio.run(main())


Sender = Any  # async (target, post) -> (status, X-Next-Cursor); (None, _) closes


async def _httpx_client(url: str) -> Sender:
    """httpx's AsyncClient (the load generator before the raw one; ``--client httpx``)."""
    import httpx

    http = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)

    async def send(target: str | None, post: bool) -> tuple[int, str | None]:
        if target is None:
            await http.aclose()
            return 0, None
        if post:
            response = await http.post(target, json={})
        else:
            response = await http.get(target)
        return response.status_code, response.headers.get("X-Next-Cursor")

    return send


async def _raw_client(url: str) -> Sender:
    """HTTP/1.1 over one keep-alive asyncio stream: the request's bytes made from a prefix and a
    suffix built once, the answer's head split by lines, its body read by Content-Length (a
    response without one is an error). What a load generator should cost: the server's CPU is
    what is measured."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    tail = f" HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {KEY}\r\n".encode()
    get_tail = tail + b"\r\n"
    post_tail = tail + b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    stream: list[Any] = []

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if not stream:
            stream.extend(await asyncio.open_connection(host, port))
        return stream[0], stream[1]

    async def send(target: str | None, post: bool) -> tuple[int, str | None]:
        if target is None:
            if stream:
                stream[1].close()
            return 0, None
        for attempt in (0, 1):  # a keep-alive connection the server closed: once more
            reader, writer = await connect()
            writer.write(
                (b"POST " if post else b"GET ")
                + target.encode()
                + (post_tail if post else get_tail)
            )
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()
                stream.clear()
                if attempt:
                    raise
                continue
            break
        lines = head.split(b"\r\n")
        status = int(lines[0][9:12])
        length: int | None = None
        cursor: str | None = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"x-next-cursor":
                cursor = value.strip().decode()
            elif name == b"connection" and value.strip().lower() == b"close":
                stream.clear()  # (after this body)
        if length is None:
            raise RuntimeError(f"a response without Content-Length: {lines[0]!r}")
        await reader.readexactly(length)
        return status, cursor

    return send


def _save_profile(profile: cProfile.Profile, workload: str) -> None:
    """The server's event-loop profile of ``workload``: results/api-WORKLOAD.prof(.txt)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"api-{workload}.prof"
    profile.dump_stats(out)
    with open(f"{out}.txt", "w") as text:
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(40)
    print(f"profile of the server's event loop: {out}.txt", flush=True)


def _Shifted(seconds: float) -> Any:
    """The real clock, ``seconds`` behind."""
    from datetime import UTC, datetime, timedelta

    from scheduler_core.clock import SystemClock

    shift = timedelta(seconds=seconds)

    class Shifted(SystemClock):
        def now(self) -> datetime:
            return datetime.now(UTC) - shift

        async def sleep_until(self, deadline: datetime, wake: asyncio.Event | None = None) -> None:
            await super().sleep_until(deadline + shift, wake)

    return Shifted()


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
    clock = None
    if jobs >= SCALE_FROM:
        from benchmarks._scale import copy_store, scale_store

        base = scale_store(jobs)
        copy_store(base, path)
        # the cached store has nothing due within an hour of its build: the scheduler sees
        # the time it was built at (past that hour, thousands of its jobs would fire at start)
        clock = _Shifted(max(0.0, time.time() - base.stat().st_mtime))
    engine = Engine(config, executor=CallableExecutor(Any_()), clock=clock)
    service = await engine.start()
    if jobs < SCALE_FROM:
        for first in range(0, jobs, 10_000):
            await service.add_jobs(
                [
                    {"name": job_name(i), "agent": "bench", "cron": "0 0 1 1 *"}
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
                args=(
                    server.url,
                    workload,
                    args.clients,
                    args.seconds,
                    jobs,
                    args.walk,
                    queue,
                    args.client,
                ),
            )
            profile = cProfile.Profile() if args.profile else None
            proc.start()
            cpu = time.process_time()
            if profile is not None:
                profile.enable()
            latencies, errors, wall, client_cpu = await asyncio.to_thread(queue.get)
            if profile is not None:
                profile.disable()
            cpu = time.process_time() - cpu
            proc.join()
            if profile is not None:
                _save_profile(profile, workload)
            results[workload] = {
                "requests": len(latencies),
                "errors": len(errors),
                "rps": len(latencies) / wall,
                "latency_ms": summary_ms(latencies),
                "server_cpu_ms_per_request": cpu * 1000 / max(len(latencies), 1),
                "client_cpu_ms_per_request": client_cpu * 1000 / max(len(latencies), 1),
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
    parser.add_argument(
        "--workloads",
        default="list,run",
        help=f"comma-separated, of {', '.join(WORKLOADS)} (default: list,run)",
    )
    parser.add_argument("--walk", type=int, default=10, help="list-deep: pages per walk")
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="the load generator: raw HTTP/1.1 on asyncio streams (default; cheap, so the "
        "server's cost is what is measured) or httpx.AsyncClient (as before)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the server's event loop (its thread; the store's thread is not seen) "
        "per workload: results/api-WORKLOAD.prof(.txt)",
    )
    args = parser.parse_args()
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = sorted(set(workloads) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workload(s): {', '.join(unknown)}")
    with temp_dir() as tmp:
        results = asyncio.run(serve(tmp / "symbi.db", args.jobs, workloads, args))
    labels = {
        "list": "GET /schedule?limit=100&offset=(walk)",
        "list-deep": "GET /schedule?limit=100&after=(random depth)",
        "list-offset-deep": "GET /schedule?limit=100&offset=(random depth)",
        "run": "POST /schedule/{id}/run",
    }
    rows = [
        [
            labels[name],
            f"{r['rps']:,.0f}",
            f"{r['latency_ms']['p50']:.1f}",
            f"{r['latency_ms']['p99']:.1f}",
            f"{r['server_cpu_ms_per_request']:.2f}",
            f"{r['client_cpu_ms_per_request']:.2f}",
            r["requests"],
            r["errors"],
        ]
        for name, r in results.items()
    ]
    print_table(
        f"API, {args.jobs:,} jobs, {args.clients} {args.client} clients",
        rows,
        [
            "request",
            "req/s",
            "p50 ms",
            "p99 ms",
            "server CPU ms",
            "client CPU ms",
            "requests",
            "errors",
        ],
        (1, 2, 3, 4, 5, 6, 7),
    )
    save_results("api", {"machine": machine_info(), "args": vars(args), "results": results})
    print(json.dumps({k: round(v["rps"]) for k, v in results.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
