"""CronScheduler: the wake-up loop that fires jobs from the store.

The loop sleeps until the earliest due instant (never longer than ``tick_interval_seconds``) and is
woken at once by any local change; between wake-ups it asks SQLite's ``data_version`` whether
another process wrote, so an idle scheduler over 100,000 jobs costs almost nothing. Due jobs are
claimed in batches: one transaction advances each job's next run and records its run (``running``,
``queued`` or ``skipped``), so a crash can neither lose nor repeat an instant. Finished runs are
written by a group-commit writer, many runs per transaction.

Exactly one scheduler fires from a store: it holds the store lease and renews it; a scheduler that
finds a live lease waits as a standby and takes over when the lease expires.
"""

from __future__ import annotations

__all__ = ["CronScheduler"]

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..clock import Clock, SystemClock, format_instant
from ..errors import StoreError, StoreUnavailable
from ..events import AuditRecorded, EventBus, JobChanged, RunChanged, SchedulerState
from ..llm_cost import Pricing
from ..model import AuditEventType, JobDefinition, JobRun, JobStatus, RunStatus, RunTrigger, new_id
from ..policy import AllowAll, PolicyGate
from ..runtime.base import Executor
from ..runtime.session import AgentRuntime
from ..settings import SchedulerSettings
from ..store.base import (
    ClaimPlan,
    FinishItem,
    JobStore,
    LeaseInfo,
    QueuedStart,
    StartPlan,
    StartPlanner,
)
from ..store.retention import RetentionPolicy
from ..telemetry import NO_TELEMETRY, Telemetry
from .execution import RunExecutor
from .faults import StoreFaults
from .leadership import Leadership
from .maintenance import Maintenance
from .rules import ERROR_LIMIT, add_counts, plan_fire, scheduler_audit
from .writer import FinishWriter

if TYPE_CHECKING:
    from ..delivery import Deliverer
    from ..runtime.ledger import AgentLedger

log = logging.getLogger("symbi.scheduler")

#: the pruner keeps off the store this long (seconds) after the scheduler starts a run: a burst
#: of starts (and the finishes that follow) has the write lock to itself
_FIRE_SETTLE = 0.1
#: the longest an idle loop that the store wakes sleeps on a timer of its own (its polls ride
#: on the lease renewals: this is a backstop)
_IDLE_BOUND = 3600.0

#: a claim lets the finish writer in when this many ended runs wait to be written
_CLAIM_BACKLOG = 32_768


