"""The schedule policy gate, through the scheduler: denials are recorded runs with a reason."""

from __future__ import annotations

from datetime import datetime

import pytest

from scheduler_core.clock import parse_instant
from scheduler_core.model import AllowedHours, AuditEventType, RunStatus
from scheduler_core.policy import outside_hours

from .conftest import Harness


def t(text: str) -> datetime:
    return parse_instant(text)


@pytest.mark.parametrize(
    ("start", "end", "zone", "instant", "inside"),
    [
        ("00:00", "04:00", None, "2026-03-02T03:59:00Z", True),
        ("00:00", "04:00", None, "2026-03-02T04:00:00Z", False),
        ("22:00", "02:00", None, "2026-03-02T23:30:00Z", True),  # wraps past midnight
        ("22:00", "02:00", None, "2026-03-02T01:59:00Z", True),
        ("22:00", "02:00", None, "2026-03-02T12:00:00Z", False),
        ("09:00", "17:00", "job", "2026-03-02T14:30:00Z", True),  # 09:30 in New York
        ("09:00", "17:00", "job", "2026-03-02T13:30:00Z", False),  # 08:30 in New York
        ("09:00", "09:00", None, "2026-03-02T13:30:00Z", True),  # the whole day
    ],
)
def test_allowed_hours(start: str, end: str, zone: str | None, instant: str, inside: bool) -> None:
    window = AllowedHours(start=start, end=end, timezone=zone)
    reason = outside_hours(window, t(instant), "America/New_York")
    assert (reason is None) is inside
    if reason:
        assert f"outside allowed hours {start}-{end}" in reason


async def test_time_window_denial_is_recorded(harness: Harness) -> None:
    await harness.service.add_job(
        {
            "name": "production-deploy",
            "agent": "deploy-agent",
            "cron": "0 9 * * *",
            "policy": {"allowed_hours": {"start": "00:00", "end": "04:00"}},
        }
    )
    await harness.to("2026-03-02T09:00:00Z")
    (run,) = await harness.service.history("production-deploy")
    assert run.status is RunStatus.DENIED
    assert "outside allowed hours 00:00-04:00 UTC (it is 09:00 UTC)" in (run.error_message or "")
    assert harness.agents.calls == []
    (event,) = await harness.service.audit(type=AuditEventType.POLICY_DENIED)
    assert "outside allowed hours" in event.details["reason"]
    job = await harness.service.get_job("production-deploy")
    assert job.failure_count == 0 and job.run_count == 0  # a denial is not a failure


async def test_environment_and_capabilities(harness_factory) -> None:
    h: Harness = await harness_factory(environment="staging")
    try:
        await h.service.add_job(
            {
                "name": "env",
                "agent": "a",
                "cron": "0 9 * * *",
                "policy": {"allowed_environments": ["production"]},
            }
        )
        await h.service.add_job(
            {
                "name": "caps",
                "agent": "a",
                "cron": "0 9 * * *",
                "policy": {"require_capabilities": ["deployment"]},
            }
        )
        await h.service.add_job(
            {
                "name": "ok",
                "agent": "a",
                "cron": "0 9 * * *",
                "policy": {"allowed_environments": ["staging", "production"]},
            }
        )
        await h.to("2026-03-02T09:00:00Z")
        runs = {r.job_name: r for r in await h.service.history(limit=10)}
        assert runs["env"].status is RunStatus.DENIED
        assert "environment 'staging' is not one of the allowed: production" in (
            runs["env"].error_message or ""
        )
        assert runs["caps"].status is RunStatus.DENIED
        assert "lacks required capabilities: deployment" in (runs["caps"].error_message or "")
        assert runs["ok"].status is RunStatus.SUCCEEDED
    finally:
        await h.engine.stop()
