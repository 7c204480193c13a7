"""require_approval: runs wait as awaiting_approval until approved, denied or timed out."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler_core.errors import ConflictError, RunNotFound
from scheduler_core.model import AuditEventType, RunStatus

from .conftest import Harness

GATED: dict[str, Any] = {
    "name": "production-deploy",
    "agent": "deploy-agent",
    "cron": "*/5 * * * *",
    "policy": {"require_approval": True, "approvers": ["alice", "bob"]},
}


async def _parked(h: Harness) -> str:
    await h.service.add_job(GATED)
    await h.to("2026-03-02T09:00:00Z")
    (run,) = await h.service.pending_approvals()
    assert run.status is RunStatus.AWAITING_APPROVAL
    return run.id


async def test_a_gated_run_waits_and_the_scheduler_keeps_firing(harness: Harness) -> None:
    h = harness
    await h.service.add_job({"name": "other", "agent": "a", "cron": "*/5 * * * *"})
    run_id = await _parked(h)
    run = await h.service.get_run(run_id)
    assert run.details["approval"]["approvers"] == ["alice", "bob"]
    assert run.details["approval"]["expires_at"] == "2026-03-02T10:00:00+00:00"  # 3600 s default
    assert h.agents.names() == ["other"]  # the gated agent has not run, the other one has
    (event,) = await h.service.audit(type=AuditEventType.CRON_RUN_AWAITING_APPROVAL)
    assert event.run_id == run_id and event.details["approvers"] == ["alice", "bob"]
    health = await h.service.health()
    assert health.awaiting_approval == 1

    # the waiting run counts against max_concurrent (1): the next instant is skipped
    await h.to("2026-03-02T09:05:00Z")
    runs = await h.service.history("production-deploy")
    assert [r.status for r in runs] == [RunStatus.SKIPPED, RunStatus.AWAITING_APPROVAL]
    assert "max_concurrent (1) reached" in (runs[0].error_message or "")
    assert h.agents.names() == ["other", "other"]


async def test_approve_releases_the_run(harness: Harness) -> None:
    h = harness
    run_id = await _parked(h)
    approved = await h.service.approve(run_id, actor="alice", reason="change #42")
    assert approved.status is RunStatus.QUEUED
    await h.settle()
    run = await h.service.get_run(run_id)
    assert run.status is RunStatus.SUCCEEDED
    assert run.output == "ok production-deploy"
    assert run.details["approval"]["decided_by"] == "alice"
    assert run.details["policy"] == {"decision": "approved", "by": "alice"}
    assert h.agents.names() == ["production-deploy"]
    (event,) = await h.service.audit(type=AuditEventType.CRON_RUN_APPROVED)
    assert event.actor == "alice" and event.details["reason"] == "change #42"
    assert await h.service.pending_approvals() == []
    with pytest.raises(ConflictError, match="not awaiting approval"):
        await h.service.approve(run_id, actor="bob")


async def test_deny_ends_the_run_with_the_reason(harness: Harness) -> None:
    h = harness
    run_id = await _parked(h)
    denied = await h.service.deny(run_id, actor="bob", reason="freeze week")
    assert denied.status is RunStatus.DENIED
    run = await h.service.get_run(run_id)
    assert run.status is RunStatus.DENIED
    assert run.error_message == "denied by bob: freeze week"
    assert h.agents.calls == []
    (event,) = await h.service.audit(type=AuditEventType.CRON_RUN_DENIED)
    assert event.actor == "bob" and event.details["reason"] == "freeze week"
    job = await h.service.get_job("production-deploy")
    assert job.last_run_status is RunStatus.DENIED and job.failure_count == 0
    with pytest.raises(ConflictError):
        await h.service.deny(run_id, actor="bob")
    with pytest.raises(RunNotFound):
        await h.service.approve("no-such-run")
    # the slot is free again: the next instant waits for approval in its turn
    await h.to("2026-03-02T09:05:00Z")
    assert len(await h.service.pending_approvals()) == 1


async def test_an_unanswered_approval_times_out(harness: Harness) -> None:
    h = harness
    await h.service.add_job(
        {**GATED, "cron": "0 9 * * *", "policy": {**GATED["policy"], "approval_timeout": "90s"}}
    )
    await h.to("2026-03-02T09:00:00Z")
    (run,) = await h.service.pending_approvals()
    await h.to("2026-03-02T09:01:29Z")
    assert (await h.service.get_run(run.id)).status is RunStatus.AWAITING_APPROVAL
    await h.to("2026-03-02T09:01:30Z")
    run = await h.service.get_run(run.id)
    assert run.status is RunStatus.DENIED
    assert run.error_message == "denied: approval timed out"
    assert run.details["approval"]["decision"] == "expired"
    (event,) = await h.service.audit(type=AuditEventType.CRON_RUN_DENIED)
    assert event.details["decision"] == "expired"
    assert h.agents.calls == []


async def test_a_waiting_run_survives_a_restart(harness_factory) -> None:
    h: Harness = await harness_factory()
    run_id = await _parked(h)
    await h.engine.stop()
    h2: Harness = await harness_factory()
    try:
        assert [r.id for r in await h2.service.pending_approvals()] == [run_id]
        await h2.service.approve(run_id, actor="alice")
        await h2.settle()
        assert (await h2.service.get_run(run_id)).status is RunStatus.SUCCEEDED
    finally:
        await h2.engine.stop()


async def test_manual_runs_are_gated_too(harness: Harness) -> None:
    h = harness
    await h.service.add_job(GATED)
    run = await h.service.run_now("production-deploy", input="now", actor="carol")
    await h.settle()
    assert (await h.service.get_run(run.id)).status is RunStatus.AWAITING_APPROVAL
    await h.service.approve(run.id, actor="alice")
    await h.settle()
    assert (await h.service.get_run(run.id)).status is RunStatus.SUCCEEDED
    assert h.agents.calls[0].input == "now"
