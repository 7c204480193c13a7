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

__all__ = ["CronScheduler", "deny_item", "plan_finish", "plan_fire", "retry_delay"]

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .clock import Clock, SystemClock
from .config import SchedulerSettings
from .cron import CronSchedule
from .events import AuditRecorded, EventBus, JobChanged, RunChanged, SchedulerState
from .model import (
    AgentContext,
    AuditEvent,
    AuditEventType,
    CatchUp,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
    RunTrigger,
    job_event,
    new_id,
)
from .policy import AllowAll, Deny, PolicyGate, RequireApproval
from .runtime.base import ExecutionResult, Executor
from .runtime.session import AgentRuntime
from .store.base import (
    ApprovalDecision,
    ClaimPlan,
    FinishItem,
    FinishPlan,
    JobStore,
    LeaseInfo,
    StartPlan,
)

if TYPE_CHECKING:
    from .delivery import Deliverer

log = logging.getLogger("symbi.scheduler")

#: runs whose output goes to the job's delivery channels
_DELIVERED = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT})

#: at most this many missed instants are counted one by one after downtime
MAX_MISSED_COUNT = 10_000
_ERROR_LIMIT = 4000


@lru_cache(maxsize=4096)
def schedule_for(expr: str, tz: str) -> CronSchedule:
    return CronSchedule(expr, tz)


def retry_delay(attempt: int, settings: SchedulerSettings) -> float:
    """Exponential backoff: base, 2x base, 4x base, ... capped."""
    return min(
        settings.retry_backoff_seconds * (2 ** max(attempt - 1, 0)),
        settings.retry_backoff_max_seconds,
    )


def _audit(
    kind: AuditEventType,
    now: datetime,
    job: JobDefinition,
    run: JobRun | None = None,
    **details: Any,
) -> AuditEvent:
    return job_event(kind, at=now, actor="scheduler", job=job, run=run, **details)


def plan_fire(
    job: JobDefinition,
    now: datetime,
    settings: SchedulerSettings,
    job_counts: dict[str, int],
    free_slots: list[int],
    rng: random.Random,
) -> ClaimPlan:
    """Decide what a due job does now: run, queue, skip or catch up; and when it is due next.

    ``job_counts`` and ``free_slots`` are this batch's working copies; the plan updates them.
    A job may be claimed a little before its instant (``claim_ahead_seconds``): its run is then
    recorded with the instant as its start, and the agent is started at that instant.
    """
    due = job.next_run_at
    assert due is not None
    instants = [due]
    next_run: datetime | None = None
    if job.cron is not None:
        schedule = schedule_for(job.cron, job.timezone)
        nxt = schedule.next_after(due)
        while nxt <= now and len(instants) < MAX_MISSED_COUNT:
            instants.append(nxt)
            nxt = schedule.next_after(nxt)
        while nxt <= now:  # beyond the count cap: jump ahead without listing
            nxt = schedule.next_after(max(nxt, now - timedelta(minutes=1)))
        next_run = nxt
    latest = instants[-1]
    late = (now - instants[0]).total_seconds()
    status = JobStatus.ACTIVE if next_run is not None else job.status
    audit: list[AuditEvent] = []
    trigger = RunTrigger.SCHEDULE
    details: dict[str, Any] = {}
    skip_reason: str | None = None
    if len(instants) > 1 or late > settings.misfire_threshold_seconds:
        missed = len(instants)
        span = f"{instants[0].isoformat()} .. {latest.isoformat()}" if missed > 1 else ""
        details = {"missed_instants": missed, "first_missed": instants[0].isoformat()}
        grace = (
            job.misfire_grace_seconds
            if job.misfire_grace_seconds is not None
            else settings.misfire_grace_seconds
        )
        if job.catch_up is CatchUp.SKIP:
            skip_reason = f"missed {missed} instant(s) while down {span}(catch_up=skip)".replace(
                "  ", " "
            )
        elif (now - latest).total_seconds() > grace:
            skip_reason = (
                f"missed {missed} instant(s); the latest is older than misfire_grace ({grace:g}s)"
            )
        else:
            trigger = RunTrigger.CATCH_UP
    if next_run is None and job.at is not None:
        # a one-shot job: completed once its single run succeeds (see plan_finish)
        status = JobStatus.COMPLETED if skip_reason else JobStatus.ACTIVE
    count = job_counts.get(job.id, 0)
    # the run is built once, in its final state (dataclasses.replace costs as much as a build)
    fields: dict[str, Any]
    if skip_reason is None and count >= job.max_concurrent:
        skip_reason = f"max_concurrent ({job.max_concurrent}) reached: {count} run(s) in flight"
    if skip_reason is not None:
        fields = {"status": RunStatus.SKIPPED, "finished_at": now, "error_message": skip_reason}
    else:
        jitter = (
            job.jitter_seconds if job.jitter_seconds is not None else settings.max_jitter_seconds
        )
        delay = rng.uniform(0, jitter) if jitter > 0 else 0.0
        if delay > 0:
            fields = {
                "status": RunStatus.QUEUED,
                "due_at": max(now, latest) + timedelta(seconds=delay),
            }
            details = {**details, "jitter_seconds": round(delay, 3)}
        elif free_slots[0] > 0:
            free_slots[0] -= 1
            job_counts[job.id] = count + 1
            start = max(now, latest)
            fields = {"status": RunStatus.RUNNING, "due_at": start, "started_at": start}
            if latest > now:
                # recorded now, started on its instant: if this process dies before then, the
                # next leader can tell that the agent never ran (see _recover)
                details = {**details, "claimed_ahead": True}
        else:
            fields = {"status": RunStatus.QUEUED, "due_at": max(now, latest)}
    run = JobRun(
        id=new_id(),
        job_id=job.id,
        job_name=job.name,
        agent_id=job.agent,
        trigger=trigger,
        scheduled_for=latest,
        input=job.input,
        details=details,
        **fields,
    )
    if skip_reason is not None:
        audit.append(_audit(AuditEventType.CRON_JOB_SKIPPED, now, job, run, reason=skip_reason))
    return ClaimPlan(
        job=job,
        next_run_at=next_run,
        status=status if status is not job.status else None,
        run=run,
        audit=tuple(audit),
    )


