"""``c`` cancels a run from the console (issue 22): on the run detail screen, on the watch
screen (the job's run in flight) and on the run history screen (the selected run), after a
``y``/``n`` confirmation; on a run that has ended it says why it does nothing; it is listed by
``?`` and the palette, and hidden in read-only mode.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from scheduler_core.clock import FakeClock
from scheduler_core.config import SchedulerConfig, SchedulerSettings
from scheduler_core.engine import Engine
from scheduler_core.model import AuditEventType, RunStatus
from scheduler_core.runtime.base import CallableExecutor, RunContext
from scheduler_core.service import SchedulerService
from scheduler_core.store import open_store
from symbi_tui.app import SymbiApp
from symbi_tui.screens.confirm import ConfirmScreen
from symbi_tui.screens.help import help_rows
from symbi_tui.screens.run_detail import RunDetailScreen
from symbi_tui.screens.run_history import RunHistoryScreen
from symbi_tui.screens.watch import WatchScreen

from .conftest import JOBS, notified, until
from .test_every_key import open_screen
from .test_main_screen import SIZE, loaded

#: run ids whose agent saw the cancel
cancelled_runs: list[str] = []


async def _hold(ctx: RunContext) -> str:
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        cancelled_runs.append(ctx.run.id)
        raise
    return "never"


async def _report(ctx: RunContext) -> str:
    return "done"


@pytest.fixture
async def engine(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Engine]:
    """The console's usual jobs, plus ``long``, whose agent runs until it is cancelled."""
    cancelled_runs.clear()
    store = await open_store(str(tmp_path / "symbi.db"))
    engine = Engine(
        SchedulerConfig(
            scheduler=SchedulerSettings(claim_ahead_seconds=0, shutdown_timeout_seconds=0.5)
        ),
        executor=CallableExecutor(
            {"reporter": _report, "prober": _report, "broken": _report, "holder": _hold}
        ),
        clock=clock,
        store=store,
    )
    service = await engine.start()
    await service.add_jobs([*JOBS, {"name": "long", "agent": "holder", "cron": "0 0 1 1 *"}])
    yield engine
    await engine.stop()


async def _running(service: SchedulerService) -> str:
    run = await service.run_now("long", actor="tester")

    async def started() -> bool:
        return (await service.get_run(run.id)).status is RunStatus.RUNNING

    await until(started)
    return run.id


async def test_c_on_the_run_detail_screen_cancels_the_run_after_y(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    run_id = await _running(service)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, count=4)
        screen = await open_screen(app, "run", run_id)
        assert isinstance(screen, RunDetailScreen)
        rows = {row.binding_id: row for row in help_rows(app, screen.active_bindings.values())}
        assert rows["run-cancel"].description == "Cancel run"  # what ? lists
        palette = [c.title for c in app.get_system_commands(screen)]
        assert "Cancel run (c)" in palette

        await pilot.press("c")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(lambda: app.screen is screen)
        await until(lambda: notified(app, "goes on"))
        assert (await service.get_run(run_id)).status is RunStatus.RUNNING

        await pilot.press("c")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")

        async def cancelled() -> bool:
            return (await service.get_run(run_id)).status is RunStatus.CANCELLED

        await until(cancelled)
        await until(lambda: notified(app, "cancelled"))
        assert cancelled_runs == [run_id]
        await until(lambda: screen.run is not None and screen.run.status is RunStatus.CANCELLED)
        app.clear_notifications()
        await pilot.press("c")  # the run has ended: c says so, and asks nothing
        await until(lambda: notified(app, "has ended (cancelled)"))
        assert app.screen is screen
    (event,) = await service.audit(type=AuditEventType.CRON_RUN_CANCELLED)
    assert (event.actor, event.run_id) == ("tui", run_id)  # the local console


async def test_c_on_the_watch_screen_cancels_the_run_in_flight(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, count=4)
        screen = await open_screen(app, "watch", "long")
        assert isinstance(screen, WatchScreen)
        await pilot.press("c")  # nothing in flight yet
        await until(lambda: notified(app, "long has no run in flight to cancel"))

        run_id = await _running(service)
        await until(lambda: screen.run_to_cancel is not None)
        await until(lambda: screen.query_one("#watch-run").border_subtitle == "c cancel")
        await pilot.press("c")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")

        async def cancelled() -> bool:
            return (await service.get_run(run_id)).status is RunStatus.CANCELLED

        await until(cancelled)
        await until(lambda: screen.run_to_cancel is None)
        assert cancelled_runs == [run_id]


async def test_c_on_the_run_history_screen_cancels_the_selected_run(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, count=4)
        run_id = await _running(service)
        screen = await open_screen(app, "runs", "long")
        assert isinstance(screen, RunHistoryScreen)
        await until(lambda: screen.selected_run is not None)
        await pilot.press("c")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")

        async def cancelled() -> bool:
            return (await service.get_run(run_id)).status is RunStatus.CANCELLED

        await until(cancelled)
        await until(
            lambda: (
                screen.selected_run is not None
                and screen.selected_run.status is RunStatus.CANCELLED
            )
        )
        assert cancelled_runs == [run_id]


async def test_readonly_hides_c(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    run_id = await _running(service)
    app = make_app(readonly=True)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, count=4)
        screen = await open_screen(app, "run", run_id)
        assert "c" not in screen.active_bindings
        await pilot.press("c")
        await pilot.pause(0.1)
        assert app.screen is screen
        assert (await service.get_run(run_id)).status is RunStatus.RUNNING
