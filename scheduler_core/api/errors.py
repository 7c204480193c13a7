"""JSON errors for the HTTP API: one :class:`~scheduler_core.api.schemas.ErrorOut` shape for
every failure (400/422 naming the field, 401, 404, 405 with ``Allow``, 409, 413, 503, 500).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import wire
from ..errors import SchedulerError
from ..wire import EVENT_KINDS
from .schemas import ErrorOut

log = logging.getLogger("symbi.api")

#: what a pattern-checked parameter must look like, for error messages
_FORMATS = {
    "since": "an ISO 8601 date or instant (e.g. 2026-02-01)",
    "until": "an ISO 8601 date or instant (e.g. 2026-02-01)",
    "types": f"a comma-separated list of event kinds ({', '.join(EVENT_KINDS)})",
}

#: what a 503 (the store fails now) tells a client to wait before it tries again
_RETRY_AFTER_SECONDS = 5

_ERR = {"model": ErrorOut}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {**_ERR, "description": "Malformed request (e.g. a body that is not JSON)"},
    401: {**_ERR, "description": "Missing or wrong API key"},
    403: {
        **_ERR,
        "description": "The key's role may not do this (`details.required_role`), or the "
        "job's approvers do not name it (`details.approvers`)",
    },
    404: {**_ERR, "description": "No such job, run or path"},
    409: {**_ERR, "description": "The request conflicts with the current state"},
    413: {**_ERR, "description": "The request body is larger than 8 MiB"},
    422: {**_ERR, "description": "Invalid input; `field` names it"},
    503: {
        **_ERR,
        "description": "The store cannot be read or written now (a full disk, a read-only or "
        "locked file, a database out of reach); `details.cause` says which. Try again after "
        "`Retry-After` seconds",
    },
}


def error_response(
    status: int,
    message: str,
    code: str,
    field: str | None = None,
    details: dict[str, Any] | None = None,
) -> JSONResponse:
    """An :class:`ErrorOut` response (a 401 also asks for a bearer token)."""
    body = ErrorOut(error=message, code=code, field=field, details=details or {})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


async def scheduler_error_response(request: Request, exc: Exception) -> JSONResponse:
    """The answer to a :class:`SchedulerError` (the list's fast path sends it too)."""
    assert isinstance(exc, SchedulerError)
    status, body = wire.error_answer(exc)
    response = error_response(status, body["error"], body["code"], body["field"], body["details"])
    if status == 503:  # the store fails: it is tried again within seconds
        response.headers["Retry-After"] = str(_RETRY_AFTER_SECONDS)
    return response


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "the request body is not valid JSON", "invalid_json", "body")
    found = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        where = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else "body")
        message = str(e.get("msg", "invalid"))
        if loc == ["body"] and e.get("type") in ("model_attributes_type", "dict_type"):
            message = "expected a JSON object (send Content-Type: application/json)"
        elif e.get("type") == "extra_forbidden":  # as the job bodies say it
            message = f"unknown field {loc[-1]!r}"
        elif e.get("type") == "string_pattern_mismatch" and where in _FORMATS:
            message = f"{str(e.get('input'))[:60]!r} is not {_FORMATS[where]}"
        found.append({"field": where, "message": message})
    first = found[0] if found else {"field": None, "message": "invalid request"}
    message = "; ".join(f"{f['field']}: {f['message']}" for f in found) or "invalid request"
    details: dict[str, Any] = {"errors": found} if len(found) > 1 else {}
    return error_response(422, message, "validation_error", first["field"], details)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    response = error_response(
        exc.status_code, message, _HTTP_CODES.get(exc.status_code, "http_error")
    )
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
    return error_response(500, "internal error (see the daemon's log)", "internal_error")


def add_error_handlers(app: FastAPI) -> None:
    """Answer every error ``app`` raises as JSON (an unexpected one as a logged 500)."""
    app.add_exception_handler(SchedulerError, scheduler_error_response)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
