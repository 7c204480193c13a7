"""What every one of the service's mutations shares: making its audit event and announcing it.

:class:`scheduler_core.service.SchedulerService` is built from these layers: the reads
(:class:`~scheduler_core.queries.ServiceQueries`), these helpers, then each family of operations
in a module of its own (approvals in :mod:`scheduler_core.approvals`), the job operations last.
"""

from __future__ import annotations

__all__ = ["ServiceMutations"]

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .events import AuditRecorded, EventBus, JobChanged
from .model import AuditEvent, AuditEventType, JobDefinition, JobRun, job_event
from .queries import ServiceQueries
from .settings import SchedulerSettings


class ServiceMutations(ServiceQueries):
    """The reads, plus the helpers a mutation uses to record and publish what it did."""

    bus: EventBus
    settings: SchedulerSettings

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
