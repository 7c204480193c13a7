"""``GET /api/v1/schedule`` answered by :mod:`scheduler_core.api.fast_list` before FastAPI's
routing must answer exactly as the FastAPI route does: the same status, the same headers in the
same order, the same body, for valid and invalid query strings, for every key (none, wrong,
each role) and for a role that may not read the list (403). Each request is sent to two apps
over the same service, one with the fast path and one without, and the answers compared; the
fast path is checked to have answered the plain requests itself (else the comparison would
compare the route with itself)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, MutableMapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from scheduler_core.access import Role
from scheduler_core.api import ApiKeys, create_app, roles
from scheduler_core.api.fast_list import LIST_PATH, FastListMiddleware
from scheduler_core.settings import ApiConfig, ApiKeySpec
from scheduler_core.store.job_cursor import JobCursor, encode_cursor
from tests.conftest import Harness
from tests.keys import KEY, OPERATOR_KEY, VIEWER_KEY, WRONG_KEY
from tests.test_api_job_json import T0, _job, varied_jobs

NAMED = {
    "watcher": ApiKeySpec(key=VIEWER_KEY, role=Role.VIEWER),
    "ci": ApiKeySpec(key=OPERATOR_KEY, role=Role.OPERATOR),
}


def _cursor(name: str, order: str = "name", value: str | None = None) -> str:
    return encode_cursor(JobCursor(order, False, value, name))


#: query strings the fast path answers itself (given a key that may read the list)
PLAIN = [
    "",
    "limit=5",
    "limit=100",
    "limit=10000",
    "limit=1&offset=0",
    "limit=5&offset=3",
    "offset=10000000",
    "limit=3&order=agent&desc=true",
    "limit=3&order=next_run_at&desc=1",
    "desc=0&limit=2&order=created_at",
    "order=failure_count&desc=false&limit=4",
    "order=last_run_at&limit=4",
    "order=status&limit=4",
    "status=active",
    "status=paused&limit=2",
    "status=dead_letter",
    "status=completed",
    "agent_id=a&limit=3",
    "agent_id=agent+%5C+with%0Anewline",
    "q=plain",
    "q=%E2%98%83",  # a snowman, written %-escaped
    "q=job&limit=4&status=active",
    "%6Cimit=3",  # "limit", its l %-escaped
    "limit=3&&",
    "&limit=3",
    f"limit=4&after={_cursor('job-03')}",
    f"after={_cursor('job-03')}&limit=4&order=name&agent_id=a",
    f"limit=2&after={_cursor('job-03')}&q=job",
    f"limit=2&order=agent&after={_cursor('job-03', 'agent', 'a')}",  # another order's cursor
    f"limit=2&after={_cursor('zzz')}",  # past the last job: no next page
    # the service refuses these (422, its error handler): answered here with that handler
    "after=garbage",
    f"limit=2&order=agent&after={_cursor('job-03')}",
    f"after={_cursor('job-03')}&offset=5",
    "q=" + "x" * 200,
    "agent_id=" + "%C3%A9" * 200,
    "q=%FF%FE&limit=2",  # not UTF-8: each byte read as U+FFFD, by both
]

#: query strings left to the route (it accepts or refuses them as before)
ROUTED = [
    "limit=0",
    "limit=10001",
    "limit=abc",
    "limit=",
    "limit",
    "limit=05",
    "limit=+5",
    "limit=5.0",
    "limit=%205",
    "limit=99999999999999999999",
    "limit=5&limit=6",
    "offset=-1",
    "offset=10000001",
    "order=bogus",
    "order=NAME",
    "desc=maybe",
    "desc=yes",
    "desc=True",
    "status=sleeping",
    "status=ACTIVE",
    "status=",
    "agent_id=",
    "q=",
    "agent_id=" + "x" * 201,
    "q=" + "%C3%A9" * 201,
    "after=" + "A" * 4097,
    "after=",
    "limit=2&unknown=1",
    "limit=2&foo",
    "=3",
    "limit=2%23x",
    "q=caf\xe9&limit=2",  # a raw byte that is not ASCII
    "q=a b&limit=2",  # a raw space
]


async def _fill(harness: Harness) -> None:
    jobs = varied_jobs()
    jobs += [
        _job(f"job-{i:02d}", agent="a" if i % 2 else "b", next_run_at=T0 + timedelta(minutes=i))
        for i in range(12)
    ]
    await harness.store.insert_jobs(jobs, [])


def _find_fast(app: FastAPI) -> FastListMiddleware:
    layer: Any = app.middleware_stack
    while layer is not None and not isinstance(layer, FastListMiddleware):
        layer = getattr(layer, "app", None)
    assert isinstance(layer, FastListMiddleware)
    return layer


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


class _Client:
    """Sends a request to an ASGI app as uvicorn would hand it over (the query string's bytes
    as sent), and gives back what the app sent: status, headers in order, body."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def request(self, method: str, query: bytes, headers: dict[str, str]) -> Answer:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": LIST_PATH,
            "raw_path": LIST_PATH.encode(),
            "query_string": query,
            "root_path": "",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "headers": [(b"host", b"127.0.0.1:8000")]
            + [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
        }
        sent: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(message)

        await self.app(scope, receive, send)
        start = sent[0]
        body = b"".join(m.get("body", b"") for m in sent[1:])
        return start["status"], list(start["headers"]), body


