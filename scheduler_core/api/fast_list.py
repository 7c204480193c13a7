"""``GET /api/v1/schedule`` answered before FastAPI's routing, for the plain requests a client
paging the jobs sends.

The jobs list is the API's hot read (a client walking a million jobs page by page). Through
FastAPI a page costs, besides reading and writing it, the router's matching, the dependency
solver (the role check is a dependency), each query parameter validated by pydantic, a Request
and the URL rebuilt for the ``Link`` header: about as much CPU as the page itself. This
middleware answers the same request with the same bytes without that machinery, and hands every
other request to the app untouched:

* only ``GET`` of exactly :data:`LIST_PATH` (no root path), with a valid key whose role may read
  it (the rule :func:`~scheduler_core.api.roles.required_role` gives the route) on a path that is
  not exempt from authentication;
* only a query string of printable ASCII (no ``#``), each parameter the route knows at most once,
  each value in the canonical form FastAPI reads the same way (digits within the route's bounds,
  ``true``/``false``/``1``/``0``, an exact status or order name, texts within their lengths);
* anything else (no key, a wrong key, a role that may not read, an unknown or repeated
  parameter, a value FastAPI might read otherwise or refuse) goes to the app, whose route
  answers as before: every refusal and its JSON error body comes from the same code as before.

The page is read by the same service call, written by the same :class:`~.job_json.JobJson`, sent
with the same headers in the same order (``X-Total-Count``, ``X-Next-Cursor``, ``Link``,
``Content-Length``, ``Content-Type``); a :class:`~scheduler_core.errors.SchedulerError` the
service raises (a bad cursor, a store that cannot be read) is answered by the app's own handler
for it (:func:`~.errors.scheduler_error_response`). tests/test_api_fast_list.py compares both
paths' responses byte for byte.
"""

from __future__ import annotations

__all__ = ["LIST_PATH", "FastListMiddleware"]

from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import SchedulerError
from ..model import JobStatus
from ..service import SchedulerService
from .auth import ApiKeys
from .errors import scheduler_error_response
from .job_json import JobJson
from .roles import required_role
from .routes.common import PREFIX

#: the path answered here
LIST_PATH = f"{PREFIX}/schedule"
#: the sort columns the route accepts (its ``JobOrder``)
_ORDERS = frozenset(
    {"name", "agent", "status", "next_run_at", "last_run_at", "failure_count", "created_at"}
)
_STATUSES = {s.value: s for s in JobStatus}
_BOOLS = {"true": True, "false": False, "1": True, "0": False}
#: the route's bounds: (least, most, most digits)
_LIMIT = (1, 10_000, 5)
_OFFSET = (0, 10_000_000, 8)
#: the longest agent_id and q, and after, the route takes
_TEXT_MAX = 200
_AFTER_MAX = 4096
#: the query string's bytes read here: printable ASCII but '#'
_PLAIN = frozenset(range(0x21, 0x7F)) - {ord("#")}
_JSON = b"application/json"
#: a request announcing a body goes to the app (its body limit answers a large one)
_BODY_HEADERS = frozenset({b"content-length", b"transfer-encoding"})


def _count(value: str, bounds: tuple[int, int, int]) -> int | None:
    """``value`` as FastAPI reads an int within ``bounds``, if it is in canonical form."""
    least, most, digits = bounds
    if not value.isascii() or not value.isdigit() or len(value) > digits:
        return None
    if len(value) > 1 and value[0] == "0":
        return None
    number = int(value)
    return number if least <= number <= most else None


def _arguments(query: bytes) -> tuple[dict[str, Any], list[tuple[str, str]]] | None:
    """The list route's arguments from ``query``, and its parameters in order; None if the
    route should read them itself."""
    if query and not _PLAIN.issuperset(query):
        return None
    pairs = parse_qsl(query.decode("ascii"), keep_blank_values=True)
    args: dict[str, Any] = {}
    for name, value in pairs:
        if name in args or not value:
            return None
        parsed: Any
        if name == "limit":
            parsed = _count(value, _LIMIT)
        elif name == "offset":
            parsed = _count(value, _OFFSET)
        elif name == "after":
            parsed = value if len(value) <= _AFTER_MAX else None
        elif name == "order":
            parsed = value if value in _ORDERS else None
        elif name == "desc":
            parsed = _BOOLS.get(value)
        elif name == "status":
            parsed = _STATUSES.get(value)
        elif name in ("agent_id", "q"):
            parsed = value if len(value) <= _TEXT_MAX else None
        else:
            return None
        if parsed is None:
            return None
        args[name] = parsed
    return args, pairs


class FastListMiddleware:
    """Answers plain ``GET`` :data:`LIST_PATH` requests itself (see the module); every other
    request goes to ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: SchedulerService,
        keys: ApiKeys,
        exempt: frozenset[str],
        encoded: JobJson,
    ) -> None:
        self.app = app
        self.service = service
        self.keys = keys
        self.encoded = encoded
        self.needed = required_role("GET", LIST_PATH)
        #: an exempt list path is read without a key: left to the app
        self.enabled = LIST_PATH not in exempt
        #: requests answered here (tests check that the plain ones were)
        self.answered = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != LIST_PATH
            or scope["method"] != "GET"
            or scope.get("root_path")
            or not self.enabled
        ):
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if header is None:
                    header = value.decode("latin-1")
            elif name in _BODY_HEADERS:
                header = None  # a body is checked against the limit there
                break
        else:
            principal = self.keys.check(header) if header is not None else None
            parsed = _arguments(scope.get("query_string", b""))
            if principal is not None and principal.role.allows(self.needed) and parsed is not None:
                await self._answer(scope, receive, send, *parsed)
                return
        await self.app(scope, receive, send)  # refused or read there, as before

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        args: dict[str, Any],
        pairs: list[tuple[str, str]],
    ) -> None:
        self.answered += 1
        encoded = self.encoded
        try:
            page = await self.service.list_jobs(
                status=args.get("status"),
                agent=args.get("agent_id") or None,
                text=args.get("q") or None,
                limit=args.get("limit", 1000),
                offset=args.get("offset", 0),
                order=args.get("order", "name"),
                descending=args.get("desc", False),
                after=args.get("after"),
                encode=encoded.row,
            )
        except SchedulerError as exc:
            response = await scheduler_error_response(Request(scope, receive), exc)
            await response(scope, receive, send)
            return
        headers = [(b"x-total-count", str(page.total).encode())]
        cursor = page.next_cursor
        if cursor is not None:
            # the route's request.url.remove_query_params(["offset", "after"])
            # .include_query_params(after=cursor), as Starlette encodes it
            kept = [p for p in pairs if p[0] != "offset" and p[0] != "after"]
            kept.append(("after", cursor))
            link = f'<{LIST_PATH}?{urlencode(kept)}>; rel="next"'
            headers.append((b"x-next-cursor", cursor.encode("latin-1")))
            headers.append((b"link", link.encode("latin-1")))
        body = encoded.page(page.jobs) if page.encoded is None else encoded.joined(page.encoded)
        headers.append((b"content-length", str(len(body)).encode()))
        headers.append((b"content-type", _JSON))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
