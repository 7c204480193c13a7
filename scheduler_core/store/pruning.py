"""One pruning pass over a store, paced so that it never holds the write lock for long.

:class:`Pruner` goes table by table (``store/retention.py``'s targets), batch by batch, each batch
one short transaction (``JobStore.prune_batch``) whose size adapts so that it holds the store's
write lock for about :attr:`Pruner.target_hold_ms`, with a pause after each as long as it held the
lock (the scheduler's transactions get the lock in between) and, while the scheduler says a fire
is under way or imminent (``quiet``), a wait until it has passed. Then the freed pages are given
back to the file system the same way, a few at a time (``JobStore.reclaim_space``).

The pauses are in real time (they pace contention for the store, not a schedule); who runs a
pass, and when, is :class:`scheduler_core.scheduling.maintenance.Maintenance`'s.
"""

from __future__ import annotations

__all__ = ["ANOTHER_NODE", "NO_RETENTION", "Pruner"]

import asyncio
import dataclasses
import time
from collections.abc import Callable

from ..clock import Clock
from .base import JobStore
from .retention import PRUNED_TABLES, PruneCursor, PruneReport, PruneTarget, RetentionPolicy

#: why a pass did nothing
NO_RETENTION = (
    "no retention is configured: history is kept for ever ([store] run_retention_days, "
    "iteration_retention_days, audit_retention_days)"
)
ANOTHER_NODE = "another node is pruning this store"


class Pruner:
    """One pruning pass over ``store`` by ``policy``."""

    #: how long a batch aims to hold the store's write lock, in milliseconds
    target_hold_ms = 4.0
    min_batch, max_batch, first_batch = 10, 5000, 100
    #: rows a dry-run batch reads (it holds no lock)
    dry_batch = 5000
    #: pages given back per step, at first and at most
    first_pages, max_pages = 64, 4096
    #: the shortest pause after a batch, in seconds (it also waits as long as the batch held the
    #: lock: the scheduler has the store at least half the time)
    min_pause = 0.002
    #: the longest a batch waits for an imminent fire (then it goes ahead)
    max_quiet_wait = 3.0

    def __init__(
        self,
        store: JobStore,
        policy: RetentionPolicy,
        *,
        clock: Clock,
        quiet: Callable[[], float] | None = None,
        stopping: Callable[[], bool] | None = None,
    ) -> None:
        """``quiet()``: seconds to wait before the next batch (a fire is imminent), 0 to go on;
        ``stopping()``: True when the pass should end after the current batch."""
        self.store = store
        self.policy = policy
        self.clock = clock
        self._quiet = quiet or (lambda: 0.0)
        self._stopping = stopping or (lambda: False)

    async def run(self, *, dry_run: bool = False) -> PruneReport:
        """Prune what has expired (or, ``dry_run``, count it), then give the space back."""
        started = time.perf_counter()
        now = self.clock.now()
        targets = self.policy.targets(now)
        report = PruneReport(dry_run=dry_run, started_at=now, policy=self.policy)
        if not targets:
            return dataclasses.replace(report, skipped=NO_RETENTION)
        async with self.store.maintenance() as mine:
            if not mine:
                return dataclasses.replace(report, skipped=ANOTHER_NODE)
            before = None if dry_run else await self.store.store_stats(exact=False)
            tables = {t.table for t in targets}
            if "runs" in tables:  # iterations go with their runs (and are counted)
                tables.add("heartbeat_iterations")
            removed = {table: 0 for table in PRUNED_TABLES if table in tables}
            tally = _Tally()
            for target in targets:
                await self._prune(target, dry_run, removed, tally)
            after = None
            if not dry_run:
                await self._reclaim(tally)
                after = await self.store.store_stats(exact=False)
        note = None
        if after is not None and after.auto_vacuum == "none" and any(removed.values()):
            note = (
                "this SQLite file does not give space back as it is pruned (the space is reused); "
                "`symbi store vacuum`, with the scheduler stopped, converts it once"
            )
        return dataclasses.replace(
            report,
            removed=removed,
            cutoffs={t.table: t.before for t in targets},
            bytes_before=before.total_bytes if before else None,
            bytes_after=after.total_bytes if after else None,
            seconds=time.perf_counter() - started,
            batches=tally.batches,
            longest_hold_ms=tally.longest,
            note=note,
        )

    async def _prune(
        self, target: PruneTarget, dry_run: bool, removed: dict[str, int], tally: _Tally
    ) -> None:
        size = self.dry_batch if dry_run else self.first_batch
        cursor: PruneCursor | None = None
        while not self._stopping():
            if not dry_run:
                await self._wait_for_quiet()
            batch = await self.store.prune_batch(target, after=cursor, limit=size, dry_run=dry_run)
            tally.add(batch.held_ms)
            removed[target.table] += batch.removed
            if batch.cascaded:
                removed["heartbeat_iterations"] = removed.get("heartbeat_iterations", 0) + (
                    batch.cascaded
                )
            if batch.cursor is None:
                return
            cursor = batch.cursor
            if not dry_run:
                size = self._resize(size, batch.held_ms, self.min_batch, self.max_batch)
                await asyncio.sleep(max(self.min_pause, batch.held_ms / 1000))

    async def _reclaim(self, tally: _Tally) -> None:
        pages = self.first_pages
        while not self._stopping():
            await self._wait_for_quiet()
            given, held = await self.store.reclaim_space(pages)
            if not given:
                return
            tally.add(held)
            pages = self._resize(pages, held, 8, self.max_pages)
            await asyncio.sleep(max(self.min_pause, held / 1000))

    def _resize(self, size: int, held_ms: float, low: int, high: int) -> int:
        """The next batch's size: halved after a batch that held the lock too long, grown after
        one that held it well under the target."""
        if held_ms > self.target_hold_ms * 1.5:
            return max(low, size // 2)
        if held_ms < self.target_hold_ms * 0.5:
            return min(high, size + size // 2 + 1)
        return size

    async def _wait_for_quiet(self) -> None:
        waited = 0.0
        while waited < self.max_quiet_wait and not self._stopping():
            wait = min(self._quiet(), 0.5)
            if wait <= 0:
                return
            await asyncio.sleep(wait)
            waited += wait


class _Tally:
    __slots__ = ("batches", "longest")

    def __init__(self) -> None:
        self.batches = 0
        self.longest = 0.0

    def add(self, held_ms: float) -> None:
        self.batches += 1
        self.longest = max(self.longest, held_ms)
