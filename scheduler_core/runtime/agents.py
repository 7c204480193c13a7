"""AgentExecutor: runs a job's agent from its definition (command or python runner).

A command agent gets the run's input on stdin, and also in ``SYMBI_INPUT`` when it fits in one
environment variable (:data:`ENV_INPUT_MAX_BYTES`: Linux holds at most 128 KiB in one); a larger
input is instead in the file ``SYMBI_INPUT_FILE`` names, created ``0600`` in a private ``0700``
directory and removed after the run. Inputs are checked where they enter (at most 1 MiB, no NUL:
:func:`scheduler_core.jobspec.check_input`), so a run never fails for being given its input.
"""

from __future__ import annotations

__all__ = ["ENV_INPUT_MAX_BYTES", "AgentExecutor", "CommandFailed"]

import asyncio
import contextlib
import importlib
import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import ExecutionError
from ..model import AgentDefinition, RunnerKind
from ..telemetry import trace_headers
from .base import ExecutionResult, RunContext, _as_result
from .command import CommandResult, failure_message, run_command
from .environment import agent_environment
from .ledger import AgentLedger

if TYPE_CHECKING:
    from .llm import LlmRunner

#: the largest value one environment variable can carry on Linux (MAX_ARG_STRLEN: 128 KiB for
#: ``NAME=value`` and its NUL): larger inputs go through a file, longer summaries are cut
ENV_INPUT_MAX_BYTES = 131072 - len("SYMBI_INPUT=") - 1


class CommandFailed(ExecutionError):
    """A command agent exited non-zero; details carry the exit code and the stderr tail."""

    def __init__(self, result: CommandResult) -> None:
        super().__init__(failure_message(result))
        self.result = result

    def details(self) -> dict[str, object]:
        details: dict[str, object] = {
            "exit_code": self.result.exit_code,
            "stderr": self.result.stderr[-4000:],
        }
        if self.result.held_output:
            details["held_output"] = True
        return details


class AgentExecutor:
    """Looks the job's agent up by name and runs it through its runner."""

    def __init__(
        self,
        agents: dict[str, AgentDefinition],
        *,
        llm: LlmRunner | None = None,
        env: Mapping[str, str] | None = None,
        ledger: AgentLedger | None = None,
    ) -> None:
        """``ledger``: where command agents' process groups are recorded while they live (the
        engine gives the one under its data directory)."""
        self.agents = agents
        #: looks up an agent this process does not know yet (one registered in the store since
        #: it started); the engine gives the service's
        self.find_agent: Callable[[str], Awaitable[AgentDefinition | None]] | None = None
        self.ledger = ledger
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._llm = llm
        self._env = env

    async def aclose(self) -> None:
        if self._llm is not None:
            await self._llm.aclose()

    async def execute(self, context: RunContext) -> ExecutionResult:
        name = context.job.agent
        agent = self.agents.get(name)
        if agent is None and self.find_agent is not None:
            agent = await self.find_agent(name)
        if agent is None:
            raise ExecutionError(f"unknown agent {name!r}: define it in the config or DSL")
        if agent.runner is RunnerKind.COMMAND:
            return await self._command(agent, context)
        if agent.runner is RunnerKind.PYTHON:
            return await self._python(agent, context)
        if agent.runner is RunnerKind.LLM:
            if self._llm is None:
                from .llm import LlmRunner  # at first use: the HTTP client of the LLM runner

                self._llm = LlmRunner(env=self._env)
            return await self._llm.run(
                agent,
                input=context.input,
                previous_summary=context.previous_summary,
                memory=_turns(context.memory),
                iteration=context.iteration,
            )
        raise ExecutionError(
            f"agent {agent.name!r}: the {agent.runner.value} runner is not available"
        )

    async def _command(self, agent: AgentDefinition, context: RunContext) -> ExecutionResult:
        assert agent.command is not None
        env = _run_variables(agent, context)
        text = _agent_text(context.input or "")
        with _context_file(context) as path, _input_file(text) as input_path:
            if path is not None:
                env["SYMBI_CONTEXT_FILE"] = path
            if input_path is not None:
                env["SYMBI_INPUT_FILE"] = input_path
            else:
                env["SYMBI_INPUT"] = text
            return await self._spawn(agent, context, text or None, env)

    async def _spawn(
        self, agent: AgentDefinition, context: RunContext, text: str | None, env: dict[str, str]
    ) -> ExecutionResult:
        assert agent.command is not None
        call = run_command(
            agent.command,
            input=text,
            env=env,
            cwd=agent.working_dir,
            ledger=self.ledger,
            run_id=context.run.id,
            job=context.job.name,
            inherit_env=agent.inherit_env,
        )
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
        if result.held_output:
            details["held_output"] = True
        return ExecutionResult(output=result.stdout, details=details)

    async def _python(self, agent: AgentDefinition, context: RunContext) -> ExecutionResult:
        assert agent.handler is not None
        own = _run_variables(agent, context)
        context = replace(context, env=agent_environment(own, inherit_env=agent.inherit_env))
        fn = self._handlers.get(agent.handler)
        if fn is None:
            fn = self._handlers[agent.handler] = _import(agent.handler)
        value = fn(context)
        if inspect.isawaitable(value):
            value = await value
        return _as_result(value)


