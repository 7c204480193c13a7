"""The executor seam between the scheduling loop and whatever runs an agent."""

from __future__ import annotations

__all__ = ["CallableExecutor", "ExecutionResult", "Executor", "RunContext"]

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import ExecutionError
from ..model import JobDefinition, JobRun


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionResult:
    output: str | None = None
    summary: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunContext:
    """What a python-callable agent receives."""

    job: JobDefinition
    run: JobRun
    input: str | None
    previous_summary: str | None = None
    iteration: int = 0


class Executor(Protocol):
    async def execute(self, job: JobDefinition, run: JobRun) -> ExecutionResult:
        """Run the job's agent once; raise to fail the run."""
        ...


AgentCallable = Callable[[RunContext], Any]


class CallableExecutor:
    """Runs agents that are Python callables, looked up by agent name (sync or async)."""

    def __init__(self, agents: Mapping[str, AgentCallable]) -> None:
        self.agents = agents

    async def execute(self, job: JobDefinition, run: JobRun) -> ExecutionResult:
        fn = self.agents.get(job.agent)
        if fn is None:
            raise ExecutionError(f"unknown agent {job.agent!r}")
        context = RunContext(job=job, run=run, input=run.input)
        result = fn(context)
        if inspect.isawaitable(result):
            result = await result
        return _as_result(result)


def _as_result(value: Any) -> ExecutionResult:
    if isinstance(value, ExecutionResult):
        return value
    if value is None:
        return ExecutionResult()
    if isinstance(value, Mapping):
        return ExecutionResult(
            output=None if value.get("output") is None else str(value["output"]),
            summary=value.get("summary"),
            details=value.get("details", {}),
        )
    return ExecutionResult(output=str(value))
