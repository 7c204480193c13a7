"""Failure alerts: on_failure / on_dead_letter channels hear about failed runs and dead-lettered
jobs only, through the real dispatcher to a webhook receiver and an SMTP server on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scheduler_core.config import DeliveryConfig
from scheduler_core.errors import ValidationError
from scheduler_core.model import AuditEventType, JobStatus, RunStatus
from scheduler_core.settings import SecretsConfig

from .conftest import Harness
from .delivery_servers import Reply, ScriptedHTTPServer, SmtpServer, running

TOKEN = "alert-token-9a8b7c6d5e"


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


def _body(mail: Any) -> str:
    message = email.message_from_bytes(mail.content, policy=email.policy.default)
    return str(message.get_body(preferencelist=("plain",)).get_content())


async def _ended(h: Harness, name: str) -> list[Any]:
    """The job's finished runs, newest first (a queued retry left out)."""
    return [r for r in await h.service.history(name) if r.status.is_final]


def _job(name: str, agent: str, web: ScriptedHTTPServer, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "agent": agent,
        "cron": "0 9 * * *",
        "webhook_url": f"{web.url}/alerts/{name}",
        "email_recipients": ["oncall@example.com"],
        **fields,
    }


async def test_a_success_alerts_nobody_and_a_failure_alerts_its_channels(
    harness_factory, tmp_path: Path, web: ScriptedHTTPServer, smtp: SmtpServer, monkeypatch
) -> None:
    monkeypatch.setenv("ALERT_TOKEN", TOKEN)
    h: Harness = await harness_factory(
        delivery=_delivery(tmp_path, smtp), secrets=SecretsConfig(env=("ALERT_*",))
    )
    await h.service.add_job(_job("fine", "good", web, on_failure=["webhook", "email"]))
    await h.service.add_job(
        _job(
            "flaky",
            "broken",
            web,
            on_failure=["webhook", "email"],
            max_retries=5,
            webhook_headers={"Authorization": "Bearer ${ALERT_TOKEN}"},
        )
    )
    h.agents.fail("broken", "disk \x1b[31mfull")
    await h.to("2026-03-02T09:00:00Z")

    (ok,) = await h.service.history("fine")
    assert ok.status is RunStatus.SUCCEEDED and "alerts" not in ok.details
    (failed,) = await _ended(h, "flaky")
    assert failed.status is RunStatus.FAILED

    # the success sent nothing; the failure one webhook call and one mail
    (request,) = web.requests
    assert request.path == "/alerts/flaky"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    text = request.json()["output"]
    assert "symbi cron reset flaky" in text and failed.id in text
    assert "status:   failed" in text and "failures: 1 in a row (max_retries 5)" in text
    assert "disk \\x1b[31mfull" in text  # the agent's escape shown, never sent raw
    (mail,) = smtp.messages
    assert mail.rcpt_tos == ["oncall@example.com"]
    assert "symbi cron reset flaky" in _body(mail)

    results = {(a["event"], a["channel"]): a for a in failed.details["alerts"]}
    assert set(results) == {("on_failure", "webhook"), ("on_failure", "email")}
    assert all(a["ok"] for a in results.values())
    assert "delivery" not in failed.details  # no delivery listed: only alerts
    assert TOKEN not in str(failed.details)


async def test_dead_letter_alerts_its_own_channel_and_normal_delivery_is_unchanged(
    harness_factory, tmp_path: Path, web: ScriptedHTTPServer, smtp: SmtpServer
) -> None:
    h: Harness = await harness_factory(delivery=_delivery(tmp_path, smtp))
    await h.service.add_job(
        _job(
            "doomed",
            "broken",
            web,
            delivery=["log_file"],
            on_failure=[],
            on_dead_letter=["email"],
            max_retries=2,
        )
    )
    h.agents.fail("broken", "no route to host")
    await h.to("2026-03-02T09:00:00Z")
    assert smtp.messages == []  # on_failure: [] sends nothing, the job is not dead yet
    await h.advance(10)  # the retry after backoff: the second failure dead-letters
    job = await h.service.get_job("doomed")
    assert job.status is JobStatus.DEAD_LETTER

    (mail,) = smtp.messages
    body = _body(mail)
    assert "moved to the dead-letter queue" in body and "symbi cron reset doomed" in body
    assert "failures: 2 in a row (max_retries 2)" in body
    last, first = await _ended(h, "doomed")
    assert [a["event"] for a in last.details["alerts"]] == ["on_dead_letter"]
    assert "alerts" not in first.details
    # the job's delivery went on as before, for both runs
    assert all(r.details["delivery"][0]["channel"] == "log_file" for r in (first, last))
    assert web.requests == []


