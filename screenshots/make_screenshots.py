"""Regenerate the console screenshots in this directory (the README's images).

    .venv/bin/python screenshots/make_screenshots.py

Each screen is drawn from the frozen demo scene (``symbi_tui.scene``: the ``--demo`` jobs after ten
minutes on a fake clock), at 120x36, so the images only change when the console does.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot

from symbi_tui.app import SymbiApp
from symbi_tui.scene import build_scene
from symbi_tui.screens.confirm import ConfirmScreen
from symbi_tui.screens.help import HelpScreen
from symbi_tui.screens.main import MainScreen
from symbi_tui.widgets.jobs_table import JobsTable
from symbi_tui.widgets.run_history import RunHistory

HERE = Path(__file__).resolve().parent
SIZE = (120, 36)


async def until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        if loop.time() > deadline:
            raise TimeoutError(f"the console did not get ready ({check.__name__})")
        await asyncio.sleep(0.02)


def showing(app: SymbiApp, job: str, runs: int) -> Callable[[], bool]:
    def check() -> bool:
        screen = app.screen
        if not isinstance(screen, MainScreen) or screen.health is None:
            return False
        history = screen.query_one(RunHistory)
        return (
            len(screen.query_one(JobsTable).row_keys()) == 6
            and screen.selected_job is not None
            and screen.selected_job.name == job
            and history.row_count == runs
        )

    return check


async def on_flaky_job(app: SymbiApp, pilot: Pilot[None]) -> None:
    await until(showing(app, "backup", 4))
    await pilot.press("down", "down")
    await until(showing(app, "flaky-job", 3))


async def main_screen(app: SymbiApp, pilot: Pilot[None]) -> None:
    await on_flaky_job(app, pilot)


async def help_screen(app: SymbiApp, pilot: Pilot[None]) -> None:
    await on_flaky_job(app, pilot)
    await pilot.press("question_mark")
    await until(lambda: isinstance(app.screen, HelpScreen))


async def reset_confirm(app: SymbiApp, pilot: Pilot[None]) -> None:
    await on_flaky_job(app, pilot)
    await pilot.press("ctrl+r")
    await until(lambda: isinstance(app.screen, ConfirmScreen))


SCREENS: dict[str, Callable[[SymbiApp, Pilot[None]], Awaitable[None]]] = {
    "main": main_screen,
    "help": help_screen,
    "reset-confirm": reset_confirm,
}


async def shoot(name: str, prepare: Callable[[SymbiApp, Pilot[None]], Awaitable[None]]) -> Path:
    with tempfile.TemporaryDirectory(prefix="symbi-screens-") as tmp:
        scene = await build_scene(Path(tmp) / "scene.db")
        try:
            app = SymbiApp(scene.backend, clock=scene.clock)
            async with app.run_test(size=SIZE) as pilot:
                await prepare(app, pilot)
                await pilot.pause()
                svg = app.export_screenshot(title="symbi-tui --demo")
        finally:
            await scene.close()
    path = HERE / f"{name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


async def main() -> int:
    for name, prepare in SCREENS.items():
        print(await shoot(name, prepare))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
