"""A run's alerts in the run detail screen, and a job's alert channels in its watch screen."""

from __future__ import annotations

from collections.abc import Callable

from scheduler_core.clock import FakeClock
from scheduler_core.engine import Engine
from scheduler_core.service import SchedulerService
from symbi_tui.app import SymbiApp
from symbi_tui.screens.run_detail import RunDetailScreen
from symbi_tui.screens.watch import WatchScreen

from .conftest import move_clock, until
from .test_main_screen import SIZE, loaded


def _text(app: SymbiApp, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def test_run_detail_shows_the_alerts_and_watch_the_channels(
    make_app: Callable[..., SymbiApp],
    engine: Engine,
    clock: FakeClock,
    service: SchedulerService,
) -> None:
    await service.update_job("flaky-job", {"on_failure": ["stdout"], "on_dead_letter": []})
    await move_clock(engine, clock, "2026-03-02T09:00:00Z")  # flaky-job's agent fails
    (run,) = [r for r in await service.history("flaky-job") if r.status.is_final]
    assert [a["channel"] for a in run.details["alerts"]] == ["stdout"]
    app = make_app()
    async with app.run_test(size=SIZE):
        await loaded(app)
        app.open_view("run", run.id)
        await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen.loaded)
        await until(lambda: "stdout (on_failure)" in _text(app, "#run-alerts"))
        app.open_view("watch", "flaky-job")
        await until(lambda: isinstance(app.screen, WatchScreen) and app.screen.loaded)
        await until(lambda: "On failure" in _text(app, "#watch-policy"))
        policy = _text(app, "#watch-policy")
        assert "stdout" in policy and "no alert" in policy
