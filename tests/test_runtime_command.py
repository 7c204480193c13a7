"""Command and python agents, run for real in subprocesses."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from scheduler_core.clock import parse_instant
from scheduler_core.errors import ExecutionError
from scheduler_core.model import AgentDefinition, JobDefinition, JobRun, RunnerKind
from scheduler_core.runtime.agents import AgentExecutor, CommandFailed
from scheduler_core.runtime.base import RunContext

JOB = JobDefinition(id="j1", name="backup", agent="a", cron="0 3 * * *")
RUN = JobRun(
    id="r1",
    job_id="j1",
    job_name="backup",
    agent_id="a",
    scheduled_for=parse_instant("2026-03-02T03:00:00Z"),
    input="Check production database",
)
CTX = RunContext(job=JOB, run=RUN, input=RUN.input)
PY = sys.executable


def executor(**agent: object) -> AgentExecutor:
    runner = agent.pop("runner", RunnerKind.COMMAND)
    return AgentExecutor({"a": AgentDefinition(name="a", runner=runner, **agent)})  # type: ignore[arg-type]


async def test_input_on_stdin_and_env_output_from_stdout() -> None:
    script = (
        "import os, sys; data = sys.stdin.read(); "
        "print(data, os.environ['SYMBI_INPUT'], os.environ['SYMBI_JOB_NAME'], "
        "os.environ['SYMBI_RUN_ID'], os.environ['EXTRA'], sep='|')"
    )
    result = await executor(command=[PY, "-c", script], env={"EXTRA": "x"}).execute(CTX)
    assert result.output == ("Check production database|Check production database|backup|r1|x\n")
    assert result.details["exit_code"] == 0


async def test_non_zero_exit_names_code_and_stderr_tail() -> None:
    script = "import sys; print('partial'); sys.stderr.write('disk full\\n'); sys.exit(3)"
    with pytest.raises(CommandFailed) as err:
        await executor(command=[PY, "-c", script]).execute(CTX)
    assert str(err.value) == "exit code 3: disk full"
    assert err.value.details()["exit_code"] == 3


async def test_output_is_capped() -> None:
    script = "import sys; sys.stdout.write('x' * 3_000_000)"
    result = await executor(command=[PY, "-c", script]).execute(CTX)
    assert len(result.output or "") == 1024 * 1024 and result.details["truncated"] is True


async def test_missing_program_is_a_clear_error() -> None:
    with pytest.raises(ExecutionError, match="cannot start 'no-such-program-xyz'"):
        await executor(command="no-such-program-xyz --flag").execute(CTX)


async def test_cancel_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time; "
        f"c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open({str(pidfile)!r}, 'w').write(str(c.pid)); time.sleep(60)"
    )
    task = asyncio.create_task(executor(command=[PY, "-c", script]).execute(CTX))
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    child = int(pidfile.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # a zombie still answers kill(0): reap-free check through /proc
        state = Path(f"/proc/{child}/stat")
        if state.exists() and state.read_text().split()[2] == "Z":  # noqa: ASYNC240
            break
        await asyncio.sleep(0.02)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the grandchild survived the cancellation")


async def test_agent_timeout() -> None:
    with pytest.raises(ExecutionError, match=r"timed out after 0\.2s"):
        await executor(
            command=[PY, "-c", "import time; time.sleep(5)"], timeout_seconds=0.2
        ).execute(CTX)


async def echo_handler(ctx):
    await asyncio.sleep(0)
    return {"output": f"got {ctx.input} for {ctx.job.name}", "summary": "echoed"}


async def test_python_handler() -> None:
    spec = "tests.test_runtime_command:echo_handler"
    result = await executor(runner=RunnerKind.PYTHON, handler=spec).execute(CTX)
    assert result.output == "got Check production database for backup"
    assert result.summary == "echoed"
    with pytest.raises(ExecutionError, match="cannot load handler"):
        await executor(runner=RunnerKind.PYTHON, handler="nope.mod:fn").execute(CTX)


async def test_unknown_agent() -> None:
    with pytest.raises(ExecutionError, match="unknown agent 'zzz'"):
        job = JobDefinition(id="j", name="j", agent="zzz", cron="* * * * *")
        await executor(command="true").execute(RunContext(job=job, run=RUN, input=None))


async def test_dsl_agent_runs_through_the_scheduler(tmp_path: Path) -> None:
    """An agent block and a schedule in one DSL file: loaded, fired, its stdout recorded."""
    from scheduler_core.clock import FakeClock
    from scheduler_core.config import SchedulerConfig, SchedulerSettings, StoreConfig
    from scheduler_core.engine import Engine
    from scheduler_core.model import RunStatus

    source = tmp_path / "backup.symbi"
    source.write_text(
        f'agent backup-agent {{\n  command: ["{PY}", "-c", "print(\\"backup ok\\")"]\n}}\n'
        'schedule {\n  name: "backup"\n  agent: "backup-agent"\n  cron: "0 3 * * *"\n}\n'
    )
    clock = FakeClock("2026-03-02T02:59:00Z")
    config = SchedulerConfig(
        scheduler=SchedulerSettings(claim_ahead_seconds=0),
        store=StoreConfig(url=str(tmp_path / "s.db")),
    )
    engine = Engine(config, executor=AgentExecutor({}), clock=clock)
    service = await engine.start()
    try:
        result = await service.load_dsl([str(source)])
        assert result.created == ["backup"]
        clock.set("2026-03-02T03:00:00Z")
        for _ in range(200):
            await engine.scheduler.wait_idle()
            runs = await service.history("backup")
            if runs and runs[0].status is not RunStatus.RUNNING:
                break
            await asyncio.sleep(0.02)
        (run,) = await service.history("backup")
        assert run.status is RunStatus.SUCCEEDED, run.error_message
        assert run.output == "backup ok\n"
    finally:
        await engine.stop()


async def test_a_child_holding_stdout_does_not_hold_the_run(tmp_path: Path) -> None:
    """The agent exits at once with status 3, leaving a child that keeps stdout open: the run
    ends after the grace with the agent's status and output, and the child is killed."""
    from scheduler_core.runtime.command import OUTPUT_GRACE

    pidfile = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pidfile}; echo partial; exit 3"
    began = time.monotonic()
    with pytest.raises(CommandFailed) as err:
        await asyncio.wait_for(executor(command=["/bin/sh", "-c", script]).execute(CTX), 20)
    took = time.monotonic() - began
    result = err.value.result
    assert (result.exit_code, result.stdout, result.held_output) == (3, "partial\n", True)
    assert err.value.details()["held_output"] is True
    assert OUTPUT_GRACE <= took < OUTPUT_GRACE + 5, took
    child = int(pidfile.read_text())
    for _ in range(200):
        state = Path(f"/proc/{child}/stat")
        if not state.exists() or state.read_text().rsplit(")", 1)[1].split()[0] == "Z":  # noqa: ASYNC240
            break
        await asyncio.sleep(0.02)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child holding stdout survived its run")


async def test_a_child_that_lets_go_of_stdout_ends_with_its_parent(tmp_path: Path) -> None:
    """A background child with its own output: the run ends as its agent exits, no grace."""
    script = "sleep 60 > /dev/null 2>&1 & echo ok"
    began = time.monotonic()
    result = await executor(command=["/bin/sh", "-c", script]).execute(CTX)
    assert result.output == "ok\n" and "held_output" not in result.details
    assert time.monotonic() - began < 1.5
