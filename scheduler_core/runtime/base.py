"""The executor seam between the scheduling loop and whatever runs an agent."""

from __future__ import annotations

__all__ = ["CallableExecutor", "ExecutionResult", "Executor", "RunContext"]

import inspect
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any, Protocol

from ..errors import ExecutionError
from ..model import JobDefinition, JobRun, SessionMode
from ..records import record


@record(kw_only=True)
class ExecutionResult:
    output: str | None = None
    summary: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@record(kw_only=True)
class RunContext:
    """One invocation of an agent: what a python agent receives, what a command agent gets as
    SYMBI_* variables, what an LLM agent gets as its messages.

    ``previous_summary`` and ``memory`` are filled per the session mode (between runs) or the
    heartbeat's context mode (between iterations); ``iteration`` is 0 outside a heartbeat.
    """

    job: JobDefinition
    run: JobRun
    input: str | None
    previous_summary: str | None = None
    iteration: int = 0
    max_iterations: int | None = None
    memory: tuple[Mapping[str, Any], ...] = ()  #: shared_persistent: earlier entries, oldest first
    session_mode: SessionMode = SessionMode.EPHEMERAL_WITH_SUMMARY
    #: the environment for a process a python agent starts (``subprocess.run(..., env=ctx.env)``):
    #: the same clean one a command agent gets, never the scheduler's keys
    env: Mapping[str, str] = field(default_factory=dict)


class Executor(Protocol):
    async def execute(self, context: RunContext) -> ExecutionResult:
        """Run the job's agent once; raise to fail the run (or the heartbeat iteration)."""
        ...


AgentCallable = Callable[[RunContext], Any]


class CallableExecutor:
    """Runs agents that are Python callables, looked up by agent name (sync or async)."""

    def __init__(self, agents: Mapping[str, AgentCallable]) -> None:
        self.agents = agents

    async def execute(self, context: RunContext) -> ExecutionResult:
        fn = self.agents.get(context.job.agent)
        if fn is None:
            raise ExecutionError(f"unknown agent {context.job.agent!r}")
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
