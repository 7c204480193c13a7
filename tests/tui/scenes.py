"""A frozen operations scene for the secondary screens, and a host app that shows one screen.

Shared by the screen and snapshot tests and the screenshot script
(``screenshots/make_screenshots.py``), so both draw the same screens.

``build_ops_scene`` is the demo scene (``tests/tui/demo_scene.py``: the ``--demo`` jobs on a fake
clock, deterministic agents) plus what those screens need to show:

* ``system-monitor``: a heartbeat job; its 08:55 wake-up ran three iterations and slept, and a
  manual run is in flight, held in its second iteration, at the scene's end;
* ``production-deploy`` and ``db-migration``: jobs that require approval, each with a run parked
  awaiting it;
* ``metrics-report``: delivers to stdout (captured) and email (not configured, so it fails), with
  an AgentPin token that must show masked.

Ids come from a counter on the fake clock while the scene is built, so screens that show a run id
or job id draw the same thing on every run. The clock stops at 08:59:50.
"""

from __future__ import annotations

import symbi_tui.app  # first: sets Textual's defaults before Textual loads

__all__ = [
    "OPS_JOBS",
    "OPS_NOW",
    "OpsScene",
    "ScreenApp",
    "build_ops_scene",
    "stable_ids",
]

import asyncio
import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.screen import Screen

from scheduler_core.clock import FakeClock, parse_instant
from scheduler_core.config import SchedulerConfig, SchedulerSettings
from scheduler_core.demo import DEMO_JOBS
from scheduler_core.engine import Engine
from scheduler_core.model import JobRun, RunStatus, RunTrigger
from scheduler_core.runtime.base import CallableExecutor, RunContext
from scheduler_core.service import SchedulerService
from scheduler_core.store import open_store
from symbi_tui.backend import LocalBackend
from symbi_tui.legibility import LegibleColours
from symbi_tui.screens.base import ConsoleScreen, OpenView
from symbi_tui.screens.views import make_view

from .demo_scene import SCENE_NOW, SCENE_START, scene_executor, stable_ids

OPS_NOW = "2026-03-02T08:59:50Z"  #: where the clock stops (20 s into the held heartbeat run)
APP_TCSS = str(Path(symbi_tui.app.__file__).with_name("app.tcss"))  #: the console's styles

OPS_JOBS: list[dict[str, Any]] = [
    {
        "name": "system-monitor",
        "agent": "heartbeat-agent",
        "cron": "*/5 * * * *",
        "heartbeat": {"enabled": True, "max_iterations": 6},
    },
    {
        "name": "production-deploy",
        "agent": "deploy-agent",
        "cron": "*/5 * * * *",
        "policy": {
            "require_approval": True,
            "approvers": ["alice", "ops-lead"],
            "max_runtime": "30m",
        },
    },
    {
        "name": "db-migration",
        "agent": "deploy-agent",
        "cron": "58 8 * * *",
        "input": "migrate orders to v42",
        "policy": {"require_approval": True, "approvers": ["dba"], "approval_timeout": "15m"},
    },
    {
        "name": "metrics-report",
        "agent": "reporter-agent",
        "cron": "*/5 * * * *",
        "timezone": "Europe/London",
        "delivery": ["stdout", "email"],
        "email_recipients": ["ops@example.com"],
        "agent_pin_jwt": "eyJhbGciOiJFUzI1NiJ9.secret-token",
    },
]

#: what the heartbeat agent answers in each iteration (the third one sleeps)
HEARTBEAT_STEPS: list[dict[str, str]] = [
    {
        "assessment": "cpu 92% on web-2, error rate 4%",
        "action": "restart cache on web-2",
        "summary": "restarted the cache on web-2",
    },
    {
        "assessment": "cpu 55% on web-2, error rate 0.5%",
        "action": "alert #ops-alerts",
        "summary": "told #ops-alerts about the spike",
    },
    {
        "assessment": "cpu 31%, error rate 0%",
        "action": "sleep",
        "summary": "all nominal after the restart",
    },
]


