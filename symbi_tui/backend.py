"""The console's only door to the scheduler: the :class:`Backend` protocol.

Screens and widgets never touch ``SchedulerService`` or the store: they await a ``Backend``. Today
that is :class:`LocalBackend`, the service of a scheduler embedded in the console's own event loop.
The seam is there for a ``RemoteBackend`` (``symbi-tui --connect URL``) that will implement the
same methods over the daemon's HTTP API with httpx and read events from its SSE stream, returning
the same ``scheduler_core.model`` records so the screens cannot tell the difference.

This module must stay importable without Textual (the headless daemon shares it).
"""

from __future__ import annotations

__all__ = ["FINAL_RUN_STATUSES", "Backend", "LocalBackend"]

from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

from scheduler_core.errors import JobNotFound
from scheduler_core.events import Event, EventBus
from scheduler_core.model import JobDefinition, JobRun, JobStatus, RunStatus
from scheduler_core.service import Health, SchedulerService
from scheduler_core.store.base import JobPage

#: statuses a run ends in; "last result" means the newest run in one of these
FINAL_RUN_STATUSES: tuple[RunStatus, ...] = tuple(s for s in RunStatus if s.is_final)


@runtime_checkable
class Backend(Protocol):
    """What the console needs from a scheduler, wherever that scheduler runs.

    Mutations raise ``scheduler_core.errors.SchedulerError`` subclasses with a message fit to show
    the operator; every backend must keep that contract (a remote one maps API errors back).
    """

    mode_label: str
    """How the console is attached, shown in the header: ``embedded``, later ``remote <url>``."""

    async def health(self) -> Health:
        """Scheduler status, job counts and run statistics for the header."""
        ...

    async def list_jobs(
        self,
        *,
        text: str | None = None,
        status: JobStatus | None = None,
        limit: int = 500,
        offset: int = 0,
    ) -> JobPage:
        """One page of jobs ordered by name; ``text`` matches a substring of name or agent."""
        ...

    async def get_job(self, ref: str) -> JobDefinition:
        """A job by id or name; raises ``JobNotFound`` when it is gone."""
        ...

    async def pause_job(self, ref: str) -> JobDefinition: ...

    async def resume_job(self, ref: str) -> JobDefinition: ...

    async def reset_job(self, ref: str) -> JobDefinition:
        """Return a dead-lettered or failed job to active with its failures cleared."""
        ...

    async def run_now(self, ref: str, *, input: str | None = None) -> JobRun:
        """Queue a manual run now, whatever the schedule says."""
        ...

    async def history(self, ref: str, *, limit: int = 50) -> list[JobRun]:
        """A job's runs, newest first."""
        ...

    async def last_results(self, job_ids: Sequence[str]) -> dict[str, JobRun]:
        """The newest finished run of each job that has one (one round trip per page of jobs)."""
        ...

    def subscribe(self) -> AsyncIterator[Event]:
        """Live events (``scheduler_core.events``) until the consumer stops iterating.

        A consumer that falls behind receives ``Dropped`` and should reload from the backend.
        """
        ...


class LocalBackend:
    """A :class:`Backend` over an in-process ``SchedulerService`` and its event bus."""

    mode_label = "embedded"

    def __init__(self, service: SchedulerService, bus: EventBus, *, actor: str = "tui") -> None:
        self.service = service
        self.bus = bus
        #: recorded as the actor of every mutation in the audit log
        self.actor = actor

    async def health(self) -> Health:
        return await self.service.health()

    async def list_jobs(
        self,
        *,
        text: str | None = None,
        status: JobStatus | None = None,
        limit: int = 500,
        offset: int = 0,
    ) -> JobPage:
        return await self.service.list_jobs(
            text=text or None, status=status, order="name", limit=limit, offset=offset
        )

    async def get_job(self, ref: str) -> JobDefinition:
        return await self.service.get_job(ref)

    async def pause_job(self, ref: str) -> JobDefinition:
        return await self.service.pause_job(ref, actor=self.actor)

    async def resume_job(self, ref: str) -> JobDefinition:
        return await self.service.resume_job(ref, actor=self.actor)

    async def reset_job(self, ref: str) -> JobDefinition:
        return await self.service.reset_job(ref, actor=self.actor)

    async def run_now(self, ref: str, *, input: str | None = None) -> JobRun:
        return await self.service.run_now(ref, input=input, actor=self.actor)

    async def history(self, ref: str, *, limit: int = 50) -> list[JobRun]:
        return await self.service.history(ref, limit=limit)

    async def last_results(self, job_ids: Sequence[str]) -> dict[str, JobRun]:
        # One indexed query per job. A store-level "latest final run per job" query would make
        # this one round trip; until the store has it, a page of jobs costs a page of queries.
        results: dict[str, JobRun] = {}
        for job_id in job_ids:
            try:
                runs = await self.service.history(job_id, limit=1, status=FINAL_RUN_STATUSES)
            except JobNotFound:
                continue  # removed while we were looking
            if runs:
                results[job_id] = runs[0]
        return results

    async def subscribe(self) -> AsyncIterator[Event]:
        subscription = self.bus.subscribe()
        try:
            while True:
                yield await subscription.get()
        finally:
            subscription.close()
