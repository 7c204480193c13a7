"""Regenerate the console screenshots in this directory (the README's images): one SVG per screen.

    .venv/bin/python screenshots/make_screenshots.py

Every screen is drawn at 120x36 (``<name>.svg``) and at 80x24 (``<name>-80x24.svg``, the size of
a plain SSH session) from a frozen scene on a fake clock, so the images only change when the
console does:

* the main screen, its help, its reset confirmation and its ``:`` command prompt run in the real
  :class:`~symbi_tui.app.SymbiApp` over the frozen demo (``tests/tui/demo_scene.py``: the
  ``--demo`` jobs after ten minutes);
* the other screens run alone in ``ScreenApp`` over the operations scene
  (``tests/tui/scenes.py``: the demo plus a heartbeat job, jobs awaiting approval and a delivery
  report, stopped at 08:59:50 with stable ids), set up exactly as the snapshot tests in
  ``tests/tui/test_screen_snapshots.py`` set them up.

Each image is checked for its screen's distinctive text; the script fails loudly if one is missing.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input

from symbi_tui.app import SymbiApp
from symbi_tui.screens.approvals import ApprovalsScreen
from symbi_tui.screens.audit import AuditScreen, AuditTable
from symbi_tui.screens.backfill import BackfillScreen
from symbi_tui.screens.command import CommandScreen
from symbi_tui.screens.confirm import ConfirmScreen
from symbi_tui.screens.dead_letter import DeadLetterScreen
from symbi_tui.screens.export import ExportScreen
from symbi_tui.screens.heartbeat import HeartbeatScreen, IterationsTable
from symbi_tui.screens.help import HelpScreen
from symbi_tui.screens.job_form import JobFormScreen
from symbi_tui.screens.main import MainScreen
from symbi_tui.screens.prompt import PromptScreen
from symbi_tui.screens.run_detail import RunDetailScreen
from symbi_tui.screens.run_history import RunHistoryScreen
from symbi_tui.screens.timeline import TimelineScreen
from symbi_tui.screens.watch import WatchScreen
from symbi_tui.widgets.jobs_table import JobsTable
from symbi_tui.widgets.run_history import RunHistory

# the scenes are the tests' own (tests/tui): the script runs from the repository's root
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.tui.demo_scene import build_scene
from tests.tui.scenes import OpsScene, ScreenApp, build_ops_scene

HERE = Path(__file__).resolve().parent
#: (columns, lines) -> what the file name ends with
SIZES: dict[tuple[int, int], str] = {(120, 36): "", (80, 24): "-80x24"}
DEMO_TITLE = "symbi-tui --demo"
OPS_TITLE = "symbi-tui"

Prepare = Callable[[Any, Pilot[None]], Awaitable[None]]


async def until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        if loop.time() > deadline:
            raise TimeoutError(f"the console did not get ready ({check.__name__})")
        await asyncio.sleep(0.02)


def still_cursors(app: App[Any]) -> None:
    """No blinking text cursor: it would be caught on or off at random."""
    for field in app.screen.query(Input):
        field.cursor_blink = False


# -- the main screen, in the real app over the frozen demo -------------------------------------


def showing(app: SymbiApp, job: str, runs: int) -> Callable[[], bool]:
    def check() -> bool:
        screen = app.screen
        if not isinstance(screen, MainScreen) or screen.health is None:
            return False
        history = screen.query_one(RunHistory)
        return (
            len(screen.query_one(JobsTable).row_keys()) == 6
            and screen.selected_job is not None
            and screen.selected_job.name == job
            and history.row_count == runs
        )

    return check


async def on_flaky_job(app: SymbiApp, pilot: Pilot[None]) -> None:
    await until(showing(app, "backup", 4))
    await pilot.press("down", "down")
    await until(showing(app, "flaky-job", 3))


async def main_screen(app: SymbiApp, pilot: Pilot[None]) -> None:
    await on_flaky_job(app, pilot)


async def help_screen(app: SymbiApp, pilot: Pilot[None]) -> None:
    await on_flaky_job(app, pilot)
    await pilot.press("question_mark")
    await until(lambda: isinstance(app.screen, HelpScreen))


async def reset_confirm(app: SymbiApp, pilot: Pilot[None]) -> None:
    await on_flaky_job(app, pilot)
    await pilot.press("ctrl+r")
    await until(lambda: isinstance(app.screen, ConfirmScreen))


async def command_prompt(app: SymbiApp, pilot: Pilot[None]) -> None:
    await on_flaky_job(app, pilot)
    await pilot.press("colon")
    await until(lambda: isinstance(app.screen, CommandScreen))
    await pilot.pause()
    still_cursors(app)


# -- the other screens, each alone over the operations scene (as in the snapshot tests) --------

ScreenFactory = Callable[[OpsScene], Awaitable[Callable[[], Screen[Any]]]]


def loaded(kind: type[Screen[Any]], also: Callable[[Any], bool] | None = None) -> Prepare:
    """Wait until the screen has its data (and ``also`` holds), cursor still."""

    async def wait(app: ScreenApp, pilot: Pilot[None]) -> None:
        def ready() -> bool:
            screen = app.screen
            return (
                isinstance(screen, kind)
                and getattr(screen, "loaded", True)
                and (also is None or also(screen))
            )

        await until(ready)
        still_cursors(app)
        await pilot.pause()

    return wait


def dead_letter_loaded() -> Prepare:
    return loaded(DeadLetterScreen, lambda s: s.query_one(RunHistory).row_count == 3)


async def dead_letter_reset(app: ScreenApp, pilot: Pilot[None]) -> None:
    await dead_letter_loaded()(app, pilot)
    await pilot.press("ctrl+r")
    await until(lambda: isinstance(app.screen, ConfirmScreen))
    await pilot.pause()


async def approve_reason(app: ScreenApp, pilot: Pilot[None]) -> None:
    await loaded(ApprovalsScreen)(app, pilot)
    await pilot.press("a")
    await until(lambda: isinstance(app.screen, PromptScreen))
    field = app.screen.query_one(Input)
    field.cursor_blink = False
    field.value = "change 4711 signed off"
    await pilot.pause()


async def backfill_preview(app: ScreenApp, pilot: Pilot[None]) -> None:
    await loaded(WatchScreen)(app, pilot)
    await pilot.press("B")
    await until(lambda: isinstance(app.screen, BackfillScreen))
    form = app.screen
    for field, value in zip(
        form.query(Input), ("2026-03-02T08:40", "2026-03-02T08:55"), strict=True
    ):
        field.cursor_blink = False
        field.value = value
    form.query_one("#backfill-from", Input).focus()
    await pilot.press("enter")
    await until(lambda: "instant(s)" in str(form.query_one("#backfill-list").content))
    await pilot.pause()


async def invalid_cron(app: ScreenApp, pilot: Pilot[None]) -> None:
    await loaded(JobFormScreen)(app, pilot)
    screen = app.screen
    assert isinstance(screen, JobFormScreen)
    for key, value in {
        "name": "nightly-etl",
        "agent": "etl-agent",
        "timezone": "Europe/London",
        "cron": "0 25 * * MON-FRI",
    }.items():
        field = screen.query_one(f"#field-{key}", Input)
        field.focus()
        await pilot.pause()
        field.value = value
    await pilot.pause()


def simply(make: Callable[[OpsScene], Screen[Any]]) -> ScreenFactory:
    async def factory(scene: OpsScene) -> Callable[[], Screen[Any]]:
        return lambda: make(scene)

    return factory


async def newest_run_detail(scene: OpsScene) -> Callable[[], Screen[Any]]:
    """The newest metrics-report run: delivered to stdout, failed on email (not configured)."""
    runs = await scene.service.history("metrics-report", limit=20)
    run = runs[0].id
    return lambda: RunDetailScreen(scene.backend, clock=scene.clock, run_id=run)


def new_job_form(scene: OpsScene) -> Screen[Any]:
    return JobFormScreen(
        scene.backend,
        clock=scene.clock,
        values={
            "name": "nightly-etl",
            "agent": "etl-agent",
            "cron": "30 1 * * *",
            "timezone": "Europe/London",
            "delivery": "log_file, slack",
            "slack_channel": "#etl",
            "require_approval": True,
            "approvers": "dba",
        },
    )


# -- the list of screenshots -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shot:
    name: str  #: the file is ``<name>.svg``
    prepare: Prepare  #: brings the console to the screen to draw
    expect: tuple[str, ...]  #: text that must be on the screen (one line of it each)
    screen: ScreenFactory | None = None  #: the screen alone in ScreenApp; None: the real app


SHOTS: list[Shot] = [
    Shot("main", main_screen, ("Jobs 6", "weekday-standup", "Runs of flaky-job · 3")),
    Shot("help", help_screen, ("▀ Keys ▀", "job-pause")),
    Shot("reset-confirm", reset_confirm, ("Reset flaky-job?", "Reset clears the failures")),
    Shot("command", command_prompt, ("─ command ─", ":watch NAME  :runs NAME  :dlq")),
    Shot(
        "watch",
        loaded(WatchScreen),
        ("system-monitor", "In flight · 1", "iteration 2 / 6"),
        simply(lambda s: WatchScreen(s.backend, clock=s.clock, job="system-monitor")),
    ),
    Shot(
        "heartbeat",
        loaded(HeartbeatScreen, lambda s: s.query_one(IterationsTable).row_count == 2),
        ("Heartbeat · system-monitor · iteration 2 / 6", "Iterations · 2"),
        simply(lambda s: HeartbeatScreen(s.backend, clock=s.clock, job="system-monitor")),
    ),
    Shot(
        "timeline",
        loaded(TimelineScreen),
        ("Timeline · next 24h", "● system-monitor"),
        simply(lambda s: TimelineScreen(s.backend, clock=s.clock)),
    ),
    Shot(
        "run-history",
        loaded(RunHistoryScreen, lambda s: s.query_one(RunHistory).row_count == 3),
        ("Runs of flaky-job · 3 runs · page 1", "upstream returned 503"),
        simply(lambda s: RunHistoryScreen(s.backend, clock=s.clock, job="flaky-job")),
    ),
    Shot(
        "run-detail",
        loaded(RunDetailScreen),
        ("of metrics-report", "smtp_host is not set"),
        newest_run_detail,
    ),
    Shot(
        "dead-letter",
        dead_letter_loaded(),
        ("Dead letter 1", "ctrl+r resets the selected job"),
        simply(lambda s: DeadLetterScreen(s.backend, clock=s.clock)),
    ),
    Shot(
        "dead-letter-reset",
        dead_letter_reset,
        ("Reset flaky-job?", "dead-lettered after 3 failure(s)"),
        simply(lambda s: DeadLetterScreen(s.backend, clock=s.clock)),
    ),
    Shot(
        "approvals",
        loaded(ApprovalsScreen),
        ("Awaiting approval 2", "production-deploy", "db-migration"),
        simply(lambda s: ApprovalsScreen(s.backend, clock=s.clock)),
    ),
    Shot(
        "approve-reason",
        approve_reason,
        ("Approve production-deploy?", "change 4711 signed off"),
        simply(lambda s: ApprovalsScreen(s.backend, clock=s.clock)),
    ),
    Shot(
        "backfill",
        backfill_preview,
        ("Backfill metrics-report", "instant(s)"),
        simply(lambda s: WatchScreen(s.backend, clock=s.clock, job="metrics-report")),
    ),
    Shot(
        "audit",
        loaded(AuditScreen, lambda s: s.query_one(AuditTable).row_count > 30),
        ("Audit 36", "CronRunAwaitingApproval"),
        simply(lambda s: AuditScreen(s.backend, clock=s.clock)),
    ),
    Shot(
        "export",
        loaded(ExportScreen, lambda s: s.text is not None),
        ("Export (DSL)", 'name: "flaky-job"'),
        simply(lambda s: ExportScreen(s.backend, clock=s.clock, names=["flaky-job"])),
    ),
    Shot(
        "job-form-invalid-cron",
        invalid_cron,
        ("0 25 * * MON-FRI", "hour value 25 out of range 0-23", "1 problem: cron"),
        simply(lambda s: JobFormScreen(s.backend, clock=s.clock)),
    ),
    Shot(
        "job-form-preview",
        loaded(JobFormScreen),
        ("At 01:30 every day", "Next 5 runs (Europe/London)", "ready to save"),
        simply(new_job_form),
    ),
]


# -- drawing and checking ----------------------------------------------------------------------

_TEXT = re.compile(
    r'<text class="[^"]*" x="([\d.]+)" y="[\d.]+" textLength="([\d.]+)"'
    r' clip-path="url\(#[\w-]+-line-(\d+)\)">(.*?)</text>'
)


def svg_lines(svg: str) -> list[str]:
    """The terminal's lines of text, read back from the SVG (spaces included)."""
    cells: dict[int, dict[int, str]] = {}
    for x, length, line, escaped in _TEXT.findall(svg):
        text = html.unescape(escaped).replace("\xa0", " ")
        width = float(length) / len(text)
        cells.setdefault(int(line), {})[round(float(x) / width)] = text
    lines = []
    for line in sorted(cells):
        row = ""
        for column, text in sorted(cells[line].items()):
            row = row.ljust(column) + text
        lines.append(row)
    return lines


