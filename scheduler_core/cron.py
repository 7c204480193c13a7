"""Our own cron engine: cronie's semantics, IANA time zones and cronie's DST rules.

Why not croniter: measured against cronie it runs fixed-time jobs twice in a fall-back overlap,
moves a wildcard job's skipped minutes after a spring-forward gap, reads ``5-5/10`` as every ten
minutes and accepts six fields, reversed ranges and Quartz extensions. The rules here are the ones
in DESIGN.md ("Scheduling semantics (decided)"):

* exactly five fields (minute hour day-of-month month day-of-week); Sunday is 0 or 7; JAN..DEC and
  SUN..SAT in any case; macros (lowercase only) @yearly @annually @monthly @weekly @daily
  @midnight @hourly; ``N/step`` means N through the field's maximum; step 0, reversed ranges,
  out-of-range values, Quartz extensions (``? L W #``) and unknown macros are rejected with a
  message naming the field and the value;
* day of month and day of week combine with OR when neither field starts with ``*``, else AND
  (cronie's DOM_STAR/DOW_STAR rule);
* a job is *wildcard* when its minute or hour field starts with ``*``, else *fixed-time*. Spring
  forward: a fixed-time job matching any skipped local minute runs once, at the instant the gap
  ends; a wildcard job's skipped minutes are lost. Fall back: in the repeated local minutes a
  fixed-time job runs only in the first pass, a wildcard job in both.

The next run is found by jumping field by field in local wall time (never minute by minute), then
mapping the local minute to UTC with the zone's fold/gap information.
"""

from __future__ import annotations

__all__ = [
    "MACROS",
    "CronFields",
    "CronSchedule",
    "parse_cron",
    "validate_cron",
]

import re
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from itertools import pairwise
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import CronError, ValidationError

# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

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
_MAX_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MONTH_LONG = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DOW_LONG = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


@dataclass(frozen=True, slots=True)
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


def _parse(expr: str) -> CronFields:
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
        d <= _MAX_MONTH_DAYS[m] for m in fields.months for d in fields.days_of_month
    ):
        raise _error(
            original,
            f"day-of-month {parts[2]!r} never occurs in month {parts[3]!r}, "
            f"so {text!r} never fires",
            "day-of-month",
            parts[2],
        )
    return fields


def parse_cron(expr: str) -> CronFields:
    """Parse and validate ``expr``; raises :class:`CronError` naming the field and the value."""
    return _compile(expr.strip()).fields


def validate_cron(expr: str) -> None:
    """Raise :class:`CronError` when ``expr`` is not a valid five-field cron expression."""
    parse_cron(expr)


# --------------------------------------------------------------------------------------------
# The compiled form: lookup tables for the field-by-field search
# --------------------------------------------------------------------------------------------


def _next_table(values: frozenset[int], size: int) -> tuple[int, ...]:
    """``table[i]`` = the smallest allowed value >= i, or -1; one sentinel slot past the end."""
    table = [-1] * (size + 1)
    nxt = -1
    for i in range(size - 1, -1, -1):
        if i in values:
            nxt = i
        table[i] = nxt
    return tuple(table)


def _month_len(y: int, m: int) -> int:
    if m == 2:
        return 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
    return _MAX_MONTH_DAYS[m]


class _NeverFires(Exception):
    pass


