"""The main screen's navigation and bulk keys, through Pilot against a real engine: status tabs,
sorting, tags with bulk actions, paging, delete, run with input, freeze, Enter and ``:``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from scheduler_core.clock import FakeClock
from scheduler_core.engine import Engine
from scheduler_core.errors import JobNotFound
from scheduler_core.events import JobChanged
from scheduler_core.model import JobStatus, RunTrigger
from scheduler_core.service import SchedulerService
from symbi_tui.app import SymbiApp
from symbi_tui.screens.approvals import ApprovalsScreen
from symbi_tui.screens.command import CommandScreen, parse_command
from symbi_tui.screens.confirm import ConfirmScreen
from symbi_tui.screens.dead_letter import DeadLetterScreen
from symbi_tui.screens.main import MainScreen
from symbi_tui.screens.prompt import PromptScreen
from symbi_tui.screens.run_history import RunHistoryScreen
from symbi_tui.screens.watch import WatchScreen
from symbi_tui.widgets.health_bar import sparkline

from .conftest import until
from .test_main_screen import SIZE, dead_letter_flaky_job, jobs_table, loaded, names, select


def main(app: SymbiApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen)
    return screen


async def test_status_tabs_filter_the_jobs(
    make_app: Callable[..., SymbiApp], engine: Engine, clock: FakeClock
) -> None:
    await dead_letter_flaky_job(engine, clock)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await pilot.press("4")  # dead letter
        await until(lambda: names(app) == ["flaky-job"])
        assert main(app).status_filter is JobStatus.DEAD_LETTER
        await pilot.press("2")  # active
        await until(lambda: names(app) == ["daily-report", "health-probe"])
        await pilot.press("1")
        await until(lambda: len(names(app)) == 3)


async def test_s_cycles_the_sort_column_and_capital_s_reverses(
    make_app: Callable[..., SymbiApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await pilot.press("S")  # name, descending
        await until(lambda: names(app) == ["health-probe", "flaky-job", "daily-report"])
        await pilot.press("s")  # next run, ascending: */5 (09:00) ties broken by name
        await until(lambda: main(app).sort_order == "next_run_at")
        assert "sorted by next run ↑" in str(jobs_table(app).border_subtitle)


async def test_space_tags_rows_and_p_pauses_all_tagged(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "daily-report")
        await pilot.press("space")  # tags daily-report, moves down to flaky-job
        await pilot.press("down", "space")  # tags health-probe
        await until(lambda: main(app).tagged and len(main(app).tagged) == 2)
        assert "✓ 2 tagged" in str(jobs_table(app).border_title)
        await pilot.press("p")

        async def paused() -> bool:
            jobs = {j.name: j.status for j in (await service.list_jobs()).jobs}
            return jobs == {
                "daily-report": JobStatus.PAUSED,
                "flaky-job": JobStatus.ACTIVE,
                "health-probe": JobStatus.PAUSED,
            }

        await until(paused)
        assert not main(app).tagged  # a bulk action clears the tags
        await until(lambda: "tagged" not in str(jobs_table(app).border_title))


async def test_bulk_run_queues_one_manual_run_per_tagged_job(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "daily-report")
        await pilot.press("space", "space")  # daily-report and flaky-job
        await pilot.press("r")

        async def queued() -> bool:
            runs = await service.history(limit=10)
            return sorted(r.job_name for r in runs if r.trigger is RunTrigger.MANUAL) == [
                "daily-report",
                "flaky-job",
            ]

        await until(queued)


async def test_capital_r_runs_with_the_input_typed(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "daily-report")
        await pilot.press("R")
        await until(lambda: isinstance(app.screen, PromptScreen))
        await pilot.press(*"only EMEA", "enter")

        async def ran() -> bool:
            runs = await service.history("daily-report", limit=5)
            return any(r.input == "only EMEA" for r in runs)

        await until(ran)


async def test_d_deletes_after_confirmation(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "health-probe")
        await pilot.press("d")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("enter")  # Cancel is focused
        await until(lambda: isinstance(app.screen, MainScreen))
        assert (await service.get_job("health-probe")).name == "health-probe"
        await pilot.press("d")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("tab", "enter")

        async def gone() -> bool:
            try:
                await service.get_job("health-probe")
            except JobNotFound:
                return True
            return False

        await until(gone)
        await until(lambda: names(app) == ["daily-report", "flaky-job"])


async def test_pages_of_jobs(make_app: Callable[..., SymbiApp], service: SchedulerService) -> None:
    await service.add_jobs(
        [{"name": f"bulk-{i:03}", "agent": "prober", "cron": "0 * * * *"} for i in range(25)]
    )
    app = make_app()
    app_page = 10
    async with app.run_test(size=SIZE) as pilot:
        main(app).page_size = app_page
        main(app)._reload = True
        main(app).kick()
        await until(lambda: len(names(app)) == app_page)
        assert "1-10 of 28" in str(jobs_table(app).border_title)
        await pilot.press("]")
        await until(lambda: "11-20 of 28" in str(jobs_table(app).border_title))
        await pilot.press("]", "]")  # the last page has 8; there is no page after it
        await until(lambda: "21-28 of 28" in str(jobs_table(app).border_title))
        await pilot.press("[")
        await until(lambda: "11-20 of 28" in str(jobs_table(app).border_title))


async def test_z_freezes_the_panes(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        screen = main(app)
        seen: list[object] = []
        note_event = screen.note_event

        def spy(event: object) -> None:
            seen.append(event)
            note_event(event)  # type: ignore[arg-type]

        screen.note_event = spy  # type: ignore[method-assign]
        await pilot.press("z")
        assert main(app).frozen
        await until(lambda: not screen._refreshing)  # a refresh begun before z has ended
        job = await service.add_job({"name": "zz-new", "agent": "prober", "cron": "0 * * * *"})
        # the creation reaches the screen, which marks its page stale...
        await until(lambda: JobChanged(job.id, "created") in seen)
        assert screen._reload
        # ...and a refresh tick (what the screen's timer calls) fetches nothing while frozen
        screen.kick()
        assert not screen._refreshing
        await pilot.pause()
        assert screen._reload  # still stale: no refresh took the mark
        assert "zz-new" not in names(app)
        await pilot.press("z")
        await until(lambda: "zz-new" in names(app))


async def test_enter_watches_the_job_and_escape_comes_back(
    make_app: Callable[..., SymbiApp],
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "health-probe")
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, WatchScreen))
        assert app.screen.job_ref == "health-probe"  # type: ignore[attr-defined]
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, MainScreen))
        await pilot.press("h")
        await until(lambda: isinstance(app.screen, RunHistoryScreen))


async def test_colon_commands_switch_screens(make_app: Callable[..., SymbiApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await pilot.press("colon")
        await until(lambda: isinstance(app.screen, CommandScreen))
        await pilot.press(*"dlq", "enter")
        await until(lambda: isinstance(app.screen, DeadLetterScreen))
        app.run_console_command("appr")  # a unique prefix is enough
        await until(lambda: isinstance(app.screen, ApprovalsScreen))
        assert len(app.screen_stack) == 3  # the default screen, the jobs pane, approvals
        app.run_console_command(":jobs")
        await until(lambda: isinstance(app.screen, MainScreen))
        app.run_console_command("nonsense")  # a notification, nothing else
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        app.run_console_command("runs flaky-job")
        await until(lambda: isinstance(app.screen, RunHistoryScreen))


def test_parse_command() -> None:
    assert parse_command(":runs flaky-job") == ("runs", "flaky-job")
    assert parse_command("heartbeat") == ("hb", "")
    assert parse_command("time") == ("timeline", "")
    with pytest.raises(ValueError, match="unknown command"):
        parse_command("a")  # approvals, audit, add: ambiguous


def test_sparkline() -> None:
    assert sparkline([0, 4, 8]) == "▁▄█"
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([]) == ""
