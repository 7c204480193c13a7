"""Every key of every screen either acts or says why it cannot (issue 20).

The walk opens each screen over the same scene (a dead-lettered job, a run awaiting approval),
presses each of its active keys in turn, as read from the screen's own bindings (so a key added
later is walked too), and checks that something visible followed: the screen drawn differently,
another screen, or a notification. Between keys it closes what the key opened with Escape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.screen import Screen

from scheduler_core.clock import FakeClock
from scheduler_core.engine import Engine
from scheduler_core.service import SchedulerService
from symbi_tui.app import SymbiApp
from symbi_tui.screens.base import ConsoleScreen
from symbi_tui.screens.main import MainScreen

from .conftest import until
from .test_main_screen import SIZE, dead_letter_flaky_job, loaded

#: (view, target) of every screen the console opens
SCREENS: tuple[tuple[str, str | None], ...] = (
    ("jobs", None),
    ("watch", "flaky-job"),
    ("runs", "flaky-job"),
    ("run", None),  # the newest run of flaky-job
    ("dlq", None),
    ("hb", None),
    ("approvals", None),
    ("audit", None),
    ("timeline", None),
    ("add", None),
    ("edit", "daily-report"),
    ("export", "daily-report flaky-job"),
)


class Walk:
    """Presses keys on one app and tells whether each one showed anything."""

    def __init__(self, app: SymbiApp, pilot: Pilot[None]) -> None:
        self.app = app
        self.pilot = pilot
        self.said = 0
        notify = app.notify

        def counted(*args: Any, **kwargs: Any) -> None:
            self.said += 1
            notify(*args, **kwargs)

        app.notify = counted  # type: ignore[method-assign]

    def frame(self) -> str:
        return self.app.export_screenshot()

    async def steady(self) -> str:
        """The screen once it stops changing by itself."""
        await self.pilot.pause(0.1)  # (and a key more than a held key's repeat after the last)
        previous = self.frame()
        for _ in range(50):
            await self.pilot.pause(0.05)
            current = self.frame()
            if current == previous:
                return current
            previous = current
        return previous

    async def shows_something(self, key: str, screen: Screen[Any]) -> bool:
        self.app.clear_notifications()  # (toasts leaving would change the frame by themselves)
        before = await self.steady()
        said = self.said
        await self.pilot.press(key)
        loop_end = 40
        for _ in range(loop_end):
            await self.pilot.pause(0.05)
            if self.said > said or self.app.screen is not screen or self.frame() != before:
                return True
        return False

    async def back_to(self, screen: Screen[Any], view: str, target: str | None) -> Screen[Any]:
        """Close what the last key opened; open the screen again if the key left it."""
        for _ in range(6):
            if self.app.screen is screen or screen not in self.app.screen_stack:
                break
            await self.pilot.press("escape")
            await self.pilot.pause(0.05)
        if self.app.screen is screen:
            return screen
        return await open_screen(self.app, view, target)


async def open_screen(app: SymbiApp, view: str, target: str | None) -> Screen[Any]:
    if view == "jobs":
        app.open_view("jobs")
        await until(lambda: isinstance(app.screen, MainScreen))
    else:
        before = app.screen
        app.open_view(view, target)
        await until(lambda: app.screen is not before and not isinstance(app.screen, MainScreen))
    screen = app.screen
    if isinstance(screen, ConsoleScreen):
        await until(lambda: screen.loaded)
    return screen


def keys_of(screen: Screen[Any]) -> dict[str, str]:
    """Each of the console's bindings (those with an id: listed by ``?``, remappable) by its
    first active key, and Enter on a table -> the binding's id (or action), in the screen's
    order. (Textual's own keys without an id, the arrows and pages of a scrolled pane, move
    whenever there is somewhere to move to.)"""
    keys: dict[str, str] = {}
    seen: set[str] = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        name = binding.id or binding.action
        if binding.system or name in seen:
            continue
        if not binding.id and binding.action not in ("select_cursor", "cursor_up", "cursor_down"):
            continue
        seen.add(name)
        keys[key] = name
    return keys


@pytest.mark.slow
@pytest.mark.parametrize(("view", "target"), SCREENS, ids=[view for view, _ in SCREENS])
async def test_every_key_of_every_screen_acts_or_says_why(
    make_app: Callable[..., SymbiApp],
    engine: Engine,
    clock: FakeClock,
    service: SchedulerService,
    view: str,
    target: str | None,
) -> None:
    await dead_letter_flaky_job(engine, clock)
    await service.add_job(
        {
            "name": "deploy",
            "agent": "reporter",
            "cron": "0 0 * * 0",
            "policy": {"require_approval": True},
        }
    )
    await service.run_now("deploy")
    if view == "run":
        target = (await service.history("flaky-job"))[0].id
    app = make_app()
    silent: list[str] = []
    walked: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app, count=4)
        walk = Walk(app, pilot)
        screen = await open_screen(app, view, target)
        for key, name in keys_of(screen).items():
            walked.append(name)
            if not await walk.shows_something(key, screen):
                silent.append(f"{key} ({name})")
            screen = await walk.back_to(screen, view, target)
            if not app.is_running:
                pytest.fail(f"{key} ({name}) quit the console")
    # every screen has at least the palette and a way back or out (the form's fields take q, ?)
    form = view in ("add", "edit")
    assert {"command-palette", *(("back",) if form else ("help", "quit"))} <= set(walked), walked
    assert not silent, f"keys that did nothing and said nothing on {view}: {', '.join(silent)}"


async def test_keys_that_cannot_move_or_change_anything_say_so(
    make_app: Callable[..., SymbiApp],
) -> None:
    from .conftest import notified

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await pilot.press("k")  # on the first row
        await until(lambda: notified(app, "already on the first row"))
        await pilot.press("G")
        await pilot.pause(0.15)
        await pilot.press("j")
        await until(lambda: notified(app, "already on the last row"))
        await pilot.press("1")  # the tab shown
        await until(lambda: notified(app, "the All tab is the one shown"))
        await pilot.press("escape")  # no filter, and nothing underneath
        await until(lambda: notified(app, "no filter to clear"))
        assert isinstance(app.screen, MainScreen)
        await pilot.press("slash", "x")
        await pilot.press("escape")  # with a filter: Esc drops it, and says nothing more
        await until(lambda: app.screen.filter_text == "")  # type: ignore[attr-defined]
