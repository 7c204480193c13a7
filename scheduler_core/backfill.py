"""Backfill: one run for each past instant of a cron job in a range, queued like scheduled runs.

``SchedulerService.backfill`` calls :func:`backfill`. The instants are those the scheduler itself
would have fired: the job's cron expression in its zone, with cronie's DST rules (the same
:class:`~scheduler_core.cron.CronSchedule`), every one in ``[from, to]``. Each becomes a
``queued`` run (trigger ``backfill``, ``scheduled_for`` the instant) that the scheduler starts
like any queued run: through the policy gate, within the job's ``max_concurrent`` and the global
``max_concurrent_jobs``, oldest instant first. An instant that already has a run (any trigger
but ``manual``: the store's one run per job, instant and attempt) is skipped and listed, so a
backfill asked twice creates nothing the second time. So is an instant the scheduler has not yet
reached (at or after the job's next run: it fires or catches it up by its own rules).

Refused, each naming the field: ``from`` after ``to``, ``to`` in the future (a backfill covers
what has passed; give no ``to`` for "until now"), a range holding more instants than ``[scheduler]
max_backfill_runs`` (nothing is created; the error says how many it holds), a one-shot job, a job
that is not active (its queued runs would be cancelled). All runs and the one audit event
(``CronJobBackfilled``: actor, range, counts) are written in one store transaction; a dry run
writes nothing and answers the same.
"""

from __future__ import annotations

__all__ = [
    "Backfill",
    "BackfillSkip",
    "backfill",
    "backfill_from_dict",
    "backfill_instants",
    "backfill_to_dict",
    "read_range_instant",
]

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .clock import format_instant, parse_instant
from .cron import CronSchedule
from .cron.zones import load_zone
from .errors import ConflictError, JobNotFound, ValidationError
from .events import AuditRecorded, JobChanged, RunChanged
from .model import (
    AuditEvent,
    AuditEventType,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
    RunTrigger,
    job_event,
    new_id,
)
from .records import record

if TYPE_CHECKING:
    from .service import SchedulerService

#: instants counted past the limit, to say how many a refused range holds (beyond: "more than")
COUNT_CAP = 100_000
_TICK = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  #: no earlier instant is taken (nothing ran before)


@record(kw_only=True)
class BackfillSkip:
    """An instant of the range that gets no new run, and why."""

    instant: datetime
    reason: str
    run_id: str | None = None  #: the run the instant already has, if that is why


@record(kw_only=True)
class Backfill:
    """What a backfill created (or, a dry run, would create) and what it skipped."""

    job_id: str
    job_name: str
    timezone: str
    start: datetime  #: ``from``, UTC
    end: datetime  #: ``to``, UTC
    dry_run: bool
    #: the runs made, oldest instant first (a dry run's are not stored: their ids mean nothing)
    created: tuple[JobRun, ...] = ()
    skipped: tuple[BackfillSkip, ...] = ()

    @property
    def instants(self) -> int:
        """How many cron instants the range holds."""
        return len(self.created) + len(self.skipped)


