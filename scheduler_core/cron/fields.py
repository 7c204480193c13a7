"""The cron expression language: five fields, names and macros, parsed and validated.

:func:`parse_fields` turns one expression into :class:`CronFields` (the value sets per field plus
cronie's star flags) or raises :class:`CronError` naming the field and the value. It is not
cached; :func:`scheduler_core.cron.parse_cron` reads through the compile cache.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from ..errors import CronError
from ..records import record

MACROS: Mapping[str, str] = MappingProxyType(
    {
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
        "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@hourly": "0 * * * *",
    }
)
"""The macros cronie knows (minus ``@reboot``), with the five fields each one stands for."""

_MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DOW_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
# (field name, lowest value, highest value, names for low, low+1, ... if the field has names)
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...] | None], ...] = (
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day-of-month", 1, 31, None),
    ("month", 1, 12, _MONTH_NAMES),
    ("day-of-week", 0, 7, _DOW_NAMES),
)
_SHAPE = "minute hour day-of-month month day-of-week"
#: longest expression read: every value of every field listed one by one is under 400
#: characters; the cap keeps huge input (and int()'s 4300-digit limit) out of the parser
MAX_EXPRESSION_LENGTH = 1024
_DIGITS = re.compile(r"[0-9]+")
_QUARTZ_LW = re.compile(r"(?:L|LW|L-[0-9]+|[0-9]*L|[0-9]*W)", re.IGNORECASE)
MAX_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@record
class CronFields:
    """A parsed, validated expression: the value sets per field plus cronie's star flags.

    ``days_of_week`` uses 0-6 with Sunday as 0 (a 7 in the source is folded into 0).
    """

    expression: str
    source: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    minute_star: bool
    hour_star: bool
    dom_star: bool
    dow_star: bool

    @property
    def is_wildcard(self) -> bool:
        """cronie's MIN_STAR/HR_STAR: decides how the job behaves across DST changes."""
        return self.minute_star or self.hour_star

    @property
    def day_and(self) -> bool:
        """True when day-of-month and day-of-week combine with AND (either field starts with *)."""
        return self.dom_star or self.dow_star


def _error(expr: str, message: str, field: str, value: str) -> CronError:
    return CronError(message, expression=expr, cron_field=field, value=value)


def _parse_value(
    expr: str, tok: str, field: str, low: int, high: int, names: tuple[str, ...] | None
) -> int:
    """One number or name of a field, range-checked."""
    if _DIGITS.fullmatch(tok):
        n = int(tok)
        if n < low or n > high:
            raise _error(expr, f"{field} value {n} out of range {low}-{high}", field, tok)
        return n
    upper = tok.upper()
    if names is not None and upper in names:
        return names.index(upper) + (1 if names is _MONTH_NAMES else 0)
    if _QUARTZ_LW.fullmatch(tok) and (names is None or upper not in names):
        letter = "W" if upper.endswith("W") and upper != "LW" else "L"
        raise _error(
            expr, f"{field}: Quartz extension {letter!r} is not supported (in {tok!r})", field, tok
        )
    if names is not None:
        first, last = names[0], names[-1]
        raise _error(
            expr,
            f"{field} name {tok!r} is not valid (use {first}..{last} or {low}-{high})",
            field,
            tok,
        )
    raise _error(expr, f"{field} value {tok!r} is not a number ({low}-{high})", field, tok)


