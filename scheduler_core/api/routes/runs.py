"""Runs and what acts on them: ``/api/v1/apply``, ``/api/v1/runs[/{run_id}[/iterations|approve|
deny|cancel]]``, ``/api/v1/approvals`` and the audit log, ``/api/v1/audit``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from ...clock import parse_instant
from ...errors import ValidationError
from ...service import SchedulerService
from ...wire import audit_to_dict, iteration_to_dict, run_to_dict
from ..middleware import request_actor, request_principal
from ..schemas import ApplyIn, ApplyOut, AuditOut, DecisionIn, IterationOut, RunOut
from .common import PREFIX, NoBody, RunRef, RunStatusFilter

_INSTANT_QUERY = Query(
    max_length=64,
    pattern=r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$",
    description="ISO 8601 date or instant, e.g. 2026-02-01 or 2026-02-01T09:00:00Z (UTC if "
    "no offset)",
)


def _parse_since(value: str | None, field: str) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        return parse_instant(value)
    except (ValueError, OverflowError):
        raise ValidationError(
            f"{value[:60]!r} is not an ISO 8601 date or instant (e.g. 2026-02-01)", field=field
        ) from None


def run_routes(service: SchedulerService) -> APIRouter:
    """Apply, runs, iterations, approvals and the audit log over ``service``."""
    r = APIRouter(prefix=PREFIX, tags=["runs"])

    @r.post(
        "/apply",
        tags=["schedule"],
        response_model=ApplyOut,
        summary="Create or rewrite jobs keyed by name, all or nothing (a DSL file's schedules)",
    )
    async def apply_jobs(request: Request, body: ApplyIn) -> Any:
        result = await service.apply_specs(
            body.jobs, agents=body.agents, policies=body.policies, actor=request_actor(request)
        )
        return {
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "agents": result.agents,
            "policies": result.policies,
        }

    @r.get("/runs", response_model=list[RunOut], summary="Recent runs of all jobs")
    async def list_runs(
        job: Annotated[str | None, Query(max_length=200)] = None,
        status: RunStatusFilter = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
    ) -> Any:
        runs = await service.history(job or None, limit=limit, status=status)
        return [run_to_dict(run) for run in runs]

    @r.get("/runs/{run_id}", response_model=RunOut, summary="Get a run")
    async def get_run(run_id: RunRef) -> Any:
        return run_to_dict(await service.get_run(run_id))

    @r.get(
        "/runs/{run_id}/iterations",
        response_model=list[IterationOut],
        summary="A heartbeat run's iterations",
    )
    async def run_iterations(run_id: RunRef) -> Any:
        return [iteration_to_dict(i) for i in await service.iterations(run_id)]

    @r.get("/approvals", response_model=list[RunOut], summary="Runs awaiting approval")
    async def approvals(limit: Annotated[int, Query(ge=1, le=10_000)] = 500) -> Any:
        return [run_to_dict(run) for run in await service.pending_approvals(limit=limit)]

    @r.post("/runs/{run_id}/approve", response_model=RunOut, summary="Approve a parked run")
    async def approve(
        request: Request, run_id: RunRef, body: Annotated[DecisionIn | None, Body()] = None
    ) -> Any:
        reason = body.reason if body is not None else None
        return run_to_dict(
            await service.approve(
                run_id,
                actor=request_actor(request),
                reason=reason,
                principal=request_principal(request),
            )
        )

    @r.post("/runs/{run_id}/deny", response_model=RunOut, summary="Deny a parked run")
    async def deny(
        request: Request, run_id: RunRef, body: Annotated[DecisionIn | None, Body()] = None
    ) -> Any:
        reason = body.reason if body is not None else None
        return run_to_dict(
            await service.deny(
                run_id,
                actor=request_actor(request),
                reason=reason,
                principal=request_principal(request),
            )
        )

    @r.post(
        "/runs/{run_id}/cancel",
        response_model=RunOut,
        summary="Cancel a queued, parked or running run",
        description="200 with the run ended `cancelled` (queued, awaiting approval, or running "
        "on this daemon: its agent is stopped first); 202 with the run still `running` (and "
        "`details.cancel_requested`) when another node runs it: that node stops the agent and "
        "records it cancelled. 409 if the run already ended.",
        responses={202: {"model": RunOut, "description": "another node must stop it"}},
    )
    async def cancel(
        request: Request, response: Response, run_id: RunRef, body: NoBody = None
    ) -> Any:
        outcome = await service.cancel_run(run_id, actor=request_actor(request))
        response.status_code = 200 if outcome.ended else 202
        return run_to_dict(outcome.run)

    @r.get("/audit", response_model=list[AuditOut], summary="Query the audit log", tags=["audit"])
    async def audit(
        type: Annotated[str | None, Query(max_length=100, description="e.g. CronJobFailed")] = None,
        job: Annotated[str | None, Query(max_length=200)] = None,
        since: Annotated[str | None, _INSTANT_QUERY] = None,
        until: Annotated[str | None, _INSTANT_QUERY] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    ) -> Any:
        events = await service.audit(
            type=type or None,
            job=job or None,
            since=_parse_since(since, "since"),
            until=_parse_since(until, "until"),
            limit=limit,
        )
        return [audit_to_dict(e) for e in events]

    return r
