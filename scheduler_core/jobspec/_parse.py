"""job_from_mapping: user data (JSON, TOML, DSL) into a :class:`JobDefinition`, or an update."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from ..errors import ValidationError
from ..model import AllowedHours, CatchUp, HeartbeatSpec, JobDefinition, PolicySpec, SessionMode
from ._delivery import (
    check_delivery_config,
    check_email,
    check_header_name,
    check_header_value,
    check_url,
)
from ._fields import (
    _ALIASES,
    _HEARTBEAT_FIELDS,
    _IGNORED,
    _POLICY_ALIASES,
    _POLICY_FIELDS,
    _TIMEZONE_DEFAULT,
    JOB_FIELDS,
)
from ._values import (
    _bool,
    _Collector,
    _cron,
    _enum,
    _hhmm,
    _instant,
    _int,
    _kind,
    _opt_input,
    _opt_string,
    _string_list,
    _string_map,
    _timezone,
    _unknown,
    parse_duration,
    validate_name,
)


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
        elif key == "approvers":
            out[key] = c.take(_approvers, raw, where)
        elif key in ("require_capabilities", "allowed_environments"):
            out[key] = c.take(_string_list, raw, where)
        elif key in ("max_runtime_seconds", "approval_timeout_seconds"):
            seconds = c.take(parse_duration, raw, where)
            if seconds == 0:
                c.errors.append(ValidationError("must be greater than zero", field=where))
            out[key] = seconds
        elif key == "allowed_hours":
            out[key] = c.take(_allowed_hours, raw, where)
        elif key == "max_cost_per_day":
            out[key] = c.take(_usd, raw, where)
    if c.errors:
        raise ValidationError.collect(c.errors)
    return PolicySpec(**out)


def _usd(value: object, field: str) -> float:
    """An amount of US dollars: a number greater than zero (``0.5``, ``"$0.50"``)."""
    if isinstance(value, str):
        text = value.strip().removeprefix("$").strip()
        try:
            value = float(text)
        except ValueError:
            raise ValidationError(
                f"expected an amount in USD such as 0.50, got {value!r}", field=field
            ) from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(
            f"expected an amount in USD such as 0.50, got {_kind(value)}", field=field
        )
    amount = float(value)
    if not math.isfinite(amount) or amount <= 0:
        raise ValidationError(f"must be a number greater than zero, got {value!r}", field=field)
    return amount


def policy_from_mapping(data: object, field: str = "policy") -> PolicySpec:
    """A policy's rules from user data (a schedule's ``policy``, a ``policy NAME`` block, a
    ``[policies.NAME]`` table): every problem reported, each naming its key under ``field``."""
    return _policy(data, field)


def _policy_names(value: object, field: str) -> tuple[str, ...]:
    """Names of named policies, each once (their definitions are checked by the service)."""
    names = _string_list(value, field)
    for i, name in enumerate(names):
        validate_name(name, f"{field}[{i}]")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValidationError(f"named more than once: {', '.join(twice)}", field=field)
    return names


def _alert_channels(value: object, field: str) -> tuple[str, ...]:
    """An alert's channels (``[]``: none, whatever the config's default), each named once."""
    names = tuple(n.strip() for n in _string_list(value, field))
    for i, name in enumerate(names):
        if not name:
            raise ValidationError("a channel name must not be empty", field=f"{field}[{i}]")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValidationError(f"named more than once: {', '.join(twice)}", field=field)
    return names


def _approvers(value: object, field: str) -> tuple[str, ...]:
    """Key names, or ``role:ROLE`` for every key of that role or above: a role that does not
    exist would admit nobody, so it is refused here rather than discovered at approval time."""
    from ..access import Role

    names = _string_list(value, field)
    roles = ", ".join(f"role:{r.value}" for r in Role)
    for i, name in enumerate(names):
        if name.startswith("role:") and name[5:] not in set(Role):
            raise ValidationError(f"{name!r} is not a role (use {roles})", field=f"{field}[{i}]")
    return names


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


def _check_one_shot(c: _Collector, one_shot: Any, at: Any, cron: Any) -> None:
    """The SDK's ``one_shot`` must agree with the schedule given: ``true`` only with ``at`` (the
    SDK's own ``/api/v1/schedules`` turns a cron expression into its next instant first)."""
    if one_shot is None:
        return
    if not isinstance(one_shot, bool):
        c.errors.append(
            ValidationError(f"expected true or false, got {_kind(one_shot)}", field="one_shot")
        )
    elif one_shot and (cron or not at):
        c.errors.append(
            ValidationError(
                "true needs 'at' (an ISO 8601 instant), not a cron expression",
                field="one_shot",
            )
        )
    elif not one_shot and at and not cron:
        c.errors.append(ValidationError("false, but 'at' makes a one-shot job", field="one_shot"))


