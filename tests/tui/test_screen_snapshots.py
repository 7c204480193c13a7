"""Snapshots of the secondary screens (pytest-textual-snapshot), drawn from the operations scene.

The scene (``tests.tui.scenes``) is frozen at 08:59:50 on a fake clock with stable ids, so each
screen draws the same on every run. Each is drawn at 120x36 and at 80x24 (a first-class size: an
SSH session's default). Regenerate after an intended change with
``pytest tests/tui/test_screen_snapshots.py --snapshot-update`` and review the SVGs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input

from scheduler_core.model import RunTrigger
from symbi_tui.screens.approvals import ApprovalsScreen
from symbi_tui.screens.audit import AuditScreen, AuditTable
from symbi_tui.screens.backfill import BackfillScreen
from symbi_tui.screens.confirm import ConfirmScreen
from symbi_tui.screens.dead_letter import DeadLetterScreen
from symbi_tui.screens.export import ExportScreen
from symbi_tui.screens.heartbeat import HeartbeatScreen, IterationsTable
from symbi_tui.screens.job_form import JobFormScreen
from symbi_tui.screens.prompt import PromptScreen
from symbi_tui.screens.run_detail import RunDetailScreen
from symbi_tui.screens.run_history import RunHistoryScreen
from symbi_tui.screens.timeline import TimelineScreen
from symbi_tui.screens.watch import WatchScreen
from symbi_tui.widgets.run_history import RunHistory

from .conftest import until
from .scenes import OpsScene, ScreenApp, build_ops_scene

#: every screen at the size the README's screenshots use and at a plain 80x24 terminal
SIZES = {"120x36": (120, 36), "80x24": (80, 24)}
Snap = Callable[..., bool]


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest) -> tuple[int, int]:
    return SIZES[request.param]


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[OpsScene]:
    """The operations scene, built on its own event loop (``snap_compare`` runs the app on a
    fresh one); its scheduler stays idle on the stopped fake clock meanwhile."""
    loop = asyncio.new_event_loop()
    built = loop.run_until_complete(build_ops_scene(tmp_path / "ops.db"))
    try:
        yield built
    finally:
        loop.run_until_complete(built.close())
        loop.close()


def run_id(scene: OpsScene, job: str, trigger: RunTrigger | None = None) -> str:
    """The newest run of ``job`` (with ``trigger``), read on the scene's own loop."""

    async def find() -> str:
        runs = await scene.service.history(job, limit=20)
        return next(r.id for r in runs if trigger is None or r.trigger is trigger)

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(find())
    finally:
        loop.close()


def loaded(app: ScreenApp, kind: type[Screen[Any]], also: Callable[[Any], bool] | None = None):
    """``run_before``: wait until the screen has its data (and ``also`` holds), cursor still."""

    async def wait(pilot: Pilot[None]) -> None:
        def ready() -> bool:
            screen = app.screen
            return (
                isinstance(screen, kind)
                and getattr(screen, "loaded", True)
                and (also is None or also(screen))
            )

        await until(ready)
        for field in app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    return wait


class TestLiveScreens:
    def test_watch(self, snap_compare: Snap, scene: OpsScene, size: tuple[int, int]) -> None:
        """The held heartbeat run in flight, 20 s in, iteration 2 of 6."""
        app = ScreenApp(lambda: WatchScreen(scene.backend, clock=scene.clock, job="system-monitor"))
        assert snap_compare(app, terminal_size=size, run_before=loaded(app, WatchScreen))

    def test_heartbeat(self, snap_compare: Snap, scene: OpsScene, size: tuple[int, int]) -> None:
        app = ScreenApp(
            lambda: HeartbeatScreen(scene.backend, clock=scene.clock, job="system-monitor")
        )
        ready = loaded(app, HeartbeatScreen, lambda s: s.query_one(IterationsTable).row_count == 2)
        assert snap_compare(app, terminal_size=size, run_before=ready)

    def test_timeline(self, snap_compare: Snap, scene: OpsScene, size: tuple[int, int]) -> None:
        app = ScreenApp(lambda: TimelineScreen(scene.backend, clock=scene.clock))
        assert snap_compare(app, terminal_size=size, run_before=loaded(app, TimelineScreen))

    def test_timeline_zoomed_to_an_hour(
        self, snap_compare: Snap, scene: OpsScene, size: tuple[int, int]
    ) -> None:
        """At 1h the 09:00 pile-up stands out in the load row."""
        app = ScreenApp(lambda: TimelineScreen(scene.backend, clock=scene.clock))
        assert snap_compare(
            app, terminal_size=size, press=["plus", "plus"], run_before=loaded(app, TimelineScreen)
        )


class TestRuns:
    def test_run_history(self, snap_compare: Snap, scene: OpsScene, size: tuple[int, int]) -> None:
        app = ScreenApp(lambda: RunHistoryScreen(scene.backend, clock=scene.clock, job="flaky-job"))
        ready = loaded(app, RunHistoryScreen, lambda s: s.query_one(RunHistory).row_count == 3)
        assert snap_compare(app, terminal_size=size, run_before=ready)

    def test_run_detail(self, snap_compare: Snap, scene: OpsScene, size: tuple[int, int]) -> None:
        """Delivered to stdout, failed on email (not configured), policy allow."""
        run = run_id(scene, "metrics-report")
        app = ScreenApp(lambda: RunDetailScreen(scene.backend, clock=scene.clock, run_id=run))
        assert snap_compare(app, terminal_size=size, run_before=loaded(app, RunDetailScreen))


