"""The HTTP API over :class:`~scheduler_core.service.SchedulerService` (FastAPI).

Three groups of routes:

* the guide's: ``/api/v1/schedule[/{job_id}[/pause|resume|run|history|next_run]]`` and
  ``/api/v1/health/scheduler``, plus ``reset``, runs, heartbeat iterations, approvals, the audit
  log, the server-sent event stream (``/api/v1/events``) and ``/metrics``;
* the upstream Symbiont SDK's plural aliases, ``/api/v1/schedules[/{id}[/...]]``, answering with
  exactly the upstream keys (the SDK builds dataclasses from them);
* ``/openapi.json``, generated from the declared models.

Every mutation goes through the service, with the caller's API key id as the audit actor. Errors
are JSON (:class:`~scheduler_core.api.schemas.ErrorOut`): 400/422 for bad input with the field
named, 401 without a valid key, 404 for an unknown job or run, 409 for a state conflict.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = ["create_app"]

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import wire
from ..clock import format_instant, parse_instant
from ..errors import (
    SchedulerError,
    ValidationError,
)
from ..events import (
    EventBus,
)
from ..jobspec import job_from_mapping
from ..metrics import CONTENT_TYPE, Metrics
from ..model import JobDefinition, JobRun, JobStatus, RunStatus
from ..service import SchedulerService
from ..settings import SchedulerConfig
from ..wire import (
    EVENT_KINDS,
    audit_to_dict,
    instant_out,
    iteration_to_dict,
    job_to_dict,
    run_to_dict,
)
from .auth import ApiKeys, resolve_api_keys
from .schemas import (
    ApplyIn,
    ApplyOut,
    AuditOut,
    CreateScheduleOut,
    DecisionIn,
    DeleteOut,
    DeleteScheduleOut,
    ErrorOut,
    HealthOut,
    IterationOut,
    JobCreateIn,
    JobIn,
    JobOut,
    NextRunOut,
    NextRunsOut,
    RunIn,
    RunOut,
    ScheduleActionOut,
    ScheduleDetailOut,
    ScheduleHistoryOut,
    ScheduleSummaryOut,
)

#: the columns a job list can be sorted by (the store's orders)
JobOrder = Literal[
    "name", "agent", "status", "next_run_at", "last_run_at", "failure_count", "created_at"
]

log = logging.getLogger("symbi.api")

_PREFIX = "/api/v1"
#: the event kinds of the SSE stream

#: one server-sent event, as OpenAPI 3.1 describes an event stream's items
_SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": list(EVENT_KINDS)},
        "data": {"type": "string", "description": "the event as JSON"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}

_KIND = "(" + "|".join(EVENT_KINDS) + ")"
_KINDS_PATTERN = rf"^ *{_KIND} *(, *{_KIND} *)*$"
_INSTANT_QUERY = Query(
    max_length=64,
    pattern=r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$",
    description="ISO 8601 date or instant, e.g. 2026-02-01 or 2026-02-01T09:00:00Z (UTC if "
    "no offset)",
)

#: what a pattern-checked parameter must look like, for error messages
_FORMATS = {
    "since": "an ISO 8601 date or instant (e.g. 2026-02-01)",
    "until": "an ISO 8601 date or instant (e.g. 2026-02-01)",
    "types": f"a comma-separated list of event kinds ({', '.join(EVENT_KINDS)})",
}

_ERR = {"model": ErrorOut}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {**_ERR, "description": "Malformed request (e.g. a body that is not JSON)"},
    401: {**_ERR, "description": "Missing or wrong API key"},
    404: {**_ERR, "description": "No such job, run or path"},
    409: {**_ERR, "description": "The request conflicts with the current state"},
    413: {**_ERR, "description": "The request body is larger than 1 MiB"},
    422: {**_ERR, "description": "Invalid input; `field` names it"},
    503: {**_ERR, "description": "The store cannot be reached now; try again"},
}
#: job definitions and run inputs are small; a larger body is refused before it is read
MAX_BODY_BYTES = 1024 * 1024

JobRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description="a job id, a unique id prefix (4+ characters) or a job name",
    ),
]
RunRef = Annotated[str, Path(min_length=1, max_length=200, description="a run id")]


# --- errors ---------------------------------------------------------------------------------------


def _error(
    status: int,
    message: str,
    code: str,
    field: str | None = None,
    details: dict[str, Any] | None = None,
) -> JSONResponse:
    body = ErrorOut(error=message, code=code, field=field, details=details or {})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


async def _scheduler_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SchedulerError)
    status, body = wire.error_answer(exc)
    return _error(status, body["error"], body["code"], body["field"], body["details"])


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return _error(400, "the request body is not valid JSON", "invalid_json", "body")
    found = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        where = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else "body")
        message = str(e.get("msg", "invalid"))
        if loc == ["body"] and e.get("type") in ("model_attributes_type", "dict_type"):
            message = "expected a JSON object (send Content-Type: application/json)"
        elif e.get("type") == "string_pattern_mismatch" and where in _FORMATS:
            message = f"{str(e.get('input'))[:60]!r} is not {_FORMATS[where]}"
        found.append({"field": where, "message": message})
    first = found[0] if found else {"field": None, "message": "invalid request"}
    message = "; ".join(f"{f['field']}: {f['message']}" for f in found) or "invalid request"
    details: dict[str, Any] = {"errors": found} if len(found) > 1 else {}
    return _error(422, message, "validation_error", first["field"], details)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    response = _error(exc.status_code, message, _HTTP_CODES.get(exc.status_code, "http_error"))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path (Starlette's 405 names only one route's)."""
    path = request.url.path
    methods: set[str] = set()
    for pattern, served in getattr(request.app.state, "route_methods", ()):
        if pattern.match(path):
            methods.update(served)
    return sorted(methods)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal error (see the daemon's log)", "internal_error")


# --- authentication -------------------------------------------------------------------------------


class AuthMiddleware:
    """``Authorization: Bearer KEY`` on every path but the exempt ones; the key id becomes the
    request's audit actor (``api:<key id>``)."""

    def __init__(self, app: ASGIApp, *, keys: ApiKeys, exempt: frozenset[str]) -> None:
        self.app = app
        self.keys = keys
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if scope["path"] in self.exempt:
            state["actor"] = "api"
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        ident = self.keys.check(header)
        if ident is None:
            message = (
                "missing API key: send Authorization: Bearer <key>"
                if header is None
                else "invalid API key"
            )
            response = _error(401, message, "unauthorized")
            await response(scope, receive, send)
            return
        state["actor"] = f"api:{ident}"
        await self.app(scope, receive, send)


class _BodyTooLarge(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")


class BodyLimitMiddleware:
    """Refuse request bodies over :data:`MAX_BODY_BYTES` with a JSON 413, declared or streamed."""

    def __init__(self, app: ASGIApp, *, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _error(413, _BodyTooLarge().detail, "too_large")(scope, receive, send)
                return
        total = 0

        async def limited() -> Message:
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > self.limit:
                    raise _BodyTooLarge()  # answered by the HTTP error handler
            return message

        await self.app(scope, limited, send)


def _actor(request: Request) -> str:
    return str(getattr(request.state, "actor", "api"))


# --- helpers --------------------------------------------------------------------------------------


def _job(job: JobDefinition) -> dict[str, Any]:
    return job_to_dict(job)


@lru_cache(maxsize=1)
def _job_out_order() -> tuple[tuple[str, Any], ...]:
    """JobOut's fields in order, with the default each optional one takes."""
    return tuple(
        (name, None if field.is_required() else field.get_default(call_default_factory=True))
        for name, field in JobOut.model_fields.items()
    )


def _job_out(job: JobDefinition) -> dict[str, Any]:
    """A job exactly as ``response_model=JobOut`` would send it, without validating the dict
    again (a page of jobs is already in that shape: this halves the list's cost)."""
    data = job_to_dict(job)
    out = {name: data.get(name, default) for name, default in _job_out_order()}
    out.update((k, v) for k, v in data.items() if k not in out)
    return out


def _parse_since(value: str | None, field: str) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        return parse_instant(value)
    except (ValueError, OverflowError):
        raise ValidationError(
            f"{value[:60]!r} is not an ISO 8601 date or instant (e.g. 2026-02-01)", field=field
        ) from None


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
    from ..scheduling.rules import schedule_for

    first = schedule_for(job.cron, job.timezone).next_after(service.clock.now())
    return replace(job, cron=None, at=first)


async def _all_jobs(service: SchedulerService, status: JobStatus | None = None) -> list[Any]:
    jobs: list[JobDefinition] = []
    while True:
        page = await service.list_jobs(status=status, limit=1000, offset=len(jobs))
        jobs.extend(page.jobs)
        if not page.jobs or len(jobs) >= page.total:
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


# --- the event stream -----------------------------------------------------------------------------


async def _event_stream(
    bus: EventBus, kinds: frozenset[str], heartbeat: float, stopping: asyncio.Event
) -> AsyncIterator[str]:
    subscription = bus.subscribe(maxsize=2000)
    stop: asyncio.Future[Any] = asyncio.ensure_future(stopping.wait())
    pending: asyncio.Future[Any] | None = None
    seq = 0
    try:
        yield "retry: 2000\n: connected\n\n"
        while not stopping.is_set():
            if pending is None:
                pending = asyncio.ensure_future(subscription.get())
            done, _ = await asyncio.wait(
                {pending, stop}, timeout=heartbeat, return_when=asyncio.FIRST_COMPLETED
            )
            if pending not in done:
                if stop in done:
                    break
                yield ": keep-alive\n\n"
                continue
            event, pending = pending.result(), None
            encoded = wire.event_to_wire(event)
            if encoded is None or encoded[0] not in kinds:
                continue
            seq += 1
            data = json.dumps(encoded[1], separators=(",", ":"), default=str)
            yield f"id: {seq}\nevent: {encoded[0]}\ndata: {data}\n\n"
    finally:
        for future in (pending, stop):
            if future is not None and not future.done():
                future.cancel()
        subscription.close()


# --- the app --------------------------------------------------------------------------------------


def create_app(
    service: SchedulerService,
    *,
    config: SchedulerConfig | None = None,
    bus: EventBus | None = None,
    metrics: Metrics | None = None,
    keys: ApiKeys | None = None,
    heartbeat_seconds: float = 15.0,
) -> FastAPI:
    """The API over ``service``.

    ``keys``: the accepted API keys (default: :func:`~scheduler_core.api.auth.resolve_api_keys`
    of ``config``, which may create the key file). ``metrics``: served at ``/metrics`` (404 when
    None). ``heartbeat_seconds``: how often an idle event stream sends a keep-alive comment.
    """
    config = config or service.config
    bus = bus or service.bus
    keys = keys if keys is not None else resolve_api_keys(config)
    exempt = frozenset(config.api.auth_exempt)

    app = FastAPI(
        title="symbi scheduler API",
        version="1.0.0",
        description="Cron for AI agents: schedules, runs, approvals, audit log and events.",
        docs_url=None,
        redoc_url=None,
        responses=_RESPONSES,
    )
    app.state.service = service
    app.state.bus = bus
    app.state.metrics = metrics
    #: set when the server shuts down: event streams end so the server can stop
    app.state.stopping = asyncio.Event()
    app.add_exception_handler(SchedulerError, _scheduler_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(AuthMiddleware, keys=keys, exempt=exempt)  # outermost: auth first

    routers = (
        _guide_routes(service),
        _run_routes(service),
        _compat_routes(service),
        _system_routes(service, bus, metrics, heartbeat_seconds, app.state.stopping),
    )
    for router in routers:
        app.include_router(router)
    #: (path pattern, methods) of every route, for the Allow header of a 405
    app.state.route_methods = [
        (route.path_regex, frozenset(route.methods or ()))
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
    ]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _openapi(app, exempt)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI, exempt: frozenset[str]) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key from [api] api_keys, SYMBI_API_KEY or <data dir>/api-key",
    }
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            if path in exempt:
                operation["security"] = []
                operation.get("responses", {}).pop("401", None)
            else:
                operation["security"] = [{"bearerAuth": []}]
    return schema


def _guide_routes(service: SchedulerService) -> APIRouter:
    r = APIRouter(prefix=f"{_PREFIX}/schedule", tags=["schedule"])

    @r.post("", status_code=201, response_model=JobOut, summary="Create a scheduled job")
    async def create_job(request: Request, body: JobCreateIn) -> Any:
        job = await service.add_job(body.fields(), actor=_actor(request))
        return _job(job)

    @r.get("", response_model=list[JobOut], summary="List jobs (filter by status, agent)")
    async def list_jobs(
        status: JobStatus | None = None,
        agent_id: Annotated[str | None, Query(max_length=200)] = None,
        q: Annotated[str | None, Query(max_length=200, description="name/agent substring")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        order: Annotated[JobOrder, Query(description="sort column")] = "name",
        desc: Annotated[bool, Query(description="newest/largest first")] = False,
    ) -> Any:
        page = await service.list_jobs(
            status=status,
            agent=agent_id or None,
            text=q or None,
            limit=limit,
            offset=offset,
            order=order,
            descending=desc,
        )
        # already in JobOut's shape (job_to_dict): sent as is, not validated again per item
        return JSONResponse(
            [_job_out(j) for j in page.jobs], headers={"X-Total-Count": str(page.total)}
        )

    @r.get("/{job_id}", response_model=JobOut, summary="Get a job")
    async def get_job(job_id: JobRef) -> Any:
        return _job(await service.get_job(job_id))

    @r.put("/{job_id}", response_model=JobOut, summary="Update a job (only the fields given)")
    async def update_job(request: Request, job_id: JobRef, body: JobIn) -> Any:
        return _job(await service.update_job(job_id, body.fields(), actor=_actor(request)))

    @r.delete("/{job_id}", response_model=DeleteOut, summary="Delete a job")
    async def delete_job(request: Request, job_id: JobRef) -> Any:
        job = await service.remove_job(job_id, actor=_actor(request))
        return {"job_id": job.id, "name": job.name, "deleted": True}

    def action(name: str, call: Callable[..., Awaitable[JobDefinition]], summary: str) -> None:
        async def endpoint(request: Request, job_id: JobRef) -> Any:
            return _job(await call(job_id, actor=_actor(request)))

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
        run = await service.run_now(job_id, input=text, actor=_actor(request))
        return run_to_dict(run)

    @r.get("/{job_id}/history", response_model=list[RunOut], summary="A job's runs, newest first")
    async def job_history(
        job_id: JobRef,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
        status: RunStatus | None = None,
    ) -> Any:
        runs = await service.history(job_id, limit=limit, status=status)
        return [run_to_dict(run) for run in runs]

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


def _run_routes(service: SchedulerService) -> APIRouter:
    r = APIRouter(prefix=_PREFIX, tags=["runs"])

    @r.post(
        "/apply",
        tags=["schedule"],
        response_model=ApplyOut,
        summary="Create or rewrite jobs keyed by name, all or nothing (a DSL file's schedules)",
    )
    async def apply_jobs(request: Request, body: ApplyIn) -> Any:
        result = await service.apply_specs(body.jobs, actor=_actor(request))
        return {"created": result.created, "updated": result.updated, "unchanged": result.unchanged}

    @r.get("/runs", response_model=list[RunOut], summary="Recent runs of all jobs")
    async def list_runs(
        job: Annotated[str | None, Query(max_length=200)] = None,
        status: RunStatus | None = None,
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
        return run_to_dict(await service.approve(run_id, actor=_actor(request), reason=reason))

    @r.post("/runs/{run_id}/deny", response_model=RunOut, summary="Deny a parked run")
    async def deny(
        request: Request, run_id: RunRef, body: Annotated[DecisionIn | None, Body()] = None
    ) -> Any:
        reason = body.reason if body is not None else None
        return run_to_dict(await service.deny(run_id, actor=_actor(request), reason=reason))

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


def _compat_routes(service: SchedulerService) -> APIRouter:
    """The upstream SDK's paths and shapes (``symbiont-sdk`` ``client.schedules.*``)."""
    r = APIRouter(prefix=f"{_PREFIX}/schedules", tags=["sdk compatibility"])

    @r.get("", response_model=list[ScheduleSummaryOut], summary="SDK: list schedules")
    async def sdk_list() -> Any:
        return [_summary(job) for job in await _all_jobs(service)]

    @r.post("", response_model=CreateScheduleOut, summary="SDK: create a schedule")
    async def sdk_create(request: Request, body: JobCreateIn) -> Any:
        spec = _one_shot(body.fields(), service)
        job = await service.add_job(spec, actor=_actor(request))
        return {"job_id": job.id, "next_run": instant_out(job.next_run_at), "status": "created"}

    @r.get("/{job_id}", response_model=ScheduleDetailOut, summary="SDK: get a schedule")
    async def sdk_get(job_id: JobRef) -> Any:
        return _detail(await service.get_job(job_id))

    @r.put("/{job_id}", response_model=ScheduleDetailOut, summary="SDK: update a schedule")
    async def sdk_update(request: Request, job_id: JobRef, body: JobIn) -> Any:
        fields = body.fields()
        fields.pop("one_shot", None)
        return _detail(await service.update_job(job_id, fields, actor=_actor(request)))

    @r.delete("/{job_id}", response_model=DeleteScheduleOut, summary="SDK: delete a schedule")
    async def sdk_delete(request: Request, job_id: JobRef) -> Any:
        job = await service.remove_job(job_id, actor=_actor(request))
        return {"job_id": job.id, "deleted": True}

    @r.post("/{job_id}/pause", response_model=ScheduleActionOut, summary="SDK: pause")
    async def sdk_pause(request: Request, job_id: JobRef) -> Any:
        job = await service.pause_job(job_id, actor=_actor(request))
        return {"job_id": job.id, "action": "pause", "status": job.status.value}

    @r.post("/{job_id}/resume", response_model=ScheduleActionOut, summary="SDK: resume")
    async def sdk_resume(request: Request, job_id: JobRef) -> Any:
        job = await service.resume_job(job_id, actor=_actor(request))
        return {"job_id": job.id, "action": "resume", "status": job.status.value}

    @r.post("/{job_id}/trigger", response_model=ScheduleActionOut, summary="SDK: run now")
    async def sdk_trigger(request: Request, job_id: JobRef) -> Any:
        run = await service.run_now(job_id, actor=_actor(request))
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


def _system_routes(
    service: SchedulerService,
    bus: EventBus,
    metrics: Metrics | None,
    heartbeat: float,
    stopping: asyncio.Event,
) -> APIRouter:
    r = APIRouter()

    @r.get(
        f"{_PREFIX}/health/scheduler",
        response_model=HealthOut,
        summary="Scheduler health and run statistics",
        tags=["health"],
    )
    async def health() -> Any:
        return wire.health_to_dict(await service.health())

    @r.get(
        f"{_PREFIX}/events",
        response_class=StreamingResponse,
        summary="Server-sent events: job, run, iteration, audit and scheduler changes",
        tags=["events"],
        responses={
            200: {
                "description": "`event: <kind>` and `data: <JSON>` per change; `: keep-alive` "
                "comments while idle; `dropped` when this client fell behind (reload)",
                "content": {"text/event-stream": {"schema": _SSE_EVENT}},
            }
        },
    )
    async def events(
        types: Annotated[
            str | None,
            Query(
                max_length=200,
                pattern=_KINDS_PATTERN,
                description=f"comma-separated subset of {', '.join(EVENT_KINDS)}",
            ),
        ] = None,
    ) -> Response:
        if stopping.is_set():
            # between the end of the streams and the listener's close: a client reconnecting
            # now would be told it is connected by a stream that ends at once
            return _error(503, "the scheduler is shutting down", "shutting_down")
        kinds = frozenset(EVENT_KINDS)
        if types:  # checked against _KINDS_PATTERN; "dropped" always comes through
            kinds = frozenset({t.strip() for t in types.split(",")} | {"dropped"})
        return StreamingResponse(
            _event_stream(bus, kinds, heartbeat, stopping),
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
            return _error(404, "metrics are disabled (scheduler.enable_metrics)", "not_found")
        await metrics.refresh(service)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return r
