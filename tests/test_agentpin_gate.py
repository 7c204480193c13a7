"""AgentPin through the policy gate: a valid credential runs, a bad one is denied and audited."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scheduler_core.clock import FakeClock
from scheduler_core.config import AgentPinConfig, SchedulerConfig, SchedulerSettings, StoreConfig
from scheduler_core.engine import Engine
from scheduler_core.model import AuditEventType, RunStatus

from .agentpin_fixtures import AGENT, DOMAIN, Issuer
from .conftest import Agents
from .test_agentpin import write_bundle


async def _engine(tmp_path: Path, issuer: Issuer, *, required: bool = False) -> tuple[Engine, Any]:
    now = datetime.fromtimestamp(math.floor(time.time()), UTC)
    clock = FakeClock(now)
    bundle = write_bundle(tmp_path / "bundle.json", [issuer.discovery()])
    config = SchedulerConfig(
        scheduler=SchedulerSettings(claim_ahead_seconds=0, shutdown_timeout_seconds=0.5),
        store=StoreConfig(url=str(tmp_path / "s.db")),
        agentpin=AgentPinConfig(
            domain=DOMAIN, trust_bundle=bundle, discovery=False, required=required
        ),
    )
    agents = Agents()
    engine = Engine(config, executor=agents.executor(), clock=clock)
    await engine.start()
    return engine, clock


async def _fire(engine: Engine, clock: FakeClock, job: dict[str, Any]) -> Any:
    assert engine.service is not None and engine.scheduler is not None
    at = clock.now() + timedelta(seconds=30)
    await engine.service.add_job({**job, "at": at.isoformat()})
    clock.set(at)
    await asyncio.wait_for(engine.scheduler.wait_idle(), 10)
    (run,) = await engine.service.history(job["name"])
    return run


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer.create()


async def test_a_valid_credential_runs(tmp_path: Path, issuer: Issuer) -> None:
    engine, clock = await _engine(tmp_path, issuer)
    try:
        job = {
            "name": "reports",
            "agent": AGENT,
            "agentpin_jwt": issuer.issue(),  # the upstream spelling
            "policy": {"require_agent_pin": True},
        }
        run = await _fire(engine, clock, job)
        assert run.status is RunStatus.SUCCEEDED, run.error_message
    finally:
        await engine.stop()


@pytest.mark.parametrize(
    ("token", "check"),
    [
        (lambda i: i.issue(agent_id=f"urn:agentpin:{DOMAIN}:someone-else"), "sub"),
        (lambda i: i.issue(issuer="evil.example.com"), "iss"),
        (lambda i: Issuer.create().issue(), "kid"),
        (lambda i: i.issue()[:-8] + "AAAAAAAA", "signature"),
        (lambda i: None, "token"),
    ],
)
async def test_a_bad_credential_is_denied_and_audited(
    tmp_path: Path, issuer: Issuer, token: Any, check: str
) -> None:
    engine, clock = await _engine(tmp_path, issuer)
    try:
        assert engine.service is not None
        job: dict[str, Any] = {
            "name": "reports",
            "agent": AGENT,
            "policy": {"require_agent_pin": True},
        }
        if (jwt := token(issuer)) is not None:
            job["agent_pin_jwt"] = jwt
        run = await _fire(engine, clock, job)
        assert run.status is RunStatus.DENIED
        assert f"AgentPin {check} check failed" in (run.error_message or "")
        (event,) = await engine.service.audit(type=AuditEventType.AGENT_PIN_VERIFICATION_FAILED)
        assert event.details["check"] == check
        assert event.details["job_name"] == "reports" and event.run_id == run.id
        (denied,) = await engine.service.audit(type=AuditEventType.POLICY_DENIED)
        assert denied.run_id == run.id
    finally:
        await engine.stop()


async def test_required_by_config_applies_to_every_job(tmp_path: Path, issuer: Issuer) -> None:
    engine, clock = await _engine(tmp_path, issuer, required=True)
    try:
        run = await _fire(engine, clock, {"name": "plain", "agent": AGENT})
        assert run.status is RunStatus.DENIED
        assert "no agent_pin_jwt" in (run.error_message or "")
        ok = await _fire(
            engine, clock, {"name": "pinned", "agent": AGENT, "agent_pin_jwt": issuer.issue()}
        )
        assert ok.status is RunStatus.SUCCEEDED
    finally:
        await engine.stop()
