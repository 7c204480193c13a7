"""What a key acts on is decided when the key arrives (issue 20).

Keys read from one write (a fast typist, a paste, a laggy SSH link) reach the app back to back:
``Down Down p`` must pause the job the cursor is on after the two Downs, however many messages
are still queued behind the cursor's move.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual import events

from scheduler_core.clock import FakeClock
from scheduler_core.engine import Engine
from scheduler_core.model import JobStatus, RunTrigger
from scheduler_core.service import SchedulerService
from symbi_tui.app import SymbiApp
from symbi_tui.screens.confirm import ConfirmScreen
from symbi_tui.screens.job_form import JobFormScreen
from symbi_tui.screens.main import MainScreen
from symbi_tui.screens.run_history import RunHistoryScreen

from .conftest import until
from .test_main_screen import SIZE, dead_letter_flaky_job, jobs_table, loaded, names


def burst(app: SymbiApp, *keys: str) -> None:
    """Post ``keys`` as the driver posts keys read in one write: back to back, no waiting."""
    for key in keys:
        character = " " if key == "space" else (key if len(key) == 1 else None)
        app.post_message(events.Key(key, character))


async def at_top(app: SymbiApp) -> MainScreen:
    await loaded(app)
    screen = app.screen
    assert isinstance(screen, MainScreen)
    assert names(app) == ["daily-report", "flaky-job", "health-probe"]
    await until(
        lambda: screen.selected_job is not None and screen.selected_job.name == "daily-report"
    )
    return screen


async def test_p_pauses_the_row_the_cursor_reached(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE):
        await at_top(app)
        burst(app, "down", "down", "p")
        await until(lambda: jobs_table(app).selected_key is not None)
        await until(
            lambda: any("health-probe paused" in str(n.message) for n in app._notifications)
        )
        assert (await service.get_job("health-probe")).status is JobStatus.PAUSED
        assert (await service.get_job("daily-report")).status is JobStatus.ACTIVE


async def test_r_runs_the_row_the_cursor_reached(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE):
        await at_top(app)
        burst(app, "down", "down", "r")

        async def manual_runs(name: str) -> int:
            runs = await service.history(name)
            return sum(run.trigger is RunTrigger.MANUAL for run in runs)

        await until(lambda: manual_runs("health-probe"))
        assert await manual_runs("daily-report") == 0
        assert await manual_runs("flaky-job") == 0


@pytest.mark.parametrize(("key", "kind"), [("e", JobFormScreen), ("h", RunHistoryScreen)])
async def test_drill_down_keys_open_the_row_the_cursor_reached(
    make_app: Callable[..., SymbiApp], key: str, kind: type
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE):
        await at_top(app)
        burst(app, "down", "down", key)
        await until(lambda: isinstance(app.screen, kind) and app.screen.loaded)  # type: ignore[attr-defined]
        assert app.screen.job_ref == "health-probe"  # type: ignore[attr-defined]


async def test_space_tags_the_row_the_cursor_reached(make_app: Callable[..., SymbiApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE):
        screen = await at_top(app)
        burst(app, "down", "space")
        await until(lambda: bool(screen.tagged))
        tagged = {screen.jobs[job_id].name for job_id in screen.tagged}
        assert tagged == {"flaky-job"}


async def test_ctrl_r_resets_the_row_the_cursor_reached(
    make_app: Callable[..., SymbiApp], engine: Engine, clock: FakeClock
) -> None:
    """ctrl+r only applies to a failed or dead-lettered job: judged on the row the cursor is on
    when the key arrives, not on the row before (an active job, where the key does nothing)."""
    await dead_letter_flaky_job(engine, clock)
    app = make_app()
    async with app.run_test(size=SIZE):
        await at_top(app)
        burst(app, "down", "ctrl+r")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        assert app.screen._title == "Reset flaky-job?"  # type: ignore[attr-defined]