def read_range_instant(value: str | datetime, timezone: str, field: str) -> datetime:
    """An ISO 8601 instant (UTC out); a naive one is wall time in ``timezone`` (the job's),
    the first of two in a repeated hour."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = value.strip() if isinstance(value, str) else ""
        try:
            moment = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise ValidationError(
                f"{str(value)[:60]!r} is not an ISO 8601 instant (e.g. 2026-03-01T00:00, "
                "2026-03-01T00:00:00Z)",
                field=field,
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=load_zone(timezone))
    try:
        instant = moment.astimezone(UTC)
    except OverflowError:
        raise ValidationError(f"{moment.isoformat()} is out of range", field=field) from None
    if instant < _EPOCH:
        raise ValidationError(f"{instant.isoformat()} is before 1970", field=field)
    return instant


def backfill_instants(
    schedule: CronSchedule, start: datetime, end: datetime, *, limit: int
) -> list[datetime]:
    """The schedule's instants in ``[start, end]``, oldest first; more than ``limit`` is a
    ValidationError on ``to`` that says how many the range holds, and the limit."""
    found: list[datetime] = []
    t = schedule.next_after(start - _TICK)
    while t <= end and len(found) <= limit:
        found.append(t)
        t = schedule.next_after(t)
    if len(found) <= limit:
        return found
    count = len(found)
    while t <= end and count < COUNT_CAP:
        count += 1
        t = schedule.next_after(t)
    holds = f"more than {COUNT_CAP:,}" if t <= end else f"{count:,}"
    raise ValidationError(
        f"the range {format_instant(start)} .. {format_instant(end)} holds {holds} instants of "
        f"{schedule.expr!r}, more than the {limit:,} one backfill may create ([scheduler] "
        "max_backfill_runs); nothing was created: backfill a shorter range at a time",
        field="to",
    )


def _check_job(job: JobDefinition) -> CronSchedule:
    if job.cron is None:
        kind = "a chained job" if job.at is None else "a one-shot job"
        raise ConflictError(
            f"job {job.name!r} is {kind} ({job.schedule_text}): only a cron job has instants "
            "to backfill"
        )
    if job.status is not JobStatus.ACTIVE:
        hint = "resume it" if job.status is JobStatus.PAUSED else "reset it"
        raise ConflictError(
            f"job {job.name!r} is {job.status.value}: its queued runs would not start; {hint} first"
        )
    return CronSchedule(job.cron, job.timezone)


def _plan(
    job: JobDefinition,
    instants: Sequence[datetime],
    existing: Sequence[JobRun],
    *,
    now: datetime,
    actor: str,
) -> tuple[list[JobRun], list[BackfillSkip]]:
    taken: dict[datetime, JobRun] = {}
    for run in existing:  # oldest attempt first: the instant's own run
        taken.setdefault(run.scheduled_for, run)
    runs: list[JobRun] = []
    skipped: list[BackfillSkip] = []
    for instant in instants:
        had = taken.get(instant)
        if had is not None:
            skipped.append(
                BackfillSkip(
                    instant=instant,
                    reason=f"has run {had.id} ({had.trigger.value}, {had.status.value})",
                    run_id=had.id,
                )
            )
        elif job.next_run_at is not None and instant >= job.next_run_at:
            skipped.append(
                BackfillSkip(
                    instant=instant,
                    reason="not reached by the scheduler yet: it fires or catches it up itself",
                )
            )
        else:
            runs.append(
                JobRun(
                    id=new_id(),
                    job_id=job.id,
                    job_name=job.name,
                    agent_id=job.agent,
                    trigger=RunTrigger.BACKFILL,
                    scheduled_for=instant,
                    # due now, a microsecond apart in instant order: the queue starts the
                    # oldest first
                    due_at=now - _TICK * (len(instants) - len(runs)),
                    status=RunStatus.QUEUED,
                    input=job.input,
                    details={"requested_by": actor},
                )
            )
    return runs, skipped


async def backfill(
    service: SchedulerService,
    ref: str,
    *,
    start: str | datetime,
    end: str | datetime | None,
    dry_run: bool,
    actor: str,
) -> Backfill:
    """Create the queued runs of ``ref``'s instants in ``[start, end]`` (``end`` None: now);
    see the module's docstring for what is skipped and refused."""
    job = await service.resolve(ref)
    schedule = _check_job(job)
    now = service.clock.now()
    lo = read_range_instant(start, job.timezone, "from")
    hi = now if end is None else read_range_instant(end, job.timezone, "to")
    if hi > now:
        raise ValidationError(
            f"{format_instant(hi)} is in the future (now is {format_instant(now)}); a backfill "
            "covers instants that have passed (leave 'to' out for: until now)",
            field="to",
        )
    if lo > hi:
        raise ValidationError(
            f"{format_instant(lo)} is after 'to' ({format_instant(hi)})", field="from"
        )
    # (in a thread: counting a refused range's instants takes a while, and the scheduler's loop
    # shares this event loop)
    instants = await asyncio.to_thread(
        backfill_instants, schedule, lo, hi, limit=service.settings.max_backfill_runs
    )
    found: list[tuple[list[JobRun], list[BackfillSkip], list[AuditEvent]]] = []

    def planner(
        current: JobDefinition | None, existing: Sequence[JobRun]
    ) -> tuple[Sequence[JobRun], Sequence[AuditEvent]]:
        if current is None:
            raise JobNotFound(ref)
        if (current.cron, current.timezone) != (job.cron, job.timezone):
            raise ConflictError(f"job {job.name!r} changed its schedule meanwhile; try again")
        _check_job(current)
        runs, skipped = _plan(current, instants, existing, now=now, actor=actor)
        if dry_run:
            found.append((runs, skipped, []))
            return [], []
        event = job_event(
            AuditEventType.CRON_JOB_BACKFILLED,
            at=now,
            actor=actor,
            job=current,
            **_range(lo, hi),
            instants=len(instants),
            created=len(runs),
            skipped=len(skipped),
        )
        found.append((runs, skipped, [event]))
        return runs, [event]

    await service.store.backfill_runs(job.id, lo, hi, planner)
    runs, skipped, audit = found[-1]
    result = Backfill(
        job_id=job.id,
        job_name=job.name,
        timezone=job.timezone,
        start=lo,
        end=hi,
        dry_run=dry_run,
        created=tuple(runs),
        skipped=tuple(skipped),
    )
    if dry_run:
        return result
    bus = service.bus
    if bus.has_subscribers:
        for run in runs:
            bus.publish(RunChanged(run))
    bus.publish(JobChanged(job.id, "backfilled"))
    for event in audit:
        bus.publish(AuditRecorded(event))
    if service.scheduler is not None:
        service.scheduler.notify()
    return result


