"""Creating jobs: bulk loads and one job per call, through each door an operator uses.

    .venv/bin/python benchmarks/bench_adds.py                  # 1,000,000 jobs; 10,000 one by one
    .venv/bin/python benchmarks/bench_adds.py --jobs 100000 --one 2000
    .venv/bin/python benchmarks/bench_adds.py --only add_jobs,dsl_dir --profile

Each scenario runs in a fresh child process over a fresh SQLite store in a temporary directory
(no scheduler: nothing fires), with bench_core's job mix (90 % of 1,440 daily times, 10 % common
shapes, one agent):

* ``add_jobs``: ``SchedulerService.add_jobs`` in calls of ``--batch`` jobs (100,000);
* ``api_apply``: ``POST /api/v1/apply`` in requests of 10,000 jobs (the schema's most), the real
  FastAPI app (API key, body limit, schema) over ``httpx.ASGITransport``: no socket, bodies
  encoded before the clock starts;
* ``dsl_dir``: ``--jobs`` schedules written in files of ``--per-file`` (10,000: about 560 KB,
  under the 1 MiB a file may hold), then loaded as ``symbi cron add --file DIR`` loads them
  (``load_dsl([DIR], register_agents=True)``: one apply, all or nothing);
* ``add_job``: ``--one`` jobs, one ``SchedulerService.add_job`` call (one transaction) each;
* ``api_schedule``: ``--one`` jobs, one ``POST /api/v1/schedule`` each, as above.

Shown: wall seconds and jobs/s, and the child's CPU seconds (``time.process_time``: every thread,
the store's worker included) and jobs per CPU second, which moves less with the machine's load;
the stored jobs and ``CronJobCreated`` events are counted by SQL. ``--profile`` writes a cProfile
of each child to ``results/adds-<scenario>.prof(.txt)`` (the store's thread is not in it).
"""

from __future__ import annotations

import argparse
import gc
import json
import sqlite3
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
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
    temp_dir,
)
from bench_core import _config, _profiled, bulk_items

SCRIPT = Path(__file__).resolve()
SCENARIOS = ("add_jobs", "api_apply", "dsl_dir", "add_job", "api_schedule")
BULK = ("add_jobs", "api_apply", "dsl_dir")
KEY = "bench-key-0123456789abcdef"
APPLY_MAX = 10_000  #: the jobs one POST /apply may carry (scheduler_core.api.schemas.ApplyIn)


def write_dsl_dir(directory: Path, n: int, per_file: int) -> int:
    """bench_core's job mix as DSL schedule blocks, ``per_file`` to a file; the files' count."""
    directory.mkdir(parents=True, exist_ok=True)
    items = bulk_items(n)
    files = 0
    for first in range(0, n, per_file):
        text = "".join(
            f'schedule {it["name"]} {{\n  agent: "{it["agent"]}"\n  cron: "{it["cron"]}"\n}}\n'
            for it in items[first : first + per_file]
        )
        (directory / f"part-{files:04d}.symbi").write_text(text)
        files += 1
    return files


