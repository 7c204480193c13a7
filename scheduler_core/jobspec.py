"""Job definitions from and to plain mappings (JSON bodies, CLI ``--json``, DSL blocks, the store).

``job_from_mapping`` is the one place that turns user data into a :class:`JobDefinition`. It accepts
the guide's spellings (``agent_id``, ``cron_expr``) and the upstream SDK's (``agent_name``,
``cron_expression``, ``agentpin_jwt``), checks every field, and reports every problem at once with
the field named. Semantic checks that need the clock or the config (``at`` in the past, known
agents) happen in the service.
"""

from __future__ import annotations

__all__ = [
    "JOB_FIELDS",
    "MAX_DURATION_SECONDS",
    "MAX_STRING_CHARS",
    "NAME_PATTERN",
    "job_from_mapping",
    "job_to_dict",
    "mask_secret",
    "parse_duration",
    "spec_from_json",
    "spec_to_json",
    "validate_name",
]

import difflib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .clock import format_instant, parse_instant
from .errors import CronError, ValidationError
from .model import (
    AllowedHours,
    CatchUp,
    HeartbeatSpec,
    JobDefinition,
    PolicySpec,
    SessionMode,
)

# \Z, not $: "$" also matches before a trailing newline, which let "name\n" through
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}\Z")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
#: longest string value (a job's ``input`` is copied into every one of its runs)
MAX_STRING_CHARS = 1 << 20
#: longest duration accepted: instants a duration is added to stay far inside datetime's range
#: (a jitter of 1e15 seconds used to overflow when the scheduler planned the run)
MAX_DURATION_SECONDS = 100 * 365 * 86400
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$|^24:00$")

#: accepted spelling -> canonical field
_ALIASES = {
    "agent_id": "agent",
    "agent_name": "agent",
    "cron_expr": "cron",
    "cron_expression": "cron",
    "agentpin_jwt": "agent_pin_jwt",
    "jitter": "jitter_seconds",
    "misfire_grace": "misfire_grace_seconds",
}
_POLICY_ALIASES = {
    "max_runtime": "max_runtime_seconds",
    "approval_timeout": "approval_timeout_seconds",
}
_STATE_FIELDS = {
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
}
#: fields a user may set
JOB_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(JobDefinition) if f.name not in _STATE_FIELDS
)
_DEFAULTS = {f.name: f.default for f in fields(JobDefinition) if f.name in JOB_FIELDS}
_POLICY_FIELDS = tuple(f.name for f in fields(PolicySpec))
_HEARTBEAT_FIELDS = tuple(f.name for f in fields(HeartbeatSpec))
#: upstream fields we accept and ignore, or map in the API layer
_IGNORED = {"policy_ids", "one_shot", "paused"}


def validate_name(value: object, field: str = "name") -> str:
    if not isinstance(value, str):
        raise ValidationError(f"expected a string, got {_kind(value)}", field=field)
    if not NAME_PATTERN.match(value):
        raise ValidationError(
            f"{value[:60]!r} is not a valid name: use 1-128 letters, digits and _ . : @ -, "
            "not starting with . or -",
            field=field,
        )
    return value


