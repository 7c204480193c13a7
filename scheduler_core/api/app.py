"""The HTTP API over :class:`~scheduler_core.service.SchedulerService` (FastAPI).

Three groups of routes:

* the guide's: ``/api/v1/schedule[/{job_id}[/pause|resume|run|history|next_run]]`` and
  ``/api/v1/health/scheduler``, plus ``reset``, runs, heartbeat iterations, approvals, the audit
  log, the store's stats and pruning (``/api/v1/store/stats|prune``), the server-sent event
  stream (``/api/v1/events``) and ``/metrics``;
* the upstream Symbiont SDK's plural aliases, ``/api/v1/schedules[/{id}[/...]]``, answering with
  exactly the upstream keys (the SDK builds dataclasses from them);
* ``/openapi.json``, generated from the declared models.

Every mutation goes through the service, with the caller's API key's name as the audit actor.
Each route needs a role (:mod:`.roles`: reads ``viewer``, pause/resume/run/reset/approve/deny
``operator``, the rest ``admin``). Errors are JSON
(:class:`~scheduler_core.api.schemas.ErrorOut`): 400/422 for bad input with the field named, 401
without a valid key, 403 for a key whose role (or a job's approvers) does not allow it, 404 for
an unknown job or run, 409 for a state conflict.

This module assembles the app; the routes are in :mod:`.routes` (``schedule``, ``runs``, ``sdk``,
``store``, ``system``, ``logs``), the JSON errors in :mod:`.errors`, authentication and the body
limit in :mod:`.middleware` and the event stream in :mod:`.sse`.
"""

from __future__ import annotations

__all__ = ["create_app"]

import asyncio
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from ..events import EventBus
from ..metrics import Metrics
from ..service import SchedulerService
from ..settings import SchedulerConfig
from .auth import ApiKeys, resolve_api_keys
from .errors import ERROR_RESPONSES, add_error_handlers
from .fast_list import FastListMiddleware
from .job_json import JobJson
from .middleware import AuthMiddleware, BodyLimitMiddleware
from .roles import authorize, required_role
from .routes.export import export_routes
from .routes.logs import log_routes
from .routes.runs import run_routes
from .routes.schedule import guide_routes
from .routes.sdk import compat_routes
from .routes.store import store_routes
from .routes.system import system_routes


def create_app(
    service: SchedulerService,
    *,
    config: SchedulerConfig | None = None,
    bus: EventBus | None = None,
    metrics: Metrics | None = None,
    keys: ApiKeys | None = None,
    heartbeat_seconds: float = 15.0,
    log_file: Path | None = None,
    fast_list: bool = True,
) -> FastAPI:
    """The API over ``service``.

    ``keys``: the accepted API keys (default: :func:`~scheduler_core.api.auth.resolve_api_keys`
    of ``config``, which may create the key file). ``metrics``: served at ``/metrics`` (404 when
    None). ``heartbeat_seconds``: how often an idle event stream sends a keep-alive comment.
    ``log_file``: the daemon's log file, served at ``/api/v1/logs`` (None: it writes none).
    ``fast_list``: plain ``GET /api/v1/schedule`` requests answered before FastAPI's routing
    (:mod:`.fast_list`; the same bytes, tested against the route with it off).
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
        responses=ERROR_RESPONSES,
    )
    app.state.service = service
    app.state.bus = bus
    app.state.metrics = metrics
    #: set when the server shuts down: event streams end so the server can stop
    app.state.stopping = asyncio.Event()
    add_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(AuthMiddleware, keys=keys, exempt=exempt)  # auth first
    encoded = JobJson()
    if fast_list:  # outermost: answers only what it checked itself (fast_list.py)
        app.add_middleware(
            FastListMiddleware,
            service=service,
            keys=keys,
            exempt=exempt,
            encoded=encoded,
        )

    routers = (
        guide_routes(service, encoded),
        export_routes(service),
        run_routes(service),
        compat_routes(service),
        store_routes(service),
        system_routes(service, bus, metrics, heartbeat_seconds, app.state.stopping),
        log_routes(config, log_file),
    )
    for router in routers:
        app.include_router(router, dependencies=[Depends(authorize)])
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
        for method, operation in operations.items():
            operation["x-required-role"] = required_role(method.upper(), path).value
            if path in exempt:
                operation["security"] = []
                operation.get("responses", {}).pop("401", None)
            else:
                operation["security"] = [{"bearerAuth": []}]
    return schema