def _range(lo: datetime, hi: datetime) -> dict[str, Any]:
    return {"from": format_instant(lo), "to": format_instant(hi)}


def backfill_to_dict(result: Backfill) -> dict[str, Any]:
    """A backfill's answer as the API sends it (and ``symbi cron backfill --format json``)."""
    return {
        "job_id": result.job_id,
        "name": result.job_name,
        "timezone": result.timezone,
        "from": format_instant(result.start),
        "to": format_instant(result.end),
        "dry_run": result.dry_run,
        "instants": result.instants,
        "created": [
            {
                "scheduled_for": format_instant(r.scheduled_for),
                "run_id": None if result.dry_run else r.id,
            }
            for r in result.created
        ],
        "skipped": [
            {"scheduled_for": format_instant(s.instant), "reason": s.reason, "run_id": s.run_id}
            for s in result.skipped
        ],
    }


def backfill_from_dict(data: Mapping[str, Any]) -> Backfill:
    """An API answer back to the record (the remote backend's side)."""
    job_id = str(data["job_id"])
    name = str(data.get("name") or "")
    created = tuple(
        JobRun(
            id=str(item.get("run_id") or ""),
            job_id=job_id,
            job_name=name,
            agent_id="",
            trigger=RunTrigger.BACKFILL,
            scheduled_for=parse_instant(item["scheduled_for"]),
            status=RunStatus.QUEUED,
        )
        for item in data.get("created", [])
    )
    skipped = tuple(
        BackfillSkip(
            instant=parse_instant(item["scheduled_for"]),
            reason=str(item.get("reason") or ""),
            run_id=item.get("run_id"),
        )
        for item in data.get("skipped", [])
    )
    return Backfill(
        job_id=job_id,
        job_name=name,
        timezone=str(data.get("timezone") or "UTC"),
        start=parse_instant(data["from"]),
        end=parse_instant(data["to"]),
        dry_run=bool(data.get("dry_run")),
        created=created,
        skipped=skipped,
    )
