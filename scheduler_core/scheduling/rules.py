"""The scheduling rules: pure functions that decide what a due or finished run means.

No I/O here: the store calls these planners inside its claim and finish transactions, and the
service calls them for operator actions (approve, deny), so one set of rules holds whoever writes.
"""

from __future__ import annotations

__all__ = [
    "DELIVERED",
    "ERROR_LIMIT",
    "MAX_MISSED_COUNT",
    "add_counts",
    "deny_item",
    "plan_finish",
    "plan_fire",
    "retry_delay",
    "schedule_for",
    "scheduler_audit",
]

import random
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from ..cron import CronSchedule
from ..model import (
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
from ..settings import SchedulerSettings
from ..store.base import ApprovalDecision, ClaimPlan, FinishItem, FinishPlan

#: runs whose output goes to the job's delivery channels
DELIVERED = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT})

#: at most this many missed instants are counted one by one after downtime
MAX_MISSED_COUNT = 10_000
ERROR_LIMIT = 4000


@lru_cache(maxsize=4096)
def schedule_for(expr: str, tz: str) -> CronSchedule:
    return CronSchedule(expr, tz)


def retry_delay(attempt: int, settings: SchedulerSettings) -> float:
    """Exponential backoff: base, 2x base, 4x base, ... capped."""
    return min(
        settings.retry_backoff_seconds * float(2 ** max(attempt - 1, 0)),
        settings.retry_backoff_max_seconds,
    )


def scheduler_audit(
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
        # a one-shot job: completed once its single run succeeds (see plan_finish), missed if
        # its instant goes by without one
        status = JobStatus.MISSED if skip_reason else JobStatus.ACTIVE
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
                # next leader can tell that the agent never ran (see Leadership.recover)
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
        audit.append(
            scheduler_audit(AuditEventType.CRON_JOB_SKIPPED, now, job, run, reason=skip_reason)
        )
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
    """What a finished run means for its job: counts, retries, completion, dead letter.

    Only the agent's failures (``failed``, ``timed_out``) count toward ``max_retries``; an
    ``interrupted`` run is retried without counting (see :func:`_plan_interrupted`)."""
    if current is None:
        return None
    run, job = item.run, item.job
    audit: list[AuditEvent] = []
    status: JobStatus | None = None
    if run.status is RunStatus.SUCCEEDED:
        audit.append(
            scheduler_audit(
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
    if run.status is RunStatus.INTERRUPTED:
        return _plan_interrupted(run, job, current, settings=settings, now=now)
    if not run.status.is_failure:
        # denied, skipped, cancelled: not an execution, not a failure
        cancel = run.details.get("cancel")
        if run.status is RunStatus.CANCELLED and isinstance(cancel, Mapping):
            # an operator's cancel (run_cancel.py), audited with its end
            audit.append(
                job_event(
                    AuditEventType.CRON_RUN_CANCELLED,
                    at=now,
                    actor=str(cancel.get("by") or "unknown"),
                    job=current,
                    run=run,
                    was=str(cancel.get("was") or RunStatus.RUNNING.value),
                    requested_at=cancel.get("at"),
                )
            )
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
                    scheduler_audit(
                        AuditEventType.POLICY_DENIED, now, current, run, reason=run.error_message
                    )
                )
        spent = current.at is not None and current.next_run_at is None  # a one-shot's only run
        return FinishPlan(
            job_id=current.id,
            status=JobStatus.MISSED if spent and current.status is JobStatus.ACTIVE else None,
            failure_count=current.failure_count,
            last_error=current.last_error,
            count_run=False,
            audit=tuple(audit),
        )
    failures = current.failure_count + 1
    error = (run.error_message or run.status.value)[:ERROR_LIMIT]
    audit.append(
        scheduler_audit(
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
                scheduler_audit(
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
        retry = _retry(run, now, settings)
    return FinishPlan(
        job_id=current.id,
        status=status,
        failure_count=failures,
        last_error=error,
        retry=retry,
        audit=tuple(audit),
    )


def _plan_interrupted(
    run: JobRun,
    job: JobDefinition,
    current: JobDefinition,
    *,
    settings: SchedulerSettings,
    now: datetime,
) -> FinishPlan:
    """A run its scheduler stopped (a shutdown, a crash) is not the agent's failure: it leaves
    the job's failure count alone (so it never dead-letters a job) and is retried per the job's
    policy (unless it allows no retries, or the job is no longer active)."""
    event = scheduler_audit(
        AuditEventType.CRON_RUN_INTERRUPTED,
        now,
        current,
        run,
        attempt=run.attempt,
        reason=(run.error_message or run.status.value)[:500],
    )
    max_retries = job.max_retries if job.max_retries is not None else settings.default_max_retries
    retry: JobRun | None = None
    if max_retries > 0 and (current.status is JobStatus.ACTIVE or run.trigger is RunTrigger.MANUAL):
        retry = _retry(run, now, settings)
    return FinishPlan(
        job_id=current.id,
        failure_count=current.failure_count,
        last_error=current.last_error,
        retry=retry,
        audit=(event,),
    )


def _retry(run: JobRun, now: datetime, settings: SchedulerSettings) -> JobRun:
    """The next attempt of ``run``, queued after the backoff."""
    delay = retry_delay(run.attempt, settings)
    return JobRun(
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


def add_counts(counts: dict[str, int], others: Mapping[str, int]) -> None:
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
