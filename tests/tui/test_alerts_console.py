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


async def test_the_job_form_sets_and_clears_alert_channels(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    from textual.widgets import Input

    from symbi_tui.screens.job_form import JobFormScreen

    await service.update_job("daily-report", {"on_dead_letter": []})
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app)
        app.open_view("edit", "daily-report")
        await until(lambda: isinstance(app.screen, JobFormScreen) and app.screen.loaded)
        screen = app.screen
        failure = screen.query_one("#field-on_failure", Input)
        dead = screen.query_one("#field-on_dead_letter", Input)
        await until(lambda: dead.value == "none")
        assert failure.value == ""  # the config's default
        failure.focus()
        failure.value = "stdout, log_file"
        dead.value = ""
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(lambda: not isinstance(app.screen, JobFormScreen))
        job = await service.get_job("daily-report")
        assert job.on_failure == ("stdout", "log_file") and job.on_dead_letter is None
        # an unknown channel is named under its field
        app.open_view("edit", "daily-report")
        await until(lambda: isinstance(app.screen, JobFormScreen) and app.screen.loaded)
        screen = app.screen
        field = screen.query_one("#field-on_failure", Input)
        await until(lambda: field.value == "stdout, log_file")
        field.value = "stdout, pagr"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await until(lambda: "pagr" in str(screen.query_one("#error-on_failure").render()))
        assert (await service.get_job("daily-report")).on_failure == ("stdout", "log_file")
