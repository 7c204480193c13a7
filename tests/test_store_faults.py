"""Store faults in process (issue 18): the backoff schedule on the injected clock, finished runs
kept until the store takes them, a batch that can never be written, shutdown, and the stores'
translation of real SQLite and PostgreSQL errors.

The scheduler runs on a real SQLite file; :class:`FaultyStore` makes chosen transactions fail as
a store fault while armed (what a real fault raises is checked on real files at the end, and with
a real daemon in ``test_reliability_store.py``). Nothing waits on wall time for a schedule: the
fake clock is moved from one sleeper's instant to the next.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler_core.clock import FakeClock, parse_instant
from scheduler_core.config import SchedulerConfig, SchedulerSettings, StoreConfig
from scheduler_core.engine import Engine
from scheduler_core.errors import StoreError, StoreUnavailable
from scheduler_core.model import AuditEventType, RunStatus
from scheduler_core.scheduling import CronScheduler, StoreFault
from scheduler_core.service import SchedulerService
from scheduler_core.store import SqliteJobStore, open_store
from scheduler_core.store.sqlite import _faults as sqlite_faults
from scheduler_core.wire import error_from_answer, health_from_dict, health_to_dict

from .conftest import Agents

T0 = parse_instant("2026-03-02T09:00:00Z")
FULL = StoreUnavailable("disk_full", store="s.db", reason="database or disk is full")


class FaultyStore:
    """A real store whose ``claim_due`` / ``finish_runs`` fail while armed (``failing[name]``: an
    exception, or a function of the items that raises or not); every call is recorded with the
    clock's instant."""

    def __init__(self, inner: SqliteJobStore, clock: FakeClock) -> None:
        self._inner = inner
        self._clock = clock
        self.failing: dict[str, Any] = {}
        self.calls: dict[str, list[datetime]] = defaultdict(list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _check(self, name: str, *args: Any) -> None:
        self.calls[name].append(self._clock.now())
        fault = self.failing.get(name)
        if isinstance(fault, BaseException):
            raise fault
        if callable(fault):
            fault(*args)

    async def claim_due(self, *args: Any, **kwargs: Any) -> Any:
        self._check("claim_due")
        return await self._inner.claim_due(*args, **kwargs)

    async def finish_runs(self, items: Any, planner: Any, chain: Any = None, **kw: Any) -> Any:
        self._check("finish_runs", items)
        return await self._inner.finish_runs(items, planner, chain, **kw)

    async def record_audit(self, events: Any) -> Any:
        self._check("record_audit")
        return await self._inner.record_audit(events)


class Rig:
    def __init__(self, engine: Engine, store: FaultyStore, clock: FakeClock) -> None:
        self.engine, self.store, self.clock = engine, store, clock

    @property
    def service(self) -> SchedulerService:
        assert self.engine.service is not None
        return self.engine.service

    @property
    def scheduler(self) -> CronScheduler:
        assert self.engine.scheduler is not None
        return self.engine.scheduler

    async def settle(self) -> None:
        """Wait until the scheduler's tasks all sleep on the clock (the loop, the lease renewal,
        and the finish writer while it holds runs) with no run working, the same for two looks
        in a row."""
        last: list[datetime] | None = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ahead = [d for d in self.clock.sleepers() if d > self.clock.now()]
            busy = any(not t.done() for t in self.scheduler.runs.tasks.values())
            sleepers = 3 if self.scheduler.writer.busy else 2
            if len(ahead) >= sleepers and not busy and ahead == last:
                return
            last = None if busy else ahead
            await asyncio.sleep(0.01)
        raise AssertionError(f"the scheduler did not settle: sleepers {self.clock.sleepers()}")

    async def run_until(self, instant: datetime) -> None:
        """Move the clock from one sleeper's instant to the next until ``instant``."""
        await self.settle()
        while self.clock.now() < instant:
            ahead = [d for d in self.clock.sleepers() if d > self.clock.now()]
            self.clock.set(min([*ahead, instant]))
            await self.settle()


@pytest.fixture
async def rig_factory(tmp_path: Path, agents: Agents) -> AsyncIterator[Callable[..., Any]]:
    rigs: list[Rig] = []

    async def build(failing: dict[str, Any] | None = None, **settings: Any) -> Rig:
        clock = FakeClock("2026-03-02T08:59:30Z")
        inner = SqliteJobStore(str(tmp_path / "s.db"))
        await inner.open()
        store = FaultyStore(inner, clock)
        store.failing.update(failing or {})
        base = {"claim_ahead_seconds": 0, "shutdown_timeout_seconds": 5, **settings}
        config = SchedulerConfig(
            scheduler=SchedulerSettings(**base), store=StoreConfig(url=str(tmp_path / "s.db"))
        )
        engine = Engine(config, executor=agents.executor(), clock=clock, store=store)  # type: ignore[arg-type]
        await engine.start()
        rigs.append(Rig(engine, store, clock))
        return rigs[-1]

    yield build
    for rig in rigs:
        rig.store.failing.clear()  # (a stop waits for the clock while the store fails)
        await rig.engine.stop()


async def until(condition: Callable[[], bool]) -> None:
    """Wait (on the event loop) until ``condition()`` holds."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == name]


def offsets(instants: list[datetime]) -> list[float]:
    return [(i - T0).total_seconds() for i in instants]


# --- the loop -------------------------------------------------------------------------------------


async def test_a_failing_cycle_backs_off_from_the_tick_to_the_cap_and_logs_twice(
    rig_factory: Callable[..., Any], agents: Agents, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    rig = await rig_factory(tick_interval_seconds=1, store_retry_max_seconds=30)
    await rig.service.add_job({"name": "report", "agent": "a", "cron": "0 9 * * *"})
    await rig.settle()
    rig.store.failing["claim_due"] = FULL
    rig.store.calls.clear()
    await rig.run_until(T0 + timedelta(seconds=40))
    # notifications (API writes, runs ending) do not make a failing store be asked sooner
    for _ in range(5):
        rig.scheduler.notify()
        await rig.settle()
    health = await rig.service.health()
    assert health.status == "degraded" and health.store is not None
    assert (health.store.cause, health.store.since) == ("disk_full", T0)
    assert "is full" in health.store.error
    await rig.run_until(T0 + timedelta(seconds=100))
    rig.store.failing.clear()
    await rig.run_until(T0 + timedelta(seconds=130))
    tried = offsets(rig.store.calls["claim_due"])
    assert tried[:9] == [0, 1, 3, 7, 15, 31, 61, 91, 121]  # the last one worked
    assert all(t == 121 for t in tried[9:])  # (a look after the run ended)
    assert agents.names() == ["report"]  # caught up once when the store took the claim
    (start,) = events(caplog, "store.unavailable")
    assert start.levelno == logging.ERROR and start.exc_info is None
    assert "is full" in start.getMessage() and "retrying from 1s up to 30s" in start.getMessage()
    (end,) = events(caplog, "store.recovered")
    assert "after 121s" in end.getMessage() and "claimed 121s late" in end.getMessage()
    assert not any(r.exc_info for r in caplog.records)
    assert (await rig.service.health()).status == "healthy"


async def test_a_store_that_fails_at_start_does_not_stop_the_scheduler(
    rig_factory: Callable[..., Any], agents: Agents, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    rig = await rig_factory(failing={"record_audit": FULL}, lease_ttl_seconds=6)
    assert not rig.scheduler.is_leader  # recovery (which writes) waits for the store
    health = await rig.service.health()
    assert health.status == "degraded" and health.store is not None
    assert health.store.cause == "disk_full"
    await rig.run_until(T0)
    tries = len(rig.store.calls["record_audit"])
    assert 10 <= tries <= 20  # renewed as a standby renews, every 2 s
    assert not any("took the store lease" in r.getMessage() for r in caplog.records)
    rig.store.failing.clear()
    await rig.service.add_job({"name": "report", "agent": "a", "cron": "5 9 * * *"})
    await rig.run_until(T0 + timedelta(minutes=6))
    assert rig.scheduler.is_leader and agents.names() == ["report"]
    assert len(events(caplog, "store.unavailable")) == 1
    assert len(events(caplog, "store.recovered")) == 1
    took = [r for r in caplog.records if "took the store lease" in r.getMessage()]
    assert len(took) == 1 and not any(r.exc_info for r in caplog.records)


# --- finished runs --------------------------------------------------------------------------------


async def test_a_finished_run_waits_in_memory_with_its_slot_and_is_written_once(
    rig_factory: Callable[..., Any], agents: Agents, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    rig = await rig_factory(tick_interval_seconds=1, store_retry_max_seconds=8)
    job = await rig.service.add_job({"name": "report", "agent": "a", "cron": "0 9 * * *"})
    rig.store.failing["finish_runs"] = FULL
    await rig.run_until(T0)
    await rig.run_until(T0 + timedelta(seconds=30))
    (run,) = await rig.service.history("report")
    assert run.status is RunStatus.RUNNING  # not lost: recorded once the store takes it
    health = await rig.service.health()
    assert health.status == "degraded" and health.in_flight_jobs == 1
    assert health.store is not None and health.store.waiting == 1
    assert rig.scheduler.runs.counts() == {job.id: 1}  # it keeps its slot
    rig.store.failing.clear()
    await rig.run_until(T0 + timedelta(seconds=40))
    assert offsets(rig.store.calls["finish_runs"]) == [0, 1, 3, 7, 15, 23, 31]
    (run,) = await rig.service.history("report")
    assert run.status is RunStatus.SUCCEEDED and run.output == "ok report"
    assert agents.names() == ["report"]
    assert rig.scheduler.runs.counts() == {} and not rig.scheduler.writer.busy
    (end,) = events(caplog, "store.recovered")
    assert "1 finished run(s) kept in memory are recorded" in end.getMessage()
    assert (await rig.service.get_job("report")).run_count == 1


async def test_a_batch_that_can_never_be_written_blocks_no_other_finish(
    rig_factory: Callable[..., Any], agents: Agents, caplog: pytest.LogCaptureFixture
) -> None:
    def poisoned(items: Any) -> None:
        if any(item.run.job_name == "poison" for item in items):
            raise ValueError("this finish cannot be planned")

    rig = await rig_factory()
    for name in ("poison", "fine-1", "fine-2"):
        await rig.service.add_job({"name": name, "agent": name, "cron": "0 9 * * *"})
    gates = [agents.block(name) for name in ("poison", "fine-1", "fine-2")]
    rig.store.failing["finish_runs"] = poisoned
    await rig.settle()
    rig.clock.set(T0)
    await until(lambda: len(agents.calls) == 3)
    with rig.scheduler.writer.claiming():  # the three finishes queue up into one batch
        for gate in gates:
            gate.set()
        await until(lambda: all(t.done() for t in rig.scheduler.runs.tasks.values()))
    await rig.run_until(T0 + timedelta(seconds=60))
    runs = {r.job_name: r for r in await rig.service.history(limit=10)}
    assert runs["fine-1"].status is RunStatus.SUCCEEDED
    assert runs["fine-2"].status is RunStatus.SUCCEEDED
    poison = runs["poison"]  # recorded as it ended, with why the rest could not be
    assert poison.status is RunStatus.SUCCEEDED and "cannot be planned" in str(poison.details)
    assert len(rig.store.calls["finish_runs"]) == 4  # the batch, then each alone; never again
    assert not rig.scheduler.writer.busy and rig.scheduler.runs.counts() == {}
    (failed,) = events(caplog, "scheduler.finish_failed")
    assert failed.exc_info is not None and poison.id in failed.getMessage()
    assert not events(caplog, "store.unavailable")


async def test_shutdown_writes_waiting_finishes_first(
    rig_factory: Callable[..., Any], agents: Agents
) -> None:
    rig = await rig_factory(store_retry_max_seconds=30)
    await rig.service.add_job({"name": "report", "agent": "a", "cron": "0 9 * * *"})
    rig.store.failing["finish_runs"] = FULL
    await rig.run_until(T0 + timedelta(seconds=20))  # waiting 16 s more
    rig.store.failing.clear()
    stopping = asyncio.create_task(rig.scheduler.stop())
    await asyncio.wait_for(stopping, 10)  # at once: not after the backoff
    (run,) = await rig.service.history("report")
    assert run.status is RunStatus.SUCCEEDED
    audit = await rig.engine.store.query_audit(limit=10)  # newest first
    kinds = [e.type for e in reversed(audit)]
    assert kinds.index(AuditEventType.CRON_JOB_EXECUTED) < kinds.index(
        AuditEventType.SCHEDULER_STOPPED
    )


async def test_shutdown_gives_up_what_the_store_refuses_after_the_timeout(
    rig_factory: Callable[..., Any], agents: Agents, caplog: pytest.LogCaptureFixture
) -> None:
    rig = await rig_factory(shutdown_timeout_seconds=5)
    await rig.service.add_job({"name": "report", "agent": "a", "cron": "0 9 * * *"})
    rig.store.failing["finish_runs"] = FULL
    await rig.run_until(T0 + timedelta(seconds=2))
    stopping = asyncio.create_task(rig.scheduler.stop())
    for _ in range(8):  # the writer tries each tick for the shutdown timeout, then gives up
        await asyncio.sleep(0.05)
        rig.clock.advance(1)
    await asyncio.wait_for(stopping, 10)
    (run,) = await rig.service.history("report")
    assert run.status is RunStatus.RUNNING  # the next start records it interrupted
    (lost,) = events(caplog, "scheduler.finish_lost")
    assert run.id in lost.getMessage() and "next start" in lost.getMessage()
    assert len(rig.store.calls["finish_runs"]) >= 5


# --- health, the wire, the API's answer -----------------------------------------------------------


async def test_health_with_a_store_fault_round_trips_through_the_wire(
    rig_factory: Callable[..., Any],
) -> None:
    rig = await rig_factory()
    rig.store.failing["finish_runs"] = FULL
    await rig.service.add_job({"name": "report", "agent": "a", "cron": "0 9 * * *"})
    await rig.run_until(T0 + timedelta(seconds=5))
    health = await rig.service.health()
    assert health.store == StoreFault(
        error=str(FULL), since=T0, cause="disk_full", failures=3, waiting=1
    )
    data = health_to_dict(health)
    assert data["status"] == "degraded"
    assert data["store_fault"]["since"] == "2026-03-02T09:00:00.000000Z"
    assert health_from_dict(data) == health
    healthy = health_to_dict(dataclasses.replace(health, store=None))
    assert healthy["store_fault"] is None and health_from_dict(healthy).store is None


def test_a_503_answer_comes_back_as_the_store_fault() -> None:
    error = error_from_answer(
        503,
        {
            "error": "the store /x.db is full: database or disk is full",
            "code": "store_unavailable",
            "details": {"cause": "disk_full", "store": "/x.db", "hint": "free space"},
        },
    )
    assert isinstance(error, StoreUnavailable)
    assert (error.cause, error.store, str(error)) == (
        "disk_full",
        "/x.db",
        "the store /x.db is full: database or disk is full",
    )


# --- real SQLite faults ---------------------------------------------------------------------------


async def test_a_full_sqlite_file_raises_disk_full_and_the_store_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scheduler_core.model import AuditEvent

    path = tmp_path / "s.db"
    await (await open_store(str(path))).close()  # created and migrated
    conn = sqlite3.connect(path)
    cap = conn.execute("PRAGMA page_count").fetchone()[0] + 20
    conn.close()
    monkeypatch.setenv(sqlite_faults.MAX_PAGES_ENV, str(cap))
    store = await open_store(str(path))
    big = AuditEvent(at=T0, type=AuditEventType.SCHEDULER_STARTED, details={"x": "y" * 20000})
    try:
        with pytest.raises(StoreUnavailable) as info:
            for _ in range(10):
                await store.record_audit([big])
        assert info.value.cause == "disk_full" and str(path) in str(info.value)
        assert store.fault_counts == {"disk_full": 1}
        # the failed transaction is gone: the next one works (reads did all along)
        assert await store.count_jobs()
        await store.record_audit([AuditEvent(at=T0, type=AuditEventType.SCHEDULER_STOPPED)])
    finally:
        await store.close()


async def test_a_file_that_is_not_a_database_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(StoreUnavailable) as info:
        await open_store(str(path))
    assert info.value.cause == "corrupt" and "restore it from a backup" in info.value.hint


def test_a_store_locked_past_the_busy_timeout_fails_the_preflight(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    sqlite3.connect(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 100")
    try:
        with pytest.raises(sqlite3.OperationalError) as info:
            sqlite_faults.preflight(conn, str(path))
        fault = sqlite_faults.store_fault(info.value, str(path))
        assert fault is not None and fault.cause == "locked"
        assert "locked by another process" in str(fault)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        conn.close()
    sqlite_faults.preflight(sqlite3.connect(path, isolation_level=None), str(path))


def test_errors_that_are_not_faults_of_the_file_stay_what_they_are() -> None:
    conn = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.OperationalError) as info:
        conn.execute("SELECT * FROM nowhere")
    assert sqlite_faults.store_fault(info.value, "x") is None
    assert sqlite_faults.store_fault(ValueError("x"), "x") is None
    assert issubclass(StoreUnavailable, StoreError)


# --- real PostgreSQL faults -----------------------------------------------------------------------


async def test_a_read_only_postgresql_store_fails_the_preflight(pg_url: str) -> None:
    import asyncpg

    store = await open_store(pg_url, preflight=True)  # writable: fine
    await store.close()
    database = pg_url.rsplit("/", 1)[1].split("?")[0]
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    finally:
        await conn.close()
    with pytest.raises(StoreUnavailable) as info:
        await open_store(pg_url, preflight=True)
    assert info.value.cause == "read_only" and "***" not in info.value.store


async def test_a_postgresql_connection_lost_mid_way_is_unreachable_then_recovers(
    pg_url: str,
) -> None:
    import asyncpg

    store = await open_store(pg_url)
    try:
        query = asyncio.ensure_future(store._fetchall("SELECT pg_sleep(10)"))  # a read under way
        admin = await asyncpg.connect(pg_url)
        try:
            sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(10)'"
            for _ in range(200):  # until the read is under way on the server
                if await admin.fetchval(sleeping):
                    break
                await asyncio.sleep(0.05)
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        with pytest.raises(StoreUnavailable) as info:
            await query
        assert info.value.cause == "unreachable" and "cannot be reached" in str(info.value)
        assert store.fault_counts == {"unreachable": 1}
        assert await store.count_jobs()  # the pool connects again
    finally:
        await store.close()
