"""SchedulerService: the one facade every front end calls (console, CLI, HTTP API, DSL loader).

Every mutation is validated here, written with its audit event in one store transaction, published
on the event bus, and wakes the scheduler. Front ends never write to the store themselves.
"""

from __future__ import annotations

__all__ = ["ApplyResult", "Health", "SchedulerService", "StoreFault"]

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .approvals import ServiceApprovals
from .chains import check_chains, check_file_chains, check_not_followed, check_update
from .clock import Clock, SystemClock
from .collector import collector_paused
from .creation import (
    ApplyResult,
    Checked,
    Shapes,
    at_index,
    changed_fields,
    job_with,
    jobs_from_specs,
    listed_policies,
    with_state,
)
from .delivery.checks import DeliveryRules
from .errors import ConflictError, JobNotFound, ValidationError
from .events import AuditRecorded, EventBus, JobChanged, RunChanged
from .jobspec import check_input, job_from_mapping, spec_to_json
from .model import (
    AgentDefinition,
    AuditEvent,
    AuditEventType,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
    RunTrigger,
    new_id,
)
from .named_policies import KIND as POLICY_KIND
from .named_policies import (
    NamedPolicy,
    describe_effective,
    plan_policy_registration,
    policies_from_api,
    policy_to_stored,
    take_registered_policies,
)
from .queries import Health, StoreFault
from .registered_agents import KIND as AGENT_KIND
from .registered_agents import (
    agents_from_api,
    plan_registration,
    take_registered,
    to_stored,
)
from .scheduling import CronScheduler, Maintenance, schedule_for
from .settings import SchedulerConfig, SchedulerSettings
from .store.base import JobStore
from .store.retention import PruneReport, RetentionPolicy, StoreStats

if TYPE_CHECKING:  # imported where used: a scheduler's start needs neither
    from .backfill import Backfill
    from .run_cancel import CancelOutcome

#: a one-shot job whose instant is spent: only a new ``at`` brings it back
_SPENT = frozenset({JobStatus.COMPLETED, JobStatus.MISSED})


