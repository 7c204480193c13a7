"""Shared fixtures: a fake clock, a SQLite file store, and an engine driven by that clock."""

from __future__ import annotations

import asyncio
import io
import os
import random
import sys
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from scheduler_core.clock import FakeClock
from scheduler_core.config import SchedulerConfig, SchedulerSettings, StoreConfig
from scheduler_core.engine import Engine
from scheduler_core.runtime.base import CallableExecutor, RunContext
from scheduler_core.service import SchedulerService
from scheduler_core.settings import SecretsConfig
from scheduler_core.store import SqliteJobStore

pytest_plugins = ("tests.pg",)  # the store back ends: SQLite files and a PostgreSQL server

START = "2026-03-02T08:59:30Z"  # a Monday


class Agents:
    """Python-callable agents for tests; records every call."""

    def __init__(self) -> None:
        self.calls: list[RunContext] = []
        self.behaviour: dict[str, Callable[[RunContext], Any]] = {}
        self.gates: dict[str, asyncio.Event] = {}

    def executor(self) -> CallableExecutor:
        agents = self

        class _Lookup(dict):  # every agent name resolves
            def get(self, name: str, default: Any = None) -> Any:
                return agents._run

        return CallableExecutor(_Lookup())

    async def _run(self, ctx: RunContext) -> Any:
        self.calls.append(ctx)
        gate = self.gates.get(ctx.job.agent)
        if gate is not None:
            await gate.wait()
        fn = self.behaviour.get(ctx.job.agent)
        if fn is None:
            return f"ok {ctx.job.name}"
        result = fn(ctx)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    def fail(self, agent: str, message: str = "boom") -> None:
        def raise_(ctx: RunContext) -> None:
            raise RuntimeError(message)

        self.behaviour[agent] = raise_

    def block(self, agent: str) -> asyncio.Event:
        self.gates[agent] = asyncio.Event()
        return self.gates[agent]

    def names(self) -> list[str]:
        return [c.job.name for c in self.calls]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def db_path(symbi_store_url: str) -> str:
    """The store the harness runs on: a SQLite file, then a fresh PostgreSQL database (each test
    runs on both; see tests/pg.py)."""
    return symbi_store_url


@pytest.fixture
def agents() -> Agents:
    return Agents()


def make_config(
    db_path: str, *, secrets: SecretsConfig | None = None, **settings: Any
) -> SchedulerConfig:
    """A test config; ``secrets``: the ``[secrets]`` allow-list (default: nothing allowed)."""
    base = SchedulerSettings(
        retry_backoff_seconds=10,
        misfire_threshold_seconds=60,
        shutdown_timeout_seconds=0.5,
        claim_ahead_seconds=0,  # tests step the clock onto instants; one test sets it
    )
    return SchedulerConfig(
        scheduler=replace(base, **settings),
        store=StoreConfig(url=db_path),
        secrets=secrets or SecretsConfig(),
    )


class Harness:
    def __init__(self, engine: Engine, clock: FakeClock, agents: Agents) -> None:
        self.engine = engine
        self.clock = clock
        self.agents = agents

    @property
    def service(self) -> SchedulerService:
        assert self.engine.service is not None
        return self.engine.service

    @property
    def scheduler(self):
        return self.engine.scheduler

    @property
    def store(self) -> SqliteJobStore:
        return self.engine.store  # type: ignore[return-value]

    async def settle(self) -> None:
        assert self.engine.scheduler is not None
        await asyncio.wait_for(self.engine.scheduler.wait_idle(), 10)

    async def advance(self, seconds: float = 0, **delta: float) -> None:
        """Move the clock and let the scheduler do everything now due."""
        await self.settle()
        self.clock.advance(seconds, **delta)
        await self.settle()

    async def clock_step(self, instant: str) -> None:
        """Move the clock and let the loop fire, without waiting for runs to finish."""
        self.clock.set(instant)
        assert self.engine.scheduler is not None
        self.engine.scheduler.notify()
        for _ in range(50):
            await asyncio.sleep(0.005)
            sched = self.engine.scheduler
            if not sched._changed and sched._next_due and sched._next_due > self.clock.now():
                break

    async def to(self, instant: str) -> None:
        await self.settle()
        self.clock.set(instant)
        await self.settle()