class CronScheduler:
    """Fires due jobs from ``store`` through ``executor``. An async context manager.

    The loop itself: wake up, claim what is due, start what queued, sleep until the next
    instant. What a run does is :class:`RunExecutor`'s, who may fire is :class:`Leadership`'s,
    and finished runs are written by :class:`FinishWriter`.

    It stays one class, past 300 lines: waking, claiming and starting share the wake-up state
    (the next instant, the runs allowed to start, the claim batch), and a third of it is the
    read-only view of its parts (owner, lease, in-flight runs, deliverer) that the service, the
    daemon and the API read through it.
    """

    def __init__(
        self,
        store: JobStore,
        executor: Executor,
        *,
        settings: SchedulerSettings | None = None,
        clock: Clock | None = None,
        bus: EventBus | None = None,
        gate: PolicyGate | None = None,
        owner: str | None = None,
        api_address: str | None = None,
        rng: random.Random | None = None,
        deliverer: Deliverer | None = None,
        make_deliverer: Callable[[], Deliverer] | None = None,
        fire_due: bool = True,
        ledger: AgentLedger | None = None,
        retention: RetentionPolicy | None = None,
        prune_interval: float = 3600.0,
        telemetry: Telemetry = NO_TELEMETRY,
        pricing: Pricing | None = None,
    ) -> None:
        """``make_deliverer`` makes the delivery router when a run first has output to deliver
        (the delivery package is not imported before the first fire), unless ``deliverer``
        is given. ``fire_due=False``: the loop fires nothing due and expires no approval; it
        starts only the queued runs :meth:`allow_run` names (``symbi cron run`` in a process of
        its own, while no scheduler holds the store: other jobs' instants are left to the next
        real scheduler, which fires or catches them up by their own rules). ``ledger``: the agent
        process groups of schedulers on this data directory; what dead ones left running is
        killed before their runs are recovered. ``retention``: what history the lease holder
        prunes, every ``prune_interval`` seconds (:class:`Maintenance`). ``telemetry``: a span
        per run (see :class:`RunExecutor`). ``pricing``: what LLM runs cost (``[llm.prices]``)."""
        self.store = store
        self.executor = executor
        self.settings = settings or SchedulerSettings()
        self.clock: Clock = clock or SystemClock()
        self.bus = bus or EventBus()
        self.rng = rng or random.Random()
        self.runtime = AgentRuntime(
            executor,
            store=store,
            bus=self.bus,
            clock=self.clock,
            settings=self.settings,
            shared=store.shared,
        )
        #: what fails on the store, since when, and how long each failing operation waits
        self.faults = StoreFaults(settings=self.settings, clock=self.clock)
        self.writer = FinishWriter(
            store,
            settings=self.settings,
            clock=self.clock,
            bus=self.bus,
            on_retry=self.notify,
            faults=self.faults,
        )
        self.writer.refill = self._refill
        self.writer.refilled = self._refilled
        self.runs = RunExecutor(
            store,
            self.runtime,
            self.writer,
            gate=gate or AllowAll(),
            wake=self.notify,
            deliverer=deliverer,
            make_deliverer=make_deliverer,
            telemetry=telemetry,
            settings=self.settings,
            clock=self.clock,
            bus=self.bus,
            pricing=pricing,
        )
        self.leadership = Leadership(
            store,
            self.runs,
            self.writer,
            self.runtime,
            owner=owner or f"{socket.gethostname()}:{os.getpid()}:{new_id()[-8:]}",
            api_address=api_address,
            wake=self.notify,
            settings=self.settings,
            clock=self.clock,
            bus=self.bus,
            ledger=ledger,
            faults=self.faults,
        )
        self.leadership.idle = self._idle_for
        self.maintenance = Maintenance(
            store,
            retention or RetentionPolicy(),
            interval=prune_interval,
            clock=self.clock,
            bus=self.bus,
            leading=lambda: self.leadership.is_leader and self._fires,
            quiet=self._quiet_for,
            stopping=lambda: self._stopping,
        )
        self._maintenance_task: asyncio.Task[None] | None = None
        self._fired = -1e9  #: time.monotonic() when the last run claimed starts (or started)
        self._wake = asyncio.Event()
        self._changed = True
        self._generation = 0
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._lease_task: asyncio.Task[None] | None = None
        self._last_data_version: int | None = None
        self._cycling = False  #: a cycle is under way (the loop is not idle)
        self._looked = self.clock.now()  #: when the loop last looked at the store
        self._next_due: datetime | None = None
        self._idle = asyncio.Event()
        self.started_at: datetime | None = None
        self._fires = fire_due
        #: with fire_due=False: the runs this loop may start
        self._allowed: set[str] = set()
        #: the free slots and the runs leaving theirs of the writer's refill under way
        self._refilling: tuple[int, list[str]] = (0, [])

    # --- what front ends and tests read -----------------------------------------------------------

    @property
    def owner(self) -> str:
        return self.leadership.owner

    @property
    def api_address(self) -> str | None:
        return self.leadership.api_address

    @property
    def is_leader(self) -> bool:
        return self.leadership.is_leader

    @property
    def lease(self) -> LeaseInfo | None:
        return self.leadership.lease

    @property
    def gate(self) -> PolicyGate:
        return self.runs.gate

    @property
    def in_flight(self) -> int:
        return self.runs.in_flight

    @property
    def _tasks(self) -> dict[str, asyncio.Task[None]]:
        return self.runs.tasks

    def in_flight_runs(self) -> list[str]:
        return self.runs.in_flight_runs()

    def cancel_run(
        self, run_id: str, status: RunStatus = RunStatus.CANCELLED, *, actor: str | None = None
    ) -> bool:
        return self.runs.cancel_run(run_id, status, actor=actor)

    def cancel_job_runs(self, job_id: str) -> int:
        return self.runs.cancel_job_runs(job_id)

    @property
    def made_deliverer(self) -> Deliverer | None:
        return self.runs.made_deliverer

    def deliverer(self) -> Deliverer:
        return self.runs.deliverer()

    # --- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> CronScheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Take the lease (or become standby) and start the loop. A store that cannot be written
        now does not stop it: the lease is taken when the store recovers."""
        self._stopping = False
        self.started_at = self.clock.now()
        try:
            await self.leadership.try_lead()
        except StoreUnavailable as exc:
            self.faults.failed("lease", exc)
        self._loop_task = asyncio.create_task(self._loop(), name="symbi-scheduler-loop")
        self._lease_task = asyncio.create_task(
            self.leadership.renew_forever(lambda: self._stopping, self._after_renewal),
            name="symbi-scheduler-lease",
        )
        self._maintenance_task = asyncio.create_task(
            self.maintenance.run_forever(), name="symbi-scheduler-maintenance"
        )

    async def _try_lead(self) -> bool:
        return await self.leadership.try_lead()

    async def stop(self, grace: float | None = None) -> None:
        """Stop firing, wait for in-flight runs, then interrupt the rest and release the lease."""
        if self._loop_task is None:
            return
        self._stopping = True
        self._wake.set()
        self.maintenance.wake()
        # the loop finishes its current transaction and exits by itself: cancelling it mid-claim
        # could leave runs recorded as running that were never started (and a pruning pass ends
        # after its current batch)
        await self._loop_task
        if self._maintenance_task is not None:
            await self._maintenance_task
            self._maintenance_task = None
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_task
        self._loop_task = self._lease_task = None
        limit = self.settings.shutdown_timeout_seconds if grace is None else grace
        self.writer.hurry()  # finished runs the store refused: try them again now, first
        await self.runs.interrupt(limit)
        # what the store still refuses after the shutdown timeout is given up: those runs stay
        # recorded running, and the next start records them interrupted
        await self.writer.drain(give_up_after=limit)
        await self.runs.finish_deliveries(max(limit, 1.0))
        try:
            await self.leadership.resign()
        except StoreError as exc:
            log.warning(
                "could not release the store lease: %s (it lapses by itself)",
                exc,
                extra={"event": "scheduler.resign_failed"},
            )
        self.bus.publish(SchedulerState("stopped"))

    def allow_run(self, run_id: str) -> None:
        """With ``fire_due=False``: start ``run_id`` once it is queued and due (now, or when an
        approval lets it run again)."""
        self._allowed.add(run_id)
        self.notify()

    def _quiet_for(self) -> float:
        """Seconds the pruner should wait before its next batch (0: go ahead): while runs are
        being started (from their claim until a tenth of a second after the last one's
        instant), and, when the next claim is less than a quarter of a second away, until its
        instant has passed."""
        if not self.leadership.is_leader:
            return 0.0
        since = time.monotonic() - self._fired
        if since < _FIRE_SETTLE:
            return _FIRE_SETTLE - since
        due = self._next_due
        if due is None:
            return 0.0
        lead = (due - self.clock.now()).total_seconds()
        if lead > 0.25:
            return 0.0
        return max(lead, 0.0) + self.settings.claim_ahead_seconds + _FIRE_SETTLE

    def _after_renewal(self) -> None:
        """After each lease renewal: wake an idle loop whose poll is due (``idle_poll_seconds``
        since its last look), or whose next instant has come (a wall clock that jumped ahead
        while it slept) in the same wake-up, instead of on a timer of its own."""
        if self._stopping or not self.leadership.is_leader:
            return
        now = self.clock.now()
        due = self._next_due
        poll = self.settings.idle_poll_seconds
        if (due is not None and due <= now) or (now - self._looked).total_seconds() >= poll:
            self._wake.set()

    def notify(self) -> None:
        """Something changed: look at the store again now."""
        self._changed = True
        self._generation += 1
        self._wake.set()

    async def wait_idle(self) -> None:
        """Return once the loop sleeps with nothing due, nothing in flight and nothing unwritten.

        For tests with a fake clock: advance the clock, then ``await scheduler.wait_idle()``.
        """
        while True:
            if self.runs.deliveries:
                await asyncio.wait(list(self.runs.deliveries))
            self._idle.clear()
            self.notify()
            await self._idle.wait()
            if not self.runs.tasks and not self.writer.busy and not self.runs.deliveries:
                return

    # --- the loop ---------------------------------------------------------------------------------

    async def _loop(self) -> None:
        tick = timedelta(seconds=self.settings.tick_interval_seconds)
        while not self._stopping:
            generation = self._generation
            self._wake.clear()
            now = self.clock.now()
            retry: float | None = None
            if self.leadership.is_leader:
                due = self._next_due
                try:
                    now = await self._cycle(now)
                except Exception as exc:
                    retry = self.faults.failed("cycle", exc)
                    self._changed = True  # the next cycle looks at everything again
                else:
                    if self.faults.failing:
                        self.faults.succeeded("cycle", _late_note(due, now))
            else:
                self._changed = False
            if self._stopping:
                break
            if retry is not None:
                await self._back_off(self.clock.now() + timedelta(seconds=retry))
                continue
            bound = tick
            if self.leadership.watching and not self.runs.tasks and not self.writer.queued:
                # idle, and outside writes wake us through the store: no need to poll each tick;
                # a poll as long as a renewal's interval rides on the renewal's wake-up
                # (_after_renewal), so an idle loop has no timer of its own until a job is due
                poll = self.settings.idle_poll_seconds
                if poll >= self.leadership.renew_interval() or self.leadership.stretched:
                    poll = _IDLE_BOUND  # (a stretched lease: the look is made at each renewal)
                bound = max(tick, timedelta(seconds=poll))
            deadline = now + bound
            due = self._next_due
            if self.leadership.is_leader and due is not None and due < deadline:
                deadline = due
            quiet = not self._changed and not self.runs.tasks and not self.writer.queued
            if quiet and generation == self._generation:  # nothing was notified meanwhile
                self._idle.set()
            await self.clock.sleep_until(deadline, self._wake)

    async def _back_off(self, until: datetime) -> None:
        """After a failed cycle: sleep until ``until`` whatever is notified meanwhile (a failing
        store is not asked again sooner); only a stop ends it early."""
        while not self._stopping and self.clock.now() < until:
            self._wake.clear()
            await self.clock.sleep_until(until, self._wake)

    def _idle_for(self, seconds: float) -> bool:
        """Whether the loop is idle and stays so for ``seconds`` (then the lease may be renewed
        for ``idle_lease_ttl_seconds``): no cycle under way, nothing notified, running, queued
        or unwritten, and the next instant (claimed ahead by ``claim_ahead_seconds``) later."""
        if self._cycling or self._changed or self.runs.tasks or self.writer.queued:
            return False
        due = self._next_due
        if due is None:
            return True
        ahead = seconds + self.settings.claim_ahead_seconds + self.settings.tick_interval_seconds
        return due > self.clock.now() + timedelta(seconds=ahead)

    async def _cycle(self, now: datetime) -> datetime:
        """One look at the store; returns the instant it acted on."""
        self._cycling = True
        try:
            return await self._look(now)
        finally:
            self._cycling = False

    async def _look(self, now: datetime) -> datetime:
        self._looked = now
        ttl = self.settings.lease_ttl_seconds
        lease = self.leadership.lease
        renew = lease is None or (lease.expires_at - now).total_seconds() < ttl / 2
        if renew and not await self.leadership.try_lead():
            return now
        version = await self.store.data_version()
        if version != self._last_data_version:
            self._last_data_version = version
            self._changed = True
        now = self.clock.now()
        if not self._changed and (self._next_due is None or self._next_due > now):
            return now
        if self.leadership.stretched and not await self.leadership.try_lead():
            return now  # work to do on an idle (long) lease: renewed at the short TTL first
        self._changed = False
        if self.runs.tasks:  # another process may have asked to cancel a run this one runs
            await self._take_cancel_requests()
        self.runs.awaiting = await self.store.awaiting_by_job()
        if not self._fires:  # manual runs only: what it was allowed to start
            async with self.writer.starting:
                await self._start_queued(now)
            return now
        if self.runs.awaiting:  # approvals can only expire while some run waits for one
            await self.runs.expire_approvals(now)
        await self._fire_due(now)
        async with self.writer.starting:  # (the writer starts runs too: see _refill)
            await self._start_queued(now)
        self._next_due = await self.store.next_wakeup(now, ahead=self.settings.claim_ahead_seconds)
        return now

    async def _fire_due(self, now: datetime) -> None:
        """Claim what is due, batch after batch. The finish writer waits meanwhile (claims come
        first), unless the ends of what this claim started pile up beyond ``_CLAIM_BACKLOG``:
        then half of them are written before the next batch (each end waiting holds its run's
        slot and a few kilobytes: 100,000 at one instant peaked at 430 MB)."""
        while True:
            async with self.writer.starting:  # (the writer starts runs too: see _refill)
                with self.writer.claiming():
                    more = await self._claim_batches(now, until_backlog=_CLAIM_BACKLOG)
            if not more:
                return
            await self.writer.catch_up(_CLAIM_BACKLOG // 2)

    async def _claim_batches(self, now: datetime, *, until_backlog: int) -> bool:
        """Claim batches until nothing is due or ``until_backlog`` finished runs wait to be
        written; whether there may be more to claim."""
        batch = self.settings.claim_batch_size
        while not self._stopping:
            counts = self.runs.counts()
            free = [self.runs.free_slots()]
            seen = [0]

            def planner(
                jobs: Sequence[JobDefinition],
                others: Mapping[str, int],
                counts: dict[str, int] = counts,
                free: list[int] = free,
                seen: list[int] = seen,
            ) -> list[ClaimPlan]:
                seen[0] = len(jobs)
                add_counts(counts, others)
                return [self._plan_safely(j, now, counts, free) for j in jobs]

            until = now + timedelta(seconds=self.settings.claim_ahead_seconds)
            plans = await self.store.claim_due(now, batch, self.owner, planner, until=until)
            if plans is None:
                await self.leadership.try_lead()
                return False
            self.runtime.prefetch(
                [p.job for p in plans if p.run is not None and p.run.status is RunStatus.RUNNING]
            )
            for plan in plans:
                self._after_claim(plan)
            if seen[0] < batch:
                return False
            if self.writer.backlog >= until_backlog:
                return True  # (after a batch: claims go on whatever the writer does)
        return False

    def _plan_safely(
        self, job: JobDefinition, now: datetime, counts: dict[str, int], free: list[int]
    ) -> ClaimPlan:
        """plan_fire, but a job that cannot be planned (a definition stored before a check
        existed, say) fails alone instead of aborting its whole batch on every tick."""
        try:
            return plan_fire(job, now, self.settings, counts, free, self.rng)
        except Exception as exc:
            log.exception("cannot plan job %s; it is marked failed", job.name)
            message = f"cannot be scheduled: {type(exc).__name__}: {exc}"[:ERROR_LIMIT]
            run = JobRun(
                id=new_id(),
                job_id=job.id,
                job_name=job.name,
                agent_id=job.agent,
                scheduled_for=job.next_run_at or now,
                status=RunStatus.SKIPPED,
                finished_at=now,
                error_message=message,
            )
            event = scheduler_audit(
                AuditEventType.CRON_JOB_FAILED, now, job, run, error=message[:500]
            )
            return ClaimPlan(
                job=job, next_run_at=None, status=JobStatus.FAILED, run=run, audit=(event,)
            )

    def _after_claim(self, plan: ClaimPlan) -> None:
        run = plan.run
        if plan.status is not None:
            self.bus.publish(JobChanged(plan.job.id, "state"))
        for event in plan.audit:
            self.bus.publish(AuditRecorded(event))
        if run is None:
            return
        self.bus.publish(RunChanged(run))
        if run.status is RunStatus.RUNNING:
            self.runs.launch(plan.job, run)
            # claimed ahead: it starts on its instant (the pruner waits until it has)
            ahead = (run.started_at - self.clock.now()).total_seconds() if run.started_at else 0
            self._fired = max(self._fired, time.monotonic() + max(ahead, 0.0))

    async def _start_queued(self, now: datetime) -> None:
        free = self.runs.free_slots()
        if free <= 0:
            return
        planner = self._start_planner(now, free, self.runs.counts())
        plans = await self.store.start_queued(now, free + 100, self.owner, planner)
        if plans is None:
            await self.leadership.try_lead()
            return
        self._launch_started(plans)

    def _start_planner(self, now: datetime, free: int, counts: dict[str, int]) -> StartPlanner:
        """Which queued runs start in ``free`` slots, given the runs per job ``counts`` (a copy
        the planner updates); run in the store's transaction."""

        def planner(
            pairs: Sequence[tuple[JobRun, JobDefinition]], others: Mapping[str, int]
        ) -> list[StartPlan]:
            plans = []
            slots = free
            add_counts(counts, others)
            if not self._fires:
                pairs = [(run, job) for run, job in pairs if run.id in self._allowed]
            for run, job in pairs:
                if job.status is not JobStatus.ACTIVE and run.trigger is not RunTrigger.MANUAL:
                    reason = f"cancelled: the job is {job.status.value}"
                    plans.append(StartPlan(run=run, job=job, start=False, cancel_reason=reason))
                    continue
                if slots <= 0 or counts.get(job.id, 0) >= job.max_concurrent:
                    plans.append(StartPlan(run=run, job=job, start=False))
                    continue
                slots -= 1
                counts[job.id] = counts.get(job.id, 0) + 1
                started = replace(run, status=RunStatus.RUNNING, started_at=now)
                plans.append(StartPlan(run=started, job=job, start=True))
            return plans

        return planner

    def _launch_started(self, plans: Sequence[StartPlan], read: Collection[str] = ()) -> None:
        """Launch the queued runs a start transaction recorded running (and publish them all).
        ``read``: the jobs whose contexts that transaction read (given to the runtime)."""
        self.runtime.prefetch([p.job for p in plans if p.start and p.job.id not in read])
        for plan in plans:
            self.bus.publish(RunChanged(plan.run))
            if plan.start:
                self.runs.launch(plan.job, plan.run)
                self._fired = time.monotonic()

    def _refilled(self, start: QueuedStart) -> None:
        """Launch what the writer's refill started. When it took every slot its batch freed,
        the ends of that batch need not wake the loop (a cycle would find no free slot; the
        run ending last in a drained queue, whose refill starts fewer, still wakes it)."""
        free, freed = self._refilling
        plans = start.plans or []
        read: Collection[str] = ()
        if start.contexts is not None:
            read = set(start.contexts[0])
            self.runtime.provide(*start.contexts)
        self._launch_started(plans, read)
        if sum(p.start for p in plans) >= free:
            self.runs.quiet_release(freed)

    def _refill(self, items: Sequence[FinishItem], now: datetime) -> QueuedStart | None:
        """The queued runs the writer starts in the transaction that records ``items``' ends, in
        the slots those runs leave: only while every slot is taken (with a free slot, the loop
        has started what was due already), so a drained queue costs one transaction a batch."""
        if not self._fires or self._stopping or not self.leadership.is_leader:
            return None
        if self.runs.free_slots() > 0:
            return None
        counts = self.runs.counts()
        freed: list[str] = []
        for item in items:
            job_id = self.runs.slot_of(item.run.id)
            if job_id is None:
                continue
            freed.append(item.run.id)
            left = counts.get(job_id, 0) - 1
            if left > 0:
                counts[job_id] = left
            else:
                counts.pop(job_id, None)
        free = self.settings.max_concurrent_jobs - self.runs.in_flight + len(freed)
        if free <= 0:
            return None
        self._refilling = (free, freed)
        planner = self._start_planner(now, free, counts)
        # a few rows beyond the slots (not the loop's hundred: each row read is a job definition
        # parsed, and this runs for every batch while the queue drains); runs of jobs at their
        # max_concurrent further on are the loop's, whose start reads further
        return QueuedStart(
            now=now, limit=free + 10, owner=self.owner, planner=planner, read_contexts=True
        )

    async def _take_cancel_requests(self) -> None:
        """Cancel the runs in flight here that an operator asked to cancel through another
        process (a CLI on the store, another node's API): see run_cancel.py."""
        for run_id, request in (await self.store.cancel_requests()).items():
            if self.runs.holds(run_id):
                self.runs.cancel_run(run_id, actor=request.get("by") or "unknown")


def _late_note(due: datetime | None, now: datetime) -> str:
    """What waited for the loop while the store failed (for the line that ends the episode)."""
    if due is None or due > now:
        return "no job fell due meanwhile"
    late = (now - due).total_seconds()
    return f"jobs due since {format_instant(due)} were claimed {late:.0f}s late"
