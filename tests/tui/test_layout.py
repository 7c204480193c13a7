"""The console at 80x24 as well as wide, without colour and in 16 colours, through the real app.

Each test runs the screens an operator meets (the app over a real engine on a SQLite file and a
fake clock, or one screen over the operations scene) at the size or in the terminal it is about,
and checks what is on screen: the columns shown, the panes' sizes, the styles of the segments
drawn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from rich.color import ColorSystem
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Input, Sparkline, Static, Tab, Tabs

from scheduler_core.clock import FakeClock
from scheduler_core.engine import Engine
from scheduler_core.service import SchedulerService
from symbi_tui._textual_private import FooterKey
from symbi_tui.app import SymbiApp
from symbi_tui.screens.dead_letter import DeadLetterScreen, DeadLetterTable
from symbi_tui.screens.job_form import JobFormScreen
from symbi_tui.screens.main import MainScreen
from symbi_tui.screens.run_history import RunHistoryScreen
from symbi_tui.screens.watch import WatchScreen
from symbi_tui.widgets.jobs_table import JobsTable
from symbi_tui.widgets.run_history import RunHistory

from .conftest import LONG_ERROR, column_cells, move_clock, until
from .demo_scene import stable_ids
from .scenes import OpsScene, ScreenApp, build_ops_scene
from .test_main_screen import dead_letter_flaky_job, loaded, select

NARROW = (80, 24)
WIDE = (200, 50)


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[OpsScene]:
    built = await build_ops_scene(tmp_path / "ops.db")
    yield built
    await built.close()


async def shown(app: Any, kind: type[Screen[Any]]) -> Any:
    await until(lambda: isinstance(app.screen, kind) and getattr(app.screen, "loaded", True))
    return app.screen


def lines_of(widget: Widget) -> list[list[Segment]]:
    """The widget's lines as drawn, after the app's filters (NO_COLOR's among them)."""
    strips = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return [list(strip) for strip in strips]


def segments_with(widget: Widget, text: str) -> list[Segment]:
    return [seg for line in lines_of(widget) for seg in line if text in seg.text]


def fits(table: Widget) -> bool:
    """No column beyond the table's right edge (no horizontal scrolling to find one)."""
    return table.virtual_size.width <= table.scrollable_content_region.width


# --- 80x24: columns by priority --------------------------------------------------------------


async def test_a_failing_job_never_looks_healthy_at_80_columns(
    make_app: Callable[..., SymbiApp], engine: Engine, clock: FakeClock
) -> None:
    await dead_letter_flaky_job(engine, clock)
    app = make_app()
    async with app.run_test(size=NARROW):
        await loaded(app)
        table = app.screen.query_one(JobsTable)
        await until(lambda: "failures" in table.shown_columns and table.row_count == 3)
        rows = {cells["name"]: cells for cells in column_cells(table).values()}
        flaky = rows["flaky-job"]
        assert flaky["status"] == "✖ dead_letter"
        assert flaky["last"] == "✖ failed"
        assert flaky["failures"] == "1"
        assert rows["daily-report"]["next"] == "in 1d 0h"  # whole, not cut
        assert table.shown_columns == ["name", "status", "next", "last", "failures"]
        assert fits(table)


async def test_wider_terminals_show_more_columns(make_app: Callable[..., SymbiApp]) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await loaded(app)
        table = app.screen.query_one(JobsTable)
        await until(lambda: len(table.shown_columns) == 8)
        assert "agent" in table.shown_columns and "took" in table.shown_columns
        await pilot.resize_terminal(100, 30)
        await until(lambda: "agent" not in table.shown_columns)
        assert "schedule" in table.shown_columns and fits(table)
        await pilot.resize_terminal(*NARROW)
        await until(lambda: "schedule" not in table.shown_columns)
        assert table.row_count == 3 and fits(table)  # the rows came back in the new columns


async def test_every_status_tab_stays_in_view_at_80_columns(
    make_app: Callable[..., SymbiApp], engine: Engine, clock: FakeClock
) -> None:
    await dead_letter_flaky_job(engine, clock)
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await loaded(app)
        tabs = app.screen.query_one(Tabs)

        def labels() -> list[str]:
            return [str(tab.label) for tab in tabs.query(Tab)]

        await until(lambda: labels()[-1] == "7 Awaiting approval 0")
        await pilot.resize_terminal(*NARROW)
        await until(lambda: labels()[-1] == "7 Approval 0")
        assert labels()[3:5] == ["4 Dead 1", "5 Done 0"]
        await pilot.pause()
        last = list(tabs.query(Tab))[-1]
        assert last.region.right <= NARROW[0], (last.region, labels())
        await pilot.resize_terminal(*WIDE)
        await until(lambda: labels()[3] == "4 Dead letter 1")


async def test_the_run_history_keeps_the_error_and_cuts_it_at_a_word(
    make_app: Callable[..., SymbiApp], engine: Engine, clock: FakeClock, service: SchedulerService
) -> None:
    await service.update_job("flaky-job", {"agent": "gateway"})
    await move_clock(engine, clock, "2026-03-02T09:00:00Z")
    app = make_app()
    async with app.run_test(size=NARROW):
        await loaded(app)
        await select(app, "flaky-job")
        history = app.screen.query_one(RunHistory)
        await until(lambda: "flaky-job" in str(history.border_title) and history.row_count == 1)
        assert history.shown_columns == ["time", "trigger", "status", "output"]
        output = next(iter(column_cells(history).values()))["output"]
        assert output.endswith("…") and output.startswith("upstream returned 503")
        assert LONG_ERROR.startswith(output[:-1] + " ")  # cut where a word ends
        assert fits(history)


async def test_the_dead_letter_queue_shows_the_last_error_at_80_columns(scene: OpsScene) -> None:
    app = ScreenApp(lambda: DeadLetterScreen(scene.backend, clock=scene.clock))
    async with app.run_test(size=NARROW):
        screen = await shown(app, DeadLetterScreen)
        table = screen.query_one(DeadLetterTable)
        await until(lambda: table.row_count == 1)
        row = next(iter(column_cells(table).values()))
        assert (row["name"], row["fails"], row["error"]) == (
            "flaky-job",
            "3",
            "upstream returned 503",
        )
        assert fits(table)


# --- 80x24: the form, the watch screen, the footers ------------------------------------------


async def test_the_job_form_at_80x24_has_wide_inputs_short_errors_and_save_in_reach(
    scene: OpsScene,
) -> None:
    app = ScreenApp(lambda: JobFormScreen(scene.backend, clock=scene.clock))
    async with app.run_test(size=NARROW) as pilot:
        screen = await shown(app, JobFormScreen)
        name = screen.query_one("#field-name", Input)
        assert name.size.width >= 50, name.size
        cron = screen.query_one("#field-cron", Input)
        cron.focus()
        await pilot.pause()
        cron.value = "0 25 * * MON-FRI"
        error = screen.query_one("#error-cron", Static)
        await until(lambda: error.has_class("-shown") and error.size.height > 0)
        assert "hour value 25 out of range 0-23" in str(error.render())
        assert error.size.height <= 2, error.size  # (it took 18 lines beside the preview)
        # Save is at the end of the fields, which scroll to it; ctrl+s saves from anywhere
        save = screen.query_one("#form-save", Button)
        fields = screen.query_one("#form-fields")
        assert not fields.region.contains_region(save.region)  # below, to scroll to
        save.focus()
        await until(lambda: fields.region.contains_region(save.region))
        cron.value = "0 5 * * MON-FRI"
        for key, value in {"name": "nightly-etl", "agent": "etl-agent"}.items():
            screen.query_one(f"#field-{key}", Input).value = value
        await pilot.press("ctrl+s")

        async def saved() -> bool:
            page = await scene.service.list_jobs(text="nightly-etl")
            return page.total == 1

        await until(saved)


async def test_the_watch_screen_at_80x24_keeps_the_run_in_flight(scene: OpsScene) -> None:
    app = ScreenApp(lambda: WatchScreen(scene.backend, clock=scene.clock, job="system-monitor"))
    async with app.run_test(size=NARROW) as pilot:
        screen = await shown(app, WatchScreen)
        await pilot.pause()
        in_flight = screen.query_one("#watch-run")
        assert in_flight.size.height >= 5, in_flight.size
        text = str(screen.query_one("#watch-run-text", Static).render())
        assert "running · manual" in text and "iteration 2 / 6" in text
        definition = str(screen.query_one("#watch-definition", Static).render())
        assert "Policy" in definition and "no approval" in definition  # its pane is hidden


@pytest.mark.parametrize("view", ["watch", "runs", "dlq", "approvals", "audit"])
async def test_help_and_quit_stay_on_every_screens_footer_at_80x24(
    scene: OpsScene, view: str
) -> None:
    app = SymbiApp(scene.backend, clock=scene.clock)
    async with app.run_test(size=NARROW) as pilot:
        await until(lambda: isinstance(app.screen, MainScreen) and app.screen.loaded)
        app.open_view(view, "flaky-job" if view in ("watch", "runs") else None)
        await until(lambda: not isinstance(app.screen, MainScreen) and app.screen.is_attached)
        await pilot.pause()
        await pilot.pause()
        shown = {
            key.description: key.region
            for key in app.screen.query(FooterKey)
            if key.display and key.region.width
        }
        for description in ("Help", "Quit"):
            assert description in shown, sorted(shown)
            assert shown[description].right <= NARROW[0], (description, shown[description])


# --- legible without colour ------------------------------------------------------------------


async def test_no_color_keeps_failures_bold_and_reversed(
    monkeypatch: pytest.MonkeyPatch,
    make_app: Callable[..., SymbiApp],
    engine: Engine,
    clock: FakeClock,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    await dead_letter_flaky_job(engine, clock)
    app = make_app()
    assert app.no_color
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(app)
        await select(app, "flaky-job")
        history = app.screen.query_one(RunHistory)
        await until(lambda: "flaky-job" in str(history.border_title) and history.row_count == 1)
        await pilot.pause()
        table = app.screen.query_one(JobsTable)
        normal = segments_with(table, "daily-report")[0].style
        assert normal is not None
        for widget, text in (
            (table, "✖ dead_letter"),
            (table, "✖ failed"),
            (history, "✖ failed"),
            (history, "upstream returned 503"),
        ):
            found = segments_with(widget, text)
            assert found, (text, [s.text for line in lines_of(widget) for s in line])
            for segment in found:
                style = segment.style or Style()
                assert style.bold and style.reverse, (text, style)
                # reversed, the text's colour fills its cells: as light as normal text is
                assert style.color is not None and normal.color is not None
                assert _lightness(style.color) >= _lightness(normal.color), (style, normal)


def _lightness(color: Any) -> float:
    red, green, blue = color.get_truecolor()
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


async def test_no_color_keeps_errors_in_text_panes_emphasised(
    monkeypatch: pytest.MonkeyPatch, scene: OpsScene
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = ScreenApp(lambda: WatchScreen(scene.backend, clock=scene.clock, job="flaky-job"))
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await shown(app, WatchScreen)
        await pilot.pause()
        pane = screen.query_one("#watch-definition")
        found = segments_with(pane, "upstream returned 503")
        assert found
        assert all(seg.style and seg.style.bold and seg.style.reverse for seg in found)


async def test_no_color_keeps_form_errors_emphasised(
    monkeypatch: pytest.MonkeyPatch, scene: OpsScene
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = ScreenApp(lambda: JobFormScreen(scene.backend, clock=scene.clock))
    async with app.run_test(size=NARROW) as pilot:
        screen = await shown(app, JobFormScreen)
        cron = screen.query_one("#field-cron", Input)
        cron.focus()
        await pilot.pause()
        cron.value = "0 25 * * *"
        error = screen.query_one("#error-cron", Static)
        await until(lambda: error.has_class("-shown") and error.size.height > 0)
        await pilot.pause()
        found = segments_with(error, "hour value 25")
        assert found and all(s.style and s.style.bold and s.style.reverse for s in found)


async def test_unfocused_borders_stay_visible_in_16_colours(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[..., SymbiApp]
) -> None:
    monkeypatch.setenv("TERM", "xterm")
    for name in ("COLORTERM", "TEXTUAL_COLOR_SYSTEM", "NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    app = make_app()
    assert app.console.color_system == "standard"
    async with app.run_test(size=(120, 36)) as pilot:
        await loaded(app)
        await pilot.pause()
        runs = app.screen.query_one(RunHistory)  # not focused: the jobs pane is
        assert not runs.has_focus
        corner = lines_of(runs)[0][0]
        assert corner.text.startswith("╭")
        style = corner.style
        assert style is not None and style.color is not None and style.bgcolor is not None
        system = ColorSystem.STANDARD
        drawn = style.color.downgrade(system).number, style.bgcolor.downgrade(system).number
        assert drawn[0] != drawn[1], (style, drawn)


# --- what the panes say (issue 20, point 8) --------------------------------------------------


async def test_the_durations_chart_needs_two_runs(scene: OpsScene) -> None:
    for job, words, chart in (
        ("weekday-standup", "no finished runs yet", False),
        ("daily-report", "1 finished run", False),
        ("health-probe", "Durations of the last 9 runs", True),
    ):
        app = ScreenApp(lambda job=job: WatchScreen(scene.backend, clock=scene.clock, job=job))
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await shown(app, WatchScreen)
            await pilot.pause()
            pane = screen.query_one("#watch-durations")
            sparkline = screen.query_one(Sparkline)
            said = str(pane.border_title) + str(
                screen.query_one("#watch-durations-none", Static).render()
            )
            assert words in said, (job, said)
            assert sparkline.display is chart, job
            if chart:
                assert len(list(sparkline.data or [])) == 9


async def test_retries_are_numbered_from_one_and_runs_are_counted_alike(
    scene: OpsScene,
) -> None:
    """flaky-job ran three times (its schedule and two retries); system-monitor ran once and
    runs now: the main screen, the watch screen, the history and the dead-letter queue say so
    in the same words."""
    app = SymbiApp(scene.backend, clock=scene.clock)
    async with app.run_test(size=(120, 36)) as pilot:
        main = await shown(app, MainScreen)
        table = main.query_one(JobsTable)
        history = main.query_one(RunHistory)
        await until(lambda: table.row_count > 5)
        for job, tally in (("flaky-job", "3 runs"), ("system-monitor", "1 run · 1 in flight")):
            names = [cells["name"] for cells in column_cells(table).values()]
            table.move_cursor(row=names.index(job))
            title = f"Runs of [b]{job}[/b] · {tally}"
            await until(lambda title=title: str(history.border_title) == title)

            app.open_view("watch", job)
            watch = await shown(app, WatchScreen)
            await pilot.pause()
            assert tally in str(watch.query_one("#watch-definition", Static).render())
            app.open_view("runs", job)
            pane = (await shown(app, RunHistoryScreen)).query_one(RunHistory)
            await until(lambda pane=pane: pane.row_count > 0)
            await pilot.pause()
            assert f"· {tally} ·" in str(pane.border_title)
            if job == "flaky-job":
                triggers = [cells["trigger"] for cells in column_cells(pane).values()]
                assert triggers == ["retry #2", "retry #1", "schedule"]
                app.open_view("dlq")
                recent = (await shown(app, DeadLetterScreen)).query_one(RunHistory)
                await until(lambda recent=recent: "· 3 runs" in str(recent.border_title))
            app.open_view("jobs")
            await until(lambda: app.screen is main)


async def test_runs_are_listed_newest_first_by_when_they_started(
    make_app: Callable[..., SymbiApp], engine: Engine, clock: FakeClock, service: SchedulerService
) -> None:
    """A run parked for approval starts when it is approved: after a run created later."""
    await service.add_job(
        {
            "name": "deploy",
            "agent": "reporter",
            "cron": "*/5 * * * *",
            "max_concurrent": 2,
            "policy": {"require_approval": True},
        }
    )
    await move_clock(engine, clock, "2026-03-02T09:00:00Z")
    await move_clock(engine, clock, "2026-03-02T09:05:00Z")
    first = (await service.history("deploy", limit=10))[-1]
    await move_clock(engine, clock, "2026-03-02T09:06:00Z")
    await service.approve(first.id)
    await move_clock(engine, clock, "2026-03-02T09:06:00Z")
    app = make_app()
    async with app.run_test(size=(120, 36)):
        await loaded(app, count=4)
        await select(app, "deploy")
        history = app.screen.query_one(RunHistory)
        await until(lambda: history.row_count == 2)
        times = [cells["time"] for cells in column_cells(history).values()]
        assert times == ["03-02 09:06:00", "03-02 09:05:00"], times
        assert history.row_keys()[0] == first.id


async def test_runs_started_together_have_different_short_ids(
    make_app: Callable[..., SymbiApp], clock: FakeClock, service: SchedulerService
) -> None:
    await service.update_job("health-probe", {"max_concurrent": 3})
    with stable_ids(clock):  # ids from the fake clock: three runs in one millisecond
        for _ in range(3):
            await service.run_now("health-probe")
    app = make_app()
    async with app.run_test(size=WIDE):  # (ids this long need the room: narrower, they go)
        await loaded(app)
        await select(app, "health-probe")
        history = app.screen.query_one(RunHistory)
        await until(lambda: history.row_count == 3)
        shown_ids = {key: cells["run"] for key, cells in column_cells(history).items()}
        assert len(set(shown_ids.values())) == 3, shown_ids
        for run_id, short in shown_ids.items():
            assert run_id.startswith(short) and len(short) >= 12
