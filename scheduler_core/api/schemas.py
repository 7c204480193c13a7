"""The API's request and response models: they make /openapi.json describe what is served.

Job bodies are validated by :func:`scheduler_core.jobspec.job_from_mapping` (one validator for the
API, the CLI and the DSL, reporting every problem with its field), so their models only document
the fields: each is typed ``Any`` for pydantic and carries the JSON schema clients should follow.
"""

from __future__ import annotations

__all__ = [
    "AuditOut",
    "CreateScheduleOut",
    "DecisionIn",
    "DeleteOut",
    "DeleteScheduleOut",
    "ErrorOut",
    "HealthOut",
    "IterationOut",
    "JobCreateIn",
    "JobIn",
    "JobOut",
    "LogLineOut",
    "LogsOut",
    "NextRunOut",
    "NextRunsOut",
    "PruneIn",
    "PruneOut",
    "RunIn",
    "RunOut",
    "ScheduleActionOut",
    "ScheduleDetailOut",
    "ScheduleHistoryOut",
    "ScheduleRunEntryOut",
    "ScheduleSummaryOut",
    "StoreStatsOut",
]

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, WithJsonSchema

from ..access import Role
from ..jobspec import MAX_INPUT_BYTES
from ..model import CatchUp, JobStatus, RunStatus, RunTrigger, SessionMode


def _doc(schema: dict[str, Any], description: str | None = None) -> Any:
    if description:
        schema = {**schema, "description": description}
    return Annotated[Any, WithJsonSchema(schema)]


_STR = {"type": "string"}
_OPT_STR = {"anyOf": [{"type": "string"}, {"type": "null"}]}
_STRS = {"type": "array", "items": {"type": "string"}}
_DURATION = {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}, {"type": "null"}]}
_POLICY = {
    "type": "object",
    "properties": {
        "require_approval": {"type": "boolean"},
        "approvers": _STRS,
        "approval_timeout": _DURATION,
        "max_runtime": _DURATION,
        "require_capabilities": _STRS,
        "allowed_hours": {
            "type": "object",
            "properties": {"start": _STR, "end": _STR, "timezone": _OPT_STR},
        },
        "allowed_environments": _STRS,
        "require_agent_pin": {"type": "boolean"},
        "max_cost_per_day": {
            "anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string"}],
            "description": "USD: runs are denied once the job's LLM cost today reaches it",
        },
    },
}
_HEARTBEAT = {
    "anyOf": [
        {"type": "boolean"},
        {"type": "null"},
        {
            "type": "object",
            "properties": {
                "enabled": {"type": "boolean"},
                "context_mode": {"enum": [m.value for m in SessionMode]},
                "max_iterations": {"type": "integer", "minimum": 1, "maximum": 10000},
            },
        },
    ]
}


