"""RunExecutor: one run from its start to its recorded end.

A claimed run goes through the policy gate (deny, approval), its session (context, heartbeat),
its agent under ``max_runtime``, and the finish writer; then its output goes to the delivery
router. The executor also keeps what is in flight: the tasks, and the runs each job holds, which
the loop's planners count against ``max_concurrent`` and ``max_concurrent_jobs``.
"""

from __future__ import annotations

__all__ = ["RunExecutor"]

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..alerting import Alert, AlertDefaults, plan_alerts, send_alerts
from ..clock import Clock
from ..errors import StoreError
from ..events import AuditRecorded, EventBus, JobChanged, RunChanged
from ..llm_cost import Pricing
from ..model import AgentContext, AuditEventType, JobDefinition, JobRun, JobStatus, RunStatus
from ..policy import Deny, PolicyGate, RequireApproval
from ..runtime.base import ExecutionResult
from ..runtime.session import AgentRuntime
from ..settings import SchedulerSettings
from ..store.base import FinishItem, FinishPlan, JobStore
from ..telemetry import NO_TELEMETRY, Telemetry, current_span, run_span
from .rules import DELIVERED, ERROR_LIMIT, deny_item, scheduler_audit
from .writer import FinishWriter

if TYPE_CHECKING:
    from ..delivery import Deliverer

log = logging.getLogger("symbi.scheduler")


