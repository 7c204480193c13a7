"""The scheduler's data: frozen records and string enums.

Records are immutable; a state transition is ``dataclasses.replace(record, ...)``. Enums are
``str`` subclasses so they serialise unchanged to SQLite and JSON.
"""

from __future__ import annotations

__all__ = [
    "AgentContext",
    "AgentDefinition",
    "AllowedHours",
    "AuditEvent",
    "AuditEventType",
    "CatchUp",
    "HeartbeatIteration",
    "HeartbeatSpec",
    "JobDefinition",
    "JobRun",
    "JobStatus",
    "PolicySpec",
    "RunStatus",
    "RunTrigger",
    "RunnerKind",
    "SessionMode",
    "job_event",
    "new_id",
]

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .records import maker, record


class JobStatus(StrEnum):
    ACTIVE = "active"  #: scheduled; fires at next_run_at
    PAUSED = "paused"  #: kept, not fired; resume recomputes next_run_at
    COMPLETED = "completed"  #: a one-shot job that ran successfully
    #: a one-shot job whose instant passed without a run (skipped, e.g. older than misfire_grace
    #: or catch_up=skip, or denied); a new ``at`` schedules it again
    MISSED = "missed"
    FAILED = "failed"  #: cannot be scheduled (e.g. its agent vanished); reset to recover
    DEAD_LETTER = "dead_letter"  #: max_retries consecutive failures; reset to recover


class RunStatus(StrEnum):
    QUEUED = "queued"  #: waiting for its due time (jitter, retry backoff) or a free slot
    RUNNING = "running"  #: recorded before the agent starts
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"  #: cancelled at the policy's max_runtime; counts as a failure
    SKIPPED = "skipped"  #: not run (max_concurrent reached, missed by catch-up); reason in error
    DENIED = "denied"  #: refused by the policy gate or an approver
    AWAITING_APPROVAL = "awaiting_approval"  #: parked until approved, denied or timed out
    INTERRUPTED = "interrupted"  #: its process died or shut down mid-run
    CANCELLED = "cancelled"  #: cancelled by an operator or because its job was removed

    @property
    def is_final(self) -> bool:
        return self not in _OPEN_RUN_STATES

    @property
    def is_failure(self) -> bool:
        return self in (RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED)


_OPEN_RUN_STATES = frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.AWAITING_APPROVAL})


class RunTrigger(StrEnum):
    SCHEDULE = "schedule"  #: the cron or at instant came
    MANUAL = "manual"  #: run now (console, CLI, API)
    RETRY = "retry"  #: a failed attempt retried after backoff
    CATCH_UP = "catch_up"  #: one run standing for instants missed while down
    BACKFILL = "backfill"  #: a past instant asked for by an operator (``cron backfill``)
    CHAIN = "chain"  #: the job's ``after`` job succeeded; its output is this run's input


class SessionMode(StrEnum):
    EPHEMERAL_WITH_SUMMARY = "ephemeral_with_summary"  #: fresh context + previous summary
    SHARED_PERSISTENT = "shared_persistent"  #: one context kept in the store across runs
    FULLY_EPHEMERAL = "fully_ephemeral"  #: nothing carried over


class CatchUp(StrEnum):
    ONCE = "once"  #: one run for all instants missed while down, within misfire_grace
    SKIP = "skip"  #: missed instants are recorded as skipped


class AuditEventType(StrEnum):
    CRON_JOB_CREATED = "CronJobCreated"
    CRON_JOB_UPDATED = "CronJobUpdated"
    CRON_JOB_DELETED = "CronJobDeleted"
    CRON_JOB_PAUSED = "CronJobPaused"
    CRON_JOB_RESUMED = "CronJobResumed"
    CRON_JOB_EXECUTED = "CronJobExecuted"
    CRON_JOB_FAILED = "CronJobFailed"
    CRON_JOB_DEAD_LETTERED = "CronJobDeadLettered"
    AGENT_PIN_VERIFICATION_FAILED = "AgentPinVerificationFailed"
    # Beyond the guide's list: the rest of what an operator can do or the gate can decide.
    CRON_JOB_RESET = "CronJobReset"
    CRON_JOB_TRIGGERED = "CronJobTriggered"
    CRON_JOB_SKIPPED = "CronJobSkipped"
    CRON_RUN_AWAITING_APPROVAL = "CronRunAwaitingApproval"
    CRON_RUN_APPROVED = "CronRunApproved"
    CRON_RUN_DENIED = "CronRunDenied"
    CRON_RUN_INTERRUPTED = "CronRunInterrupted"
    #: an operator cancelled a queued, parked or running run (the actor is who asked)
    CRON_RUN_CANCELLED = "CronRunCancelled"
    POLICY_DENIED = "PolicyDenied"
    SCHEDULER_STARTED = "SchedulerStarted"
    SCHEDULER_STOPPED = "SchedulerStopped"
    #: a failure or dead-letter alert could not be delivered on one of its channels
    CRON_ALERT_FAILED = "CronAlertFailed"
    STORE_PRUNED = "StorePruned"  #: history past its retention was removed
    #: an agent block registered in the store with its schedules (``cron add --file``)
    AGENT_REGISTERED = "AgentRegistered"
    #: a policy block registered in the store with its schedules (``cron add --file``)
    POLICY_REGISTERED = "PolicyRegistered"
    #: runs created for a cron job's past instants in a range (``cron backfill``)
    CRON_JOB_BACKFILLED = "CronJobBackfilled"


