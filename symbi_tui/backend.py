"""The front ends' only door to the scheduler: the :class:`Backend` protocol.

Screens, widgets and the ``symbi`` command line never touch ``SchedulerService`` or the store: they
await a ``Backend``. :class:`LocalBackend` is the service of a scheduler in the caller's own event
loop (the console's embedded engine, or the CLI's store opened directly);
:class:`~symbi_tui.remote.RemoteBackend` implements the same methods over a daemon's HTTP API and
its server-sent event stream, returning the same ``scheduler_core.model`` records and raising the
same ``scheduler_core.errors`` exceptions, so a front end cannot tell the difference.

This module must stay importable without Textual (the headless daemon and the CLI share it).
"""

from __future__ import annotations

__all__ = ["CONNECTED", "FINAL_RUN_STATUSES", "Backend", "Connection", "LocalBackend"]

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from scheduler_core.access import Principal, Role
from scheduler_core.backfill import Backfill
from scheduler_core.events import Event, EventBus
from scheduler_core.llm_cost import CostReport
from scheduler_core.model import (
    AuditEvent,
    AuditEventType,
    HeartbeatIteration,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
)
from scheduler_core.service import ApplyResult, Health, SchedulerService
from scheduler_core.store.base import JobPage
from scheduler_core.store.retention import PruneReport, StoreStats

#: statuses a run ends in; "last result" means the newest run in one of these
FINAL_RUN_STATUSES: tuple[RunStatus, ...] = tuple(s for s in RunStatus if s.is_final)


@dataclass(frozen=True, slots=True)
class Connection:
    """How the front end reaches its scheduler, for a header that must never look healthy while
    the scheduler is out of reach."""

    #: connecting (nothing answered yet) | connected | disconnected | unauthorized
    state: str
    reason: str = ""  #: why not connected, in words
    retry_at: float | None = None  #: ``time.monotonic()`` of the next attempt, when one is due


CONNECTED = Connection("connected")