def _parse_field(
    expr: str, text: str, field: str, low: int, high: int, names: tuple[str, ...] | None
) -> set[int]:
    """One field: a comma list of ``*``, values and ranges, each optionally ``/step``."""
    for ch, what in (("?", "'?'"), ("#", "'#'")):
        if ch in text:
            raise _error(
                expr,
                f"{field}: Quartz extension {what} is not supported (in {text!r})",
                field,
                text,
            )
    if "~" in text:
        raise _error(expr, f"{field}: random ranges with '~' are not supported", field, text)
    values: set[int] = set()
    for element in text.split(","):
        if not element:
            raise _error(expr, f"{field} has an empty list element in {text!r}", field, text)
        base, slash, step_text = element.partition("/")
        step = 1
        if slash:
            if not _DIGITS.fullmatch(step_text):
                raise _error(
                    expr,
                    f"{field} step {step_text!r} in {element!r} is not a number",
                    field,
                    step_text,
                )
            step = int(step_text)
            if step == 0:
                raise _error(
                    expr, f"{field} step 0 in {element!r} must be at least 1", field, step_text
                )
        if base == "*":
            start, stop = low, high
        elif base.startswith("-") and _DIGITS.fullmatch(base[1:]):
            raise _error(expr, f"{field} value {base} out of range {low}-{high}", field, base)
        elif "-" in base:
            a, _, b = base.partition("-")
            if not a or not b or "-" in b:
                raise _error(expr, f"{field}: malformed range {element!r}", field, element)
            start = _parse_value(expr, a, field, low, high, names)
            stop = _parse_value(expr, b, field, low, high, names)
            if start > stop:
                hint = ""
                if field == "day-of-week" and stop == 0:
                    hint = f" (Sunday can also be written 7: {a}-7)"
                raise _error(expr, f"{field} range {base} is reversed{hint}", field, base)
        elif not base:
            raise _error(expr, f"{field}: malformed element {element!r}", field, element)
        elif base.startswith("*"):
            raise _error(
                expr, f"{field}: unexpected {base[1:]!r} after '*' in {element!r}", field, element
            )
        else:
            start = _parse_value(expr, base, field, low, high, names)
            stop = high if slash else start  # N/step means N through the field's maximum
        values.update(range(start, stop + 1, step))
    return values


def parse_fields(expr: str) -> CronFields:
    """Parse and validate one expression (a macro or five fields), uncached."""
    original = expr
    text = expr.strip()
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise _error(
            original,
            f"cron expression too long ({len(text)} characters, at most "
            f"{MAX_EXPRESSION_LENGTH}; expected 5 fields: {_SHAPE})",
            "expression",
            text[:60],
        )
    if not text:
        raise _error(
            original, f"empty cron expression (expected 5 fields: {_SHAPE})", "expression", ""
        )
    if text.startswith("@"):
        word, *rest = text.split()
        if word == "@reboot":
            raise _error(
                original,
                "macro '@reboot' is not supported: a scheduler has no boot to run at; "
                "use a time-based schedule such as @daily",
                "expression",
                word,
            )
        if word not in MACROS:
            hint = ""
            if word.lower() in MACROS:
                hint = f"; macros are lowercase: did you mean {word.lower()!r}?"
            known = ", ".join(MACROS)
            raise _error(
                original, f"unknown macro {word!r} (known: {known}){hint}", "expression", word
            )
        if rest:
            raise _error(
                original,
                f"macro {word!r} takes no fields, got {' '.join(rest)!r} after it",
                "expression",
                text,
            )
        source = MACROS[word]
    else:
        source = " ".join(text.split())
    parts = source.split()
    if len(parts) != 5:
        extra = ""
        if len(parts) in (6, 7):
            extra = " (seconds and years are not supported)"
        raise _error(
            original,
            f"expected 5 fields ({_SHAPE}), got {len(parts)}{extra}",
            "expression",
            text,
        )
    sets = [
        _parse_field(original, part, name, low, high, names)
        for part, (name, low, high, names) in zip(parts, _FIELDS, strict=True)
    ]
    dow = frozenset(d % 7 for d in sets[4])
    fields = CronFields(
        expression=text,
        source=source,
        minutes=frozenset(sets[0]),
        hours=frozenset(sets[1]),
        days_of_month=frozenset(sets[2]),
        months=frozenset(sets[3]),
        days_of_week=dow,
        minute_star=parts[0].startswith("*"),
        hour_star=parts[1].startswith("*"),
        dom_star=parts[2].startswith("*"),
        dow_star=parts[4].startswith("*"),
    )
    if fields.day_and and not any(
        d <= MAX_MONTH_DAYS[m] for m in fields.months for d in fields.days_of_month
    ):
        raise _error(
            original,
            f"day-of-month {parts[2]!r} never occurs in month {parts[3]!r}, "
            f"so {text!r} never fires",
            "day-of-month",
            parts[2],
        )
    return fields
