"""The upstream Symbiont SDK's paths and shapes: ``/api/v1/schedules[/{id}[/...]]``."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ...clock import format_instant
from ...errors import ValidationError
from ...jobspec import job_from_mapping
from ...model import JobDefinition, JobRun, JobStatus
from ...service import SchedulerService
from ...wire import instant_out
from ..middleware import request_actor
from ..schemas import (
    CreateScheduleOut,
    DeleteScheduleOut,
    JobCreateIn,
    JobIn,
    NextRunsOut,
    ScheduleActionOut,
    ScheduleDetailOut,
    ScheduleHistoryOut,
    ScheduleSummaryOut,
)
from .common import PREFIX, JobRef, NoBody


def _one_shot(fields: dict[str, Any], service: SchedulerService) -> dict[str, Any] | JobDefinition:
    """The SDK's ``one_shot``: run once, at the cron expression's next instant (an ``at`` job)."""
    one_shot = fields.pop("one_shot", None)
    if one_shot is None or one_shot is False:
        return fields
    if one_shot is not True:
        raise ValidationError("expected true or false", field="one_shot")
    if "timezone" not in fields and service.settings.timezone != "UTC":
        fields["timezone"] = service.settings.timezone
    job = job_from_mapping(fields)
    if job.cron is None:
        return job
    from ...scheduling.rules import schedule_for

    first = schedule_for(job.cron, job.timezone).next_after(service.clock.now())
    return replace(job, cron=None, at=first)


_CRON_KEYS = ("cron", "cron_expr", "cron_expression")


async def _one_shot_update(
    fields: dict[str, Any], job_ref: str, service: SchedulerService
) -> dict[str, Any]:
    """The SDK's ``one_shot`` on an update, never ignored: ``true`` makes the job one run at the
    next instant of its cron expression (the one sent, else the job's), as create does; ``false``
    or anything else goes to the update, which checks it against the job's schedule (a job that
    runs once at an instant needs a cron expression to recur on)."""
    if fields.get("one_shot") is not True:
        return fields
    rest = {k: v for k, v in fields.items() if k != "one_shot"}
    job = job_from_mapping(rest, base=await service.get_job(job_ref))
    if job.cron is None:
        return fields  # already at an instant (kept), or after another job (refused)
    from ...scheduling.rules import schedule_for

    first = schedule_for(job.cron, job.timezone).next_after(service.clock.now())
    out = {k: v for k, v in rest.items() if k not in _CRON_KEYS}
    return {**out, "at": format_instant(first), "one_shot": True}


async def _all_jobs(service: SchedulerService, status: JobStatus | None = None) -> list[Any]:
    jobs: list[JobDefinition] = []
    cursor: str | None = None
    while True:  # by cursor: jobs added or removed meanwhile shift no page
        page = await service.list_jobs(status=status, limit=1000, after=cursor)
        jobs.extend(page.jobs)
        cursor = page.next_cursor
        if cursor is None:
            return jobs


def _summary(job: JobDefinition) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "name": job.name,
        "cron_expression": job.cron or "",
        "timezone": job.timezone,
        "status": job.status.value,
        "enabled": job.status is JobStatus.ACTIVE,
        "next_run": instant_out(job.next_run_at),
        "run_count": job.run_count,
    }


def _detail(job: JobDefinition) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "name": job.name,
        "cron_expression": job.cron or "",
        "timezone": job.timezone,
        "status": job.status.value,
        "enabled": job.status is JobStatus.ACTIVE,
        "one_shot": job.is_one_shot,
        "next_run": instant_out(job.next_run_at),
        "last_run": instant_out(job.last_run_at),
        "run_count": job.run_count,
        "failure_count": job.failure_count,
        "created_at": instant_out(job.created_at) or "",
        "updated_at": instant_out(job.updated_at) or "",
    }


def _history_entry(run: JobRun) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "started_at": instant_out(run.started_at or run.scheduled_for) or "",
        "completed_at": instant_out(run.finished_at),
        "status": run.status.value,
        "error": run.error_message,
        "execution_time_ms": run.execution_time_ms,
    }


def compat_routes(service: SchedulerService) -> APIRouter:
    """The upstream SDK's paths and shapes (``symbiont-sdk`` ``client.schedules.*``)."""
    r = APIRouter(prefix=f"{PREFIX}/schedules", tags=["sdk compatibility"])

    @r.get("", response_model=list[ScheduleSummaryOut], summary="SDK: list schedules")
    async def sdk_list() -> Any:
        return [_summary(job) for job in await _all_jobs(service)]

    @r.post("", response_model=CreateScheduleOut, summary="SDK: create a schedule")
    async def sdk_create(request: Request, body: JobCreateIn) -> Any:
        spec = _one_shot(body.fields(), service)
        job = await service.add_job(spec, actor=request_actor(request))
        return {"job_id": job.id, "next_run": instant_out(job.next_run_at), "status": "created"}

    @r.get("/{job_id}", response_model=ScheduleDetailOut, summary="SDK: get a schedule")
    async def sdk_get(job_id: JobRef) -> Any:
        return _detail(await service.get_job(job_id))

    @r.put("/{job_id}", response_model=ScheduleDetailOut, summary="SDK: update a schedule")
    async def sdk_update(request: Request, job_id: JobRef, body: JobIn) -> Any:
        fields = await _one_shot_update(body.fields(), job_id, service)
        return _detail(await service.update_job(job_id, fields, actor=request_actor(request)))

    @r.delete("/{job_id}", response_model=DeleteScheduleOut, summary="SDK: delete a schedule")
    async def sdk_delete(request: Request, job_id: JobRef, body: NoBody = None) -> Any:
        job = await service.remove_job(job_id, actor=request_actor(request))
        return {"job_id": job.id, "deleted": True}

    @r.post("/{job_id}/pause", response_model=ScheduleActionOut, summary="SDK: pause")
    async def sdk_pause(request: Request, job_id: JobRef, body: NoBody = None) -> Any:
        job = await service.pause_job(job_id, actor=request_actor(request))
        return {"job_id": job.id, "action": "pause", "status": job.status.value}

    @r.post("/{job_id}/resume", response_model=ScheduleActionOut, summary="SDK: resume")
    async def sdk_resume(request: Request, job_id: JobRef, body: NoBody = None) -> Any:
        job = await service.resume_job(job_id, actor=request_actor(request))
        return {"job_id": job.id, "action": "resume", "status": job.status.value}

    @r.post("/{job_id}/trigger", response_model=ScheduleActionOut, summary="SDK: run now")
    async def sdk_trigger(request: Request, job_id: JobRef, body: NoBody = None) -> Any:
        run = await service.run_now(job_id, actor=request_actor(request))
        return {"job_id": run.job_id, "action": "trigger", "status": "triggered"}

    @r.get("/{job_id}/history", response_model=ScheduleHistoryOut, summary="SDK: run history")
    async def sdk_history(
        job_id: JobRef, limit: Annotated[int, Query(ge=1, le=10_000)] = 50
    ) -> Any:
        job = await service.get_job(job_id)
        runs = await service.history(job.id, limit=limit)
        return {"job_id": job.id, "history": [_history_entry(run) for run in runs]}

    @r.get("/{job_id}/next-runs", response_model=NextRunsOut, summary="SDK: next run times")
    async def sdk_next_runs(job_id: JobRef, count: Annotated[int, Query(ge=1, le=100)] = 10) -> Any:
        job = await service.get_job(job_id)
        upcoming = await service.next_runs(job.id, count)
        return {"job_id": job.id, "next_runs": [format_instant(t) for t in upcoming]}

    return r
