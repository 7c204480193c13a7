"""The main screen driven by keys through Pilot, against a real engine on a fake clock."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from textual import events

from scheduler_core.clock import FakeClock
from scheduler_core.engine import Engine
from scheduler_core.model import JobStatus, RunStatus, RunTrigger
from scheduler_core.service import SchedulerService
from symbi_tui.app import SymbiApp
from symbi_tui.backend import LocalBackend
from symbi_tui.screens.confirm import ConfirmScreen
from symbi_tui.screens.help import HelpScreen
from symbi_tui.screens.main import MainScreen
from symbi_tui.widgets.jobs_table import JobsTable
from symbi_tui.widgets.run_history import RunHistory

from .conftest import column_cells, move_clock, settle, table_rows, until

SIZE = (120, 36)


def jobs_table(app: SymbiApp) -> JobsTable:
    return app.screen.query_one(JobsTable)


def names(app: SymbiApp) -> list[str]:
    return [cells[0] for cells in table_rows(jobs_table(app)).values()]


def column_of(app: SymbiApp, name: str, column: str) -> str:
    """The text of ``column`` (a column key) in ``name``'s row."""
    for cells in column_cells(jobs_table(app)).values():
        if cells["name"] == name:
            return cells[column]
    raise AssertionError(f"{name} is not in the jobs table")


def row_of(app: SymbiApp, name: str) -> list[str]:
    for cells in table_rows(jobs_table(app)).values():
        if cells[0] == name:
            return cells
    raise AssertionError(f"{name} is not in the jobs table")


async def loaded(app: SymbiApp, count: int = 3) -> None:
    await until(lambda: isinstance(app.screen, MainScreen) and len(names(app)) == count)


async def select(app: SymbiApp, name: str) -> None:
    table = jobs_table(app)
    table.move_cursor(row=names(app).index(name))
    screen = app.screen
    assert isinstance(screen, MainScreen)
    await until(lambda: screen.selected_job is not None and screen.selected_job.name == name)


async def dead_letter_flaky_job(engine: Engine, clock: FakeClock) -> None:
    """flaky-job's agent always fails and it allows one attempt: at 09:00 it is dead-lettered."""
    await move_clock(engine, clock, "2026-03-02T09:00:00Z")


async def test_jobs_table_shows_jobs_with_status_words_and_countdowns(
    make_app: Callable[..., SymbiApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE):
        await loaded(app)
        assert names(app) == ["daily-report", "flaky-job", "health-probe"]
        daily = row_of(app, "daily-report")
        assert daily[1:5] == ["reporter", "0 9 * * *", "● active", "in 30s"]
        assert daily[5] == "never"
        assert "● 3 active" in str(jobs_table(app).border_title)


async def test_live_events_update_rows_in_place(
    make_app: Callable[..., SymbiApp], engine: Engine, clock: FakeClock
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE):
        await loaded(app)
        keys_before = jobs_table(app).row_keys()
        await dead_letter_flaky_job(engine, clock)
        await until(lambda: row_of(app, "flaky-job")[3] == "✖ dead_letter")
        await until(lambda: row_of(app, "daily-report")[5].startswith("✔ succeeded"))
        assert row_of(app, "flaky-job")[5].startswith("✖ failed")
        assert column_of(app, "flaky-job", "failures") == "1"
        assert row_of(app, "daily-report")[4] == "in 1d 0h"  # the countdown follows the clock
        assert (
            jobs_table(app).row_keys() == keys_before
        )  # same rows, same keys: updated, not refilled
        title = str(jobs_table(app).border_title)
        assert "● 2 active" in title and "✖ 1 dead_letter" in title


async def test_p_pauses_then_resumes_the_selected_job(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "daily-report")
        await pilot.press("p")

        async def paused() -> bool:
            return (await service.get_job("daily-report")).status is JobStatus.PAUSED

        await until(paused)
        await until(lambda: row_of(app, "daily-report")[3] == "‖ paused")
        assert row_of(app, "daily-report")[4] == "—"

        await pilot.press("p")

        async def active() -> bool:
            return (await service.get_job("daily-report")).status is JobStatus.ACTIVE

        await until(active)
        await until(lambda: row_of(app, "daily-report")[3] == "● active")
        audit = await service.audit(job="daily-report")
        assert {e.actor for e in audit if e.type.value.startswith("CronJob")} >= {"tui"}


async def test_r_queues_a_manual_run_that_shows_in_history(
    make_app: Callable[..., SymbiApp], service: SchedulerService, engine: Engine
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "health-probe")
        await pilot.press("r")

        async def manual_run() -> bool:
            runs = await service.history("health-probe")
            return any(r.trigger is RunTrigger.MANUAL for r in runs)

        await until(manual_run)
        await settle(engine)
        runs = await service.history("health-probe")
        assert [(r.trigger, r.status) for r in runs] == [(RunTrigger.MANUAL, RunStatus.SUCCEEDED)]
        history = app.screen.query_one(RunHistory)
        await until(
            lambda: (
                [(c["trigger"], c["status"]) for c in column_cells(history).values()]
                == [("manual", "✔ succeeded")]
            )
        )
        newest = next(iter(column_cells(history).values()))
        assert newest["output"] == "all endpoints healthy"


async def test_ctrl_r_asks_first_and_cancel_is_focused(
    make_app: Callable[..., SymbiApp],
    service: SchedulerService,
    engine: Engine,
    clock: FakeClock,
) -> None:
    await dead_letter_flaky_job(engine, clock)
    assert (await service.get_job("flaky-job")).status is JobStatus.DEAD_LETTER
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "flaky-job")

        await pilot.press("ctrl+r")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.press("enter")  # Enter on the focused Cancel button
        await until(lambda: isinstance(app.screen, MainScreen))
        await pilot.pause()
        assert (await service.get_job("flaky-job")).status is JobStatus.DEAD_LETTER

        await pilot.press("ctrl+r")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("tab", "enter")  # move to Reset, confirm

        async def reset() -> bool:
            return (await service.get_job("flaky-job")).status is JobStatus.ACTIVE

        await until(reset)
        job = await service.get_job("flaky-job")
        assert job.failure_count == 0
        await until(lambda: row_of(app, "flaky-job")[3] == "● active")


