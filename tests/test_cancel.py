"""Cancelling a run (issue 22) through the service, on a real store (a SQLite file, then a fresh
PostgreSQL database): a running python agent is stopped, a queued or parked run ends without
starting, a finished run is a conflict, the run is audited ``CronRunCancelled`` with its actor
and is neither a failure nor retried; an LLM request is cut off; and on two PostgreSQL nodes a
cancel asked of the node that does not run the run reaches the one that does.

The command agent's process group, the API, its roles and the CLI are in test_cancel_daemon.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from scheduler_core.errors import ConflictError, RunNotFound
from scheduler_core.model import (
    AgentDefinition,
    AuditEventType,
    JobStatus,
    RunnerKind,
    RunStatus,
)
from scheduler_core.runtime.agents import AgentExecutor
from scheduler_core.runtime.base import RunContext

from .conftest import Harness, real_engine
from .llm_server import FakeLlmServer, Reply

NEVER = "0 0 1 1 *"  #: a schedule that does not fire in these tests: runs are started by hand


async def until(condition: Callable[[], Any], what: str) -> Any:
    """Poll ``condition`` (async) until truthy: agents and stores work on real time here."""
    for _ in range(2000):
        value = await condition()
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


class Holding:
    """A python agent that runs until cancelled, and says whether it was."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled: list[str] = []

    async def __call__(self, ctx: RunContext) -> str:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.append(ctx.run.id)
            raise
        return "never"


async def _running(h: Harness, job: str) -> str:
    run = await h.service.run_now(job, actor="tester")

    async def started() -> bool:
        return (await h.service.get_run(run.id)).status is RunStatus.RUNNING

    await until(started, f"run {run.id} started")
    return run.id


async def test_a_running_python_agent_is_stopped_and_the_run_ends_cancelled(
    harness: Harness,
) -> None:
    h = harness
    agent = Holding()
    h.agents.behaviour["holder"] = agent
    job = await h.service.add_job(
        {"name": "long", "agent": "holder", "cron": NEVER, "max_retries": 1}
    )
    run_id = await _running(h, "long")
    await asyncio.wait_for(agent.started.wait(), 10)

    outcome = await h.service.cancel_run(run_id[:10], actor="alice")  # a prefix, as the CLI

    assert outcome.ended and outcome.run.id == run_id
    assert outcome.run.status is RunStatus.CANCELLED
    assert outcome.run.error_message == "cancelled by alice"
    assert agent.cancelled == [run_id]  # the agent's coroutine saw the cancel
    await h.settle()
    stored = await h.service.get_run(run_id)
    assert stored.status is RunStatus.CANCELLED and stored.details["cancel"]["by"] == "alice"
    # not a failure: max_retries = 1 would have dead-lettered it, and nothing is retried
    after = await h.service.get_job(job.id)
    assert after.status is JobStatus.ACTIVE and after.failure_count == 0
    assert [r.id for r in await h.service.history("long")] == [run_id]
    (event,) = await h.service.audit(type=AuditEventType.CRON_RUN_CANCELLED)
    assert (event.actor, event.run_id, event.job_id) == ("alice", run_id, job.id)
    assert event.details["was"] == "running" and event.details["job_name"] == "long"
    assert not await h.service.audit(type=AuditEventType.CRON_JOB_FAILED)


async def test_a_queued_run_ends_cancelled_and_never_starts(harness_factory: Any) -> None:
    h: Harness = await harness_factory(max_concurrent_jobs=1)
    release = h.agents.block("busy")
    await h.service.add_job({"name": "first", "agent": "busy", "cron": NEVER})
    await h.service.add_job({"name": "second", "agent": "other", "cron": NEVER})
    await _running(h, "first")
    waiting = await h.service.run_now("second", actor="tester")
    await asyncio.sleep(0.05)  # the loop looks: no slot for it
    assert (await h.service.get_run(waiting.id)).status is RunStatus.QUEUED

    outcome = await h.service.cancel_run(waiting.id, actor="bob")

    assert outcome.ended and outcome.run.status is RunStatus.CANCELLED
    release.set()
    await h.settle()
    assert (await h.service.get_run(waiting.id)).status is RunStatus.CANCELLED
    assert h.agents.names() == ["first"]  # the second job never ran
    (event,) = await h.service.audit(type=AuditEventType.CRON_RUN_CANCELLED)
    assert (event.actor, event.run_id, event.details["was"]) == ("bob", waiting.id, "queued")