@record(kw_only=True)
class AllowedHours:
    """A daily window "HH:MM"-"HH:MM"; ``end`` before ``start`` wraps past midnight."""

    start: str
    end: str
    timezone: str | None = (
        None  #: None: UTC (the guide); "job": the job's own zone; or an IANA zone
    )


@record(kw_only=True)
class PolicySpec:
    require_approval: bool = False
    approvers: tuple[str, ...] = ()
    approval_timeout_seconds: float | None = None  #: None: the config's default
    max_runtime_seconds: float | None = None
    require_capabilities: tuple[str, ...] = ()
    allowed_hours: AllowedHours | None = None
    allowed_environments: tuple[str, ...] = ()
    require_agent_pin: bool = False
    #: USD: a run is denied once the job's LLM cost today (its zone's day) reaches this
    max_cost_per_day: float | None = None

    @property
    def is_default(self) -> bool:
        return self == _DEFAULT_POLICY


_DEFAULT_POLICY = PolicySpec()


@record(kw_only=True)
class HeartbeatSpec:
    enabled: bool = True
    context_mode: SessionMode = SessionMode.EPHEMERAL_WITH_SUMMARY
    max_iterations: int = 100


@record(kw_only=True)
class JobDefinition:
    """A scheduled job: what the user defined plus the state the scheduler keeps."""

    # --- definition ----------------------------------------------------------------------
    id: str = ""
    name: str
    agent: str
    cron: str | None = None
    at: datetime | None = None  #: one-shot instant (aware, UTC)
    #: a chained job: runs each time the job of this name succeeds (instead of cron or at)
    after: str | None = None
    timezone: str = "UTC"
    session_mode: SessionMode = SessionMode.EPHEMERAL_WITH_SUMMARY
    delivery: tuple[str, ...] = ()
    webhook_url: str | None = None
    webhook_headers: Mapping[str, str] = field(default_factory=dict)
    slack_channel: str | None = None
    email_recipients: tuple[str, ...] = ()
    delivery_config: Mapping[str, Any] = field(default_factory=dict)  #: custom channels' settings
    #: channels alerted when a run ends failed or timed out (None: the config's
    #: ``[scheduler.delivery] on_failure``; ``()``: none)
    on_failure: tuple[str, ...] | None = None
    #: channels alerted when the job moves to the dead-letter queue (None: the config's default)
    on_dead_letter: tuple[str, ...] | None = None
    policy: PolicySpec = _DEFAULT_POLICY
    #: named policies merged with ``policy`` when a run is gated (scheduler_core.named_policies)
    policies: tuple[str, ...] = ()
    heartbeat: HeartbeatSpec | None = None
    max_concurrent: int = 1
    max_retries: int | None = None  #: None: the config's default_max_retries
    jitter_seconds: float | None = None  #: None: the config's max_jitter_seconds
    catch_up: CatchUp = CatchUp.ONCE
    misfire_grace_seconds: float | None = None  #: None: the config's misfire_grace_seconds
    agent_pin_jwt: str | None = None
    input: str | None = None
    source: str | None = None  #: where it was defined: "api", "cli", "dsl:PATH", ...
    # --- state ---------------------------------------------------------------------------
    status: JobStatus = JobStatus.ACTIVE
    next_run_at: datetime | None = None
    last_run_at: datetime | None = None
    last_run_status: RunStatus | None = None
    last_error: str | None = None
    run_count: int = 0
    failure_count: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def is_one_shot(self) -> bool:
        return self.at is not None

    @property
    def schedule_text(self) -> str:
        """The cron expression, ``at <instant>`` for a one-shot job, ``after <job>`` for a
        chained one."""
        if self.cron is not None:
            return self.cron
        if self.after is not None:
            return f"after {self.after}"
        return f"at {self.at.isoformat()}" if self.at else ""

    @property
    def heartbeat_enabled(self) -> bool:
        return self.heartbeat is not None and self.heartbeat.enabled


