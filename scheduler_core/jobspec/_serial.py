"""A job's definition as stored (compact JSON) and as shown (the guide's JSON field names)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from ..clock import format_instant, parse_instant
from ..fastjson import compact_encoder
from ..model import AllowedHours, CatchUp, HeartbeatSpec, JobDefinition, PolicySpec, SessionMode
from ._fields import _DEFAULTS, JOB_FIELDS
from ._masking import _mask_mapping, _mask_url, mask_secret

#: compact, keys sorted: one encoder for every definition (json.dumps builds one a call)
_encode_spec = compact_encoder(sort_keys=True)
_SPEC_FIELDS = tuple((name, _DEFAULTS.get(name)) for name in JOB_FIELDS)
_PLAIN = (str, int, float, bool)
#: fields whose empty value differs from their default (None: the config's default)
_EMPTY_MEANS = frozenset({"on_failure", "on_dead_letter"})


def spec_to_json(job: JobDefinition) -> str:
    """The definition part of a job, as stored in the ``definition`` column."""
    return _encode_spec(_spec_dict(job))


def _spec_dict(job: JobDefinition) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for name, default in _SPEC_FIELDS:
        value = getattr(job, name)
        if value is default or value is None:
            continue
        if type(value) in _PLAIN:  # most fields: stored as they are (enums are not plain)
            d[name] = value
            continue
        if name in _EMPTY_MEANS:  # ``[]`` says "none", unlike the default None
            d[name] = list(value)
            continue
        if value == () or value == {}:
            continue
        if name == "at":
            value = format_instant(value)
        elif name == "policy":
            if value.is_default:
                continue
            value = _policy_dict(value)
        elif name == "heartbeat":
            value = {
                "enabled": value.enabled,
                "context_mode": value.context_mode.value,
                "max_iterations": value.max_iterations,
            }
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        elif hasattr(value, "value"):
            value = value.value
        d[name] = value
    return d


def _policy_dict(policy: PolicySpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(PolicySpec):
        value = getattr(policy, f.name)
        if value is None or value == () or value is False:
            continue
        if isinstance(value, AllowedHours):
            value = {
                k: v
                for k, v in (
                    ("start", value.start),
                    ("end", value.end),
                    ("timezone", value.timezone),
                )
                if v is not None
            }
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def spec_from_json(text: str, **state: Any) -> JobDefinition:
    """Rebuild a stored job: its definition JSON plus its state columns (trusted input)."""
    d = json.loads(text)
    if "at" in d:
        d["at"] = parse_instant(d["at"])
    for key in ("delivery", "email_recipients", "policies", "on_failure", "on_dead_letter"):
        if key in d:
            d[key] = tuple(d[key])
    if "policy" in d:
        p = d["policy"]
        for key in ("approvers", "require_capabilities", "allowed_environments"):
            if key in p:
                p[key] = tuple(p[key])
        if "allowed_hours" in p:
            p["allowed_hours"] = AllowedHours(**p["allowed_hours"])
        d["policy"] = PolicySpec(**p)
    if "heartbeat" in d:
        h = d["heartbeat"]
        d["heartbeat"] = HeartbeatSpec(
            enabled=h["enabled"],
            context_mode=SessionMode(h["context_mode"]),
            max_iterations=h["max_iterations"],
        )
    if "session_mode" in d:
        d["session_mode"] = SessionMode(d["session_mode"])
    if "catch_up" in d:
        d["catch_up"] = CatchUp(d["catch_up"])
    return JobDefinition(**d, **state)


def job_to_dict(job: JobDefinition, *, secrets: bool = False) -> dict[str, Any]:
    """A JSON-ready view of a job, secrets masked unless ``secrets`` (the guide's field names)."""
    d = _spec_dict(job)
    d.setdefault("delivery", [])
    d.setdefault("timezone", job.timezone)
    d.setdefault("max_concurrent", job.max_concurrent)
    d.setdefault("session_mode", job.session_mode.value)
    d.setdefault("catch_up", job.catch_up.value)
    if not secrets:
        if "webhook_headers" in d:
            d["webhook_headers"] = {k: mask_secret(v) for k, v in d["webhook_headers"].items()}
        if "agent_pin_jwt" in d:
            d["agent_pin_jwt"] = mask_secret(d["agent_pin_jwt"])
        if "webhook_url" in d:
            d["webhook_url"] = _mask_url(d["webhook_url"])
        if "delivery_config" in d:
            d["delivery_config"] = _mask_mapping(d["delivery_config"])
    out: dict[str, Any] = {"id": job.id, **d}
    out["agent_id"] = job.agent
    out["cron_expr"] = job.cron
    out["status"] = job.status.value
    for name in ("next_run_at", "last_run_at", "created_at", "updated_at"):
        value = getattr(job, name)
        out[name] = format_instant(value) if value else None
    out["next_run"] = out["next_run_at"]
    out["last_run_status"] = job.last_run_status.value if job.last_run_status else None
    out["last_error"] = job.last_error
    out["run_count"] = job.run_count
    out["failure_count"] = job.failure_count
    out["source"] = job.source
    return out