@pytest.fixture
async def harness_factory(
    clock: FakeClock, db_path: str, agents: Agents
) -> AsyncIterator[Callable[..., Any]]:
    """Builds harnesses; every engine it built is stopped at the end of the test (a store left
    open keeps aiosqlite's worker threads alive, and the test process could never exit)."""
    engines: list[Engine] = []

    async def build(
        *, path: str | None = None, owner: str | None = None, **settings: Any
    ) -> Harness:
        engine = Engine(
            make_config(path or db_path, **settings),
            executor=agents.executor(),
            clock=clock,
            owner=owner,
            rng=random.Random(7),
        )
        await engine.start()
        engines.append(engine)
        return Harness(engine, clock, agents)

    build.engines = engines  # type: ignore[attr-defined]
    yield build
    for engine in engines:
        await engine.stop()


@pytest.fixture
async def harness(harness_factory: Callable[..., Any]) -> AsyncIterator[Harness]:
    h = await harness_factory()
    yield h
    await h.engine.stop()


async def real_engine(
    tmp_path: Path,
    executor: Any,
    *,
    start: str = "2026-03-02T08:59:00Z",
    config: SchedulerConfig | None = None,
) -> tuple[Engine, FakeClock]:
    """An engine over a SQLite file in ``tmp_path``, for agents that run for real (subprocesses,
    HTTP); its fake clock only decides when jobs fire."""
    clock = FakeClock(start)
    config = config or SchedulerConfig(
        scheduler=SchedulerSettings(claim_ahead_seconds=0, shutdown_timeout_seconds=0.5),
        store=StoreConfig(url=str(tmp_path / "s.db")),
    )
    engine = Engine(config, executor=executor, clock=clock)
    await engine.start()
    return engine, clock


async def finished_run(engine: Engine, job: str) -> Any:
    """The job's newest run once it has ended (agents that run for real take wall time)."""
    from scheduler_core.model import RunStatus

    assert engine.service is not None and engine.scheduler is not None
    runs: list[Any] = []
    for _ in range(500):
        await engine.scheduler.wait_idle()
        runs = await engine.service.history(job)
        if runs and runs[0].status not in (RunStatus.RUNNING, RunStatus.QUEUED):
            return runs[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"the run did not finish: {runs}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A test stopped by pytest-timeout shows its threads, not what its event loop waits on:
    add the stack of every asyncio task not done, so a hang in CI says where it hung."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or "Timeout" not in str(report.longrepr):
        return
    stacks = []
    for task in list(asyncio.tasks._all_tasks):  # (every loop's, weakly held)
        if task.done():
            continue
        out = io.StringIO()
        task.print_stack(limit=12, file=out)
        stacks.append(out.getvalue())
    report.sections.append(("asyncio tasks at the timeout", "\n".join(stacks) or "(none)"))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Name the test order's seed on every run (quiet runs hide pytest-randomly's header line)."""
    seed = getattr(config.option, "randomly_seed", None)
    if seed is not None and config.pluginmanager.hasplugin("randomly"):
        terminalreporter.write_line(
            f"tests ran in random order: --randomly-seed={seed} repeats it, -p no:randomly "
            "runs them in file order"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    """A test that leaves a store open leaves aiosqlite's worker threads running, and Python
    waits for them at exit: the run would hang after its summary (until CI's limit). Give them a
    moment, then fail the run, naming them, instead."""
    leftover = [
        t
        for t in threading.enumerate()
        if t is not threading.main_thread() and not t.daemon and t.is_alive()
    ]
    for thread in leftover:
        thread.join(timeout=5 / len(leftover))
    stuck = [t.name for t in leftover if t.is_alive()]
    if stuck:
        sys.stderr.write(
            f"\n{len(stuck)} thread(s) still running after the tests, so the process could not "
            f"exit: {', '.join(stuck)}. A test left something open (an aiosqlite store?).\n"
        )
        sys.stderr.flush()
        os._exit(3)