class _Compiled:
    """Lookup tables shared by every schedule with the same expression (cached by text)."""

    __slots__ = (
        "all_days",
        "day_and",
        "dom",
        "dow",
        "fields",
        "first_month",
        "month_days",
        "next_hour",
        "next_minute",
        "next_month",
    )

    def __init__(self, fields: CronFields) -> None:
        self.fields = fields
        self.next_minute = _next_table(fields.minutes, 60)
        self.next_hour = _next_table(fields.hours, 24)
        months = _next_table(fields.months, 13)
        self.next_month = tuple(0 if m < 0 else m for m in months)
        self.first_month = self.next_month[1]
        self.dom = fields.days_of_month
        self.dow = fields.days_of_week
        self.day_and = fields.day_and
        dom_all = len(self.dom) == 31
        dow_all = len(self.dow) == 7
        # AND with both full, or OR with either full: every day matches.
        self.all_days = (dom_all and dow_all) if self.day_and else (dom_all or dow_all)
        self.month_days: dict[tuple[int, int], tuple[int, ...]] = {}

    def day_ok(self, dom: int, dow: int) -> bool:
        if self.day_and:
            return dom in self.dom and dow in self.dow
        return dom in self.dom or dow in self.dow

    def days(self, y: int, m: int) -> tuple[int, ...]:
        """The matching days of month ``m`` of year ``y``, sorted."""
        mlen = _month_len(y, m)
        first_dow = date(y, m, 1).toordinal() % 7  # 0 = Sunday, as in cron
        key = (mlen, first_dow)
        found = self.month_days.get(key)
        if found is None:
            found = tuple(d for d in range(1, mlen + 1) if self.day_ok(d, (first_dow + d - 1) % 7))
            self.month_days[key] = found
        return found

    def next_match(
        self, y: int, mo: int, d: int, h: int, mi: int
    ) -> tuple[int, int, int, int, int]:
        """The first matching local wall-clock minute at or after the given one.

        ``h`` may be 24 and ``mi`` 60 (they roll over); ``d`` may pass the month's end.
        """
        next_month = self.next_month
        next_hour = self.next_hour
        next_minute = self.next_minute
        all_days = self.all_days
        limit = min(y + 401, 9999)  # the Gregorian calendar repeats every 400 years
        while True:
            m2 = next_month[mo]
            if m2 != mo:
                if m2 == 0:
                    y += 1
                    if y > limit:
                        raise _NeverFires
                    mo = self.first_month
                else:
                    mo = m2
                d = 1
                h = 0
                mi = 0
            if all_days:
                if d > 28 and d > _month_len(y, mo):
                    mo += 1
                    d = 1
                    h = 0
                    mi = 0
                    continue
            else:
                days = self.days(y, mo)
                if not days or d > days[-1]:
                    mo += 1
                    d = 1
                    h = 0
                    mi = 0
                    continue
                d2 = days[bisect_left(days, d)]
                if d2 != d:
                    d = d2
                    h = 0
                    mi = 0
            h2 = next_hour[h]
            if h2 < 0:
                d += 1
                h = 0
                mi = 0
                continue
            if h2 != h:
                h = h2
                mi = 0
            mi2 = next_minute[mi]
            if mi2 < 0:
                h += 1
                mi = 0
                continue
            return y, mo, d, h, mi2


@lru_cache(maxsize=16384)
def _compile(text: str) -> _Compiled:
    return _Compiled(_parse(text))


# --------------------------------------------------------------------------------------------
# Time zones
# --------------------------------------------------------------------------------------------

_FIXED_KEYS = frozenset(
    {
        "UTC",
        "UCT",
        "Universal",
        "Zulu",
        "GMT",
        "GMT0",
        "GMT+0",
        "GMT-0",
        "Greenwich",
        "Etc/UTC",
        "Etc/UCT",
        "Etc/Universal",
        "Etc/Zulu",
        "Etc/GMT",
        "Etc/GMT0",
        "Etc/GMT+0",
        "Etc/GMT-0",
        "Etc/Greenwich",
    }
)
_ETC_GMT = re.compile(r"Etc/GMT[+-][0-9]{1,2}")
_MINUTE = timedelta(minutes=1)


@lru_cache(maxsize=1024)
def _zone(key: str) -> ZoneInfo:
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(
            f"unknown time zone {key!r} (use an IANA name such as 'Europe/London')",
            field="timezone",
        ) from None


def _fixed_offset(tz: ZoneInfo) -> timedelta | None:
    """The offset of a zone that never changes it (UTC, Etc/GMT+5), else None."""
    key = tz.key
    if key in _FIXED_KEYS or (key is not None and _ETC_GMT.fullmatch(key)):
        return datetime(2000, 1, 1, tzinfo=tz).utcoffset()
    return None


def _offset_at(tz: ZoneInfo, utc_naive: datetime) -> timedelta:
    off = utc_naive.replace(tzinfo=UTC).astimezone(tz).utcoffset()
    assert off is not None
    return off


