"""The HTTP API, served for real by uvicorn on 127.0.0.1 inside the test's event loop.

The engine behind it runs on a fake clock (tests/conftest.py), so schedules never wait on wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from scheduler_core.access import Principal, Role
from scheduler_core.api import ApiKeys, ApiServer, create_app, local_api_key, resolve_api_keys
from scheduler_core.api.auth import new_api_key
from scheduler_core.config import ApiConfig, SchedulerConfig
from scheduler_core.errors import ConfigError
from scheduler_core.metrics import Metrics
from scheduler_core.service import SchedulerService
from tests.conftest import Harness
from tests.keys import KEY

AUTH = {"Authorization": f"Bearer {KEY}"}


@dataclass
class Api:
    client: httpx.AsyncClient
    server: ApiServer
    harness: Harness
    metrics: Metrics

    @property
    def url(self) -> str:
        return self.server.url


@contextlib.asynccontextmanager
async def serving(
    harness: Harness, *, config: SchedulerConfig | None = None, heartbeat: float = 15.0
) -> AsyncIterator[Api]:
    """The API over ``harness``'s service, on a free port, with a client holding the key."""
    metrics = Metrics()
    metrics.start(harness.engine.bus)
    app = create_app(
        harness.service,
        config=config or harness.service.config,
        metrics=metrics,
        keys=ApiKeys.of([KEY]),
        heartbeat_seconds=heartbeat,
    )
    server = ApiServer(app)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=10) as client:
            yield Api(client, server, harness, metrics)
    finally:
        await server.stop()
        await metrics.stop()


@pytest.fixture
async def api(harness: Harness) -> AsyncIterator[Api]:
    async with serving(harness) as served:
        yield served


GUIDE_JOB = {
    "name": "hourly-report",
    "agent_id": "reporter",
    "cron_expr": "0 * * * *",
    "session_mode": "ephemeral_with_summary",
    "delivery": ["stdout"],
}


async def create(api: Api, **fields: Any) -> dict[str, Any]:
    body = {**GUIDE_JOB, **fields}
    response = await api.client.post("/api/v1/schedule", json=body)
    assert response.status_code == 201, response.text
    return response.json()


# --- the guide's curl calls ---------------------------------------------------------------------


