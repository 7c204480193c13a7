"""The visible queue drained by the finish writer: the transaction that records a batch of ends
also starts queued runs in the slots those runs leave (``FinishWriter.refill``). These tests
hold it to the limits and to the record: never more runs running than ``max_concurrent_jobs``
or a job's ``max_concurrent`` (in memory and in the store), every run started once, recorded
``running`` before its agent starts and finished once, also when a batch's commit fails."""

from __future__ import annotations

import asyncio
from typing import Any

from scheduler_core.errors import StoreUnavailable
from scheduler_core.model import RunStatus
from scheduler_core.runtime.base import RunContext
from scheduler_core.store import SqliteJobStore

from .conftest import Harness

FULL = StoreUnavailable("disk_full", store="s.db", reason="database or disk is full")


class Watch:
    """Wraps the store's finish_runs (counting the runs each refill started, and failing the
    first ``fail`` refills) and checks, at each agent call, what is running in memory and in
    the store."""

    def __init__(self, h: Harness, *, fail: int = 0) -> None:
        self.h = h
        self.asked = 0  #: finish transactions asked to start queued runs too
        self.refilled = 0
        self.failed = 0
        self.fail = fail
        self.active = 0  #: agents running now
        self.peak = 0
        self.peak_per_job: dict[str, int] = {}
        self.stored_peak = 0
        self.not_recorded: list[str] = []
        inner = h.store.finish_runs

        async def finish_runs(items: Any, planner: Any, chain: Any = None, **kw: Any) -> Any:
            start = kw.get("start")
            if start is not None and self.failed < self.fail:
                self.failed += 1
                raise FULL
            plans = await inner(items, planner, chain, **kw)
            self.asked += start is not None
            if start is not None and start.plans:
                self.refilled += sum(p.start for p in start.plans)
            return plans

        h.store.finish_runs = finish_runs  # type: ignore[method-assign]

    async def agent(self, ctx: RunContext) -> str:
        self.active += 1
        self.peak = max(self.peak, self.active)
        rows = await self.h.store._fetchall("SELECT id, job_id FROM runs WHERE status = 'running'")
        if ctx.run.id not in {r[0] for r in rows}:
            self.not_recorded.append(ctx.run.id)
        self.stored_peak = max(self.stored_peak, len(rows))
        per_job: dict[str, int] = {}
        for _, job_id in rows:
            per_job[job_id] = per_job.get(job_id, 0) + 1
        for job_id, n in per_job.items():
            self.peak_per_job[job_id] = max(self.peak_per_job.get(job_id, 0), n)
        await asyncio.sleep(0)
        self.active -= 1
        return "ok"


async def test_a_drained_queue_keeps_the_global_limit(harness_factory) -> None:
    h: Harness = await harness_factory(max_concurrent_jobs=3)
    try:
        watch = Watch(h)
        h.agents.behaviour["a"] = watch.agent
        for i in range(40):
            await h.service.add_job({"name": f"j{i:02d}", "agent": "a", "at": "2026-03-02T09:00Z"})
        await h.to("2026-03-02T09:00:00Z")
        runs = await h.service.history(limit=100)
        assert len(runs) == 40 and all(r.status is RunStatus.SUCCEEDED for r in runs)
        assert len(h.agents.calls) == 40
        assert len({c.run.id for c in h.agents.calls}) == 40  # each run's agent once
        assert watch.peak <= 3 and watch.stored_peak <= 3
        assert not watch.not_recorded  # recorded running before its agent started
        assert watch.refilled > 0  # the queue drained through the finish transactions
        stats = await h.store.run_stats()
        assert stats.runs_total == 40 and stats.runs_succeeded == 40
    finally:
        await h.engine.stop()