class TestTriage:
    def test_dead_letter(self, snap_compare: Snap, scene: OpsScene, size: tuple[int, int]) -> None:
        app = ScreenApp(lambda: DeadLetterScreen(scene.backend, clock=scene.clock))
        ready = loaded(app, DeadLetterScreen, lambda s: s.query_one(RunHistory).row_count == 3)
        assert snap_compare(app, terminal_size=size, run_before=ready)

    def test_dead_letter_reset_asks_first(
        self, snap_compare: Snap, scene: OpsScene, size: tuple[int, int]
    ) -> None:
        app = ScreenApp(lambda: DeadLetterScreen(scene.backend, clock=scene.clock))
        ready = loaded(app, DeadLetterScreen, lambda s: s.query_one(RunHistory).row_count == 3)

        async def confirm(pilot: Pilot[None]) -> None:
            await ready(pilot)
            await pilot.press("ctrl+r")
            await until(lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.pause()

        assert snap_compare(app, terminal_size=size, run_before=confirm)

    def test_approvals(self, snap_compare: Snap, scene: OpsScene, size: tuple[int, int]) -> None:
        app = ScreenApp(lambda: ApprovalsScreen(scene.backend, clock=scene.clock))
        assert snap_compare(app, terminal_size=size, run_before=loaded(app, ApprovalsScreen))

    def test_approve_asks_for_a_reason(
        self, snap_compare: Snap, scene: OpsScene, size: tuple[int, int]
    ) -> None:
        app = ScreenApp(lambda: ApprovalsScreen(scene.backend, clock=scene.clock))
        ready = loaded(app, ApprovalsScreen)

        async def prompt(pilot: Pilot[None]) -> None:
            await ready(pilot)
            await pilot.press("a")
            await until(lambda: isinstance(app.screen, PromptScreen))
            field = app.screen.query_one(Input)
            field.cursor_blink = False
            field.value = "change 4711 signed off"
            await pilot.pause()

        assert snap_compare(app, terminal_size=size, run_before=prompt)

    def test_backfill_preview(
        self, snap_compare: Snap, scene: OpsScene, size: tuple[int, int]
    ) -> None:
        """B on the watch screen: a range's instants previewed, those with a run skipped."""
        app = ScreenApp(lambda: WatchScreen(scene.backend, clock=scene.clock, job="metrics-report"))
        ready = loaded(app, WatchScreen)

        async def previewed(pilot: Pilot[None]) -> None:
            await ready(pilot)
            await pilot.press("B")
            await until(lambda: isinstance(app.screen, BackfillScreen))
            form = app.screen
            for field, value in zip(
                form.query(Input), ("2026-03-02T08:40", "2026-03-02T08:55"), strict=True
            ):
                field.cursor_blink = False
                field.value = value
            form.query_one("#backfill-from", Input).focus()
            await pilot.press("enter")
            await until(lambda: "instant(s)" in str(form.query_one("#backfill-list").content))
            await pilot.pause()

        assert snap_compare(app, terminal_size=size, run_before=previewed)

    def test_audit(self, snap_compare: Snap, scene: OpsScene, size: tuple[int, int]) -> None:
        app = ScreenApp(lambda: AuditScreen(scene.backend, clock=scene.clock))
        ready = loaded(app, AuditScreen, lambda s: s.query_one(AuditTable).row_count > 30)
        assert snap_compare(app, terminal_size=size, run_before=ready)


class TestExport:
    def test_export(self, snap_compare: Snap, scene: OpsScene, size: tuple[int, int]) -> None:
        """The DSL of flaky-job (and its agent), with the save key."""
        app = ScreenApp(lambda: ExportScreen(scene.backend, clock=scene.clock, names=["flaky-job"]))
        ready = loaded(app, ExportScreen, lambda s: s.text is not None)
        assert snap_compare(app, terminal_size=size, run_before=ready)


class TestJobForm:
    def test_new_job_with_an_invalid_cron(
        self, snap_compare: Snap, scene: OpsScene, size: tuple[int, int]
    ) -> None:
        """The error names the cron field and the value, under the field and in the preview."""
        app = ScreenApp(lambda: JobFormScreen(scene.backend, clock=scene.clock))
        ready = loaded(app, JobFormScreen)

        async def typed(pilot: Pilot[None]) -> None:
            await ready(pilot)
            screen = app.screen
            assert isinstance(screen, JobFormScreen)
            for key, value in {
                "name": "nightly-etl",
                "agent": "etl-agent",
                "timezone": "Europe/London",
                "cron": "0 25 * * MON-FRI",
            }.items():
                field = screen.query_one(f"#field-{key}", Input)
                field.focus()
                await pilot.pause()
                field.value = value
            await pilot.pause()

        assert snap_compare(app, terminal_size=size, run_before=typed)

    def test_new_job_preview_of_next_runs(
        self, snap_compare: Snap, scene: OpsScene, size: tuple[int, int]
    ) -> None:
        """A valid cron: its English reading and next five runs in the job's time zone."""
        app = ScreenApp(
            lambda: JobFormScreen(
                scene.backend,
                clock=scene.clock,
                values={
                    "name": "nightly-etl",
                    "agent": "etl-agent",
                    "cron": "30 1 * * *",
                    "timezone": "Europe/London",
                    "delivery": "log_file, slack",
                    "slack_channel": "#etl",
                    "require_approval": True,
                    "approvers": "dba",
                },
            )
        )
        assert snap_compare(app, terminal_size=size, run_before=loaded(app, JobFormScreen))
