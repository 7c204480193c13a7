"""`E` on the jobs list: the tagged jobs (or the selected one) as DSL, saved to a file."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

from scheduler_core.dsl import parse_dsl
from scheduler_core.service import SchedulerService
from symbi_tui.app import SymbiApp
from symbi_tui.screens.export import ExportScreen
from symbi_tui.screens.main import MainScreen

from .conftest import notified, until
from .test_main_screen import SIZE, loaded, select


async def test_e_exports_the_selected_job_and_ctrl_s_saves_it(
    make_app: Callable[..., SymbiApp], service: SchedulerService, tmp_path: Path
) -> None:
    await service.update_job("daily-report", {"on_failure": ["stdout"], "input": 'say "hi"'})
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "daily-report")
        await pilot.press("E")
        await until(lambda: isinstance(app.screen, ExportScreen) and app.screen.text is not None)
        screen = app.screen
        assert isinstance(screen, ExportScreen) and screen.names == ["daily-report"]
        text = screen.text or ""
        assert text.count("schedule {") == 1 and 'name: "daily-report"' in text
        assert 'input: "say \\"hi\\""' in text and 'on_failure: ["stdout"]' in text
        await pilot.press("ctrl+s")
        await until(lambda: not isinstance(app.screen, ExportScreen))
        target = tmp_path / "saved.symbi"
        prompt = app.screen.query_one("#prompt-input")
        prompt.value = str(target)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(lambda: target.exists() and notified(app, f"wrote {target}"))
        assert target.read_text() == text
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        (job,) = parse_dsl(text, str(target), env={}).jobs
        assert job.name == "daily-report" and job.on_failure == ("stdout",)
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, MainScreen))


async def test_e_exports_every_tagged_job(
    make_app: Callable[..., SymbiApp], tmp_path: Path
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "daily-report")
        await pilot.press("space")
        await select(app, "health-probe")
        await pilot.press("space")
        await pilot.press("E")
        await until(lambda: isinstance(app.screen, ExportScreen) and app.screen.text is not None)
        screen = app.screen
        assert isinstance(screen, ExportScreen)
        assert screen.names == ["daily-report", "health-probe"]
        assert (screen.text or "").count("schedule {") == 2
        assert "flaky-job" not in (screen.text or "")
        # a path that cannot be written says why, and the screen stays
        await pilot.press("w")
        await until(lambda: not isinstance(app.screen, ExportScreen))
        prompt = app.screen.query_one("#prompt-input")
        prompt.value = str(tmp_path / "no-such-dir" / "x.symbi")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(lambda: notified(app, "No such file or directory"))
        assert isinstance(app.screen, ExportScreen)


async def test_export_fits_80x24(make_app: Callable[..., SymbiApp]) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(app)
        await pilot.press("E")
        await until(lambda: isinstance(app.screen, ExportScreen) and app.screen.text is not None)
        await pilot.pause(0.1)
        frame = app.export_screenshot().replace("&#160;", " ")
        assert "Export (DSL)" in frame and "schedule {" in frame
        body = app.screen.query_one("#export-body").region
        assert body.right <= 80 and body.bottom <= 23 and body.height >= 10


async def test_help_and_the_palette_list_the_export_key(
    make_app: Callable[..., SymbiApp],
) -> None:
    from symbi_tui.screens.help import HelpScreen

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Export as DSL (E)" in titles
        await pilot.press("question_mark")
        await until(lambda: isinstance(app.screen, HelpScreen))
        assert "job-export" in {row.binding_id for row in app.screen._rows}  # type: ignore[attr-defined]
