"""Session isolation across runs and restarts, and the heartbeat loop, through the scheduler."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from scheduler_core.clock import FakeClock
from scheduler_core.engine import Engine
from scheduler_core.events import IterationRecorded
from scheduler_core.model import AgentDefinition, RunnerKind, RunStatus
from scheduler_core.runtime.agents import AgentExecutor
from scheduler_core.runtime.base import RunContext
from scheduler_core.runtime.session import parse_step, summarize

from .conftest import Harness, finished_run, real_engine

PY = sys.executable
HOURS = ["09:00", "10:00", "11:00"]


def numbered(ctx: RunContext) -> str:
    n = len(ctx.memory) + 1 if ctx.memory else int(ctx.run.scheduled_for.hour) - 8
    return f"work of run {n}\nSUMMARY: summary {ctx.run.scheduled_for:%H:%M}"


async def _three_runs_and_a_restart(harness_factory, mode: str) -> list[RunContext]:
    h: Harness = await harness_factory()
    h.agents.behaviour["a"] = numbered
    await h.service.add_job(
        {"name": "j", "agent": "a", "cron": "0 * * * *", "session_mode": mode, "input": "go"}
    )
    for hour in HOURS:
        await h.to(f"2026-03-02T{hour}:00Z")
    await h.engine.stop()
    h2: Harness = await harness_factory()
    try:
        await h2.to("2026-03-02T12:00:00Z")
        runs = await h2.service.history("j")
        assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 4
        # the summary of each run is stored with it
        assert [r.summary for r in reversed(runs)] == [f"summary {x}" for x in [*HOURS, "12:00"]]
    finally:
        await h2.engine.stop()
    return list(h.agents.calls)


async def test_ephemeral_with_summary_carries_only_the_previous_summary(harness_factory) -> None:
    calls = await _three_runs_and_a_restart(harness_factory, "ephemeral_with_summary")
    assert [c.previous_summary for c in calls] == [None, *(f"summary {x}" for x in HOURS)]
    assert all(c.memory == () for c in calls)


async def test_shared_persistent_keeps_one_context_across_restarts(harness_factory) -> None:
    calls = await _three_runs_and_a_restart(harness_factory, "shared_persistent")
    assert [len(c.memory) for c in calls] == [0, 1, 2, 3]  # the fourth run is after the restart
    last = calls[-1]
    assert [e["summary"] for e in last.memory] == [f"summary {x}" for x in HOURS]
    assert last.memory[0]["input"] == "go"
    assert last.memory[0]["output"].startswith("work of run 1")
    assert last.previous_summary == "summary 11:00"


async def test_fully_ephemeral_carries_nothing(harness_factory) -> None:
    calls = await _three_runs_and_a_restart(harness_factory, "fully_ephemeral")
    assert [(c.previous_summary, c.memory) for c in calls] == [(None, ())] * 4


async def test_shared_persistent_context_is_capped(harness_factory) -> None:
    h: Harness = await harness_factory(context_max_bytes=2048)
    try:
        h.agents.behaviour["a"] = lambda ctx: "x" * 700 + "\nSUMMARY: s"
        await h.service.add_job(
            {"name": "j", "agent": "a", "cron": "0 * * * *", "session_mode": "shared_persistent"}
        )
        for hour in ["09", "10", "11", "12", "13"]:
            await h.to(f"2026-03-02T{hour}:00:00Z")
        context = await h.store.load_context((await h.service.get_job("j")).id)
        assert context is not None
        encoded = json.dumps([dict(e) for e in context.memory], separators=(",", ":"))
        assert len(encoded) <= 2048
        assert 1 <= len(context.memory) < 5
        # the newest entries are the ones kept
        assert context.memory[-1]["at"].startswith("2026-03-02T13:00")
    finally:
        await h.engine.stop()


# --- heartbeat -----------------------------------------------------------------------------------


def _heartbeat_job(**heartbeat: Any) -> dict[str, Any]:
    return {
        "name": "system-monitor",
        "agent": "monitor",
        "cron": "*/5 * * * *",
        "heartbeat": {"enabled": True, **heartbeat},
    }


async def test_heartbeat_iterates_until_sleep(harness: Harness) -> None:
    h = harness
    answers = {1: "disk 91%\nrotate logs", 2: "disk 60%\nsleep"}
    h.agents.behaviour["monitor"] = lambda ctx: answers[ctx.iteration]
    sub = h.engine.bus.subscribe()
    await h.service.add_job(_heartbeat_job(max_iterations=5))
    await h.to("2026-03-02T09:00:00Z")
    (run,) = await h.service.history("system-monitor")
    assert run.status is RunStatus.SUCCEEDED
    assert run.details["heartbeat"] == {"iterations": 2, "max_iterations": 5, "stopped": "sleep"}
    its = await h.service.iterations(run.id)
    assert [(i.index, i.outcome, i.action) for i in its] == [
        (1, "continue", "continue"),
        (2, "sleep", "sleep"),
    ]
    assert its[0].assessment == "disk 91%" and its[1].assessment == "disk 60%"
    assert its[0].output_excerpt == "disk 91%\nrotate logs"
    assert all(i.finished_at is not None for i in its)
    # each iteration is published as it starts and as it ends
    seen = []
    while (event := sub.get_nowait()) is not None:
        if isinstance(event, IterationRecorded):
            seen.append((event.iteration.index, event.iteration.outcome))
    assert seen == [(1, "running"), (1, "continue"), (2, "running"), (2, "sleep")]
    # context carries from one iteration to the next (ephemeral_with_summary by default)
    assert [c.previous_summary for c in h.agents.calls] == [None, "rotate logs"]
    assert [c.iteration for c in h.agents.calls] == [1, 2]
    assert "--- iteration 1: continue ---" in (run.output or "")


async def test_heartbeat_stops_at_max_iterations(harness: Harness) -> None:
    h = harness
    h.agents.behaviour["monitor"] = lambda ctx: json.dumps(
        {"action": "investigate", "assessment": f"look {ctx.iteration}", "summary": "busy"}
    )
    await h.service.add_job(_heartbeat_job(max_iterations=3, context_mode="fully_ephemeral"))
    await h.to("2026-03-02T09:00:00Z")
    (run,) = await h.service.history("system-monitor")
    assert run.status is RunStatus.SUCCEEDED
    assert run.details["heartbeat"]["stopped"] == "max_iterations"
    its = await h.service.iterations(run.id)
    assert [i.outcome for i in its] == ["continue", "continue", "max_iterations"]
    assert [i.assessment for i in its] == ["look 1", "look 2", "look 3"]
    assert {i.action for i in its} == {"investigate"}
    assert [c.previous_summary for c in h.agents.calls] == [None, None, None]


async def test_heartbeat_shared_persistent_iterations_share_memory(harness: Harness) -> None:
    h = harness
    h.agents.behaviour["monitor"] = lambda ctx: "sleep" if ctx.iteration == 3 else "step"
    await h.service.add_job(_heartbeat_job(context_mode="shared_persistent"))
    await h.to("2026-03-02T09:00:00Z")
    assert [len(c.memory) for c in h.agents.calls] == [0, 1, 2]
    assert [e["iteration"] for e in h.agents.calls[2].memory] == [1, 2]


async def test_a_failing_iteration_fails_the_run(harness: Harness) -> None:
    h = harness

    def flaky(ctx: RunContext) -> str:
        if ctx.iteration == 2:
            raise RuntimeError("probe crashed")
        return "ok"

    h.agents.behaviour["monitor"] = flaky
    await h.service.add_job(_heartbeat_job())
    await h.to("2026-03-02T09:00:00Z")
    retry, run = await h.service.history("system-monitor")
    assert retry.status is RunStatus.QUEUED and retry.attempt == 2  # retried per policy
    assert run.status is RunStatus.FAILED
    assert run.error_message == "heartbeat iteration 2 failed: probe crashed"
    its = await h.service.iterations(run.id)
    outcomes = [(i.outcome, i.summary) for i in its]
    assert outcomes == [("continue", "ok"), ("failed", "probe crashed")]


@pytest.mark.parametrize(
    ("output", "action", "assessment"),
    [
        ("all good\nsleep", "sleep", "all good"),
        ("SLEEP", "sleep", None),
        ('{"action": "sleep", "assessment": "calm"}', "sleep", "calm"),
        ('checked\n{"action": "restart", "assessment": "svc down"}', "restart", "svc down"),
        ("still busy", "continue", "still busy"),
        ("", "continue", None),
        ("{not json", "continue", "{not json"),
    ],
)
def test_parse_step(output: str, action: str, assessment: str | None) -> None:
    step = parse_step(output)
    assert (step.action, step.assessment) == (action, assessment)


def test_summarize() -> None:
    assert summarize("a\nSUMMARY: the gist\nb") == "the gist"
    assert summarize("first\nlast line\n\n") == "last line"
    assert summarize("") is None
    assert len(summarize("x" * 5000) or "") == 1000


# --- command agents, end to end ------------------------------------------------------------------


async def _engine(tmp_path: Path, agent: AgentDefinition) -> tuple[Engine, FakeClock]:
    return await real_engine(tmp_path, AgentExecutor({agent.name: agent}))


async def test_command_heartbeat_sees_iteration_and_summary(tmp_path: Path) -> None:
    script = (
        "import os; i = os.environ['SYMBI_ITERATION']; "
        "print('seen', i, repr(os.environ['SYMBI_PREVIOUS_SUMMARY'])); "
        "print('sleep' if i == '3' else 'SUMMARY: pass ' + i)"
    )
    agent = AgentDefinition(name="monitor", runner=RunnerKind.COMMAND, command=[PY, "-c", script])
    engine, clock = await _engine(tmp_path, agent)
    try:
        assert engine.service is not None
        await engine.service.add_job(_heartbeat_job())
        clock.set("2026-03-02T09:00:00Z")
        run = await finished_run(engine, "system-monitor")
        assert run.status is RunStatus.SUCCEEDED, run.error_message
        its = await engine.service.iterations(run.id)
        assert [i.outcome for i in its] == ["continue", "continue", "sleep"]
        assert [i.assessment for i in its] == [
            "seen 1 ''",
            "seen 2 'pass 1'",
            "seen 3 'pass 2'",
        ]
    finally:
        await engine.stop()


async def test_command_shared_context_file(tmp_path: Path) -> None:
    script = (
        "import json, os; path = os.environ.get('SYMBI_CONTEXT_FILE'); "
        "doc = json.load(open(path)) if path else {'memory': []}; "
        "print(os.environ['SYMBI_SESSION_MODE'], len(doc['memory']))"
    )
    agent = AgentDefinition(name="a", runner=RunnerKind.COMMAND, command=[PY, "-c", script])
    engine, clock = await _engine(tmp_path, agent)
    try:
        assert engine.service is not None
        await engine.service.add_job(
            {"name": "j", "agent": "a", "cron": "0 * * * *", "session_mode": "shared_persistent"}
        )
        outputs = []
        for hour in ("09", "10", "11"):
            clock.set(f"2026-03-02T{hour}:00:00Z")
            outputs.append((await finished_run(engine, "j")).output)
        assert outputs == [f"shared_persistent {n}\n" for n in (0, 1, 2)]
        leftovers = [p for p in os.listdir(tempfile.gettempdir()) if "symbi-context" in p]
        assert leftovers == []
    finally:
        await engine.stop()


async def test_max_runtime_kills_the_command_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time; "
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pidfile)!r}, 'w').write(str(child.pid)); time.sleep(60)"
    )
    agent = AgentDefinition(name="a", runner=RunnerKind.COMMAND, command=[PY, "-c", script])
    engine, clock = await _engine(tmp_path, agent)
    try:
        assert engine.service is not None
        await engine.service.add_job(
            {
                "name": "j",
                "agent": "a",
                "at": "2026-03-02T09:00:00Z",
                "policy": {"max_runtime": 1},
                "max_retries": 1,
            }
        )
        clock.set("2026-03-02T09:00:00Z")
        run = await finished_run(engine, "j")
        assert run.status is RunStatus.TIMED_OUT
        assert run.error_message == "timed out: max_runtime 1s exceeded"
        child = int(pidfile.read_text())
        for _ in range(100):
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the agent's child process outlived the timeout")
    finally:
        await engine.stop()