@lru_cache(maxsize=4096)
def _gap_end(tz: ZoneInfo, lo: datetime, hi: datetime) -> tuple[datetime, datetime]:
    """The transition instant inside (lo, hi] (naive UTC) and the local minute it starts.

    ``lo`` and ``hi`` are a nonexistent local time read with the offsets after and before the
    transition; the instant is found by bisection on seconds, then rounded up to a whole minute.
    """
    after = _offset_at(tz, hi)
    a, b = 0, int((hi - lo).total_seconds())
    while b - a > 1:
        mid = (a + b) // 2
        if _offset_at(tz, lo + timedelta(seconds=mid)) == after:
            b = mid
        else:
            a = mid
    instant = lo + timedelta(seconds=b)
    if instant.second or instant.microsecond:
        instant = instant.replace(second=0, microsecond=0) + _MINUTE
    local = instant.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)
    return instant, local


# --------------------------------------------------------------------------------------------
# The schedule
# --------------------------------------------------------------------------------------------


class CronSchedule:
    """A cron expression bound to an IANA time zone; answers "when is the next run?"."""

    __slots__ = ("_c", "_fixed", "expr", "fields", "is_wildcard", "timezone", "tz")

    expr: str
    tz: ZoneInfo
    timezone: str
    is_wildcard: bool
    fields: CronFields

    def __init__(self, expr: str, tz: str | tzinfo = "UTC") -> None:
        text = expr.strip() if isinstance(expr, str) else expr
        if not isinstance(text, str):
            raise CronError(
                f"a cron expression must be a string, got {type(expr).__name__}",
                expression=str(expr),
                cron_field="expression",
                value=str(expr),
            )
        compiled = _compile(text)
        if isinstance(tz, str):
            zone = _zone(tz)
        elif isinstance(tz, ZoneInfo):
            zone = tz
        elif tz is UTC:
            zone = _zone("UTC")
        else:
            raise ValidationError(f"expected an IANA time zone name, got {tz!r}", field="timezone")
        self._c = compiled
        self.fields = compiled.fields
        self.expr = text
        self.tz = zone
        self.timezone = zone.key if zone.key is not None else str(zone)
        self.is_wildcard = compiled.fields.is_wildcard
        self._fixed = _fixed_offset(zone)

    def __repr__(self) -> str:
        return f"CronSchedule({self.expr!r}, {self.timezone!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CronSchedule):
            return NotImplemented
        return self.expr == other.expr and self.timezone == other.timezone

    def __hash__(self) -> int:
        return hash((self.expr, self.timezone))

    # -- the search ---------------------------------------------------------------------------

    def next_after(self, instant: datetime) -> datetime:
        """The next run strictly after ``instant``, as an aware UTC datetime on a whole minute.

        Computed from the given instant (the previous scheduled one), never from "now", so a
        chain of calls never drifts.
        """
        off = instant.utcoffset()
        if off is None:
            raise ValueError(f"instant must be timezone-aware, got naive {instant!r}")
        tu = instant.replace(tzinfo=None) - off  # naive UTC
        try:
            if self._fixed is not None:
                loc = tu + self._fixed
                y, mo, d, h, mi = self._c.next_match(
                    loc.year, loc.month, loc.day, loc.hour, loc.minute + 1
                )
                return datetime(y, mo, d, h, mi, tzinfo=UTC) - self._fixed
            return self._next_zoned(tu).replace(tzinfo=UTC)
        except (_NeverFires, OverflowError):
            raise CronError(
                f"{self.expr!r} has no run after {instant.isoformat()} before the year 10000",
                expression=self.expr,
                cron_field="expression",
                value=self.expr,
            ) from None

    def _next_zoned(self, tu: datetime) -> datetime:
        """Walk matching local minutes in order and apply cronie's DST rules (naive UTC out).

        Each local minute maps to one instant, two (a fall-back overlap: fold 0 and 1) or none
        (a spring-forward gap). The smallest instant a local minute can give never decreases
        along the walk, so the walk stops at the first minute whose smallest instant qualifies.
        """
        tz = self.tz
        wild = self.is_wildcard
        next_match = self._c.next_match
        loc = tu.replace(tzinfo=UTC).astimezone(tz)
        start = loc.replace(tzinfo=None, second=0, microsecond=0)
        if loc.fold == 0:
            o0 = loc.utcoffset()
            o1 = loc.replace(fold=1).utcoffset()
            assert o0 is not None and o1 is not None
            if o1 < o0:
                # First pass of an overlap: earlier local minutes still have a second pass ahead.
                start -= o0 - o1
            else:
                start += _MINUTE
        else:
            start += _MINUTE
        y, mo, d, h, mi = start.year, start.month, start.day, start.hour, start.minute
        best: datetime | None = None
        while True:
            y, mo, d, h, mi = next_match(y, mo, d, h, mi)
            local = datetime(y, mo, d, h, mi)
            o0 = datetime(y, mo, d, h, mi, tzinfo=tz).utcoffset()
            o1 = datetime(y, mo, d, h, mi, tzinfo=tz, fold=1).utcoffset()
            assert o0 is not None and o1 is not None
            if o0 == o1:  # an ordinary local minute
                u = local - o0
                if best is not None and u >= best:
                    return best
                if u > tu:
                    return u
            elif o0 > o1:  # a repeated local minute: first pass, then second pass
                u = local - o0
                if best is not None and u >= best:
                    return best
                if u > tu:
                    return u
                if wild:
                    u1 = local - o1
                    if u1 > tu and (best is None or u1 < best):
                        best = u1
            else:  # a skipped local minute (spring-forward gap)
                jump, resume = _gap_end(tz, local - o1, local - o0)
                if best is not None and jump >= best:
                    return best
                if not wild and jump > tu:
                    return jump
                y, mo, d, h, mi = resume.year, resume.month, resume.day, resume.hour, resume.minute
                continue
            mi += 1

    def next_n(self, instant: datetime, n: int) -> list[datetime]:
        """The next ``n`` runs after ``instant``, each computed from the one before."""
        out: list[datetime] = []
        t = instant
        for _ in range(n):
            t = self.next_after(t)
            out.append(t)
        return out

    def matches(self, local: datetime) -> bool:
        """Whether a wall-clock minute matches the fields (no DST logic).

        A naive datetime is read as wall time in this schedule's zone; an aware one is first
        converted to it.
        """
        if local.tzinfo is not None:
            local = local.astimezone(self.tz)
        f = self.fields
        if local.minute not in f.minutes or local.hour not in f.hours:
            return False
        if local.month not in f.months:
            return False
        return self._c.day_ok(local.day, local.toordinal() % 7)

    def describe(self) -> str:
        """A short English reading, e.g. "At 09:00 every day" or "Every 15 minutes"."""
        return _describe(self.fields)