async def test_guide_curl_calls(api: Api) -> None:
    c = api.client
    # POST /api/v1/schedule
    job = await create(api)
    assert job["name"] == "hourly-report" and job["agent_id"] == "reporter"
    assert job["cron_expr"] == "0 * * * *" and job["status"] == "active"
    assert job["next_run"] == "2026-03-02T09:00:00.000000Z"
    job_id = job["id"]
    # GET /api/v1/schedule?status=active&agent_id=reporter
    await create(api, name="other", agent_id="someone-else")
    listed = await c.get("/api/v1/schedule", params={"status": "active", "agent_id": "reporter"})
    assert listed.status_code == 200
    assert [j["name"] for j in listed.json()] == ["hourly-report"]
    assert listed.headers["X-Total-Count"] == "1"
    # GET /api/v1/schedule/{job_id}: by id, by unique id prefix and by name
    for ref in (job_id, job_id[:12], "hourly-report"):
        got = await c.get(f"/api/v1/schedule/{ref}")
        assert got.status_code == 200 and got.json()["id"] == job_id
    # PUT /api/v1/schedule/{job_id}
    put = await c.put(f"/api/v1/schedule/{job_id}", json={"cron_expr": "0 */2 * * *"})
    assert put.status_code == 200
    assert put.json()["cron_expr"] == "0 */2 * * *"
    assert put.json()["next_run"] == "2026-03-02T10:00:00.000000Z"
    assert put.json()["delivery"] == ["stdout"]  # untouched fields stay
    # POST pause / resume
    paused = await c.post(f"/api/v1/schedule/{job_id}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    resumed = await c.post(f"/api/v1/schedule/{job_id}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"
    # POST run with custom input
    run = await c.post(f"/api/v1/schedule/{job_id}/run", json={"input": "Run with custom input"})
    assert run.status_code == 202
    assert run.json()["status"] == "queued" and run.json()["input"] == "Run with custom input"
    await api.harness.settle()
    assert api.harness.agents.calls[-1].input == "Run with custom input"
    # GET history?limit=20&status=...
    history = await c.get(f"/api/v1/schedule/{job_id}/history", params={"limit": 20})
    assert history.status_code == 200
    (entry,) = history.json()
    assert entry["id"] == run.json()["id"] and entry["status"] == "succeeded"
    assert entry["execution_time_ms"] is not None and entry["output"] == "ok hourly-report"
    failed = await c.get(f"/api/v1/schedule/{job_id}/history?limit=20&status=failed")
    assert failed.status_code == 200 and failed.json() == []
    # GET next_run
    nxt = await c.get(f"/api/v1/schedule/{job_id}/next_run")
    assert nxt.status_code == 200
    assert nxt.json()["next_run"] == "2026-03-02T10:00:00.000000Z"
    assert nxt.json()["next_runs"][:2] == [
        "2026-03-02T10:00:00.000000Z",
        "2026-03-02T12:00:00.000000Z",
    ]
    # GET /api/v1/health/scheduler: the guide's shape
    health = (await c.get("/api/v1/health/scheduler")).json()
    assert health["status"] == "healthy"
    assert (health["active_jobs"], health["paused_jobs"], health["in_flight_jobs"]) == (2, 0, 0)
    assert set(health["metrics"]) == {
        "runs_total",
        "runs_succeeded",
        "runs_failed",
        "avg_execution_time_ms",
    }
    assert health["metrics"]["runs_succeeded"] == 1
    # DELETE
    deleted = await c.delete(f"/api/v1/schedule/{job_id}")
    assert deleted.status_code == 200
    assert deleted.json() == {"job_id": job_id, "name": "hourly-report", "deleted": True}
    assert (await c.get(f"/api/v1/schedule/{job_id}")).status_code == 404


async def test_scheduled_fire_is_visible_through_the_api(api: Api) -> None:
    await create(api, cron_expr="* * * * *")
    await api.harness.to("2026-03-02T09:00:00Z")
    runs = (await api.client.get("/api/v1/runs", params={"job": "hourly-report"})).json()
    assert [(r["trigger"], r["status"]) for r in runs] == [("schedule", "succeeded")]
    one = await api.client.get(f"/api/v1/runs/{runs[0]['id']}")
    assert one.status_code == 200 and one.json()["scheduled_for"] == "2026-03-02T09:00:00.000000Z"
    iterations = await api.client.get(f"/api/v1/runs/{runs[0]['id']}/iterations")
    assert iterations.status_code == 200 and iterations.json() == []


async def test_reset_returns_a_dead_lettered_job_to_active(api: Api) -> None:
    api.harness.agents.fail("flaky")
    await create(api, name="flaky-job", agent_id="flaky", max_retries=1)
    await api.client.post("/api/v1/schedule/flaky-job/run")
    await api.harness.settle()
    job = (await api.client.get("/api/v1/schedule/flaky-job")).json()
    assert job["status"] == "dead_letter" and job["last_error"] == "boom"
    dead = await api.client.get("/api/v1/schedule", params={"status": "dead_letter"})
    assert [j["name"] for j in dead.json()] == ["flaky-job"]
    resumed = await api.client.post("/api/v1/schedule/flaky-job/resume")
    assert resumed.status_code == 409 and "reset it instead" in resumed.json()["error"]
    reset = await api.client.post("/api/v1/schedule/flaky-job/reset")
    assert reset.status_code == 200
    assert (reset.json()["status"], reset.json()["failure_count"]) == ("active", 0)


async def test_audit_log_names_the_api_key_and_filters(api: Api) -> None:
    await create(api)
    await api.client.post("/api/v1/schedule/hourly-report/pause")
    events = (await api.client.get("/api/v1/audit")).json()
    kinds = [e["type"] for e in events]
    assert "CronJobCreated" in kinds and "CronJobPaused" in kinds
    mine = [e for e in events if e["type"] in ("CronJobCreated", "CronJobPaused")]
    assert {e["actor"] for e in mine} == {"key-1"}  # the key's name, never its value
    paused = await api.client.get(
        "/api/v1/audit", params={"type": "CronJobPaused", "since": "2026-03-01", "limit": 5}
    )
    assert [e["type"] for e in paused.json()] == ["CronJobPaused"]
    assert paused.json()[0]["details"]["job_name"] == "hourly-report"
    by_job = await api.client.get("/api/v1/audit", params={"job": "hourly-report"})
    assert {e["type"] for e in by_job.json()} == {"CronJobCreated", "CronJobPaused"}
    later = await api.client.get("/api/v1/audit", params={"since": "2026-03-03T00:00:00Z"})
    assert later.json() == []
    typo = await api.client.get("/api/v1/audit", params={"type": "CronJobPause"})
    assert typo.status_code == 422 and typo.json()["field"] == "type"
    assert "CronJobPaused" in typo.json()["error"]


async def test_secrets_never_leave_in_responses(api: Api) -> None:
    secret = "s3cr3t-webhook-token"
    jwt = "eyJhbGciOiJFUzI1NiJ9.payload-secret.signature"
    await create(
        api,
        delivery=["webhook"],
        webhook_url=f"https://hooks.example.com/ingest?token={secret}",
        webhook_headers={"Authorization": f"Bearer {secret}"},
        agent_pin_jwt=jwt,
    )
    texts = [
        (await api.client.get(path)).text
        for path in (
            "/api/v1/schedule",
            "/api/v1/schedule/hourly-report",
            "/api/v1/schedules",
            "/api/v1/audit",
        )
    ]
    updated = await api.client.put(
        "/api/v1/schedule/hourly-report", json={"webhook_headers": {"X-Key": secret}}
    )
    texts.append(updated.text)
    for text in texts:
        assert secret not in text and "payload-secret" not in text
    assert updated.json()["webhook_headers"] == {"X-Key": "****"}


async def test_a_listed_job_is_the_job_as_get_shows_it(api: Api) -> None:
    """The list is sent without validating each item again: it must match GET's shape exactly."""
    await create(api, name="plain")
    await create(
        api,
        name="rich",
        timezone="Europe/Berlin",
        delivery=["webhook", "stdout"],
        webhook_url="https://hooks.example.com/x?token=abc",
        webhook_headers={"X-Key": "k"},
        max_retries=7,
        max_concurrent=2,
        jitter_seconds=5,
        policy={"require_approval": True, "approvers": ["ops"]},
        heartbeat={"enabled": True, "max_iterations": 3},
        input="hello",
    )
    await create(api, name="once", cron_expr=None, at="2030-01-01T00:00:00Z")
    listed = await api.client.get("/api/v1/schedule")
    assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "3"
    for item in listed.json():
        single = (await api.client.get(f"/api/v1/schedule/{item['id']}")).json()
        assert list(item) == list(single) and item == single, item["name"]


# --- errors ---------------------------------------------------------------------------------------


async def test_error_codes_and_bodies(api: Api) -> None:
    c = api.client
    await create(api)

    async def check(response: httpx.Response, status: int, code: str, field: str | None) -> None:
        assert response.status_code == status, response.text
        body = response.json()
        assert (body["code"], body["field"]) == (code, field), body
        assert body["error"]

    # 400: not JSON
    await check(
        await c.post(
            "/api/v1/schedule", content=b"{nope", headers={"Content-Type": "application/json"}
        ),
        400,
        "invalid_json",
        "body",
    )
    # 422: a JSON value that is not an object
    await check(await c.post("/api/v1/schedule", json=[1, 2]), 422, "validation_error", "body")
    # 422: every problem of a job body, each with its field
    bad = await c.post(
        "/api/v1/schedule",
        json={"name": "x y", "agent_id": "a", "cron_expr": "61 * * * *", "colour": "red"},
    )
    await check(bad, 422, "validation_error", "colour")  # the first problem found
    fields = {e["field"] for e in bad.json()["details"]["errors"]}
    assert fields == {"name", "cron_expr", "colour"}
    assert "minute" in bad.text and "61" in bad.text
    # 422: query parameters
    await check(await c.get("/api/v1/schedule?status=sleeping"), 422, "validation_error", "status")
    await check(await c.get("/api/v1/schedule?limit=0"), 422, "validation_error", "limit")
    await check(
        await c.get("/api/v1/schedule/hourly-report/history?limit=abc"),
        422,
        "validation_error",
        "limit",
    )
    since = await c.get("/api/v1/audit?since=yesterday")
    await check(since, 422, "validation_error", "since")
    assert "ISO 8601" in since.json()["error"]
    await check(
        await c.post("/api/v1/schedule/hourly-report/run", json={"input": 5}),
        422,
        "validation_error",
        "input",
    )
    await check(
        await c.post("/api/v1/schedule/hourly-report/run", json={"inpt": "x"}),
        422,
        "validation_error",
        "inpt",
    )
    await check(
        await c.put("/api/v1/schedule/hourly-report", json={"timezone": "Mars/Olympus"}),
        422,
        "validation_error",
        "timezone",
    )
    # 413: a body beyond 8 MiB is refused unread
    huge = await c.post("/api/v1/schedule", json={**GUIDE_JOB, "input": "x" * 9_000_000})
    await check(huge, 413, "too_large", None)
    # 404: job, run, path; with a suggestion for a near name
    missing = await c.get("/api/v1/schedule/hourly-reprot")
    await check(missing, 404, "not_found", None)
    assert missing.json()["details"]["suggestion"] == "hourly-report"
    await check(await c.get("/api/v1/runs/nope"), 404, "not_found", None)
    await check(await c.get("/api/v1/nothing-here"), 404, "not_found", None)
    # 405 names what the path serves
    wrong = await c.patch("/api/v1/schedule/hourly-report")
    await check(wrong, 405, "method_not_allowed", None)
    assert wrong.headers["Allow"] == "DELETE, GET, PUT"
    # 409: state conflicts and duplicate names
    await check(await c.post("/api/v1/schedule/hourly-report/resume"), 409, "conflict", None)
    await check(await c.post("/api/v1/schedule", json=GUIDE_JOB), 409, "conflict", None)


async def test_hostile_values_are_rejected_not_crashed(api: Api) -> None:
    c = api.client
    for ref in ("..%2F..%2Fetc%2Fpasswd", "%00", "' OR 1=1 --", "%25", "_" * 200):
        response = await c.get(f"/api/v1/schedule/{ref}")
        assert response.status_code in (404, 422), (ref, response.text)
        body = response.json()
        expected = {404: "not_found", 422: "validation_error"}[response.status_code]
        assert body["code"] == expected, (ref, body)
        assert body["error"], (ref, body)
    for body, field in (
        ({"name": "a\x00b", "agent_id": "x", "cron_expr": "* * * * *"}, "name"),
        ({"name": "n", "agent_id": "x", "cron_expr": "* * * * * *"}, "cron_expr"),
        ({"name": "n", "agent_id": "x", "at": "9999-12-31T23:59:59-01:00"}, "at"),
        # no schedule at all: reported under ``cron``, the DSL's name the API also accepts
        ({"name": "n", "agent_id": "x", "cron_expr": None, "at": None}, "cron"),
        ({"name": "n", "agent_id": "x", "cron_expr": "@reboot"}, "cron_expr"),
        (
            {"name": "n", "agent_id": "x", "cron_expr": "* * * * *", "max_concurrent": 10**30},
            "max_concurrent",
        ),
        (
            {"name": "n", "agent_id": "x", "cron_expr": "* * * * *", "policy": {"max_runtime": -1}},
            "policy.max_runtime",
        ),
    ):
        response = await c.post("/api/v1/schedule", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"], response.text
        error = response.json()
        assert (error["code"], error["field"]) == ("validation_error", field), error
        assert error["error"].startswith(f"{field}: "), error  # the message names the field
    audit = await c.get("/api/v1/audit", params={"limit": 10**30})
    assert audit.status_code == 422
    error = audit.json()
    assert (error["code"], error["field"]) == ("validation_error", "limit"), error
    assert error["error"].startswith("limit: "), error
    assert (await c.get("/api/v1/schedule")).json() == []  # nothing was added


# --- authentication -------------------------------------------------------------------------------


async def test_auth_required_except_exempt_paths(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as anonymous:
        for path in ("/api/v1/schedule", "/api/v1/audit", "/openapi.json", "/api/v1/schedules"):
            response = await anonymous.get(path)
            assert response.status_code == 401, path
            assert response.json()["code"] == "unauthorized"
            assert response.headers["WWW-Authenticate"] == "Bearer"
        wrong = await anonymous.get(
            "/api/v1/schedule", headers={"Authorization": "Bearer not-the-key"}
        )
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid API key"
        basic = await anonymous.get("/api/v1/schedule", headers={"Authorization": f"Basic {KEY}"})
        assert basic.status_code == 401
        assert basic.json()["code"] == "unauthorized", basic.text
        assert basic.json()["error"] == "invalid API key"
        assert basic.headers["WWW-Authenticate"] == "Bearer"
        lower = await anonymous.get("/api/v1/schedule", headers={"Authorization": f"bearer {KEY}"})
        assert lower.status_code == 200
        # a wrong key changes nothing
        post = await anonymous.post("/api/v1/schedule", json=GUIDE_JOB)
        assert post.status_code == 401
        assert post.json()["code"] == "unauthorized", post.text
        assert post.json()["error"].startswith("missing API key"), post.text
        assert (await api.client.get("/api/v1/schedule")).json() == []
        # the exempt paths: the guide's health check and the metrics scrape
        health = await anonymous.get("/api/v1/health/scheduler")
        assert health.status_code == 200
        assert health.json()["status"] == "healthy", health.text
        scrape = await anonymous.get("/metrics")
        assert scrape.status_code == 200
        assert scrape.headers["content-type"].startswith("text/plain")
        assert "# HELP symbiont_cron_runs_total" in scrape.text


async def test_auth_exempt_paths_are_configurable(harness: Harness) -> None:
    config = replace(harness.service.config, api=ApiConfig(auth_exempt=()))
    async with serving(harness, config=config) as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as anonymous:
            for path in ("/api/v1/health/scheduler", "/metrics"):
                refused = await anonymous.get(path)
                assert refused.status_code == 401, path
                assert refused.json()["code"] == "unauthorized", (path, refused.text)
                assert refused.headers["WWW-Authenticate"] == "Bearer"
        scrape = await api.client.get("/metrics")
        assert scrape.status_code == 200
        assert "# HELP symbiont_cron_runs_total" in scrape.text


async def test_an_exempt_path_is_exempt_for_reads_only(harness: Harness) -> None:
    """An operator who exempts a path from keys exempts its reads: a change there still needs a
    key with the role (a 401 without one)."""
    exempt = ("/api/v1/schedule",)
    config = replace(harness.service.config, api=ApiConfig(auth_exempt=exempt))
    async with serving(harness, config=config) as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as anonymous:
            assert (await anonymous.get("/api/v1/schedule")).status_code == 200
            refused = await anonymous.post("/api/v1/schedule", json=GUIDE_JOB)
            assert refused.status_code == 401, refused.text
            assert "exempt from authentication for reads only" in refused.json()["error"]
            assert "needs the admin role" in refused.json()["error"]
        assert (await api.client.post("/api/v1/schedule", json=GUIDE_JOB)).status_code == 201


def test_api_keys_check_in_constant_time_shape() -> None:
    alpha, beta = "alpha-0123456789abcdef", "beta-0123456789abcdef"
    keys = ApiKeys.of([alpha, beta, alpha])
    assert len(keys.entries) == 2
    assert keys.check(f"Bearer {beta}") == Principal("key-2", Role.ADMIN)
    assert keys.check(f"Bearer  {alpha} ") == Principal("key-1", Role.ADMIN)
    for header in (None, "", "Bearer", "Bearer ", "Bearer gamma", f"Token {alpha}", alpha):
        assert keys.check(header) is None
    assert alpha not in repr(keys) and beta not in repr(keys)


def test_generated_key_file_is_private_and_stable(tmp_path: Path) -> None:
    config = SchedulerConfig(data_dir=str(tmp_path / "data"))
    keys = resolve_api_keys(config)
    path = tmp_path / "data" / "api-key"
    assert keys.generated == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text().strip()
    assert len(key) >= 32 and keys.check(f"Bearer {key}") == Principal("local", Role.ADMIN)
    assert local_api_key(config) == key
    again = resolve_api_keys(config)
    assert again.entries == keys.entries  # the same key on the next start
    os.chmod(path, 0o644)
    resolve_api_keys(config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # tightened back


def test_generated_keys_never_look_like_an_option() -> None:
    """A key starting with "-" was read by ``--api-key KEY`` as an option (one bare token in 64
    did: 2,000 of them include one with near certainty)."""
    keys = {new_api_key() for _ in range(2000)}
    assert len(keys) == 2000
    assert all(k.startswith("symbi_") and len(k) == 49 for k in keys)
    assert not any(k.startswith("-") for k in keys)


def test_configured_keys_win_and_non_loopback_needs_one(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    configured = SchedulerConfig(data_dir=data, api=ApiConfig(api_keys=(KEY,), host="0.0.0.0"))
    keys = resolve_api_keys(configured)
    assert keys.check(f"Bearer {KEY}") and keys.generated is None
    assert not (tmp_path / "data" / "api-key").exists()
    assert local_api_key(configured) == KEY
    for host in ("0.0.0.0", "::", "192.0.2.10", "example.com"):
        exposed = SchedulerConfig(data_dir=data, api=ApiConfig(host=host))
        with pytest.raises(ConfigError) as err:
            resolve_api_keys(exposed)
        assert "api.api_keys" in str(err.value) and "SYMBI_API_KEY" in str(err.value)
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert resolve_api_keys(SchedulerConfig(data_dir=data, api=ApiConfig(host=host)))


# --- the event stream -----------------------------------------------------------------------------


async def read_events(lines: AsyncIterator[str], until: Any, limit: int = 50) -> list[dict]:
    """Parse SSE frames until ``until(event)`` holds; comments become ``{"comment": ...}``."""
    events: list[dict] = []
    frame: dict[str, Any] = {}
    async for line in lines:
        if line.startswith(":"):
            frame.setdefault("comment", line[1:].strip())
        elif ":" in line:
            name, _, value = line.partition(":")
            frame[name] = value.strip()
        elif not line and frame:
            if "data" in frame:
                frame["data"] = json.loads(frame["data"])
            events.append(frame)
            if until(frame) or len(events) >= limit:
                return events
            frame = {}
    return events


async def test_event_stream_carries_runs_jobs_and_audit(api: Api) -> None:
    await create(api)
    async with api.client.stream("GET", "/api/v1/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        hello = await asyncio.wait_for(read_events(lines, lambda e: True), 5)
        assert hello[0]["comment"] == "connected"  # subscribed: nothing is missed after this
        await api.client.post("/api/v1/schedule/hourly-report/run", json={"input": "hi"})
        await api.harness.settle()

        def done(e: dict) -> bool:
            return e.get("event") == "run" and e["data"]["status"] == "succeeded"

        events = await asyncio.wait_for(read_events(lines, done), 5)
    kinds = {e["event"] for e in events}
    assert {"run", "job", "audit"} <= kinds
    statuses = [e["data"]["status"] for e in events if e["event"] == "run"]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded"
    audit = [e["data"]["type"] for e in events if e["event"] == "audit"]
    assert "CronJobTriggered" in audit
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids)


async def test_event_stream_filters_and_keeps_alive(harness: Harness) -> None:
    async with serving(harness, heartbeat=0.05) as api:
        bad = await api.client.get("/api/v1/events", params={"types": "run,gossip"})
        assert bad.status_code == 422 and bad.json()["field"] == "types"
        await create(api)
        async with api.client.stream("GET", "/api/v1/events?types=audit") as response:
            lines = response.aiter_lines()
            await asyncio.wait_for(read_events(lines, lambda e: True), 5)
            await api.client.post("/api/v1/schedule/hourly-report/pause")
            events = await asyncio.wait_for(read_events(lines, lambda e: "event" in e), 5)
            assert events[-1]["event"] == "audit"
            assert events[-1]["data"]["type"] == "CronJobPaused"
            assert all("event" not in e or e["event"] == "audit" for e in events)
            alive = await asyncio.wait_for(read_events(lines, lambda e: True), 5)
            assert alive[0]["comment"] == "keep-alive"


async def test_server_stops_promptly_with_open_streams(harness: Harness) -> None:
    async with serving(harness) as api, api.client.stream("GET", "/api/v1/events") as response:
        lines = response.aiter_lines()
        await asyncio.wait_for(read_events(lines, lambda e: True), 5)
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(api.server.stop(), 5)
        assert asyncio.get_running_loop().time() - started < 2
        rest = [line async for line in lines]  # the stream ended
        assert not any(line.startswith("data:") for line in rest)


# --- approvals ------------------------------------------------------------------------------------


def test_service_offers_approvals() -> None:
    """The approval endpoints stand on these; a rename must fail here, not skip the tests."""
    for name in ("pending_approvals", "approve", "deny"):
        assert callable(getattr(SchedulerService, name, None)), name


async def parked_run(api: Api, name: str) -> dict[str, Any]:
    await create(api, name=name, policy={"require_approval": True})
    run = (await api.client.post(f"/api/v1/schedule/{name}/run")).json()
    await api.harness.settle()
    return run


async def test_approve_and_deny_parked_runs(api: Api) -> None:
    first = await parked_run(api, "deploy")
    second = await parked_run(api, "migrate")
    pending = (await api.client.get("/api/v1/approvals")).json()
    assert {r["id"] for r in pending} == {first["id"], second["id"]}
    assert {r["status"] for r in pending} == {"awaiting_approval"}
    approved = await api.client.post(
        f"/api/v1/runs/{first['id']}/approve", json={"reason": "change ticket 42"}
    )
    assert approved.status_code == 200, approved.text
    denied = await api.client.post(f"/api/v1/runs/{second['id']}/deny")
    assert denied.status_code == 200, denied.text
    await api.harness.settle()
    assert (await api.client.get(f"/api/v1/runs/{first['id']}")).json()["status"] == "succeeded"
    assert (await api.client.get(f"/api/v1/runs/{second['id']}")).json()["status"] == "denied"
    assert (await api.client.get("/api/v1/approvals")).json() == []
    again = await api.client.post(f"/api/v1/runs/{first['id']}/approve")
    assert again.status_code in (404, 409)
    assert (await api.client.post("/api/v1/runs/nope/deny")).status_code == 404
    kinds = [e["type"] for e in (await api.client.get("/api/v1/audit")).json()]
    assert "CronRunApproved" in kinds and "CronRunDenied" in kinds


# --- metrics and the OpenAPI document -------------------------------------------------------------


async def test_metrics_endpoint(api: Api) -> None:
    await create(api)
    await api.client.post("/api/v1/schedule/hourly-report/run")
    await api.harness.settle()
    await asyncio.sleep(0)  # let the metrics task see the last events
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as anonymous:
        response = await anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'symbiont_cron_runs_total{job_name="hourly-report",status="succeeded"} 1.0' in text
    assert "symbiont_cron_in_flight_jobs 0.0" in text
    assert 'symbiont_cron_jobs{status="active"} 1.0' in text
    assert 'symbiont_cron_execution_duration_seconds_count{job_name="hourly-report"} 1.0' in text
    assert "symbiont_cron_scheduler_leader 1.0" in text


async def test_metrics_can_be_disabled(harness: Harness) -> None:
    app = create_app(harness.service, metrics=None, keys=ApiKeys.of([KEY]))
    async with ApiServer(app) as server, httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get("/metrics")
    assert response.status_code == 404 and "enable_metrics" in response.json()["error"]


async def test_openapi_document_describes_the_api(api: Api) -> None:
    doc = (await api.client.get("/openapi.json")).json()
    paths = doc["paths"]
    for path, method in [
        ("/api/v1/schedule", "post"),
        ("/api/v1/schedule", "get"),
        ("/api/v1/schedule/{job_id}", "put"),
        ("/api/v1/schedule/{job_id}/run", "post"),
        ("/api/v1/schedule/{job_id}/next_run", "get"),
        ("/api/v1/health/scheduler", "get"),
        ("/api/v1/runs/{run_id}/approve", "post"),
        ("/api/v1/audit", "get"),
        ("/api/v1/events", "get"),
        ("/api/v1/schedules/{job_id}/next-runs", "get"),
        ("/metrics", "get"),
    ]:
        assert method in paths[path], (path, method)
    create_op = paths["/api/v1/schedule"]["post"]
    assert set(create_op["responses"]) >= {"201", "400", "401", "409", "422"}
    assert "HTTPValidationError" not in json.dumps(doc)  # our error shape, not FastAPI's
    assert create_op["security"] == [{"bearerAuth": []}]
    assert paths["/api/v1/health/scheduler"]["get"]["security"] == []
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    job_in = doc["components"]["schemas"]["JobCreateIn"]
    assert {"name", "agent_id", "cron_expr", "at", "policy"} <= set(job_in["properties"])


async def test_an_idle_server_sleeps_and_still_dates_its_responses(harness: Harness) -> None:
    """No timer wakes an idle server (uvicorn's own loop wakes ten times a second); the Date
    header is made when a response is sent, so it is still current."""
    from email.utils import parsedate_to_datetime

    app = create_app(harness.service, metrics=None, keys=ApiKeys.of([KEY]))
    async with ApiServer(app) as server, httpx.AsyncClient(base_url=server.url) as client:
        first = await client.get("/api/v1/health/scheduler", headers=AUTH)
        loop = asyncio.get_running_loop()
        selector = loop._selector  # type: ignore[attr-defined]
        select = selector.select
        wakeups = []

        def counting(timeout: float | None = None) -> Any:
            events = select(timeout)
            wakeups.append(timeout)
            return events

        selector.select = counting
        try:
            await asyncio.to_thread(time.sleep, 1.2)  # the loop only waits for that thread
        finally:
            selector.select = select
        later = await client.get("/api/v1/health/scheduler", headers=AUTH)
    # a timer shows as a wait with a timeout; callbacks left over from the first request (a
    # loaded machine runs them late) as polls with none, which no timer causes
    waits = [timeout for timeout in wakeups if timeout != 0]
    assert len(waits) <= 2, (
        wakeups
    )  # the wait the thread's end interrupts; uvicorn's loop: about 12
    for response in (first, later):
        sent = parsedate_to_datetime(response.headers["date"])
        assert abs(sent.timestamp() - time.time()) < 3
    assert parsedate_to_datetime(later.headers["date"]) > parsedate_to_datetime(
        first.headers["date"]
    )