async def test_a_run_awaiting_approval_ends_cancelled_and_leaves_the_approvals(
    harness: Harness,
) -> None:
    h = harness
    await h.service.add_job(
        {
            "name": "deploy",
            "agent": "deployer",
            "cron": NEVER,
            "policy": {"require_approval": True, "approvers": ["alice"]},
        }
    )
    run = await h.service.run_now("deploy", actor="tester")

    async def parked() -> bool:
        return (await h.service.get_run(run.id)).status is RunStatus.AWAITING_APPROVAL

    await until(parked, "the run parked")
    outcome = await h.service.cancel_run(run.id, actor="carol")
    assert outcome.ended and outcome.run.status is RunStatus.CANCELLED
    assert outcome.run.details["approval"]["decision"] == "cancelled"
    assert await h.service.pending_approvals() == []
    with pytest.raises(ConflictError, match="not awaiting approval"):
        await h.service.approve(run.id, actor="alice")
    await h.settle()
    assert h.agents.names() == []  # it never started
    (event,) = await h.service.audit(type=AuditEventType.CRON_RUN_CANCELLED)
    assert (event.actor, event.details["was"]) == ("carol", "awaiting_approval")


async def test_a_finished_run_cannot_be_cancelled_and_an_unknown_one_is_not_found(
    harness: Harness,
) -> None:
    h = harness
    await h.service.add_job({"name": "quick", "agent": "fast", "cron": NEVER})
    run = await h.service.run_now("quick", actor="tester")
    await h.settle()
    assert (await h.service.get_run(run.id)).status is RunStatus.SUCCEEDED
    with pytest.raises(ConflictError, match=r"already ended \(succeeded\)"):
        await h.service.cancel_run(run.id, actor="alice")
    with pytest.raises(RunNotFound):
        await h.service.cancel_run("0" * 32, actor="alice")
    assert not await h.service.audit(type=AuditEventType.CRON_RUN_CANCELLED)


async def test_a_run_running_elsewhere_is_asked_through_the_store(
    harness: Harness, db_path: str
) -> None:
    """A service without the run's task (the CLI on the store) records the request; the
    scheduler running it notices after the write and stops the agent, auditing who asked."""
    from scheduler_core.service import SchedulerService

    h = harness
    agent = Holding()
    h.agents.behaviour["holder"] = agent
    await h.service.add_job({"name": "long", "agent": "holder", "cron": NEVER})
    run_id = await _running(h, "long")
    await asyncio.wait_for(agent.started.wait(), 10)

    from scheduler_core.store import open_store

    store = await open_store(db_path)
    try:
        cli = SchedulerService(store, config=h.engine.config)
        outcome = await cli.cancel_run(run_id, actor="cli-user")
        assert not outcome.ended and outcome.run.status is RunStatus.RUNNING
        assert outcome.run.details["cancel_requested"]["by"] == "cli-user"
        again = await cli.cancel_run(run_id, actor="cli-user")  # asked already: same answer
        assert not again.ended

        async def cancelled() -> bool:
            return (await h.service.get_run(run_id)).status is RunStatus.CANCELLED

        await until(cancelled, "the holder cancelled the run")
    finally:
        await store.close()
    assert agent.cancelled == [run_id]
    (event,) = await h.service.audit(type=AuditEventType.CRON_RUN_CANCELLED)
    assert (event.actor, event.run_id) == ("cli-user", run_id)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_an_llm_request_is_cut_off(tmp_path: Path, provider: str) -> None:
    key = "sk-test-cancel-0123456789"
    with FakeLlmServer(api_key=key) as server:
        agent = AgentDefinition(
            name="analyst",
            runner=RunnerKind.LLM,
            provider=provider,
            model="gpt-test" if provider == "openai" else "claude-test",
            base_url=server.openai_url if provider == "openai" else server.anthropic_url,
            api_key_env="LLM_KEY",
        )
        server.enqueue(Reply(text="too late", delay=60))
        engine, _ = await real_engine(
            tmp_path, AgentExecutor({agent.name: agent}, env={"LLM_KEY": key})
        )
        try:
            service = engine.service
            assert service is not None
            await service.add_job({"name": "ask", "agent": "analyst", "cron": NEVER})
            run = await service.run_now("ask", actor="tester")

            async def asked() -> bool:
                return len(server.requests) == 1

            await until(asked, "the LLM request was sent")
            began = time.monotonic()
            outcome = await service.cancel_run(run.id, actor="dave")
            assert time.monotonic() - began < 5  # not the 60 s the reply would take
            assert outcome.ended and outcome.run.status is RunStatus.CANCELLED
            assert outcome.run.output is None
            await asyncio.sleep(0.2)
            assert len(server.requests) == 1  # not retried either
        finally:
            await engine.stop()


