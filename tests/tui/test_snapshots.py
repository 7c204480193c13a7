"""Screen snapshots (pytest-textual-snapshot): the frozen demo scene, pixel for pixel.

Regenerate after an intended change with ``pytest tests/tui --snapshot-update`` and review the SVG.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Tabs
from textual.widgets._tabs import Underline

from symbi_tui.app import SymbiApp
from symbi_tui.screens.main import MainScreen
from symbi_tui.widgets.jobs_table import JobsTable
from symbi_tui.widgets.run_history import RunHistory

from .conftest import until
from .demo_scene import Scene, build_scene

SIZE = (120, 36)


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    """The frozen demo, built on its own event loop.

    ``snap_compare`` runs the app with ``App.run()``, which starts a fresh event loop, so this test
    is synchronous. The scene's loop stays open (not running) meanwhile: its scheduler is idle on a
    fake clock that nobody moves, and the SQLite store answers from whichever loop asks.
    """
    loop = asyncio.new_event_loop()
    built = loop.run_until_complete(build_scene(tmp_path / "scene.db"))
    try:
        yield built
    finally:
        loop.run_until_complete(built.close())
        loop.close()


def _ready(app: SymbiApp, job: str, runs: int) -> Callable[[], bool]:
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
            and job in str(history.border_title)
        )

    return check


def _underlined(app: SymbiApp) -> bool:
    tabs = app.screen.query_one(Tabs)
    underline = tabs.query_one(Underline)
    active = tabs.query_one("#tabs-list > Tab.-active")
    start, end = active.virtual_region.shrink(active.styles.gutter).column_span
    return (underline.highlight_start, underline.highlight_end) == (start, end)


def test_main_screen(snap_compare: Callable[..., bool], scene: Scene) -> None:
    """Jobs in every status, health from the store, the dead-lettered job's failed runs."""
    app = SymbiApp(scene.backend, clock=scene.clock)

    async def select_flaky_job(pilot: Pilot[None]) -> None:
        await until(_ready(app, "backup", 4))
        await pilot.press("down", "down")
        await until(_ready(app, "flaky-job", 3))
        # the status tabs' underline slides (20 ms later, for 0.3 s) to fit a label whose count
        # changed: wait for it to land under the active tab
        await until(lambda: _underlined(app))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=select_flaky_job)