def plan_finish(
    item: FinishItem,
    current: JobDefinition | None,
    *,
    settings: SchedulerSettings,
    now: datetime,
) -> FinishPlan | None:
    """What a finished run means for its job: counts, retries, completion, dead letter."""
    if current is None:
        return None
    run, job = item.run, item.job
    audit: list[AuditEvent] = []
    status: JobStatus | None = None
    if run.status is RunStatus.SUCCEEDED:
        audit.append(
            _audit(
                AuditEventType.CRON_JOB_EXECUTED,
                now,
                current,
                run,
                status=run.status.value,
                execution_time_ms=run.execution_time_ms,
            )
        )
        if (
            current.at is not None
            and current.next_run_at is None
            and current.status
            in (
                JobStatus.ACTIVE,
                JobStatus.FAILED,
            )
        ):
            status = JobStatus.COMPLETED
        return FinishPlan(job_id=current.id, status=status, failure_count=0, audit=tuple(audit))
    if not run.status.is_failure:
        # denied, skipped, cancelled: not an execution, not a failure
        if run.status is RunStatus.DENIED:
            approval = run.details.get("approval") or {}
            if approval.get("decision") in ("denied", "expired"):
                audit.append(
                    job_event(
                        AuditEventType.CRON_RUN_DENIED,
                        at=now,
                        actor=approval.get("decided_by") or "scheduler",
                        job=current,
                        run=run,
                        decision=approval["decision"],
                        reason=approval.get("reason"),
                    )
                )
            else:
                audit.append(
                    _audit(
                        AuditEventType.POLICY_DENIED, now, current, run, reason=run.error_message
                    )
                )
        return FinishPlan(
            job_id=current.id,
            failure_count=current.failure_count,
            last_error=current.last_error,
            count_run=False,
            audit=tuple(audit),
        )
    failures = current.failure_count + 1
    error = (run.error_message or run.status.value)[:_ERROR_LIMIT]
    audit.append(
        _audit(
            AuditEventType.CRON_JOB_FAILED,
            now,
            current,
            run,
            status=run.status.value,
            attempt=run.attempt,
            error=error[:500],
        )
    )
    max_retries = job.max_retries if job.max_retries is not None else settings.default_max_retries
    retry: JobRun | None = None
    if failures >= max_retries:
        if current.status in (JobStatus.ACTIVE, JobStatus.PAUSED, JobStatus.FAILED):
            status = JobStatus.DEAD_LETTER
            audit.append(
                _audit(
                    AuditEventType.CRON_JOB_DEAD_LETTERED,
                    now,
                    current,
                    run,
                    failures=failures,
                    max_retries=max_retries,
                    error=error[:500],
                )
            )
    elif current.status is JobStatus.ACTIVE or run.trigger is RunTrigger.MANUAL:
        delay = retry_delay(run.attempt, settings)
        retry = JobRun(
            id=new_id(),
            job_id=run.job_id,
            job_name=run.job_name,
            agent_id=run.agent_id,
            trigger=RunTrigger.RETRY,
            scheduled_for=run.scheduled_for,
            due_at=now + timedelta(seconds=delay),
            status=RunStatus.QUEUED,
            attempt=run.attempt + 1,
            input=run.input,
            details={"retry_of": run.id, "backoff_seconds": delay},
        )
    return FinishPlan(
        job_id=current.id,
        status=status,
        failure_count=failures,
        last_error=error,
        retry=retry,
        audit=tuple(audit),
    )