# --- two PostgreSQL nodes ---------------------------------------------------------------------


@pytest.fixture
async def two_nodes(harness_factory: Any, pg_url: str) -> AsyncIterator[list[Harness]]:
    built = [
        await harness_factory(path=pg_url, owner=owner, max_concurrent_jobs=5)
        for owner in ("node-a", "node-b")
    ]
    yield built
    for node in built:
        await node.engine.stop()


@pytest.mark.sqlite_only  # (once: the nodes are on pg_url whatever the harness's back end)
async def test_a_cancel_asked_of_another_node_reaches_the_node_running_it(
    two_nodes: list[Harness],
) -> None:
    a, b = two_nodes
    agent = Holding()
    a.agents.behaviour["holder"] = agent  # (the agents are shared: whichever node starts it)
    await a.service.add_job({"name": "long", "agent": "holder", "cron": NEVER})
    run_id = await _running(a, "long")
    await asyncio.wait_for(agent.started.wait(), 10)
    holder, other = (a, b) if a.scheduler.runs.holds(run_id) else (b, a)
    assert holder.scheduler.runs.holds(run_id) and not other.scheduler.runs.holds(run_id)

    outcome = await other.service.cancel_run(run_id, actor="ops")

    assert not outcome.ended and outcome.run.status is RunStatus.RUNNING

    async def cancelled() -> bool:
        return (await other.service.get_run(run_id)).status is RunStatus.CANCELLED

    await until(cancelled, "the holding node cancelled the run")
    assert agent.cancelled == [run_id]
    final = await other.service.get_run(run_id)
    assert final.error_message == "cancelled by ops" and "cancel_requested" not in final.details
    (event,) = await other.service.audit(type=AuditEventType.CRON_RUN_CANCELLED)
    assert (event.actor, event.run_id) == ("ops", run_id)
    assert not holder.scheduler.runs.holds(run_id)


@pytest.mark.sqlite_only  # (once: the nodes are on pg_url whatever the harness's back end)
async def test_a_cancel_asked_of_a_node_that_died_ends_cancelled_not_retried(
    two_nodes: list[Harness], clock: Any
) -> None:
    """The node running the run dies before it notices the request: the node that recovers its
    runs records that one cancelled (audited with who asked), not interrupted and retried."""
    from .test_multinode import crash

    a, b = two_nodes
    agent = Holding()
    a.agents.behaviour["holder"] = agent
    await a.service.add_job({"name": "long", "agent": "holder", "cron": NEVER, "max_retries": 3})
    run_id = await _running(a, "long")
    await asyncio.wait_for(agent.started.wait(), 10)
    holder, other = (a, b) if a.scheduler.runs.holds(run_id) else (b, a)
    crash(holder)  # as kill -9: it stops looking at the store
    await asyncio.sleep(0.05)
    outcome = await other.service.cancel_run(run_id, actor="ops")
    assert not outcome.ended
    clock.advance(60)  # past the dead node's lease
    await other.scheduler._try_lead()

    async def cancelled() -> bool:
        return (await other.service.get_run(run_id)).status is RunStatus.CANCELLED

    await until(cancelled, "the surviving node recorded the run cancelled")
    final = await other.service.get_run(run_id)
    assert final.error_message == "cancelled by ops (its scheduler stopped)"
    assert [r.id for r in await other.service.history("long")] == [run_id]  # no retry
    (event,) = await other.service.audit(type=AuditEventType.CRON_RUN_CANCELLED)
    assert (event.actor, event.run_id) == ("ops", run_id)
    assert not await other.service.audit(type=AuditEventType.CRON_RUN_INTERRUPTED)
