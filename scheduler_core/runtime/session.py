"""AgentRuntime: session isolation and the heartbeat loop, around an executor.

The scheduler hands each run to ``AgentRuntime.execute``. It builds the agent's context per the
job's ``session_mode``:

- ``ephemeral_with_summary``: a fresh context; the previous run's summary is carried in;
- ``shared_persistent``: one context per job, persisted in the store (it survives restarts): the
  previous summary plus the memory of earlier runs, capped at ``context_max_bytes`` (the oldest
  entries go first);
- ``fully_ephemeral``: nothing is carried.

A job with ``heartbeat { enabled: true }`` runs iterations of assess -> act until the agent answers
``sleep`` or ``max_iterations`` is reached; each iteration is stored and published as it happens,
and ``context_mode`` decides what one iteration carries to the next.
"""

from __future__ import annotations

__all__ = ["AgentRuntime", "Session", "Step", "parse_step", "summarize"]

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..clock import Clock
from ..errors import ExecutionError, StoreError
from ..events import EventBus, IterationRecorded
from ..llm_cost import add_usage
from ..model import (
    AgentContext,
    HeartbeatIteration,
    JobDefinition,
    JobRun,
    SessionMode,
)
from ..records import record
from ..settings import SchedulerSettings
from ..store.base import JobStore, cap_context
from ..telemetry import span
from .base import ExecutionResult, Executor, RunContext

log = logging.getLogger("symbi.runtime")

SUMMARY_LIMIT = 1000
EXCERPT_LIMIT = 2000
MEMORY_OUTPUT_LIMIT = 4000
RUN_OUTPUT_LIMIT = 1024 * 1024


@record
class Step:
    """What one heartbeat iteration answered."""

    action: str  #: "sleep" ends the wake-up; anything else continues
    assessment: str | None = None
    summary: str | None = None

    @property
    def sleeps(self) -> bool:
        return self.action.lower() == "sleep"


def parse_step(output: str | None) -> Step:
    """Read an iteration's answer: a last line ``sleep``, or JSON ``{"action": "sleep", ...}``.

    The JSON may be the whole output or its last line, and may carry ``assessment`` and
    ``summary``. Anything else is an action to continue with.
    """
    text = (output or "").strip()
    if not text:
        return Step(action="continue")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for candidate in (text, lines[-1]):
        if candidate.startswith("{") and candidate.endswith("}"):
            try:
                doc = json.loads(candidate)
            except ValueError:
                continue
            if isinstance(doc, dict) and "action" in doc:
                return Step(
                    action=str(doc.get("action") or "continue"),
                    assessment=_opt_text(doc.get("assessment")),
                    summary=_opt_text(doc.get("summary")),
                )
    last = lines[-1]
    if last.lower().rstrip(".!") == "sleep":
        assessment = "\n".join(lines[:-1]) or None
        return Step(action="sleep", assessment=_clip(assessment, SUMMARY_LIMIT))
    return Step(action="continue", assessment=_clip(lines[0], SUMMARY_LIMIT))


def summarize(output: str | None) -> str | None:
    """A run's summary from its output: a ``SUMMARY:`` line if there is one, else the last line."""
    if not output:
        return None
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.upper().startswith("SUMMARY:"):
            return _clip(line[8:].strip(), SUMMARY_LIMIT) or None
    return _clip(lines[-1], SUMMARY_LIMIT) if lines else None