class JobIn(BaseModel):
    """A job definition, or (for PUT) the fields that change.

    The guide's names (``agent_id``, ``cron_expr``), the DSL's (``agent``, ``cron``) and the
    upstream SDK's (``agent_name``, ``cron_expression``) are all accepted; give either a cron
    expression or ``at``. Unknown fields are rejected with the nearest valid name suggested.
    """

    model_config = ConfigDict(extra="allow")

    name: _doc(_STR, "unique job name: letters, digits and _ . : @ -") = None
    agent_id: _doc(_STR, "the agent to run (also: agent, agent_name)") = None
    cron_expr: _doc(_STR, "5-field cron expression (also: cron, cron_expression)") = None
    at: _doc({"type": "string", "format": "date-time"}, "one-shot ISO 8601 instant") = None
    after: _doc(
        _OPT_STR,
        "a chained job: runs each time the named job's run succeeds, with its output as input "
        "(instead of cron_expr or at)",
    ) = None
    timezone: _doc(_STR, "IANA time zone of the cron expression") = None
    session_mode: _doc({"enum": [m.value for m in SessionMode]}) = None
    delivery: _doc(_STRS, "channels: stdout, log_file, webhook, slack, email, custom") = None
    webhook_url: _doc(_OPT_STR) = None
    webhook_headers: _doc({"type": "object", "additionalProperties": {"type": "string"}}) = None
    slack_channel: _doc(_OPT_STR) = None
    email_recipients: _doc(_STRS) = None
    delivery_config: _doc({"type": "object"}) = None
    on_failure: _doc(
        {"anyOf": [_STRS, {"type": "null"}]},
        "channels alerted when a run ends failed or timed_out (null: the config's "
        "[scheduler.delivery] on_failure; []: none)",
    ) = None
    on_dead_letter: _doc(
        {"anyOf": [_STRS, {"type": "null"}]},
        "channels alerted when the job moves to the dead-letter queue (null: the config's "
        "default; []: none)",
    ) = None
    policy: _doc(_POLICY) = None
    heartbeat: _doc(_HEARTBEAT) = None
    max_concurrent: _doc({"type": "integer", "minimum": 1, "maximum": 10000}) = None
    max_retries: _doc({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]}) = None
    jitter_seconds: _doc(_DURATION) = None
    catch_up: _doc({"enum": [c.value for c in CatchUp]}) = None
    misfire_grace_seconds: _doc(_DURATION) = None
    agent_pin_jwt: _doc(_OPT_STR, "AgentPin ES256 JWT (also: agentpin_jwt)") = None
    input: _doc(_OPT_STR, "input given to the agent on each run") = None
    policies: _doc(
        _STRS, "named policies merged with policy, strictest wins (also: policy_ids)"
    ) = None
    policy_ids: _doc(_STRS, "the upstream SDK's name for policies") = None
    one_shot: _doc(
        {"type": "boolean"},
        "true only with at (the SDK's /api/v1/schedules: run once, at the cron expression's next "
        "instant)",
    ) = None

    def fields(self) -> dict[str, Any]:
        """Only what the client sent, extra (validated later) fields included."""
        return self.model_dump(exclude_unset=True)


class JobCreateIn(JobIn):
    """A new job: ``name``, an agent and a schedule (cron expression or ``at``) are required."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "required": ["name"],
            "allOf": [
                {"anyOf": [{"required": [k]} for k in ("agent_id", "agent", "agent_name")]},
                {
                    "anyOf": [
                        {"required": [k]}
                        for k in ("cron_expr", "cron", "cron_expression", "at", "after")
                    ]
                },
            ],
        },
    )


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str | None = Field(
        None,
        max_length=MAX_INPUT_BYTES,
        description="input for this run (default: the job's): text without NUL, at most 1 MiB "
        "of UTF-8",
    )


class BackfillIn(BaseModel):
    """A backfill: the job's cron instants in ``[from, to]`` get a queued run each."""

    model_config = ConfigDict(extra="forbid")

    start: str = Field(
        ...,
        alias="from",
        min_length=1,
        max_length=64,
        description="ISO 8601 instant; without an offset, wall time in the job's time zone",
    )
    end: str | None = Field(
        None,
        alias="to",
        min_length=1,
        max_length=64,
        description="ISO 8601 instant, not in the future (default: now); without an offset, "
        "wall time in the job's time zone",
    )
    dry_run: bool = Field(
        False, description="list what would be created and skipped; write nothing"
    )


class BackfillCreatedOut(BaseModel):
    scheduled_for: str
    run_id: str | None  #: the run created (null in a dry run)


class BackfillSkippedOut(BaseModel):
    scheduled_for: str
    reason: str  #: why it gets no run
    run_id: str | None  #: the run the instant already has, if that is why


class BackfillOut(BaseModel):
    """What a backfill created (a dry run: would create) and skipped, oldest instant first."""

    model_config = ConfigDict(populate_by_name=True)

    job_id: str
    name: str
    timezone: str
    start: str = Field(..., alias="from")
    end: str = Field(..., alias="to")
    dry_run: bool
    instants: int
    created: list[BackfillCreatedOut]
    skipped: list[BackfillSkippedOut]


