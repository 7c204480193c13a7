"""The console shows escape sequences from agents as visible escapes, in every pane: the jobs
table, the run history, the run detail's output and error, the watch screen and the toasts.

Textual passes ESC through to the terminal as it is, so without this an agent's output could
set the operator's window title, write the clipboard (OSC 52) or clear the screen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Static

from scheduler_core.clock import FakeClock
from scheduler_core.config import SchedulerConfig, SchedulerSettings
from scheduler_core.engine import Engine
from scheduler_core.runtime.base import CallableExecutor, RunContext
from scheduler_core.store import open_store
from symbi_tui.app import SymbiApp
from symbi_tui.backend import LocalBackend
from symbi_tui.screens.main import MainScreen
from symbi_tui.screens.run_detail import RunDetailScreen
from symbi_tui.screens.watch import WatchScreen
from symbi_tui.widgets.run_history import RunHistory
from tests.test_terminal_safety import HOSTILE

from .conftest import START, settle, table_rows, until

SIZE = (120, 36)
RAW = ("\x1b", "\x07", "\u009b")


async def _hostile(ctx: RunContext) -> str:
    return HOSTILE


async def _hostile_failure(ctx: RunContext) -> str:
    raise RuntimeError(HOSTILE)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    store = await open_store(str(tmp_path / "symbi.db"))
    engine = Engine(
        SchedulerConfig(scheduler=SchedulerSettings(claim_ahead_seconds=0, default_max_retries=0)),
        executor=CallableExecutor({"hostile": _hostile, "hostile-failure": _hostile_failure}),
        clock=FakeClock(START),
        store=store,
    )
    service = await engine.start()
    await service.add_jobs(
        [
            {"name": "osc", "agent": "hostile", "cron": "0 0 1 1 *"},
            {"name": "osc-fails", "agent": "hostile-failure", "cron": "0 0 1 1 *"},
        ]
    )
    await service.run_now("osc", actor="test")
    await service.run_now("osc-fails", actor="test")
    await settle(engine)
    yield engine
    await engine.stop()


def _safe(text: str) -> bool:
    return not any(c in text for c in RAW) and "\\x1b]0;pwned\\x07" in text


async def test_every_pane_shows_agent_escapes_visibly(engine: Engine) -> None:
    assert engine.service is not None
    service = engine.service
    app = SymbiApp(LocalBackend(service, engine.bus), clock=engine.clock, refresh_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: isinstance(app.screen, MainScreen) and app.screen.loaded)
        main = app.screen
        assert isinstance(main, MainScreen)
        history = main.query_one(RunHistory)
        await until(lambda: main.selected_job is not None and main.selected_job.name == "osc")
        await until(lambda: any(_safe(" ".join(r)) for r in table_rows(history).values()))

        (run,) = await service.history("osc")
        app.push_screen(RunDetailScreen(app.backend, clock=app.clock, run_id=run.id))
        await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen.loaded)
        output = str(app.screen.query_one("#run-output-text", Static).render())
        assert _safe(output), repr(output)

        (failure,) = await service.history("osc-fails")
        app.push_screen(RunDetailScreen(app.backend, clock=app.clock, run_id=failure.id))
        await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen.loaded)
        error = str(app.screen.query_one("#run-error", Static).render())
        assert _safe(error), repr(error)

        app.push_screen(WatchScreen(app.backend, clock=app.clock, job="osc-fails"))
        await until(lambda: isinstance(app.screen, WatchScreen) and app.screen.loaded)
        shown = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert _safe(shown), repr(shown)

        # a toast (an action's error names what the agent said): the same
        app.notify(HOSTILE, title=HOSTILE)
        await until(lambda: len(app._notifications) > 0)  # (Textual's live notifications)
        last = list(app._notifications)[-1]
        assert _safe(last.message) and _safe(last.title)
        await pilot.pause()