# --------------------------------------------------------------------------------------------
# describe()
# --------------------------------------------------------------------------------------------


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _join(items: list[str], conj: str = "and") -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conj} {items[-1]}"


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """Sorted values grouped into contiguous runs."""
    runs: list[tuple[int, int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    return runs


def _progression(values: list[int], high: int) -> tuple[int, int] | None:
    """(start, step) when the values are start, start+step, ... up to the field's end."""
    if len(values) < 3:
        return None
    step = values[1] - values[0]
    if step < 2 or any(b - a != step for a, b in pairwise(values)):
        return None
    if values[-1] + step <= high:
        return None
    return values[0], step


def _list_phrase(values: list[int], name: str) -> str:
    """ "day 5", "days 1 and 15", "days 1 through 7 and 20"."""
    runs = _runs(values)
    if len(runs) == 1 and runs[0][0] == runs[0][1]:
        return f"{name} {runs[0][0]}"
    parts: list[str] = []
    for a, b in runs:
        if a == b:
            parts.append(str(a))
        elif b == a + 1:
            parts.extend((str(a), str(b)))
        else:
            parts.append(f"{a} through {b}")
    return f"{name}s {_join(parts)}"


def _num_phrase(values: list[int], low: int, high: int, unit: str) -> str:
    """minute/hour values as words: "minute 5", "hours 9 through 17", "every 2nd hour"."""
    prog = _progression(values, high)
    if prog is not None:
        start, step = prog
        every = f"every {_ordinal(step)} {unit}"
        return every if start == low else f"{every} from {unit} {start}"
    return _list_phrase(values, unit)


def _dow_phrase(values: frozenset[int], *, plural: bool, conj: str = "and") -> str:
    """ "Monday", "Monday through Friday", "Saturday and Sunday"; Monday first, Sunday last."""
    s = "s" if plural else ""
    keyed = sorted(d or 7 for d in values)
    parts: list[str] = []
    for a, b in _runs(keyed):
        if b - a >= 2:
            parts.append(f"{_DOW_LONG[a % 7]}{s} through {_DOW_LONG[b % 7]}{s}")
        else:
            parts.extend(f"{_DOW_LONG[d % 7]}{s}" for d in range(a, b + 1))
    return _join(parts, conj)


def _dom_phrase(values: frozenset[int]) -> str:
    ordered = sorted(values)
    if ordered == list(range(1, 32, 2)):
        return "odd days"
    if ordered == list(range(2, 32, 2)):
        return "even days"
    prog = _progression(ordered, 31)
    if prog is not None:
        start, step = prog
        tail = "" if start == 1 else f" from day {start}"
        return f"every {_ordinal(step)} day of the month{tail}"
    return _list_phrase(ordered, "day") + " of the month"


def _month_phrase(values: frozenset[int]) -> str:
    parts: list[str] = []
    for a, b in _runs(sorted(values)):
        if b - a >= 2:
            parts.append(f"{_MONTH_LONG[a]} through {_MONTH_LONG[b]}")
        else:
            parts.extend(_MONTH_LONG[m] for m in range(a, b + 1))
    return _join(parts)


def _time_phrase(f: CronFields) -> tuple[str, bool]:
    """The time-of-day part and whether it reads as clock times ("At 09:00")."""
    minutes = sorted(f.minutes)
    hours = sorted(f.hours)
    all_hours = len(hours) == 24
    head = None
    if len(minutes) == 60:
        head = "Every minute"
    else:
        prog = _progression(minutes, 59)
        if prog is not None and prog[0] == 0:
            step = prog[1]
            head = f"Every {step} minutes" if 60 % step == 0 else f"Every {_ordinal(step)} minute"
    if head is not None:
        if all_hours:
            return head, False
        return f"{head} during {_num_phrase(hours, 0, 23, 'hour')}", False
    if not all_hours and len(minutes) * len(hours) <= 4:
        return f"At {_join([f'{h:02d}:{m:02d}' for h in hours for m in minutes])}", True
    minute_part = _num_phrase(minutes, 0, 59, "minute")
    if all_hours:
        return f"At {minute_part} past every hour", False
    return f"At {minute_part} past {_num_phrase(hours, 0, 23, 'hour')}", False


def _describe(f: CronFields) -> str:
    time, clock = _time_phrase(f)
    dom_all = len(f.days_of_month) == 31
    dow_all = len(f.days_of_week) == 7
    if f.day_and:
        dom_r, dow_r = not dom_all, not dow_all
    else:
        dom_r = dow_r = not (dom_all or dow_all)
    if dom_r and dow_r:
        dom = _dom_phrase(f.days_of_month)
        if not f.day_and:
            day = f"on {dom} and on {_dow_phrase(f.days_of_week, plural=True)}"
        elif len(f.days_of_month) == 1:
            day = f"on {dom} if it is a {_dow_phrase(f.days_of_week, plural=False, conj='or')}"
        else:
            day = f"on {dom} that are {_dow_phrase(f.days_of_week, plural=True, conj='or')}"
    elif dom_r and len(f.days_of_month) == 1 and len(f.months) == 1:
        (d,), (m,) = f.days_of_month, f.months
        return " ".join(p for p in (time, f"on {_MONTH_LONG[m]} {d}") if p)
    elif dom_r:
        day = f"on {_dom_phrase(f.days_of_month)}"
    elif dow_r:
        day = f"on {_dow_phrase(f.days_of_week, plural=False)}"
    else:
        day = "every day" if clock else ""
    month = "" if len(f.months) == 12 else f"in {_month_phrase(f.months)}"
    return " ".join(p for p in (time, day, month) if p)