@runtime_checkable
class Backend(Protocol):
    """What a front end needs from a scheduler, wherever that scheduler runs.

    Job arguments (``ref``) are an id, a unique id prefix (4+ characters) or a name. Failures
    raise ``scheduler_core.errors.SchedulerError`` subclasses with a message fit to show the
    operator (``JobNotFound`` with the closest name, ``ValidationError`` with its field,
    ``ConflictError``, ``RunNotFound``...); every backend keeps that contract.
    """

    mode_label: str
    """How the front end is attached, for a header: ``embedded``, ``attached to HOST:PORT``."""

    embedded: bool
    """The scheduler runs in this process: closing the front end stops it (and its runs)."""

    @property
    def connected(self) -> bool:
        """False while a remote scheduler cannot be reached (a local one is always connected)."""
        ...

    @property
    def connection(self) -> Connection:
        """The connection's state now (a local scheduler's is always ``CONNECTED``)."""
        ...

    async def health(self) -> Health:
        """Scheduler status, job counts and run statistics."""
        ...

    async def whoami(self) -> Principal:
        """Who this front end acts as: its API key's name and role (a remote scheduler), or
        the local operator (``local=True``: the store is its own, it acts as admin)."""
        ...

    async def prepare_search(self) -> None:
        """Get the job filter ready before the operator types into it (the embedded store
        reads the jobs' names; a remote scheduler prepares its own)."""
        ...

    # --- jobs -------------------------------------------------------------------------------------

    async def list_jobs(
        self,
        *,
        text: str | None = None,
        status: JobStatus | None = None,
        agent: str | None = None,
        limit: int = 500,
        offset: int = 0,
        order: str = "name",
        descending: bool = False,
        after: str | None = None,
    ) -> JobPage:
        """One page of jobs; ``text`` matches a substring of name or agent; ``order`` is a
        column (name, agent, status, next_run_at, last_run_at, failure_count, created_at);
        ``after``: the previous page's ``next_cursor`` (same filters and order, no offset)."""
        ...

    async def get_job(self, ref: str) -> JobDefinition:
        """A job by id, id prefix or name; raises ``JobNotFound`` (with a suggestion)."""
        ...

    async def add_job(self, spec: Mapping[str, Any]) -> JobDefinition:
        """Create a job from the guide's JSON keys (``name``, ``agent_id``, ``cron_expr``...)."""
        ...

    async def update_job(self, ref: str, changes: Mapping[str, Any]) -> JobDefinition:
        """Change the fields given (the rest stay); the schedule is recomputed if it changed."""
        ...

    async def apply_dsl(self, paths: Sequence[str], *, schedule: str | None = None) -> ApplyResult:
        """Create or update (keyed by name) the schedules of DSL files, or only ``schedule``."""
        ...

    async def export_jobs(self, refs: Sequence[str] = (), *, format: str = "symbi") -> str:
        """The jobs (all when ``refs`` is empty) as DSL text or JSON, with the agents and named
        policies they name (see :mod:`scheduler_core.export`)."""
        ...

    async def remove_job(self, ref: str) -> JobDefinition:
        """Delete a job (its in-flight runs are cancelled); returns what was removed."""
        ...

    async def pause_job(self, ref: str) -> JobDefinition: ...

    async def resume_job(self, ref: str) -> JobDefinition: ...

    async def reset_job(self, ref: str) -> JobDefinition:
        """Return a dead-lettered or failed job to active with its failures cleared."""
        ...

    async def next_runs(self, ref: str, count: int = 5) -> list[datetime]:
        """The job's coming fire instants (none while it is not active)."""
        ...

    async def job_cost(self, ref: str, days: int = 7) -> CostReport:
        """The job's LLM cost per day over its last ``days`` days (its zone's dates)."""
        ...

    async def followers(self, ref: str) -> list[str]:
        """The names of the jobs that come after the job (their ``after`` names it)."""
        ...

    async def effective_policy(self, ref: str) -> dict[str, Any]:
        """The policy that gates the job's runs: its inline policy merged with the named ones it
        lists, each rule with where it came from (``rules``: rule, label, value, text, from)."""
        ...

    # --- runs -------------------------------------------------------------------------------------

    async def run_now(self, ref: str, *, input: str | None = None) -> JobRun:
        """Queue a manual run now, whatever the schedule says."""
        ...

    async def backfill(
        self,
        ref: str,
        *,
        start: str | datetime,
        end: str | datetime | None = None,
        dry_run: bool = False,
    ) -> Backfill:
        """Queue a run for each past cron instant of the job in ``[start, end]`` (``end`` None:
        now); an instant without an offset is wall time in the job's zone. ``dry_run``: what
        it would create and skip, writing nothing."""
        ...

    async def get_run(self, run_id: str) -> JobRun:
        """A run by id; raises ``RunNotFound``."""
        ...

    async def iterations(self, run_id: str) -> list[HeartbeatIteration]:
        """A heartbeat run's iterations, in order."""
        ...

    async def history(
        self,
        ref: str | None,
        *,
        limit: int = 50,
        status: RunStatus | None = None,
        before_seq: int | None = None,
    ) -> list[JobRun]:
        """A job's runs (all jobs' with ``ref`` None), newest first; ``before_seq`` pages on
        (a run's ``details["seq"]``)."""
        ...

    async def last_results(self, job_ids: Sequence[str]) -> dict[str, JobRun]:
        """The newest finished run of each job that has one."""
        ...

    async def pending_approvals(self) -> list[JobRun]:
        """Runs awaiting approval, newest first."""
        ...

    async def approve(self, run_id: str, *, reason: str | None = None) -> JobRun:
        """Release a run awaiting approval (it is queued and starts when a slot is free)."""
        ...

    async def deny(self, run_id: str, *, reason: str | None = None) -> JobRun:
        """Refuse a run awaiting approval: it ends ``denied`` with the reason."""
        ...

    async def cancel_run(self, run_id: str) -> JobRun:
        """Cancel a queued, parked or running run: it comes back ``cancelled``, or still
        ``running`` (with ``details["cancel_requested"]``) when another process runs it and
        will stop it. A run that already ended raises ``ConflictError``."""
        ...

    # --- audit and events -------------------------------------------------------------------------

    async def audit(
        self,
        *,
        type: AuditEventType | str | None = None,
        since: datetime | None = None,
        job: str | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Audit events, newest first; ``type`` is an event name such as ``CronJobFailed``."""
        ...

    # --- the store ------------------------------------------------------------------------------

    async def store_stats(self) -> StoreStats:
        """What the store holds (rows and bytes per table, the oldest run) and the retention the
        scheduler applies."""
        ...

    async def prune_store(self, *, dry_run: bool = False) -> PruneReport:
        """Prune history past its retention now, and give the space back (``dry_run``: count
        what would go). It takes as long as it takes (minutes, for millions of rows)."""
        ...

    def subscribe(self) -> AsyncIterator[Event]:
        """Live events (``scheduler_core.events``) until the consumer stops iterating.

        A consumer that receives ``Dropped`` missed events and should reload from the backend; a
        remote backend also yields ``SchedulerState("disconnected")`` when it loses the daemon and
        ``SchedulerState("connected")`` (then ``Dropped``) when it is back.
        """
        ...

    async def aclose(self) -> None:
        """Release what the backend holds (connections); the backend is unusable afterwards."""
        ...


class LocalBackend:
    """A :class:`Backend` over an in-process ``SchedulerService`` and its event bus."""

    mode_label = "embedded"
    embedded = True

    def __init__(self, service: SchedulerService, bus: EventBus, *, actor: str = "tui") -> None:
        self.service = service
        self.bus = bus
        #: recorded as the actor of every mutation in the audit log
        self.actor = actor

    @property
    def connected(self) -> bool:
        return True

    @property
    def connection(self) -> Connection:
        return CONNECTED

    async def health(self) -> Health:
        return await self.service.health()

    async def whoami(self) -> Principal:
        return Principal(self.actor, Role.ADMIN, local=True)

    async def prepare_search(self) -> None:
        await self.service.prepare_search()

    # --- jobs -------------------------------------------------------------------------------------

    async def list_jobs(
        self,
        *,
        text: str | None = None,
        status: JobStatus | None = None,
        agent: str | None = None,
        limit: int = 500,
        offset: int = 0,
        order: str = "name",
        descending: bool = False,
        after: str | None = None,
    ) -> JobPage:
        return await self.service.list_jobs(
            text=text or None,
            status=status,
            agent=agent or None,
            order=order,
            descending=descending,
            limit=limit,
            offset=offset,
            after=after,
        )

    async def get_job(self, ref: str) -> JobDefinition:
        return await self.service.get_job(ref)

    async def add_job(self, spec: Mapping[str, Any]) -> JobDefinition:
        return await self.service.add_job(spec, actor=self.actor)

    async def update_job(self, ref: str, changes: Mapping[str, Any]) -> JobDefinition:
        return await self.service.update_job(ref, changes, actor=self.actor)

    async def apply_dsl(self, paths: Sequence[str], *, schedule: str | None = None) -> ApplyResult:
        return await self.service.load_dsl(
            list(paths), only=schedule, actor=self.actor, register_agents=True
        )

    async def export_jobs(self, refs: Sequence[str] = (), *, format: str = "symbi") -> str:
        from scheduler_core.export import collect_export, render_export

        return render_export(await collect_export(self.service, refs), format)

    async def remove_job(self, ref: str) -> JobDefinition:
        return await self.service.remove_job(ref, actor=self.actor)

    async def pause_job(self, ref: str) -> JobDefinition:
        return await self.service.pause_job(ref, actor=self.actor)

    async def resume_job(self, ref: str) -> JobDefinition:
        return await self.service.resume_job(ref, actor=self.actor)

    async def reset_job(self, ref: str) -> JobDefinition:
        return await self.service.reset_job(ref, actor=self.actor)

    async def next_runs(self, ref: str, count: int = 5) -> list[datetime]:
        return await self.service.next_runs(ref, count)

    async def job_cost(self, ref: str, days: int = 7) -> CostReport:
        return await self.service.job_cost(ref, days)

    async def followers(self, ref: str) -> list[str]:
        return [job.name for job in await self.service.followers(ref)]

    async def effective_policy(self, ref: str) -> dict[str, Any]:
        return await self.service.effective_policy(ref)

    # --- runs -------------------------------------------------------------------------------------

    async def run_now(self, ref: str, *, input: str | None = None) -> JobRun:
        return await self.service.run_now(ref, input=input, actor=self.actor)

    async def backfill(
        self,
        ref: str,
        *,
        start: str | datetime,
        end: str | datetime | None = None,
        dry_run: bool = False,
    ) -> Backfill:
        return await self.service.backfill(
            ref, start=start, end=end, dry_run=dry_run, actor=self.actor
        )

    async def get_run(self, run_id: str) -> JobRun:
        return await self.service.get_run(run_id)

    async def iterations(self, run_id: str) -> list[HeartbeatIteration]:
        return await self.service.iterations(run_id)

    async def history(
        self,
        ref: str | None,
        *,
        limit: int = 50,
        status: RunStatus | None = None,
        before_seq: int | None = None,
    ) -> list[JobRun]:
        return await self.service.history(ref, limit=limit, status=status, before_seq=before_seq)

    async def last_results(self, job_ids: Sequence[str]) -> dict[str, JobRun]:
        return await self.service.last_results(job_ids, FINAL_RUN_STATUSES)

    async def pending_approvals(self) -> list[JobRun]:
        return await self.service.pending_approvals()

    async def approve(self, run_id: str, *, reason: str | None = None) -> JobRun:
        return await self.service.approve(run_id, actor=self.actor, reason=reason)

    async def deny(self, run_id: str, *, reason: str | None = None) -> JobRun:
        return await self.service.deny(run_id, actor=self.actor, reason=reason)

    async def cancel_run(self, run_id: str) -> JobRun:
        return (await self.service.cancel_run(run_id, actor=self.actor)).run

    # --- audit and events -------------------------------------------------------------------------

    async def audit(
        self,
        *,
        type: AuditEventType | str | None = None,
        since: datetime | None = None,
        job: str | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        return await self.service.audit(
            type=type or None, job=job or None, since=since, limit=limit
        )

    # --- the store ------------------------------------------------------------------------------

    async def store_stats(self) -> StoreStats:
        return await self.service.store_stats()

    async def prune_store(self, *, dry_run: bool = False) -> PruneReport:
        return await self.service.prune_store(dry_run=dry_run, actor=self.actor)

    async def subscribe(self) -> AsyncIterator[Event]:
        subscription = self.bus.subscribe()
        try:
            while True:
                yield await subscription.get()
        finally:
            subscription.close()

    async def aclose(self) -> None:
        """Nothing to release: whoever built the service owns the engine and the store."""
