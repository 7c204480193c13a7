"""FinishWriter: the group-commit writer of finished runs.

Runs end one by one, but each end is a transaction (the run, its job's counts, a retry, audit
events); writing them one transaction each would cap throughput at the disk's commit rate. The
writer queues finished runs and writes whatever has queued meanwhile in one transaction, and it
waits while due jobs are being claimed, so the claims (what delays the next start) never queue
behind finishes.

No finish is lost while the process lives: a batch the store refuses (a full disk, a locked or
read-only file, a database out of reach) stays queued, first in line, and is tried again with
the store fault's backoff until the store takes it; its runs keep their slots meanwhile, so a job
is not started again beside a run whose end is not recorded yet. A batch that fails for another
reason (a bug, a value the store cannot hold) is written again run by run, so that only the runs
that cannot be written are given up (logged), never the others behind them.
"""

from __future__ import annotations

__all__ = ["FinishWriter"]

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ..clock import Clock
from ..errors import StoreError, StoreUnavailable
from ..events import AuditRecorded, EventBus, JobChanged, RunChanged
from ..model import JobDefinition, RunStatus
from ..settings import SchedulerSettings
from ..store.base import FinishItem, FinishPlan, JobStore, QueuedStart
from .chaining import plan_chain
from .faults import StoreFaults
from .rules import ERROR_LIMIT, plan_finish

log = logging.getLogger("symbi.scheduler")

#: at most this many finished runs in one transaction: a burst's ends are written in pieces
#: that a claim can come between, and whose plans and rows are not all in memory at once
BATCH_MAX = 2048


@dataclass(slots=True)
class _Entry:
    item: FinishItem
    future: asyncio.Future[FinishPlan | None]
    held: bool = False  #: the store refused it at least once