class AgentRuntime:
    """Runs a job's agent once per run, or as a heartbeat, with its context per session mode."""

    def __init__(
        self,
        executor: Executor,
        *,
        store: JobStore,
        bus: EventBus,
        clock: Clock,
        settings: SchedulerSettings,
        cache_size: int = 10_000,
        shared: bool = False,
    ) -> None:
        """``shared``: other schedulers run jobs from the same store (a shared store's nodes) and
        write contexts too: a context is read for each run (with its claimed batch, in one
        query) and used once, never kept from one run to the next."""
        self.executor = executor
        self.store = store
        self.bus = bus
        self.clock = clock
        self.settings = settings
        self.cache_size = cache_size
        self.shared = shared
        #: job id -> its context as last kept (None: it has none). Only the scheduler holding the
        #: store lease writes contexts, so the cache is exact while it leads; it is cleared when
        #: leadership is (re)gained. With ``shared``, only what a batch read and its run has not
        #: opened yet.
        self._contexts: OrderedDict[str, AgentContext | None] = OrderedDict()
        self._loading: dict[str, asyncio.Event] = {}  #: job id -> its batch read, set when done
        self._batches: set[asyncio.Future[None]] = set()

    def forget(self) -> None:
        self._contexts.clear()

    def prefetch(self, jobs: Sequence[JobDefinition]) -> None:
        """Load the contexts of jobs about to run in one query, in the background: runs started
        together (a claimed batch) then wait for one read instead of each making its own."""
        ids = [
            j.id
            for j in jobs
            if j.session_mode is not SessionMode.FULLY_EPHEMERAL
            and (self.shared or j.id not in self._contexts)
            and j.id not in self._loading
        ]
        if not ids:
            return
        done = asyncio.Event()
        for job_id in ids:
            self._loading[job_id] = done
        self._batches.add(asyncio.ensure_future(self._load(ids, done)))

    async def _load(self, ids: list[str], done: asyncio.Event) -> None:
        try:
            found = await self.store.load_contexts(ids)
            for job_id in ids:
                if self.shared or job_id not in self._contexts:
                    self._remember(job_id, found.get(job_id))
        except StoreError as exc:
            log.warning(
                "loading %d agent context(s) failed (%s); each run reads its own", len(ids), exc
            )
        except Exception:
            log.exception("loading %d agent context(s) failed; each run reads its own", len(ids))
        finally:
            for job_id in ids:
                self._loading.pop(job_id, None)
            done.set()
            task = asyncio.current_task()
            if task is not None:
                self._batches.discard(task)

    def provide(self, job_ids: Sequence[str], found: Mapping[str, AgentContext]) -> None:
        """The contexts of ``job_ids`` as a transaction that started their runs read them
        (absent from ``found``: none), kept as :meth:`prefetch`'s read keeps them."""
        for job_id in job_ids:
            if self.shared or job_id not in self._contexts:
                self._remember(job_id, found.get(job_id))

    def _remember(self, job_id: str, context: AgentContext | None) -> None:
        self._contexts[job_id] = context
        self._contexts.move_to_end(job_id)
        while len(self._contexts) > self.cache_size:
            self._contexts.popitem(last=False)

    async def execute(self, job: JobDefinition, run: JobRun) -> ExecutionResult:
        """Open the session, run the agent, keep what the session mode keeps."""
        session = await self.open(job, run)
        result, context = session.finish(await session.run())
        if context is not None:
            await self.store.save_context(context, self.settings.context_max_bytes)
        return result

    async def open(self, job: JobDefinition, run: JobRun) -> Session:
        """Load what the job's session mode carries into this run."""
        mode = job.session_mode
        stored: AgentContext | None = None
        if mode is not SessionMode.FULLY_EPHEMERAL:
            loading = self._loading.get(job.id)
            if loading is not None:
                await loading.wait()  # a failed batch leaves it uncached: read alone below
            if job.id in self._contexts:
                if self.shared:  # read for this run: used once
                    stored = self._contexts.pop(job.id)
                else:
                    stored = self._contexts[job.id]
                    self._contexts.move_to_end(job.id)
            else:
                stored = await self.store.load_context(job.id)
                if not self.shared:
                    self._remember(job.id, stored)
        return Session(
            self,
            job,
            run,
            previous=stored.previous_summary if stored else None,
            memory=stored.memory if stored and mode is SessionMode.SHARED_PERSISTENT else (),
            stored_mode=stored.mode if stored else None,
        )

    async def _heartbeat(
        self,
        job: JobDefinition,
        run: JobRun,
        previous: str | None,
        memory: tuple[Mapping[str, Any], ...],
    ) -> ExecutionResult:
        spec = job.heartbeat
        assert spec is not None
        carry = spec.context_mode
        summary = previous if job.session_mode is not SessionMode.FULLY_EPHEMERAL else None
        notes: list[Mapping[str, Any]] = list(memory)
        outputs: list[str] = []
        details: dict[str, Any] = {}
        usage: dict[str, int] = {}
        stopped = "max_iterations"
        index = 0
        for index in range(1, spec.max_iterations + 1):
            iteration = HeartbeatIteration(
                run_id=run.id, index=index, started_at=self.clock.now(), outcome="running"
            )
            await self._record(iteration)
            context = RunContext(
                job=job,
                run=run,
                input=run.input,
                previous_summary=summary if carry is not SessionMode.FULLY_EPHEMERAL else None,
                iteration=index,
                max_iterations=spec.max_iterations,
                memory=tuple(notes) if carry is SessionMode.SHARED_PERSISTENT else (),
                session_mode=carry,
            )
            with span("cron.heartbeat.iteration", {"symbi.iteration": index}) as traced:
                try:
                    result = await self.executor.execute(context)
                except asyncio.CancelledError:
                    await asyncio.shield(self._record(_ended(iteration, self.clock, "cancelled")))
                    raise
                except Exception as exc:
                    message = str(exc) or type(exc).__name__
                    await self._record(_ended(iteration, self.clock, "failed", summary=message))
                    own = getattr(exc, "details", None)
                    failed = dict(own()) if callable(own) else {}
                    if usage:  # the tokens the iterations before it used are still spent
                        failed["usage"] = add_usage(usage, failed.get("usage"))
                        failed.setdefault("provider", details.get("provider"))
                        failed.setdefault("model", details.get("model"))
                    raise ExecutionError(
                        f"heartbeat iteration {index} failed: {message}",
                        details=failed or None,
                    ) from exc
                step = parse_step(result.output)
                last = index == spec.max_iterations
                outcome = "sleep" if step.sleeps else ("max_iterations" if last else "continue")
                if traced is not None:
                    traced.set({"symbi.iteration.outcome": outcome})
            said = result.summary or step.summary or summarize(result.output)
            await self._record(
                _ended(
                    iteration,
                    self.clock,
                    outcome,
                    assessment=step.assessment,
                    action=step.action,
                    summary=said,
                    excerpt=_clip(result.output, EXCERPT_LIMIT),
                )
            )
            summary = said
            details.update(result.details)
            if "usage" in result.details:  # every iteration's LLM tokens count, not the last's
                usage = add_usage(usage, result.details["usage"])
                details["usage"] = usage
            outputs.append(f"--- iteration {index}: {outcome} ---\n{result.output or ''}".rstrip())
            if carry is SessionMode.SHARED_PERSISTENT:
                notes.append(_entry(run, result, iteration=index))
            if step.sleeps:
                stopped = "sleep"
                break
        details["heartbeat"] = {
            "iterations": index,
            "max_iterations": spec.max_iterations,
            "stopped": stopped,
        }
        output = "\n".join(outputs)
        if len(output) > RUN_OUTPUT_LIMIT:
            output = output[-RUN_OUTPUT_LIMIT:]
        return ExecutionResult(output=output, summary=summary, details=details)

    async def _record(self, iteration: HeartbeatIteration) -> None:
        """Store and publish ``iteration``. A store fault does not stop the heartbeat (the run
        would fail, and its agent run again, for the store's fault): the iteration is published
        all the same, and the run's record keeps its outcome."""
        try:
            await self.store.record_iteration(iteration)
        except StoreError as exc:
            log.debug(
                "heartbeat iteration %d of run %s not stored: %s",
                iteration.index,
                iteration.run_id,
                exc,
            )
        self.bus.publish(IterationRecorded(iteration))


