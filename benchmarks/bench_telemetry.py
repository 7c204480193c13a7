"""What OpenTelemetry costs a run: the same runs with telemetry off and on, side by side.

Each mode runs in a fresh child over a fresh SQLite store: ``--runs`` one-shot jobs due at one
instant of a fake clock (the scheduler fires them all at once; the no-op agent returns at once),
in ``--rounds`` rounds; with ``--iterations K`` each run is a heartbeat of K iterations (K child
spans). "on" is the real path: a span per run (and per iteration), batched and exported over
OTLP/HTTP (protobuf) to a collector that this script runs on 127.0.0.1, in its own process, so
the child's CPU figure holds the export's cost and none of the collector's; the export is
flushed (``Engine.stop``) inside the measured time. Figures: CPU seconds of the child (every
thread, ``time.process_time``) and wall seconds, per run, and the difference on minus off.

    .venv/bin/python benchmarks/bench_telemetry.py                  # 2,000 runs x 3 rounds
    .venv/bin/python benchmarks/bench_telemetry.py --runs 500 --iterations 3
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    child_main,
    fmt,
    machine_info,
    print_table,
    run_child,
    save_results,
    source_tree,
    temp_dir,
)

SCRIPT = Path(__file__).resolve()
INSTANT = "2026-03-02T09:00:00Z"


# --- the child --------------------------------------------------------------------------------


def _scenario(
    mode: str, runs: int, rounds: int, iterations: int, endpoint: str, directory: str
) -> dict[str, Any]:
    return asyncio.run(_measure(mode, runs, rounds, iterations, endpoint, Path(directory)))


async def _measure(
    mode: str, runs: int, rounds: int, iterations: int, endpoint: str, directory: Path
) -> dict[str, Any]:
    from datetime import timedelta

    from scheduler_core.clock import FakeClock, parse_instant
    from scheduler_core.engine import Engine
    from scheduler_core.runtime.base import ExecutionResult, RunContext
    from scheduler_core.settings import (
        SchedulerConfig,
        SchedulerSettings,
        StoreConfig,
        TelemetryConfig,
    )

    expected = runs * max(iterations, 1)

    class NoOp:
        calls = 0
        done = asyncio.Event()

        async def execute(self, context: RunContext) -> ExecutionResult:
            NoOp.calls += 1
            if NoOp.calls == expected:
                NoOp.done.set()
            return ExecutionResult(output="sleep" if context.iteration == iterations else "ok")

    telemetry = TelemetryConfig(otlp_endpoint=endpoint if mode == "on" else None)
    cpu: list[float] = []
    wall: list[float] = []
    for r in range(rounds):
        config = SchedulerConfig(
            scheduler=SchedulerSettings(
                claim_ahead_seconds=0, max_concurrent_jobs=runs + 10, shutdown_timeout_seconds=5
            ),
            store=StoreConfig(url=str(directory / f"{mode}-{r}.db")),
            data_dir=str(directory / "data"),
            telemetry=telemetry,
        )
        clock = FakeClock(parse_instant(INSTANT) - timedelta(minutes=1))
        executor = NoOp()
        engine = Engine(config, executor=executor, clock=clock)
        service = await engine.start()
        heartbeat = {"heartbeat": {"enabled": True, "max_iterations": iterations}}
        items = [
            {"name": f"j{i}", "agent": "a", "at": INSTANT, **(heartbeat if iterations else {})}
            for i in range(runs)
        ]
        await service.add_jobs(items)
        assert engine.scheduler is not None
        NoOp.calls = 0
        NoOp.done = asyncio.Event()
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        clock.set(INSTANT)
        await NoOp.done.wait()
        await engine.scheduler.wait_idle()
        await engine.stop()  # with telemetry on: the last batch exported
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started_wall)
    return {"cpu": cpu, "wall": wall}


# --- the collector ----------------------------------------------------------------------------


class Collector:
    """An OTLP/HTTP sink on 127.0.0.1: counts the spans it is sent."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        self.spans = 0
        self.requests = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                sink.requests += 1
                sink.spans += sum(
                    len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans
                )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="runs per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per mode (default 3)")
    parser.add_argument(
        "--iterations", type=int, default=0, help="heartbeat iterations per run (default: none)"
    )
    args = parser.parse_args()
    collector = Collector()
    print(f"telemetry overhead: {args.runs} runs x {args.rounds} rounds, source {source_tree()}")
    figures: dict[str, Any] = {}
    with temp_dir() as directory:
        for mode in ("off", "on"):
            figures[mode] = run_child(
                SCRIPT,
                "measure",
                {
                    "mode": mode,
                    "runs": args.runs,
                    "rounds": args.rounds,
                    "iterations": args.iterations,
                    "endpoint": collector.url,
                    "directory": str(directory),
                },
                timeout=900,
            )
    spans_per_run = 1 + args.iterations
    expected = args.runs * args.rounds * spans_per_run
    rows = []
    per_run: dict[str, dict[str, float]] = {}
    for mode in ("off", "on"):
        cpu = min(figures[mode]["cpu"]) / args.runs * 1e6
        wall = min(figures[mode]["wall"]) / args.runs * 1e6
        per_run[mode] = {"cpu_us": cpu, "wall_us": wall}
        rows.append([mode, fmt(cpu, 1), fmt(wall, 1)])
    rows.append(
        [
            "on - off",
            fmt(per_run["on"]["cpu_us"] - per_run["off"]["cpu_us"], 1),
            fmt(per_run["on"]["wall_us"] - per_run["off"]["wall_us"], 1),
        ]
    )
    print_table(
        "per run",
        rows,
        ["telemetry", "CPU us/run (best round)", "wall us/run (best round)"],
        right=(1, 2),
    )
    print(
        f"spans received by the collector: {collector.spans} of {expected} "
        f"({collector.requests} export requests)"
    )
    save_results(
        "telemetry",
        {
            "args": vars(args),
            "machine": machine_info(),
            "rounds": figures,
            "per_run": per_run,
            "spans_received": collector.spans,
            "spans_expected": expected,
        },
    )
    collector.server.shutdown()


if __name__ == "__main__":
    if not child_main({"measure": _scenario}):
        main()
