"""The scheduler over large stores (issue 23): cold start, resident memory and idle CPU.

    .venv/bin/python benchmarks/bench_scale.py                  # everything (the 1,000,000-job
                                                                # store is built once: minutes)
    .venv/bin/python benchmarks/bench_scale.py --only idle --seconds 120
    .venv/bin/python benchmarks/bench_scale.py --only cold --jobs 100000
    .venv/bin/python benchmarks/bench_scale.py --profile        # cProfile the engine children

The stores come from ``_scale.scale_store`` (10,000, 100,000 and 1,000,000 jobs, cached under
``/tmp/symbi-bench-cache``, nothing due within an hour of the build); each scenario runs on a
private copy in a fresh child process with the real clock. Sections (``--only``):

* ``cold``: one job made due by SQL, then (a) a fresh interpreter is spawned that imports the
  core and starts an :class:`Engine` over the store: spawn -> the agent's first call, and open
  (``Engine.start``) -> first call; RSS right after the first fire, and again after a minute of
  idling and the hourly pruning pass (what an idle hour adds).
* ``idle``: nothing due; CPU time of the whole process (every thread, from
  ``/proc/PID/task/*/schedstat``, nanoseconds, read by the parent) over ``--seconds`` after a
  warm-up, for the bare :class:`Engine` and for a real ``symbi-tui --daemon`` with its API and
  metrics on, as an operator runs it, at each size of ``--idle-jobs``.

The script always exits 0 and prints PASS/FAIL per target; figures go to
``benchmarks/results/scale-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the parent builds (and names, by schema version) the stores with the tree under test, not with
# whichever scheduler_core the interpreter finds first (an editable install of another checkout)
sys.path.insert(1, os.environ.get("SYMBI_BENCH_SRC") or str(Path(__file__).resolve().parents[1]))

from _common import (
    Report,
    Target,
    child_main,
    print_table,
    print_targets,
    run_child,
    save_results,
    source_tree,
    temp_dir,
)
from _scale import copy_store, scale_store

SCRIPT = Path(__file__).resolve()
SECTIONS = ("cold", "idle")
ROOT = SCRIPT.parent.parent


# --- helpers shared by both sides ---------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid`` so far, from the scheduler's own accounting (ns)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def thread_stats(pid: int) -> dict[str, tuple[float, int]]:
    """Per thread of ``pid``: (name, tid) -> (CPU seconds, times it was scheduled in)."""
    out: dict[str, tuple[float, int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            run_ns, _, slices = (task / "schedstat").read_text().split()[:3]
            name = (task / "comm").read_text().strip()
        except (OSError, ValueError):
            continue
        out[f"{name}/{task.name}"] = (int(run_ns) / 1e9, int(slices))
    return out


def thread_delta(
    before: dict[str, tuple[float, int]], after: dict[str, tuple[float, int]], wall: float
) -> dict[str, dict[str, float]]:
    """What each thread cost per minute between two :func:`thread_stats`: CPU ms, wake-ups."""
    out = {}
    for key, (cpu, slices) in after.items():
        cpu0, slices0 = before.get(key, (0.0, 0))
        out[key] = {
            "cpu_ms_per_min": (cpu - cpu0) * 1000 / wall * 60,
            "wakeups_per_min": (slices - slices0) / wall * 60,
        }
    return out


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` (MB), from /proc."""
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_one_due(db: Path) -> None:
    """The first job due now (its next run a millisecond ago), as a restart would find it."""
    stamp = (datetime.now(UTC) - timedelta(milliseconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE jobs SET next_run_at = ? WHERE name = 'job-0000000'", (stamp,))
    conn.close()


def make_none_due(db: Path, hours: float = 3) -> Path:
    """Nothing due for ``hours``: a cached store built earlier has jobs due by now (its daily
    minutes start an hour after the build), which an idle figure must not count. Jobs due
    before then are moved to that instant (past the measurement; their schedules unchanged)."""
    later = (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE jobs SET next_run_at = ? WHERE next_run_at < ?", (later, later))
    conn.close()
    return db


def _config(db: str, data_dir: str, settings: dict[str, float] | None = None) -> Any:
    from scheduler_core.config import SchedulerConfig, SchedulerSettings, StoreConfig

    return SchedulerConfig(
        scheduler=SchedulerSettings(**(settings or {})),
        store=StoreConfig(url=db),
        data_dir=data_dir,
    )


def _profiled(profile: str | None, main: Any) -> Any:
    if not profile:
        return asyncio.run(main())
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    try:
        return asyncio.run(main())
    finally:
        prof.disable()
        prof.dump_stats(profile)
        with open(profile + ".txt", "w") as out:
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(50)
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(30)


# --- children -----------------------------------------------------------------------------------

#: the cold child: spawned by the parent with its spawn time, prints one JSON line
COLD_CHILD = r"""
import asyncio, json, os, sys, time
spawned = float(sys.argv[1]); db = sys.argv[2]; idle = float(sys.argv[3]); prof = sys.argv[4]
t_imp = time.time()
from scheduler_core.config import SchedulerConfig, StoreConfig
from scheduler_core.engine import Engine
from scheduler_core.runtime.base import CallableExecutor
imported = time.time()

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

async def main():
    fired = asyncio.Event()
    first = []
    cpu = []

    async def agent(ctx):
        first.append(time.time())
        cpu.append(time.process_time())
        fired.set()

    config = SchedulerConfig(store=StoreConfig(url=db), data_dir=os.path.dirname(db))
    engine = Engine(config, executor=CallableExecutor({"a": agent}))
    t0 = time.time()
    await engine.start()
    started = time.time()
    await asyncio.wait_for(fired.wait(), 60)
    await asyncio.sleep(0.3)  # the finish written
    out = {
        "spawn_to_import_s": t_imp - spawned,
        "import_s": imported - t_imp,
        "engine_start_s": started - t0,
        "open_to_fire_s": first[0] - t0,
        "spawn_to_fire_s": first[0] - spawned,
        "cpu_to_fire_s": cpu[0],  # the child's CPU (every thread) from its start to the fire
        "rss_after_fire_mb": rss_mb(),
        "textual_imported": "textual" in sys.modules,
        "modules": len(sys.modules),
    }
    if idle > 0:
        await asyncio.sleep(idle)
        await engine.scheduler.maintenance.prune()  # the hourly pruning pass
        out["rss_after_idle_mb"] = rss_mb()
    await engine.stop()
    return out

if prof:
    import cProfile, pstats
    p = cProfile.Profile(); p.enable()
    result = asyncio.run(main())
    p.disable(); p.dump_stats(prof)
    with open(prof + ".txt", "w") as f:
        pstats.Stats(p, stream=f).sort_stats("cumulative").print_stats(60)
else:
    result = asyncio.run(main())
print(json.dumps(result))
"""


def child_idle_engine(
    db: str,
    warmup: float,
    ready: str,
    profile: str | None,
    settings: dict[str, float] | None = None,
) -> Any:
    """Start an engine, idle ``warmup`` seconds, write this pid to ``ready`` and idle until
    SIGUSR1: the parent measures this process from outside meanwhile, so no wake-up of the
    measurement's own (a timer ending the window) is counted as the scheduler's."""

    async def main() -> dict[str, Any]:
        from scheduler_core.engine import Engine
        from scheduler_core.runtime.base import CallableExecutor

        async def agent(ctx: Any) -> None:
            return None

        config = _config(db, str(Path(db).parent), settings)
        engine = Engine(config, executor=CallableExecutor({"a": agent}))
        await engine.start()
        await asyncio.sleep(warmup)
        done = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, done.set)
        announce(ready)
        await done.wait()
        rss = rss_mb(os.getpid())
        await engine.stop()
        return {"rss_mb": rss}

    return _profiled(profile, main)


def announce(ready: str) -> None:
    """This pid in ``ready``, whole (written aside and renamed: the parent polls for it)."""
    Path(ready + ".tmp").write_text(str(os.getpid()))
    os.replace(ready + ".tmp", ready)


def measure_idle(pid: int, seconds: float) -> dict[str, Any]:
    """CPU of every thread of ``pid`` over ``seconds``, sampled from this process."""
    s0, c0, t0 = thread_stats(pid), process_cpu_seconds(pid), time.perf_counter()
    time.sleep(seconds)
    c1, t1 = process_cpu_seconds(pid), time.perf_counter()
    s1 = thread_stats(pid)
    return {
        "cpu_s": c1 - c0,
        "wall_s": t1 - t0,
        "per_minute": (c1 - c0) / (t1 - t0) * 60,
        "threads": thread_delta(s0, s1, t1 - t0),
    }


def engine_idle(db: Path, args: argparse.Namespace, profile: str | None) -> dict[str, Any]:
    """The bare engine in a child over ``db``, measured from here for ``args.seconds``."""
    ready = db.parent / "ready"
    box: dict[str, Any] = {}

    def child() -> None:
        try:
            box["result"] = run_child(
                SCRIPT,
                "idle_engine",
                {
                    "db": str(db),
                    "warmup": args.warmup,
                    "ready": str(ready),
                    "profile": profile,
                    "settings": args.settings,
                },
                timeout=args.seconds + args.warmup + 600,
            )
        except BaseException as exc:  # reported by the parent
            box["error"] = exc

    thread = threading.Thread(target=child, daemon=True)
    thread.start()
    deadline = time.monotonic() + args.warmup + 600
    while not ready.exists():
        if not thread.is_alive() or time.monotonic() > deadline:
            thread.join(5)
            raise RuntimeError(f"the idle engine did not start: {box.get('error')}")
        time.sleep(0.05)
    pid = int(ready.read_text())
    figures = measure_idle(pid, args.seconds)
    os.kill(pid, signal.SIGUSR1)
    thread.join(120)
    if "error" in box:
        raise box["error"]
    return {**figures, **box["result"]}


# --- the parent ---------------------------------------------------------------------------------


def cold_once(base: Path, idle: float, profile: str | None) -> dict[str, Any]:
    with temp_dir() as tmp:
        db = make_none_due(copy_store(base, tmp / "symbi.db"))
        make_one_due(db)
        env = {**os.environ, "PYTHONPATH": source_tree(), "PYTHONDONTWRITEBYTECODE": "1"}
        with sqlite3.connect(db) as conn:  # the page cache warm, as after the build
            conn.execute("SELECT count(*) FROM jobs").fetchone()
        conn.close()
        spawned = time.time()
        proc = subprocess.run(
            [sys.executable, "-c", COLD_CHILD, repr(spawned), str(db), str(idle), profile or ""],
            capture_output=True,
            text=True,
            env=env,
            cwd=str(tmp),  # not ROOT: `-c` puts the cwd first on sys.path, before PYTHONPATH
            timeout=600,
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"cold child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(lines[-1])
        return result


def daemon_idle(
    base: Path, seconds: float, warmup: float, settings: dict[str, float] | None = None
) -> dict[str, Any]:
    """A real ``symbi-tui --daemon`` (API and metrics on) over a copy of ``base``."""
    with temp_dir() as tmp:
        db = make_none_due(copy_store(base, tmp / "store" / "symbi.db"))
        cfg = tmp / "config.toml"
        cfg.write_text(
            f"data_dir = {json.dumps(str(tmp / 'data'))}\n"
            f"[store]\nurl = {json.dumps(str(db))}\n"
            "[api]\nport = 0\n"
            + "[scheduler]\n"
            + "".join(f"{k} = {v}\n" for k, v in (settings or {}).items())
            + '[agents.a]\ncommand = ["/bin/true"]\n'
        )
        env = {**os.environ, "PYTHONPATH": source_tree(), "PYTHONDONTWRITEBYTECODE": "1"}
        argv = [
            sys.executable,
            "-m",
            "symbi_tui",
            "--daemon",
            "--config",
            str(cfg),
            "--log-format",
            "json",
        ]
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp,
        )
        events: list[str] = []

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                try:
                    events.append(str(json.loads(line).get("event")))
                except ValueError:
                    events.append(line.rstrip())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 120
            while not {"api.listening", "scheduler.leader"} <= set(events):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the daemon did not start: {events[-10:]}")
                time.sleep(0.05)
            time.sleep(warmup)
            figures = measure_idle(proc.pid, seconds)
            with open(f"/proc/{proc.pid}/statm") as f:
                rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        return {**figures, "rss_mb": rss}


def compile_tree() -> None:
    """Bytecode for the tree under test, as an installed package has it (pip compiles it): the
    children run with PYTHONDONTWRITEBYTECODE, so a checkout without ``__pycache__`` would time
    the compiler on every start (about a third of the imports)."""
    import compileall

    compileall.compile_dir(str(Path(source_tree()) / "scheduler_core"), quiet=1)


def section_cold(args: argparse.Namespace, report: Report) -> None:
    compile_tree()
    rows = []
    for jobs in args.cold_jobs:
        base = scale_store(jobs)
        results = []
        for i in range(args.rounds):
            prof = None
            if args.profile and i == 0:
                prof = str(SCRIPT.parent / "results" / f"scale-cold-{jobs}.prof")
                Path(prof).parent.mkdir(exist_ok=True)
            results.append(
                cold_once(base, args.cold_idle if jobs == max(args.cold_jobs) else 0, prof)
            )
        best = min(results, key=lambda r: r["spawn_to_fire_s"])
        report.sections[f"cold_{jobs}"] = results
        for r in results:
            rows.append(
                (
                    f"{jobs:,}",
                    r["import_s"],
                    r["engine_start_s"],
                    r["open_to_fire_s"],
                    r["spawn_to_fire_s"],
                    r["cpu_to_fire_s"],
                    r["rss_after_fire_mb"],
                    r.get("rss_after_idle_mb"),
                )
            )
        if jobs >= 1_000_000:
            report.targets.append(
                Target(f"open -> first fire, {jobs:,} jobs", best["open_to_fire_s"], 0.3, "s")
            )
            worst_rss = max(
                max(r["rss_after_fire_mb"], r.get("rss_after_idle_mb") or 0) for r in results
            )
            report.targets.append(Target(f"RSS, {jobs:,} jobs", worst_rss, 120, "MB"))
        if jobs == 100_000:
            report.targets.append(
                Target("spawn -> first fire, 100,000 jobs", best["spawn_to_fire_s"], 0.15, "s")
            )
    print_table(
        "cold start (fresh interpreter, warm page cache)",
        rows,
        (
            "jobs",
            "import s",
            "Engine.start s",
            "open->fire s",
            "spawn->fire s",
            "CPU to fire s",
            "RSS fired MB",
            "RSS idle MB",
        ),
    )


def section_idle(args: argparse.Namespace, report: Report) -> None:
    rows = []
    for jobs in args.idle_jobs:
        base = scale_store(jobs)
        with temp_dir() as tmp:
            db = make_none_due(copy_store(base, tmp / "symbi.db"))
            prof = None
            if args.profile:
                prof = str(SCRIPT.parent / "results" / f"scale-idle-{jobs}.prof")
                Path(prof).parent.mkdir(exist_ok=True)
            engine = engine_idle(db, args, prof)
        daemon = daemon_idle(base, args.seconds, args.warmup, args.settings)
        report.sections[f"idle_{jobs}"] = {"engine": engine, "daemon": daemon}
        rows.append((f"{jobs:,}", "engine", engine["per_minute"], engine["rss_mb"]))
        rows.append((f"{jobs:,}", "daemon + API", daemon["per_minute"], daemon["rss_mb"]))
        for label, r in (("engine", engine), ("daemon + API", daemon)):
            for thread, t in sorted(r["threads"].items()):
                if t["wakeups_per_min"] >= 0.5:
                    rows.append(
                        (
                            "",
                            f"  {label}: {thread}",
                            t["cpu_ms_per_min"] / 1000,
                            f"{t['wakeups_per_min']:.0f} wake-ups/min",
                        )
                    )
            report.targets.append(
                Target(f"idle CPU, {jobs:,} jobs, {label}", r["per_minute"], 0.001, "CPU-s/min")
            )
    print_table(
        f"idle, none due ({args.seconds:g} s measured after {args.warmup:g} s) {args.settings}",
        rows,
        ("jobs", "process (thread)", "CPU-s per minute", "RSS MB"),
    )


def main() -> int:
    if child_main({"idle_engine": child_idle_engine}):
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(SECTIONS))
    parser.add_argument("--seconds", type=float, default=120.0, help="idle measured this long")
    parser.add_argument(
        "--warmup",
        type=float,
        default=15.0,
        help="seconds after the start before the measurement: past the first renewal (a third "
        "of lease_ttl_seconds after the lease is taken), which is still the start's, at the "
        "short TTL, before an idle holder's lease is stretched",
    )
    parser.add_argument("--rounds", type=int, default=3, help="cold starts per size")
    parser.add_argument(
        "--cold-jobs", type=lambda s: [int(x) for x in s.split(",")], default=[100_000, 1_000_000]
    )
    parser.add_argument(
        "--cold-idle",
        type=float,
        default=60.0,
        help="seconds idled after the first fire before RSS is read again",
    )
    parser.add_argument(
        "--idle-jobs", type=lambda s: [int(x) for x in s.split(",")], default=[10_000, 1_000_000]
    )
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=SECONDS",
        help="a [scheduler] setting for the idle runs, e.g. lease_ttl_seconds=90",
    )
    args = parser.parse_args()
    args.settings = {k: float(v) for k, v in (item.split("=", 1) for item in args.set)}
    report = Report()
    print(f"source tree: {source_tree()}; load average: {os.getloadavg()}", flush=True)
    for name in args.only.split(","):
        try:
            {"cold": section_cold, "idle": section_idle}[name](args, report)
        except Exception:
            report.errors[name] = traceback.format_exc()
            print(report.errors[name], file=sys.stderr)
    print_targets(report.targets)
    save_results("scale", {"args": vars(args), **report.to_dict()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