@dataclass(slots=True)
class OpsScene:
    engine: Engine
    service: SchedulerService
    clock: FakeClock
    backend: LocalBackend
    hold: asyncio.Event  #: set it to let the held heartbeat run go on
    held_run: JobRun  #: the manual system-monitor run held in its second iteration
    stdout: io.StringIO  #: what the stdout delivery channel wrote

    async def close(self) -> None:
        self.hold.set()
        await self.engine.stop()


def _executor(clock: FakeClock, hold: asyncio.Event, held: list[int]) -> CallableExecutor:
    async def heartbeat(ctx: RunContext) -> dict[str, str]:
        if ctx.run.trigger is RunTrigger.MANUAL:
            clock.advance(2.4)  # seen as the iteration's duration
            if ctx.iteration == 2:
                held.append(ctx.iteration)
                await hold.wait()
        else:
            clock.tick_ms(800)
        step = HEARTBEAT_STEPS[min(ctx.iteration, len(HEARTBEAT_STEPS)) - 1]
        return {"output": json.dumps(step), "summary": step["summary"]}

    async def deploy(ctx: RunContext) -> str:
        clock.tick_ms(1840)
        return f"deployed build 1.8.3 to production ({ctx.job.name})"

    agents = dict(scene_executor(clock).agents)
    agents.update({"heartbeat-agent": heartbeat, "deploy-agent": deploy})
    return CallableExecutor(agents)


async def build_ops_scene(path: str | Path) -> OpsScene:
    """The operations scene in a new store at ``path`` (which must not exist yet)."""
    clock = FakeClock(SCENE_START)
    hold = asyncio.Event()
    held: list[int] = []
    stdout = io.StringIO()
    store = await open_store(str(path))
    engine = Engine(
        SchedulerConfig(
            scheduler=SchedulerSettings(
                retry_backoff_seconds=10, claim_ahead_seconds=0, shutdown_timeout_seconds=1
            )
        ),
        executor=_executor(clock, hold, held),
        clock=clock,
        store=store,
        owner="ops-scene",
        rng=random.Random(7),
        stdout=stdout,
    )
    with stable_ids(clock):
        service = await engine.start()
        scheduler = engine.scheduler
        assert scheduler is not None
        await service.add_jobs([*DEMO_JOBS, *OPS_JOBS], actor="demo")
        end = parse_instant(SCENE_NOW)
        while clock.now() < end:
            await scheduler.wait_idle()
            clock.advance(10)
        await scheduler.wait_idle()
        await service.pause_job("quarter-hour", actor="tui")
        await service.run_now("daily-report", actor="tui")
        await scheduler.wait_idle()
        held_run = await service.run_now("system-monitor", input="check web-2 again", actor="tui")
        for _ in range(500):  # until the run is held in its second iteration
            if held and len(await service.iterations(held_run.id)) == 2:
                break
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError("the heartbeat run did not reach its second iteration")
    clock.set(OPS_NOW)
    await asyncio.sleep(0.05)  # the loop wakes, finds nothing due before 09:00, sleeps again
    held_run = await service.get_run(held_run.id)
    assert held_run.status is RunStatus.RUNNING
    return OpsScene(
        engine=engine,
        service=service,
        clock=clock,
        backend=LocalBackend(service, engine.bus),
        hold=hold,
        held_run=held_run,
        stdout=stdout,
    )


class ScreenApp(LegibleColours):
    """The console's styles around one screen, for pilot and snapshot tests."""

    CSS_PATH = APP_TCSS

    def __init__(self, make_screen: Callable[[], Screen[Any]]) -> None:
        super().__init__()
        self._make_screen = make_screen

    def on_mount(self) -> None:
        self.push_screen(self._make_screen())

    def on_open_view(self, message: OpenView) -> None:
        """Navigation, as the console answers it, with the settings of the screen that asked."""
        source = self.screen
        assert isinstance(source, ConsoleScreen)
        screen = make_view(
            message.view,
            message.target,
            backend=source.backend,
            clock=source.clock,
            readonly=source.readonly,
            refresh_interval=source.refresh_interval,
        )
        self.push_screen(screen, message.on_result)
