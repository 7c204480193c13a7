"""The API's ASGI middleware: API-key authentication (the key's name becomes the audit actor)
and the request body limit. What each role may do is checked per route (:mod:`.roles`).
"""

from __future__ import annotations

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..access import Principal
from ..jobspec import MAX_INPUT_BYTES
from .auth import ApiKeys
from .errors import error_response

#: a larger body is refused before it is read: room for a run input of 1 MiB (the most there
#: may be) even written with JSON's \uXXXX escapes, which take up to six bytes per byte
MAX_BODY_BYTES = 8 * 1024 * 1024


class AuthMiddleware:
    """``Authorization: Bearer KEY`` on every path but the exempt ones; the key's
    :class:`~scheduler_core.access.Principal` is kept in the request's state (``principal``)
    and its name becomes the request's audit actor. On an exempt path a valid key is still
    recognised (the health answer then has its detail); without one, the principal is None."""

    def __init__(self, app: ASGIApp, *, keys: ApiKeys, exempt: frozenset[str]) -> None:
        self.app = app
        self.keys = keys
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        header = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        principal = self.keys.check(header)
        if scope["path"] in self.exempt:
            state["principal"] = principal
            state["actor"] = principal.name if principal is not None else "api"
            await self.app(scope, receive, send)
            return
        if principal is None:
            message = (
                "missing API key: send Authorization: Bearer <key>"
                if header is None
                else "invalid API key"
            )
            response = error_response(401, message, "unauthorized")
            await response(scope, receive, send)
            return
        state["principal"] = principal
        state["actor"] = principal.name
        await self.app(scope, receive, send)


class _BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int = MAX_BODY_BYTES) -> None:
        super().__init__(413, f"the request body is larger than {limit:,} bytes")


def _too_large(scope: Scope, limit: int) -> Response:
    """The 413 answer; a run's body holds only its input, so the input is named."""
    if scope.get("method") == "POST" and str(scope.get("path", "")).endswith("/run"):
        message = (
            f"the request body is larger than {limit:,} bytes: a run's input may be at most "
            f"{MAX_INPUT_BYTES:,} bytes (1 MiB)"
        )
        return error_response(413, message, "too_large", "input")
    return error_response(413, _BodyTooLarge(limit).detail, "too_large")


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
                await _too_large(scope, self.limit)(scope, receive, send)
                return
        total = 0

        async def limited() -> Message:
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > self.limit:
                    raise _BodyTooLarge(self.limit)  # answered by the HTTP error handler
            return message

        await self.app(scope, limited, send)


def request_actor(request: Request) -> str:
    """The audit actor of ``request``: its key's name, or ``api`` on an exempt path without
    one."""
    return str(getattr(request.state, "actor", "api"))


def request_principal(request: Request) -> Principal | None:
    """Who sent ``request`` (None: an exempt path, without a valid key)."""
    principal = getattr(request.state, "principal", None)
    return principal if isinstance(principal, Principal) else None