def parse_duration(value: object, field: str) -> float:
    """Seconds from ``30``, ``"30s"``, ``"5m"``, ``"2h"``, ``"1d"``."""
    if isinstance(value, bool):
        raise ValidationError('expected a duration such as "5m", got a boolean', field=field)
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an int beyond float range (10**400): too long, not a crash
            seconds = math.inf
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValidationError(
                f'{_shown(value)} is not a duration (use e.g. "30s", "5m", "2h", "1d")',
                field=field,
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValidationError(f"expected a duration, got {_kind(value)}", field=field)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValidationError(
            f"duration must be a finite number >= 0, got {_shown(value)}", field=field
        )
    if seconds > MAX_DURATION_SECONDS:
        raise ValidationError(
            f"duration must be at most 100 years ({MAX_DURATION_SECONDS} seconds), "
            f"got {_shown(value)}",
            field=field,
        )
    return seconds


def mask_secret(value: str | None) -> str | None:
    """What a secret looks like wherever it is shown."""
    if value is None:
        return None
    return "****" if value else ""


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut short, so that a message never echoes a huge input back whole."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4300-digit limit for str()
        return "a number too large to show"
    if len(text) <= limit + 20:
        return text
    return text[:limit] + "..." + text[-1]


def _unknown(key: str, known: tuple[str, ...] | list[str], field: str) -> ValidationError:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ValidationError(f"unknown field {_shown(key)}{hint}", field=field)


class _Collector:
    def __init__(self) -> None:
        self.errors: list[ValidationError] = []

    def take(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ValidationError as exc:
            self.errors.extend(exc.errors)
            return None


def _string(value: object, field: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"expected a string, got {_kind(value)}", field=field)
    if not allow_empty and not value.strip():
        raise ValidationError("must not be empty", field=field)
    if "\x00" in value:
        raise ValidationError("must not contain NUL characters", field=field)
    if len(value) > MAX_STRING_CHARS:
        raise ValidationError(
            f"too long: {len(value)} characters (at most {MAX_STRING_CHARS})", field=field
        )
    return value


def _opt_string(value: object, field: str) -> str | None:
    return None if value is None else _string(value, field, allow_empty=True)


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"expected true or false, got {_kind(value)}", field=field)
    return value


def _int(value: object, field: str, *, minimum: int, maximum: int = 1_000_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValidationError(f"expected a whole number, got {_kind(value)}", field=field)
    if not minimum <= value <= maximum:
        raise ValidationError(
            f"must be between {minimum} and {maximum}, got {_shown(value)}", field=field
        )
    return value


def _string_list(value: object, field: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ValidationError(f"expected a list of strings, got {_kind(value)}", field=field)
    out = []
    for i, item in enumerate(value):
        out.append(_string(item, f"{field}[{i}]"))
    return tuple(out)


def _string_map(value: object, field: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValidationError(f"expected an object of strings, got {_kind(value)}", field=field)
    out = {}
    for k, v in value.items():
        out[_string(k, field)] = _string(v, f"{field}.{k}", allow_empty=True)
    return out


def _enum(enum: type[Enum], value: object, field: str) -> Any:
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        norm = value.strip().lower()
        for member in enum:
            if member.value == norm or member.name.lower() == norm.replace("-", "_"):
                return member
    choices = ", ".join(m.value for m in enum)
    raise ValidationError(f"{_shown(value)} is not one of: {choices}", field=field)


def _timezone(value: object, field: str) -> str:
    name = _string(value, field)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a directory
        raise ValidationError(
            f"unknown time zone {_shown(name)} (use an IANA name)", field=field
        ) from None
    return name


def _instant(value: object, field: str) -> datetime:
    text = value.isoformat() if isinstance(value, datetime) else _string(value, field)
    try:
        return parse_instant(text)
    except (ValueError, OverflowError):  # 9999-12-31T23:59:59-01:00 overflows in UTC
        raise ValidationError(
            f"{_shown(text)} is not an ISO 8601 timestamp (e.g. 2026-02-15T14:30:00Z)",
            field=field,
        ) from None


def _cron(value: object, field: str, tz: str) -> str:
    text = _string(value, field).strip()
    try:
        _check_cron(text, tz)
    except CronError as exc:
        raise ValidationError(exc.message, field=field) from None
    except ValidationError:
        _check_cron(text, "UTC")  # the zone is reported on its own field
    return text


@lru_cache(maxsize=4096)
def _check_cron(text: str, tz: str) -> None:
    """Raise CronError if ``text`` is no schedule in ``tz`` (a bulk add repeats expressions:
    each is checked once; a failure is not cached, so it raises every time)."""
    from .cron import CronSchedule

    CronSchedule(text, tz)


def _hhmm(value: object, field: str) -> str:
    text = _string(value, field).strip()
    if not _HHMM.match(text):
        raise ValidationError(f"{_shown(text)} is not a time of day HH:MM", field=field)
    return text


def _allowed_hours(value: object, field: str) -> AllowedHours:
    if not isinstance(value, Mapping):
        raise ValidationError(f"expected {{start, end}}, got {_kind(value)}", field=field)
    c = _Collector()
    for key in value:
        if key not in ("start", "end", "timezone"):
            c.errors.append(_unknown(key, ("start", "end", "timezone"), f"{field}.{key}"))
    for key in ("start", "end"):
        if key not in value:
            c.errors.append(ValidationError("is required", field=f"{field}.{key}"))
    start = c.take(_hhmm, value.get("start", "00:00"), f"{field}.start")
    end = c.take(_hhmm, value.get("end", "00:00"), f"{field}.end")
    tz = value.get("timezone")
    if tz is not None and tz != "job":
        tz = c.take(_timezone, tz, f"{field}.timezone")
    if c.errors:
        raise ValidationError.collect(c.errors)
    return AllowedHours(start=start, end=end, timezone=tz)


def _policy(value: object, field: str) -> PolicySpec:
    if isinstance(value, PolicySpec):
        return value
    if not isinstance(value, Mapping):
        raise ValidationError(f"expected an object, got {_kind(value)}", field=field)
    c = _Collector()
    out: dict[str, Any] = {}
    for raw_key, raw in value.items():
        key = _POLICY_ALIASES.get(raw_key, raw_key)
        where = f"{field}.{raw_key}"
        if key not in _POLICY_FIELDS:
            c.errors.append(_unknown(raw_key, [*_POLICY_FIELDS, *_POLICY_ALIASES], where))
        elif raw is None:
            continue
        elif key in ("require_approval", "require_agent_pin"):
            out[key] = c.take(_bool, raw, where)
        elif key in ("approvers", "require_capabilities", "allowed_environments"):
            out[key] = c.take(_string_list, raw, where)
        elif key in ("max_runtime_seconds", "approval_timeout_seconds"):
            seconds = c.take(parse_duration, raw, where)
            if seconds == 0:
                c.errors.append(ValidationError("must be greater than zero", field=where))
            out[key] = seconds
        elif key == "allowed_hours":
            out[key] = c.take(_allowed_hours, raw, where)
    if c.errors:
        raise ValidationError.collect(c.errors)
    return PolicySpec(**out)


def _heartbeat(value: object, field: str) -> HeartbeatSpec | None:
    if value is None:
        return None
    if isinstance(value, HeartbeatSpec):
        return value
    if isinstance(value, bool):
        return HeartbeatSpec(enabled=True) if value else None
    if not isinstance(value, Mapping):
        raise ValidationError(f"expected an object, got {_kind(value)}", field=field)
    c = _Collector()
    out: dict[str, Any] = {}
    for key, raw in value.items():
        where = f"{field}.{key}"
        if key not in _HEARTBEAT_FIELDS:
            c.errors.append(_unknown(key, _HEARTBEAT_FIELDS, where))
        elif key == "enabled":
            out[key] = c.take(_bool, raw, where)
        elif key == "context_mode":
            out[key] = c.take(_enum, SessionMode, raw, where)
        elif key == "max_iterations":
            out[key] = c.take(_int, raw, where, minimum=1, maximum=10_000)
    if c.errors:
        raise ValidationError.collect(c.errors)
    return HeartbeatSpec(**out)


#: the zone of a job that names none (JobDefinition's default)
_TIMEZONE_DEFAULT = str(next(f.default for f in fields(JobDefinition) if f.name == "timezone"))


def job_from_mapping(
    data: Mapping[str, Any],
    *,
    base: JobDefinition | None = None,
    state: Mapping[str, Any] | None = None,
    first_run: Callable[[str | None, str, datetime | None], datetime | None] | None = None,
) -> JobDefinition:
    """Build a job from user data, or with ``base`` update one; every problem is reported.

    An update body names only what changes. ``state`` gives a new job's state fields, and
    ``first_run(cron, timezone, at)`` its ``next_run_at`` (the job is built once, not copied).
    """
    if not isinstance(data, Mapping):
        raise ValidationError(f"expected a JSON object, got {_kind(data)}")
    c = _Collector()
    values: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for raw_key, raw in data.items():
        if not isinstance(raw_key, str):
            c.errors.append(ValidationError("field names must be strings", field=str(raw_key)))
            continue
        key = _ALIASES.get(raw_key, raw_key)
        if key in seen:
            c.errors.append(ValidationError(f"given twice (also as {seen[key]!r})", field=raw_key))
            continue
        seen[key] = raw_key
        if key in _IGNORED:
            continue
        if key not in JOB_FIELDS:
            c.errors.append(_unknown(raw_key, [*JOB_FIELDS, *_ALIASES], raw_key))
            continue
        values[key] = (raw_key, raw)

    def get(key: str) -> tuple[str, Any] | None:
        return values.get(key)

    out: dict[str, Any] = {}
    tz = "UTC" if base is None else base.timezone
    if (v := get("timezone")) is not None:
        tz = c.take(_timezone, v[1], v[0]) or "UTC"
        out["timezone"] = tz
    for key, (where, raw) in values.items():
        if key == "timezone":
            continue
        if key in ("name", "agent"):
            out[key] = c.take(validate_name, raw, where)
        elif key == "cron":
            out[key] = None if raw is None else c.take(_cron, raw, where, tz)
        elif key == "at":
            out[key] = None if raw is None else c.take(_instant, raw, where)
        elif key in ("session_mode", "catch_up"):
            enum = SessionMode if key == "session_mode" else CatchUp
            out[key] = c.take(_enum, enum, raw, where)
        elif key in ("delivery", "email_recipients"):
            out[key] = c.take(_string_list, raw, where)
        elif key == "webhook_headers":
            out[key] = c.take(_string_map, raw, where)
        elif key == "delivery_config":
            if not isinstance(raw, Mapping):
                c.errors.append(
                    ValidationError(f"expected an object, got {_kind(raw)}", field=where)
                )
            else:
                out[key] = dict(raw)
        elif key in ("webhook_url", "slack_channel", "agent_pin_jwt", "input"):
            out[key] = c.take(_opt_string, raw, where)
        elif key == "policy":
            out[key] = PolicySpec() if raw is None else c.take(_policy, raw, where)
        elif key == "heartbeat":
            out[key] = c.take(_heartbeat, raw, where)
        elif key == "max_concurrent":
            out[key] = c.take(_int, raw, where, minimum=1, maximum=10_000)
        elif key == "max_retries":
            out[key] = None if raw is None else c.take(_int, raw, where, minimum=0, maximum=1000)
        elif key in ("jitter_seconds", "misfire_grace_seconds"):
            out[key] = None if raw is None else c.take(parse_duration, raw, where)

    if base is None:
        for required in ("name", "agent"):
            if required not in values:
                c.errors.append(ValidationError("is required", field=required))
    schedule_keys = {seen.get("cron"), seen.get("at")}
    schedule_errors = any(e.field in schedule_keys for e in c.errors)
    if out.get("cron") and out.get("at"):
        c.errors.append(ValidationError("give either cron or at, not both", field=seen["at"]))
    elif not schedule_errors:
        has_cron = out.get("cron", base.cron if base else None)
        has_at = out.get("at", base.at if base else None)
        if not has_cron and not has_at:
            c.errors.append(
                ValidationError("a schedule is required: give cron (5 fields) or at", field="cron")
            )
    if c.errors:
        raise ValidationError.collect(c.errors)
    if base is not None:
        if out.get("cron"):
            out.setdefault("at", None)
        if out.get("at"):
            out.setdefault("cron", None)
        if "timezone" in out and "cron" not in out and base.cron:
            out["cron"] = c.take(_cron, base.cron, "cron", out["timezone"])
            if c.errors:
                raise ValidationError.collect(c.errors)
        return replace(base, **out)
    if first_run is not None:
        timezone = out.get("timezone", _TIMEZONE_DEFAULT)
        out["next_run_at"] = first_run(out.get("cron"), timezone, out.get("at"))
    return JobDefinition(**out, **(state or {}))


# --- serialisation --------------------------------------------------------------------------


#: compact, keys sorted: one encoder for every definition (json.dumps builds one a call)
_encode_spec = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode
_SPEC_FIELDS = tuple((name, _DEFAULTS.get(name)) for name in JOB_FIELDS)
_PLAIN = (str, int, float, bool)


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
    for key in ("delivery", "email_recipients"):
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


_SECRET_KEY = re.compile(r"(?i)(token|secret|password|passwd|key|auth|credential|signature)")


def _mask_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in value.items():
        if isinstance(v, Mapping):
            out[k] = _mask_mapping(v)
        elif _SECRET_KEY.search(str(k)) and isinstance(v, str):
            out[k] = mask_secret(v)
        else:
            out[k] = v
    return out


def _mask_url(url: str) -> str:
    """Hide credentials and query strings (Slack and many webhooks carry their secret there)."""
    masked = re.sub(r"//[^/@]+@", "//****@", url)
    masked = re.sub(r"\?.*$", "?****", masked)
    if "hooks.slack.com/" in masked:
        masked = re.sub(r"(hooks\.slack\.com/services/)[^?]*", r"\1****", masked)
    return masked