def _run_variables(agent: AgentDefinition, context: RunContext) -> dict[str, str]:
    """The agent's own ``env`` and the run's ``SYMBI_*`` variables (these win); with telemetry
    on, ``TRACEPARENT``: the run's (or iteration's) W3C trace context, for the agent's own
    spans."""
    job, run = context.job, context.run
    traced = trace_headers().get("traceparent")
    return {
        **({"TRACEPARENT": traced} if traced else {}),
        **agent.env,
        "SYMBI_JOB_ID": job.id,
        "SYMBI_JOB_NAME": job.name,
        "SYMBI_RUN_ID": run.id,
        "SYMBI_AGENT": agent.name,
        "SYMBI_ATTEMPT": str(run.attempt),
        "SYMBI_TRIGGER": run.trigger.value,
        "SYMBI_SESSION_MODE": context.session_mode.value,
        "SYMBI_ITERATION": str(context.iteration),
        "SYMBI_MAX_ITERATIONS": str(context.max_iterations or ""),
        "SYMBI_PREVIOUS_SUMMARY": _env_text(context.previous_summary or ""),
    }


def _turns(memory: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Shared-context entries as the conversation so far (each run's input, then its reply)."""
    turns: list[dict[str, str]] = []
    for entry in memory:
        if "role" in entry:
            turns.append({"role": str(entry["role"]), "content": str(entry.get("content", ""))})
            continue
        if entry.get("input"):
            turns.append({"role": "user", "content": str(entry["input"])})
        if entry.get("output"):
            turns.append({"role": "assistant", "content": str(entry["output"])})
    return turns


@contextlib.contextmanager
def _context_file(context: RunContext) -> Iterator[str | None]:
    """A shared_persistent context's memory, as a JSON file the command may read."""
    if not context.memory:
        yield None
        return
    fd, path = tempfile.mkstemp(prefix="symbi-context-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "session_mode": context.session_mode.value,
                    "previous_summary": context.previous_summary,
                    "memory": [dict(e) for e in context.memory],
                },
                f,
                default=str,
            )
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _agent_text(text: str) -> str:
    """``text`` as an agent can be given it: a lone surrogate (only in an input stored before
    inputs were checked) becomes U+FFFD instead of failing the run."""
    if text.isascii():
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


def _env_text(text: str) -> str:
    """``text`` as one environment variable can hold it: no NUL, cut to the size that fits."""
    text = _agent_text(text).replace("\x00", "\ufffd")
    if len(text) * 4 <= ENV_INPUT_MAX_BYTES:
        return text
    return text.encode()[:ENV_INPUT_MAX_BYTES].decode("utf-8", "ignore")


@contextlib.contextmanager
def _input_file(text: str) -> Iterator[str | None]:
    """A file holding ``text`` when no environment variable can (too large, or a NUL in an input
    stored before inputs were checked): ``0600`` in a private directory, removed afterwards."""
    if "\x00" not in text and (
        len(text) * 4 <= ENV_INPUT_MAX_BYTES or len(text.encode()) <= ENV_INPUT_MAX_BYTES
    ):
        yield None
        return
    directory = tempfile.mkdtemp(prefix="symbi-input-")  # mode 0700
    try:
        path = os.path.join(directory, "input")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(path, flags, 0o600), "w", encoding="utf-8", newline="") as f:
            f.write(text)
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _import(spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ExecutionError(f"handler {spec!r} is not 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
        fn: Callable[..., Any] = getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ExecutionError(f"cannot load handler {spec!r}: {exc}") from None
    if not callable(fn):
        raise ExecutionError(f"handler {spec!r} is not callable")
    return fn
