"""Keyset (cursor) paging of the jobs list: the store on SQLite and PostgreSQL, the service's
checks, and ``GET /api/v1/schedule?after=`` over real HTTP (``Link`` and ``X-Next-Cursor``)."""

from __future__ import annotations

import random
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler_core.errors import ValidationError
from scheduler_core.model import JobDefinition, JobStatus, RunStatus, new_id
from scheduler_core.service import SchedulerService
from scheduler_core.store import JobStore, open_store
from scheduler_core.store.base import JobPage, JobQuery
from scheduler_core.store.job_cursor import JobCursor, decode_cursor, encode_cursor
from tests.conftest import Harness
from tests.keys import KEY
from tests.test_api import Api, serving

pytest_plugins = ("tests.pg",)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ORDERS = ["name", "next_run_at", "status", "agent", "last_run_at", "failure_count", "created_at"]
STATUSES = [JobStatus.ACTIVE, JobStatus.PAUSED, JobStatus.DEAD_LETTER, JobStatus.COMPLETED]


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[JobStore]:
    url = (
        str(tmp_path / "store.db")
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    s = await open_store(url)
    yield s
    await s.close()


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[Api]:
    async with serving(harness) as served:
        yield served


def make_job(rng: random.Random, name: str) -> JobDefinition:
    """A job whose order columns take few values (ties broken by name) and are often NULL."""

    def instant(minutes: int) -> datetime | None:
        pick = rng.randrange(minutes + 2)
        return None if pick == 0 else T0 + timedelta(minutes=pick, microseconds=rng.choice([0, 7]))

    return JobDefinition(
        id=new_id(),
        name=name,
        agent=rng.choice(["crawler", "writer", "Zeta", "a"]),
        cron="*/5 * * * *",
        status=rng.choice(STATUSES),
        next_run_at=instant(4),
        last_run_at=instant(3),
        last_run_status=RunStatus.SUCCEEDED,
        failure_count=rng.randrange(3),
        created_at=T0 - timedelta(hours=rng.randrange(3)),
        updated_at=T0,
        source="test",
    )


def names(rng: random.Random, n: int, prefix: str) -> list[str]:
    """``n`` names in no order, some upper case (they sort before lower case, byte order)."""
    return [
        f"{rng.choice(['', 'A', 'm', 'z'])}{prefix}{rng.randrange(10**6):06d}-{i}" for i in range(n)
    ]


async def walk(
    store: JobStore, rng: random.Random, query: JobQuery, *, add_between: int = 0
) -> tuple[list[str], set[str]]:
    """Every page by cursor; ``add_between`` new jobs inserted before each next page. The names
    seen in order, and the names added meanwhile."""
    seen: list[str] = []
    added: set[str] = set()
    page = await store.list_jobs(query)
    while True:
        assert len(page.jobs) <= query.limit
        seen += [j.name for j in page.jobs]
        if page.next_cursor is None:
            return seen, added
        assert len(page.jobs) == query.limit  # a short page is the last one
        if add_between:
            new = [make_job(rng, n) for n in names(rng, add_between, "new")]
            await store.insert_jobs(new, [])
            added |= {j.name for j in new}
        after = decode_cursor(page.next_cursor)
        page = await store.list_jobs(JobQuery(**{**_fields(query), "after": after}))


def _fields(query: JobQuery) -> dict[str, Any]:
    return {
        "status": query.status,
        "agent": query.agent,
        "text": query.text,
        "order": query.order,
        "descending": query.descending,
        "limit": query.limit,
    }


async def everything(store: JobStore, query: JobQuery) -> list[str]:
    """The whole list in the query's order, by offset in one page."""
    page = await store.list_jobs(JobQuery(**{**_fields(query), "limit": 100_000}))
    assert page.next_cursor is None
    return [j.name for j in page.jobs]


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("order", ORDERS)
async def test_cursor_walks_every_job_once_while_jobs_are_added(
    store: JobStore, order: str, descending: bool
) -> None:
    rng = random.Random(f"{order}{descending}")
    await store.insert_jobs([make_job(rng, n) for n in names(rng, 60, "job")], [])
    query = JobQuery(order=order, descending=descending, limit=7)
    before = await everything(store, query)
    seen, added = await walk(store, rng, query, add_between=3)
    assert len(seen) == len(set(seen)), "a job was listed twice"
    assert set(before) <= set(seen), f"skipped: {sorted(set(before) - set(seen))}"
    assert set(seen) - set(before) <= added
    assert added - set(seen), "no job was added behind the cursor: the test proves nothing"
    # and the walk is the store's order: the full list now, less the jobs added behind it
    assert seen == [n for n in await everything(store, query) if n in set(seen)]


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize("order", ["name", "next_run_at", "last_run_at", "failure_count"])
async def test_cursor_walks_a_filtered_list(store: JobStore, order: str, descending: bool) -> None:
    rng = random.Random(f"f{order}{descending}")
    await store.insert_jobs([make_job(rng, n) for n in names(rng, 80, "job")], [])
    for query in (
        JobQuery(status=JobStatus.PAUSED, order=order, descending=descending, limit=4),
        JobQuery(agent="writer", order=order, descending=descending, limit=5),
        JobQuery(text="B-", order=order, descending=descending, limit=3),  # no match
        JobQuery(text="OB0", order=order, descending=descending, limit=6),  # any case
        JobQuery(text="job", status=JobStatus.ACTIVE, order=order, descending=descending, limit=6),
    ):
        expected = await everything(store, query)
        seen, _ = await walk(store, rng, query)
        assert seen == expected, query


async def test_first_and_last_pages_and_offsets(store: JobStore) -> None:
    rng = random.Random(3)
    await store.insert_jobs([make_job(rng, f"j{i:02d}") for i in range(10)], [])
    page = await store.list_jobs(JobQuery(limit=10))
    assert len(page.jobs) == 10 and page.next_cursor is None and page.total == 10
    page = await store.list_jobs(JobQuery(limit=4, offset=4))  # offset paging as before
    assert [j.name for j in page.jobs] == ["j04", "j05", "j06", "j07"] and page.total == 10
    assert page.next_cursor is not None  # and it goes on by cursor from there
    cursor = decode_cursor(page.next_cursor)
    assert cursor == JobCursor("name", False, None, "j07")
    page = await store.list_jobs(JobQuery(limit=4, after=cursor))
    assert [j.name for j in page.jobs] == ["j08", "j09"] and page.next_cursor is None
    assert page.total == 10
    # a cursor past the end, or naming a job since removed: the jobs after its place
    page = await store.list_jobs(JobQuery(after=JobCursor("name", False, None, "j095")))
    assert [j.name for j in page.jobs] == []
    page = await store.list_jobs(
        JobQuery(after=JobCursor("name", True, None, "j055"), descending=True)
    )
    assert [j.name for j in page.jobs] == ["j05", "j04", "j03", "j02", "j01", "j00"]


def test_cursor_text_round_trips_and_refuses_what_it_did_not_make() -> None:
    for cursor in (
        JobCursor("name", False, None, "a b/ü"),
        JobCursor("next_run_at", True, "2026-03-02T09:00:00.000007Z", "x"),
        JobCursor("last_run_at", False, None, "x"),
        JobCursor("failure_count", True, 12, "x"),
        JobCursor("agent", False, "crawler", "'; DROP TABLE jobs"),
    ):
        text = encode_cursor(cursor)
        assert re.fullmatch(r"[A-Za-z0-9_-]+", text), text  # as is in a URL
        assert decode_cursor(text) == cursor
    bad = [
        "",
        "!!!",
        "x" * 5000,
        encode_cursor(JobCursor("name", False, None, "a"))[:-3],
        encode_cursor(JobCursor("bogus", False, None, "a")),
        encode_cursor(JobCursor("failure_count", False, "3", "a")),
        encode_cursor(JobCursor("status", False, None, "a")),
        encode_cursor(JobCursor("next_run_at", False, "yesterday", "a")),
        encode_cursor(JobCursor("name", False, "v", "a")),
        encode_cursor(JobCursor("agent", False, "a\x00", "a")),
    ]
    for text in bad:
        with pytest.raises(ValueError, match="not a cursor this server made"):
            decode_cursor(text)


async def test_service_checks_the_cursor(store: JobStore) -> None:
    service = SchedulerService(store)
    rng = random.Random(4)
    await store.insert_jobs([make_job(rng, f"j{i}") for i in range(5)], [])
    page = await service.list_jobs(limit=2, order="failure_count", descending=True)
    assert page.next_cursor is not None
    following = await service.list_jobs(
        limit=2, order="failure_count", descending=True, after=page.next_cursor
    )
    assert not {j.name for j in following.jobs} & {j.name for j in page.jobs}
    with pytest.raises(ValidationError, match="sorted by failure_count descending, not name") as e:
        await service.list_jobs(limit=2, after=page.next_cursor)
    assert e.value.field == "after"
    with pytest.raises(ValidationError) as e:
        await service.list_jobs(after="garbage!")
    assert e.value.field == "after"
    with pytest.raises(ValidationError) as e:
        await service.list_jobs(
            order="failure_count", descending=True, offset=2, after=page.next_cursor
        )
    assert e.value.field == "offset"


# --- over HTTP ------------------------------------------------------------------------------------


def _next_link(response: Any) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert match, link
    return match.group(1)


async def test_api_walks_by_link_header(api: Api) -> None:
    service = api.harness.service
    await service.add_jobs(
        [{"name": f"job-{i:03d}", "agent": f"a{i % 3}", "cron": "0 0 1 1 *"} for i in range(25)]
    )
    first = await api.client.get("/api/v1/schedule?limit=5&agent_id=a1&order=agent&desc=true")
    assert first.status_code == 200 and first.headers["X-Total-Count"] == "8"
    link = _next_link(first)
    assert link is not None and first.headers["X-Next-Cursor"] in link
    assert link.startswith("/api/v1/schedule?") and "agent_id=a1" in link and "desc=true" in link
    second = await api.client.get(link)
    assert [j["name"] for j in first.json() + second.json()] == [
        f"job-{i:03d}" for i in range(22, 0, -3)
    ]
    assert _next_link(second) is None
    # all 25 by pages of 10: the body stays a list, the Link goes on until the last page
    url: str | None = "/api/v1/schedule?limit=10"
    walked = []
    pages = 0
    while url is not None:
        response = await api.client.get(url)
        assert response.status_code == 200, response.text
        total = response.headers["X-Total-Count"]
        assert isinstance(response.json(), list) and total == ("27" if pages else "25")
        walked += [j["name"] for j in response.json()]
        url = _next_link(response)
        assert (url is None) == ("X-Next-Cursor" not in response.headers)
        pages += 1
        if pages == 1:  # a job added behind the cursor, one ahead of it
            await service.add_job({"name": "job-000a", "agent": "a0", "cron": "0 0 1 1 *"})
            await service.add_job({"name": "job-999", "agent": "a0", "cron": "0 0 1 1 *"})
    assert pages == 3
    assert walked == [f"job-{i:03d}" for i in range(25)] + ["job-999"]
    # offset paging as before, with the next page's cursor
    by_offset = await api.client.get("/api/v1/schedule?limit=5&offset=20")
    assert [j["name"] for j in by_offset.json()] == [f"job-{i:03d}" for i in range(19, 24)]
    link = _next_link(by_offset)
    assert link is not None and "offset" not in link
    rest = await api.client.get(link)
    assert [j["name"] for j in rest.json()] == ["job-024", "job-999"]
    assert "Link" not in rest.headers and "X-Next-Cursor" not in rest.headers


async def test_api_refuses_a_bad_cursor_with_422_naming_after(api: Api) -> None:
    await api.harness.service.add_jobs(
        [{"name": f"job-{i}", "agent": "a", "cron": "0 0 1 1 *"} for i in range(3)]
    )
    first = await api.client.get("/api/v1/schedule?limit=1&order=next_run_at")
    cursor = first.headers["X-Next-Cursor"]
    for query, field in (
        ("after=not-a-cursor", "after"),
        ("after=" + "A" * 5000, "after"),
        (f"after={cursor}", "after"),  # made for next_run_at, asked for name
        (f"after={cursor}&order=next_run_at&desc=true", "after"),
        (f"after={cursor}&order=next_run_at&offset=1", "offset"),
    ):
        response = await api.client.get(f"/api/v1/schedule?{query}")
        assert response.status_code == 422, (query, response.text)
        assert response.json()["field"] == field, response.json()
    ok = await api.client.get(f"/api/v1/schedule?order=next_run_at&after={cursor}")
    assert ok.status_code == 200 and len(ok.json()) == 2


async def test_remote_and_local_pages_carry_the_cursor(api: Api, harness: Harness) -> None:
    from symbi_tui.remote import RemoteBackend

    await harness.service.add_jobs(
        [{"name": f"job-{i:02d}", "agent": "a", "cron": "0 0 1 1 *"} for i in range(7)]
    )
    remote = RemoteBackend(api.url, api_key=KEY)
    try:
        page: JobPage = await remote.list_jobs(limit=3, order="name")
        names_seen = [j.name for j in page.jobs]
        while page.next_cursor is not None:
            page = await remote.list_jobs(limit=3, order="name", after=page.next_cursor)
            names_seen += [j.name for j in page.jobs]
        assert names_seen == [f"job-{i:02d}" for i in range(7)] and page.total == 7
    finally:
        await remote.aclose()


async def test_api_body_is_what_jsonresponse_sent_and_never_stale(api: Api) -> None:
    """Jobs are encoded once and kept: the bytes must be JSONResponse's, and a job changed in
    any column (a pause, a run's end, which leaves updated_at alone) is sent as it is now."""
    import json

    from scheduler_core.api.job_json import job_out

    service = api.harness.service
    await service.add_job({"name": "plain", "agent": "a", "cron": "0 0 1 1 *"})
    await service.add_job(
        {
            "name": "rich",
            "agent": "a",
            "cron": "0 0 1 1 *",
            "timezone": "Europe/Berlin",
            "delivery": ["webhook"],
            "webhook_url": "https://hooks.example.com/x?token=abc",
            "webhook_headers": {"X-Key": "k"},
            "policy": {"require_approval": True, "approvers": ["ops"]},
            "heartbeat": {"enabled": True, "max_iterations": 3},
            "input": 'a "quoted"\n\x01 \u2028 ☃ ï input',
            "jitter_seconds": 0.1,
        }
    )

    async def listed() -> tuple[bytes, list[dict[str, Any]]]:
        response = await api.client.get("/api/v1/schedule?limit=10")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        return response.content, response.json()

    for _ in range(2):  # encoded, then from what was kept
        body, items = await listed()
        page = await service.list_jobs(limit=10)
        expected = json.dumps(
            [job_out(j) for j in page.jobs],
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
        ).encode()
        assert body == expected
    assert [i["status"] for i in items] == ["active", "active"]
    before = items[0]
    await service.run_now("plain")
    await api.harness.settle()
    _, items = await listed()
    assert items[0]["updated_at"] == before["updated_at"]  # the run left it alone...
    assert items[0]["last_run_at"] is not None and before["last_run_at"] is None  # ...not these
    assert items[0]["run_count"] == before["run_count"] + 1
    await service.pause_job("plain")
    _, items = await listed()
    assert items[0]["name"] == "plain" and items[0]["status"] == "paused"


async def test_totals_follow_every_change_that_moves_them(store: JobStore) -> None:
    """Totals are kept between calls: each filter's must move with what moves it."""
    service = SchedulerService(store)
    await service.add_jobs(
        [{"name": f"j{i}", "agent": "a" if i % 2 else "b", "cron": "0 0 1 1 *"} for i in range(6)]
    )

    async def totals() -> tuple[int, ...]:
        return (
            (await service.list_jobs(limit=1)).total,
            (await service.list_jobs(limit=1, status="paused")).total,
            (await service.list_jobs(limit=1, agent="a")).total,
            (await service.list_jobs(limit=1, text="j1")).total,
        )

    assert await totals() == (6, 0, 3, 1)
    await service.pause_job("j1")
    assert await totals() == (6, 1, 3, 1)
    await service.update_job("j1", {"agent": "b"})
    assert await totals() == (6, 1, 2, 1)
    await service.update_job("j3", {"name": "j10"})
    assert await totals() == (6, 1, 2, 2)
    await service.remove_job("j0")
    await service.add_job({"name": "j11", "agent": "a", "cron": "0 0 1 1 *"})
    assert await totals() == (6, 1, 3, 3)
    await service.remove_job("j5")
    assert await totals() == (5, 1, 2, 3)


@pytest.mark.parametrize("shape", ["every field", "bare", "chained", "one-shot"])
def test_job_out_is_what_response_model_jobout_sends(shape: str) -> None:
    """The list skips JobOut's validation: what it sends must be what JobOut would have made
    of it (the same keys in the same order, the same values)."""
    from dataclasses import replace

    from scheduler_core.api.job_json import JobJson, job_out
    from scheduler_core.api.schemas import JobOut
    from tests.test_export import every_field_job

    job = {
        "every field": every_field_job(),
        "bare": JobDefinition(name="x", agent="y"),
        "chained": replace(every_field_job(), cron=None, after="extract", last_error="é\n"),
        "one-shot": replace(every_field_job(), cron=None, at=T0, next_run_at=T0, last_run_at=T0),
    }[shape]
    out = job_out(job)
    validated = JobOut.model_validate(out).model_dump(mode="json")
    assert list(out) == list(validated) and out == validated
    assert JobJson().page([job, job]) == (b"[" + b",".join([JobJson().job(job)] * 2) + b"]")