def check(name: str, shot: Shot, svg: str, size: tuple[int, int]) -> None:
    lines = svg_lines(svg)
    if len(lines) < size[1] // 2:
        raise SystemExit(f"{name}: only {len(lines)} lines of text; is the screen blank?")
    missing = [text for text in shot.expect if not any(text in line for line in lines)]
    if missing:
        shown = "\n".join(lines)
        raise SystemExit(f"{name} does not show {missing!r}; it shows:\n{shown}")


async def draw(app: App[Any], shot: Shot, title: str, size: tuple[int, int]) -> str:
    async with app.run_test(size=size) as pilot:
        await shot.prepare(app, pilot)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        return app.export_screenshot(title=title)


async def shoot(shot: Shot, size: tuple[int, int]) -> Path:
    with tempfile.TemporaryDirectory(prefix="symbi-screens-") as tmp:
        if shot.screen is None:
            scene = await build_scene(Path(tmp) / "scene.db")
            try:
                app = SymbiApp(scene.backend, clock=scene.clock)
                svg = await draw(app, shot, DEMO_TITLE, size)
            finally:
                await scene.close()
        else:
            ops = await build_ops_scene(Path(tmp) / "ops.db")
            try:
                svg = await draw(ScreenApp(await shot.screen(ops)), shot, OPS_TITLE, size)
            finally:
                await ops.close()
    path = HERE / f"{shot.name}{SIZES[size]}.svg"
    check(path.name, shot, svg, size)
    path.write_text(svg, encoding="utf-8")
    return path


async def main() -> int:
    # metrics-report's email delivery fails on purpose (no SMTP host): keep its warnings quiet
    for name in ("scheduler_core.delivery", "symbi.scheduler"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for shot in SHOTS:
        for size in SIZES:
            print(await shoot(shot, size))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
