"""Chains in the console: the job form's After field (at 80x24 too) and the watch screen's view of
what comes before a job (``after``) and after it (its followers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.screen import Screen
from textual.widgets import Input

from scheduler_core.model import JobDefinition
from scheduler_core.service import SchedulerService
from symbi_tui.app import SymbiApp
from symbi_tui.screens.job_form import JobFormScreen
from symbi_tui.screens.watch import WatchScreen

from .conftest import until
from .scenes import OpsScene, build_ops_scene
from .test_main_screen import loaded, row_of
from .test_screens import fill, host, notified, shown, text_of


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[OpsScene]:
    built = await build_ops_scene(tmp_path / "ops.db")
    yield built
    await built.close()


async def test_the_form_makes_a_chained_job_at_80x24(scene: OpsScene) -> None:
    service = scene.service
    results: list[JobDefinition | None] = []
    app = host(lambda: Screen())
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(JobFormScreen(scene.backend, clock=scene.clock), results.append)
        screen: Any = await shown(app, JobFormScreen)
        after = screen.query_one("#field-after", Input)
        row = screen.query_one("#row-after")
        assert row.region.width > 0 and row.region.right <= 80, row.region
        await fill(pilot, screen.query_one("#field-name", Input), "summarise")
        await fill(pilot, screen.query_one("#field-agent", Input), "reporter-agent")
        await fill(pilot, screen.query_one("#field-cron", Input), "0 9 * * *")
        await fill(pilot, after, "metrics-report")
        # both a cron and an after: the form says so under After, as the service would
        await until(lambda: "only one of cron, at and after" in text_of(screen, "#error-after"))
        await fill(pilot, screen.query_one("#field-cron", Input), "")
        await until(lambda: "after metrics-report" in text_of(screen, "#form-preview"))
        assert text_of(screen, "#error-after") == ""

        # a name no job has: refused by the service, shown under the field
        await fill(pilot, after, "metrics-reprot")
        await pilot.press("ctrl+s")
        await until(lambda: "no job named 'metrics-reprot'" in text_of(screen, "#error-after"))
        assert not results

        await fill(pilot, after, "metrics-report")
        await pilot.press("ctrl+s")
        await until(lambda: results)
        job = await service.get_job("summarise")
        assert job.after == "metrics-report" and job.cron is None
        assert notified(app, "next run after metrics-report")


async def test_watch_shows_what_comes_before_and_after_a_job(scene: OpsScene) -> None:
    await scene.service.add_job(
        {"name": "summarise", "agent": "reporter-agent", "after": "metrics-report"}
    )
    await scene.service.add_job(
        {"name": "publish", "agent": "reporter-agent", "after": "summarise"}
    )
    app = host(
        lambda: WatchScreen(
            scene.backend, clock=scene.clock, job="summarise", refresh_interval=0.05
        )
    )
    async with app.run_test(size=(120, 36)):
        screen = await shown(app, WatchScreen)
        await until(lambda: "Followers" in text_of(screen, "#watch-definition"))
        definition = text_of(screen, "#watch-definition")
        assert "after metrics-report" in definition  # the schedule, and the next run
        assert "After" in definition and "metrics-report (runs when it succeeds)" in definition
        assert "publish" in definition
        assert "after metrics-report" in text_of(screen, "#watch-next")
        assert "each time its run succeeds" in text_of(screen, "#watch-next")

    app = host(
        lambda: WatchScreen(
            scene.backend, clock=scene.clock, job="metrics-report", refresh_interval=0.05
        )
    )
    async with app.run_test(size=(120, 36)):
        screen = await shown(app, WatchScreen)
        await until(lambda: "Followers" in text_of(screen, "#watch-definition"))
        assert "summarise" in text_of(screen, "#watch-definition")


async def test_the_jobs_list_shows_after_instead_of_a_time(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    await service.add_job({"name": "summarise", "agent": "reporter", "after": "daily-report"})
    app = make_app()
    async with app.run_test(size=(120, 36)):
        await loaded(app, 4)
        row = row_of(app, "summarise")
        # the schedule column is cut at 16 characters; the next run says it whole
        assert row[1:5] == ["reporter", "after daily-rep…", "● active", "after daily-report"]
        assert row_of(app, "daily-report")[4] == "in 30s"
