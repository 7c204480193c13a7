"""The store itself: ``GET /api/v1/store/stats`` and ``POST /api/v1/store/prune``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from ...service import SchedulerService
from ..middleware import request_actor
from ..schemas import PruneIn, PruneOut, StoreStatsOut
from .common import PREFIX


def store_routes(service: SchedulerService) -> APIRouter:
    """What the store holds, and pruning it by the daemon's ``[store]`` retention."""
    r = APIRouter(prefix=f"{PREFIX}/store", tags=["store"])

    @r.get(
        "/stats",
        response_model=StoreStatsOut,
        summary="Rows and bytes per table, the oldest run, the retention applied",
    )
    async def stats() -> Any:
        return (await service.store_stats()).to_dict()

    @r.post(
        "/prune",
        response_model=PruneOut,
        summary="Prune history past its retention now (dry_run: count what would go)",
    )
    async def prune(request: Request, body: Annotated[PruneIn | None, Body()] = None) -> Any:
        dry_run = body.dry_run if body is not None else False
        report = await service.prune_store(dry_run=dry_run, actor=request_actor(request))
        return report.to_dict()

    return r
