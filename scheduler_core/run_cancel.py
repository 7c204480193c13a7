"""Cancelling a run: what ``SchedulerService.cancel_run`` does.

A run is cancelled wherever it stands, and ends ``cancelled`` (not a failure: it neither counts
toward the dead letter nor is retried), with a ``CronRunCancelled`` audit event naming who asked,
written in the transaction that records its end:

- ``queued`` or ``awaiting_approval``: it ends here and now, and never starts (a parked run's
  approval is closed with the decision ``cancelled``);
- ``running`` in this process (the daemon that got the API call runs it): its task is cancelled,
  which stops the agent (a command's whole process group is killed, a python agent's coroutine
  and an LLM request are cancelled); the call waits a few seconds for its end to be recorded;
- ``running`` somewhere else (another PostgreSQL node, or a daemon while the CLI writes to the
  store): the request is recorded in the run (``details["cancel_requested"]``); the write wakes
  the process that runs it (SQLite's data version and wake-up poke, PostgreSQL's NOTIFY), whose
  loop reads the requests for its runs in flight (``JobStore.cancel_requests``) and cancels them
  as above, auditing the actor that asked.

The caller learns which happened from :class:`CancelOutcome` (the API answers 200 with the
final run, or 202 with the run still running when another process must act). A run that already
ended is a conflict.
"""

from __future__ import annotations

__all__ = ["CancelOutcome", "cancel_run"]

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING

from .errors import ConflictError, JobNotFound
from .events import AuditRecorded, JobChanged, RunChanged
from .model import JobDefinition, JobRun, RunStatus
from .records import record
from .scheduling import plan_finish
from .store.base import ApprovalDecision, FinishItem

if TYPE_CHECKING:
    from .service import SchedulerService

#: how long a cancel of a run this process runs waits for its end to be recorded (seconds): the
#: agent's process group gets SIGTERM, then SIGKILL two seconds later; well under a client's
#: 10 s request timeout (past it, the answer is the run still running, as for another node's)
WAIT_SECONDS = 5.0

_ATTEMPTS = 3  #: a run may change status under a cancel (a queued run starts): look again


@record(kw_only=True)
class CancelOutcome:
    """The run after a cancel; ``ended``: it is recorded ``cancelled`` (else the process that
    runs it was asked to stop it, and will record it)."""

    run: JobRun
    ended: bool


async def cancel_run(service: SchedulerService, run_ref: str, *, actor: str) -> CancelOutcome:
    """Cancel the run ``run_ref`` (an id or a unique prefix of 8+ characters) for ``actor``."""
    for _ in range(_ATTEMPTS):
        run = await service.get_run(run_ref)
        if run.status.is_final:
            raise ConflictError(
                f"run {run.id} already ended ({run.status.value}); only a queued, "
                "awaiting_approval or running run can be cancelled"
            )
        job = await service.store.get_job(run.job_id)
        if job is None:
            raise JobNotFound(run.job_id)
        if run.status is RunStatus.RUNNING:
            outcome = await _cancel_running(service, job, run, actor)
        else:
            outcome = await _cancel_waiting(service, job, run, actor)
        if outcome is not None:
            return outcome
    raise ConflictError(f"run {run_ref} kept changing status; try again")


async def _cancel_waiting(
    service: SchedulerService, job: JobDefinition, run: JobRun, actor: str
) -> CancelOutcome | None:
    """A queued or parked run ends cancelled, in one transaction with its audit event; None if
    it left that status meanwhile."""
    now = service.clock.now()
    cancel = {"by": actor, "at": now.isoformat(), "was": run.status.value}
    details = {**run.details, "cancel": cancel}
    decision: ApprovalDecision | None = None
    if run.status is RunStatus.AWAITING_APPROVAL:
        decision = ApprovalDecision(decision="cancelled", decided_by=actor, decided_at=now)
        approval = run.details.get("approval") or {}
        details["approval"] = {
            **approval,
            "decision": "cancelled",
            "decided_by": actor,
            "decided_at": now.isoformat(),
        }
    ended = replace(
        run,
        status=RunStatus.CANCELLED,
        finished_at=now,
        error_message=f"cancelled by {actor}",
        details=details,
    )
    item = FinishItem(run=ended, job=job, expected=run.status, approval=decision)
    settings = service.settings
    plans = await service.store.finish_runs(
        [item], lambda it, current: plan_finish(it, current, settings=settings, now=now)
    )
    plan = plans[0]
    if plan is None:
        return None
    service.bus.publish(RunChanged(ended))
    service.bus.publish(JobChanged(job.id, "cancelled"))
    for event in plan.audit:
        service.bus.publish(AuditRecorded(event))
    if service.scheduler is not None:
        service.scheduler.notify()  # a parked run no longer counts against max_concurrent
    return CancelOutcome(run=ended, ended=True)


async def _cancel_running(
    service: SchedulerService, job: JobDefinition, run: JobRun, actor: str
) -> CancelOutcome | None:
    scheduler = service.scheduler
    if scheduler is not None and scheduler.runs.holds(run.id):
        recorded = scheduler.runs.when_recorded(run.id)
        scheduler.runs.cancel_run(run.id, actor=actor)
        try:
            final = await asyncio.wait_for(asyncio.shield(recorded), WAIT_SECONDS)
        except TimeoutError:
            final = None
        if final is None:  # not recorded yet (the store is failing): it will be
            final = await service.get_run(run.id)
        if final.status.is_final and final.status is not RunStatus.CANCELLED:
            raise ConflictError(
                f"run {run.id} ended {final.status.value} before it could be cancelled"
            )
        return CancelOutcome(run=final, ended=final.status.is_final)
    if isinstance(run.details.get("cancel_requested"), dict):
        return CancelOutcome(run=run, ended=False)  # asked already; the holder is on it
    request = {"by": actor, "at": service.clock.now().isoformat()}
    requested = replace(run, details={**run.details, "cancel_requested": request})
    if not await service.store.update_run(requested, expected=RunStatus.RUNNING):
        return None  # it ended (or was interrupted) meanwhile
    service.bus.publish(RunChanged(requested))
    service.bus.publish(JobChanged(job.id, "state"))
    return CancelOutcome(run=requested, ended=False)