_SCHEDULE_KEYS = ("cron", "at", "after")


def _check_schedule(
    c: _Collector, out: Mapping[str, Any], seen: Mapping[str, str], base: JobDefinition | None
) -> None:
    """Exactly one of cron, at and after: a job fires on an instant or after another job."""
    schedule_keys = {seen.get(k) for k in _SCHEDULE_KEYS}
    if any(e.field in schedule_keys for e in c.errors):
        return
    given = [k for k in _SCHEDULE_KEYS if out.get(k)]
    if len(given) > 1:
        c.errors.append(
            ValidationError(
                f"give only one of cron, at and after, not {' and '.join(given)}",
                field=seen[given[-1]],
            )
        )
        return
    if given:
        return
    # an update keeps the schedule it does not name
    if base is None or not any(getattr(base, k) for k in _SCHEDULE_KEYS if k not in out):
        c.errors.append(
            ValidationError(
                "a schedule is required: give cron (5 fields), at, or after (a job's name)",
                field="cron",
            )
        )


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
    one_shot: Any = None
    for raw_key, raw in data.items():
        if not isinstance(raw_key, str):
            c.errors.append(ValidationError("field names must be strings", field=str(raw_key)))
            continue
        key = _ALIASES.get(raw_key, raw_key)
        if key in seen:
            c.errors.append(ValidationError(f"given twice (also as {seen[key]!r})", field=raw_key))
            continue
        seen[key] = raw_key
        if key == "one_shot":
            one_shot = raw
            continue
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
        elif key == "after":
            out[key] = None if raw is None else c.take(validate_name, raw, where)
        elif key in ("session_mode", "catch_up"):
            enum = SessionMode if key == "session_mode" else CatchUp
            out[key] = c.take(_enum, enum, raw, where)
        elif key == "delivery":
            out[key] = c.take(_string_list, raw, where)
        elif key in ("on_failure", "on_dead_letter"):
            out[key] = None if raw is None else c.take(_alert_channels, raw, where)
        elif key == "email_recipients":
            items = c.take(_string_list, raw, where)
            if items is not None:
                out[key] = tuple(
                    c.take(check_email, item, f"{where}[{i}]") for i, item in enumerate(items)
                )
        elif key == "webhook_headers":
            headers = c.take(_string_map, raw, where)
            if headers is not None:
                for name, value in headers.items():
                    c.take(check_header_name, name, f"{where}.{name}")
                    c.take(check_header_value, value, f"{where}.{name}")
            out[key] = headers
        elif key == "delivery_config":
            if not isinstance(raw, Mapping):
                c.errors.append(
                    ValidationError(f"expected an object, got {_kind(raw)}", field=where)
                )
            else:
                c.errors.extend(check_delivery_config(raw, where))
                out[key] = dict(raw)
        elif key == "webhook_url":
            url = c.take(_opt_string, raw, where)
            out[key] = url if not url else c.take(check_url, url, where)
        elif key in ("slack_channel", "agent_pin_jwt"):
            out[key] = c.take(_opt_string, raw, where)
        elif key == "input":
            out[key] = c.take(_opt_input, raw, where)
        elif key == "policy":
            out[key] = PolicySpec() if raw is None else c.take(_policy, raw, where)
        elif key == "policies":
            out[key] = () if raw is None else c.take(_policy_names, raw, where)
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
    _check_schedule(c, out, seen, base)
    _check_one_shot(c, one_shot, out.get("at", base.at if base else None), out.get("cron"))
    if c.errors:
        raise ValidationError.collect(c.errors)
    if base is not None:
        # the schedule given replaces the one the job had (exactly one of cron, at, after)
        for given in _SCHEDULE_KEYS:
            if out.get(given):
                for other in _SCHEDULE_KEYS:
                    out.setdefault(other, None)
        if "timezone" in out and "cron" not in out and base.cron:
            out["cron"] = c.take(_cron, base.cron, "cron", out["timezone"])
            if c.errors:
                raise ValidationError.collect(c.errors)
        return replace(base, **out)
    if first_run is not None:
        timezone = out.get("timezone", _TIMEZONE_DEFAULT)
        out["next_run_at"] = first_run(out.get("cron"), timezone, out.get("at"))
    return JobDefinition(**out, **(state or {}))
