"""One value of a job definition checked: a :class:`ValidationError` names the field.

The checks raise; :class:`_Collector` gathers their errors so that a whole mapping is reported at
once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..clock import parse_instant
from ..errors import CronError, ValidationError

# \Z, not $: "$" also matches before a trailing newline, which let "name\n" through
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}\Z")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
#: longest string value (a job's ``input`` is copied into every one of its runs)
MAX_STRING_CHARS = 1 << 20
#: largest input of a run (or a job's default input), in bytes of UTF-8: what a command agent
#: can be given on stdin and in ``SYMBI_INPUT_FILE`` (an environment variable holds far less)
MAX_INPUT_BYTES = 1 << 20
#: longest duration accepted: instants a duration is added to stay far inside datetime's range
#: (a jitter of 1e15 seconds used to overflow when the scheduler planned the run)
MAX_DURATION_SECONDS = 100 * 365 * 86400
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$|^24:00$")


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
    import difflib  # at first use: not on the scheduler's start path

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


def check_input(value: str, field: str = "input") -> str:
    """``value`` if an agent can be given it as its input: text without NUL (no environment
    variable, argument or PostgreSQL text can hold one), valid Unicode, and at most
    :data:`MAX_INPUT_BYTES` of UTF-8. Checked where an input enters, so that a run is never
    accepted that could only fail."""
    nul = value.find("\x00")
    if nul >= 0:
        raise ValidationError(
            f"contains a NUL character (at character {nul}); an input must be text without NUL",
            field=field,
        )
    size = _check_text(value, field)
    if size > MAX_INPUT_BYTES:
        raise ValidationError(
            f"is {size:,} bytes of UTF-8; an input may be at most {MAX_INPUT_BYTES:,} bytes "
            "(1 MiB)",
            field=field,
        )
    return value


def _check_text(value: str, field: str) -> int:
    """The size of ``value`` in UTF-8. A lone surrogate (JSON's ``"\\ud800"``, a DSL
    ``\\ud800``) is no text: it cannot be stored nor encoded for an agent, so it is refused here
    instead of failing later."""
    if value.isascii():
        return len(value)
    try:
        return len(value.encode())
    except UnicodeEncodeError as exc:
        raise ValidationError(
            f"is not valid text: a lone surrogate (\\u{ord(value[exc.start]):04x}) at character "
            f"{exc.start}",
            field=field,
        ) from None


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
    _check_text(value, field)
    return value


def _opt_string(value: object, field: str) -> str | None:
    return None if value is None else _string(value, field, allow_empty=True)


def _opt_input(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"expected a string, got {_kind(value)}", field=field)
    return check_input(value, field)


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
    from ..cron import CronSchedule

    CronSchedule(text, tz)


def _hhmm(value: object, field: str) -> str:
    text = _string(value, field).strip()
    if not _HHMM.match(text):
        raise ValidationError(f"{_shown(text)} is not a time of day HH:MM", field=field)
    return text