class ApplyIn(BaseModel):
    """Jobs keyed by name, created or rewritten all at once (what loading a DSL file does)."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[dict[str, Any]] = Field(
        ..., max_length=10_000, description="complete job definitions (the keys of POST /schedule)"
    )
    agents: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        max_length=1_000,
        description="agent blocks by name (the keys of a DSL agent block), registered in the "
        "store with the jobs, all or nothing; what they may set is [api] agent_definitions",
    )
    policies: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        max_length=1_000,
        description="named policies by name (the rules of a DSL policy block), registered in the "
        "store with the jobs, all or nothing; the jobs list them in policies",
    )


class PolicyRuleOut(BaseModel):
    rule: str = Field(description="the policy field (max_runtime_seconds, allowed_hours, ...)")
    label: str = Field(description="what the rule is called on screen")
    value: Any = Field(description="its merged value (the strictest of those set)")
    text: str = Field(description="the merged value in words")
    sources: list[str] = Field(
        alias="from", description="who set it: inline, or policy NAME (in merge order)"
    )


class EffectivePolicyOut(BaseModel):
    job_id: str
    name: str
    policies: list[str] = Field(description="the named policies the job lists")
    rules: list[PolicyRuleOut] = Field(description="each rule that is set, merged")
    error: str | None = Field(
        description="why the listed policies cannot be merged (its runs are denied meanwhile)"
    )


class ApplyOut(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    agents: list[str] = Field(default_factory=list, description="agents registered")
    policies: list[str] = Field(default_factory=list, description="named policies registered")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=2000)


class ErrorOut(BaseModel):
    """Every 4xx and 5xx answer: ``error`` says what, ``field`` names the offending input."""

    error: str
    code: str
    field: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class JobOut(BaseModel):
    """A job: its definition (secrets masked) and state. Empty settings may be left out."""

    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    agent: str | None = None
    agent_id: str
    cron: str | None = None
    cron_expr: str | None
    at: str | None = None
    after: str | None = None  #: a chained job: the job whose success runs it
    timezone: str
    session_mode: SessionMode
    delivery: list[str]
    max_concurrent: int
    catch_up: CatchUp
    status: JobStatus
    next_run_at: str | None
    next_run: str | None
    last_run_at: str | None
    last_run_status: RunStatus | None
    last_error: str | None
    run_count: int
    failure_count: int
    created_at: str | None
    updated_at: str | None
    source: str | None


class RunOut(BaseModel):
    id: str
    job_id: str
    job_name: str
    agent_id: str
    trigger: RunTrigger
    status: RunStatus
    attempt: int
    scheduled_for: str | None
    due_at: str | None
    started_at: str | None
    finished_at: str | None
    execution_time_ms: int | None
    input: str | None
    output: str | None
    summary: str | None
    error_message: str | None
    #: an LLM run's tokens, summed over its calls ({"input": N, "output": M}); null otherwise
    tokens: dict[str, int] | None = None
    cost_usd: float | None = None  #: priced from [llm.prices] when it finished; null: no price
    details: dict[str, Any]


class CostDayOut(BaseModel):
    day: str  #: the job's zone's date
    runs: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    unpriced_runs: int
    ends_at: str


class CostOut(BaseModel):
    job_id: str
    name: str
    timezone: str
    today: str
    resets_at: str
    spent_today_usd: float
    total_cost_usd: float
    max_cost_per_day: float | None
    global_max_cost_per_day: float | None
    global_spent_today_usd: float
    days: list[CostDayOut]


class IterationOut(BaseModel):
    run_id: str
    index: int
    started_at: str | None
    finished_at: str | None
    outcome: str
    assessment: str | None
    action: str | None
    summary: str | None
    output_excerpt: str | None


class AuditOut(BaseModel):
    id: int | None
    at: str | None
    type: str
    actor: str
    job_id: str | None
    run_id: str | None
    details: dict[str, Any]


class HealthMetrics(BaseModel):
    runs_total: int
    runs_succeeded: int
    runs_failed: int
    avg_execution_time_ms: int


class NodeOut(BaseModel):
    """A scheduler process on the store: its role, liveness and the runs it holds."""

    owner: str
    host: str
    pid: int
    role: str
    api_address: str | None
    started_at: str
    heartbeat: str
    expires_at: str
    running: int


class StoreFaultOut(BaseModel):
    """The store fails: what it says, since when (status is then ``degraded``)."""

    error: str
    since: str
    cause: str | None = Field(
        None,
        description="disk_full, read_only, io_error, locked, corrupt, cannot_open, unreachable, "
        "out_of_memory; null for another store error",
    )
    failures: int = Field(description="operations on the store that failed since")
    waiting: int = Field(description="finished runs kept in memory until the store takes them")


class HealthOut(BaseModel):
    """The guide's health shape (all a caller without an API key gets), plus, with any key,
    what an operator also wants to see (hosts, processes, addresses, the store's fault)."""

    model_config = ConfigDict(extra="allow")

    status: str
    active_jobs: int
    paused_jobs: int
    in_flight_jobs: int
    metrics: HealthMetrics
    dead_letter_jobs: int | None = None
    completed_jobs: int | None = None
    missed_jobs: int | None = None
    failed_jobs: int | None = None
    queued_runs: int | None = None
    awaiting_approval: int | None = None
    role: str | None = None
    lease_owner: str | None = None
    lease_address: str | None = None
    node: str | None = None
    nodes: list[NodeOut] = []
    store_fault: StoreFaultOut | None = None


class WhoAmIOut(BaseModel):
    """The caller's key: its name (what the audit log shows) and its role."""

    key: str | None
    role: Role | None


class NextRunOut(BaseModel):
    job_id: str
    name: str
    status: JobStatus
    next_run: str | None
    next_runs: list[str]


class ChainOut(BaseModel):
    """Where a job stands in its chain: the job it comes after, and those that come after it."""

    job_id: str
    name: str
    after: str | None
    followers: list[str]


class DeleteOut(BaseModel):
    job_id: str
    name: str
    deleted: bool


# --- the upstream SDK's shapes (exactly its keys: it builds dataclasses from them) ---------------


class CreateScheduleOut(BaseModel):
    job_id: str
    next_run: str | None
    status: str


class ScheduleSummaryOut(BaseModel):
    job_id: str
    name: str
    cron_expression: str
    timezone: str
    status: str
    enabled: bool
    next_run: str | None
    run_count: int


class ScheduleDetailOut(BaseModel):
    job_id: str
    name: str
    cron_expression: str
    timezone: str
    status: str
    enabled: bool
    one_shot: bool
    next_run: str | None
    last_run: str | None
    run_count: int
    failure_count: int
    created_at: str
    updated_at: str


class ScheduleActionOut(BaseModel):
    job_id: str
    action: str
    status: str


class DeleteScheduleOut(BaseModel):
    job_id: str
    deleted: bool


class ScheduleRunEntryOut(BaseModel):
    run_id: str
    started_at: str
    completed_at: str | None
    status: str
    error: str | None
    execution_time_ms: int | None


class ScheduleHistoryOut(BaseModel):
    job_id: str
    history: list[ScheduleRunEntryOut]


class NextRunsOut(BaseModel):
    job_id: str
    next_runs: list[str]


class LogLineOut(BaseModel):
    """One record of the daemon's log; ``text`` is the line as written (logfmt or JSON)."""

    time: str | None
    level: str
    logger: str
    event: str
    message: str
    fields: dict[str, Any] = Field(default_factory=dict)
    text: str


class LogsOut(BaseModel):
    """Log lines, oldest first; pass ``cursor`` back to get the lines written after them."""

    lines: list[LogLineOut]
    cursor: str
    level: str = Field(description="the lowest level the daemon records ([log] level)")


class RetentionOut(BaseModel):
    """The ``[store]`` retention of the answering daemon (0 days: kept for ever)."""

    run_retention_days: float
    iteration_retention_days: float
    audit_retention_days: float
    keep_runs_per_job: int
    keep_dead_letter_runs: bool


class TableStatsOut(BaseModel):
    rows: int
    bytes: int | None = Field(description="the table with its indexes (null: unknown)")


class StoreStatsOut(BaseModel):
    """What the store holds and the space it takes (``symbi store stats``)."""

    url: str
    backend: str = Field(description="sqlite or postgresql")
    tables: dict[str, TableStatsOut]
    total_bytes: int
    free_bytes: int | None
    wal_bytes: int | None
    auto_vacuum: str | None = Field(description="SQLite: none, full or incremental")
    oldest_run_at: str | None = Field(description="the oldest finished run")
    oldest_audit_at: str | None
    retention: RetentionOut | None


class PruneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: StrictBool = Field(False, description="count what would be removed; remove nothing")


class PruneOut(BaseModel):
    """One pruning pass (``symbi store prune``): rows removed per table, space given back."""

    dry_run: bool
    started_at: str
    removed: dict[str, int]
    cutoffs: dict[str, str]
    bytes_before: int | None
    bytes_after: int | None
    reclaimed_bytes: int | None
    seconds: float
    batches: int
    longest_hold_ms: float
    skipped: str | None = Field(description="why nothing was done, if so")
    note: str | None
    retention: RetentionOut
