"""The webhook and Slack channels against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from scheduler_core.config import DeliveryConfig
from scheduler_core.delivery import Deliverer, DeliveryResult
from scheduler_core.model import RunStatus
from tests.delivery_servers import (
    Reply,
    ScriptedHTTPServer,
    Sleeps,
    make_job,
    make_run,
    refusing_port,
    running,
)


@pytest.fixture
def server() -> Iterator[ScriptedHTTPServer]:
    yield from running(ScriptedHTTPServer())


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as c:
        yield c


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def deliverer(
    client: httpx.AsyncClient,
    sleeps: Sleeps,
    tmp_path: Path,
    env: dict[str, str] | None = None,
    **config: Any,
) -> Deliverer:
    return Deliverer(
        DeliveryConfig(**config),
        data_dir=tmp_path,
        env=env or {},
        http_client=client,
        sleep=sleeps,
    )


def everything(result: DeliveryResult) -> str:
    return json.dumps(result.to_dict())


# --- webhook ---------------------------------------------------------------------------------


async def test_webhook_posts_the_run_as_json_with_expanded_headers(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    job = make_job(
        name="metrics-report",
        delivery=("webhook",),
        webhook_url=f"{server.url}/ingest",
        webhook_headers={
            "Authorization": "Bearer ${METRICS_API_KEY}",
            "Content-Type": "application/json",
        },
    )
    d = deliverer(client, sleeps, tmp_path, env={"METRICS_API_KEY": "k-123456"})
    [result] = await d.deliver(job, make_run())
    assert result.ok, result.error
    assert (result.channel, result.attempts, result.error) == ("webhook", 1, None)
    assert result.detail["status_code"] == 200
    [req] = server.requests
    assert req.path == "/ingest"
    assert req.headers["authorization"] == "Bearer k-123456"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["idempotency-key"] == "run-0001"
    doc = req.json()
    assert doc["event"] == "cron.run.finished"
    assert doc["output"] == "All systems nominal.\nDisk 42% used."
    assert doc["job"]["name"] == "metrics-report"
    assert doc["job"]["agent_id"] == "reporter-agent"
    assert doc["job"]["cron_expr"] == "0 9 * * *"
    assert doc["run"]["id"] == "run-0001"
    assert doc["run"]["status"] == "succeeded"
    assert doc["run"]["execution_time_ms"] == 850
    assert doc["run"]["scheduled_for"] == "2026-03-02T09:00:00Z"
    assert "webhook_headers" not in doc["job"]  # no secrets in the payload
    assert sleeps.calls == []


async def test_webhook_auth_header_from_config_only_when_the_job_sets_none(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    d = deliverer(client, sleeps, tmp_path, webhook_auth_header="Bearer secret-token")
    plain = make_job(delivery=("webhook",), webhook_url=server.url)
    own = replace(plain, webhook_headers={"authorization": "Token mine-1234"})
    assert all(r.ok for r in await d.deliver(plain, make_run()))
    assert all(r.ok for r in await d.deliver(own, make_run()))
    assert server.requests[0].headers["authorization"] == "Bearer secret-token"
    assert server.requests[1].headers["authorization"] == "Token mine-1234"


async def test_webhook_retries_a_500_then_succeeds(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    server.script(Reply(500, "boom"), Reply(200))
    d = deliverer(client, sleeps, tmp_path, webhook_retry_attempts=3)
    [result] = await d.deliver(make_job(delivery=("webhook",), webhook_url=server.url), make_run())
    assert result.ok and result.attempts == 2
    assert sleeps.calls == [1.0]
    assert result.detail["backoff_seconds"] == [1.0]
    assert len(server.requests) == 2
    # the same delivery: a receiver can drop the duplicate by its key
    assert {r.headers["idempotency-key"] for r in server.requests} == {"run-0001"}


async def test_webhook_backs_off_exponentially_then_gives_up_on_5xx(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    server.default = Reply(503, "unavailable")
    d = deliverer(client, sleeps, tmp_path, webhook_retry_attempts=3)
    [result] = await d.deliver(make_job(delivery=("webhook",), webhook_url=server.url), make_run())
    assert not result.ok
    assert result.attempts == 4 and len(server.requests) == 4
    assert sleeps.calls == [1.0, 2.0, 4.0]
    assert result.detail["status_code"] == 503
    assert "HTTP 503" in (result.error or "")
    assert "gave up after 4 attempts" in (result.error or "")


async def test_webhook_429_is_retried_and_retry_after_is_honoured(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    server.script(Reply(429, "slow down", headers={"Retry-After": "7"}), Reply(200))
    d = deliverer(client, sleeps, tmp_path, webhook_retry_attempts=2)
    [result] = await d.deliver(make_job(delivery=("webhook",), webhook_url=server.url), make_run())
    assert result.ok and result.attempts == 2
    assert sleeps.calls == [7.0]


async def test_webhook_404_is_not_retried(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    server.script(Reply(404, "no such hook"))
    d = deliverer(client, sleeps, tmp_path, webhook_retry_attempts=3)
    job = make_job(delivery=("webhook",), webhook_url=f"{server.url}/missing")
    [result] = await d.deliver(job, make_run())
    assert not result.ok and result.attempts == 1
    assert len(server.requests) == 1 and sleeps.calls == []
    assert result.detail == {"status_code": 404}
    assert "HTTP 404 Not Found" in (result.error or "")
    assert "no such hook" in (result.error or "")
    assert "/missing" in (result.error or "")


async def test_webhook_timeout_on_a_slow_server(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    server.default = Reply(200, delay=2.0)
    d = deliverer(client, sleeps, tmp_path, webhook_timeout_seconds=0.2, webhook_retry_attempts=1)
    started = time.monotonic()
    [result] = await d.deliver(make_job(delivery=("webhook",), webhook_url=server.url), make_run())
    elapsed = time.monotonic() - started
    assert not result.ok and result.attempts == 2
    assert "within 0.2s" in (result.error or "")
    assert sleeps.calls == [1.0]
    assert elapsed < 1.5


async def test_webhook_connection_refused_is_retried_then_fails(
    client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    d = deliverer(client, sleeps, tmp_path, webhook_retry_attempts=2)
    with refusing_port() as port:
        url = f"http://127.0.0.1:{port}/hook"
        [result] = await d.deliver(make_job(delivery=("webhook",), webhook_url=url), make_run())
    assert not result.ok and result.attempts == 3
    assert sleeps.calls == [1.0, 2.0]
    assert "could not reach" in (result.error or "")
    assert "status_code" not in result.detail


async def test_webhook_without_url_or_with_unset_variable_sends_nothing(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    d = deliverer(client, sleeps, tmp_path)
    [no_url] = await d.deliver(make_job(delivery=("webhook",)), make_run())
    assert (no_url.ok, no_url.attempts) == (False, 0)
    assert "webhook_url" in (no_url.error or "")
    job = make_job(
        delivery=("webhook",),
        webhook_url=server.url,
        webhook_headers={"Authorization": "Bearer ${METRICS_API_KEY}"},
    )
    [unset] = await d.deliver(job, make_run())
    assert (unset.ok, unset.attempts) == (False, 0)
    assert "${METRICS_API_KEY}" in (unset.error or "")
    assert server.requests == []


async def test_webhook_invalid_url_fails_without_retry(
    client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    d = deliverer(client, sleeps, tmp_path)
    [r] = await d.deliver(make_job(delivery=("webhook",), webhook_url="ftp://x/y"), make_run())
    assert not r.ok and r.attempts == 1 and sleeps.calls == []
    assert "invalid URL" in (r.error or "")


async def test_webhook_secrets_never_appear_in_results_or_logs(
    server: ScriptedHTTPServer,
    client: httpx.AsyncClient,
    sleeps: Sleeps,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # a hostile or careless server that echoes the credentials back in its error body
    server.default = Reply(
        400, "bad credentials Bearer k-SECRET-777 and Bearer cfg-SECRET-999 and q=tok-SECRET-3"
    )
    job = make_job(
        delivery=("webhook",),
        webhook_url=f"{server.url}/hook?token=tok-SECRET-3",
        webhook_headers={"X-Api-Key": "Bearer ${KEY}"},
    )
    d = deliverer(
        client,
        sleeps,
        tmp_path,
        env={"KEY": "k-SECRET-777"},
        webhook_auth_header="Bearer cfg-SECRET-999",
    )
    with caplog.at_level(logging.DEBUG, logger="scheduler_core.delivery"):
        [result] = await d.deliver(job, make_run())
    assert not result.ok
    text = everything(result) + caplog.text
    for secret in ("k-SECRET-777", "cfg-SECRET-999", "tok-SECRET-3"):
        assert secret not in text
    assert "***" in (result.error or "")
    assert "bad credentials" in (result.error or "")
    # the credentials did reach the server: masking is only for what we show
    assert server.requests[0].headers["x-api-key"] == "Bearer k-SECRET-777"
    assert server.requests[0].headers["authorization"] == "Bearer cfg-SECRET-999"


async def test_webhook_with_an_owned_client(server: ScriptedHTTPServer, tmp_path: Path) -> None:
    d = Deliverer(DeliveryConfig(), data_dir=tmp_path, env={}, sleep=Sleeps())
    async with d:
        [r] = await d.deliver(make_job(delivery=("webhook",), webhook_url=server.url), make_run())
    assert r.ok and len(server.requests) == 1


# --- slack -------------------------------------------------------------------------------------


async def test_slack_chat_post_message(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    server.default = Reply(200, {"ok": True, "channel": "C0123", "ts": "1740000000.000100"})
    d = deliverer(
        client,
        sleeps,
        tmp_path,
        slack_api_token="xoxb-SECRET-1",
        slack_api_url=f"{server.url}/api",
        slack_default_channel="#ops",
    )
    job = make_job(
        name="heartbeat-monitor", delivery=("log_file", "slack"), slack_channel="#ops-alerts"
    )
    results = await d.deliver(job, make_run())
    assert [r.channel for r in results] == ["log_file", "slack"]
    slack = results[1]
    assert slack.ok, slack.error
    assert slack.detail["mode"] == "api"
    assert slack.detail["ts"] == "1740000000.000100"
    assert slack.detail["channel"] == "C0123"
    [req] = server.requests
    assert req.path == "/api/chat.postMessage"
    assert req.headers["authorization"] == "Bearer xoxb-SECRET-1"
    assert req.headers["content-type"].startswith("application/json")
    body = req.json()
    assert body["channel"] == "#ops-alerts"
    assert "heartbeat-monitor: succeeded in 850ms" in body["text"]
    assert "All systems nominal." in body["text"]
    kinds = [b["type"] for b in body["blocks"]]
    assert kinds[0] == "header" and "section" in kinds and kinds[-1] == "context"
    assert "heartbeat-monitor" in body["blocks"][0]["text"]["text"]
    fields = " ".join(f["text"] for f in body["blocks"][1]["fields"])
    assert "*Status*\nsucceeded" in fields and "*Duration*\n850ms" in fields
    output_block = next(
        b for b in body["blocks"] if "*Output*" in b.get("text", {}).get("text", "")
    )
    assert "```\nAll systems nominal.\nDisk 42% used.\n```" in output_block["text"]["text"]


async def test_slack_default_channel_and_failed_run(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    server.default = Reply(200, {"ok": True, "channel": "C9", "ts": "1.2"})
    d = deliverer(
        client,
        sleeps,
        tmp_path,
        slack_api_token="xoxb-1",
        slack_api_url=server.url,
        slack_default_channel="#ops",
    )
    run = make_run(status=RunStatus.FAILED, error_message="exit code 3 <oops>", output="")
    [r] = await d.deliver(make_job(delivery=("slack",)), run)
    assert r.ok
    body = server.requests[0].json()
    assert body["channel"] == "#ops"
    assert ":x:" in body["blocks"][0]["text"]["text"]
    texts = json.dumps(body["blocks"])
    assert "*Error*" in texts and "exit code 3 &lt;oops&gt;" in texts
    assert "(no output)" in texts


async def test_slack_api_ok_false_is_a_failure_and_not_retried(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    server.default = Reply(200, {"ok": False, "error": "channel_not_found"})
    d = deliverer(
        client,
        sleeps,
        tmp_path,
        slack_api_token="xoxb-SECRET-2",
        slack_api_url=server.url,
        webhook_retry_attempts=3,
    )
    [r] = await d.deliver(make_job(delivery=("slack",), slack_channel="#nope"), make_run())
    assert not r.ok and r.attempts == 1 and sleeps.calls == []
    assert "channel_not_found" in (r.error or "")
    assert r.detail["status_code"] == 200
    assert "xoxb-SECRET-2" not in everything(r)


async def test_slack_api_rate_limit_is_retried(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    server.script(
        Reply(429, {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "2"}),
        Reply(200, {"ok": True, "ts": "9.9"}),
    )
    d = deliverer(client, sleeps, tmp_path, slack_api_token="xoxb-1", slack_api_url=server.url)
    [r] = await d.deliver(make_job(delivery=("slack",), slack_channel="#a"), make_run())
    assert r.ok and r.attempts == 2 and sleeps.calls == [2.0]


async def test_slack_api_without_any_channel_fails_clearly(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    d = deliverer(client, sleeps, tmp_path, slack_api_token="xoxb-1", slack_api_url=server.url)
    [r] = await d.deliver(make_job(delivery=("slack",)), make_run())
    assert (r.ok, r.attempts) == (False, 0)
    assert "slack_channel" in (r.error or "") and server.requests == []


async def test_slack_incoming_webhook_from_config(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    hook = f"{server.url}/services/T000/B000/SECRETPATH123"
    d = deliverer(client, sleeps, tmp_path, slack_webhook_url=hook)
    [r] = await d.deliver(make_job(delivery=("slack",), slack_channel="#x"), make_run())
    assert r.ok and r.detail["mode"] == "incoming_webhook"
    [req] = server.requests
    assert req.path == "/services/T000/B000/SECRETPATH123"
    body = req.json()
    assert "channel" not in body and "text" in body and body["blocks"][0]["type"] == "header"
    assert "authorization" not in req.headers


async def test_slack_job_level_incoming_webhook_wins_over_the_api(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    d = deliverer(client, sleeps, tmp_path, slack_api_token="xoxb-1", slack_api_url=server.url)
    job = make_job(
        delivery=("slack",),
        delivery_config={"slack": {"webhook_url": f"{server.url}/services/JOB/HOOK/XYZ12345"}},
    )
    [r] = await d.deliver(job, make_run())
    assert r.ok and r.detail["mode"] == "incoming_webhook"
    assert server.requests[0].path == "/services/JOB/HOOK/XYZ12345"


async def test_slack_incoming_webhook_failure_never_shows_the_url(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    server.default = Reply(404, "no_service")
    hook = f"{server.url}/services/T111/B222/HOOKSECRET999"
    d = deliverer(client, sleeps, tmp_path, slack_webhook_url=hook, webhook_retry_attempts=2)
    [r] = await d.deliver(make_job(delivery=("slack",)), make_run())
    assert not r.ok and r.attempts == 1
    assert "no_service" in (r.error or "") and "HTTP 404" in (r.error or "")
    assert "HOOKSECRET999" not in everything(r) and "T111/B222" not in everything(r)


async def test_slack_not_configured(
    client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    d = deliverer(client, sleeps, tmp_path)
    [r] = await d.deliver(make_job(delivery=("slack",), slack_channel="#x"), make_run())
    assert (r.ok, r.attempts) == (False, 0)
    assert "slack_api_token" in (r.error or "") and "slack_webhook_url" in (r.error or "")


async def test_slack_long_output_is_an_excerpt_within_slack_limits(
    server: ScriptedHTTPServer, client: httpx.AsyncClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    server.default = Reply(200, {"ok": True})
    d = deliverer(client, sleeps, tmp_path, slack_api_token="t-1", slack_api_url=server.url)
    output = "<&>" * 5000 + "```"
    [r] = await d.deliver(
        make_job(delivery=("slack",), slack_channel="#x"), make_run(output=output)
    )
    assert r.ok
    body = server.requests[0].json()
    for block in body["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
            assert block["text"]["text"].count("```") == 2
    assert "more characters" in json.dumps(body["blocks"])
    assert len(body["blocks"][0]["text"]["text"]) <= 150
