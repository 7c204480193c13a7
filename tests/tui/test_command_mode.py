"""``:`` command mode as in k9s (issue 20): Tab completes commands and job names (any job, not
only the rows shown), ↑/↓ walk the commands entered this session, and a command naming an
unknown job says so instead of opening an empty screen."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Input, Label

from scheduler_core.service import SchedulerService
from symbi_tui.app import SymbiApp
from symbi_tui.screens.command import CommandScreen
from symbi_tui.screens.dead_letter import DeadLetterScreen
from symbi_tui.screens.main import MainScreen
from symbi_tui.screens.run_history import RunHistoryScreen
from symbi_tui.screens.watch import WatchScreen

from .conftest import notified, until
from .test_main_screen import SIZE, loaded


def prompt(app: SymbiApp) -> Input:
    return app.screen.query_one("#command-input", Input)


async def open_prompt(app: SymbiApp, pilot: object) -> Input:
    await pilot.press("colon")  # type: ignore[attr-defined]
    await until(lambda: isinstance(app.screen, CommandScreen))
    return prompt(app)


async def test_tab_completes_the_command_then_the_job_name(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        # a job off the rows shown (filtered out) is still completed: names come from the store
        await pilot.press("slash", *"daily", "enter")
        await until(lambda: len(app.screen.query_one("#jobs").row_keys()) == 1)  # type: ignore[attr-defined]
        field = await open_prompt(app, pilot)
        await pilot.press("w", "a", "tab")
        await until(lambda: field.value == "watch ")
        await pilot.press("f", "tab")
        await until(lambda: field.value == "watch flaky-job")
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, WatchScreen))
        assert app.screen.job_ref == "flaky-job"  # type: ignore[attr-defined]


async def test_tab_accepts_the_suggestion_shown(make_app: Callable[..., SymbiApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        field = await open_prompt(app, pilot)
        await pilot.press(*"runs hea")
        await until(lambda: field._suggestion == "runs health-probe")  # the grey text
        await pilot.press("tab", "enter")
        await until(lambda: isinstance(app.screen, RunHistoryScreen))
        assert app.screen.job_ref == "health-probe"  # type: ignore[attr-defined]


async def test_tab_with_nothing_to_complete_says_so(make_app: Callable[..., SymbiApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        field = await open_prompt(app, pilot)
        await pilot.press(*"watch zz", "tab")
        hint = app.screen.query_one("#command-hint", Label)
        await until(lambda: "nothing to complete" in str(hint.content))
        assert field.value == "watch zz" and field.has_focus


async def test_up_and_down_walk_this_sessions_commands(make_app: Callable[..., SymbiApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        for command in ("dlq", "runs daily-report"):
            await open_prompt(app, pilot)
            await pilot.press(*command, "enter")
            await until(lambda: not isinstance(app.screen, CommandScreen | MainScreen))
            await pilot.press("escape")
            await until(lambda: isinstance(app.screen, MainScreen))
        field = await open_prompt(app, pilot)
        await pilot.press(*"aud")
        await pilot.press("up")
        assert field.value == "runs daily-report"
        await pilot.press("up")
        assert field.value == "dlq"
        await pilot.press("up")  # the oldest: it stays, and the prompt says why
        assert field.value == "dlq"
        hint = app.screen.query_one("#command-hint", Label)
        assert "no older command" in str(hint.content)
        await pilot.press("down", "down")
        assert field.value == "aud"  # back to what was being typed
        await pilot.press("up", "up", "enter")
        await until(lambda: isinstance(app.screen, DeadLetterScreen))


async def test_a_command_naming_an_unknown_job_opens_nothing(
    make_app: Callable[..., SymbiApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        for command in ("watch nosuchjob", "runs nosuchjob", "edit nosuchjob", "hb nosuchjob"):
            await open_prompt(app, pilot)
            await pilot.press(*command, "enter")
            await until(lambda: notified(app, "no job named 'nosuchjob'"))
            app.clear_notifications()
            await pilot.pause()
            assert isinstance(app.screen, MainScreen), command
        await open_prompt(app, pilot)
        await pilot.press(*"watch flaky-jb", "enter")  # a near miss names the job meant
        await until(lambda: notified(app, "did you mean flaky-job?"))
        assert isinstance(app.screen, MainScreen)
