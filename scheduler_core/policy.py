"""The policy gate: Allow, Deny(reason) or RequireApproval(approvers), evaluated before each run."""

from __future__ import annotations

__all__ = [
    "Allow",
    "AllowAll",
    "Decision",
    "Deny",
    "PolicyGate",
    "RequireApproval",
    "SchedulePolicyGate",
    "outside_hours",
]

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from .clock import Clock
from .errors import SchedulerError, ValidationError
from .llm_cost import Budgets
from .model import _DEFAULT_POLICY, AgentDefinition, AllowedHours, JobDefinition, JobRun, PolicySpec
from .named_policies import NamedPolicy, effective_policy
from .records import record


@record
class Allow:
    #: the policy the run is under (the job's, merged with its named policies), for its limits
    policy: PolicySpec | None = None


@record
class Deny:
    reason: str


@record
class RequireApproval:
    approvers: tuple[str, ...] = ()
    policy: PolicySpec | None = None  #: as for :class:`Allow`


Decision = Allow | Deny | RequireApproval


class PolicyGate(Protocol):
    async def evaluate(self, job: JobDefinition, run: JobRun) -> Decision: ...


class AllowAll:
    """The gate used when no policy engine is configured."""

    async def evaluate(self, job: JobDefinition, run: JobRun) -> Decision:
        return Allow()


class SchedulePolicyGate:
    """The guide's schedule policies, checked in order; the first failing check denies.

    Approval comes last: a run that would be denied anyway is not put in front of an approver.
    AgentPin verification plugs in as ``verify_pin`` (an async callable of the job and the run it
    gates, raising AgentPinError).
    """

    def __init__(
        self,
        *,
        agents: Mapping[str, AgentDefinition],
        environment: str | None = None,
        clock: Clock | None = None,
        verify_pin: Callable[[JobDefinition, JobRun], Awaitable[None]] | None = None,
        pin_required: bool = False,
        policies: Mapping[str, NamedPolicy] | None = None,
        budgets: Budgets | None = None,
    ) -> None:
        self.agents = agents
        #: the named policies jobs may list (the config's and the DSL files'), shared
        self.policies: Mapping[str, NamedPolicy] = policies if policies is not None else {}
        self.environment = environment
        self.clock = clock
        self.verify_pin = verify_pin
        self.pin_required = pin_required  #: [agentpin] required: every job must verify
        #: the daily LLM cost budgets (policy max_cost_per_day, [scheduler] max_llm_cost_per_day)
        self.budgets = budgets
        #: reads the store's registered policies into ``policies`` again (set by the engine)
        self.refresh: Callable[[], Awaitable[object]] | None = None

    async def evaluate(self, job: JobDefinition, run: JobRun) -> Decision:
        # no policy at all (most jobs): every check below passes, bar the config-wide ones
        if (
            not job.policies
            and (job.policy is _DEFAULT_POLICY or job.policy.is_default)
            and not self.pin_required
            and (self.budgets is None or self.budgets.global_limit is None)
        ):
            return Allow(job.policy)
        if self.refresh is not None and any(name not in self.policies for name in job.policies):
            await self.refresh()  # registered in the store by another process since
        try:
            effective = effective_policy(job, self.policies)
        except ValidationError as exc:  # a named policy removed since the job was made
            return Deny(str(exc.reason))
        policy = effective.spec
        if policy.require_capabilities:
            agent = self.agents.get(job.agent)
            have = set(agent.capabilities) if agent else set()
            missing = [c for c in policy.require_capabilities if c not in have]
            if missing:
                return Deny(
                    f"agent {job.agent!r} lacks required capabilities: {', '.join(missing)}"
                )
        if effective.windows:
            now = self.clock.now() if self.clock else run.started_at or run.scheduled_for
            for window in effective.windows:  # every one must hold
                reason = outside_hours(window, now, job.timezone)
                if reason:
                    return Deny(reason)
        if policy.allowed_environments and self.environment not in policy.allowed_environments:
            env = self.environment or "unset"
            allowed = ", ".join(policy.allowed_environments)
            return Deny(f"environment {env!r} is not one of the allowed: {allowed}")
        if self.budgets is not None:
            now = self.clock.now() if self.clock else run.started_at or run.scheduled_for
            reason = await self.budgets.denial(job, policy, now)
            if reason is not None:
                return Deny(reason)
        if policy.require_agent_pin or self.pin_required:
            if self.verify_pin is None:
                return Deny("AgentPin verification required, but no verifier is configured")
            try:
                await self.verify_pin(job, run)
            except SchedulerError as exc:
                return Deny(str(exc))
        if policy.require_approval:
            return RequireApproval(policy.approvers, policy)
        return Allow(policy)


def outside_hours(window: AllowedHours, now: datetime, job_timezone: str) -> str | None:
    """Why ``now`` is outside the daily window, or None. ``end`` before ``start`` wraps midnight."""
    zone_name = window.timezone or "UTC"
    if zone_name == "job":
        zone_name = job_timezone
    local = now.astimezone(ZoneInfo(zone_name))
    minute = local.hour * 60 + local.minute
    start, end = _minutes(window.start), _minutes(window.end)
    inside = start <= minute < end if start <= end else minute >= start or minute < end
    if start == end:
        inside = True  # a full day
    if inside:
        return None
    return (
        f"outside allowed hours {window.start}-{window.end} {zone_name} "
        f"(it is {local:%H:%M} {zone_name})"
    )


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)