class RunExecutor:
    """Starts runs as tasks and records their ends; knows what is in flight."""

    def __init__(
        self,
        store: JobStore,
        runtime: AgentRuntime,
        writer: FinishWriter,
        *,
        settings: SchedulerSettings,
        clock: Clock,
        bus: EventBus,
        gate: PolicyGate,
        wake: Callable[[], None],
        deliverer: Deliverer | None = None,
        make_deliverer: Callable[[], Deliverer] | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
        pricing: Pricing | None = None,
    ) -> None:
        """``wake`` is called when a run leaves its slot or a delivery ends (the loop looks
        again). ``make_deliverer`` makes the delivery router when a run first has output to
        deliver (the delivery package is not imported before that), unless ``deliverer`` is
        given. ``telemetry``: a span per run, current while it runs (and for its deliveries,
        whose task starts in its context). ``pricing``: what LLM runs cost (their tokens are
        recorded without it)."""
        self.store = store
        self.runtime = runtime
        self.writer = writer
        self.settings = settings
        self.clock = clock
        self.bus = bus
        self.gate = gate
        self._wake = wake
        self._deliverer = deliverer
        self._make_deliverer = make_deliverer
        self.telemetry = telemetry
        self.pricing = pricing or Pricing()
        self.tasks: dict[str, asyncio.Task[None]] = {}  #: run id -> task
        self._running_jobs: dict[str, str] = {}  #: run id -> job id
        self._job_counts: dict[str, int] = {}  #: job id -> runs this scheduler is running
        #: job id -> runs awaiting approval (from the store; they count against max_concurrent)
        self.awaiting: dict[str, int] = {}
        self._cancel_reasons: dict[str, RunStatus] = {}
        #: run id -> who cancelled it and when (an operator's cancel: see run_cancel.py)
        self._cancelled_by: dict[str, dict[str, str]] = {}
        #: run id -> futures resolved with the run as recorded at its end (None: not recorded)
        self._end_waiters: dict[str, list[asyncio.Future[JobRun | None]]] = {}
        self.deliveries: set[asyncio.Task[None]] = set()
        #: runs whose release wakes nobody (see quiet_release)
        self._quiet: set[str] = set()

    # --- what is in flight ------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._running_jobs)

    def in_flight_runs(self) -> list[str]:
        return list(self._running_jobs)

    def slot_of(self, run_id: str) -> str | None:
        """The job of ``run_id`` if it holds a slot here (runs until its end is recorded)."""
        return self._running_jobs.get(run_id)

    def free_slots(self) -> int:
        return max(self.settings.max_concurrent_jobs - len(self._running_jobs), 0)

    def counts(self) -> dict[str, int]:
        """Runs per job that count against its max_concurrent: running + awaiting approval."""
        counts = dict(self._job_counts)
        for job_id, n in self.awaiting.items():
            counts[job_id] = counts.get(job_id, 0) + n
        return counts

    def recount(self) -> None:
        """Rebuild the per-job counts from the runs in flight."""
        counts: dict[str, int] = {}
        for job_id in self._running_jobs.values():
            counts[job_id] = counts.get(job_id, 0) + 1
        self._job_counts = counts

    def cancel_run(
        self, run_id: str, status: RunStatus = RunStatus.CANCELLED, *, actor: str | None = None
    ) -> bool:
        """Cancel the task of ``run_id`` (its agent is stopped: a command's process group
        killed, a python agent's coroutine or an LLM request cancelled); it is recorded
        ``status``. ``actor``: an operator's cancel, recorded in the run's details and audited
        ``CronRunCancelled`` with its end. False if this scheduler is not running it."""
        task = self.tasks.get(run_id)
        if task is None or task.done():
            return False
        if actor is not None and status is RunStatus.CANCELLED:
            if run_id in self._cancelled_by:
                return True  # asked already: the agent is being stopped
            self._cancelled_by[run_id] = {"by": actor, "at": self.clock.now().isoformat()}
        self._cancel_reasons[run_id] = status
        task.cancel()
        return True

    def holds(self, run_id: str) -> bool:
        """Whether this scheduler runs ``run_id`` now (its agent, or its gate, in this process)."""
        task = self.tasks.get(run_id)
        return task is not None and not task.done()

    def when_recorded(self, run_id: str) -> asyncio.Future[JobRun | None]:
        """A future resolved with ``run_id`` as recorded at its end (None if the writer gave it
        up); call it while :meth:`holds` is true."""
        future: asyncio.Future[JobRun | None] = asyncio.get_running_loop().create_future()
        self._end_waiters.setdefault(run_id, []).append(future)
        return future

    def cancel_job_runs(self, job_id: str) -> int:
        runs = [r for r, j in self._running_jobs.items() if j == job_id]
        return sum(self.cancel_run(r) for r in runs)

    async def interrupt(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for the runs in flight, then interrupt the rest."""
        pending = [t for t in self.tasks.values() if not t.done()]
        if not pending:
            return
        log.info("waiting up to %ss for %d in-flight run(s)", grace, len(pending))
        _, still = await asyncio.wait(pending, timeout=grace)
        for run_id in list(self.tasks):
            if self.tasks[run_id] in still:
                self._cancel_reasons[run_id] = RunStatus.INTERRUPTED
                self.tasks[run_id].cancel()
        if still:
            await asyncio.wait(still)

    async def finish_deliveries(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for deliveries under way, then give them up."""
        if not self.deliveries:
            return
        _, late = await asyncio.wait(list(self.deliveries), timeout=grace)
        for task in late:
            task.cancel()
        if late:
            log.warning("gave up %d delivery(ies) at shutdown", len(late))
            await asyncio.wait(late)

    # --- one run ----------------------------------------------------------------------------------

    def launch(self, job: JobDefinition, run: JobRun) -> None:
        """Start ``run`` (recorded ``running``) as a task of its own."""
        self._running_jobs[run.id] = job.id
        self._job_counts[job.id] = self._job_counts.get(job.id, 0) + 1
        # a run claimed ahead starts on its instant: as far ahead as it is now, on the monotonic
        # clock (a wall clock that goes back meanwhile does not hold it back as well)
        ahead = (run.started_at - self.clock.now()).total_seconds() if run.started_at else 0.0
        start = self.clock.monotonic() + max(ahead, 0.0)
        self.tasks[run.id] = asyncio.create_task(
            self._traced(job, run, start), name=f"run-{run.id}"
        )

    async def _traced(self, job: JobDefinition, run: JobRun, start: float) -> None:
        # (a small coroutine: a task made but not started yet holds its frame, not _execute's,
        # and a claim makes thousands before any starts)
        if not self.telemetry.enabled:
            await self._execute(job, run, start)
            return
        with run_span(self.telemetry, job, run):
            await self._execute(job, run, start)

    async def _execute(self, job: JobDefinition, run: JobRun, start: float) -> None:
        """Run ``run``; its agent starts at ``start`` (monotonic) or its instant (wall clock),
        whichever comes first."""
        started = self.clock.monotonic()
        ended: float | None = None
        result: ExecutionResult | None = None
        context: AgentContext | None = None
        status = RunStatus.SUCCEEDED
        error: str | None = None
        details: dict[str, Any] = dict(run.details)
        policy = job.policy  # (the gate's answer gives it merged with the job's named policies)
        try:
            decision = await self.gate.evaluate(job, run)
            if not isinstance(decision, Deny) and decision.policy is not None:
                policy = decision.policy
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
                left = start - self.clock.monotonic()
                if left > 0 and run.started_at is not None and run.started_at > self.clock.now():
                    # claimed ahead of its instant (the gate has already answered): start on it,
                    # or once the time it was ahead has passed if the wall clock went back
                    # meanwhile (else a run recorded running would wait for the clock to come
                    # back to its instant: an hour after an hour's jump)
                    await self.clock.sleep_until(
                        min(run.started_at, self.clock.now() + timedelta(seconds=left))
                    )
                started = self.clock.monotonic()
                limit = policy.max_runtime_seconds
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
            error = f"timed out: max_runtime {policy.max_runtime_seconds or 0:g}s exceeded"
        except asyncio.CancelledError:
            status = self._cancel_reasons.pop(run.id, RunStatus.INTERRUPTED)
            error = (
                "interrupted: the scheduler shut down before the run finished"
                if status is RunStatus.INTERRUPTED
                else "cancelled"
            )
            cancel = self._cancelled_by.get(run.id)
            if status is RunStatus.CANCELLED and cancel is not None:
                details["cancel"] = dict(cancel)
                error = f"cancelled by {cancel['by']}"
        except StoreError as exc:
            # the store failed the run's bookkeeping before its agent started (a context, an
            # approval to park): not the agent's failure, so not counted; retried per policy
            status, error = RunStatus.INTERRUPTED, f"interrupted: {exc}"
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
        details.update(self.pricing.priced(details))  # an LLM run's tokens and cost
        finished = self.clock.now()
        if run.started_at is not None and finished < run.started_at:
            # the wall clock went back during the run: never end before the start (the duration,
            # from the monotonic clock, stays right)
            finished = run.started_at + timedelta(milliseconds=elapsed_ms)
        _trace_end(status)
        final = replace(
            run,
            status=status,
            finished_at=finished,
            output=result.output if result else None,
            summary=result.summary if result else None,
            error_message=error[:ERROR_LIMIT] if error else None,
            execution_time_ms=elapsed_ms,
            details=details,
        )
        # the run keeps its slot until its end is recorded (a store fault may hold it in the
        # writer for a while): its job is not started again beside it meanwhile
        future = self.writer.enqueue(FinishItem(run=final, job=job, context=context))
        future.add_done_callback(lambda done: self._recorded(job, final, done))

    def _recorded(
        self, job: JobDefinition, final: JobRun, future: asyncio.Future[FinishPlan | None]
    ) -> None:
        """The writer recorded ``final`` (or gave it up, and said so): free its slot, and
        deliver its output."""
        self._release(final.id, job.id)
        self._cancelled_by.pop(final.id, None)
        recorded = not future.cancelled() and future.exception() is None
        for waiter in self._end_waiters.pop(final.id, []):
            if not waiter.done():
                waiter.set_result(final if recorded and future.result() is not None else None)
        if not recorded:
            return
        plan = future.result()
        delivers = self._deliverer is not None or self._make_deliverer is not None
        if plan is None or not delivers:
            return
        deliver = bool(job.delivery) and final.status in DELIVERED
        alerts = plan_alerts(
            job,
            final,
            dead_lettered=plan.status is JobStatus.DEAD_LETTER,
            defaults=AlertDefaults.of(self.settings.delivery),
        )
        if deliver or alerts:
            # the run is recorded (its output is safe) before any channel is tried, and a slow
            # channel holds no run slot
            task = asyncio.create_task(
                self._deliver(job, final, deliver, alerts, plan.failure_count),
                name=f"deliver-{final.id}",
            )
            self.deliveries.add(task)
            task.add_done_callback(self._delivery_done)

    @property
    def made_deliverer(self) -> Deliverer | None:
        """The delivery router if it exists yet."""
        return self._deliverer

    def deliverer(self) -> Deliverer:
        """The delivery router (made on first use)."""
        if self._deliverer is None:
            if self._make_deliverer is None:
                raise RuntimeError("this scheduler delivers nothing")
            self._deliverer = self._make_deliverer()
        return self._deliverer

    async def _deliver(
        self,
        job: JobDefinition,
        run: JobRun,
        deliver: bool,
        alerts: list[Alert],
        failure_count: int,
    ) -> None:
        """The run's output to its job's channels and its alerts to theirs, side by side; then
        both results recorded on the run at once (``delivery``, ``alerts``)."""
        from ..delivery import delivery_details

        deliverer = self.deliverer()
        retries = job.max_retries
        max_retries = retries if retries is not None else self.settings.default_max_retries

        async def outputs() -> list[dict[str, Any]]:
            return delivery_details(await deliverer.deliver(job, run)) if deliver else []

        async def alerting() -> list[dict[str, Any]]:
            if not alerts:
                return []
            return await send_alerts(
                deliverer, job, run, alerts, failure_count=failure_count, max_retries=max_retries
            )

        results, alerted = await asyncio.gather(outputs(), alerting())
        details = dict(run.details)
        if deliver:
            details["delivery"] = results
        if alerts:
            details["alerts"] = alerted
        delivered = replace(run, details=details)
        now = self.clock.now()
        audit = [
            scheduler_audit(
                AuditEventType.CRON_ALERT_FAILED,
                now,
                job,
                run,
                event=a["event"],
                channel=a["channel"],
                error=a["error"],
                attempts=a["attempts"],
            )
            for a in alerted
            if not a["ok"]
        ]
        try:
            if await self.store.update_run(delivered, expected=run.status, audit=audit):
                self.bus.publish(RunChanged(delivered))
                for event in audit:
                    self.bus.publish(AuditRecorded(event))
        except StoreError as exc:
            log.warning(
                "run %s of %s: its delivery results are not recorded: %s",
                run.id,
                job.name,
                exc,
                extra={"event": "delivery.unrecorded"},
            )
        failed = [r["channel"] for r in results if not r["ok"]]
        if failed:
            log.warning("run %s of %s: delivery failed on %s", run.id, job.name, ", ".join(failed))
        for a in alerted:
            if not a["ok"]:
                log.warning(
                    "run %s of %s: %s alert failed on %s: %s",
                    run.id,
                    job.name,
                    a["event"],
                    a["channel"],
                    a["error"],
                    extra={"event": "alert.failed"},
                )

    def _delivery_done(self, task: asyncio.Task[None]) -> None:
        self.deliveries.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery failed", exc_info=task.exception())
        self._wake()

    async def _park_for_approval(
        self, job: JobDefinition, run: JobRun, decision: RequireApproval
    ) -> None:
        """The run waits as ``awaiting_approval``: it leaves the global slots (other jobs keep
        firing) but still counts against its job's max_concurrent, until approved, denied or
        timed out (``approval_timeout_seconds``)."""
        now = self.clock.now()
        timeout = (decision.policy or job.policy).approval_timeout_seconds
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
        event = scheduler_audit(
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
            for waiter in self._end_waiters.pop(run.id, []):
                if not waiter.done():
                    waiter.set_result(None)  # parked, not ended: whoever waits looks again
        _trace_end(RunStatus.AWAITING_APPROVAL)
        if ok:
            self.awaiting[job.id] = self.awaiting.get(job.id, 0) + 1
            self.bus.publish(RunChanged(parked))
            self.bus.publish(AuditRecorded(event))
            self.bus.publish(JobChanged(job.id, "state"))

    def _release(self, run_id: str, job_id: str) -> None:
        if self._running_jobs.pop(run_id, None) is not None:
            left = self._job_counts.get(job_id, 1) - 1
            if left > 0:
                self._job_counts[job_id] = left
            else:
                self._job_counts.pop(job_id, None)
        self.tasks.pop(run_id, None)
        if run_id in self._quiet:
            self._quiet.discard(run_id)
        else:
            self._wake()

    def quiet_release(self, run_ids: list[str]) -> None:
        """The slots of ``run_ids`` (about to be released) are taken already: releasing them
        does not wake the loop."""
        self._quiet.update(run_ids)

    # --- approvals ------------------------------------------------------------------------------

    async def expire_approvals(self, now: datetime) -> None:
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
            await self.writer.write(items)
            self.awaiting = await self.store.awaiting_by_job()


def _trace_end(status: RunStatus) -> None:
    """The run's span (if any) says how it ended; a failure or a timeout is an error."""
    traced = current_span()
    if traced is not None:
        traced.set({"symbi.run.status": status.value})
        if status in (RunStatus.FAILED, RunStatus.TIMED_OUT):
            traced.fail(status.value)