async def test_an_alert_is_told_apart_from_the_runs_own_delivery(
    harness_factory, tmp_path: Path, web: ScriptedHTTPServer, smtp: SmtpServer
) -> None:
    """A receiver that drops a repeated Idempotency-Key (as the key invites) still gets both
    alerts of a run that it also receives as a delivery; each says what it is."""
    h: Harness = await harness_factory(delivery=_delivery(tmp_path, smtp))
    await h.service.add_job(
        _job(
            "doomed",
            "broken",
            web,
            delivery=["webhook", "log_file"],
            on_failure=["webhook", "log_file"],
            on_dead_letter=["webhook"],
            max_retries=1,
        )
    )
    h.agents.fail("broken", "no route to host")
    await h.to("2026-03-02T09:00:00Z")
    (run,) = await _ended(h, "doomed")
    assert (await h.service.get_job("doomed")).status is JobStatus.DEAD_LETTER
    seen = {r.json()["event"]: r.headers["idempotency-key"] for r in web.requests}
    assert seen == {
        "cron.run.finished": run.id,
        "cron.run.failed": f"{run.id}/cron.run.failed",
        "cron.job.dead_lettered": f"{run.id}/cron.job.dead_lettered",
    }
    records = [
        json.loads(line) for line in (tmp_path / "logs" / "doomed.jsonl").read_text().splitlines()
    ]
    # (the alert goes side by side with the delivery: in either order)
    by_event = {r.get("event"): r for r in records}
    assert len(records) == 2 and set(by_event) == {None, "cron.run.failed"}
    assert "symbi cron reset doomed" in by_event["cron.run.failed"]["output"]


async def test_config_defaults_apply_to_jobs_that_name_none(
    harness_factory, tmp_path: Path, web: ScriptedHTTPServer, smtp: SmtpServer
) -> None:
    h: Harness = await harness_factory(
        delivery=_delivery(tmp_path, smtp, on_failure=("webhook",), on_dead_letter=("email",))
    )
    await h.service.add_job(_job("by-default", "broken", web, max_retries=1))
    await h.service.add_job(_job("opted-out", "broken", web, on_failure=[], on_dead_letter=[]))
    h.agents.fail("broken")
    await h.to("2026-03-02T09:00:00Z")
    (request,) = web.requests
    assert request.path == "/alerts/by-default"
    (mail,) = smtp.messages
    assert "by-default" in _body(mail)
    (run,) = await _ended(h, "by-default")
    assert [a["event"] for a in run.details["alerts"]] == ["on_failure", "on_dead_letter"]


async def test_a_failed_alert_is_recorded_and_audited(
    harness_factory, tmp_path: Path, web: ScriptedHTTPServer, smtp: SmtpServer
) -> None:
    h: Harness = await harness_factory(delivery=_delivery(tmp_path, smtp))
    web.script(Reply(status=500, body="down"))
    await h.service.add_job(_job("noisy", "broken", web, on_failure=["webhook"], max_retries=3))
    h.agents.fail("broken")
    await h.to("2026-03-02T09:00:00Z")
    (run,) = await _ended(h, "noisy")
    (alert,) = run.details["alerts"]
    assert alert["ok"] is False and "500" in alert["error"]
    events = await h.service.audit(type=AuditEventType.CRON_ALERT_FAILED)
    (event,) = events
    assert event.run_id == run.id
    assert event.details["channel"] == "webhook" and event.details["event"] == "on_failure"


async def test_unknown_alert_channels_are_refused_when_the_job_is_made(
    harness_factory, tmp_path: Path, web: ScriptedHTTPServer, smtp: SmtpServer
) -> None:
    h: Harness = await harness_factory(delivery=_delivery(tmp_path, smtp))
    with pytest.raises(ValidationError) as caught:
        await h.service.add_job(_job("bad", "a", web, on_failure=["pager"]))
    assert any(e.field == "on_failure[0]" for e in caught.value.errors)
    with pytest.raises(ValidationError) as caught:
        await h.service.add_job(_job("bad", "a", web, on_dead_letter=5))
    assert any(e.field == "on_dead_letter" for e in caught.value.errors)
    with pytest.raises(ValidationError) as caught:
        await h.service.add_job(_job("bad", "a", web, on_failure=["email", "email"]))
    assert "more than once" in str(caught.value)


async def test_an_unknown_default_channel_is_named_as_the_configs(
    harness_factory, tmp_path: Path, web: ScriptedHTTPServer, smtp: SmtpServer
) -> None:
    h: Harness = await harness_factory(delivery=_delivery(tmp_path, smtp, on_failure=("pagr",)))
    with pytest.raises(ValidationError) as caught:
        await h.service.add_job(_job("uses-default", "a", web))
    assert any(e.field == "on_failure (the config's default)[0]" for e in caught.value.errors)
    await h.service.add_job(_job("own-list", "a", web, on_failure=["email"]))


