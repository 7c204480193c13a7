"""The console's full garbage collections wait for a pause in the operator's input."""

from __future__ import annotations

import gc
from collections.abc import Callable

from symbi_tui.app import SymbiApp
from symbi_tui.idle_gc import DEFERRAL, FULL_AFTER, IdleCollector

from .conftest import until


def test_a_full_collection_waits_for_quiet_input_and_for_being_due() -> None:
    now = [100.0]
    counts = [(0, 0, 0)]
    collected: list[float] = []
    collector = IdleCollector(
        quiet_seconds=0.25,
        clock=lambda: now[0],
        collect=lambda: collected.append(now[0]),
        counts=lambda: counts[0],
    )
    assert not collector.tick()  # nothing due yet
    counts[0] = (5, 3, FULL_AFTER)
    collector.note_input()
    now[0] += 0.125
    assert not collector.tick()  # typed an eighth of a second ago: not now
    now[0] += 0.125
    assert collector.tick() and collected == [100.25] and collector.collections == 1
    counts[0] = (0, 0, FULL_AFTER - 1)
    now[0] += 5
    assert not collector.tick()  # quiet, but not due


def test_a_full_collection_waits_while_the_console_answers_a_key() -> None:
    now = [100.0]
    busy = [True]
    collected: list[float] = []
    collector = IdleCollector(
        quiet_seconds=0.25,
        clock=lambda: now[0],
        collect=lambda: collected.append(now[0]),
        counts=lambda: (0, 0, FULL_AFTER),
        busy=lambda: busy[0],
    )
    collector.note_input()
    now[0] += 1.0  # quiet for a second and due, but a screen the key opened still fetches
    assert not collector.tick() and collected == []
    busy[0] = False
    assert collector.tick() and collected == [101.0]


async def test_the_console_is_busy_until_an_opened_screen_shows_its_data(
    make_app: Callable[..., SymbiApp],
) -> None:
    app = make_app()
    async with app.run_test() as pilot:
        await until(lambda: app.screen.loaded and not app.screen._refreshing)
        assert not app._answering()
        app.screen._refreshing = True  # a key's fetch in flight
        assert app._answering()
        app.screen._refreshing = False
        await pilot.press("question_mark")  # a modal screen (not a console screen): not busy
        assert not app._answering()


def test_install_defers_the_automatic_full_collection_and_uninstall_restores_it() -> None:
    saved = gc.get_threshold()
    collector = IdleCollector()
    try:
        collector.install()
        collector.install()  # twice: still restores the original
        assert gc.get_threshold() == (saved[0], saved[1], max(saved[2], FULL_AFTER) * DEFERRAL)
    finally:
        collector.uninstall()
    assert gc.get_threshold() == saved


async def test_the_console_collects_in_a_pause_not_during_keys(
    make_app: Callable[..., SymbiApp],
) -> None:
    saved = gc.get_threshold()
    app = make_app()
    async with app.run_test() as pilot:
        assert gc.get_threshold()[2] == max(saved[2], FULL_AFTER) * DEFERRAL
        collector = app.idle_gc
        await pilot.press("down")
        typed_at = collector._last_input
        assert typed_at > 0  # keys reach the collector
        before = collector.collections
        for _ in range(FULL_AFTER):
            gc.collect(1)  # the younger collections that make a full one due
        assert gc.get_count()[2] >= FULL_AFTER
        await until(lambda: collector.collections > before)  # the app's timer ran it
        assert gc.get_count()[2] < FULL_AFTER
    assert gc.get_threshold() == saved  # the console leaves the process as it found it


def test_a_freeze_waits_for_quiet_input_and_a_console_not_answering_a_key() -> None:
    """The freeze's full collection (once the first page and the filter's names are in) falls
    in a pause of the input, as the full collections do, whether or not one is due."""
    now = [100.0]
    busy = [False]
    done: list[str] = []
    collector = IdleCollector(
        quiet_seconds=0.25,
        clock=lambda: now[0],
        collect=lambda: done.append("collect"),
        counts=lambda: (0, 0, 0),  # no full collection due
        busy=lambda: busy[0],
        freeze=lambda: not done.append("freeze"),  # (it collected)
    )
    collector.freeze_when_idle()
    collector.note_input()
    now[0] += 0.125
    assert not collector.tick() and done == []  # typed an eighth of a second ago
    now[0] += 0.25
    busy[0] = True
    assert not collector.tick() and done == []  # a key's screen still fetching
    busy[0] = False
    assert collector.tick() and done == ["freeze"]
    now[0] += 5
    assert not collector.tick() and done == ["freeze"]  # once
