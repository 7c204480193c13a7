"""Delivery through the scheduler: every listed channel gets the run; failures never fail it."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scheduler_core.config import DeliveryConfig
from scheduler_core.jobspec import job_to_dict
from scheduler_core.model import RunStatus
from scheduler_core.settings import SecretsConfig

from .conftest import Harness
from .delivery_servers import Reply, ScriptedHTTPServer, SmtpServer, refusing_port, running

TOKEN = "hook-token-5f1e2d3c4b"


def _message(mail: Any) -> Any:
    return email.message_from_bytes(mail.content, policy=email.policy.default)


def _subject(mail: Any) -> str:
    return str(_message(mail)["Subject"])


def _body(mail: Any) -> str:
    return _message(mail).get_body(preferencelist=("plain",)).get_content()


@pytest.fixture
def web() -> Iterator[ScriptedHTTPServer]:
    yield from running(ScriptedHTTPServer())


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    yield from running(SmtpServer())


def _delivery(tmp_path: Path, smtp: SmtpServer, **extra: Any) -> DeliveryConfig:
    return DeliveryConfig(
        log_dir=str(tmp_path / "logs"),
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_starttls=False,
        email_from="symbi@example.com",
        webhook_retry_attempts=0,
        **extra,
    )


async def test_a_run_goes_to_every_channel(
    harness_factory, tmp_path: Path, web: ScriptedHTTPServer, smtp: SmtpServer, monkeypatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    h: Harness = await harness_factory(
        delivery=_delivery(tmp_path, smtp), secrets=SecretsConfig(env=("HOOK_*",))
    )
    try:
        job = await h.service.add_job(
            {
                "name": "daily-report",
                "agent": "reporter",
                "cron": "0 9 * * *",
                "delivery": ["log_file", "webhook", "email"],
                "webhook_url": f"{web.url}/hooks/report",
                "webhook_headers": {"Authorization": "Bearer ${HOOK_TOKEN}"},
                "email_recipients": ["ops@example.com"],
            }
        )
        await h.to("2026-03-02T09:00:00Z")
        (run,) = await h.service.history("daily-report")
        assert run.status is RunStatus.SUCCEEDED
        results = {d["channel"]: d for d in run.details["delivery"]}
        assert set(results) == {"log_file", "webhook", "email"}
        assert all(d["ok"] for d in results.values()), results

        (request,) = web.requests
        assert request.path == "/hooks/report"
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        body = request.json()
        assert body["output"] == "ok daily-report"
        assert body["job"]["name"] == "daily-report" and body["run"]["id"] == run.id

        (line,) = (tmp_path / "logs").glob("daily-report*")
        record = json.loads(line.read_text().splitlines()[-1])
        assert run.id in json.dumps(record) and record["output"] == "ok daily-report"

        (mail,) = smtp.messages
        assert "daily-report" in _subject(mail) and "succeeded" in _subject(mail)
        assert "ok daily-report" in _body(mail)

        # the secret header is in no stored or shown record
        assert TOKEN not in json.dumps(run.details) and TOKEN not in json.dumps(job_to_dict(job))
    finally:
        await h.engine.stop()


async def test_a_failing_channel_never_fails_the_run(
    harness_factory, tmp_path: Path, web: ScriptedHTTPServer, smtp: SmtpServer
) -> None:
    h: Harness = await harness_factory(delivery=_delivery(tmp_path, smtp))
    try:
        web.script(Reply(status=500, body="down"))
        with refusing_port() as port:
            await h.service.add_job(
                {
                    "name": "report",
                    "agent": "reporter",
                    "cron": "0 9 * * *",
                    "delivery": ["webhook", "slack", "log_file"],
                    "webhook_url": f"http://127.0.0.1:{port}/nobody-listens",
                }
            )
            await h.to("2026-03-02T09:00:00Z")
        (run,) = await h.service.history("report")
        assert run.status is RunStatus.SUCCEEDED
        assert run.output == "ok report"  # the output stays in the run record
        results = {d["channel"]: d for d in run.details["delivery"]}
        assert results["log_file"]["ok"] is True
        assert results["webhook"]["ok"] is False and results["webhook"]["error"]
        assert results["slack"]["ok"] is False  # no Slack settings at all
        job = await h.service.get_job("report")
        assert job.failure_count == 0 and job.status.value == "active"
    finally:
        await h.engine.stop()


async def test_failed_runs_are_delivered_too_and_denied_ones_are_not(
    harness_factory, tmp_path: Path, smtp: SmtpServer
) -> None:
    h: Harness = await harness_factory(delivery=_delivery(tmp_path, smtp), environment="dev")
    try:
        h.agents.fail("broken", "disk full")
        for name, agent, policy in [
            ("fails", "broken", {}),
            ("denied", "a", {"allowed_environments": ["prod"]}),
        ]:
            await h.service.add_job(
                {
                    "name": name,
                    "agent": agent,
                    "cron": "0 9 * * *",
                    "delivery": ["email"],
                    "email_recipients": ["ops@example.com"],
                    "policy": policy,
                    "max_retries": 1,
                }
            )
        await h.to("2026-03-02T09:00:00Z")
        (failed,) = await h.service.history("fails")
        assert failed.details["delivery"][0]["ok"] is True
        (denied,) = await h.service.history("denied")
        assert denied.status is RunStatus.DENIED and "delivery" not in denied.details
        (mail,) = smtp.messages
        assert "fails" in _subject(mail) and "failed" in _subject(mail)
        assert "disk full" in _body(mail)
    finally:
        await h.engine.stop()