class Session:
    """One run's agent session: ``run`` it (the timed part), then ``close`` it to keep context."""

    def __init__(
        self,
        runtime: AgentRuntime,
        job: JobDefinition,
        run: JobRun,
        *,
        previous: str | None,
        memory: tuple[Mapping[str, Any], ...],
        stored_mode: SessionMode | None = None,
    ) -> None:
        self.runtime = runtime
        self.stored_mode = stored_mode
        self.job = job
        self.job_run = run
        self.previous = previous
        self.memory = memory

    async def run(self) -> ExecutionResult:
        job, run = self.job, self.job_run
        if job.heartbeat is not None and job.heartbeat.enabled:
            return await self.runtime._heartbeat(job, run, self.previous, self.memory)
        context = RunContext(
            job=job,
            run=run,
            input=run.input,
            previous_summary=self.previous,
            memory=self.memory,
            session_mode=job.session_mode,
        )
        result = await self.runtime.executor.execute(context)
        return replace(result, summary=result.summary or summarize(result.output))

    def finish(self, result: ExecutionResult) -> tuple[ExecutionResult, AgentContext | None]:
        """What the session mode keeps of a successful run: the context to store (or None)."""
        mode = self.job.session_mode
        if mode is SessionMode.FULLY_EPHEMERAL:
            return result, None
        persistent = mode is SessionMode.SHARED_PERSISTENT
        unchanged = result.summary == self.previous and (
            self.stored_mode is mode or (self.stored_mode is None and result.summary is None)
        )
        if not persistent and unchanged:
            return result, None  # nothing new to keep (e.g. runs without a summary)
        kept = (*self.memory, _entry(self.job_run, result)) if persistent else ()
        context = cap_context(
            AgentContext(
                job_id=self.job.id,
                mode=mode,
                previous_summary=result.summary,
                memory=kept,
                updated_at=self.runtime.clock.now(),
            ),
            self.runtime.settings.context_max_bytes,
            archive=self.runtime.settings.context_archive,
        )
        if not self.runtime.shared:  # (what was archived is the store's now, not the cache's)
            self.runtime._remember(self.job.id, replace(context, archived=()))
        return result, context


def _ended(
    iteration: HeartbeatIteration,
    clock: Clock,
    outcome: str,
    *,
    assessment: str | None = None,
    action: str | None = None,
    summary: str | None = None,
    excerpt: str | None = None,
) -> HeartbeatIteration:
    return replace(
        iteration,
        finished_at=clock.now(),
        outcome=outcome,
        assessment=assessment,
        action=action,
        summary=_clip(summary, SUMMARY_LIMIT),
        output_excerpt=excerpt,
    )


def _entry(run: JobRun, result: ExecutionResult, *, iteration: int = 0) -> dict[str, Any]:
    """One shared_persistent memory entry: what was asked and answered."""
    entry: dict[str, Any] = {
        "run_id": run.id,
        "at": (run.started_at or run.scheduled_for).isoformat(),
        "input": run.input,
        "output": _clip(result.output, MEMORY_OUTPUT_LIMIT),
        "summary": result.summary,
    }
    if iteration:
        entry["iteration"] = iteration
    return entry


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _opt_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)
