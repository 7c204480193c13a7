"""A frozen demo: the demo jobs after ten minutes on a fake clock, the same on every run.

Screenshots and snapshot tests need screens that do not change between runs: no wall time, no
random failures, no real sleeps. This builds the ``--demo`` jobs on a real SQLite file, drives a
:class:`~scheduler_core.clock.FakeClock` from 08:50 to 08:59:30 with agents that behave like the
demo's but deterministically (durations are ticked on the fake clock), then pauses one job and
queues one manual run, so every status the console draws is on screen.
"""

from __future__ import annotations

__all__ = ["SCENE_NOW", "SCENE_START", "Scene", "build_scene", "scene_executor", "stable_ids"]

import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import scheduler_core.scheduling.loop
import scheduler_core.scheduling.rules
import scheduler_core.service
from scheduler_core.clock import FakeClock, parse_instant
from scheduler_core.config import SchedulerConfig, SchedulerSettings
from scheduler_core.demo import DEMO_JOBS
from scheduler_core.engine import Engine
from scheduler_core.runtime.base import CallableExecutor, RunContext
from scheduler_core.service import SchedulerService
from scheduler_core.store import open_store
from symbi_tui.backend import LocalBackend

SCENE_START = "2026-03-02T08:50:00Z"  #: a Monday morning; the demo jobs are created here
SCENE_NOW = "2026-03-02T08:59:30Z"  #: where the clock stops: half a minute before 09:00
_STEP_SECONDS = 10


def scene_executor(clock: FakeClock) -> CallableExecutor:
    """The demo agents made deterministic: fixed outputs and durations, one always failing."""

    def agent(ms: int, result: Any = None, error: str | None = None) -> Any:
        async def run(ctx: RunContext) -> Any:
            clock.tick_ms(ms)
            if error is not None:
                raise RuntimeError(error)
            return result(ctx) if callable(result) else result

        return run

    return CallableExecutor(
        {
            "reporter-agent": agent(
                212,
                lambda ctx: {
                    "output": f"report for {ctx.run.scheduled_for:%Y-%m-%d %H:%M}: 42 rows",
                    "summary": "ok",
                },
            ),
            "health-checker": agent(48, "all 3 endpoints healthy"),
            "unreliable-agent": agent(103, error="upstream returned 503"),
            "backup-agent": agent(3012, "backup finished: 1.2 GB"),
        }
    )


@contextmanager
def stable_ids(clock: FakeClock) -> Iterator[None]:
    """Ids from the fake clock and a counter instead of wall time and randomness."""
    counter = iter(range(1, 1_000_000))

    def new_id() -> str:
        ms = int(clock.now().timestamp() * 1000)
        return f"{ms:012x}{next(counter):020x}"

    with (
        mock.patch.object(scheduler_core.service, "new_id", new_id),
        mock.patch.object(scheduler_core.scheduling.rules, "new_id", new_id),
        mock.patch.object(scheduler_core.scheduling.loop, "new_id", new_id),
    ):
        yield


@dataclass(slots=True)
class Scene:
    engine: Engine
    service: SchedulerService
    clock: FakeClock
    backend: LocalBackend

    async def close(self) -> None:
        await self.engine.stop()


async def build_scene(path: str | Path) -> Scene:
    """The frozen demo in a new store at ``path`` (which must not exist yet)."""
    clock = FakeClock(SCENE_START)
    store = await open_store(str(path))
    engine = Engine(
        # stepped by a fake clock: runs are claimed on their instant, not ahead of it
        SchedulerConfig(
            scheduler=SchedulerSettings(retry_backoff_seconds=10, claim_ahead_seconds=0)
        ),
        executor=scene_executor(clock),
        clock=clock,
        store=store,
        owner="demo-scene",
        rng=random.Random(7),
    )
    # ids from the clock and a counter: the run ids the history panes show are the same each time
    with stable_ids(clock):
        service = await engine.start()
        assert engine.scheduler is not None
        await service.add_jobs(DEMO_JOBS, actor="demo")
        end = parse_instant(SCENE_NOW)
        while clock.now() < end:
            await engine.scheduler.wait_idle()
            clock.advance(_STEP_SECONDS)
        await engine.scheduler.wait_idle()
        await service.pause_job("quarter-hour", actor="tui")
        await service.run_now("daily-report", actor="tui")
        await engine.scheduler.wait_idle()
    return Scene(
        engine=engine, service=service, clock=clock, backend=LocalBackend(service, engine.bus)
    )