async def test_slash_filters_rows_and_shows_the_filter_in_the_title(
    make_app: Callable[..., SymbiApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await pilot.press("slash", *"report")
        await until(lambda: names(app) == ["daily-report"])
        assert '/ "report"' in str(jobs_table(app).border_title)
        assert "1 of 1" not in str(jobs_table(app).border_title)
        await pilot.press("enter")  # keep the filter, back to the table
        assert app.focused is jobs_table(app)
        await pilot.press("p")  # keys act on the filtered selection again
        await until(lambda: row_of(app, "daily-report")[3] == "‖ paused")
        await pilot.press("escape")  # drop the filter
        await until(lambda: len(names(app)) == 3)
        assert 'report"' not in str(jobs_table(app).border_title)


async def test_keys_typed_in_one_burst_with_slash_go_to_the_filter(
    make_app: Callable[..., SymbiApp],
) -> None:
    """A paste or a fast typist: the keys are queued before focus can move to the prompt."""
    app = make_app()
    async with app.run_test(size=SIZE):
        await loaded(app)
        for character in "/daily":
            app.post_message(events.Key("slash" if character == "/" else character, character))
        await until(lambda: names(app) == ["daily-report"])
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert screen.filter_text == "daily"


@pytest.mark.parametrize("leave", ["enter", "escape"])
async def test_a_key_typed_right_after_leaving_the_filter_goes_to_the_table(
    make_app: Callable[..., SymbiApp], leave: str
) -> None:
    """``/daily`` Enter ``p`` (or Escape ``p``) in one burst: the ``p`` is queued for the prompt
    before the prompt has handled Enter, and must still pause the selected job, not be typed."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await pilot.press("slash", *"daily")
        await until(lambda: names(app) == ["daily-report"])
        app.post_message(events.Key(leave, None))
        app.post_message(events.Key("p", "p"))
        await until(lambda: row_of(app, "daily-report")[3] == "‖ paused", seconds=5)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert screen.filter_text == ("daily" if leave == "enter" else "")
        assert screen.focused is jobs_table(app)


async def test_filter_matches_agents_and_can_match_nothing(
    make_app: Callable[..., SymbiApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await pilot.press("slash", *"prober")
        await until(lambda: names(app) == ["health-probe"])
        await pilot.press(*"-nope")
        await until(lambda: names(app) == [])
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert screen.selected_job is None
        await pilot.press("p")  # typed into the filter, not an action
        await pilot.press("escape")
        await until(lambda: len(names(app)) == 3)


async def test_readonly_hides_and_refuses_mutating_keys(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app(readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        keys = set(app.screen.active_bindings)
        assert {"p", "r", "ctrl+r"}.isdisjoint(keys)
        assert {"slash", "question_mark", "q"} <= keys
        await pilot.press("p", "r")
        await pilot.pause()
        job = await service.get_job("daily-report")
        assert job.status is JobStatus.ACTIVE
        assert await service.history("daily-report") == []


async def test_action_errors_become_notifications(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    # a refresh interval this long means the table is not refreshed behind the test's back
    app = make_app(refresh_interval=60)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "daily-report")
        await pilot.pause()
        # another front end removes the job; the console has not refreshed yet
        await service.remove_job("daily-report")
        await pilot.press("r")
        await until(lambda: any("No job" in str(n.message) for n in app._notifications))
        assert [n.severity for n in app._notifications] == ["error"]
        # ... and the console then reloads, so the stale row goes away
        await until(lambda: "daily-report" not in names(app))


async def test_question_mark_lists_bindings_with_their_ids(
    make_app: Callable[..., SymbiApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await pilot.press("question_mark")
        await until(lambda: isinstance(app.screen, HelpScreen))
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        ids = {row.binding_id for row in screen._rows}
        assert {"job-pause", "job-run", "job-reset", "jobs-filter", "help", "quit"} <= ids
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, MainScreen))


async def test_keymap_remaps_a_binding_by_id(engine: Engine, clock: FakeClock) -> None:
    assert engine.service is not None
    app = SymbiApp(
        LocalBackend(engine.service, engine.bus),
        clock=clock,
        refresh_interval=0.05,
        keymap={"job-pause": "space"},
    )
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "daily-report")
        assert "space" in app.screen.active_bindings and "p" not in app.screen.active_bindings
        await pilot.press("space")
        await until(lambda: row_of(app, "daily-report")[3] == "‖ paused")


async def test_theme_from_config_and_a_bad_name_is_only_a_warning(
    engine: Engine, clock: FakeClock
) -> None:
    assert engine.service is not None
    backend = LocalBackend(engine.service, engine.bus)
    app = SymbiApp(backend, clock=clock, theme="nord")
    async with app.run_test(size=SIZE):
        await loaded(app)
        assert app.theme == "nord"
    app = SymbiApp(backend, clock=clock, theme="no-such-theme")
    async with app.run_test(size=SIZE):
        await loaded(app)
        assert any("no-such-theme" in str(n.message) for n in app._notifications)


async def test_q_quits(make_app: Callable[..., SymbiApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await pilot.press("q")
        await until(lambda: not app.is_running)


async def test_a_change_made_by_another_process_reaches_the_embedded_console(
    make_app: Callable[..., SymbiApp], engine: Engine, tmp_path: Path
) -> None:
    """`symbi cron pause` in another process, beside a console that embeds the engine and has
    no API: the console shows the job paused within 2 s (it heard nothing of it before)."""
    app = make_app()
    async with app.run_test(size=SIZE):
        await loaded(app)
        assert row_of(app, "health-probe")[3] == "● active"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYMBI_")}
        env.update(SYMBI_DB=str(tmp_path / "symbi.db"), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "symbi_tui.cli.symbi",
            "cron",
            "pause",
            "health-probe",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, (out, err)
        assert (await engine.store.get_job_by_name("health-probe")).status is JobStatus.PAUSED
        await until(lambda: row_of(app, "health-probe")[3] == "‖ paused", seconds=2)
        assert row_of(app, "daily-report")[3] == "● active"


async def test_a_missed_one_shot_and_its_skipped_run_show_as_such(
    make_app: Callable[..., SymbiApp], service: SchedulerService, engine: Engine, clock: FakeClock
) -> None:
    """A one-shot whose instant passed while nothing could run it ends ``missed``, its record
    ``skipped``: never shown as completed or succeeded."""
    await service.add_job(
        {
            "name": "deploy-once",
            "agent": "reporter",
            "at": "2026-03-02T09:00:00Z",
            "catch_up": "skip",
        }
    )
    await move_clock(engine, clock, "2026-03-02T11:00:00Z")  # two hours late: a misfire, skipped
    assert (await service.get_job("deploy-once")).status is JobStatus.MISSED
    app = make_app()
    async with app.run_test(size=SIZE):
        await loaded(app, count=4)
        row = row_of(app, "deploy-once")
        assert row[3] == "⊘ missed" and row[5] == "↷ skipped", row
        await select(app, "deploy-once")
        history = app.screen.query_one(RunHistory)
        await until(lambda: [c["status"] for c in column_cells(history).values()] == ["↷ skipped"])
