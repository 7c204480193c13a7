"""FinishWriter: the group-commit writer of finished runs.

Runs end one by one, but each end is a transaction (the run, its job's counts, a retry, audit
events); writing them one transaction each would cap throughput at the disk's commit rate. The
writer queues finished runs and writes whatever has queued meanwhile in one transaction, and it
waits while due jobs are being claimed, so the claims (what delays the next start) never queue
behind finishes.
"""

from __future__ import annotations

__all__ = ["FinishWriter"]

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

from ..clock import Clock
from ..events import AuditRecorded, EventBus, JobChanged, RunChanged
from ..settings import SchedulerSettings
from ..store.base import FinishItem, FinishPlan, JobStore
from .rules import plan_finish

log = logging.getLogger("symbi.scheduler")


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
    ) -> None:
        """``on_retry`` is called when a finish queued a retry (the loop has a new run to start)."""
        self.store = store
        self.settings = settings
        self.clock = clock
        self.bus = bus
        self._on_retry = on_retry
        self._queue: list[tuple[FinishItem, asyncio.Future[FinishPlan | None]]] = []
        self._flushing: asyncio.Task[None] | None = None
        #: cleared while due jobs are being claimed: finished runs wait for the claim
        self._not_claiming = asyncio.Event()
        self._not_claiming.set()

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
        """Queue ``item``; the future gives its plan (None: the job is gone) once written."""
        future: asyncio.Future[FinishPlan | None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush(), name="symbi-finish-writer")
        return future

    async def _flush(self) -> None:
        try:
            while self._queue:
                await self._not_claiming.wait()
                batch, self._queue = self._queue, []
                try:
                    plans = await self.write([item for item, _ in batch])
                except Exception as exc:
                    log.exception("writing %d finished run(s) failed", len(batch))
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), plan in zip(batch, plans, strict=True):
                    if not future.done():
                        future.set_result(plan)
        finally:
            self._flushing = None

    async def write(self, items: list[FinishItem]) -> list[FinishPlan | None]:
        """Write ``items`` now, in one transaction, and publish what changed."""
        now = self.clock.now()
        settings = self.settings
        plans = await self.store.finish_runs(
            items, lambda item, current: plan_finish(item, current, settings=settings, now=now)
        )
        for item, plan in zip(items, plans, strict=True):
            self.bus.publish(RunChanged(item.run))
            if plan is None:
                continue
            if plan.retry is not None:
                self.bus.publish(RunChanged(plan.retry))
                self._on_retry()
            self.bus.publish(JobChanged(plan.job_id, "state"))
            for event in plan.audit:
                self.bus.publish(AuditRecorded(event))
        return plans

    async def drain(self) -> None:
        """Return once everything queued is written."""
        while self._flushing is not None:
            await asyncio.shield(self._flushing)
