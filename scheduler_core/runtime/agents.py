"""AgentExecutor: runs a job's agent from its definition (command or python runner)."""

from __future__ import annotations

__all__ = ["AgentExecutor", "CommandFailed"]

import asyncio
import importlib
import inspect
from collections.abc import Callable
from typing import Any

from ..errors import ExecutionError
from ..model import AgentDefinition, JobDefinition, JobRun, RunnerKind
from .base import ExecutionResult, RunContext, _as_result
from .command import CommandResult, failure_message, run_command


class CommandFailed(ExecutionError):
    """A command agent exited non-zero; details carry the exit code and the stderr tail."""

    def __init__(self, result: CommandResult) -> None:
        super().__init__(failure_message(result))
        self.result = result

    def details(self) -> dict[str, object]:
        return {"exit_code": self.result.exit_code, "stderr": self.result.stderr[-4000:]}


class AgentExecutor:
    """Looks the job's agent up by name and runs it through its runner."""

    def __init__(self, agents: dict[str, AgentDefinition]) -> None:
        self.agents = agents
        self._handlers: dict[str, Callable[..., Any]] = {}

    async def execute(self, job: JobDefinition, run: JobRun) -> ExecutionResult:
        agent = self.agents.get(job.agent)
        if agent is None:
            raise ExecutionError(f"unknown agent {job.agent!r}: define it in the config or DSL")
        if agent.runner is RunnerKind.COMMAND:
            return await self._command(agent, job, run)
        if agent.runner is RunnerKind.PYTHON:
            return await self._python(agent, job, run)
        raise ExecutionError(
            f"agent {agent.name!r}: the {agent.runner.value} runner is not available"
        )

    async def _command(
        self, agent: AgentDefinition, job: JobDefinition, run: JobRun
    ) -> ExecutionResult:
        assert agent.command is not None
        env = {
            **agent.env,
            "SYMBI_INPUT": run.input or "",
            "SYMBI_JOB_ID": job.id,
            "SYMBI_JOB_NAME": job.name,
            "SYMBI_RUN_ID": run.id,
            "SYMBI_ITERATION": "0",
            "SYMBI_PREVIOUS_SUMMARY": "",
        }
        call = run_command(agent.command, input=run.input, env=env, cwd=agent.working_dir)
        if agent.timeout_seconds:
            try:
                result = await asyncio.wait_for(call, agent.timeout_seconds)
            except TimeoutError:
                raise ExecutionError(
                    f"agent {agent.name!r} timed out after {agent.timeout_seconds:g}s"
                ) from None
        else:
            result = await call
        if result.exit_code != 0:
            raise CommandFailed(result)
        details: dict[str, Any] = {"exit_code": 0}
        if result.stderr:
            details["stderr"] = result.stderr[-4000:]
        if result.truncated:
            details["truncated"] = True
        return ExecutionResult(output=result.stdout, details=details)

    async def _python(
        self, agent: AgentDefinition, job: JobDefinition, run: JobRun
    ) -> ExecutionResult:
        assert agent.handler is not None
        fn = self._handlers.get(agent.handler)
        if fn is None:
            fn = self._handlers[agent.handler] = _import(agent.handler)
        value = fn(RunContext(job=job, run=run, input=run.input))
        if inspect.isawaitable(value):
            value = await value
        return _as_result(value)


def _import(spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ExecutionError(f"handler {spec!r} is not 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
        fn = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ExecutionError(f"cannot load handler {spec!r}: {exc}") from None
    if not callable(fn):
        raise ExecutionError(f"handler {spec!r} is not callable")
    return fn