async def test_a_drained_queue_keeps_each_jobs_max_concurrent(harness_factory) -> None:
    """Slots freed by other jobs' runs do not start a job's queued runs beyond its
    max_concurrent while its own runs still hold theirs."""
    h: Harness = await harness_factory(max_concurrent_jobs=4)
    try:
        watch = Watch(h)
        for agent in ("p", "w"):
            h.agents.behaviour[agent] = watch.agent
        pair_gate, others_gate = h.agents.block("p"), h.agents.block("w")
        await h.service.add_job(
            {"name": "pair", "agent": "p", "cron": "0 9 1 1 *", "max_concurrent": 2}
        )
        for i in range(2):
            await h.service.add_job({"name": f"w{i}", "agent": "w", "at": "2026-03-02T09:00Z"})
        for _ in range(8):
            await h.service.run_now("pair")
        await h.clock_step("2026-03-02T09:00:00Z")  # pair: 2 running, 6 queued; w0, w1 running
        assert h.scheduler.runs.in_flight == 4
        others_gate.set()  # w0 and w1 end: their slots go, but not to pair's runs
        await _until_done(h, None, 2)
        pair_gate.set()
        pair = await _until_done(h, "pair", 8)
        assert len(pair) == 8
        assert watch.peak_per_job[pair[0].job_id] <= 2
        assert watch.stored_peak <= 4 and watch.peak <= 4
        assert not watch.not_recorded
        assert watch.asked > 0  # w0's and w1's ends were asked to start queued runs
    finally:
        await h.engine.stop()


async def test_a_refused_finish_and_start_loses_and_repeats_nothing(harness_factory) -> None:
    """The store refuses the transactions that finish a batch and start the next (a full disk):
    nothing of either is recorded, the ends wait in memory with their slots held and are
    written once the store takes them; every run is started once and finished once."""
    h: Harness = await harness_factory(max_concurrent_jobs=2, store_retry_max_seconds=1)
    try:
        watch = Watch(h, fail=3)
        h.agents.behaviour["a"] = watch.agent
        for i in range(12):
            await h.service.add_job({"name": f"j{i:02d}", "agent": "a", "at": "2026-03-02T09:00Z"})
        await h.clock_step("2026-03-02T09:00:00Z")
        await _until_done(h, None, 12)
        await h.settle()
        assert watch.failed == 3
        runs = await h.service.history(limit=100)
        assert len(runs) == 12 and all(r.status is RunStatus.SUCCEEDED for r in runs)
        assert sorted(c.run.id for c in h.agents.calls) == sorted(r.id for r in runs)
        assert watch.peak <= 2 and watch.stored_peak <= 2
        assert not watch.not_recorded
        stats = await h.store.run_stats()
        assert stats.runs_total == 12 and stats.runs_succeeded == 12
    finally:
        await h.engine.stop()


async def _until_done(h: Harness, job: str | None, count: int) -> list[Any]:
    """The runs (of ``job``) once ``count`` of them succeeded, moving the clock a second at a
    time (the store fault's backoff) without waiting for the runs still blocked."""
    for _ in range(200):
        runs = await h.service.history(job, limit=100)
        if sum(r.status is RunStatus.SUCCEEDED for r in runs) >= count:
            return runs
        h.clock.advance(1)
        h.scheduler.notify()
        await asyncio.sleep(0.02)
    raise AssertionError(f"not done: {[r.status for r in runs]}")


async def test_a_long_claim_lets_the_ends_of_its_runs_be_written(
    harness_factory, monkeypatch
) -> None:
    """A claim of many batches lets the finish writer in once enough ended runs wait (their
    slots and memory): claims and finishes interleave, and every run is recorded once."""
    from scheduler_core.scheduling import loop

    monkeypatch.setattr(loop, "_CLAIM_BACKLOG", 4)
    h: Harness = await harness_factory(claim_batch_size=2, max_concurrent_jobs=100)
    try:
        calls: list[str] = []
        claim, finish = h.store.claim_due, h.store.finish_runs

        async def claim_due(*args: Any, **kw: Any) -> Any:
            plans = await claim(*args, **kw)
            if plans:
                calls.append("claim")
            return plans

        async def finish_runs(*args: Any, **kw: Any) -> Any:
            calls.append("finish")
            return await finish(*args, **kw)

        h.store.claim_due = claim_due  # type: ignore[method-assign]
        h.store.finish_runs = finish_runs  # type: ignore[method-assign]
        for i in range(30):
            await h.service.add_job({"name": f"j{i:02d}", "agent": "a", "at": "2026-03-02T09:00Z"})
        await h.to("2026-03-02T09:00:00Z")
        runs = await h.service.history(limit=100)
        assert len(runs) == 30 and all(r.status is RunStatus.SUCCEEDED for r in runs)
        assert len(h.agents.calls) == 30
        assert len({c.run.id for c in h.agents.calls}) == 30
        last_claim = max(i for i, c in enumerate(calls) if c == "claim")
        assert "finish" in calls[:last_claim]  # written between the batches of the claim
        stats = await h.store.run_stats()
        assert stats.runs_total == 30 and stats.runs_succeeded == 30
    finally:
        await h.engine.stop()


