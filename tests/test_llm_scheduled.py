"""LLM agents through the scheduler: session context as conversation, heartbeat replies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scheduler_core.clock import FakeClock
from scheduler_core.engine import Engine
from scheduler_core.model import AgentDefinition, RunnerKind, RunStatus
from scheduler_core.runtime.agents import AgentExecutor

from .conftest import finished_run, real_engine
from .llm_server import FakeLlmServer, Reply

KEY = "sk-test-scheduled-0123456789"


@pytest.fixture
def server() -> Iterator[FakeLlmServer]:
    with FakeLlmServer(api_key=KEY) as fake:
        yield fake


async def _engine(tmp_path: Path, agent: AgentDefinition) -> tuple[Engine, FakeClock]:
    executor = AgentExecutor({agent.name: agent}, env={"LLM_KEY": KEY})
    return await real_engine(tmp_path, executor)


def _agent(server: FakeLlmServer, provider: str) -> AgentDefinition:
    return AgentDefinition(
        name="analyst",
        runner=RunnerKind.LLM,
        provider=provider,
        model="gpt-test" if provider == "openai" else "claude-test",
        base_url=server.openai_url if provider == "openai" else server.anthropic_url,
        api_key_env="LLM_KEY",
        system_prompt="You watch the nightly reports.",
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_shared_persistent_llm_agent_sees_its_earlier_turns(
    tmp_path: Path, server: FakeLlmServer, provider: str
) -> None:
    engine, clock = await _engine(tmp_path, _agent(server, provider))
    try:
        assert engine.service is not None
        await engine.service.add_job(
            {
                "name": "report",
                "agent": "analyst",
                "cron": "0 * * * *",
                "session_mode": "shared_persistent",
                "input": "Summarize the night.",
            }
        )
        server.enqueue(Reply(text="Quiet night.\nSUMMARY: quiet"))
        server.enqueue(Reply(text="Two alerts.\nSUMMARY: two alerts"))
        clock.set("2026-03-02T09:00:00Z")
        first = await finished_run(engine, "report")
        assert first.status is RunStatus.SUCCEEDED, first.error_message
        assert first.summary == "quiet"
        clock.set("2026-03-02T10:00:00Z")
        second = await finished_run(engine, "report")
        assert second.output.startswith("Two alerts.")
        turns = [
            (m["role"], _text(m["content"]))
            for m in server.last.json["messages"]
            if m["role"] != "system"
        ]
        assert turns[0] == ("user", "Summarize the night.")
        assert turns[1][0] == "assistant" and turns[1][1].startswith("Quiet night.")
        assert "Summary of your previous run: quiet" in " ".join(t for _, t in turns[2:])
        assert turns[-1][1].endswith("Summarize the night.")
        assert second.details["provider"] == provider
        assert KEY not in repr(second.details)
    finally:
        await engine.stop()


async def test_llm_heartbeat_sleeps_when_the_model_says_so(
    tmp_path: Path, server: FakeLlmServer
) -> None:
    engine, clock = await _engine(tmp_path, _agent(server, "openai"))
    try:
        assert engine.service is not None
        await engine.service.add_job(
            {
                "name": "watch",
                "agent": "analyst",
                "cron": "*/10 * * * *",
                "heartbeat": {"enabled": True, "max_iterations": 4},
            }
        )
        server.enqueue(Reply(text="CPU high on db-1. Restarting worker."))
        server.enqueue(Reply(text='{"action": "sleep", "assessment": "all calm"}'))
        clock.set("2026-03-02T09:00:00Z")
        run = await finished_run(engine, "watch")
        assert run.status is RunStatus.SUCCEEDED, run.error_message
        its = await engine.service.iterations(run.id)
        assert [i.outcome for i in its] == ["continue", "sleep"]
        assert its[1].assessment == "all calm"
        assert len(server.requests) == 2
    finally:
        await engine.stop()


async def test_a_bad_key_fails_the_run_without_showing_it(tmp_path: Path) -> None:
    with FakeLlmServer(api_key="the-right-key") as fake:
        engine, clock = await _engine(tmp_path, _agent(fake, "openai"))
        try:
            assert engine.service is not None
            await engine.service.add_job(
                {"name": "r", "agent": "analyst", "at": "2026-03-02T09:00:00Z", "max_retries": 1}
            )
            clock.set("2026-03-02T09:00:00Z")
            run = await finished_run(engine, "r")
            assert run.status is RunStatus.FAILED
            assert "LLM_KEY" in (run.error_message or "")
            assert KEY not in (run.error_message or "") and KEY not in repr(run.details)
        finally:
            await engine.stop()
