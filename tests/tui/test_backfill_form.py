"""The console's backfill form (``B``): a range, the preview of its instants (a dry run that
writes nothing), then Backfill queues the runs; at 80x24, from the jobs pane and the watch
screen, with the service's refusals shown in the form."""

from __future__ import annotations

from collections.abc import Callable

from textual import events
from textual.widgets import Button, Input, Static

from scheduler_core.model import RunTrigger
from scheduler_core.service import SchedulerService
from symbi_tui.app import SymbiApp
from symbi_tui.screens.backfill import BackfillScreen
from symbi_tui.screens.watch import WatchScreen

from .conftest import notified, until
from .test_main_screen import loaded, select

NARROW = (80, 24)


def _form(app: SymbiApp) -> BackfillScreen:
    screen = app.screen
    assert isinstance(screen, BackfillScreen)
    return screen


def _type(app: SymbiApp, start: str, end: str) -> None:
    form = _form(app)
    form.query_one("#backfill-from", Input).value = start
    form.query_one("#backfill-to", Input).value = end
    form.query_one("#backfill-from", Input).focus()


def _preview(app: SymbiApp) -> str:
    return str(_form(app).query_one("#backfill-list", Static).content)


def _inside(app: SymbiApp, selector: str) -> bool:
    """The widget is drawn whole within the terminal."""
    region = app.screen.query_one(selector).region
    width, height = app.size
    return region.height > 0 and region.right <= width and region.bottom <= height


async def test_preview_then_backfill_at_80x24(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        await loaded(app)
        await select(app, "daily-report")
        await pilot.press("B")
        await until(lambda: isinstance(app.screen, BackfillScreen))
        for part in ("#backfill-from", "#backfill-to", "#backfill-confirm", "#backfill-cancel"):
            assert _inside(app, part), part
        confirm = _form(app).query_one("#backfill-confirm", Button)
        assert confirm.disabled  # nothing previewed yet

        _type(app, "2026-02-27T00:00", "2026-03-01T12:00")
        await pilot.press("enter")
        await until(lambda: "3 instant(s)" in _preview(app))
        text = _preview(app)
        assert "3 to create, 0 skipped" in text
        assert "2026-02-27 09:00 UTC  create" in text and "2026-03-01 09:00 UTC  create" in text
        assert await service.history("daily-report") == []  # a preview writes nothing
        assert not confirm.disabled and confirm.has_focus
        assert "3&#160;instant(s)" in app.export_screenshot()
        assert _inside(app, "#backfill-preview")

        await pilot.press("enter")  # Backfill
        await until(lambda: not isinstance(app.screen, BackfillScreen))
        await until(lambda: notified(app, "daily-report: 3 backfill run(s) queued"))
        runs = await service.history("daily-report", limit=10)
        assert len(runs) == 3 and {r.trigger for r in runs} == {RunTrigger.BACKFILL}

        # again: the preview lists the skips, and there is nothing to confirm
        await pilot.press("B")
        await until(lambda: isinstance(app.screen, BackfillScreen))
        _type(app, "2026-02-27T00:00", "2026-03-01T12:00")
        await pilot.press("enter")
        await until(lambda: "0 to create, 3 skipped" in _preview(app))
        assert "skip: " in _preview(app) and "(backfill, succeeded)" in _preview(app)
        assert _form(app).query_one("#backfill-confirm", Button).disabled
        await pilot.press("escape")
        await until(lambda: notified(app, "nothing was queued for daily-report"))
        assert len(await service.history("daily-report", limit=10)) == 3


async def test_refusals_show_in_the_form_and_a_changed_range_needs_a_new_preview(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        await loaded(app)
        await select(app, "daily-report")
        await pilot.press("B")
        await until(lambda: isinstance(app.screen, BackfillScreen))
        error = _form(app).query_one("#backfill-error")

        await pilot.press("enter")  # nothing typed
        await until(lambda: error.display and "from: give the first instant" in str(error.content))
        _type(app, "2026-03-01T12:00", "2026-02-27T00:00")
        await pilot.press("enter")
        await until(lambda: "after 'to'" in str(error.content))
        assert str(error.content).startswith("from:")
        _type(app, "2026-02-27T00:00", "2026-03-09T00:00")
        await pilot.press("enter")
        await until(lambda: "in the future" in str(error.content))

        _type(app, "2026-02-28T00:00", "")  # to: now
        await pilot.press("enter")
        await until(lambda: "2 instant(s)" in _preview(app))
        assert not error.display
        confirm = _form(app).query_one("#backfill-confirm", Button)
        assert not confirm.disabled
        _form(app).query_one("#backfill-from", Input).value = "2026-02-20T00:00"
        await until(lambda: confirm.disabled)  # that range was not previewed
        await pilot.press("escape")
        await until(lambda: not isinstance(app.screen, BackfillScreen))
        assert await service.history("daily-report") == []


async def test_b_on_the_watch_screen_and_on_a_job_it_cannot_backfill(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    await service.pause_job("health-probe")
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        await loaded(app)
        await select(app, "health-probe")
        await pilot.press("B")
        await until(lambda: notified(app, "health-probe is paused: resume it before backfilling"))
        assert not isinstance(app.screen, BackfillScreen)

        app.screen.open_view("watch", "flaky-job")  # type: ignore[attr-defined]
        await until(lambda: isinstance(app.screen, WatchScreen) and app.screen.loaded)
        await pilot.press("B")
        await until(lambda: isinstance(app.screen, BackfillScreen))
        _type(app, "2026-03-01T09:00", "2026-03-01T09:00")
        await pilot.press("enter")
        await until(lambda: "1 instant(s)" in _preview(app))
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, WatchScreen))
        await until(lambda: notified(app, "flaky-job: 1 backfill run(s) queued"))
        runs = await service.history("flaky-job")
        assert [r.trigger for r in runs] == [RunTrigger.BACKFILL]


async def test_readonly_hides_backfill(make_app: Callable[..., SymbiApp]) -> None:
    app = make_app(readonly=True)
    async with app.run_test(size=NARROW) as pilot:
        await loaded(app)
        await select(app, "daily-report")
        await pilot.press("B")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, BackfillScreen)


async def test_a_tab_typed_in_one_burst_moves_to_the_to_field(
    make_app: Callable[..., SymbiApp],
) -> None:
    """``from`` Tab ``to`` Enter in one write (a paste, a fast typist over SSH): each part lands
    in its own field, as in the job form, and Enter previews that range."""
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        await loaded(app)
        await select(app, "daily-report")
        await pilot.press("B")
        await until(lambda: isinstance(app.screen, BackfillScreen))
        form = _form(app)
        await until(lambda: form.focused is form.query_one("#backfill-from", Input))
        for character in "2026-03-01T00:00\t2026-03-02T00:00":
            key = "tab" if character == "\t" else character
            app.post_message(events.Key(key, character))
        await until(lambda: form.query_one("#backfill-to", Input).value == "2026-03-02T00:00")
        assert form.query_one("#backfill-from", Input).value == "2026-03-01T00:00"
