"""Chains: what a succeeded run means for the jobs that come after its job.

A job with ``after: "other-job"`` runs each time ``other-job``'s run succeeds (not when it fails,
is skipped, denied or cancelled), with that run's output as its input. The store finds the
followers and calls :func:`plan_chain` inside the transaction that records the success, so the
follower's run is written with it: no crash can lose it or make it twice.

A follower that is not active (paused, dead-lettered, failed) gets a ``skipped`` run that says
why, so an operator sees in its history what it did not do. Likewise when the output cannot be an
input (over 1 MiB, a NUL): the follower's run is skipped with the reason, never failed later.
"""

from __future__ import annotations

__all__ = ["plan_chain"]

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from ..errors import ValidationError
from ..jobspec import check_input
from ..model import AuditEventType, JobDefinition, JobRun, JobStatus, RunStatus, RunTrigger, new_id
from ..store.base import FinishItem, FinishPlan
from .rules import scheduler_audit


def plan_chain(
    item: FinishItem,
    plan: FinishPlan,
    leader: JobDefinition,
    followers: Sequence[JobDefinition],
    *,
    now: datetime,
) -> FinishPlan:
    """``plan`` (of a succeeded run of ``leader``) with one run for each of ``followers``:
    queued with the output as input (it then passes its own gate and concurrency limits like any
    run), or skipped with the reason."""
    run = item.run
    output = run.output if run.output is not None else ""
    unusable: str | None = None
    try:
        check_input(output, "input")
    except ValidationError as exc:
        unusable = exc.reason
    runs: list[JobRun] = []
    audit = list(plan.audit)
    for follower in followers:
        details: dict[str, Any] = {"after_job": leader.name, "after_run": run.id}
        reason: str | None = None
        if follower.status is not JobStatus.ACTIVE:
            reason = f"not run after {leader.name}: the job is {follower.status.value}"
        elif unusable is not None:
            reason = f"not run after {leader.name}: its output cannot be an input ({unusable})"
        fields: dict[str, Any]
        if reason is not None:
            fields = {"status": RunStatus.SKIPPED, "finished_at": now, "error_message": reason}
        else:
            fields = {"status": RunStatus.QUEUED, "due_at": now, "input": output}
        chained = JobRun(
            id=new_id(),
            job_id=follower.id,
            job_name=follower.name,
            agent_id=follower.agent,
            trigger=RunTrigger.CHAIN,
            scheduled_for=now,
            details=details,
            **fields,
        )
        runs.append(chained)
        if reason is not None:
            event = scheduler_audit(
                AuditEventType.CRON_JOB_SKIPPED, now, follower, chained, reason=reason, **details
            )
        else:
            event = scheduler_audit(
                AuditEventType.CRON_JOB_TRIGGERED, now, follower, chained, **details
            )
        audit.append(event)
    return replace(plan, chained=(*plan.chained, *runs), audit=tuple(audit))
