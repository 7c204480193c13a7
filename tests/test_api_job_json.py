"""``GET /api/v1/schedule`` writes a page straight from the store's rows (job_json.direct_json):
the bytes must be those of the jobs built and shaped as before (``JobJson.page``), for every
kind of job, on SQLite and PostgreSQL, and no secret may be in them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler_core.api.job_json import JobJson, direct_json
from scheduler_core.jobspec import job_from_mapping
from scheduler_core.model import (
    CatchUp,
    HeartbeatSpec,
    JobDefinition,
    JobStatus,
    RunStatus,
    SessionMode,
    new_id,
)
from scheduler_core.store import JobStore, open_store
from scheduler_core.store._rows import JOB_COLUMNS
from scheduler_core.store.base import JobQuery
from tests.test_export import every_field_job

pytest_plugins = ("tests.pg",)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECRETS = ("hook-secret-1", "tok-secret-2", "jwt-secret-3", "cfg-secret-4")


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


def _job(name: str, **fields: object) -> JobDefinition:
    base = JobDefinition(
        id=new_id(),
        name=name,
        agent="a",
        cron="*/5 * * * *",
        next_run_at=T0 + timedelta(minutes=5),
        created_at=T0 - timedelta(hours=1, microseconds=7),
        updated_at=T0,
        source="api",
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def varied_jobs() -> list[JobDefinition]:
    """Every kind of job: plain, one-shot, chained, paused, failed, with every option, with
    secrets, text needing escapes, from the mapping path as users write them."""
    return [
        _job("plain"),
        _job("bare", next_run_at=None, source=None),
        _job("one-shot", cron=None, at=T0 + timedelta(days=1, microseconds=5)),
        _job("chained", cron=None, after="plain", next_run_at=None),
        _job("paused", status=JobStatus.PAUSED, next_run_at=None),
        _job("completed", status=JobStatus.COMPLETED, cron=None, at=T0, last_run_at=T0),
        _job(
            'failed "quoted" é ☃ \u2028',
            agent="agent \\ with\nnewline",
            status=JobStatus.DEAD_LETTER,
            last_run_at=T0 - timedelta(seconds=1),
            last_run_status=RunStatus.FAILED,
            last_error='boom "x"\n\x01 \u2028 ☃',
            run_count=12,
            failure_count=3,
        ),
        _job("succeeded", last_run_status=RunStatus.SUCCEEDED, last_run_at=T0, run_count=1),
        _job(
            "options",
            timezone="Europe/Berlin",
            session_mode=SessionMode.SHARED_PERSISTENT,
            catch_up=CatchUp.SKIP,
            max_concurrent=3,
            delivery=("slack", "email"),
        ),
        _job("default enums", session_mode=SessionMode.EPHEMERAL_WITH_SUMMARY, max_concurrent=1),
        _job("heartbeat", heartbeat=HeartbeatSpec(enabled=True, max_iterations=4)),
        _job("policies", policies=("night",), max_retries=2, jitter_seconds=0.5),
        _job("input", input="do the thing", misfire_grace_seconds=30.0),
        _job(
            "webhook",
            delivery=("webhook",),
            webhook_url=f"https://hooks.example.com/x?token={SECRETS[1]}",
            webhook_headers={"Authorization": f"Bearer {SECRETS[0]}"},
        ),
        _job("pinned", agent_pin_jwt=f"eyJ.{SECRETS[2]}.sig"),
        _job("custom channel", delivery=("pager",), delivery_config={"pager": {"key": SECRETS[3]}}),
        _job("alerts", on_failure=(), on_dead_letter=("slack",)),
        replace(every_field_job(), id=new_id(), name="every field", created_at=T0, updated_at=T0),
        replace(
            job_from_mapping({"name": "from-mapping", "agent_id": "x", "cron_expr": "0 9 * * 1-5"}),
            id=new_id(),
            created_at=T0,
            updated_at=T0,
        ),
    ]


#: the jobs written from their rows without being built (the others fall back)
DIRECT = {
    "plain",
    "bare",
    "one-shot",
    "chained",
    "paused",
    "completed",
    'failed "quoted" é ☃ \u2028',
    "succeeded",
    "options",
    "default enums",
    "from-mapping",
}


async def test_a_page_from_rows_is_the_page_from_jobs(store: JobStore) -> None:
    jobs = varied_jobs()
    await store.insert_jobs(jobs, [])
    built = await store.list_jobs(JobQuery(limit=100))
    assert len(built.jobs) == len(jobs) and built.encoded is None
    expected = JobJson().page(built.jobs)
    for _ in range(2):  # written, then the kept bytes
        encoder = JobJson()
        page = await store.list_jobs(JobQuery(limit=100, encode=encoder.row))
        assert page.jobs == [] and page.encoded is not None
        assert page.total == built.total and page.next_cursor == built.next_cursor
        assert encoder.joined(page.encoded) == expected
        assert encoder.joined(page.encoded) == encoder.joined(
            (await store.list_jobs(JobQuery(limit=100, encode=encoder.row))).encoded or []
        )
    for secret in SECRETS:
        assert secret.encode() not in expected
    # a cursor page too (the next page's rows are read by the index range)
    first = await store.list_jobs(JobQuery(limit=5))
    assert first.next_cursor is not None
    from scheduler_core.store.job_cursor import decode_cursor

    after = decode_cursor(first.next_cursor)
    rows = await store.list_jobs(JobQuery(limit=5, after=after, encode=JobJson().row))
    jobs_page = await store.list_jobs(JobQuery(limit=5, after=after))
    assert JobJson.joined(rows.encoded or []) == JobJson().page(jobs_page.jobs)


def test_which_jobs_are_written_from_their_rows(tmp_path: Path) -> None:
    """The direct path is taken for the plain jobs (so the comparison above tests it) and
    never for a job with a field it does not show (secrets among them)."""
    import asyncio
    import sqlite3

    async def fill() -> None:
        s = await open_store(str(tmp_path / "s.db"))
        await s.insert_jobs(varied_jobs(), [])
        await s.close()

    asyncio.run(fill())
    from scheduler_core.store.sqlite._sql import instant

    with sqlite3.connect(tmp_path / "s.db") as conn:
        rows = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs").fetchall()
    direct = {row[1] for row in rows if direct_json(row, instant) is not None}
    assert direct == DIRECT
    # a row that cannot be a key (a list, as some drivers give) is encoded alike, not kept
    encoder = JobJson()
    for row in rows:
        assert encoder.row(list(row), instant) == JobJson().row(row, instant)


def test_a_plain_cron_definition_is_written_as_parsing_it_writes_it(tmp_path: Path) -> None:
    """A cron job's definition of only agent, cron, name (and timezone) is written from its
    stored text without parsing it (``_PLAIN_CRON``): the same bytes as the same definition
    spelled so that it must be parsed, and as the job built, for every character a text may
    hold (those stored escaped are never taken as plain)."""
    import asyncio
    import json
    import sqlite3

    from scheduler_core.api.job_json import _PLAIN_CRON, job_out
    from scheduler_core.store._rows import job_from_row
    from scheduler_core.store.sqlite._sql import instant

    texts = {
        "spaces and * / , - ? : { } [ ] ' ` ~ < > = + ! @ # $ % ^ & ( )": True,
        "del \x7f end": False,  # stored as \\u007f
        "": True,
        'quote " inside': False,
        "back \\ slash": False,
        "new\nline": False,
        "tab\there": False,
        "control \x01": False,
        "é ☃ \u2028": False,
    }
    jobs = varied_jobs()
    for i, text in enumerate(texts):
        jobs.append(_job(f"n{i} {text}", agent=f"a {text}", cron="*/5 * * * *"))
        jobs.append(_job(f"z{i} {text}", agent="a", timezone=f"Europe/{text}"))

    async def fill() -> None:
        s = await open_store(str(tmp_path / "s.db"))
        await s.insert_jobs(jobs, [])
        await s.close()

    asyncio.run(fill())
    with sqlite3.connect(tmp_path / "s.db") as conn:
        rows = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs").fetchall()
    plain = set()
    encode = JobJson()._encode
    for row in rows:
        written = direct_json(row, instant)
        if _PLAIN_CRON.fullmatch(row[4]):
            plain.add(row[1])
            assert written is not None
        spelled = json.dumps(json.loads(row[4]), indent=1)  # parsed, never plain
        assert not _PLAIN_CRON.fullmatch(spelled)
        assert direct_json((*row[:4], spelled, *row[5:]), instant) == written
        if written is not None:
            assert written == encode(job_out(job_from_row(row, instant)))
    expected = {"plain", "bare", "paused", "succeeded", "default enums", "from-mapping"}
    for i, (text, verbatim) in enumerate(texts.items()):
        if verbatim:
            expected |= {f"n{i} {text}", f"z{i} {text}"}
    assert plain == expected