def child_create(
    scenario: str, n: int, db: str, batch: int, per_file: int, profile: str | None = None
) -> dict[str, Any]:
    """Create n jobs through one door (see the module's docstring)."""

    async def main() -> dict[str, Any]:
        from scheduler_core.engine import Engine

        engine = Engine(_config(db, str(Path(db).parent)), run_scheduler=False)
        service = await engine.start()
        run: Callable[[], Awaitable[None]]
        extra: dict[str, Any] = {}
        if scenario in ("api_apply", "api_schedule"):
            # httpx's ASGI transport tries ``import sniffio`` at every request; without the
            # package installed that is a failed import (a search of sys.path: ~100 us of the
            # client's CPU a request, counted in this process though no server's). None in
            # sys.modules makes that import fail at once (it is not installed: nothing uses it).
            import importlib.util

            if importlib.util.find_spec("sniffio") is None:
                sys.modules["sniffio"] = None  # type: ignore[assignment]
            import httpx

            from scheduler_core.api import ApiKeys, create_app

            app = create_app(service, config=engine.config, keys=ApiKeys.of([KEY]))
            http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://bench",
                headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
                timeout=600,
            )
            items = bulk_items(n)
            if scenario == "api_apply":
                bodies = [
                    json.dumps({"jobs": items[i : i + APPLY_MAX]}).encode()
                    for i in range(0, n, APPLY_MAX)
                ]
                path = "/api/v1/apply"
            else:
                bodies = [json.dumps(item).encode() for item in items]
                path = "/api/v1/schedule"

            async def run() -> None:
                for body in bodies:
                    response = await http.post(path, content=body)
                    if response.status_code >= 300:
                        raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")

        elif scenario == "dsl_dir":
            directory = Path(db).parent / "dsl"
            extra["files"] = write_dsl_dir(directory, n, per_file)

            async def run() -> None:
                await service.load_dsl([str(directory)], actor="cli", register_agents=True)

        else:
            items = bulk_items(n)

            async def run() -> None:
                if scenario == "add_jobs":
                    for i in range(0, n, batch):
                        await service.add_jobs(items[i : i + batch])
                else:
                    for item in items:
                        await service.add_job(item)

        gc.collect()
        cpu0, t0 = time.process_time(), time.perf_counter()
        await run()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        await engine.stop()
        conn = sqlite3.connect(db)
        stored = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        audits = conn.execute(
            "SELECT count(*) FROM audit_events WHERE type = 'CronJobCreated'"
        ).fetchone()[0]
        conn.close()
        return {
            "scenario": scenario,
            "n": n,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "jobs_per_second": n / seconds,
            "jobs_per_cpu_second": n / cpu,
            "stored": stored,
            "created_events": audits,
            **extra,
        }

    return _profiled(profile, main)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs of each bulk load")
    parser.add_argument("--one", type=int, default=10_000, help="jobs added one per call")
    parser.add_argument("--batch", type=int, default=100_000, help="jobs per add_jobs call")
    parser.add_argument("--per-file", type=int, default=10_000, help="schedules per DSL file")
    parser.add_argument("--only", default="", help=f"a subset of {','.join(SCENARIOS)}")
    parser.add_argument("--profile", action="store_true", help="cProfile each child")
    args = parser.parse_args()
    chosen = [s for s in SCENARIOS if not args.only or s in args.only.split(",")]
    print(f"symbi job creation benchmarks  {machine_info()}")
    report = Report()
    rows = []
    t0 = time.perf_counter()
    for scenario in chosen:
        n = args.jobs if scenario in BULK else args.one
        profile = str(RESULTS_DIR / f"adds-{scenario}.prof") if args.profile else None
        if profile:
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        try:
            with temp_dir() as tmp:
                r = run_child(
                    SCRIPT,
                    "create",
                    {
                        "scenario": scenario,
                        "n": n,
                        "db": str(tmp / "adds.db"),
                        "batch": args.batch,
                        "per_file": args.per_file,
                        "profile": profile,
                    },
                    timeout=7200,
                )
        except Exception as exc:  # a broken scenario is reported, the others still run
            report.errors[scenario] = "".join(traceback.format_exception(exc))[-4000:]
            print(f"\n!! {scenario} failed: {exc}", file=sys.stderr)
            continue
        report.sections[scenario] = r
        rows.append(
            (
                scenario,
                r["n"],
                r["seconds"],
                r["jobs_per_second"],
                r["cpu_seconds"],
                r["jobs_per_cpu_second"],
                r["stored"],
                r["created_events"],
            )
        )
        complete = r["stored"] == n and r["created_events"] == n
        note = "" if complete else f"{r['stored']} stored, {r['created_events']} events"
        goal = 30_000 if scenario in BULK else 5_000
        report.targets.append(
            Target(f"{scenario}: {n:,} jobs", r["jobs_per_second"], goal, "jobs/s", ">=", note)
        )
    print_table(
        "creating jobs (wall and CPU of the child)",
        rows,
        ("scenario", "jobs", "seconds", "jobs/s", "CPU s", "jobs/CPU s", "stored", "events"),
    )
    print_targets(report.targets)
    total = time.perf_counter() - t0
    path = save_results("adds", {"args": vars(args), "total_seconds": total, **report.to_dict()})
    passed = sum(t.passed for t in report.targets)
    print(f"\n{passed}/{len(report.targets)} targets met in {fmt(total)} s; results: {path}")
    return 0


if __name__ == "__main__":
    if not child_main({"create": child_create}):
        sys.exit(main())