@contextlib.asynccontextmanager
async def _apps(
    harness: Harness, *, exempt: tuple[str, ...] | None = None
) -> AsyncIterator[tuple[_Client, _Client, FastListMiddleware]]:
    config = harness.service.config
    if exempt is not None:
        config = replace(config, api=ApiConfig(auth_exempt=exempt))
    keys = ApiKeys.of([KEY], named=NAMED)
    fast = create_app(harness.service, config=config, keys=keys)
    slow = create_app(harness.service, config=config, keys=keys, fast_list=False)
    client = _Client(fast)
    await client.request("HEAD", b"", {})  # builds the middleware stack
    yield client, _Client(slow), _find_fast(fast)


async def _compare(
    fast: _Client, slow: _Client, query: str, headers: dict[str, str], method: str = "GET"
) -> Answer:
    raw = query.encode("utf-8" if query.isascii() else "latin-1")
    got = await fast.request(method, raw, headers)
    expected = await slow.request(method, raw, headers)
    assert got == expected, query
    return got


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextlib.contextmanager
def _counting(middleware: FastListMiddleware, expected: int) -> Iterator[None]:
    before = middleware.answered
    yield
    assert middleware.answered - before == expected


async def test_plain_queries_are_answered_alike(harness: Harness) -> None:
    await _fill(harness)
    async with _apps(harness) as (fast, slow, middleware):
        for key in (KEY, VIEWER_KEY, OPERATOR_KEY):
            with _counting(middleware, len(PLAIN)):
                answers = [await _compare(fast, slow, q, _bearer(key)) for q in PLAIN]
        statuses = [status for status, _, _ in answers]
        refused = [q for q, s in zip(PLAIN, statuses, strict=True) if s != 200]
        assert refused == PLAIN[-6:-3]  # by the service
        # the pages hold jobs, and the cursor walks were followed by a Link
        first = dict(answers[PLAIN.index("limit=5")][1])
        assert first[b"x-total-count"] == b"31" and b"link" in first
        # a walk by the Link header, each page compared
        link: str | None = f"{LIST_PATH}?limit=5&q=job"
        pages = 0
        with _counting(middleware, 3):
            while link is not None:
                _, raw, _ = await _compare(fast, slow, link.split("?", 1)[1], _bearer(KEY))
                found = dict(raw).get(b"link")
                link = found.decode()[1:].split(">", 1)[0] if found else None
                pages += 1
        assert pages == 3


async def test_other_queries_are_left_to_the_route(harness: Harness) -> None:
    await _fill(harness)
    async with _apps(harness) as (fast, slow, middleware):
        with _counting(middleware, 0):
            answers = [await _compare(fast, slow, q, _bearer(VIEWER_KEY)) for q in ROUTED]
        statuses = {status for status, _, _ in answers}
        assert statuses == {200, 422}


async def test_refusals_are_the_routes(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    await _fill(harness)
    refused = [
        {},
        _bearer(WRONG_KEY),
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": "Bearer"},
        {"Authorization": f"bearer  {KEY} "},  # accepted: the scheme's case, spaces around
        {**_bearer(KEY), "Content-Length": str(9 * 1024 * 1024)},  # a body over the limit
    ]
    async with _apps(harness) as (fast, slow, middleware):
        with _counting(middleware, 0):
            answers = [await _compare(fast, slow, "limit=2", h) for h in refused[:4]]
            answers.append(await _compare(fast, slow, "limit=2", refused[5]))
            # other methods on the path
            for method in ("HEAD", "POST", "PUT", "DELETE", "OPTIONS"):
                await _compare(fast, slow, "limit=2", _bearer(KEY), method)
        assert [a[0] for a in answers] == [401, 401, 401, 401, 413]
        with _counting(middleware, 1):
            assert (await _compare(fast, slow, "limit=2", refused[4]))[0] == 200
    # a role that may not read the list: 403 from the route, its body naming the role
    monkeypatch.setattr(roles, "ADMIN_READS", roles.ADMIN_READS | {LIST_PATH})
    async with _apps(harness) as (fast, slow, middleware):
        with _counting(middleware, 2):  # the admin key only
            for key in (VIEWER_KEY, OPERATOR_KEY):
                status, _, body = await _compare(fast, slow, "limit=2", _bearer(key))
                assert status == 403 and b'"required_role":"admin"' in body
            assert (await _compare(fast, slow, "limit=2", _bearer(KEY)))[0] == 200
            assert (await _compare(fast, slow, "after=garbage", _bearer(KEY)))[0] == 422


async def test_an_exempt_list_is_left_to_the_route(harness: Harness) -> None:
    await _fill(harness)
    async with _apps(harness, exempt=(LIST_PATH,)) as (fast, slow, middleware):
        with _counting(middleware, 0):
            for headers in ({}, _bearer(KEY), _bearer(WRONG_KEY)):
                assert (await _compare(fast, slow, "limit=2", headers))[0] == 200


async def test_a_store_fault_is_answered_by_the_apps_handler(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that cannot be read: the 503 with its Retry-After, as the route sends it."""
    from scheduler_core.errors import StoreUnavailable

    async def failing(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("disk_full", store="store.db", reason="database or disk is full")

    await _fill(harness)
    async with _apps(harness) as (fast, slow, middleware):
        monkeypatch.setattr(harness.store, "list_jobs", failing)
        with _counting(middleware, 1):
            status, raw, body = await _compare(fast, slow, "limit=2", _bearer(KEY))
        assert status == 503 and (b"retry-after", b"5") in raw and b"disk_full" in body
