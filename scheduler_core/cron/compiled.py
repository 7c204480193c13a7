"""The compiled form of an expression: lookup tables for the field-by-field search.

A :class:`Compiled` is shared by every schedule with the same expression text (an LRU cache);
:func:`parse_cron` and :func:`validate_cron` read through the same cache, so an expression checked
at definition time is compiled once.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import date
from functools import lru_cache

from .fields import MAX_MONTH_DAYS, CronFields, parse_fields


def parse_cron(expr: str) -> CronFields:
    """Parse and validate ``expr``; raises :class:`CronError` naming the field and the value."""
    return compile_cron(expr.strip()).fields


def validate_cron(expr: str) -> None:
    """Raise :class:`CronError` when ``expr`` is not a valid five-field cron expression."""
    parse_cron(expr)


def _next_table(values: frozenset[int], size: int) -> tuple[int, ...]:
    """``table[i]`` = the smallest allowed value >= i, or -1; one sentinel slot past the end."""
    table = [-1] * (size + 1)
    nxt = -1
    for i in range(size - 1, -1, -1):
        if i in values:
            nxt = i
        table[i] = nxt
    return tuple(table)


def month_len(y: int, m: int) -> int:
    """The number of days of month ``m`` in year ``y`` (Gregorian leap years)."""
    if m == 2:
        return 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
    return MAX_MONTH_DAYS[m]


class NeverFires(Exception):
    """No matching minute before the year 10000 (:meth:`Compiled.next_match` gives up)."""


class Compiled:
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
        mlen = month_len(y, m)
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
                        raise NeverFires
                    mo = self.first_month
                else:
                    mo = m2
                d = 1
                h = 0
                mi = 0
            if all_days:
                if d > 28 and d > month_len(y, mo):
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
def compile_cron(text: str) -> Compiled:
    """The (cached) lookup tables of an expression; raises :class:`CronError` when invalid."""
    return Compiled(parse_fields(text))
