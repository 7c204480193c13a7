"""Which fields a job definition has: the user's fields, their accepted spellings, defaults."""

from __future__ import annotations

from dataclasses import fields

from ..model import HeartbeatSpec, JobDefinition, PolicySpec

#: accepted spelling -> canonical field
_ALIASES = {
    "agent_id": "agent",
    "agent_name": "agent",
    "cron_expr": "cron",
    "cron_expression": "cron",
    "agentpin_jwt": "agent_pin_jwt",
    "jitter": "jitter_seconds",
    "misfire_grace": "misfire_grace_seconds",
    "policy_ids": "policies",  #: the upstream SDK's name
}
_POLICY_ALIASES = {
    "max_runtime": "max_runtime_seconds",
    "approval_timeout": "approval_timeout_seconds",
}
#: what the store keeps of a job beside its definition (in the order of its state columns)
STATE_FIELDS = (
    "id",
    "status",
    "next_run_at",
    "last_run_at",
    "last_run_status",
    "last_error",
    "run_count",
    "failure_count",
    "created_at",
    "updated_at",
    "source",
)
#: fields a user may set
JOB_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(JobDefinition) if f.name not in STATE_FIELDS
)
_DEFAULTS = {f.name: f.default for f in fields(JobDefinition) if f.name in JOB_FIELDS}
_POLICY_FIELDS = tuple(f.name for f in fields(PolicySpec))
_HEARTBEAT_FIELDS = tuple(f.name for f in fields(HeartbeatSpec))
#: upstream fields we accept and ignore, or map in the API layer (``one_shot`` is checked
#: against the schedule)
_IGNORED = {"paused"}

#: the zone of a job that names none (JobDefinition's default)
_TIMEZONE_DEFAULT = str(next(f.default for f in fields(JobDefinition) if f.name == "timezone"))