async def test_the_api_takes_alert_channels_and_names_a_bad_one(
    harness_factory, tmp_path: Path, web: ScriptedHTTPServer, smtp: SmtpServer
) -> None:
    from tests.test_api import serving

    h: Harness = await harness_factory(delivery=_delivery(tmp_path, smtp))
    async with serving(h) as api:
        made = await api.client.post(
            "/api/v1/schedule", json=_job("via-api", "a", web, on_failure=["webhook"])
        )
        assert made.status_code == 201, made.text
        assert made.json()["on_failure"] == ["webhook"]
        bad = await api.client.post(
            "/api/v1/schedule", json=_job("bad", "a", web, on_dead_letter=["email", "pagr"])
        )
        assert bad.status_code == 422 and bad.json()["field"] == "on_dead_letter[1]"
        assert "pagr" in bad.json()["error"]
        # PUT null: back to the config's default
        put = await api.client.put("/api/v1/schedule/via-api", json={"on_failure": None})
        assert put.status_code == 200, put.text
        assert (await h.service.get_job("via-api")).on_failure is None


def test_config_show_and_validate_give_the_alert_defaults(tmp_path: Path) -> None:
    from tests.test_cli_symbi import Cli

    cli = Cli(tmp_path)
    cli.config.write_text(
        f'data_dir = "{tmp_path}/data"\n[store]\nurl = "{tmp_path}/s.db"\n'
        '[scheduler.delivery]\non_failure = ["slack", "email"]\non_dead_letter = ["email"]\n'
    )
    shown = cli.ok("config", "show")
    assert 'on_failure = ["slack", "email"]' in shown and 'on_dead_letter = ["email"]' in shown
    cli.config.write_text(cli.config.read_text().replace('["email"]\n', '"email"\n'))
    bad = cli("config", "validate")
    assert bad.returncode != 0
    assert "scheduler.delivery.on_dead_letter" in bad.stderr and ":6" in bad.stderr
    cli.config.write_text(cli.config.read_text().replace('"email"\n', '["pagr"]\n'))
    unknown = cli("config", "validate")
    assert unknown.returncode != 0
    assert "scheduler.delivery.on_dead_letter: item 0: unknown delivery channel 'pagr'" in (
        unknown.stderr
    )


def test_dsl_alert_channels_and_their_errors_at_file_line_col(tmp_path: Path) -> None:
    from scheduler_core.config import SchedulerConfig
    from scheduler_core.delivery.checks import DeliveryRules
    from scheduler_core.dsl import parse_dsl
    from scheduler_core.errors import DslError

    rules = DeliveryRules.of(SchedulerConfig())
    text = (
        "schedule {\n"
        '  name: "etl"\n'
        '  agent: "a"\n'
        '  cron: "0 2 * * *"\n'
        '  on_failure: ["webhook", "slack"]\n'
        "  on_dead_letter: []\n"
        "}\n"
    )
    (job,) = parse_dsl(text, "ok.symbi", env={}, rules=rules).jobs
    assert job.on_failure == ("webhook", "slack") and job.on_dead_letter == ()
    with pytest.raises(DslError) as caught:
        parse_dsl(text.replace('"slack"]', '"slak"]'), "bad.symbi", env={}, rules=rules)
    assert str(caught.value).startswith("bad.symbi:5:27: on_failure[1]: unknown delivery channel")


async def test_a_timed_out_run_alerts_and_an_interrupted_one_does_not(
    harness_factory, tmp_path: Path, web: ScriptedHTTPServer, smtp: SmtpServer
) -> None:
    h: Harness = await harness_factory(delivery=_delivery(tmp_path, smtp))
    await h.service.add_job(
        _job("slow", "sleeper", web, on_failure=["webhook"], policy={"max_runtime": "200ms"})
    )
    await h.service.add_job(_job("cut-short", "stuck", web, on_failure=["webhook"]))
    h.agents.block("sleeper")  # never released: max_runtime ends it
    h.agents.block("stuck")  # still running when the engine stops
    await h.clock_step("2026-03-02T09:00:00Z")
    await until_true(lambda: len(web.requests) == 1)
    (timed_out,) = await _ended(h, "slow")
    assert timed_out.status is RunStatus.TIMED_OUT
    assert "status:   timed_out" in web.requests[0].json()["output"]
    job = await h.service.get_job("cut-short")
    await h.engine.stop()  # shutdown_timeout 0.5 s: cut-short's run is interrupted
    from scheduler_core.store import open_store

    store = await open_store(h.engine.config.store.url or "")
    try:
        (interrupted,) = await store.list_runs(job.id, status=RunStatus.INTERRUPTED)
    finally:
        await store.close()
    assert interrupted.status is RunStatus.INTERRUPTED and "alerts" not in interrupted.details
    assert len(web.requests) == 1


async def until_true(check: Any, seconds: float = 10.0) -> None:
    import asyncio

    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("never happened")
