"""Screen snapshots (pytest-textual-snapshot): the frozen demo scene, pixel for pixel.

The main screen and what opens over it (help, the reset confirmation, the command prompt), each at
120x36 and at 80x24. Regenerate after an intended change with ``pytest tests/tui
--snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, Tabs
from textual.widgets._tabs import Underline

from symbi_tui.app import SymbiApp
from symbi_tui.screens.command import CommandScreen
from symbi_tui.screens.confirm import ConfirmScreen
from symbi_tui.screens.help import HelpScreen
from symbi_tui.screens.main import MainScreen
from symbi_tui.widgets.jobs_table import JobsTable
from symbi_tui.widgets.run_history import RunHistory

from .conftest import until
from .demo_scene import Scene, build_scene

#: every screen at the size the README's screenshots use and at a plain 80x24 terminal
SIZES = {"120x36": (120, 36), "80x24": (80, 24)}


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest) -> tuple[int, int]:
    return SIZES[request.param]


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


def _on_flaky_job(app: SymbiApp) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def select_flaky_job(pilot: Pilot[None]) -> None:
        await until(_ready(app, "backup", 4))
        await pilot.press("down", "down")
        await until(_ready(app, "flaky-job", 3))
        # the status tabs' underline slides (20 ms later, for 0.3 s) to fit a label whose count
        # changed: wait for it to land under the active tab
        await until(lambda: _underlined(app))
        await pilot.pause()

    return select_flaky_job


def test_main_screen(
    snap_compare: Callable[..., bool], scene: Scene, size: tuple[int, int]
) -> None:
    """Jobs in every status, health from the store, the dead-lettered job's failed runs."""
    app = SymbiApp(scene.backend, clock=scene.clock)
    assert snap_compare(app, terminal_size=size, run_before=_on_flaky_job(app))


@pytest.mark.parametrize(
    ("key", "shown"),
    [("question_mark", HelpScreen), ("ctrl+r", ConfirmScreen), ("colon", CommandScreen)],
    ids=["help", "reset-confirm", "command"],
)
def test_over_the_main_screen(
    snap_compare: Callable[..., bool],
    scene: Scene,
    size: tuple[int, int],
    key: str,
    shown: type[Screen[Any]],
) -> None:
    """``?`` (every key), ``ctrl+r`` on the dead-lettered job (asks first) and ``:`` (the
    command prompt), over the main screen."""
    app = SymbiApp(scene.backend, clock=scene.clock)
    select_flaky_job = _on_flaky_job(app)

    async def open_it(pilot: Pilot[None]) -> None:
        await select_flaky_job(pilot)
        await pilot.press(key)
        await until(lambda: isinstance(app.screen, shown))
        for field in app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=open_it)
