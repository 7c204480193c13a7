"""Leadership: who fires from a store, and what happens to the runs of a process that died.

On a store of one scheduler (SQLite), one process holds the lease row and renews it; the others
stand by and take over when it lapses. On a shared store (PostgreSQL nodes) every node fires and
renews its own node row. Either way, a process that leads recovers what dead holders left:
runs still recorded ``running`` become ``interrupted`` (and are retried per policy), and runs
claimed ahead of an instant their holder did not live to see are queued again.
"""

from __future__ import annotations

__all__ = ["Leadership"]

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from ..clock import Clock
from ..events import Dropped, EventBus, RunChanged, SchedulerState
from ..model import AuditEvent, AuditEventType, JobRun, RunStatus
from ..runtime.ledger import AgentLedger
from ..runtime.session import AgentRuntime
from ..settings import SchedulerSettings
from ..store.base import FinishItem, JobStore, LeaseInfo
from .execution import RunExecutor
from .faults import StoreFaults
from .writer import FinishWriter

log = logging.getLogger("symbi.scheduler")


class Leadership:
    """The store lease (or node row) of one scheduler, and recovery after other holders."""

    def __init__(
        self,
        store: JobStore,
        executor: RunExecutor,
        writer: FinishWriter,
        runtime: AgentRuntime,
        *,
        owner: str,
        api_address: str | None,
        settings: SchedulerSettings,
        clock: Clock,
        bus: EventBus,
        wake: Callable[[], None],
        ledger: AgentLedger | None = None,
        faults: StoreFaults | None = None,
    ) -> None:
        """``wake`` is called when this scheduler starts leading (the loop looks at once).
        ``ledger``: agent process groups on this data directory (see :meth:`recover`).
        ``faults``: the scheduler's store fault episode, which failed renewals join."""
        self.store = store
        self.executor = executor
        self.writer = writer
        self.runtime = runtime
        self.owner = owner
        self.api_address = api_address
        self.settings = settings
        self.clock = clock
        self.bus = bus
        self._wake = wake
        self.ledger = ledger
        self.faults = faults or StoreFaults(settings=settings, clock=clock)
        self.lease: LeaseInfo | None = None
        self.is_leader = False
        #: the store tells us of other processes' writes (see JobStore.watch)
        self.watching = False
        #: the loop's answer to "idle for the next N seconds?" (nothing running, queued or due)
        self.idle: Callable[[float], bool] | None = None
        #: the lease was last renewed for ``idle_lease_ttl_seconds`` (see :meth:`next_ttl`)
        self.stretched = False
        self._rearm = asyncio.Event()  #: the renewal's interval shrank: it sleeps anew

    async def try_lead(self) -> bool:
        """Take or renew the lease (a shared store: this node's row); True while leading."""
        if self.store.shared:
            return await self._renew_node()
        now = self.clock.now()
        ttl = self.next_ttl()
        holder = await self.store.acquire_lease(
            self.owner, now=now, ttl=ttl, api_address=self.api_address
        )
        self.lease = holder
        was = self.is_leader
        leading = holder.owner == self.owner
        stretched = leading and ttl > self.settings.lease_ttl_seconds
        if self.stretched and not stretched:
            self._rearm.set()  # the renewal task sleeps a third of the short TTL from now on
        self.stretched = stretched
        if leading and not was:
            self.runtime.forget()
            if not self.watching:
                self.watching = self.store.watch(self._outside_write)
            # recovery first: the loop fires nothing (no second copy of a job whose agent a dead
            # holder left running) until it is done; if it fails, the next renewal tries again
            await self._started(now)
            log.info("took the store lease as %s", self.owner)
            self.is_leader = True
            self.bus.publish(SchedulerState("leader", self.owner))
            self._wake()
            return True
        self.is_leader = leading
        if not self.is_leader and (was or self.lease is not None):
            if was:
                log.warning("lost the store lease to %s", holder.owner)
                self.store.unwatch()
                self.watching = False
            self.bus.publish(
                SchedulerState("standby", f"{holder.owner} ({holder.api_address or 'no API'})")
            )
        return self.is_leader

    async def _renew_node(self) -> bool:
        """A shared store: every node fires. Renew this node's own lease (its row), and recover
        what nodes that died held."""
        now = self.clock.now()
        ttl = self.settings.lease_ttl_seconds
        node = await self.store.register_node(
            self.owner, now=now, ttl=ttl, api_address=self.api_address
        )
        fresh = self.lease is None or self.lease.acquired_at != node.started_at
        # our own lease lapsed: the clock may have jumped for every node at once (a suspended VM,
        # an NTP step), and the others, alive, may not have renewed yet; recovering their runs
        # waits for our next renewal, when they have had the same chance to renew as we did
        lapsed = fresh and self.lease is not None
        if fresh and self.is_leader:
            log.warning(
                "this node's lease lapsed (not renewed within %ss): other nodes may have "
                "recovered the runs it held; their late results will be dropped",
                ttl,
            )
        self.lease = node.as_lease()
        was = self.is_leader
        self.is_leader = True
        if fresh:
            if not was:
                log.info("joined the shared store as node %s", self.owner)
                self.watching = self.store.watch(self._outside_write)
            self.runtime.forget()
            await self._started(now, recover=not lapsed)
            self.bus.publish(SchedulerState("leader", self.owner))
            self._wake()
        else:
            await self.recover(now)
        return True

    def next_ttl(self) -> float:
        """The TTL of the next renewal: ``idle_lease_ttl_seconds`` while this scheduler leads a
        store of its own (SQLite) and the loop says it is idle for a third of that (nothing
        running, queued or due), else ``lease_ttl_seconds``. A stretched lease is renewed at the
        short TTL before the loop claims or starts anything (CronScheduler._cycle), so a holder
        that has runs in flight always renews at a third of ``lease_ttl_seconds`` (which
        :meth:`_never_started` relies on)."""
        short = self.settings.lease_ttl_seconds
        idle = self.settings.idle_lease_ttl_seconds
        if idle <= short or self.store.shared or not self.is_leader or self.idle is None:
            return short
        return idle if self.idle(idle / 3) else short

    def renew_interval(self) -> float:
        """Seconds between two renewals: the holder renews at a third of the TTL; a standby
        looks more often, to take over within seconds of the holder's death (so does a node of
        a shared store, which recovers the runs of dead nodes as it renews)."""
        ttl = self.settings.lease_ttl_seconds
        often = not self.is_leader or self.store.shared
        if self.stretched and not often:
            ttl = self.settings.idle_lease_ttl_seconds
        return max(min(ttl / 3, 2.0) if often else ttl / 3, 0.05)

    async def renew_forever(
        self, stopping: Callable[[], bool], after: Callable[[], None] | None = None
    ) -> None:
        """Renew until ``stopping()`` says so (the loop's companion task); ``after`` is called
        after each renewal that succeeded (the idle loop's look rides on its wake-up)."""
        while not stopping():
            self._rearm.clear()
            interval = self.renew_interval()
            deadline = self.clock.now() + timedelta(seconds=interval)
            await self.clock.sleep_until(deadline, self._rearm)
            if self._rearm.is_set() and self.clock.now() < deadline:
                continue  # renewed at the short TTL meanwhile: sleep a third of it from now
            try:
                await self.try_lead()
            except Exception as exc:  # logged once per episode, with the loop's failures
                self.faults.failed("lease", exc)
            else:
                self.faults.succeeded("lease")
                if after is not None:
                    after()

    async def _started(self, now: datetime, *, recover: bool = True) -> None:
        await self.store.record_audit(
            [
                AuditEvent(
                    at=now, type=AuditEventType.SCHEDULER_STARTED, details={"owner": self.owner}
                )
            ]
        )
        if recover:
            await self.recover(now)

    async def recover(self, now: datetime) -> None:
        """Runs left ``running`` by a dead process are ``interrupted`` (and retried per policy).

        First, the agent process groups that dead schedulers on this data directory left running
        are killed (and waited for), so that a retry never runs beside the copy it replaces."""
        if self.ledger is not None:
            await self.ledger.reap()
        while True:
            orphans = [
                o
                for o in await self.store.orphaned_runs(now, self.owner, limit=500)
                if o.run.id not in self.executor.tasks
            ]
            if not orphans:
                break
            items = []
            requeued = 0
            for orphan in orphans:
                run = orphan.run
                job = await self.store.get_job(run.job_id)
                if job is None:
                    continue
                if self._never_started(run, orphan.heartbeat):
                    again = replace(
                        run,
                        status=RunStatus.QUEUED,
                        due_at=run.started_at,
                        started_at=None,
                        details={**run.details, "requeued": "its holder died before its instant"},
                    )
                    if await self.store.update_run(again, expected=RunStatus.RUNNING):
                        requeued += 1
                        self.bus.publish(RunChanged(again))
                    continue
                request = run.details.get("cancel_requested")
                if isinstance(request, dict):
                    # an operator asked to cancel it (run_cancel.py): cancelled, not retried
                    details = {k: v for k, v in run.details.items() if k != "cancel_requested"}
                    ended = replace(
                        run,
                        status=RunStatus.CANCELLED,
                        finished_at=now,
                        error_message=f"cancelled by {request.get('by')} (its scheduler stopped)",
                        details={**details, "cancel": dict(request)},
                    )
                else:
                    ended = replace(
                        run,
                        status=RunStatus.INTERRUPTED,
                        finished_at=now,
                        error_message="interrupted: the scheduler process running it stopped",
                    )
                items.append(FinishItem(run=ended, job=job))
            if requeued:
                log.warning("queued again %d claimed run(s) that never started", requeued)
            if not items:
                if requeued:
                    continue
                break
            await self.writer.write(items)
            log.warning("marked %d run(s) of a dead scheduler interrupted", len(items))
        self.executor.recount()

    def _never_started(self, run: JobRun, heartbeat: datetime | None) -> bool:
        """A run claimed ahead whose instant came after its holder's death: its agent never
        started, so it runs now instead of counting as a failure. The holder renews its lease at
        a third of the TTL at most, so it was surely gone by ``heartbeat + ttl/3``; a run due
        later than that (with a margin) was never started. Anything less certain counts as
        interrupted."""
        if heartbeat is None or not run.details.get("claimed_ahead") or run.started_at is None:
            return False
        gone_by = heartbeat + timedelta(seconds=self.settings.lease_ttl_seconds / 3 + 0.1)
        return run.started_at > gone_by

    def _outside_write(self) -> None:
        """Another process wrote to the store (``symbi cron pause`` beside us, another node):
        look at it again, and tell every live view what it did not hear as events, so it
        reloads (``Dropped``: events were missed). Views debounce their reloads."""
        self._wake()
        self.bus.publish(Dropped(0))

    async def resign(self) -> None:
        """At shutdown: record the stop and give the lease (or node row) up."""
        if self.watching:
            self.store.unwatch()
            self.watching = False
        if self.is_leader:
            now = self.clock.now()
            await self.store.record_audit(
                [
                    AuditEvent(
                        at=now, type=AuditEventType.SCHEDULER_STOPPED, details={"owner": self.owner}
                    )
                ]
            )
            if self.store.shared:
                await self.store.unregister_node(self.owner)
            else:
                await self.store.release_lease(self.owner)
        self.is_leader = False
