"""Triage you can discover (issue 20): dialogs that take y/n and say so, keys that say why they
do nothing, the tabs following an action, and a help that lists every key and command."""

from __future__ import annotations

import io
from collections.abc import Callable

from rich.console import Console
from textual.widgets import Button, Static, Tab, Tabs

from scheduler_core.clock import FakeClock
from scheduler_core.engine import Engine
from scheduler_core.model import JobStatus
from scheduler_core.service import SchedulerService
from symbi_tui._textual_private import FooterKey
from symbi_tui.app import SymbiApp
from symbi_tui.screens.confirm import ConfirmScreen
from symbi_tui.screens.help import HelpScreen
from symbi_tui.screens.prompt import PromptScreen

from .conftest import notified, until
from .test_main_screen import SIZE, dead_letter_flaky_job, jobs_table, loaded, names, select


def text_of(static: Static) -> str:
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(static.content)
    return console.export_text()


async def test_reset_from_the_dead_letter_tab_with_y_and_the_tab_follows(
    make_app: Callable[..., SymbiApp],
    engine: Engine,
    clock: FakeClock,
    service: SchedulerService,
) -> None:
    await dead_letter_flaky_job(engine, clock)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await pilot.press("4")  # the Dead letter tab
        await until(lambda: names(app) == ["flaky-job"])
        await pilot.press("ctrl+r")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        labels = [str(b.label) for b in app.screen.query(Button)]
        assert labels == ["Cancel [n]", "Reset [y]"]
        await pilot.press("y")
        await until(lambda: notified(app, "flaky-job is active again"))
        assert (await service.get_job("flaky-job")).status is JobStatus.ACTIVE
        await until(lambda: names(app) == [])  # it left the Dead letter tab


async def test_n_cancels_a_confirmation(
    make_app: Callable[..., SymbiApp], engine: Engine, clock: FakeClock, service: SchedulerService
) -> None:
    await dead_letter_flaky_job(engine, clock)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "flaky-job")
        await pilot.press("ctrl+r")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(lambda: notified(app, "flaky-job stays dead-lettered"))
        assert (await service.get_job("flaky-job")).status is JobStatus.DEAD_LETTER


async def test_a_key_that_does_not_apply_says_why(make_app: Callable[..., SymbiApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "daily-report")
        await pilot.press("ctrl+r")  # an active job: nothing to reset
        await until(lambda: notified(app, "reset brings back a failed or dead-lettered job"))
        await pilot.press("right_square_bracket")  # one page only
        await until(lambda: notified(app, "this is the last page of jobs"))


async def test_help_lists_enter_and_the_colon_commands(make_app: Callable[..., SymbiApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await pilot.press("question_mark")
        await until(lambda: isinstance(app.screen, HelpScreen))
        keys = text_of(app.screen.query_one("#help-keys", Static))
        commands = text_of(app.screen.query_one("#help-commands", Static))
        assert "enter" in keys and "watch it live" in keys
        assert ":watch NAME" in commands and ":dlq" in commands and ":approvals" in commands


async def test_tabs_show_their_keys(make_app: Callable[..., SymbiApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE):
        await loaded(app)
        tabs = app.screen.query_one(Tabs)
        await until(lambda: str(tabs.query_one("#tab-dead_letter", Tab).label) == "4 Dead letter 0")
        assert str(tabs.query_one("#tab-all", Tab).label) == "1 All 3"


async def test_the_header_counts_runs_awaiting_approval(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    await service.add_job(
        {
            "name": "production-deploy",
            "agent": "reporter",
            "cron": "0 0 * * 0",
            "policy": {"require_approval": True},
        }
    )
    await service.run_now("production-deploy")
    app = make_app()
    async with app.run_test(size=SIZE):
        await loaded(app, count=4)
        summary = app.screen.query_one("#health-summary", Static)
        await until(lambda: "1 awaiting approval" in str(summary.render()))


async def test_k9s_keys_move_through_the_jobs(make_app: Callable[..., SymbiApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        table = jobs_table(app)
        moves = [("j", 1), ("j", 2), ("k", 1), ("G", 2), ("g", 0), ("end", 2), ("home", 0)]
        for key, row in moves:
            await pilot.press(key)
            assert table.cursor_row == row, key
        await pilot.press("ctrl+d")
        assert table.cursor_row == 2


async def test_ctrl_c_quits(make_app: Callable[..., SymbiApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await pilot.press("ctrl+c")
        await until(lambda: not app.is_running)


async def test_approve_and_deny_from_the_jobs_row(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    for name in ("deploy-a", "deploy-b"):
        await service.add_job(
            {
                "name": name,
                "agent": "reporter",
                "cron": "0 0 * * 0",
                "policy": {"require_approval": True},
            }
        )
        await service.run_now(name)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, count=5)
        await select(app, "daily-report")
        await pilot.press("A")  # nothing of daily-report's awaits approval
        await until(lambda: notified(app, "daily-report has no run awaiting approval"))
        await select(app, "deploy-a")
        await pilot.press("A")
        await until(lambda: isinstance(app.screen, PromptScreen))
        await pilot.press("enter")
        await until(lambda: notified(app, "deploy-a approved"))
        await select(app, "deploy-b")
        await pilot.press("X")
        await until(lambda: isinstance(app.screen, PromptScreen))
        await pilot.press("enter")
        await until(lambda: notified(app, "deploy-b denied"))
    waiting = await service.pending_approvals()
    assert waiting == []


async def test_the_footer_shows_help_and_quit_at_80x24(make_app: Callable[..., SymbiApp]) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app)
        await pilot.pause()
        shown = {
            key.description: key.region
            for key in app.screen.query(FooterKey)
            if key.display and key.region.width
        }
        for description in ("Help", "Quit"):
            assert description in shown, sorted(shown)
            assert shown[description].right <= 80, (description, shown[description])
            for other, region in shown.items():  # not drawn over by another key
                if other != description:
                    assert not region.overlaps(shown[description]), (description, other)
