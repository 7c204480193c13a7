"""What the service's mutations share: the checks of a new job, making its audit event, and
announcing it.

:class:`scheduler_core.service.SchedulerService` is built from these layers: the reads
(:class:`~scheduler_core.queries.ServiceQueries`), these helpers, then each family of operations
in a module of its own (approvals in :mod:`scheduler_core.approvals`), the job operations last.
"""

from __future__ import annotations

__all__ = ["ServiceMutations"]

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .delivery.checks import DeliveryRules
from .errors import ValidationError
from .events import AuditRecorded, EventBus, JobChanged
from .model import AgentDefinition, AuditEvent, AuditEventType, JobDefinition, JobRun, job_event
from .named_policies import NamedPolicy, effective_policy
from .queries import ServiceQueries
from .settings import SchedulerSettings


class ServiceMutations(ServiceQueries):
    """The reads, plus the helpers a mutation uses to record and publish what it did."""

    bus: EventBus
    settings: SchedulerSettings
    agents: dict[str, AgentDefinition]
    policies: dict[str, NamedPolicy]
    rules: DeliveryRules

    def _check_agent(self, job: JobDefinition) -> None:
        agents = self.agents
        if agents and job.agent not in agents:
            import difflib  # at first use: not on the scheduler's start path

            close = difflib.get_close_matches(job.agent, list(agents), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValidationError(
                f"unknown agent {job.agent!r}{hint}; define it in the config or a DSL agent block",
                field="agent",
            )

    def _check_policies(self, job: JobDefinition) -> None:
        """Every named policy the job lists is defined, and together with its inline policy they
        leave a run some way to pass (scheduler_core.named_policies)."""
        if job.policies:
            effective_policy(job, self.policies)

    def _check_new(self, job: JobDefinition) -> None:
        self._check_agent(job)
        self._check_policies(job)
        self.rules.enforce(job)

    def _event(
        self,
        kind: AuditEventType,
        actor: str,
        job: JobDefinition | None = None,
        run: JobRun | None = None,
        at: datetime | None = None,
        **details: Any,
    ) -> AuditEvent:
        at = self.clock.now() if at is None else at
        return job_event(kind, at=at, actor=actor, job=job, run=run, **details)

    def _changed(self, job_id: str, change: str, audit: Sequence[AuditEvent] = ()) -> None:
        self.bus.publish(JobChanged(job_id, change))
        for event in audit:
            self.bus.publish(AuditRecorded(event))
        if self.scheduler is not None:
            self.scheduler.notify()
