"""Housekeeping: the scheduler that holds the store's lease prunes history past its retention.

:class:`Maintenance` runs a pruning pass (:class:`~scheduler_core.store.pruning.Pruner`: short
batches paced around the scheduler's fires, then the file's space given back) every
``prune_interval_seconds``, waiting through the injected clock, while this scheduler leads (a node
of a shared store prunes only when no other node is: see ``JobStore.maintenance``); and the passes
``symbi store prune`` asks for. One pass at a time, audited ``StorePruned`` when it removed
anything.
"""

from __future__ import annotations

__all__ = ["Maintenance"]

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from ..clock import Clock, format_instant
from ..errors import StoreUnavailable
from ..events import AuditRecorded, EventBus
from ..model import AuditEvent, AuditEventType
from ..store.base import JobStore
from ..store.pruning import Pruner
from ..store.retention import PruneReport, RetentionPolicy

log = logging.getLogger("symbi.scheduler")


class Maintenance:
    """The scheduler's housekeeping: a pruning pass every ``interval`` seconds while it leads,
    and the passes asked for (``symbi store prune``), one at a time."""

    #: the first pass comes this long after start (or after ``interval``, if shorter)
    first_delay = 300.0

    def __init__(
        self,
        store: JobStore,
        policy: RetentionPolicy,
        *,
        interval: float,
        clock: Clock,
        bus: EventBus,
        leading: Callable[[], bool],
        quiet: Callable[[], float] | None = None,
        stopping: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.interval = interval
        self.clock = clock
        self.bus = bus
        self._leading = leading
        self._quiet = quiet
        self._stopping = stopping or (lambda: False)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._noted = False
        #: passes made, and the reports of the last few
        self.passes = 0
        self.reports: list[PruneReport] = []
        self._passes = asyncio.Condition()

    def wake(self) -> None:
        self._wake.set()

    async def run_forever(self) -> None:
        """Prune every ``interval`` seconds while this scheduler leads, until stopping."""
        if not self.policy.enabled:
            return
        due = self.clock.now() + timedelta(seconds=min(self.first_delay, self.interval))
        while not self._stopping():
            self._wake.clear()
            await self.clock.sleep_until(due, self._wake)
            if self._stopping():
                return
            if self.clock.now() < due:
                continue
            if self._leading():
                try:
                    await self.prune(actor="scheduler")
                except StoreUnavailable as exc:  # the loop's fault episode logs the fault itself
                    log.warning("pruning skipped: %s; trying again in %gs", exc, self.interval)
                except Exception:
                    log.exception("pruning the store failed; trying again in %gs", self.interval)
            due = self.clock.now() + timedelta(seconds=self.interval)

    async def prune(self, *, dry_run: bool = False, actor: str = "scheduler") -> PruneReport:
        """One pass now (after any pass under way), audited as ``StorePruned`` when it removed
        anything."""
        async with self._lock:
            pruner = Pruner(
                self.store,
                self.policy,
                clock=self.clock,
                quiet=self._quiet,
                stopping=self._stopping,
            )
            report = await pruner.run(dry_run=dry_run)
            if not dry_run and report.total:
                await self._audit(report, actor)
                log.info(
                    "pruned %s in %.1fs (%d batches, longest write lock %.1f ms)",
                    ", ".join(f"{n} {table}" for table, n in report.removed.items() if n),
                    report.seconds,
                    report.batches,
                    report.longest_hold_ms,
                )
            if report.note and not self._noted:
                self._noted = True
                log.warning("store %s: %s", self.store.url, report.note)
        async with self._passes:
            self.passes += 1
            self.reports = [*self.reports[-9:], report]
            self._passes.notify_all()
        return report

    async def wait_passes(self, count: int) -> PruneReport:
        """Wait until ``count`` passes have been made (tests); the last one's report."""
        async with self._passes:
            await self._passes.wait_for(lambda: self.passes >= count)
            return self.reports[-1]

    async def _audit(self, report: PruneReport, actor: str) -> None:
        event = AuditEvent(
            at=self.clock.now(),
            type=AuditEventType.STORE_PRUNED,
            actor=actor,
            details={
                "removed": {k: v for k, v in report.removed.items() if v},
                "before": {k: format_instant(v) for k, v in report.cutoffs.items()},
                "reclaimed_bytes": report.reclaimed_bytes,
            },
        )
        await self.store.record_audit([event])
        self.bus.publish(AuditRecorded(event))
