"""The read side of :class:`~scheduler_core.service.SchedulerService`: jobs, runs, audit, health.

Nothing here writes. Arguments a front end passes as text (a status, an event type, a job by id,
id prefix or name) are checked here, with an error naming the field, so the console, the CLI and
the API read the store the same way.
"""

from __future__ import annotations

__all__ = ["Health", "ServiceQueries", "StoreFault"]

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from .clock import Clock
from .errors import JobNotFound, RunNotFound, StoreError, StoreUnavailable, ValidationError
from .llm_cost import CostReport, local_day
from .model import (
    AuditEvent,
    AuditEventType,
    HeartbeatIteration,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
)
from .records import record
from .scheduling import CronScheduler, StoreFault, schedule_for
from .store.base import JobPage, JobQuery, JobStore, NodeInfo, RowEncoder, RunStats
from .store.job_cursor import ORDER_COLUMNS, decode_cursor

_MIN_PREFIX = 4
_MIN_RUN_PREFIX = 8  #: run ids start with their time: shorter prefixes match many


@record(kw_only=True)
class Health:
    status: str
    active_jobs: int
    paused_jobs: int
    in_flight_jobs: int
    dead_letter_jobs: int
    completed_jobs: int
    failed_jobs: int
    queued_runs: int
    awaiting_approval: int
    stats: RunStats
    role: str
    lease_owner: str | None
    lease_address: str | None
    #: the live scheduler processes on this store (holder and standbys, or a shared store's nodes)
    nodes: tuple[NodeInfo, ...] = ()
    node: str | None = None  #: the scheduler answering, if any
    #: the store fails (status "degraded"): what it says, since when; None while it works
    store: StoreFault | None = None
    missed_jobs: int = 0  #: one-shot jobs whose instant went by without a run

    def to_dict(self) -> dict[str, Any]:
        """The API's health answer (:func:`scheduler_core.wire.health_to_dict`)."""
        from .wire import health_to_dict

        return health_to_dict(self)


