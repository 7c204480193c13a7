"""Health, who the caller is, the server-sent event stream and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from ... import wire
from ...events import EventBus
from ...metrics import CONTENT_TYPE, Metrics
from ...service import SchedulerService
from ...wire import EVENT_KINDS
from ..errors import error_response
from ..middleware import request_principal
from ..schemas import HealthOut, WhoAmIOut
from ..sse import KINDS_PATTERN, SSE_EVENT_SCHEMA, event_stream
from .common import PREFIX


def system_routes(
    service: SchedulerService,
    bus: EventBus,
    metrics: Metrics | None,
    heartbeat: float,
    stopping: asyncio.Event,
) -> APIRouter:
    """Health, the event stream (ends when ``stopping`` is set) and ``/metrics``."""
    r = APIRouter()

    @r.get(
        f"{PREFIX}/health/scheduler",
        response_model=HealthOut,
        summary="Scheduler health and run statistics",
        tags=["health"],
    )
    async def health(request: Request) -> Any:
        answer = wire.health_to_dict(await service.health())
        if request_principal(request) is None:  # no key: the guide's fields, nothing of hosts
            return JSONResponse(wire.public_health(answer))
        return answer

    @r.get(
        f"{PREFIX}/whoami",
        response_model=WhoAmIOut,
        summary="The caller's key: its name (the audit actor) and role",
        tags=["health"],
    )
    async def whoami(request: Request) -> Any:
        principal = request_principal(request)
        if principal is None:  # (only when an operator made this path exempt)
            return {"key": None, "role": None}
        return {"key": principal.name, "role": principal.role.value}

    @r.get(
        f"{PREFIX}/events",
        response_class=StreamingResponse,
        summary="Server-sent events: job, run, iteration, audit and scheduler changes",
        tags=["events"],
        responses={
            200: {
                "description": "`event: <kind>` and `data: <JSON>` per change; `: keep-alive` "
                "comments while idle; `dropped` when this client fell behind (reload)",
                "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
            }
        },
    )
    async def events(
        types: Annotated[
            str | None,
            Query(
                max_length=200,
                pattern=KINDS_PATTERN,
                description=f"comma-separated subset of {', '.join(EVENT_KINDS)}",
            ),
        ] = None,
    ) -> Response:
        if stopping.is_set():
            # between the end of the streams and the listener's close: a client reconnecting
            # now would be told it is connected by a stream that ends at once
            return error_response(503, "the scheduler is shutting down", "shutting_down")
        kinds = frozenset(EVENT_KINDS)
        if types:  # checked against KINDS_PATTERN; "dropped" always comes through
            kinds = frozenset({t.strip() for t in types.split(",")} | {"dropped"})
        return StreamingResponse(
            event_stream(bus, kinds, heartbeat, stopping),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @r.get(
        "/metrics",
        response_class=PlainTextResponse,
        summary="Prometheus metrics",
        tags=["metrics"],
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics_endpoint() -> Any:
        if metrics is None:
            return error_response(
                404, "metrics are disabled (scheduler.enable_metrics)", "not_found"
            )
        await metrics.refresh(service)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return r