class FinishWriter:
    """Writes finished runs through ``store.finish_runs`` with :func:`plan_finish`, in batches."""

    def __init__(
        self,
        store: JobStore,
        *,
        settings: SchedulerSettings,
        clock: Clock,
        bus: EventBus,
        on_retry: Callable[[], None],
        faults: StoreFaults | None = None,
    ) -> None:
        """``on_retry`` is called when a finish queued a retry or a chained run (the loop has a
        new run to start).
        ``faults``: the scheduler's store fault episode, which this writer's failures join."""
        self.store = store
        self.settings = settings
        self.clock = clock
        self.bus = bus
        self._on_retry = on_retry
        self.faults = faults or StoreFaults(settings=settings, clock=clock)
        self.faults.waiting = lambda: len(self._queue)
        self._queue: list[_Entry] = []
        self._flushing: asyncio.Task[None] | None = None
        #: cleared while due jobs are being claimed: finished runs wait for the claim
        self._not_claiming = asyncio.Event()
        self._not_claiming.set()
        self._hurry = asyncio.Event()  #: ends a backoff at once (shutdown)
        self._progress = asyncio.Event()  #: set when a batch is written, or the writer stops
        self._give_up_at: float | None = None  #: monotonic; set by drain(timeout=...)
        self._late = 0  #: finished runs written after waiting for the store, this episode
        #: held by whoever counts free slots and starts runs in them, until they are launched:
        #: the loop (claims, queued starts) and this writer (``refill``), never both at once
        self.starting = asyncio.Lock()
        #: the queued runs to start in the transaction that finishes a batch, in the slots its
        #: runs leave (None: none), given the batch and the transaction's instant; and what to
        #: do with those the store started (launch them). Set by the scheduler.
        self.refill: Callable[[Sequence[FinishItem], datetime], QueuedStart | None] | None = None
        self.refilled: Callable[[QueuedStart], None] | None = None

    @property
    def queued(self) -> bool:
        """Finished runs wait to be written."""
        return bool(self._queue)

    @property
    def busy(self) -> bool:
        """Finished runs wait or are being written."""
        return bool(self._queue) or self._flushing is not None

    @contextlib.contextmanager
    def claiming(self) -> Iterator[None]:
        """Hold the writer while due jobs are claimed."""
        self._not_claiming.clear()
        try:
            yield
        finally:
            self._not_claiming.set()

    def enqueue(self, item: FinishItem) -> asyncio.Future[FinishPlan | None]:
        """Queue ``item``; the future gives its plan (None: the job is gone) once written, or
        the error for which it was given up."""
        future: asyncio.Future[FinishPlan | None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Entry(item, future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush(), name="symbi-finish-writer")
        return future

    async def _flush(self) -> None:
        try:
            while self._queue:
                await self._not_claiming.wait()
                batch, self._queue = self._queue[:BATCH_MAX], self._queue[BATCH_MAX:]
                refused = await self._write_batch(batch)
                if refused is None:
                    continue
                held, error = refused
                for entry in held:
                    entry.held = True
                self._queue[:0] = held  # first in line, in their order
                delay = self.faults.failed("finish", error)
                self._progress.set()  # (a claim waiting for this writer goes on)
                if self._giving_up():
                    self._give_up(self._queue, error)
                    self._queue = []
                    break
                await self._back_off(delay)
        finally:
            self._flushing = None
            self._progress.set()

    async def _write_batch(
        self, batch: list[_Entry]
    ) -> tuple[list[_Entry], StoreUnavailable] | None:
        """Write ``batch``; what the store refused (and why), if it did."""
        try:
            plans = await self.write([e.item for e in batch], refill=True)
        except StoreUnavailable as exc:
            return batch, exc
        except Exception as exc:
            if len(batch) == 1:
                await self._record_alone(batch[0], exc)
                return None
            log.warning(
                "writing %d finished runs together failed (%s: %s); writing them one by one",
                len(batch),
                type(exc).__name__,
                exc,
                extra={"event": "scheduler.finish_retry"},
            )
            for i, entry in enumerate(batch):
                refused = await self._write_batch([entry])
                if refused is not None:
                    return [*refused[0], *batch[i + 1 :]], refused[1]
            return None
        self._written(batch, plans)
        return None

    @property
    def backlog(self) -> int:
        """Finished runs waiting to be written."""
        return len(self._queue)

    async def catch_up(self, limit: int) -> None:
        """Wait while more than ``limit`` finished runs wait and the writer is writing them
        (not while the store refuses them): between the batches of a long claim, so that the
        ends of the runs it started are written (their slots, their memory freed) meanwhile."""
        while len(self._queue) > limit and self._flushing is not None and not self.faults.failing:
            self._progress.clear()
            await self._progress.wait()

    def _written(self, batch: list[_Entry], plans: list[FinishPlan | None]) -> None:
        self._progress.set()
        self._late += sum(e.held for e in batch)
        for entry, plan in zip(batch, plans, strict=True):
            if not entry.future.done():
                entry.future.set_result(plan)
        if self.faults.failing:
            late, self._late = self._late, 0
            note = f"{late} finished run(s) kept in memory are recorded" if late else None
            self.faults.succeeded("finish", note)

    async def _back_off(self, delay: float) -> None:
        """Wait ``delay`` seconds before trying the store again; while shutting down, a tick."""
        if self._give_up_at is not None:
            delay = min(delay, self.settings.tick_interval_seconds)
            delay = min(delay, max(self._give_up_at - self.clock.monotonic(), 0.0))
        self._hurry.clear()
        await self.clock.sleep_until(self.clock.now() + timedelta(seconds=delay), self._hurry)

    def _giving_up(self) -> bool:
        return self._give_up_at is not None and self.clock.monotonic() >= self._give_up_at

    def _give_up(self, entries: list[_Entry], error: StoreError) -> None:
        """At shutdown, the store still refusing them: the runs of ``entries`` stay recorded
        running (the next start records them interrupted); their futures get ``error``."""
        runs = ", ".join(f"{e.item.run.id} ({e.item.run.job_name})" for e in entries[:10])
        more = f" and {len(entries) - 10} more" if len(entries) > 10 else ""
        log.error(
            "cannot record the end of %d run(s) before stopping: %s: %s%s; they stay recorded "
            "running, and the next start records them interrupted",
            len(entries),
            error,
            runs,
            more,
            extra={"event": "scheduler.finish_lost", "fields": {"runs": len(entries)}},
        )
        for entry in entries:
            if not entry.future.done():
                entry.future.set_exception(error)

    async def _record_alone(self, entry: _Entry, error: Exception) -> None:
        """A finish that cannot be planned or written whole, not for a store fault (a bug, a
        value the store cannot hold): logged, and the run's end recorded as it is, without what
        it means for its job (retry, counts), so that the run is not left running."""
        run = entry.item.run
        note = f"its end could not be recorded whole: {type(error).__name__}: {error}"
        log.error(
            "run %s of %s: %s",
            run.id,
            run.job_name,
            note,
            exc_info=error,
            extra={"event": "scheduler.finish_failed", "fields": {"run": run.id}},
        )
        ended = replace(
            run,
            error_message=(run.error_message or note)[:ERROR_LIMIT],
            details={**run.details, "record_error": note[:ERROR_LIMIT]},
        )
        try:
            if await self.store.update_run(ended, expected=RunStatus.RUNNING):
                self.bus.publish(RunChanged(ended))
        except Exception as exc:
            log.error(
                "run %s of %s: recording its end alone failed too: %s",
                run.id,
                run.job_name,
                exc,
                extra={"event": "scheduler.finish_failed", "fields": {"run": run.id}},
            )
        if not entry.future.done():
            entry.future.set_exception(error)

    async def write(
        self, items: list[FinishItem], *, refill: bool = False
    ) -> list[FinishPlan | None]:
        """Write ``items`` now, in one transaction, and publish what changed. With ``refill``
        (the runs' ends, which free their slots), the same transaction starts queued runs in
        those slots, as :attr:`refill` plans them, and :attr:`refilled` launches them."""
        settings = self.settings
        async with self.starting:
            now = self.clock.now()
            start = self.refill(items, now) if refill and self.refill is not None else None

            def planner(item: FinishItem, current: JobDefinition | None) -> FinishPlan | None:
                return plan_finish(item, current, settings=settings, now=now)

            def chain(
                item: FinishItem,
                plan: FinishPlan,
                leader: JobDefinition,
                followers: Sequence[JobDefinition],
            ) -> FinishPlan:
                return plan_chain(item, plan, leader, followers, now=now)

            if start is None:
                plans = await self.store.finish_runs(items, planner, chain)
            else:
                plans = await self.store.finish_runs(items, planner, chain, start=start)
                if start.plans and self.refilled is not None:
                    self.refilled(start)
        for item, plan in zip(items, plans, strict=True):
            self.bus.publish(RunChanged(item.run))
            if plan is None:
                continue
            if plan.retry is not None:
                self.bus.publish(RunChanged(plan.retry))
                self._on_retry()
            for chained in plan.chained:
                self.bus.publish(RunChanged(chained))
                self.bus.publish(JobChanged(chained.job_id, "chained"))
            if plan.chained:
                self._on_retry()
            self.bus.publish(JobChanged(plan.job_id, "state"))
            for event in plan.audit:
                self.bus.publish(AuditRecorded(event))
        return plans

    def hurry(self) -> None:
        """Try what the store refused again now (not after the backoff)."""
        self._hurry.set()

    async def drain(self, give_up_after: float | None = None) -> None:
        """Return once everything queued is written. With ``give_up_after``: while the store
        refuses the writes, they are tried each tick for up to that many seconds, then given
        up."""
        if give_up_after is not None:
            self._give_up_at = self.clock.monotonic() + give_up_after
            self.hurry()
        while self._flushing is not None:
            await asyncio.shield(self._flushing)