class ServiceQueries:
    """Reads over a store (and, in a scheduler's process, its live state)."""

    store: JobStore
    clock: Clock
    scheduler: CronScheduler | None

    async def resolve(self, ref: str) -> JobDefinition:
        """A job by id, unique id prefix (4+ characters) or name."""
        if not ref:
            raise JobNotFound(ref)
        matches = await self.store.find_jobs(ref, limit=3)
        exact = [j for j in matches if ref in (j.id, j.name)]
        if exact:
            return exact[0]
        if len(matches) == 1 and len(ref) >= _MIN_PREFIX:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(f"{j.name} ({j.id[:12]})" for j in matches)
            raise ValidationError(f"{ref!r} matches several jobs: {names}", field="job")
        known = await self.store.all_job_names()
        import difflib  # at first use: not on the scheduler's start path

        close = difflib.get_close_matches(ref, known, n=1, cutoff=0.5)
        raise JobNotFound(ref, suggestion=close[0] if close else None)

    # --- queries ----------------------------------------------------------------------------------

    async def get_job(self, ref: str) -> JobDefinition:
        return await self.resolve(ref)

    async def prepare_search(self) -> None:
        """Get the job list's text filter ready (an interactive front end, before the first
        key typed into its filter)."""
        await self.store.prepare_text_search()

    async def list_jobs(
        self,
        *,
        status: JobStatus | str | None = None,
        agent: str | None = None,
        text: str | None = None,
        order: str = "name",
        descending: bool = False,
        limit: int = 100,
        offset: int = 0,
        after: str | None = None,
        encode: RowEncoder | None = None,
    ) -> JobPage:
        """A page of jobs: the first (skipping ``offset``), or those after ``after``, the
        ``next_cursor`` of the page before it in the same order (keyset paging: as cheap at any
        depth, and a job added or removed meanwhile moves no other across the boundary).
        ``encode``: the jobs handed over encoded from their rows instead (``JobQuery.encode``)."""
        if isinstance(status, str):
            status = _status(JobStatus, status)
        _check_limit(limit)
        cursor = None
        if after is not None:
            try:
                cursor = decode_cursor(after)
            except ValueError as exc:
                raise ValidationError(str(exc), field="after") from None
            column = order if order in ORDER_COLUMNS else "name"
            if (cursor.order, cursor.descending) != (column, descending):
                made = f"{cursor.order}{' descending' if cursor.descending else ''}"
                asked = f"{column}{' descending' if descending else ''}"
                raise ValidationError(
                    f"the cursor continues a list sorted by {made}, not {asked}", field="after"
                )
            if offset:
                raise ValidationError("a cursor cannot be combined with an offset", field="offset")
        return await self.store.list_jobs(
            JobQuery(
                status=status,
                agent=agent,
                text=text,
                order=order,
                descending=descending,
                limit=limit,
                offset=max(offset, 0),
                after=cursor,
                encode=encode,
            )
        )

    async def history(
        self,
        ref: str | None = None,
        *,
        limit: int = 50,
        status: RunStatus | str | Sequence[RunStatus] | None = None,
        before_seq: int | None = None,
    ) -> list[JobRun]:
        """``status``: ``failed`` stands for every failure (``failed``, ``timed_out``,
        ``interrupted``: the runs that count toward the dead letter); any other status is
        matched exactly."""
        job_id = (await self.resolve(ref)).id if ref else None
        if isinstance(status, str):
            status = _status(RunStatus, status)
        if status is RunStatus.FAILED:
            status = FAILURES
        _check_limit(limit)
        return await self.store.list_runs(job_id, status=status, limit=limit, before_seq=before_seq)

    async def last_results(
        self, job_ids: Sequence[str], statuses: Sequence[RunStatus] | None = None
    ) -> dict[str, JobRun]:
        """The newest finished run of each of these jobs (those that have one)."""
        final = statuses or [s for s in RunStatus if s.is_final]
        return await self.store.last_runs(list(job_ids), final)

    async def get_run(self, run_id: str) -> JobRun:
        """A run by id or unique id prefix (8+ characters: the tables show 12)."""
        run = await self.store.get_run(run_id)
        if run is not None:
            return run
        if len(run_id) >= _MIN_RUN_PREFIX:
            matches = await self.store.runs_with_prefix(run_id, limit=3)
            if len(matches) == 1:
                return matches[0]
            if matches:
                ids = ", ".join(f"{r.id} ({r.job_name})" for r in matches[:2])
                raise ValidationError(
                    f"{run_id!r} matches several runs ({ids}, ...); give more of the id",
                    field="run",
                )
        raise RunNotFound(run_id)

    async def iterations(self, run_id: str) -> list[HeartbeatIteration]:
        """A heartbeat run's iterations, in order (the run by id or unique id prefix)."""
        run = await self.get_run(run_id)
        return await self.store.list_iterations(run.id)

    async def next_runs(self, ref: str, count: int = 5) -> list[datetime]:
        """The job's coming fire instants (none while it is not active)."""
        job = await self.resolve(ref)
        if job.status is not JobStatus.ACTIVE or job.next_run_at is None:
            return []
        out = [job.next_run_at]
        if job.cron is not None:
            schedule = schedule_for(job.cron, job.timezone)
            while len(out) < count:
                out.append(schedule.next_after(out[-1]))
        return out[:count]

    async def job_cost(self, ref: str, days: int = 7) -> CostReport:
        """The job's LLM cost per day over its last ``days`` days (its zone's dates, today
        included), with its budgets (scheduler_core/llm_cost.py)."""
        from datetime import timedelta

        from .named_policies import effective_policy

        if not 1 <= days <= 366:
            raise ValidationError(f"must be from 1 to 366, got {days}", field="days")
        job = await self.resolve(ref)
        now = self.clock.now()
        today, _, _ = local_day(now, job.timezone)
        rows = await self.store.cost_days(job.id, today - timedelta(days=days - 1), today)
        budget = job.policy.max_cost_per_day
        try:
            budget = effective_policy(job, getattr(self, "policies", {})).spec.max_cost_per_day
        except ValidationError:  # a named policy removed since: the inline budget still holds
            pass
        config = getattr(self, "config", None)
        global_budget = config.scheduler.max_llm_cost_per_day if config is not None else None
        spent = await self.store.spent_today(now)
        return CostReport.of(
            job,
            now,
            days,
            rows,
            budget=budget,
            global_budget=global_budget,
            global_spent=spent.cost_usd,
        )

    async def followers(self, ref: str) -> list[JobDefinition]:
        """The jobs that come after the job (``after`` names it), by name."""
        job = await self.resolve(ref)
        return [f for f in await self.store.followers(job.name) if f.id != job.id]

    async def audit(
        self,
        *,
        type: AuditEventType | str | None = None,
        job: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        if isinstance(type, str):
            try:
                type = AuditEventType(type)
            except ValueError:
                names = [t.value for t in AuditEventType]
                import difflib  # at first use: not on the scheduler's start path

                close = difflib.get_close_matches(type, names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValidationError(f"unknown event type {type!r}{hint}", field="type") from None
        job_id = None
        if job:
            try:
                job_id = (await self.resolve(job)).id
            except JobNotFound:
                job_id = job  # a deleted job's events stay queryable by its id
        return await self.store.query_audit(
            type=type, job_id=job_id, since=since, until=until, limit=limit
        )

    async def health(self) -> Health:
        """How the scheduler is doing. While the store fails, ``status`` is ``"degraded"`` and
        ``store`` says why and since when; a store that cannot even be read gives a health of
        zeros with that fault, not an error."""
        scheduler = self.scheduler
        fault = scheduler.faults.current() if scheduler is not None else None
        try:
            health = await self._health()
        except StoreError as exc:
            since = fault.since if fault is not None else self.clock.now()
            cause = exc.cause if isinstance(exc, StoreUnavailable) else None
            unreadable = StoreFault(error=str(exc), since=since, cause=cause)
            return Health(
                status="degraded",
                active_jobs=0,
                paused_jobs=0,
                in_flight_jobs=scheduler.in_flight if scheduler is not None else 0,
                dead_letter_jobs=0,
                completed_jobs=0,
                failed_jobs=0,
                queued_runs=0,
                awaiting_approval=0,
                stats=RunStats(),
                role=_role(scheduler, self.store.shared),
                lease_owner=None,
                lease_address=None,
                node=scheduler.owner if scheduler is not None else None,
                store=replace(fault, error=unreadable.error, cause=cause) if fault else unreadable,
            )
        if fault is None:
            return health
        return replace(health, status="degraded", store=fault)

    async def _health(self) -> Health:
        counts = await self.store.count_jobs()
        stats = await self.store.run_stats()
        lease = await self.store.get_lease()
        now = self.clock.now()
        nodes = await self.store.list_nodes(now)
        scheduler = self.scheduler
        role = _role(scheduler, self.store.shared)
        if scheduler is not None:
            in_flight = scheduler.in_flight
        else:
            in_flight = stats.by_status.get(RunStatus.RUNNING.value, 0)
        live = lease is not None and lease.is_live(now)
        if self.store.shared and scheduler is None:  # any live node fires
            live = any(n.role == "active" for n in nodes)
            in_flight = sum(n.running for n in nodes)
        status = (
            "healthy" if (scheduler is not None and scheduler.is_leader) or live else "degraded"
        )
        if scheduler is not None and not scheduler.is_leader and live:
            status = "standby"
        return Health(
            status=status,
            active_jobs=counts[JobStatus.ACTIVE],
            paused_jobs=counts[JobStatus.PAUSED],
            in_flight_jobs=in_flight,
            dead_letter_jobs=counts[JobStatus.DEAD_LETTER],
            completed_jobs=counts[JobStatus.COMPLETED],
            missed_jobs=counts[JobStatus.MISSED],
            failed_jobs=counts[JobStatus.FAILED],
            queued_runs=stats.by_status.get(RunStatus.QUEUED.value, 0),
            awaiting_approval=stats.by_status.get(RunStatus.AWAITING_APPROVAL.value, 0),
            stats=stats,
            role=role,
            lease_owner=lease.owner if lease and live else None,
            lease_address=lease.api_address if lease and live else None,
            nodes=tuple(nodes),
            node=scheduler.owner if scheduler is not None else None,
        )


StatusT = TypeVar("StatusT", JobStatus, RunStatus)
#: what a ``failed`` filter on runs matches
FAILURES: tuple[RunStatus, ...] = tuple(s for s in RunStatus if s.is_failure)


def _status(kind: type[StatusT], value: str) -> StatusT:
    """A status given as text, or a ValidationError on ``status`` listing the choices."""
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(s.value for s in kind)
        raise ValidationError(f"{value!r} is not one of: {choices}", field="status") from None


def _check_limit(limit: int) -> None:
    if limit < 1 or limit > 10_000:
        raise ValidationError("must be between 1 and 10000", field="limit")


def _role(scheduler: CronScheduler | None, shared: bool) -> str:
    if scheduler is None:
        return "detached"
    if shared:
        return "active" if scheduler.is_leader else "joining"
    return "leader" if scheduler.is_leader else "standby"
