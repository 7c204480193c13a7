"""The Awaiting approval tab on the jobs pane (issue 20): its key and count like the other tabs,
the jobs whose runs wait for a person, approve or deny from the row, counts that follow."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Tab, Tabs

from scheduler_core.model import RunStatus
from scheduler_core.service import SchedulerService
from symbi_tui.app import SymbiApp
from symbi_tui.screens.prompt import PromptScreen

from .conftest import notified, until
from .test_main_screen import SIZE, loaded, names, select


async def _needs_approval(service: SchedulerService, *names: str) -> None:
    for name in names:
        await service.add_job(
            {
                "name": name,
                "agent": "reporter",
                "cron": "0 0 * * 0",
                "policy": {"require_approval": True},
            }
        )
        await service.run_now(name)


def _tab_label(app: SymbiApp) -> str:
    return str(app.screen.query_one(Tabs).query_one("#tab-awaiting", Tab).label)


async def test_the_awaiting_tab_lists_jobs_and_decisions_update_it(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    await _needs_approval(service, "deploy-a", "deploy-b")
    await service.run_now("deploy-b")  # two runs of one job: the tab counts jobs
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, count=5)
        await until(lambda: _tab_label(app) == "7 Awaiting approval 2")
        await pilot.press("7")
        await until(lambda: names(app) == ["deploy-a", "deploy-b"])
        await select(app, "deploy-a")
        await pilot.press("A")
        await until(lambda: isinstance(app.screen, PromptScreen))
        await pilot.press("enter")
        await until(lambda: notified(app, "deploy-a approved"))
        # deploy-a leaves the tab and the count follows, without waiting for an event
        await until(lambda: names(app) == ["deploy-b"])
        await until(lambda: _tab_label(app) == "7 Awaiting approval 1")
        await pilot.press("X")
        await until(lambda: isinstance(app.screen, PromptScreen))
        await pilot.press("enter")
        await until(lambda: notified(app, "deploy-b denied"))
        # one of deploy-b's two runs still waits
        await until(lambda: _tab_label(app) == "7 Awaiting approval 1")
        assert names(app) == ["deploy-b"]
        await pilot.press("X")
        await until(lambda: isinstance(app.screen, PromptScreen))
        await pilot.press("enter")
        await until(lambda: names(app) == [])
        await until(lambda: _tab_label(app) == "7 Awaiting approval 0")
        await pilot.press("1")
        await until(lambda: len(names(app)) == 5)
    waiting = await service.pending_approvals()
    assert waiting == []
    statuses = {r.status for r in await service.history("deploy-b")}
    assert statuses == {RunStatus.DENIED}


async def test_a_run_that_starts_waiting_joins_the_open_tab(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await pilot.press("7")
        await until(lambda: names(app) == [])
        await _needs_approval(service, "deploy-c")  # another front end (the CLI, the API)
        await until(lambda: names(app) == ["deploy-c"])
        await until(lambda: _tab_label(app) == "7 Awaiting approval 1")
        await pilot.press("slash")
        await pilot.press(*"nomatch")
        await until(lambda: names(app) == [])