def _add_counts(counts: dict[str, int], others: Mapping[str, int]) -> None:
    """Add the runs other nodes hold (counted in the claim's transaction) to ours."""
    for job_id, n in others.items():
        counts[job_id] = counts.get(job_id, 0) + n


def deny_item(
    job: JobDefinition,
    run: JobRun,
    *,
    now: datetime,
    actor: str,
    decision: str = "denied",
    reason: str | None = None,
) -> FinishItem:
    """A run awaiting approval, finished as denied (by an operator, or by its timeout)."""
    approval = {
        **(run.details.get("approval") or {}),
        "decision": decision,
        "decided_by": actor,
        "decided_at": now.isoformat(),
        "reason": reason,
    }
    if decision == "expired":
        message = f"denied: {reason or 'approval timed out'}"
    else:
        message = f"denied by {actor}" + (f": {reason}" if reason else "")
    denied = replace(
        run,
        status=RunStatus.DENIED,
        finished_at=now,
        error_message=message,
        details={**run.details, "approval": approval},
    )
    return FinishItem(
        run=denied,
        job=job,
        expected=RunStatus.AWAITING_APPROVAL,
        approval=ApprovalDecision(
            decision=decision, decided_by=actor, decided_at=now, reason=reason
        ),
    )


class CronScheduler:
    """Fires due jobs from ``store`` through ``executor``. An async context manager."""

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
        deliverer: Deliverer | Callable[[], Deliverer] | None = None,
    ) -> None:
        """``deliverer``: the delivery router, or a factory called when a run first has output
        to deliver (the delivery package is not imported before the first fire)."""
        self.store = store
        self.executor = executor
        self.settings = settings or SchedulerSettings()
        self.clock: Clock = clock or SystemClock()
        self.bus = bus or EventBus()
        self.gate: PolicyGate = gate or AllowAll()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{new_id()[-8:]}"
        self.api_address = api_address
        self.rng = rng or random.Random()
        self.runtime = AgentRuntime(
            executor,
            store=store,
            bus=self.bus,
            clock=self.clock,
            settings=self.settings,
            shared=store.shared,
        )
        self.lease: LeaseInfo | None = None
        self.is_leader = False
        self._wake = asyncio.Event()
        self._changed = True
        self._generation = 0
        self._watching = False
        self._stopping = False
        self._tasks: dict[str, asyncio.Task[None]] = {}  #: run id -> task
        self._running_jobs: dict[str, str] = {}  #: run id -> job id
        self._job_counts: dict[str, int] = {}  #: job id -> runs this scheduler is running
        self._awaiting: dict[str, int] = {}  #: job id -> runs awaiting approval (from the store)
        self._finish_queue: list[tuple[FinishItem, asyncio.Future[FinishPlan | None]]] = []
        self._flushing: asyncio.Task[None] | None = None
        #: cleared while due jobs are being claimed: finished runs wait, so that the claim
        #: transactions (what delays the next start) never queue behind finish transactions
        self._not_claiming = asyncio.Event()
        self._not_claiming.set()
        self._loop_task: asyncio.Task[None] | None = None
        self._lease_task: asyncio.Task[None] | None = None
        self._last_data_version: int | None = None
        self._next_due: datetime | None = None
        self._idle = asyncio.Event()
        self._cancel_reasons: dict[str, RunStatus] = {}
        self._deliverer = deliverer
        self._deliveries: set[asyncio.Task[None]] = set()
        self.started_at: datetime | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> CronScheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Take the lease (or become standby) and start the loop."""
        self._stopping = False
        self.started_at = self.clock.now()
        await self._try_lead()
        self._loop_task = asyncio.create_task(self._loop(), name="symbi-scheduler-loop")
        self._lease_task = asyncio.create_task(self._lease_loop(), name="symbi-scheduler-lease")

    async def stop(self, grace: float | None = None) -> None:
        """Stop firing, wait for in-flight runs, then interrupt the rest and release the lease."""
        if self._loop_task is None:
            return
        self._stopping = True
        self._wake.set()
        # the loop finishes its current transaction and exits by itself: cancelling it mid-claim
        # could leave runs recorded as running that were never started
        await self._loop_task
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease_task
        self._loop_task = self._lease_task = None
        limit = self.settings.shutdown_timeout_seconds if grace is None else grace
        pending = [t for t in self._tasks.values() if not t.done()]
        if pending:
            log.info("waiting up to %ss for %d in-flight run(s)", limit, len(pending))
            _, still = await asyncio.wait(pending, timeout=limit)
            for run_id in list(self._tasks):
                if self._tasks[run_id] in still:
                    self._cancel_reasons[run_id] = RunStatus.INTERRUPTED
                    self._tasks[run_id].cancel()
            if still:
                await asyncio.wait(still)
        await self._drain_finishes()
        if self._deliveries:
            _, late = await asyncio.wait(list(self._deliveries), timeout=max(limit, 1.0))
            for task in late:
                task.cancel()
            if late:
                log.warning("gave up %d delivery(ies) at shutdown", len(late))
                await asyncio.wait(late)
        if self._watching:
            self.store.unwatch()
            self._watching = False
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
        self.bus.publish(SchedulerState("stopped"))

    def notify(self) -> None:
        """Something changed: look at the store again now."""
        self._changed = True
        self._generation += 1
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._running_jobs)

    def in_flight_runs(self) -> list[str]:
        return list(self._running_jobs)

    def cancel_run(self, run_id: str, status: RunStatus = RunStatus.CANCELLED) -> bool:
        task = self._tasks.get(run_id)
        if task is None or task.done():
            return False
        self._cancel_reasons[run_id] = status
        task.cancel()
        return True

    def cancel_job_runs(self, job_id: str) -> int:
        runs = [r for r, j in self._running_jobs.items() if j == job_id]
        return sum(self.cancel_run(r) for r in runs)

    async def wait_idle(self) -> None:
        """Return once the loop sleeps with nothing due, nothing in flight and nothing unwritten.

        For tests with a fake clock: advance the clock, then ``await scheduler.wait_idle()``.
        """
        while True:
            if self._deliveries:
                await asyncio.wait(list(self._deliveries))
            self._idle.clear()
            self.notify()
            await self._idle.wait()
            if (
                not self._tasks
                and not self._finish_queue
                and not self._flushing
                and not self._deliveries
            ):
                return

    # --- leadership -------------------------------------------------------------------------------

    async def _try_lead(self) -> bool:
        if self.store.shared:
            return await self._renew_node()
        now = self.clock.now()
        holder = await self.store.acquire_lease(
            self.owner, now=now, ttl=self.settings.lease_ttl_seconds, api_address=self.api_address
        )
        self.lease = holder
        was = self.is_leader
        self.is_leader = holder.owner == self.owner
        if self.is_leader and not was:
            log.info("took the store lease as %s", self.owner)
            self.runtime.forget()
            self._watching = self.store.watch(self.notify)
            await self._started(now)
            self.bus.publish(SchedulerState("leader", self.owner))
            self.notify()
        elif not self.is_leader and (was or self.lease is not None):
            if was:
                log.warning("lost the store lease to %s", holder.owner)
                self.store.unwatch()
                self._watching = False
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
                self._watching = self.store.watch(self.notify)
            self.runtime.forget()
            await self._started(now, recover=not lapsed)
            self.bus.publish(SchedulerState("leader", self.owner))
            self.notify()
        else:
            await self._recover(now)
        return True

    async def _lease_loop(self) -> None:
        ttl = self.settings.lease_ttl_seconds
        while not self._stopping:
            # the holder renews at a third of the TTL; a standby looks more often, to take over
            # within seconds of the holder's death (so does a node of a shared store, which
            # recovers the runs of dead nodes as it renews)
            often = not self.is_leader or self.store.shared
            interval = max(min(ttl / 3, 2.0) if often else ttl / 3, 0.05)
            await self.clock.sleep_until(self.clock.now() + timedelta(seconds=interval))
            try:
                await self._try_lead()
            except Exception:
                log.exception("lease renewal failed")

    async def _started(self, now: datetime, *, recover: bool = True) -> None:
        await self.store.record_audit(
            [
                AuditEvent(
                    at=now, type=AuditEventType.SCHEDULER_STARTED, details={"owner": self.owner}
                )
            ]
        )
        if recover:
            await self._recover(now)

    async def _recover(self, now: datetime) -> None:
        """Runs left ``running`` by a dead process are ``interrupted`` (and retried per policy)."""
        while True:
            orphans = [
                o
                for o in await self.store.orphaned_runs(now, self.owner, limit=500)
                if o.run.id not in self._tasks
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
                items.append(
                    FinishItem(
                        run=replace(
                            run,
                            status=RunStatus.INTERRUPTED,
                            finished_at=now,
                            error_message="interrupted: the scheduler process running it stopped",
                        ),
                        job=job,
                    )
                )
            if requeued:
                log.warning("queued again %d claimed run(s) that never started", requeued)
            if not items:
                if requeued:
                    continue
                break
            await self._write_finishes(items)
            log.warning("marked %d run(s) of a dead scheduler interrupted", len(items))
        counts: dict[str, int] = {}
        for job_id in self._running_jobs.values():
            counts[job_id] = counts.get(job_id, 0) + 1
        self._job_counts = counts

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

    # --- the loop ---------------------------------------------------------------------------------

    async def _loop(self) -> None:
        tick = timedelta(seconds=self.settings.tick_interval_seconds)
        while not self._stopping:
            generation = self._generation
            self._wake.clear()
            now = self.clock.now()
            if self.is_leader:
                try:
                    now = await self._cycle(now)
                except Exception:
                    log.exception("scheduler cycle failed; trying again next tick")
            else:
                self._changed = False
            if self._stopping:
                break
            bound = tick
            if self._watching and not self._tasks and not self._finish_queue:
                # idle, and outside writes wake us through the store: no need to poll each tick
                bound = max(tick, timedelta(seconds=self.settings.idle_poll_seconds))
            deadline = now + bound
            if self.is_leader and self._next_due is not None and self._next_due < deadline:
                deadline = self._next_due
            quiet = not self._changed and not self._tasks and not self._finish_queue
            if quiet and generation == self._generation:  # nothing was notified meanwhile
                self._idle.set()
            await self.clock.sleep_until(deadline, self._wake)

    async def _cycle(self, now: datetime) -> datetime:
        """One look at the store; returns the instant it acted on."""
        ttl = self.settings.lease_ttl_seconds
        renew = self.lease is None or (self.lease.expires_at - now).total_seconds() < ttl / 2
        if renew and not await self._try_lead():
            return now
        version = await self.store.data_version()
        if version != self._last_data_version:
            self._last_data_version = version
            self._changed = True
        now = self.clock.now()
        if not self._changed and (self._next_due is None or self._next_due > now):
            return now
        self._changed = False
        self._awaiting = await self.store.awaiting_by_job()
        if self._awaiting:  # approvals can only expire while some run waits for one
            await self._expire_approvals(now)
        await self._fire_due(now)
        await self._start_queued(now)
        self._next_due = await self.store.next_wakeup(now, ahead=self.settings.claim_ahead_seconds)
        return now

    def _free_slots(self) -> int:
        return max(self.settings.max_concurrent_jobs - len(self._running_jobs), 0)

    def _counts(self) -> dict[str, int]:
        """Runs per job that count against its max_concurrent: running + awaiting approval."""
        counts = dict(self._job_counts)
        for job_id, n in self._awaiting.items():
            counts[job_id] = counts.get(job_id, 0) + n
        return counts

    async def _fire_due(self, now: datetime) -> None:
        self._not_claiming.clear()
        try:
            await self._claim_batches(now)
        finally:
            self._not_claiming.set()

    async def _claim_batches(self, now: datetime) -> None:
        batch = self.settings.claim_batch_size
        while not self._stopping:
            counts = self._counts()
            free = [self._free_slots()]
            seen = [0]

            def planner(
                jobs: Sequence[JobDefinition],
                others: Mapping[str, int],
                counts: dict[str, int] = counts,
                free: list[int] = free,
                seen: list[int] = seen,
            ) -> list[ClaimPlan]:
                seen[0] = len(jobs)
                _add_counts(counts, others)
                return [self._plan_safely(j, now, counts, free) for j in jobs]

            until = now + timedelta(seconds=self.settings.claim_ahead_seconds)
            plans = await self.store.claim_due(now, batch, self.owner, planner, until=until)
            if plans is None:
                await self._try_lead()
                return
            self.runtime.prefetch(
                [p.job for p in plans if p.run is not None and p.run.status is RunStatus.RUNNING]
            )
            for plan in plans:
                self._after_claim(plan)
            if seen[0] < batch:
                return

    def _plan_safely(
        self, job: JobDefinition, now: datetime, counts: dict[str, int], free: list[int]
    ) -> ClaimPlan:
        """plan_fire, but a job that cannot be planned (a definition stored before a check
        existed, say) fails alone instead of aborting its whole batch on every tick."""
        try:
            return plan_fire(job, now, self.settings, counts, free, self.rng)
        except Exception as exc:
            log.exception("cannot plan job %s; it is marked failed", job.name)
            message = f"cannot be scheduled: {type(exc).__name__}: {exc}"[:_ERROR_LIMIT]
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
            event = _audit(AuditEventType.CRON_JOB_FAILED, now, job, run, error=message[:500])
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
            self._launch(plan.job, run)

    async def _start_queued(self, now: datetime) -> None:
        free = self._free_slots()
        if free <= 0:
            return
        counts = self._counts()

        def planner(
            pairs: Sequence[tuple[JobRun, JobDefinition]], others: Mapping[str, int]
        ) -> list[StartPlan]:
            plans = []
            slots = free
            _add_counts(counts, others)
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

        plans = await self.store.start_queued(now, free + 100, self.owner, planner)
        if plans is None:
            await self._try_lead()
            return
        self.runtime.prefetch([p.job for p in plans if p.start])
        for plan in plans:
            self.bus.publish(RunChanged(plan.run))
            if plan.start:
                self._launch(plan.job, plan.run)

    # --- execution --------------------------------------------------------------------------------

    def _launch(self, job: JobDefinition, run: JobRun) -> None:
        self._running_jobs[run.id] = job.id
        self._job_counts[job.id] = self._job_counts.get(job.id, 0) + 1
        self._tasks[run.id] = asyncio.create_task(self._execute(job, run), name=f"run-{run.id}")

    async def _execute(self, job: JobDefinition, run: JobRun) -> None:
        started = self.clock.monotonic()
        ended: float | None = None
        result: ExecutionResult | None = None
        context: AgentContext | None = None
        status = RunStatus.SUCCEEDED
        error: str | None = None
        details: dict[str, Any] = dict(run.details)
        try:
            decision = await self.gate.evaluate(job, run)
            if isinstance(decision, Deny):
                status, error = RunStatus.DENIED, decision.reason
                details["policy"] = {"decision": "deny", "reason": decision.reason}
            elif isinstance(decision, RequireApproval):
                approval = run.details.get("approval") or {}
                if approval.get("decision") != "approved":
                    await self._park_for_approval(job, run, decision)
                    return
                details["policy"] = {"decision": "approved", "by": approval.get("decided_by")}
            else:
                details["policy"] = {"decision": "allow"}
            if status is RunStatus.SUCCEEDED:
                session = await self.runtime.open(job, run)
                if run.started_at is not None and run.started_at > self.clock.now():
                    # claimed ahead of its instant (the gate has already answered): start on it
                    await self.clock.sleep_until(run.started_at)
                started = self.clock.monotonic()
                limit = job.policy.max_runtime_seconds
                if limit:
                    result = await asyncio.wait_for(session.run(), limit)
                else:
                    result = await session.run()
                ended = self.clock.monotonic()
                result, context = session.finish(result)
                # yield once before the bookkeeping: runs starting on the same instant all get
                # their agent started first (fire lag), then each records its end
                await asyncio.sleep(0)
        except TimeoutError:
            status = RunStatus.TIMED_OUT
            error = f"timed out: max_runtime {job.policy.max_runtime_seconds:g}s exceeded"
        except asyncio.CancelledError:
            status = self._cancel_reasons.pop(run.id, RunStatus.INTERRUPTED)
            error = (
                "interrupted: the scheduler shut down before the run finished"
                if status is RunStatus.INTERRUPTED
                else "cancelled"
            )
        except Exception as exc:
            status = RunStatus.FAILED
            error = str(exc) or type(exc).__name__
            if hasattr(exc, "details") and callable(exc.details):
                with contextlib.suppress(Exception):
                    details.update(exc.details())
        end = ended if ended is not None else self.clock.monotonic()
        elapsed_ms = round((end - started) * 1000)
        if result is not None:
            details.update(result.details)
        finished = self.clock.now()
        if run.started_at is not None and finished < run.started_at:
            # the wall clock went back during the run: never end before the start (the duration,
            # from the monotonic clock, stays right)
            finished = run.started_at + timedelta(milliseconds=elapsed_ms)
        final = replace(
            run,
            status=status,
            finished_at=finished,
            output=result.output if result else None,
            summary=result.summary if result else None,
            error_message=error[:_ERROR_LIMIT] if error else None,
            execution_time_ms=elapsed_ms,
            details=details,
        )
        future = self._enqueue_finish(FinishItem(run=final, job=job, context=context))
        try:
            plan = await asyncio.shield(future)
        finally:
            self._release(run.id, job.id)
        deliver = job.delivery and self._deliverer is not None and final.status in _DELIVERED
        if plan is not None and deliver:
            # the run is recorded (its output is safe) before any channel is tried, and a slow
            # channel holds no run slot
            task = asyncio.create_task(self._deliver(job, final), name=f"deliver-{run.id}")
            self._deliveries.add(task)
            task.add_done_callback(self._delivery_done)

    @property
    def made_deliverer(self) -> Deliverer | None:
        """The delivery router if it exists yet (a factory not yet called gives None)."""
        made = self._deliverer
        return made if made is not None and hasattr(made, "deliver") else None  # type: ignore[return-value]

    def deliverer(self) -> Deliverer:
        """The delivery router (made on first use when a factory was given)."""
        made = self.made_deliverer
        if made is None:
            if self._deliverer is None:
                raise RuntimeError("this scheduler delivers nothing")
            made = self._deliverer = self._deliverer()  # type: ignore[operator]
        return made

    async def _deliver(self, job: JobDefinition, run: JobRun) -> None:
        from .delivery import delivery_details

        results = await self.deliverer().deliver(job, run)
        delivered = replace(run, details={**run.details, "delivery": delivery_details(results)})
        if await self.store.update_run(delivered, expected=run.status):
            self.bus.publish(RunChanged(delivered))
        failed = [r.channel for r in results if not r.ok]
        if failed:
            log.warning("run %s of %s: delivery failed on %s", run.id, job.name, ", ".join(failed))

    def _delivery_done(self, task: asyncio.Task[None]) -> None:
        self._deliveries.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery failed", exc_info=task.exception())
        self.notify()

    async def _park_for_approval(
        self, job: JobDefinition, run: JobRun, decision: RequireApproval
    ) -> None:
        """The run waits as ``awaiting_approval``: it leaves the global slots (other jobs keep
        firing) but still counts against its job's max_concurrent, until approved, denied or
        timed out (``approval_timeout_seconds``)."""
        now = self.clock.now()
        timeout = job.policy.approval_timeout_seconds
        if timeout is None:
            timeout = self.settings.approval_timeout_seconds
        expires = now + timedelta(seconds=timeout)
        approval = {
            "approvers": list(decision.approvers),
            "requested_at": now.isoformat(),
            "expires_at": expires.isoformat(),
        }
        parked = replace(
            run,
            status=RunStatus.AWAITING_APPROVAL,
            details={
                **run.details,
                "approval": approval,
                "policy": {"decision": "require_approval", "approvers": list(decision.approvers)},
            },
        )
        event = _audit(
            AuditEventType.CRON_RUN_AWAITING_APPROVAL,
            now,
            job,
            parked,
            approvers=list(decision.approvers),
            expires_at=expires.isoformat(),
        )
        try:
            ok = await self.store.park_run(
                parked, expires_at=expires, approvers=decision.approvers, audit=[event]
            )
        finally:
            self._release(run.id, job.id)
        if ok:
            self._awaiting[job.id] = self._awaiting.get(job.id, 0) + 1
            self.bus.publish(RunChanged(parked))
            self.bus.publish(AuditRecorded(event))
            self.bus.publish(JobChanged(job.id, "state"))

    async def _expire_approvals(self, now: datetime) -> None:
        """Deny the runs whose approval window closed without an answer."""
        expired = await self.store.expired_approvals(now)
        if not expired:
            return
        items = []
        for run_id in expired:
            run = await self.store.get_run(run_id)
            job = await self.store.get_job(run.job_id) if run else None
            if run is None or job is None:
                continue
            items.append(
                deny_item(
                    job,
                    run,
                    now=now,
                    actor="scheduler",
                    decision="expired",
                    reason="approval timed out",
                )
            )
        if items:
            await self._write_finishes(items)
            self._awaiting = await self.store.awaiting_by_job()

    def _release(self, run_id: str, job_id: str) -> None:
        if self._running_jobs.pop(run_id, None) is not None:
            left = self._job_counts.get(job_id, 1) - 1
            if left > 0:
                self._job_counts[job_id] = left
            else:
                self._job_counts.pop(job_id, None)
        self._tasks.pop(run_id, None)
        self.notify()

    # --- the group-commit writer ------------------------------------------------------------------

    def _enqueue_finish(self, item: FinishItem) -> asyncio.Future[FinishPlan | None]:
        future: asyncio.Future[FinishPlan | None] = asyncio.get_running_loop().create_future()
        self._finish_queue.append((item, future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush(), name="symbi-finish-writer")
        return future

    async def _flush(self) -> None:
        try:
            while self._finish_queue:
                await self._not_claiming.wait()
                batch, self._finish_queue = self._finish_queue, []
                try:
                    plans = await self._write_finishes([item for item, _ in batch])
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

    async def _write_finishes(self, items: list[FinishItem]) -> list[FinishPlan | None]:
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
                self.notify()
            self.bus.publish(JobChanged(plan.job_id, "state"))
            for event in plan.audit:
                self.bus.publish(AuditRecorded(event))
        return plans

    async def _drain_finishes(self) -> None:
        while self._flushing is not None:
            await asyncio.shield(self._flushing)
