"""No secret anywhere it could be seen: API responses (jobs, runs, audit, events), the log lines
of the daemon's event logger, the console's screens and the CLI's exports all hold jobs whose
webhook headers, delivery settings and AgentPin credential are secret; a grep finds none."""

from __future__ import annotations

import asyncio
import html
import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

from scheduler_core.config import DeliveryConfig
from scheduler_core.daemon import EventLogger, TextFormatter
from scheduler_core.jobspec import job_to_dict
from scheduler_core.settings import SecretsConfig

from .conftest import Harness
from .test_api import serving

HEADER_SECRET = "hdr-secret-7Qz93kLm"
ENV_SECRET = "env-secret-Pq4Wm2Xv"
PIN_SECRET = "eyJhbGciOiJFUzI1NiJ9.pin-secret-Rk82.sig"
SLACK_SECRET = "xoxb-slack-secret-Zt61"
SMTP_SECRET = "smtp-pass-secret-Hy35"
SECRETS = (HEADER_SECRET, ENV_SECRET, PIN_SECRET, SLACK_SECRET, SMTP_SECRET)

JOB = {
    "name": "secret-report",
    "agent": "reporter",
    "cron": "0 9 * * *",
    "delivery": ["webhook", "slack", "email"],
    "webhook_url": "http://127.0.0.1:9/hook",
    "webhook_headers": {"Authorization": f"Bearer {HEADER_SECRET}", "X-Env": "${HOOK_ENV}"},
    "email_recipients": ["ops@example.com"],
    "agent_pin_jwt": PIN_SECRET,
}


def assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into {where}"


def screen_text(app: object) -> str:
    """The console's screen as plain text (the characters of its SVG screenshot)."""
    svg = app.export_screenshot()  # type: ignore[attr-defined]
    spans = re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S)
    return html.unescape("".join(spans)).replace("\xa0", " ")


async def _harness(harness_factory, monkeypatch) -> Harness:
    monkeypatch.setenv("HOOK_ENV", ENV_SECRET)
    delivery = DeliveryConfig(
        slack_api_token=SLACK_SECRET,
        slack_api_url="http://127.0.0.1:9/api",
        smtp_host="127.0.0.1",
        smtp_port=9,
        smtp_password=SMTP_SECRET,
        smtp_username="symbi",
        email_from="symbi@example.com",
        webhook_retry_attempts=0,
        smtp_timeout_seconds=2,
        webhook_timeout_seconds=2,
    )
    # the operator allows the job's ${HOOK_ENV}: it is expanded at delivery, and masked
    return await harness_factory(delivery=delivery, secrets=SecretsConfig(env=("HOOK_ENV",)))


async def test_api_responses_and_event_log_hold_no_secret(harness_factory, monkeypatch) -> None:
    h = await _harness(harness_factory, monkeypatch)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("test-secrets")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    event_log = EventLogger(logger)
    events = h.engine.bus.subscribe()
    try:
        async with serving(h) as api:
            created = await api.client.post("/api/v1/schedule", json=JOB)
            assert created.status_code == 201, created.text
            await h.to("2026-03-02T09:00:00Z")  # runs, fails every channel (nothing listens)
            texts = [created.text]
            for path in (
                "/api/v1/schedule",
                "/api/v1/schedule/secret-report",
                "/api/v1/schedule/secret-report/history",
                "/api/v1/runs",
                "/api/v1/audit?limit=500",
                "/api/v1/schedules",
                "/api/v1/schedules/secret-report",
                "/api/v1/health/scheduler",
            ):
                response = await api.client.get(path)
                assert response.status_code == 200, (path, response.text)
                texts.append(response.text)
            (run,) = await h.service.history("secret-report")
            assert run.details["delivery"], "the channels were tried"
            texts.append(json.dumps(dict(run.details), default=str))
            for text in texts:
                assert_clean(text, "an API response")
            assert "***" in texts[1] or "masked" in texts[1].lower()
        while (event := events.get_nowait()) is not None:
            event_log(event)
    finally:
        events.close()
        logger.removeHandler(handler)
    assert_clean(stream.getvalue(), "the daemon's log")
    assert_clean(json.dumps(job_to_dict(await h.service.get_job("secret-report"))), "job_to_dict")
    await h.engine.stop()


async def test_cli_exports_and_console_screens_hold_no_secret(
    harness_factory, monkeypatch, tmp_path: Path
) -> None:
    from symbi_tui.app import SymbiApp
    from symbi_tui.backend import LocalBackend
    from symbi_tui.screens.watch import WatchScreen

    h = await _harness(harness_factory, monkeypatch)
    await h.service.add_job(JOB)
    await h.to("2026-03-02T09:00:00Z")
    app = SymbiApp(LocalBackend(h.service, h.engine.bus), clock=h.clock, refresh_interval=0.05)
    async with app.run_test(size=(160, 50)) as pilot:
        for _ in range(40):
            await pilot.pause(0.05)
            if "secret-report" in app.export_screenshot():
                break
        # the job's row is on screen (a blank screen would hold no secret either)
        jobs = screen_text(app)
        assert re.search(r"secret-report\s+reporter\s+0 9 \* \* \*", jobs), jobs
        assert_clean(app.export_screenshot(), "the jobs screen")
        app.push_screen(app.make_view("watch", "secret-report"))
        for _ in range(40):
            await pilot.pause(0.05)
            if isinstance(app.screen, WatchScreen) and "webhook" in app.export_screenshot():
                break
        assert "webhook" in app.export_screenshot()
        assert isinstance(app.screen, WatchScreen)
        # the delivery pane shows the very settings that hold the secrets, masked
        watch = screen_text(app)
        assert "http://127.0.0.1:9/hook" in watch, watch
        assert "Authorization: ****" in watch and "X-Env: ****" in watch, watch
        assert_clean(app.export_screenshot(), "the watch screen")
    db = h.engine.config.store_url()
    await h.engine.stop()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYMBI_")}
    env["HOME"] = str(tmp_path)
    env["XDG_CONFIG_HOME"] = env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    for args in (
        ["cron", "list", "--format", "json"],
        ["cron", "list", "--format", "csv"],
        ["cron", "status", "secret-report"],
        ["cron", "history", "secret-report", "--format", "json"],
        ["audit", "query", "--format", "json", "--limit", "500"],
    ):
        out = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "symbi_tui.cli.symbi", "--db", db, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert out.returncode == 0, (args, out.stderr)
        assert "secret-report" in out.stdout, (args, out.stdout)  # the job is in the export
        assert_clean(out.stdout + out.stderr, f"symbi {' '.join(args)}")