class SchedulerService(ServiceApprovals):
    """Validated, audited operations on jobs and runs.

    The one door every mutation goes through (DESIGN.md), one short method per operation, each
    validating, writing with its audit event in one store transaction, publishing and waking the
    scheduler. It is built in layers, one module each: the reads (``queries.py``), the helpers
    every mutation shares (``mutations.py``), the approval decisions (``approvals.py``), and here
    the job operations. A new family of operations gets a layer of its own.
    """

    def __init__(
        self,
        store: JobStore,
        *,
        config: SchedulerConfig | None = None,
        clock: Clock | None = None,
        bus: EventBus | None = None,
        scheduler: CronScheduler | None = None,
        agents: dict[str, AgentDefinition] | None = None,
        rules: DeliveryRules | None = None,
        policies: dict[str, NamedPolicy] | None = None,
    ) -> None:
        """``rules``: what a job's delivery may name (default: the config's channels and
        ``[secrets]``; the engine gives the rules of the registry its deliveries use)."""
        self.store = store
        self.config = config or SchedulerConfig()
        #: the agents jobs may name: the config's, plus those DSL files define (shared with the
        #: executor, so an agent loaded from a file can run at once)
        self.agents: dict[str, AgentDefinition] = (
            agents if agents is not None else dict(self.config.agents)
        )
        #: the named policies jobs may list: the config's, plus those DSL files define (shared
        #: with the policy gate)
        self.policies: dict[str, NamedPolicy] = (
            policies if policies is not None else dict(self.config.policies)
        )
        #: the names in ``agents`` registered in the store (see registered_agents)
        self.registered: set[str] = set()
        #: the names in ``policies`` registered in the store (see named_policies)
        self.registered_policies: set[str] = set()
        self.settings: SchedulerSettings = self.config.scheduler
        self.rules: DeliveryRules = rules or DeliveryRules.of(self.config)
        self.clock: Clock = clock or (scheduler.clock if scheduler else SystemClock())
        self.bus = bus or (scheduler.bus if scheduler else EventBus())
        self.scheduler = scheduler

    # --- helpers ----------------------------------------------------------------------------------

    def _first_run(self, job: JobDefinition, now: datetime) -> datetime | None:
        if job.cron is not None:
            return schedule_for(job.cron, job.timezone).next_after(now)
        return job.at

    async def _know_policies(self, names: Iterable[str]) -> None:
        """Read the store's registered policies again if a job names one this process does not
        know (another process registered it since)."""
        if any(name not in self.policies for name in names):
            await self.load_registered_policies()

    async def known_policies(self, names: Iterable[str]) -> dict[str, NamedPolicy]:
        """The named policies of these names this process knows, reading the store's registered
        ones again if one is missing (an export names what its jobs list)."""
        wanted = list(names)
        await self._know_policies(wanted)
        return {n: self.policies[n] for n in wanted if n in self.policies}

    def _prepare_new(
        self,
        data: Mapping[str, Any] | JobDefinition,
        now: datetime,
        source: str | None,
        first_runs: dict[tuple[str, str], datetime] | None = None,
        shapes: Shapes | None = None,
        checked: Checked | None = None,
    ) -> JobDefinition:
        """A new job from user data (or a parsed definition), active, with its first run.

        ``first_runs`` is a batch's cache of first instants by (cron, zone): a thousand jobs on
        one schedule compute it once; ``shapes``, a batch's jobs by the shape of their data (a
        thousand jobs that differ only in their names are checked once: see creation.Shapes);
        ``checked``, a batch's parsed definitions that passed the checks (creation.Checked).
        """
        key = None
        if shapes is not None and not isinstance(data, JobDefinition):
            made, key = shapes.made(data)
            if made is not None:
                return made
        cache = first_runs if first_runs is not None else {}

        def first_run(cron: str | None, timezone: str, at: datetime | None) -> datetime | None:
            if cron is None:
                return at
            first = cache.get((cron, timezone))
            if first is None:
                first = cache[(cron, timezone)] = schedule_for(cron, timezone).next_after(now)
            return first

        if isinstance(data, JobDefinition):
            job = job_with(
                data,
                id=data.id or new_id(),
                status=JobStatus.ACTIVE,
                next_run_at=first_run(data.cron, data.timezone, data.at),
                created_at=now,
                updated_at=now,
                source=data.source or source,
            )
        else:
            if "timezone" not in data and self.settings.timezone != "UTC":
                data = {**data, "timezone": self.settings.timezone}
            state = {"id": new_id(), "created_at": now, "updated_at": now, "source": source}
            job = job_from_mapping(data, state=state, first_run=first_run)
        if job.at is not None and job.at <= now:
            raise ValidationError(f"{job.at.isoformat()} is in the past", field="at")
        (checked or self._check_new)(job)
        if shapes is not None:
            shapes.remember(key, job)
        return job

    # --- mutations --------------------------------------------------------------------------------

    async def add_job(
        self, data: Mapping[str, Any] | JobDefinition, *, actor: str = "api"
    ) -> JobDefinition:
        await self._know_policies(listed_policies(data))
        now = self.clock.now()
        job = self._prepare_new(data, now, actor)
        # a name taken is refused by the insert itself (the same ConflictError), one round trip
        # less; a chained job is looked at first, so that a taken name is still what it hears
        if job.after is not None and await self.store.get_job_by_name(job.name) is not None:
            raise ConflictError(f"a job named {job.name!r} already exists")
        await check_chains(self.store, [job])
        event = self._event(
            AuditEventType.CRON_JOB_CREATED, actor, job, schedule=job.schedule_text, agent=job.agent
        )
        await self.store.insert_jobs([job], [event])
        self._changed(job.id, "created", [event])
        return job

    async def add_jobs(
        self, items: Sequence[Mapping[str, Any] | JobDefinition], *, actor: str = "api"
    ) -> list[JobDefinition]:
        """Add many jobs in one transaction (all or nothing)."""
        await self._know_policies(name for item in items for name in listed_policies(item))
        now = self.clock.now()
        jobs: list[JobDefinition] = []
        errors: list[ValidationError] = []
        first_runs: dict[tuple[str, str], datetime] = {}
        shapes = Shapes(new_id)
        with collector_paused():  # (no await inside)
            for index, item in enumerate(items):
                try:
                    job = self._prepare_new(item, now, actor, first_runs, shapes)
                except ValidationError as exc:
                    for err in exc.errors:
                        errors.append(ValidationError(err.reason, field=f"[{index}].{err.field}"))
                    continue
                jobs.append(job)
        if errors:
            raise ValidationError.collect(errors[:50])
        await check_chains(self.store, jobs, indexed="")
        # created together, in one transaction: one instant for all
        with collector_paused():
            events = [
                self._event(
                    AuditEventType.CRON_JOB_CREATED,
                    actor,
                    j,
                    at=now,
                    schedule=j.schedule_text,
                    agent=j.agent,
                )
                for j in jobs
            ]
        await self.store.insert_jobs(jobs, events)
        if self.bus.has_subscribers:
            for job in jobs:
                self.bus.publish(JobChanged(job.id, "created"))
        if self.scheduler is not None:
            self.scheduler.notify()
        return jobs

    async def apply_definitions(
        self,
        jobs: Sequence[JobDefinition],
        *,
        agents: Sequence[AgentDefinition] = (),
        policies: Sequence[NamedPolicy] = (),
        actor: str = "dsl",
    ) -> ApplyResult:
        """Create or update jobs keyed by name (a DSL load); run history is kept. ``agents`` and
        ``policies`` are registered in the store with them, all or nothing (see
        registered_agents and named_policies).

        Several daemons starting together on one shared store load the same files at once: if
        another one created some of the names meanwhile, the load is planned again against what
        it wrote (and usually finds the jobs unchanged)."""
        await self._know_policies(name for job in jobs for name in job.policies)
        registration = plan_registration(agents, self.agents, self.registered)
        named = plan_policy_registration(policies, self.policies, self.registered_policies)
        before = {a.name: self.agents.get(a.name) for a in registration.write}
        rules_before = {p.name: self.policies.get(p.name) for p in named}
        # the schedules are checked against the agents and policies as they will be
        self.agents.update({a.name: a for a in registration.write})
        self.policies.update({p.name: p for p in named})
        try:
            await check_chains(self.store, jobs, indexed="jobs")
            return await self._apply(jobs, registration.write, named, actor)
        except BaseException:
            for name, agent in before.items():
                if agent is None:
                    self.agents.pop(name, None)
                else:
                    self.agents[name] = agent
            for name, policy in rules_before.items():
                if policy is None:
                    self.policies.pop(name, None)
                else:
                    self.policies[name] = policy
            raise

    async def _apply(
        self,
        jobs: Sequence[JobDefinition],
        agents: Sequence[AgentDefinition],
        policies: Sequence[NamedPolicy],
        actor: str,
    ) -> ApplyResult:
        for attempt in range(3):
            now = self.clock.now()
            result, writes, events = await self._plan_apply(jobs, now, actor)
            if not writes and not agents and not policies:
                return result
            registering = [
                self._event(
                    AuditEventType.AGENT_REGISTERED,
                    actor,
                    at=now,
                    agent=a.name,
                    runner=a.runner.value,
                    source=a.source,
                )
                for a in agents
            ] + [
                self._event(AuditEventType.POLICY_REGISTERED, actor, at=now, policy=p.name)
                for p in policies
            ]
            stored = [to_stored(a, now) for a in agents]
            stored += [policy_to_stored(p, now) for p in policies]
            try:
                await self.store.upsert_jobs(writes, [*registering, *events], stored)
            except ConflictError:
                if attempt == 2:
                    raise
                continue
            self.registered.update(a.name for a in agents)
            self.registered_policies.update(p.name for p in policies)
            result.agents.extend(a.name for a in agents)
            result.policies.extend(p.name for p in policies)
            events = [*registering, *events]
            for job in writes:
                self.bus.publish(JobChanged(job.id, "updated"))
            for event in events:
                self.bus.publish(AuditRecorded(event))
            if self.scheduler is not None:
                self.scheduler.notify()
            return result
        raise AssertionError("unreachable")

    async def apply_specs(
        self,
        items: Sequence[Mapping[str, Any]],
        *,
        agents: Mapping[str, Mapping[str, Any]] | None = None,
        policies: Mapping[str, Mapping[str, Any]] | None = None,
        actor: str = "api",
    ) -> ApplyResult:
        """``apply_definitions`` for job bodies (a remote DSL load): every body is checked first
        and any problem names its index (``jobs[2].cron_expr``); then all or nothing. ``agents``
        (agent blocks by name) are registered with them, within what ``[api]
        agent_definitions`` allows, and so are ``policies`` (policy blocks by name)."""
        errors: list[ValidationError] = []
        defined = agents_from_api(
            agents or {}, self.config.api.agent_definitions, actor=actor, errors=errors
        )
        named = policies_from_api(policies or {}, actor=actor, errors=errors)
        jobs = jobs_from_specs(items, self.rules, errors)
        if errors:
            raise ValidationError.collect(errors[:50])
        names = [j.name for j in jobs]
        twice = sorted(n for n, count in Counter(names).items() if count > 1)
        if twice:
            raise ValidationError(f"named more than once: {', '.join(twice)}", field="jobs")
        return await self.apply_definitions(jobs, agents=defined, policies=named, actor=actor)

    async def _plan_apply(
        self, jobs: Sequence[JobDefinition], now: datetime, actor: str
    ) -> tuple[ApplyResult, list[JobDefinition], list[AuditEvent]]:
        result = ApplyResult()
        writes: list[JobDefinition] = []
        events: list[AuditEvent] = []
        stored = await self.store.jobs_by_names([job.name for job in jobs])
        first_runs: dict[tuple[str, str], datetime] = {}
        checked = Checked(self._check_new)
        index = 0
        try:
            with collector_paused():  # (no await inside)
                for index, job in enumerate(jobs):  # noqa: B007 (the except below reads it)
                    existing = stored.get(job.name)
                    if existing is None:
                        new = self._prepare_new(job, now, actor, first_runs, checked=checked)
                        writes.append(new)
                        events.append(
                            self._event(
                                AuditEventType.CRON_JOB_CREATED,
                                actor,
                                new,
                                schedule=new.schedule_text,
                                source=new.source,
                            )
                        )
                        result.created.append(job.name)
                        continue
                    checked(job)
                    merged = with_state(job, existing)
                    if spec_to_json(merged) == spec_to_json(existing):
                        result.unchanged.append(job.name)
                        continue
                    merged = self._reschedule_if_needed(existing, merged, now)
                    writes.append(merged)
                    events.append(
                        self._event(
                            AuditEventType.CRON_JOB_UPDATED,
                            actor,
                            merged,
                            fields=changed_fields(existing, merged),
                            source=merged.source,
                        )
                    )
                    result.updated.append(job.name)
        except ValidationError as exc:  # naming the job refused: jobs[2].agent
            raise at_index(exc, "jobs", index) from None
        return result, writes, events

    async def load_dsl(
        self,
        paths: Sequence[str],
        *,
        only: str | None = None,
        actor: str = "dsl",
        register_agents: bool = False,
    ) -> ApplyResult:
        """Load DSL files (all or nothing) and apply their schedules, keyed by name.

        ``register_agents`` (``cron add --file``): the files' agent and policy blocks (those the
        applied schedules name, with ``only``) are registered in the store with the schedules;
        without it (the daemon's own DSL paths, read at each start) they are held in memory."""
        from .dsl import load_dsl_files

        known = set(self.agents) if self.agents else None
        with collector_paused():  # a bulk of tokens, nodes and jobs
            bundle = load_dsl_files(
                paths,
                now=self.clock.now(),
                known_agents=known,
                rules=self.rules,
                known_policies=self.policies,
            )
        jobs = list(bundle.jobs)
        if only is not None:
            jobs = [j for j in jobs if j.name == only]
            if not jobs:
                names = ", ".join(j.name for j in bundle.jobs) or "none"
                raise ValidationError(
                    f"no schedule {only!r} in {', '.join(paths)} (found: {names})",
                    field="schedule",
                )
        await check_file_chains(self.store, bundle, jobs)
        if not register_agents:
            for agent in bundle.agents:
                self.agents[agent.name] = agent
                self.registered.discard(agent.name)  # the DSL paths win over the store
            for policy in bundle.policies:
                self.policies[policy.name] = policy
                self.registered_policies.discard(policy.name)
            return await self.apply_definitions(jobs, actor=actor)
        named = {j.agent for j in jobs}
        agents = [a for a in bundle.agents if only is None or a.name in named]
        listed = {name for j in jobs for name in j.policies}
        policies = [p for p in bundle.policies if only is None or p.name in listed]
        return await self.apply_definitions(jobs, agents=agents, policies=policies, actor=actor)

    async def load_registered_agents(self) -> list[str]:
        """Add the store's registered agents to the ones this process knows (the config's and
        the DSL paths' win); what was wrong with any, as warnings."""
        stored = await self.store.list_definitions(AGENT_KIND)
        return take_registered(stored, self.agents, self.registered)

    async def load_registered_policies(self) -> list[str]:
        """Add the store's registered named policies to the ones this process knows (the
        config's and the DSL paths' win); what was wrong with any, as warnings."""
        stored = await self.store.list_definitions(POLICY_KIND)
        return take_registered_policies(stored, self.policies, self.registered_policies)

    async def effective_policy(self, ref: str) -> dict[str, Any]:
        """What gates the job's runs: its inline policy merged with the named policies it lists,
        each rule with where it came from (see named_policies.describe_effective)."""
        job = await self.resolve(ref)
        await self._know_policies(job.policies)
        return {"job_id": job.id, "name": job.name, **describe_effective(job, self.policies)}

    async def find_agent(self, name: str) -> AgentDefinition | None:
        """The agent of that name, looking in the store again if this process does not know it
        (another process registered it since)."""
        if name not in self.agents:
            await self.load_registered_agents()
        return self.agents.get(name)

    def _reschedule_if_needed(
        self, old: JobDefinition, new: JobDefinition, now: datetime
    ) -> JobDefinition:
        moved = (old.cron, old.at, old.timezone) != (new.cron, new.at, new.timezone)
        if not moved:
            return new
        if new.at is not None and new.at <= now and new.at != old.at:
            raise ValidationError(f"{new.at.isoformat()} is in the past", field="at")
        next_run = self._first_run(new, now)
        status = new.status
        if new.at is not None and status in _SPENT and new.at != old.at:
            status = JobStatus.ACTIVE  # a one-shot given a new instant runs again
        return replace(new, next_run_at=next_run, status=status)

    async def update_job(
        self, ref: str, changes: Mapping[str, Any], *, actor: str = "api"
    ) -> JobDefinition:
        job = await self.resolve(ref)
        now = self.clock.now()
        updated = job_from_mapping(changes, base=job)
        await self._know_policies(updated.policies)
        self._check_agent(updated)
        self._check_policies(updated)
        self.rules.enforce(updated)
        updated = self._reschedule_if_needed(job, updated, now)
        updated = replace(updated, updated_at=now)
        if updated.name != job.name and await self.store.get_job_by_name(updated.name):
            raise ConflictError(f"a job named {updated.name!r} already exists")
        await check_update(self.store, job, updated)
        event = self._event(
            AuditEventType.CRON_JOB_UPDATED, actor, updated, fields=changed_fields(job, updated)
        )
        await self.store.update_job(updated, [event])
        self._changed(job.id, "updated", [event])
        return updated

    async def remove_job(self, ref: str, *, actor: str = "api") -> JobDefinition:
        job = await self.resolve(ref)
        await check_not_followed(self.store, job, "remove")
        if self.scheduler is not None:
            self.scheduler.cancel_job_runs(job.id)
        event = self._event(AuditEventType.CRON_JOB_DELETED, actor, job)
        if not await self.store.delete_job(job.id, [event]):
            raise JobNotFound(ref)
        self._changed(job.id, "deleted", [event])
        return job

    async def pause_job(self, ref: str, *, actor: str = "api") -> JobDefinition:
        job = await self.resolve(ref)
        if job.status is not JobStatus.ACTIVE:
            raise ConflictError(f"job {job.name!r} is {job.status.value}, not active")
        return await self._transition(job, JobStatus.PAUSED, AuditEventType.CRON_JOB_PAUSED, actor)

    async def resume_job(self, ref: str, *, actor: str = "api") -> JobDefinition:
        job = await self.resolve(ref)
        if job.status is not JobStatus.PAUSED:
            hint = "; reset it instead" if job.status is JobStatus.DEAD_LETTER else ""
            raise ConflictError(f"job {job.name!r} is {job.status.value}, not paused{hint}")
        return await self._transition(job, JobStatus.ACTIVE, AuditEventType.CRON_JOB_RESUMED, actor)

    async def reset_job(self, ref: str, *, actor: str = "api") -> JobDefinition:
        """Return a dead-lettered or failed job to active, failure count cleared, next run fresh."""
        job = await self.resolve(ref)
        if job.status in _SPENT:
            raise ConflictError(
                f"job {job.name!r} is {job.status.value}; give it a new 'at' instead"
            )
        return await self._transition(
            job,
            JobStatus.ACTIVE,
            AuditEventType.CRON_JOB_RESET,
            actor,
            clear_failures=True,
            previous_status=job.status.value,
        )

    async def _transition(
        self,
        job: JobDefinition,
        status: JobStatus,
        kind: AuditEventType,
        actor: str,
        *,
        clear_failures: bool = False,
        **details: Any,
    ) -> JobDefinition:
        now = self.clock.now()
        next_run = job.next_run_at
        if status is JobStatus.ACTIVE:
            if job.cron is not None:
                next_run = schedule_for(job.cron, job.timezone).next_after(now)
            elif job.at is not None:
                next_run = job.at if job.last_run_status is not RunStatus.SUCCEEDED else None
        updated = replace(
            job,
            status=status,
            next_run_at=next_run,
            updated_at=now,
            failure_count=0 if clear_failures else job.failure_count,
            last_error=None if clear_failures else job.last_error,
        )
        event = self._event(kind, actor, updated, **details)
        await self.store.update_job(updated, [event])
        self._changed(job.id, status.value, [event])
        return updated

    async def run_now(self, ref: str, *, input: str | None = None, actor: str = "api") -> JobRun:
        """Queue a run now, bypassing the schedule (and the job's pause); an input no agent could
        be given (a NUL, a lone surrogate, over 1 MiB) is refused here, not failed later."""
        if input is not None:
            check_input(input, "input")
        job = await self.resolve(ref)
        now = self.clock.now()
        run = JobRun(
            id=new_id(),
            job_id=job.id,
            job_name=job.name,
            agent_id=job.agent,
            trigger=RunTrigger.MANUAL,
            scheduled_for=now,
            due_at=now,
            status=RunStatus.QUEUED,
            input=input if input is not None else job.input,
            details={"requested_by": actor},
        )
        event = self._event(
            AuditEventType.CRON_JOB_TRIGGERED, actor, job, run, with_input=input is not None
        )
        await self.store.insert_run(run, [event])
        self.bus.publish(RunChanged(run))
        self._changed(job.id, "triggered", [event])
        return run

    async def backfill(
        self,
        ref: str,
        *,
        start: str | datetime,
        end: str | datetime | None = None,
        dry_run: bool = False,
        actor: str = "api",
    ) -> Backfill:
        """Queue one run per past cron instant in ``[start, end]`` (scheduler_core.backfill)."""
        from .backfill import backfill

        return await backfill(self, ref, start=start, end=end, dry_run=dry_run, actor=actor)

    async def cancel_run(self, run_id: str, *, actor: str = "api") -> CancelOutcome:
        """Cancel a queued, parked or running run (scheduler_core.run_cancel)."""
        from .run_cancel import cancel_run

        return await cancel_run(self, run_id, actor=actor)

    # --- the store ------------------------------------------------------------------------------

    async def store_stats(self) -> StoreStats:
        """What the store holds (rows, bytes, the oldest run), with the retention applied."""
        stats = await self.store.store_stats()
        return replace(stats, retention=RetentionPolicy.of(self.config.store))

    async def prune_store(self, *, dry_run: bool = False, actor: str = "api") -> PruneReport:
        """Prune history past its retention now (``dry_run``: count what would go): through the
        scheduler's housekeeping when this process runs one (after any pass under way), else
        here, by this process's ``[store]`` settings."""
        if self.scheduler is not None:
            return await self.scheduler.maintenance.prune(dry_run=dry_run, actor=actor)
        maintenance = Maintenance(
            self.store,
            RetentionPolicy.of(self.config.store),
            interval=self.config.store.prune_interval_seconds,
            clock=self.clock,
            bus=self.bus,
            leading=lambda: True,
        )
        return await maintenance.prune(dry_run=dry_run, actor=actor)
