"""Approval decisions on runs a policy parked (``require_approval``): the service's approve and
deny, each checked against the approvers the run was parked with."""

from __future__ import annotations

__all__ = ["ServiceApprovals"]

from collections.abc import Mapping
from dataclasses import replace

from .access import Principal, check_approver
from .errors import ConflictError, JobNotFound
from .events import RunChanged
from .model import AuditEventType, JobDefinition, JobRun, RunStatus
from .mutations import ServiceMutations
from .scheduling import deny_item, plan_finish
from .store.base import ApprovalDecision


class ServiceApprovals(ServiceMutations):
    """Runs awaiting approval: list, approve, deny."""

    async def pending_approvals(self, limit: int = 500) -> list[JobRun]:
        """Runs awaiting approval, newest first (``details["approval"]`` has approvers, expiry)."""
        return await self.store.list_runs(status=RunStatus.AWAITING_APPROVAL, limit=limit)

    async def _awaiting(
        self, run_id: str, principal: Principal | None, decision: str
    ) -> tuple[JobRun, JobDefinition]:
        """The run awaiting approval and its job, once ``principal`` (an API key; None: the
        local operator) is found to be one of the approvers the run was parked with."""
        run = await self.get_run(run_id)
        if run.status is not RunStatus.AWAITING_APPROVAL:
            raise ConflictError(f"run {run_id} is {run.status.value}, not awaiting approval")
        job = await self.store.get_job(run.job_id)
        if job is None:
            raise JobNotFound(run.job_id)
        if principal is not None:
            approval = run.details.get("approval")
            recorded = approval.get("approvers") if isinstance(approval, Mapping) else None
            approvers = (
                [str(a) for a in recorded] if isinstance(recorded, list) else job.policy.approvers
            )
            requested = run.details.get("requested_by")
            check_approver(
                approvers,
                principal,
                decision=decision,
                triggered_by=str(requested) if requested is not None else None,
            )
        return run, job

    async def approve(
        self,
        run_id: str,
        *,
        actor: str = "api",
        reason: str | None = None,
        principal: Principal | None = None,
    ) -> JobRun:
        """Release a run awaiting approval: it is queued and starts as soon as a slot is free.

        ``principal``: the API key deciding (its name is the actor), checked against the job's
        approvers; None: the local operator (``actor``), whom approvers do not bind."""
        if principal is not None:
            actor = principal.name
        run, job = await self._awaiting(run_id, principal, "approve")
        now = self.clock.now()
        approval = {
            **(run.details.get("approval") or {}),
            "decision": "approved",
            "decided_by": actor,
            "decided_at": now.isoformat(),
            "reason": reason,
        }
        queued = replace(
            run, status=RunStatus.QUEUED, due_at=now, details={**run.details, "approval": approval}
        )
        event = self._event(AuditEventType.CRON_RUN_APPROVED, actor, job, run, reason=reason)
        decision = ApprovalDecision(
            decision="approved", decided_by=actor, decided_at=now, reason=reason
        )
        if not await self.store.approve_run(queued, decision, [event]):
            raise ConflictError(f"run {run_id} is no longer awaiting approval")
        self.bus.publish(RunChanged(queued))
        self._changed(job.id, "approved", [event])
        return queued

    async def deny(
        self,
        run_id: str,
        *,
        actor: str = "api",
        reason: str | None = None,
        principal: Principal | None = None,
    ) -> JobRun:
        """Refuse a run awaiting approval: it ends ``denied`` with the reason (``principal``:
        as for :meth:`approve`)."""
        if principal is not None:
            actor = principal.name
        run, job = await self._awaiting(run_id, principal, "deny")
        now = self.clock.now()
        item = deny_item(job, run, now=now, actor=actor, reason=reason)
        settings = self.settings
        plans = await self.store.finish_runs(
            [item], lambda it, current: plan_finish(it, current, settings=settings, now=now)
        )
        if plans[0] is None and (await self.get_run(run_id)).status is not RunStatus.DENIED:
            raise ConflictError(f"run {run_id} is no longer awaiting approval")
        self.bus.publish(RunChanged(item.run))
        self._changed(job.id, "denied", plans[0].audit if plans[0] else ())
        return item.run