@record(kw_only=True)
class JobRun:
    """One attempt at running a job's agent."""

    id: str
    job_id: str
    job_name: str = ""
    agent_id: str
    trigger: RunTrigger = RunTrigger.SCHEDULE
    scheduled_for: datetime  #: the instant this run stands for (unique per job and attempt)
    due_at: datetime | None = None  #: when a queued run may start (jitter, backoff)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status: RunStatus = RunStatus.QUEUED
    attempt: int = 1
    input: str | None = None
    output: str | None = None
    error_message: str | None = None
    summary: str | None = None
    execution_time_ms: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)  #: delivery results, policy, stderr


@record(kw_only=True)
class HeartbeatIteration:
    run_id: str
    index: int  #: 1-based
    started_at: datetime
    finished_at: datetime | None = None
    outcome: str = "continue"  #: continue | sleep | max_iterations | failed
    assessment: str | None = None
    action: str | None = None
    summary: str | None = None
    output_excerpt: str | None = None


@record(kw_only=True)
class AgentContext:
    """What an agent sees of its past: the previous summary or a persisted memory."""

    job_id: str
    mode: SessionMode
    previous_summary: str | None = None
    memory: tuple[Mapping[str, Any], ...] = ()  #: shared_persistent: accumulated entries
    updated_at: datetime | None = None
    #: entries the size cap pushed out of ``memory`` as this context was made, for the store to
    #: archive with it (``context_archive = true``); never loaded back
    archived: tuple[Mapping[str, Any], ...] = ()


@record(kw_only=True)
class AuditEvent:
    id: int | None = None
    at: datetime
    type: AuditEventType
    actor: str = "scheduler"
    job_id: str | None = None
    run_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


def job_event(
    kind: AuditEventType,
    *,
    at: datetime,
    actor: str,
    job: JobDefinition | None = None,
    run: JobRun | None = None,
    **details: Any,
) -> AuditEvent:
    """An audit event about a job (and run): the job's name always goes into the details."""
    if job is not None:
        details = {"job_name": job.name, **details}
    # (AuditEvent's fields in order: what ``AuditEvent(at=at, ...)`` makes, at half the cost)
    return _make_event(
        None, at, kind, actor, job.id if job else None, run.id if run else None, details
    )


_make_event: Callable[..., AuditEvent] = maker(AuditEvent)


#: ids whose random part one ``os.urandom`` call gives: the call is a system call that lets go
#: of the GIL, which on a busy event loop the writer's thread (claims make an id per run) then
#: waits to get back; taken 256 at a time, each id's 80 random bits stay the kernel's
_IDS_PER_DRAW = 256


class _Entropy(threading.local):
    """The random hex digits drawn for this thread's next ids (never shared between threads,
    nor with a child process: a fork starts a new generation, whose ids draw afresh)."""

    generation = -1
    digits = ""
    at = 0


_entropy = _Entropy()
_generation = [0]


def _forked() -> None:
    _generation[0] += 1


os.register_at_fork(after_in_child=_forked)


def new_id() -> str:
    """32 hex digits, the first 12 the creation time in ms: sortable, like a uuid7."""
    pool = _entropy
    at = pool.at
    if at >= len(pool.digits) or pool.generation != _generation[0]:
        pool.digits = os.urandom(10 * _IDS_PER_DRAW).hex()
        pool.generation = _generation[0]
        at = 0
    pool.at = at + 20
    return f"{int(time.time() * 1000):012x}{pool.digits[at : at + 20]}"


class RunnerKind(StrEnum):
    COMMAND = "command"  #: a subprocess: input on stdin, output from stdout
    PYTHON = "python"  #: a ``module:function`` callable, sync or async
    LLM = "llm"  #: a chat completion over HTTP (OpenAI-compatible or Anthropic)


@record(kw_only=True)
class AgentDefinition:
    """An agent a job can name: how to run it and what it may do."""

    name: str
    runner: RunnerKind
    command: str | tuple[str, ...] | None = None  #: shell string or argv
    handler: str | None = None  #: "package.module:function"
    model: str | None = None
    system_prompt: str | None = None
    provider: str | None = None  #: openai | anthropic
    base_url: str | None = None
    api_key_env: str | None = None  #: name of the environment variable holding the key
    capabilities: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    #: names or globs of the scheduler's environment variables the agent also gets
    inherit_env: tuple[str, ...] = ()
    working_dir: str | None = None
    timeout_seconds: float | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    description: str | None = None
    source: str | None = None  #: "dsl:PATH:LINE", "config", ...
