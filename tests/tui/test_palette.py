"""The command palette (ctrl+p) lists the console's actions with their keys, as remapped, and
runs them as the key would: on the row under the cursor, or saying why not (issue 20)."""

from __future__ import annotations

from collections.abc import Callable

from textual.command import CommandList, CommandPalette

from scheduler_core.clock import FakeClock
from scheduler_core.engine import Engine
from scheduler_core.model import JobStatus
from scheduler_core.service import SchedulerService
from symbi_tui.app import SymbiApp
from symbi_tui.backend import LocalBackend
from symbi_tui.screens.approvals import ApprovalsScreen
from symbi_tui.screens.dead_letter import DeadLetterScreen
from symbi_tui.screens.main import MainScreen
from symbi_tui.screens.watch import WatchScreen

from .conftest import notified, until
from .test_main_screen import SIZE, loaded, select


def shown(app: SymbiApp) -> list[str]:
    """The titles the palette lists now."""
    options = app.screen.query_one(CommandList)
    prompts = (options.get_option_at_index(i).prompt for i in range(options.option_count))
    return [str(prompt).split("\n", 1)[0] for prompt in prompts]


async def search(app: SymbiApp, pilot: object, words: str) -> list[str]:
    await pilot.press("ctrl+p")  # type: ignore[attr-defined]
    await until(lambda: isinstance(app.screen, CommandPalette))
    await pilot.press(*words)  # type: ignore[attr-defined]
    await until(lambda: bool(app.screen.query_one(CommandList).option_count))
    await until(lambda: any(words.lower() in t.lower() for t in shown(app)))
    return shown(app)


async def test_the_palette_lists_every_action_with_its_key(
    make_app: Callable[..., SymbiApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        screen = app.screen
        titles = [command.title for command in app.get_system_commands(screen)]
        for title in (
            "Pause/Resume (p)",
            "Run now (r)",
            "Reset (^r)",
            "Run with input (R)",
            "Add (a)",
            "Edit (e)",
            "Delete (d)",
            "History (h)",
            "Approve (A)",
            "Deny (X)",
            "Filter (/)",
            "Help (?)",
            "Quit (q)",
            "Command palette: every action, searched by name (^p)",
            "Watch the selected job live (:watch)",
            "Run history of the selected job (:runs)",
            "Runs awaiting approval (:approvals)",
            "Dead-letter queue (:dlq)",
            "Audit log of the selected job (:audit)",
        ):
            assert title in titles, (title, titles)
        # and the palette shows them when searched
        assert "Pause/Resume (p)" in await search(app, pilot, "pause")


async def test_an_action_from_the_palette_acts_on_the_cursor_row(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "health-probe")
        await search(app, pilot, "pause/resume")
        await pilot.press("enter")
        await until(lambda: notified(app, "health-probe paused"))
        assert (await service.get_job("health-probe")).status is JobStatus.PAUSED
        assert (await service.get_job("daily-report")).status is JobStatus.ACTIVE
        # one that does not apply says why, as its key does
        await search(app, pilot, "reset")
        await pilot.press("enter")
        await until(lambda: notified(app, "reset brings back a failed or dead-lettered job"))
        # the views: watch the selected job, the dead-letter queue
        await search(app, pilot, "watch the selected")
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, WatchScreen))
        assert app.screen.job_ref == "health-probe"  # type: ignore[attr-defined]
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, MainScreen))
        await search(app, pilot, "dead-letter queue")
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, DeadLetterScreen))
        await search(app, pilot, "runs awaiting approval")
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, ApprovalsScreen))


async def test_a_remapped_key_shows_and_works_in_the_palette(
    engine: Engine, clock: FakeClock, service: SchedulerService
) -> None:
    assert engine.service is not None
    app = SymbiApp(
        LocalBackend(engine.service, engine.bus),
        clock=clock,
        refresh_interval=0.05,
        keymap={"job-pause": "u", "command-palette": "ctrl+k"},
    )
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert (
            "Pause/Resume (u)" in titles
            and "Command palette: every action, searched by name (^k)" in titles
        )
        await pilot.press("ctrl+k")  # the palette's own key, remapped
        await until(lambda: isinstance(app.screen, CommandPalette))
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, MainScreen))
        await pilot.press("u")
        await until(lambda: notified(app, "daily-report paused"))
