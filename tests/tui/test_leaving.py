"""Leaving without losing anything by accident (issue 20): q and ctrl+c quit at once unless a
form holds unsaved input or the console's own scheduler has runs it would interrupt or leave
waiting; Esc asks before throwing a filled form away; a Tab typed in one burst with text moves
to the next field and nothing typed is lost."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual import events
from textual.widgets import Input

from scheduler_core.service import SchedulerService
from symbi_tui.app import SymbiApp
from symbi_tui.screens.confirm import ConfirmScreen, QuitScreen
from symbi_tui.screens.job_form import JobFormScreen
from symbi_tui.screens.main import MainScreen

from .conftest import until
from .test_main_screen import SIZE, loaded, select


def field(app: SymbiApp, key: str) -> Input:
    return app.screen.query_one(f"#field-{key}", Input)


async def open_form(app: SymbiApp, pilot: object, key: str = "a") -> JobFormScreen:
    await pilot.press(key)  # type: ignore[attr-defined]
    await until(lambda: isinstance(app.screen, JobFormScreen) and app.screen.unsaved == "")
    await until(lambda: app.screen.focused is not None)
    screen = app.screen
    assert isinstance(screen, JobFormScreen)
    return screen


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
async def test_quit_is_at_once_when_nothing_would_be_lost(
    make_app: Callable[..., SymbiApp], key: str
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await pilot.press(key)
        await until(lambda: not app.is_running)


async def _waiting_run(service: SchedulerService) -> None:
    await service.add_job(
        {
            "name": "deploy",
            "agent": "reporter",
            "cron": "0 0 * * 0",
            "policy": {"require_approval": True},
        }
    )
    await service.run_now("deploy")


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
async def test_quit_asks_when_the_embedded_scheduler_has_runs_waiting(
    make_app: Callable[..., SymbiApp], service: SchedulerService, key: str
) -> None:
    await _waiting_run(service)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, count=4)
        await pilot.press(key)
        await until(lambda: isinstance(app.screen, QuitScreen))
        message = str(app.screen.query_one("#message").render())
        assert "1 run awaiting approval" in message
        await pilot.press("n")  # stays
        await until(lambda: isinstance(app.screen, MainScreen))
        assert app.is_running
        await pilot.press(key)
        await until(lambda: isinstance(app.screen, QuitScreen))
        await pilot.press(key)  # the same key again: quit
        await until(lambda: not app.is_running)


async def test_quit_over_a_filled_form_asks_and_y_quits(
    make_app: Callable[..., SymbiApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await open_form(app, pilot)
        await pilot.press(*"nightly")
        await pilot.press("ctrl+c")
        await until(lambda: isinstance(app.screen, QuitScreen))
        assert "the new job's unsaved input" in str(app.screen.query_one("#message").render())
        await pilot.press("y")
        await until(lambda: not app.is_running)


async def test_escape_on_a_filled_form_asks_before_discarding(
    make_app: Callable[..., SymbiApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        form = await open_form(app, pilot)
        await pilot.press(*"nightly")
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # keep editing: nothing lost
        await until(lambda: app.screen is form)
        assert field(app, "name").value == "nightly"
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(lambda: isinstance(app.screen, MainScreen))
        # an untouched form closes at once
        await open_form(app, pilot)
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, MainScreen))


async def test_escape_on_an_edited_job_asks_and_an_unchanged_one_closes(
    make_app: Callable[..., SymbiApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "daily-report")
        await open_form(app, pilot, "e")
        await until(lambda: field(app, "name").value == "daily-report")
        await pilot.press("escape")  # nothing changed
        await until(lambda: isinstance(app.screen, MainScreen))
        await open_form(app, pilot, "e")
        await until(lambda: field(app, "name").value == "daily-report")
        await pilot.press("x")
        assert app.screen.unsaved == "the unsaved changes to daily-report"  # type: ignore[attr-defined]
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, ConfirmScreen))


async def test_a_tab_typed_in_one_burst_moves_to_the_next_field(
    make_app: Callable[..., SymbiApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await open_form(app, pilot)
        # one write from a paste or a fast typist: the driver posts its keys back to back
        for character in "nightly\treporter\t0 3 * * *":
            key = {"\t": "tab", " ": "space"}.get(character, character)
            app.post_message(events.Key(key, character))
        await until(lambda: field(app, "cron").value == "0 3 * * *")
        assert field(app, "name").value == "nightly"
        assert field(app, "agent").value == "reporter"
