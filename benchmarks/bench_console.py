"""Console responsiveness at scale: 100,000 jobs and 1,000,000 runs in the store.

    .venv/bin/python benchmarks/bench_console.py            # 100,000 jobs, 1,000,000 runs
    .venv/bin/python benchmarks/bench_console.py --jobs 10000 --runs 100000

The filled store is cached (``--cache``, a temporary directory by default) and each run measures
a fresh copy of it, so only the first run at a size pays for the fill.

The store is filled once (jobs through the service's bulk add, runs straight into SQLite, as a
year of history would be), then the real console runs under Textual's Pilot (headless, 120x36)
over a LocalBackend with the scheduler embedded. Measured:

* first screen: from starting the app to the jobs pane showing its first page;
* key presses: the time from a key to the screen reflecting it (cursor moves, a filter typed,
  the next page, a status tab, a sort), each over several presses: until the screen's state
  changed, everything the key asked for (the page, its total, the selected job's runs) is fetched
  and in the widgets, and the frame showing it is rendered, with whatever else the key set in
  motion (the footer's keys, a layout) processed and painted: the next key starts on a settled
  screen (``--no-paint`` stops before the frame). The next key follows at once (cursor moves:
  50 ms later; ``--gap`` spaces them all). A key whose own echo is drawn at once (the typed
  letter, the tab) waits for the next frame slot Textual keeps after that paint (one to two
  frames at 240 fps, the console's default) to show its result.

    .venv/bin/python benchmarks/bench_console.py --rounds 3    # the keys three times over

Targets (issue 9): first screen < 1 s, each key < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    Target,
    machine_info,
    print_table,
    print_targets,
    save_results,
    summary_ms,
    temp_dir,
)

AGENTS = ("reporter", "prober", "syncer", "backup", "deployer")
STATUSES = ("succeeded", "succeeded", "succeeded", "failed", "skipped")


async def fill(path: Path, jobs: int, runs: int) -> float:
    from scheduler_core.clock import FakeClock
    from scheduler_core.config import SchedulerConfig, StoreConfig
    from scheduler_core.engine import Engine

    started = time.perf_counter()
    clock = FakeClock("2026-03-02T08:00:00Z")
    engine = Engine(
        SchedulerConfig(store=StoreConfig(url=str(path))), run_scheduler=False, clock=clock
    )
    service = await engine.start()
    batch = 10_000
    for first in range(0, jobs, batch):
        specs = [
            {
                "name": f"job-{i:06d}",
                "agent": AGENTS[i % len(AGENTS)],
                "cron": f"{i % 60} * * * *",
            }
            for i in range(first, min(first + batch, jobs))
        ]
        await service.add_jobs(specs)
    await engine.stop()
    # a year of history, written as the scheduler would have: one row per run
    conn = sqlite3.connect(path)
    ids = [r[0] for r in conn.execute("SELECT id, name FROM jobs ORDER BY name")]
    names = {r[0]: r[1] for r in conn.execute("SELECT id, name FROM jobs")}
    rng = random.Random(7)
    rows = []
    for n in range(runs):
        job_id = ids[n % len(ids)]
        at = f"2026-{1 + (n // 100_000) % 2:02d}-{1 + (n // 4_000) % 28:02d}T{n % 24:02d}:00:00Z"
        status = STATUSES[rng.randrange(len(STATUSES))]
        rows.append(
            (
                f"{n:032x}",
                job_id,
                names[job_id],
                AGENTS[n % len(AGENTS)],
                "schedule",
                at,
                at,
                at,
                at,
                status,
                1 + n // len(ids),
                None,
                "ok" if status == "succeeded" else None,
                "boom" if status == "failed" else None,
                None,
                rng.randrange(10, 5000),
                "{}",
            )
        )
        if len(rows) == 50_000:
            _insert_runs(conn, rows)
            rows = []
    if rows:
        _insert_runs(conn, rows)
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    return time.perf_counter() - started


#: from this many jobs the store is _scale.py's (filling it here would take an hour)
SCALE_JOBS = 1_000_000


def _mix_statuses(path: Path) -> None:
    """Make _scale.py's store (every job active, its runs written by SQL) look like one that has
    lived a while: one job in 100 paused, one in 1,000 dead-lettered with a failed last run, each
    job's last run and run count on its row, the header's run totals counted."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE jobs SET status = 'paused' WHERE rowid % 100 = 1")
        conn.execute(
            "UPDATE jobs SET status = 'dead_letter', failure_count = 3 WHERE rowid % 1000 = 7"
        )
        conn.execute(
            "UPDATE runs SET status = 'failed', error_message = 'boom', output = NULL "
            "WHERE seq IN (SELECT (SELECT max(seq) FROM runs WHERE job_id = j.id) "
            "FROM jobs j WHERE j.status = 'dead_letter')"
        )
        conn.execute(
            "UPDATE jobs SET (last_run_at, last_run_status, last_error, run_count) = "
            "(SELECT r.finished_at, r.status, r.error_message, c.n FROM runs r, "
            "(SELECT count(*) AS n, max(seq) AS last FROM runs WHERE job_id = jobs.id) c "
            "WHERE r.seq = c.last) "
            "WHERE EXISTS (SELECT 1 FROM runs WHERE job_id = jobs.id)"
        )
        conn.execute(
            "UPDATE run_stats SET (runs_total, runs_succeeded, runs_failed, execution_ms_total, "
            "executions) = (SELECT count(*), count(*) FILTER (WHERE status = 'succeeded'), "
            "count(*) FILTER (WHERE status IN ('failed', 'timed_out', 'interrupted')), "
            "coalesce(sum(execution_time_ms), 0), count(execution_time_ms) FROM runs) "
            "WHERE id = 1"
        )
        conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _clock_of(path: Path) -> str:
    """The instant to run the console at: a minute after the newest run finished (nothing is
    due within the hour after _scale.py built the store)."""
    conn = sqlite3.connect(path)
    newest = conn.execute("SELECT max(finished_at) FROM runs").fetchone()[0]
    conn.close()
    at = datetime.fromisoformat(newest.replace("Z", "+00:00")) + timedelta(minutes=1)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _insert_runs(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    conn.executemany(
        "INSERT INTO runs (id, job_id, job_name, agent_id, trigger, scheduled_for, due_at, "
        "started_at, finished_at, status, attempt, input, output, error_message, summary, "
        "execution_time_ms, details) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.commit()


async def measure(
    path: Path,
    *,
    paint: bool = True,
    rounds: int = 1,
    gap: float = 0.0,
    trace: bool = False,
    now: str = "2026-03-02T08:00:10Z",
    screens: bool = True,
    profile: Path | None = None,
) -> dict[str, Any]:

    from scheduler_core.clock import FakeClock
    from scheduler_core.config import SchedulerConfig, SchedulerSettings, StoreConfig
    from scheduler_core.engine import Engine
    from scheduler_core.runtime.base import CallableExecutor
    from symbi_tui.app import SymbiApp
    from symbi_tui.backend import LocalBackend
    from symbi_tui.widgets.jobs_table import JobsTable

    clock = FakeClock(now)
    engine = Engine(
        SchedulerConfig(
            scheduler=SchedulerSettings(claim_ahead_seconds=0), store=StoreConfig(url=str(path))
        ),
        executor=CallableExecutor({}),
        clock=clock,
    )
    service = await engine.start()
    app = SymbiApp(LocalBackend(service, engine.bus), clock=clock, refresh_interval=1.0)
    out: dict[str, Any] = {}

    def table() -> JobsTable:
        return app.screen.query_one(JobsTable)

    def first_name() -> str | None:
        keys = table().row_keys()
        return keys[0] if keys else None

    async def until(check: Any, seconds: float = 30.0) -> None:
        deadline = time.perf_counter() + seconds
        while not check():
            if time.perf_counter() > deadline:
                raise TimeoutError("the console did not answer")
            await asyncio.sleep(0.001)

    try:
        await _drive(
            app, out, table, first_name, until, paint, rounds, gap, trace, screens, profile
        )
    finally:
        await engine.stop()
    return out


async def _drive(
    app: Any,
    out: dict[str, Any],
    table: Any,
    first_name: Any,
    until: Any,
    paint: bool,
    rounds: int,
    gap: float,
    trace: bool,
    screens: bool,
    profile: Path | None,
) -> None:
    import cProfile

    from textual import events

    from symbi_tui.screens.audit import AuditScreen
    from symbi_tui.screens.command import CommandScreen
    from symbi_tui.screens.dead_letter import DeadLetterScreen
    from symbi_tui.screens.main import MainScreen
    from symbi_tui.screens.run_history import RunHistoryScreen
    from symbi_tui.screens.watch import WatchScreen

    gc_ms = [0.0]  # milliseconds spent collecting cycles so far (shown by --trace)
    gc_start = [0.0]

    def on_gc(phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            gc_start[0] = time.perf_counter()
        else:
            gc_ms[0] += (time.perf_counter() - gc_start[0]) * 1000

    gc.callbacks.append(on_gc)
    # CPU time of each timed key: the event loop's thread (the console's own work, which a
    # loaded machine delays but does not inflate much) and the whole process (the store's
    # reading thread, the filter's build apart and the scheduler included)
    last_cpu = [(0.0, 0.0)]
    cpu_by_kind: dict[str, list[tuple[float, float]]] = {}

    def keep(kind: str, elapsed: float) -> float:
        """``elapsed`` (a key's time), its CPU kept under ``kind`` too."""
        cpu_by_kind.setdefault(kind, []).append(last_cpu[0])
        return elapsed

    # one profile per kind of key: PROFILE.press, PROFILE.back, and one per screen opened
    # (PROFILE.WatchScreen...)
    profilers = {kind: cProfile.Profile() for kind in ("press", "back")}
    started = time.perf_counter()
    async with app.run_test(size=(120, 36)) as pilot:
        await until(lambda: isinstance(app.screen, MainScreen) and table().row_count > 0)
        out["first_screen_s"] = time.perf_counter() - started
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await asyncio.sleep(0.5)

        def settled() -> bool:
            """Everything the key asked for is fetched and in the widgets."""
            return (
                not screen._refreshing
                and not screen._reload
                and not screen._stale_runs
                and not screen._urgent
                and screen._runs_job_id == screen.selected_job_id
                and screen.filter_text == screen.query_one("#filter").value.strip()  # type: ignore[attr-defined]
            )

        def state() -> tuple[Any, ...]:
            return (
                screen.focused,
                table().cursor_row,
                screen.page_offset,
                screen.filter_text,
                screen.query_one("#filter").value,  # type: ignore[attr-defined]
                screen.status_filter,
                screen.sort_order,
                screen.descending,
            )

        async def press(key: str, character: str | None = None) -> float:
            """A key as the terminal driver delivers it; the time until the screen holds its
            effect, data fetched included, and (unless --no-paint) the frame showing it is
            rendered."""
            before = state()
            gc_before = gc_ms[0]
            if profile is not None:
                profilers["press"].enable()
            t = time.perf_counter()
            cpu = time.thread_time(), time.process_time()
            app.post_message(events.Key(key, character))
            await until(lambda: state() != before)
            changed = time.perf_counter()
            await until(settled)
            fetched = time.perf_counter()
            if paint:
                # the table's pending work (new rows measured) done and the screen repainted,
                # then whatever else the key set in motion (the footer's keys, a layout)
                # processed and painted too: the next key starts on a settled screen
                await table().wait_for_refresh()
                await pilot._wait_for_screen()
                if (
                    screen._layout_required
                    or screen._scroll_required
                    or screen._repaint_required
                    or screen._dirty_widgets
                ):
                    await screen.wait_for_refresh()
            elapsed = time.perf_counter() - t
            last_cpu[0] = (time.thread_time() - cpu[0], time.process_time() - cpu[1])
            if profile is not None:
                profilers["press"].disable()
            if trace:
                print(
                    f"{key:>22} {elapsed * 1000:6.1f} ms  (changed {1000 * (changed - t):5.1f}"
                    f"  fetched {1000 * (fetched - t):5.1f}  gc {gc_ms[0] - gc_before:5.1f}"
                    f"  cpu {1000 * last_cpu[0][0]:5.1f} / {1000 * last_cpu[0][1]:5.1f})",
                    flush=True,
                )
            await asyncio.sleep(gap)  # before the next key
            return elapsed

        async def painted() -> None:
            """The screen on top repainted, with whatever its fetch set in motion."""
            if not paint:
                return
            top = app.screen
            await pilot._wait_for_screen()
            if (
                top._layout_required
                or top._scroll_required
                or top._repaint_required
                or top._dirty_widgets
            ):
                await top.wait_for_refresh()

        async def open_view(key: str, character: str | None, kind: type) -> float:
            """A key that opens a screen: the time until it shows its data, painted."""
            gc_before = gc_ms[0]
            if profile is not None:
                profilers.setdefault(kind.__name__, cProfile.Profile()).enable()
            t = time.perf_counter()
            cpu = time.thread_time(), time.process_time()
            app.post_message(events.Key(key, character))
            await until(
                lambda: (
                    isinstance(app.screen, kind)
                    and app.screen.loaded
                    and not app.screen._refreshing
                )
            )
            fetched = time.perf_counter()
            await painted()
            elapsed = time.perf_counter() - t
            last_cpu[0] = (time.thread_time() - cpu[0], time.process_time() - cpu[1])
            if profile is not None:
                profilers[kind.__name__].disable()
            if trace:
                print(
                    f"{kind.__name__ + ' ' + key:>22} {elapsed * 1000:6.1f} ms  (fetched"
                    f" {1000 * (fetched - t):5.1f}  gc {gc_ms[0] - gc_before:5.1f}"
                    f"  cpu {1000 * last_cpu[0][0]:5.1f} / {1000 * last_cpu[0][1]:5.1f})",
                    flush=True,
                )
            await asyncio.sleep(gap)
            return elapsed

        async def back() -> float:
            """Escape from a pane to the jobs pane: the time until it is shown, painted."""
            if profile is not None:
                profilers["back"].enable()
            t = time.perf_counter()
            cpu = time.thread_time(), time.process_time()
            app.post_message(events.Key("escape", None))
            await until(lambda: app.screen is screen and settled())
            await table().wait_for_refresh()
            await painted()
            elapsed = time.perf_counter() - t
            last_cpu[0] = (time.thread_time() - cpu[0], time.process_time() - cpu[1])
            if profile is not None:
                profilers["back"].disable()
            if trace:
                print(
                    f"{'back escape':>22} {elapsed * 1000:6.1f} ms  (cpu"
                    f" {1000 * last_cpu[0][0]:5.1f} / {1000 * last_cpu[0][1]:5.1f})",
                    flush=True,
                )
            await asyncio.sleep(gap)
            return elapsed

        async def command(text: str, kind: type) -> float:
            """``:`` and ``text`` typed (untimed: the prompt's own echo), then Enter timed
            until the pane shows its data."""
            app.post_message(events.Key("colon", ":"))
            await until(lambda: isinstance(app.screen, CommandScreen) and app.screen.query("Input"))
            prompt = app.screen.query_one("Input")
            for char in text:
                app.post_message(events.Key(char, char))
            await until(lambda: prompt.value == text)  # type: ignore[attr-defined]
            await painted()
            return await open_view("enter", "\r", kind)

        moves: list[float] = []
        pages: list[float] = []
        opens: dict[str, list[float]] = {"watch": [], "history": [], "dlq": [], "audit": []}
        backs: list[float] = []
        filters: list[float] = []
        tabs: list[float] = []
        sorts: list[float] = []
        for n in range(rounds):
            if n:  # the same sequence again, from the same sort (the untimed keys bring it back)
                while (screen.sort_order, screen.descending) != ("name", False):
                    await press("s", "s")
                await asyncio.sleep(0.5)
            for _ in range(20):
                row = table().cursor_row
                moves.append(keep("move", await press("down")))
                assert table().cursor_row == row + 1
                await asyncio.sleep(0.05)

            steps = ("right_square_bracket", "right_square_bracket", "left_square_bracket")
            if screen.total_jobs <= 2 * screen.page_size:
                steps = ()  # too few jobs to page
            for step in steps:
                before = first_name()
                pages.append(
                    keep("page", await press(step, (step == "right_square_bracket" and "]") or "["))
                )
                assert first_name() != before

            filters.append(keep("filter_key", await press("slash", "/")))  # a filter key too
            assert screen.focused is screen.query_one("#filter")
            for char in "job-0009":
                filters.append(
                    keep("filter_key", await press(char if char != "-" else "minus", char))
                )
            assert screen.filter_text == "job-0009", screen.filter_text
            await press("escape")
            assert screen.filter_text == ""
            await asyncio.sleep(0.1)

            tabs += [keep("status_tab", await press(key, key)) for key in ("2", "3", "1")]
            sorts += [keep("sort", await press(key, key)) for key in ("s", "S")]
            if screens:
                await asyncio.sleep(0.1)
                opens["watch"].append(
                    keep("open_watch", await open_view("enter", "\r", WatchScreen))
                )
                backs.append(keep("back", await back()))
                opens["history"].append(
                    keep("open_history", await open_view("h", "h", RunHistoryScreen))
                )
                backs.append(keep("back", await back()))
                opens["dlq"].append(keep("open_dlq", await command("dlq", DeadLetterScreen)))
                backs.append(keep("back", await back()))
                opens["audit"].append(keep("open_audit", await command("audit", AuditScreen)))
                backs.append(keep("back", await back()))
        out["move"] = summary_ms(moves)
        out["page"] = summary_ms(pages)
        out["filter_key"] = summary_ms(filters)
        out["status_tab"] = summary_ms(tabs)
        out["sort"] = summary_ms(sorts)
        opened = [t for times in opens.values() for t in times]
        out["all"] = summary_ms(moves + pages + filters + tabs + sorts + opened + backs)
        if screens:
            for name, times in opens.items():
                out[f"open_{name}"] = summary_ms(times)
            out["back"] = summary_ms(backs)
        every = [pair for pairs in cpu_by_kind.values() for pair in pairs]
        out["cpu"] = {
            kind: {
                "loop": summary_ms([loop for loop, _ in pairs]),
                "process": summary_ms([proc for _, proc in pairs]),
            }
            for kind, pairs in [*cpu_by_kind.items(), ("all", every)]
        }
        if profile is not None:
            for kind, profiler in profilers.items():
                profiler.dump_stats(f"{profile}.{kind}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "symbi-bench-console",
        help="where the filled store is kept between runs (each run measures a fresh copy)",
    )
    parser.add_argument("--no-cache", action="store_true", help="fill a new store every time")
    parser.add_argument(
        "--no-paint",
        action="store_true",
        help="stop a key's clock when the widgets hold its result, before the frame is rendered",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="play the keys (20 moves, 3 pages, 8 filter keys, 3 tabs, 2 sorts) this many times",
    )
    parser.add_argument(
        "--gap",
        type=float,
        default=0.0,
        help="seconds between a key's answer and the next key (default: back to back, as a "
        "paste; cursor moves always wait 50 ms)",
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="print each key's time: until the screen changed, until its data was in, and the "
        "time spent collecting cycles in it",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="write a cProfile of the timed keys (only while a key is timed) to this file",
    )
    parser.add_argument(
        "--no-screens",
        action="store_true",
        help="only the jobs pane's keys (not Enter, h, :dlq, :audit and Escape back)",
    )
    args = parser.parse_args()
    now = "2026-03-02T08:00:10Z"
    with temp_dir() as tmp:
        path = tmp / "symbi.db"
        cached = args.cache / f"store-{args.jobs}-{args.runs}.db"
        if args.jobs >= SCALE_JOBS:
            # a million jobs: the store benchmarks/_scale.py builds once and caches (its own
            # jobs and runs), on a private copy with some jobs paused and dead-lettered
            from benchmarks._scale import copy_store, scale_store

            if args.no_cache or not cached.exists():
                print(f"the {args.jobs:,}-job, {args.runs:,}-run store of _scale.py", flush=True)
                copy_store(scale_store(args.jobs, runs=args.runs), path)
                started = time.perf_counter()
                _mix_statuses(path)
                print(f"statuses mixed in {time.perf_counter() - started:.1f} s", flush=True)
                if not args.no_cache:
                    args.cache.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, cached.with_suffix(".tmp"))
                    cached.with_suffix(".tmp").replace(cached)
            else:
                print(f"copying the cached store {cached}", flush=True)
        elif not args.no_cache and cached.exists():
            print(f"copying the cached store {cached}", flush=True)
        else:
            print(f"filling {args.jobs:,} jobs and {args.runs:,} runs ...", flush=True)
            fill_s = await fill(path, args.jobs, args.runs)
            print(f"filled in {fill_s:.1f} s", flush=True)
            if not args.no_cache:
                args.cache.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, cached.with_suffix(".tmp"))
                cached.with_suffix(".tmp").replace(cached)
        if not path.exists():
            # the console's scheduler writes to the store: measure a copy, keep the cache clean
            shutil.copyfile(cached, path)
        if args.jobs >= SCALE_JOBS:
            now = _clock_of(path)
        # the page cache as after a fill: read the file once
        with path.open("rb") as f:
            while f.read(1 << 24):
                pass
        print("measuring the console", flush=True)
        figures = await measure(
            path,
            paint=not args.no_paint,
            rounds=args.rounds,
            gap=args.gap,
            trace=args.trace,
            now=now,
            screens=not args.no_screens,
            profile=args.profile,
        )
    rows = [
        [name, f"{v['p50']:.1f}", f"{v['p99']:.1f}", f"{v['max']:.1f}", v["count"]]
        for name, v in figures.items()
        if isinstance(v, dict) and name != "cpu"
    ]
    print(f"\nfirst screen: {figures['first_screen_s'] * 1000:.0f} ms")
    print_table("key presses", rows, ["key", "p50 ms", "p99 ms", "max ms", "presses"], (1, 2, 3, 4))
    cpu_rows = [
        [
            kind,
            f"{v['loop']['p50']:.1f}",
            f"{v['loop']['p99']:.1f}",
            f"{v['process']['p50']:.1f}",
            f"{v['process']['p99']:.1f}",
        ]
        for kind, v in figures["cpu"].items()
    ]
    print_table(
        "CPU per key (event loop's thread; whole process)",
        cpu_rows,
        ["key", "loop p50", "loop p99", "process p50", "process p99"],
        (1, 2, 3, 4),
    )
    worst = max(v["max"] for k, v in figures.items() if isinstance(v, dict) and k != "cpu")
    targets = [
        Target("console first screen", figures["first_screen_s"] * 1000, 1000, "ms"),
        Target("console key press p99 (all keys)", figures["all"]["p99"], 50, "ms"),
        Target("console key press (worst of all)", worst, 50, "ms"),
    ]
    print_targets(targets)
    save_results(
        "console",
        {
            "machine": machine_info(),
            "jobs": args.jobs,
            "runs": args.runs,
            "paint": not args.no_paint,
            "rounds": args.rounds,
            "gap_s": args.gap,
            "figures": figures,
            "targets": [t.to_dict() for t in targets],
        },
    )
    print(json.dumps({"first_screen_ms": round(figures["first_screen_s"] * 1000)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
