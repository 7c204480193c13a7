"""The guide's routes: ``/api/v1/schedule[/{job_id}[/pause|resume|reset|run|history|next_run]]``,
and ``/{job_id}/cost`` (LLM cost per day)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response

from ...backfill import backfill_to_dict
from ...clock import format_instant
from ...model import JobDefinition, JobStatus
from ...service import SchedulerService
from ...wire import instant_out, job_to_dict, run_to_dict
from ..job_json import JobJson
from ..middleware import request_actor
from ..schemas import (
    BackfillIn,
    BackfillOut,
    ChainOut,
    CostOut,
    DeleteOut,
    EffectivePolicyOut,
    JobCreateIn,
    JobIn,
    JobOut,
    NextRunOut,
    RunIn,
    RunOut,
)
from .common import PREFIX, JobRef, NoBody, RunStatusFilter

#: the columns a job list can be sorted by (the store's orders)
JobOrder = Literal[
    "name", "agent", "status", "next_run_at", "last_run_at", "failure_count", "created_at"
]


def _job(job: JobDefinition) -> dict[str, Any]:
    return job_to_dict(job)


def guide_routes(service: SchedulerService, encoded: JobJson | None = None) -> APIRouter:
    """The guide's ``/api/v1/schedule`` routes over ``service`` (``encoded``: the jobs' bytes
    kept, shared with the app's fast list)."""
    r = APIRouter(prefix=f"{PREFIX}/schedule", tags=["schedule"])
    encoded = encoded if encoded is not None else JobJson()

    @r.post("", status_code=201, response_model=JobOut, summary="Create a scheduled job")
    async def create_job(request: Request, body: JobCreateIn) -> Any:
        job = await service.add_job(body.fields(), actor=request_actor(request))
        # JobOut's bytes without validating them again, as the list sends them (job_json.py)
        return Response(encoded.job(job), status_code=201, media_type="application/json")

    @r.get(
        "",
        response_model=list[JobOut],
        summary="List jobs (filter by status, agent); page by offset or by cursor",
        response_description="A page of jobs. `X-Total-Count`: the jobs matching the filters; "
        "when more follow, `X-Next-Cursor` (pass it as `after`) and "
        '`Link: <...>; rel="next"` (the next page\'s URL)',
    )
    async def list_jobs(
        request: Request,
        status: JobStatus | None = None,
        agent_id: Annotated[str | None, Query(max_length=200)] = None,
        q: Annotated[str | None, Query(max_length=200, description="name/agent substring")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        order: Annotated[JobOrder, Query(description="sort column")] = "name",
        desc: Annotated[bool, Query(description="newest/largest first")] = False,
        after: Annotated[
            str | None,
            Query(
                max_length=4096,
                description="the previous page's X-Next-Cursor: the jobs after its last one "
                "(same order and desc; no offset)",
            ),
        ] = None,
    ) -> Any:
        page = await service.list_jobs(
            status=status,
            agent=agent_id or None,
            text=q or None,
            limit=limit,
            offset=offset,
            order=order,
            descending=desc,
            after=after,
            encode=encoded.row,
        )
        headers = {"X-Total-Count": str(page.total)}
        if page.next_cursor is not None:
            url = request.url.remove_query_params(["offset", "after"])
            url = url.include_query_params(after=page.next_cursor)
            headers["X-Next-Cursor"] = page.next_cursor
            headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
        # in JobOut's shape, not validated again; each job encoded once (job_json.py)
        body = encoded.page(page.jobs) if page.encoded is None else encoded.joined(page.encoded)
        return Response(body, media_type="application/json", headers=headers)

    @r.get("/{job_id}", response_model=JobOut, summary="Get a job")
    async def get_job(job_id: JobRef) -> Any:
        return _job(await service.get_job(job_id))

    @r.put("/{job_id}", response_model=JobOut, summary="Update a job (only the fields given)")
    async def update_job(request: Request, job_id: JobRef, body: JobIn) -> Any:
        return _job(await service.update_job(job_id, body.fields(), actor=request_actor(request)))

    @r.delete("/{job_id}", response_model=DeleteOut, summary="Delete a job")
    async def delete_job(request: Request, job_id: JobRef, body: NoBody = None) -> Any:
        job = await service.remove_job(job_id, actor=request_actor(request))
        return {"job_id": job.id, "name": job.name, "deleted": True}

    def action(name: str, call: Callable[..., Awaitable[JobDefinition]], summary: str) -> None:
        async def endpoint(request: Request, job_id: JobRef, body: NoBody = None) -> Any:
            return _job(await call(job_id, actor=request_actor(request)))

        endpoint.__name__ = f"{name}_job"
        r.add_api_route(
            f"/{{job_id}}/{name}",
            endpoint,
            methods=["POST"],
            response_model=JobOut,
            summary=summary,
        )

    action("pause", service.pause_job, "Pause a job (stops scheduling, keeps state)")
    action("resume", service.resume_job, "Resume a paused job")
    action("reset", service.reset_job, "Return a dead-lettered or failed job to active")

    @r.post("/{job_id}/run", status_code=202, response_model=RunOut, summary="Run a job now")
    async def run_job(
        request: Request, job_id: JobRef, body: Annotated[RunIn | None, Body()] = None
    ) -> Any:
        text = body.input if body is not None else None
        run = await service.run_now(job_id, input=text, actor=request_actor(request))
        return run_to_dict(run)

    @r.post(
        "/{job_id}/backfill",
        response_model=BackfillOut,
        response_model_by_alias=True,
        summary="Backfill a job: a queued run for each past cron instant in [from, to]",
    )
    async def backfill_job(request: Request, job_id: JobRef, body: BackfillIn) -> Any:
        result = await service.backfill(
            job_id,
            start=body.start,
            end=body.end,
            dry_run=body.dry_run,
            actor=request_actor(request),
        )
        return backfill_to_dict(result)

    @r.get(
        "/{job_id}/policy",
        response_model=EffectivePolicyOut,
        response_model_by_alias=True,
        summary="The policy that gates the job's runs, merged, with where each rule came from",
    )
    async def effective_policy(job_id: JobRef) -> Any:
        return await service.effective_policy(job_id)

    @r.get("/{job_id}/history", response_model=list[RunOut], summary="A job's runs, newest first")
    async def job_history(
        job_id: JobRef,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
        status: RunStatusFilter = None,
    ) -> Any:
        runs = await service.history(job_id, limit=limit, status=status)
        return [run_to_dict(run) for run in runs]

    @r.get(
        "/{job_id}/cost",
        response_model=CostOut,
        summary="A job's LLM cost per day (its zone's dates), with its budgets",
    )
    async def job_cost(job_id: JobRef, days: Annotated[int, Query(ge=1, le=366)] = 7) -> Any:
        return (await service.job_cost(job_id, days)).to_dict()

    @r.get(
        "/{job_id}/chain",
        response_model=ChainOut,
        summary="The job it comes after, and the jobs that come after it",
    )
    async def chain(job_id: JobRef) -> Any:
        job = await service.get_job(job_id)
        followers = await service.followers(job.id)
        return {
            "job_id": job.id,
            "name": job.name,
            "after": job.after,
            "followers": [f.name for f in followers],
        }

    @r.get("/{job_id}/next_run", response_model=NextRunOut, summary="Next scheduled run time")
    async def next_run(job_id: JobRef, count: Annotated[int, Query(ge=1, le=100)] = 5) -> Any:
        job = await service.get_job(job_id)
        upcoming = await service.next_runs(job.id, count)
        return {
            "job_id": job.id,
            "name": job.name,
            "status": job.status.value,
            "next_run": instant_out(upcoming[0]) if upcoming else None,
            "next_runs": [format_instant(t) for t in upcoming],
        }

    return r