async def test_a_run_started_by_a_finish_sees_the_context_that_finish_wrote(
    harness_factory,
) -> None:
    """The transaction that records a run's end (and its job's agent context) starts the next
    queued run of that job and reads its context: each run gets the one before's summary and
    memory, though no run reads its own."""
    h: Harness = await harness_factory(max_concurrent_jobs=1)
    try:
        watch = Watch(h)
        read: list[list[str]] = []
        inner = h.store.finish_runs

        async def finish_runs(items: Any, planner: Any, chain: Any = None, **kw: Any) -> Any:
            plans = await inner(items, planner, chain, **kw)
            start = kw.get("start")
            if start is not None and start.contexts is not None:
                read.append(start.contexts[0])
            return plans

        h.store.finish_runs = finish_runs  # type: ignore[method-assign]

        async def agent(ctx: RunContext) -> str:
            await watch.agent(ctx)
            return f"SUMMARY: did {ctx.input}"

        h.agents.behaviour["a"] = agent
        job = await h.service.add_job(
            {"name": "memo", "agent": "a", "cron": "0 9 1 1 *", "session_mode": "shared_persistent"}
        )
        for i in range(4):
            await h.service.run_now("memo", input=f"step {i}")
        await _until_done(h, "memo", 4)
        calls = h.agents.calls
        assert len(calls) == 4
        assert calls[0].previous_summary is None and calls[0].memory == ()
        for k in range(1, 4):
            assert calls[k].previous_summary == f"did {calls[k - 1].input}"
            assert [e["input"] for e in calls[k].memory] == [c.input for c in calls[:k]]
        assert watch.refilled == 3  # runs 2-4 started by the finish before them
        if isinstance(h.store, SqliteJobStore):
            assert read == [[job.id]] * 3  # and their contexts read there
        else:
            assert read == []  # PostgreSQL: the runtime reads them after the transaction
        assert watch.peak <= 1 and not watch.not_recorded
    finally:
        await h.engine.stop()


async def test_a_start_reuses_only_rows_it_read_unchanged(harness_factory) -> None:
    """The rows a start reads beyond its slots are read first by the next one, which takes them
    as the last one parsed them; a row that changed meanwhile (its job paused) is read anew."""
    from scheduler_core.store._rows import J_JOB_COLUMNS, R_RUN_COLUMNS, run_and_job_from_row
    from scheduler_core.store.sqlite import _transitions
    from scheduler_core.store.sqlite._sql import instant

    QUEUED = (
        f"SELECT {R_RUN_COLUMNS}, {J_JOB_COLUMNS} FROM runs r JOIN jobs j ON j.id = r.job_id "
        "WHERE r.status = 'queued' ORDER BY r.seq"
    )

    h: Harness = await harness_factory(max_concurrent_jobs=1)
    try:
        if not isinstance(h.store, SqliteJobStore):
            return  # (the cache is the SQLite store's)
        gate = h.agents.block("a")
        await h.service.add_job({"name": "j", "agent": "a", "cron": "0 9 1 1 *"})
        await h.service.add_job({"name": "k", "agent": "a", "cron": "0 9 1 1 *"})
        for ref in ("j", "k", "k"):
            await h.service.run_now(ref)
        await h.clock_step("2026-03-02T09:00:00Z")  # j's run holds the slot; k's two wait
        rows = await h.store._fetchall(QUEUED)
        assert len(rows) == 2
        first = _transitions._pairs(rows)
        again = _transitions._pairs(rows)
        assert all(a is b for a, b in zip(first, again, strict=True))  # taken as parsed
        assert again == [run_and_job_from_row(tuple(r), instant) for r in rows]
        await h.service.pause_job("k")
        paused = await h.store._fetchall(QUEUED)
        read = _transitions._pairs(paused)
        assert [job.status.value for _, job in read] == ["paused", "paused"]  # not the old ones
        assert all(a is not b for a, b in zip(again, read, strict=True))
        gate.set()
    finally:
        await h.engine.stop()
