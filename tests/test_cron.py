"""Tests for scheduler_core.cron: cronie semantics, IANA zones and cronie's DST rules.

Exact UTC instants are spelled out; where the engine parts from croniter on purpose, the test
shows both behaviours. A brute-force oracle (minute by minute in UTC, straight from the DST rules
in DESIGN.md) checks the engine around real transitions.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from croniter import CroniterError, croniter
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scheduler_core.cron import (
    MACROS,
    CronFields,
    CronSchedule,
    parse_cron,
    validate_cron,
)
from scheduler_core.errors import CronError, ValidationError

MINUTE = timedelta(minutes=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def iso(text: str) -> datetime:
    """'2026-03-08T07:00' -> aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def runs(expr: str, tz: str, start: datetime, n: int) -> list[datetime]:
    return CronSchedule(expr, tz).next_n(start, n)


def croniter_runs(expr: str, tz: str, start: datetime, n: int, **kw: object) -> list[datetime]:
    it = croniter(expr, start.astimezone(ZoneInfo(tz)), **kw)
    return [it.get_next(datetime).astimezone(UTC) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# The guide's examples
# ---------------------------------------------------------------------------------------------

GUIDE = [
    ("0 9 * * *", ["2026-01-01T09:00", "2026-01-02T09:00", "2026-01-03T09:00"]),
    ("0 18 * * 1", ["2026-01-05T18:00", "2026-01-12T18:00", "2026-01-19T18:00"]),
    ("*/15 * * * *", ["2026-01-01T00:15", "2026-01-01T00:30", "2026-01-01T00:45"]),
    ("0 0 1 * *", ["2026-02-01T00:00", "2026-03-01T00:00", "2026-04-01T00:00"]),
    ("*/5 * * * *", ["2026-01-01T00:05", "2026-01-01T00:10", "2026-01-01T00:15"]),
    ("*/10 * * * *", ["2026-01-01T00:10", "2026-01-01T00:20", "2026-01-01T00:30"]),
    ("0 2 * * *", ["2026-01-01T02:00", "2026-01-02T02:00", "2026-01-03T02:00"]),
    ("0 3 * * *", ["2026-01-01T03:00", "2026-01-02T03:00", "2026-01-03T03:00"]),
    ("0 1 * * *", ["2026-01-01T01:00", "2026-01-02T01:00", "2026-01-03T01:00"]),
    ("*/30 * * * *", ["2026-01-01T00:30", "2026-01-01T01:00", "2026-01-01T01:30"]),
    ("0 0 * * 0", ["2026-01-04T00:00", "2026-01-11T00:00", "2026-01-18T00:00"]),
    ("0 * * * *", ["2026-01-01T01:00", "2026-01-01T02:00", "2026-01-01T03:00"]),
    ("0 */2 * * *", ["2026-01-01T02:00", "2026-01-01T04:00", "2026-01-01T06:00"]),
]


@pytest.mark.parametrize(("expr", "expected"), GUIDE)
def test_guide_examples(expr: str, expected: list[str]) -> None:
    start = utc(2026, 1, 1)  # a Thursday, at midnight: "strictly after" skips 00:00 itself
    got = runs(expr, "UTC", start, 3)
    assert got == [iso(e) for e in expected]
    assert croniter_runs(expr, "UTC", start, 3, implement_cron_bug=True) == got


# ---------------------------------------------------------------------------------------------
# Fields: Sunday 0/7, names, macros, steps, lists
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dow", ["0", "7", "SUN", "sun", "Sun", "0,7", "7-7", "*/7"])
def test_sunday_is_0_or_7(dow: str) -> None:
    s = CronSchedule(f"0 0 * * {dow}")
    assert s.fields.days_of_week == frozenset({0})
    assert s.next_after(utc(2026, 1, 1)) == utc(2026, 1, 4)  # Sunday


@pytest.mark.parametrize(
    ("expr", "field", "values"),
    [
        ("0 0 * * MON-FRI", "days_of_week", {1, 2, 3, 4, 5}),
        ("0 0 * * mon-fri", "days_of_week", {1, 2, 3, 4, 5}),
        ("0 0 * * 5-7", "days_of_week", {5, 6, 0}),
        ("0 0 * * FRI-7", "days_of_week", {5, 6, 0}),
        ("0 0 * * sat,SUN", "days_of_week", {6, 0}),
        ("0 0 * jan,jul *", "months", {1, 7}),
        ("0 0 * JAN-MAR *", "months", {1, 2, 3}),
        ("0 0 * Jan-Dec/3 *", "months", {1, 4, 7, 10}),
        ("0 0 * 1,feb,3 *", "months", {1, 2, 3}),
        ("5/20 * * * *", "minutes", {5, 25, 45}),
        ("5-5/10 * * * *", "minutes", {5}),
        ("1-10/3 * * * *", "minutes", {1, 4, 7, 10}),
        ("1,5-7,10-20/5,*/30 * * * *", "minutes", {0, 1, 5, 6, 7, 10, 15, 20, 30}),
        ("*/61 * * * *", "minutes", {0}),
        ("0 */5 * * *", "hours", {0, 5, 10, 15, 20}),
        ("0 20/2 * * *", "hours", {20, 22}),
        ("0 0 */10 * *", "days_of_month", {1, 11, 21, 31}),
        ("0 0 * * 1/2", "days_of_week", {1, 3, 5, 0}),
        ("0 0 * * */2", "days_of_week", {0, 2, 4, 6}),
        ("00 09 * * *", "hours", {9}),
    ],
)
def test_field_values(expr: str, field: str, values: set[int]) -> None:
    assert getattr(parse_cron(expr), field) == frozenset(values)


def test_names_run_on_the_right_days() -> None:
    assert runs("0 0 1 jan,jul *", "UTC", utc(2026, 1, 1), 3) == [
        utc(2026, 7, 1),
        utc(2027, 1, 1),
        utc(2027, 7, 1),
    ]
    weekdays = runs("0 8 * * MON-FRI", "UTC", utc(2026, 1, 2, 9), 3)  # Friday after 08:00
    assert weekdays == [utc(2026, 1, 5, 8), utc(2026, 1, 6, 8), utc(2026, 1, 7, 8)]


@pytest.mark.parametrize(("macro", "fields"), sorted(MACROS.items()))
def test_macros_equal_their_expansion(macro: str, fields: str) -> None:
    a, b = parse_cron(macro), parse_cron(fields)
    for name in ("minutes", "hours", "days_of_month", "months", "days_of_week", "day_and"):
        assert getattr(a, name) == getattr(b, name)
    assert CronSchedule(macro).is_wildcard == (macro == "@hourly")
    start = utc(2026, 5, 14, 10, 7)
    assert CronSchedule(macro).next_n(start, 3) == CronSchedule(fields).next_n(start, 3)


def test_macro_runs() -> None:
    start = utc(2026, 5, 14, 10, 7)  # a Thursday
    assert CronSchedule("@yearly").next_after(start) == utc(2027, 1, 1)
    assert CronSchedule("@annually").next_after(start) == utc(2027, 1, 1)
    assert CronSchedule("@monthly").next_after(start) == utc(2026, 6, 1)
    assert CronSchedule("@weekly").next_after(start) == utc(2026, 5, 17)
    assert CronSchedule("@daily").next_after(start) == utc(2026, 5, 15)
    assert CronSchedule("@midnight").next_after(start) == utc(2026, 5, 15)
    assert CronSchedule("@hourly").next_after(start) == utc(2026, 5, 14, 11)
    assert CronSchedule("  @daily  ").expr == "@daily"


def test_or_rule_when_neither_day_field_starts_with_star() -> None:
    # 1st, 15th AND every Monday (Jan 5, 12, 19, 26 and Feb 2 are Mondays in 2026)
    got = runs("0 0 1,15 * 1", "UTC", utc(2026, 1, 1), 7)
    assert got == [
        utc(2026, 1, 5),
        utc(2026, 1, 12),
        utc(2026, 1, 15),
        utc(2026, 1, 19),
        utc(2026, 1, 26),
        utc(2026, 2, 1),
        utc(2026, 2, 2),
    ]
    assert not parse_cron("0 0 1,15 * 1").day_and


def test_and_rule_when_a_day_field_starts_with_star() -> None:
    # odd days that are Mondays
    assert runs("0 0 */2 * 1", "UTC", utc(2026, 1, 1), 4) == [
        utc(2026, 1, 5),
        utc(2026, 1, 19),
        utc(2026, 2, 9),
        utc(2026, 2, 23),
    ]
    # plain Mondays
    assert runs("0 0 * * 1", "UTC", utc(2026, 1, 1), 3) == [
        utc(2026, 1, 5),
        utc(2026, 1, 12),
        utc(2026, 1, 19),
    ]
    # the first Monday of the month: day 1-7 AND Monday, via a *-prefixed day-of-week
    assert runs("0 0 1-7 * */7", "UTC", utc(2026, 1, 1), 2) == [utc(2026, 1, 4), utc(2026, 2, 1)]
    assert parse_cron("0 0 1-7 * */7").day_and


def test_or_rule_with_a_full_field_means_every_day() -> None:
    # "1-31" does not start with '*', so OR applies, and every day matches
    assert runs("0 0 1-31 * 1", "UTC", utc(2026, 1, 1), 2) == [utc(2026, 1, 2), utc(2026, 1, 3)]
    assert runs("0 0 1 * 0-7", "UTC", utc(2026, 1, 1), 2) == [utc(2026, 1, 2), utc(2026, 1, 3)]


def test_leap_day_and_month_ends() -> None:
    assert CronSchedule("0 12 29 2 *").next_after(utc(2025, 1, 1)) == utc(2028, 2, 29, 12)
    assert runs("0 12 29 2 *", "UTC", utc(2028, 2, 29, 12), 2) == [
        utc(2032, 2, 29, 12),
        utc(2036, 2, 29, 12),
    ]
    assert runs("0 0 31 * *", "UTC", utc(2026, 1, 31), 4) == [
        utc(2026, 3, 31),
        utc(2026, 5, 31),
        utc(2026, 7, 31),
        utc(2026, 8, 31),
    ]
    assert runs("0 0 30 * *", "UTC", utc(2026, 1, 30), 2) == [utc(2026, 3, 30), utc(2026, 4, 30)]
    assert runs("59 23 28-31 2 *", "UTC", utc(2027, 1, 1), 3) == [
        utc(2027, 2, 28, 23, 59),
        utc(2028, 2, 28, 23, 59),
        utc(2028, 2, 29, 23, 59),
    ]
    # Feb 29 that is a Sunday (AND rule): decades apart, found without iterating minutes
    assert runs("0 0 29 2 */7", "UTC", utc(2020, 1, 1), 3) == [
        utc(2032, 2, 29),
        utc(2060, 2, 29),
        utc(2088, 2, 29),
    ]
    # year and month rollover
    assert CronSchedule("59 23 31 12 *").next_after(utc(2026, 12, 31, 23, 59)) == utc(
        2027, 12, 31, 23, 59
    )
    assert CronSchedule("* * * * *").next_after(utc(2026, 12, 31, 23, 59, 30)) == utc(2027, 1, 1)


def test_or_rule_day_that_never_exists_still_fires_on_weekdays() -> None:
    # OR: day 30 never comes in February, but Mondays in February do
    assert runs("0 0 30 2 1", "UTC", utc(2026, 1, 1), 2) == [utc(2026, 2, 2), utc(2026, 2, 9)]


# ---------------------------------------------------------------------------------------------
# API details
# ---------------------------------------------------------------------------------------------


def test_next_after_is_strict_aligned_and_utc() -> None:
    s = CronSchedule("*/15 * * * *")
    assert s.next_after(utc(2026, 1, 1, 0, 15)) == utc(2026, 1, 1, 0, 30)
    got = s.next_after(datetime(2026, 1, 1, 0, 14, 59, 999999, tzinfo=UTC))
    assert got == utc(2026, 1, 1, 0, 15)
    assert got.tzinfo is UTC and got.second == 0 and got.microsecond == 0
    # any aware input zone is accepted; the answer is UTC
    ny = datetime(2026, 1, 1, 9, 1, tzinfo=ZoneInfo("America/New_York"))
    assert CronSchedule("0 * * * *").next_after(ny) == utc(2026, 1, 1, 15)


def test_naive_instant_is_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        CronSchedule("* * * * *").next_after(datetime(2026, 1, 1))


def test_attributes_and_zone_forms() -> None:
    s = CronSchedule("  0 9 * * 1-5 ", "Europe/London")
    assert s.expr == "0 9 * * 1-5"
    assert s.timezone == "Europe/London"
    assert s.tz == ZoneInfo("Europe/London")
    assert not s.is_wildcard
    assert CronSchedule("* 9 * * *").is_wildcard
    assert CronSchedule("0 * * * *").is_wildcard
    assert CronSchedule("0 9 * * *", ZoneInfo("Asia/Tokyo")).timezone == "Asia/Tokyo"
    assert CronSchedule("0 9 * * *", UTC).timezone == "UTC"
    assert CronSchedule("0 9 * * *").timezone == "UTC"
    assert s == CronSchedule("0 9 * * 1-5", "Europe/London")
    assert hash(s) == hash(CronSchedule("0 9 * * 1-5", "Europe/London"))
    assert "Europe/London" in repr(s)
    assert isinstance(parse_cron("0 9 * * *"), CronFields)
    validate_cron("0 9 * * *")


@pytest.mark.parametrize("zone", ["Mars/Base", "Europe/Londn", "", "../etc/passwd", "utc+2"])
def test_unknown_timezone(zone: str) -> None:
    with pytest.raises(ValidationError) as info:
        CronSchedule("0 9 * * *", zone)
    assert not isinstance(info.value, CronError)
    assert info.value.field == "timezone"
    assert "unknown time zone" in str(info.value)


def test_parse_is_cached() -> None:
    a = CronSchedule("7 7 * * *", "UTC")
    b = CronSchedule("7 7 * * *", "Asia/Tokyo")
    assert a.fields is b.fields
    started = time.perf_counter()
    for _ in range(100_000):
        CronSchedule("7 7 * * *", "Europe/Paris")
    assert time.perf_counter() - started < 5  # about 1 µs each; generous for slow CI


def test_next_after_is_fast_enough() -> None:
    # Targets: < 15 µs (UTC), < 40 µs (DST zone); asserted loosely to stay stable on slow CI.
    for zone in ("UTC", "America/New_York"):
        s = CronSchedule("30 8 * * 1-5", zone)
        t = utc(2026, 5, 14, 10, 7)
        started = time.perf_counter()
        for _ in range(5000):
            t = s.next_after(t)
        per_call = (time.perf_counter() - started) / 5000
        assert per_call < 200e-6


def test_matches() -> None:
    s = CronSchedule("30 2 * * 1", "America/New_York")
    assert s.matches(datetime(2026, 1, 5, 2, 30))  # naive = wall time in the zone
    assert not s.matches(datetime(2026, 1, 5, 2, 31))
    assert not s.matches(datetime(2026, 1, 6, 2, 30))
    assert s.matches(utc(2026, 1, 5, 7, 30))  # aware: converted to the zone (EST)
    assert CronSchedule("0 0 * * 7").matches(datetime(2026, 1, 4))


def test_never_fires_after_year_9999() -> None:
    s = CronSchedule("0 0 29 2 *")
    assert s.next_after(utc(9995, 1, 1)) == utc(9996, 2, 29)
    with pytest.raises(CronError, match="no run after"):
        s.next_after(utc(9996, 2, 29))


# ---------------------------------------------------------------------------------------------
# Invalid expressions: each message names the field and the value
# ---------------------------------------------------------------------------------------------

FIVE = "expected 5 fields (minute hour day-of-month month day-of-week)"
INVALID = [
    ("", "expression", "", "empty cron expression"),
    ("   ", "expression", "", "empty cron expression"),
    ("* * * * * *", "expression", "* * * * * *", f"{FIVE}, got 6"),
    ("0 0 0 * * *", "expression", "0 0 0 * * *", "seconds and years are not supported"),
    ("0 0 12 * * ? 2026", "expression", "0 0 12 * * ? 2026", f"{FIVE}, got 7"),
    ("* * * *", "expression", "* * * *", f"{FIVE}, got 4"),
    ("*", "expression", "*", f"{FIVE}, got 1"),
    ("60 * * * *", "minute", "60", "minute value 60 out of range 0-59"),
    ("5-70 * * * *", "minute", "70", "minute value 70 out of range 0-59"),
    ("* 24 * * *", "hour", "24", "hour value 24 out of range 0-23"),
    ("* * 0 * *", "day-of-month", "0", "day-of-month value 0 out of range 1-31"),
    ("* * 32 * *", "day-of-month", "32", "day-of-month value 32 out of range 1-31"),
    ("* * * 13 *", "month", "13", "month value 13 out of range 1-12"),
    ("* * * 0 *", "month", "0", "month value 0 out of range 1-12"),
    ("* * * * 8", "day-of-week", "8", "day-of-week value 8 out of range 0-7"),
    ("-1 * * * *", "minute", "-1", "minute value -1 out of range 0-59"),
    ("5-1 * * * *", "minute", "5-1", "minute range 5-1 is reversed"),
    ("* 22-2 * * *", "hour", "22-2", "hour range 22-2 is reversed"),
    ("* * * DEC-JAN *", "month", "DEC-JAN", "month range DEC-JAN is reversed"),
    ("* * * * FRI-SUN", "day-of-week", "FRI-SUN", "day-of-week range FRI-SUN is reversed"),
    ("*/0 * * * *", "minute", "0", "minute step 0 in '*/0' must be at least 1"),
    ("* 1-5/0 * * *", "hour", "0", "hour step 0"),
    ("0 0 * * 1/0", "day-of-week", "0", "day-of-week step 0"),
    ("*/x * * * *", "minute", "x", "minute step 'x'"),
    ("L * * * *", "minute", "L", "minute: Quartz extension 'L' is not supported"),
    ("* * L * *", "day-of-month", "L", "day-of-month: Quartz extension 'L' is not supported"),
    ("* * 15W * *", "day-of-month", "15W", "day-of-month: Quartz extension 'W' is not supported"),
    ("* * LW * *", "day-of-month", "LW", "day-of-month: Quartz extension 'L' is not supported"),
    ("* * L-3 * *", "day-of-month", "L", "day-of-month: Quartz extension 'L' is not supported"),
    ("* * * * 5L", "day-of-week", "5L", "day-of-week: Quartz extension 'L' is not supported"),
    ("* * * * 1#2", "day-of-week", "1#2", "day-of-week: Quartz extension '#' is not supported"),
    ("* * ? * *", "day-of-month", "?", "day-of-month: Quartz extension '?' is not supported"),
    ("0 0 * * ?", "day-of-week", "?", "day-of-week: Quartz extension '?' is not supported"),
    ("@DAILY", "expression", "@DAILY", "unknown macro '@DAILY'"),
    ("@Hourly", "expression", "@Hourly", "did you mean '@hourly'?"),
    ("@reboot", "expression", "@reboot", "macro '@reboot' is not supported"),
    ("@every", "expression", "@every", "unknown macro '@every'"),
    ("@every 5m", "expression", "@every", "unknown macro '@every'"),
    ("@daily 0", "expression", "@daily 0", "macro '@daily' takes no fields"),
    ("a * * * *", "minute", "a", "minute value 'a' is not a number"),
    ("* MON * * *", "hour", "MON", "hour value 'MON' is not a number"),
    ("1,,2 * * * *", "minute", "1,,2", "minute has an empty list element in '1,,2'"),
    ("1, * * * *", "minute", "1,", "minute has an empty list element"),
    ("* * * FOO *", "month", "FOO", "month name 'FOO' is not valid"),
    ("* * * * FOO", "day-of-week", "FOO", "day-of-week name 'FOO' is not valid"),
    ("* * * * MONDAY", "day-of-week", "MONDAY", "day-of-week name 'MONDAY' is not valid"),
    ("* * * * JAN", "day-of-week", "JAN", "day-of-week name 'JAN' is not valid"),
    ("*5 * * * *", "minute", "*5", "minute: unexpected '5' after '*'"),
    ("1- * * * *", "minute", "1-", "minute: malformed range '1-'"),
    ("1-2-3 * * * *", "minute", "1-2-3", "minute: malformed range '1-2-3'"),
    ("/5 * * * *", "minute", "/5", "minute: malformed element '/5'"),
    ("1~5 * * * *", "minute", "1~5", "minute: random ranges with '~' are not supported"),
    ("0 0 30 2 *", "day-of-month", "30", "never fires"),
    ("0 0 31 4,6,9,11 *", "day-of-month", "31", "never fires"),
    ("0 0 30-31 2 *", "day-of-month", "30-31", "never fires"),
]


@pytest.mark.parametrize(("expr", "field", "value", "fragment"), INVALID)
def test_invalid_expressions(expr: str, field: str, value: str, fragment: str) -> None:
    with pytest.raises(CronError) as info:
        CronSchedule(expr, "UTC")
    err = info.value
    assert fragment in str(err)
    assert err.cron_field == field
    assert err.value == value
    assert err.expression == expr.strip()
    assert err.details()["cron_field"] == field
    with pytest.raises(CronError):
        validate_cron(expr)


def test_invalid_list_is_long_enough() -> None:
    assert len(INVALID) >= 40


def test_reversed_sunday_range_hints_at_7() -> None:
    with pytest.raises(CronError, match="FRI-7"):
        CronSchedule("0 0 * * FRI-SUN")


# ---------------------------------------------------------------------------------------------
# DST: exact UTC instants
# ---------------------------------------------------------------------------------------------

DST_CASES = [
    # America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT at 07:00Z; 2026-11-01 02:00 EDT ->
    # 01:00 EST at 06:00Z.
    (
        "30 2 * * *",
        "America/New_York",
        "2026-03-07T12:00",
        ["2026-03-08T07:00", "2026-03-09T06:30"],
    ),
    (
        "0,30 2 * * *",  # two matching minutes in the gap: one run at the jump instant
        "America/New_York",
        "2026-03-07T12:00",
        ["2026-03-08T07:00", "2026-03-09T06:00", "2026-03-09T06:30"],
    ),
    (
        "0,30 2,3 * * *",  # 02:00, 02:30 skipped and 03:00 real: all at 07:00Z, once
        "America/New_York",
        "2026-03-07T12:00",
        ["2026-03-08T07:00", "2026-03-08T07:30", "2026-03-09T06:00"],
    ),
    (
        "*/15 * * * *",  # wildcard: 02:00-02:45 are lost, 03:00 EDT is 07:00Z
        "America/New_York",
        "2026-03-08T06:30",
        ["2026-03-08T06:45", "2026-03-08T07:00", "2026-03-08T07:15"],
    ),
    (
        "*/15 2 * * *",  # wildcard (minute starts with *): the whole day's runs are lost
        "America/New_York",
        "2026-03-08T05:00",
        ["2026-03-09T06:00", "2026-03-09T06:15"],
    ),
    (
        "30 1 * * *",
        "America/New_York",
        "2026-11-01T04:00",
        ["2026-11-01T05:30", "2026-11-02T06:30"],
    ),
    (
        "59 1 * * *",
        "America/New_York",
        "2026-11-01T05:00",
        ["2026-11-01T05:59", "2026-11-02T06:59"],
    ),
    (
        "30 * * * *",  # wildcard: 01:30 EDT and 01:30 EST both run
        "America/New_York",
        "2026-11-01T04:00",
        ["2026-11-01T04:30", "2026-11-01T05:30", "2026-11-01T06:30", "2026-11-01T07:30"],
    ),
    (
        "*/15 * * * *",
        "America/New_York",
        "2026-11-01T05:30",
        [
            "2026-11-01T05:45",
            "2026-11-01T06:00",
            "2026-11-01T06:15",
            "2026-11-01T06:30",
            "2026-11-01T06:45",
            "2026-11-01T07:00",
        ],
    ),
    (
        "* 1 * * *",  # wildcard in the overlap: 01:59 EDT is followed by 01:00 EST
        "America/New_York",
        "2026-11-01T05:58",
        ["2026-11-01T05:59", "2026-11-01T06:00", "2026-11-01T06:01"],
    ),
    # Europe/London: 2026-03-29 01:00 GMT -> 02:00 BST at 01:00Z; 2026-10-25 02:00 BST ->
    # 01:00 GMT at 01:00Z.
    ("30 1 * * *", "Europe/London", "2026-03-28T12:00", ["2026-03-29T01:00", "2026-03-30T00:30"]),
    ("*/20 1 * * *", "Europe/London", "2026-03-29T00:00", ["2026-03-30T00:00", "2026-03-30T00:20"]),
    ("30 1 * * *", "Europe/London", "2026-10-24T12:00", ["2026-10-25T00:30", "2026-10-26T01:30"]),
    (
        "*/30 * * * *",
        "Europe/London",
        "2026-10-25T00:00",
        ["2026-10-25T00:30", "2026-10-25T01:00", "2026-10-25T01:30", "2026-10-25T02:00"],
    ),
    # Australia/Lord_Howe (+10:30 / +11:00, a 30-minute shift): 2026-10-04 02:00 -> 02:30 at
    # 2026-10-03T15:30Z; 2026-04-05 02:00 -> 01:30 at 2026-04-04T15:00Z.
    (
        "0 2 * * *",
        "Australia/Lord_Howe",
        "2026-10-02T16:00",
        ["2026-10-03T15:30", "2026-10-04T15:00"],
    ),
    (
        "0,15 2 * * *",
        "Australia/Lord_Howe",
        "2026-10-02T16:00",
        ["2026-10-03T15:30", "2026-10-04T15:00", "2026-10-04T15:15"],
    ),
    (
        "0,30 2 * * *",  # 02:00 skipped and 02:30 real are the same instant: one run
        "Australia/Lord_Howe",
        "2026-10-02T16:00",
        ["2026-10-03T15:30", "2026-10-04T15:00", "2026-10-04T15:30"],
    ),
    (
        "*/15 2 * * *",
        "Australia/Lord_Howe",
        "2026-10-03T15:00",
        ["2026-10-03T15:30", "2026-10-03T15:45", "2026-10-04T15:00"],
    ),
    (
        "45 1 * * *",
        "Australia/Lord_Howe",
        "2026-04-04T12:00",
        ["2026-04-04T14:45", "2026-04-05T15:15"],
    ),
    (
        "*/15 * * * *",
        "Australia/Lord_Howe",
        "2026-04-04T14:20",
        [
            "2026-04-04T14:30",
            "2026-04-04T14:45",
            "2026-04-04T15:00",
            "2026-04-04T15:15",
            "2026-04-04T15:30",
        ],
    ),
    # Pacific/Chatham (+12:45 / +13:45, changes at 02:45 local): 2026-09-27 02:45 -> 03:45 at
    # 2026-09-26T14:00Z; 2026-04-05 03:45 -> 02:45 at 2026-04-04T14:00Z.
    ("0 3 * * *", "Pacific/Chatham", "2026-09-26T01:00", ["2026-09-26T14:00", "2026-09-27T13:15"]),
    ("50 2 * * *", "Pacific/Chatham", "2026-09-26T01:00", ["2026-09-26T14:00", "2026-09-27T13:05"]),
    ("45 3 * * *", "Pacific/Chatham", "2026-09-26T01:00", ["2026-09-26T14:00", "2026-09-27T14:00"]),
    ("0 2 * * *", "Pacific/Chatham", "2026-09-26T01:00", ["2026-09-26T13:15", "2026-09-27T12:15"]),
    ("0 3 * * *", "Pacific/Chatham", "2026-04-04T12:00", ["2026-04-04T13:15", "2026-04-05T14:15"]),
    (
        "0 * * * *",
        "Pacific/Chatham",
        "2026-04-04T12:00",
        ["2026-04-04T12:15", "2026-04-04T13:15", "2026-04-04T14:15", "2026-04-04T15:15"],
    ),
    # America/St_Johns (-3:30 / -2:30): 2026-03-08 02:00 -> 03:00 at 05:30Z; 2026-11-01 02:00
    # -> 01:00 at 04:30Z.
    (
        "30 2 * * *",
        "America/St_Johns",
        "2026-03-07T12:00",
        ["2026-03-08T05:30", "2026-03-09T05:00"],
    ),
    (
        "30 1 * * *",
        "America/St_Johns",
        "2026-10-31T12:00",
        ["2026-11-01T04:00", "2026-11-02T05:00"],
    ),
    (
        "0 * * * *",
        "America/St_Johns",
        "2026-11-01T03:00",
        ["2026-11-01T03:30", "2026-11-01T04:30", "2026-11-01T05:30"],
    ),
    # No DST, odd offsets: Asia/Kathmandu +5:45, Asia/Kolkata +5:30.
    ("0 9 * * *", "Asia/Kathmandu", "2026-01-01T00:00", ["2026-01-01T03:15", "2026-01-02T03:15"]),
    ("0 * * * *", "Asia/Kathmandu", "2026-01-01T00:00", ["2026-01-01T00:15", "2026-01-01T01:15"]),
    ("30 * * * *", "Asia/Kathmandu", "2026-01-01T00:00", ["2026-01-01T00:45", "2026-01-01T01:45"]),
    ("0 9 * * *", "Asia/Kolkata", "2026-01-01T00:00", ["2026-01-01T03:30", "2026-01-02T03:30"]),
    ("0 0 * * *", "Asia/Kolkata", "2026-01-01T00:00", ["2026-01-01T18:30", "2026-01-02T18:30"]),
    (
        "*/45 * * * *",
        "Asia/Kolkata",
        "2026-01-01T00:00",
        ["2026-01-01T00:15", "2026-01-01T00:30", "2026-01-01T01:15"],
    ),
    # Pacific/Apia skipped 2011-12-30 entirely (-10 -> +14 at 2011-12-30T10:00Z): a fixed-time
    # job's lost run happens once at the jump, a wildcard job's are lost.
    (
        "0 12 * * *",
        "Pacific/Apia",
        "2011-12-29T12:00",
        ["2011-12-29T22:00", "2011-12-30T10:00", "2011-12-30T22:00"],
    ),
    (
        "0 */6 * * *",
        "Pacific/Apia",
        "2011-12-30T00:00",
        ["2011-12-30T04:00", "2011-12-30T10:00", "2011-12-30T16:00"],
    ),
]


@pytest.mark.parametrize(("expr", "zone", "start", "expected"), DST_CASES)
def test_dst_exact_instants(expr: str, zone: str, start: str, expected: list[str]) -> None:
    assert runs(expr, zone, iso(start), len(expected)) == [iso(e) for e in expected]


def test_spring_forward_run_reads_as_the_first_local_minute_after_the_gap() -> None:
    ny = ZoneInfo("America/New_York")
    got = CronSchedule("30 2 * * *", "America/New_York").next_after(iso("2026-03-07T12:00"))
    assert got.astimezone(ny).replace(tzinfo=None) == datetime(2026, 3, 8, 3, 0)


# ---------------------------------------------------------------------------------------------
# No drift
# ---------------------------------------------------------------------------------------------


def test_no_drift_fixed_spacing() -> None:
    s = CronSchedule("*/15 * * * *", "America/New_York")
    t = iso("2026-01-01T00:00")
    seen = s.next_n(t, 40_000)  # more than a year, both DST changes included
    assert all(b - a == timedelta(minutes=15) for a, b in pairwise([t, *seen]))


def test_no_drift_daily_across_dst() -> None:
    got = CronSchedule("0 9 * * *", "America/New_York").next_n(iso("2026-01-01T00:00"), 460)
    gaps = [b - a for a, b in pairwise(got)]
    assert all(g > timedelta(0) for g in gaps)
    assert gaps.count(timedelta(hours=23)) == 2  # spring 2026 and spring 2027
    assert gaps.count(timedelta(hours=25)) == 1  # autumn 2026
    assert all(
        g == timedelta(hours=24)
        for g in gaps
        if g not in (timedelta(hours=23), timedelta(hours=25))
    )
    ny = ZoneInfo("America/New_York")
    assert {x.astimezone(ny).strftime("%H:%M") for x in got} == {"09:00"}
    kathmandu = CronSchedule("0 9 * * *", "Asia/Kathmandu").next_n(iso("2026-01-01T00:00"), 500)
    assert {b - a for a, b in pairwise(kathmandu)} == {timedelta(days=1)}


# ---------------------------------------------------------------------------------------------
# Where we differ from croniter on purpose
# ---------------------------------------------------------------------------------------------


def test_differs_fall_back_fixed_time_runs_once() -> None:
    start = iso("2026-11-01T04:00")
    ours = runs("30 1 * * *", "America/New_York", start, 2)
    assert ours == [iso("2026-11-01T05:30"), iso("2026-11-02T06:30")]
    theirs = croniter_runs("30 1 * * *", "America/New_York", start, 2, implement_cron_bug=True)
    if theirs != ours:  # croniter 7.0 runs it again at 01:30 EST
        assert theirs == [iso("2026-11-01T05:30"), iso("2026-11-01T06:30")]


def test_differs_star_prefixed_day_field_is_and() -> None:
    start = utc(2026, 1, 1)
    ours = runs("0 0 */2 * 1", "UTC", start, 2)
    assert ours == [utc(2026, 1, 5), utc(2026, 1, 19)]
    assert croniter_runs("0 0 */2 * 1", "UTC", start, 2) == [utc(2026, 1, 3), utc(2026, 1, 5)]
    assert croniter_runs("0 0 */2 * 1", "UTC", start, 2, implement_cron_bug=True) == ours


def test_differs_wildcard_gap_minutes_are_lost() -> None:
    start = iso("2026-03-08T05:00")
    ours = CronSchedule("*/15 2 * * *", "America/New_York").next_after(start)
    assert ours == iso("2026-03-09T06:00")
    theirs = croniter_runs("*/15 2 * * *", "America/New_York", start, 1, implement_cron_bug=True)
    if theirs[0] != ours:  # croniter 7.0 moves the lost 02:00 to 03:00 EDT
        assert theirs[0] == iso("2026-03-08T07:00")


def test_lord_howe_gap_and_overlap() -> None:
    # The gap (02:00-02:29) does not end on the hour: one run at 02:30 LHDT.
    start = iso("2026-10-02T16:00")
    ours = runs("15 2 * * *", "Australia/Lord_Howe", start, 2)
    assert ours == [iso("2026-10-03T15:30"), iso("2026-10-04T15:15")]
    theirs = croniter_runs("15 2 * * *", "Australia/Lord_Howe", start, 2, implement_cron_bug=True)
    if theirs != ours:  # soft: croniter 7.0 gets this case right; older versions did not
        assert theirs[0] != ours[0]
    # The overlap (01:30-01:59 twice): a fixed-time job runs only in the first pass.
    start = iso("2026-04-04T12:00")
    ours = runs("45 1 * * *", "Australia/Lord_Howe", start, 2)
    assert ours == [iso("2026-04-04T14:45"), iso("2026-04-05T15:15")]
    theirs = croniter_runs("45 1 * * *", "Australia/Lord_Howe", start, 2, implement_cron_bug=True)
    if theirs != ours:
        assert theirs == [iso("2026-04-04T14:45"), iso("2026-04-04T15:15")]


def test_differs_5_5_step_10_is_minute_5_only() -> None:
    start = utc(2026, 1, 1)
    ours = runs("5-5/10 * * * *", "UTC", start, 2)
    assert ours == [utc(2026, 1, 1, 0, 5), utc(2026, 1, 1, 1, 5)]
    theirs = croniter_runs("5-5/10 * * * *", "UTC", start, 2, implement_cron_bug=True)
    if theirs != ours:  # croniter 7.0 reads it as every 10 minutes
        assert theirs == [utc(2026, 1, 1, 0, 10), utc(2026, 1, 1, 0, 20)]


CRONITER_ACCEPTS = [
    "0 0 * * * *",
    "0 0 12 * * ? 2026",
    "0 0 5-1 * *",
    "0 0 L * *",
    "0 0 15W * *",
    "0 0 ? * *",
    "0 0 * * 1#2",
    "@DAILY",
]


@pytest.mark.parametrize("expr", CRONITER_ACCEPTS)
def test_differs_croniter_accepts_what_we_reject(expr: str) -> None:
    with pytest.raises(CronError):
        CronSchedule(expr)
    # croniter 7.0 accepts most of these; soft, so a croniter that rejects them is fine, as long
    # as it rejects them with its own error (anything else is a broken call and fails the test)
    try:
        croniter(expr, utc(2026, 1, 1)).get_next(datetime)
    except CroniterError:
        pass


# ---------------------------------------------------------------------------------------------
# describe()
# ---------------------------------------------------------------------------------------------

DESCRIPTIONS = [
    ("0 9 * * *", "At 09:00 every day"),
    ("0 18 * * 1", "At 18:00 on Monday"),
    ("*/15 * * * *", "Every 15 minutes"),
    ("*/5 * * * *", "Every 5 minutes"),
    ("0 0 1 * *", "At 00:00 on day 1 of the month"),
    ("* * * * *", "Every minute"),
    ("0 * * * *", "At minute 0 past every hour"),
    ("@hourly", "At minute 0 past every hour"),
    ("0 */2 * * *", "At minute 0 past every 2nd hour"),
    ("0 0 * * 0", "At 00:00 on Sunday"),
    ("0 0 * * 7", "At 00:00 on Sunday"),
    ("0 0 */2 * 1", "At 00:00 on odd days that are Mondays"),
    ("0 0 1,15 * 1", "At 00:00 on days 1 and 15 of the month and on Mondays"),
    ("30 8 * * 1-5", "At 08:30 on Monday through Friday"),
    ("0 9-17 * * MON-FRI", "At minute 0 past hours 9 through 17 on Monday through Friday"),
    ("*/15 9-17 * * 1-5", "Every 15 minutes during hours 9 through 17 on Monday through Friday"),
    ("0,30 9 * * *", "At 09:00 and 09:30 every day"),
    ("0 9,17 * * *", "At 09:00 and 17:00 every day"),
    ("0 0 * * 6,0", "At 00:00 on Saturday and Sunday"),
    ("@yearly", "At 00:00 on January 1"),
    ("0 12 29 2 *", "At 12:00 on February 29"),
    ("0 0 1 */3 *", "At 00:00 on day 1 of the month in January, April, July and October"),
    ("0 9 * 6-8 *", "At 09:00 every day in June through August"),
    ("5-5/10 * * * *", "At minute 5 past every hour"),
    ("*/7 * * * *", "Every 7th minute"),
    ("0,15 * * * *", "At minutes 0 and 15 past every hour"),
    ("0 0 1-7 * */7", "At 00:00 on days 1 through 7 of the month that are Sundays"),
    ("0 0 13 * */7", "At 00:00 on day 13 of the month if it is a Sunday"),
]


@pytest.mark.parametrize(("expr", "text"), DESCRIPTIONS)
def test_describe(expr: str, text: str) -> None:
    assert CronSchedule(expr).describe() == text


# ---------------------------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------------------------


@st.composite
def field_text(draw: st.DrawFn, low: int, high: int, names: list[str] | None = None) -> str:
    """One valid field croniter also reads correctly: steps only on '*' and real ranges."""

    def value() -> str:
        v = draw(st.integers(low, high))
        if names is not None and draw(st.booleans()):
            return names[v - low] if v - low < len(names) else str(v)
        return str(v)

    def element() -> str:
        kind = draw(st.sampled_from(["value", "range", "range_step"]))
        if kind == "value":
            return value()
        a = draw(st.integers(low, high - 1))
        b = draw(st.integers(a + 1, high))
        if kind == "range":
            return f"{a}-{b}"
        return f"{a}-{b}/{draw(st.integers(1, b - a))}"

    kind = draw(st.sampled_from(["star", "star", "star_step", "element", "list"]))
    if kind == "star":
        return "*"
    if kind == "star_step":
        return f"*/{draw(st.integers(1, high - low))}"
    if kind == "element":
        return element()
    return ",".join(element() for _ in range(draw(st.integers(2, 4))))


MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@st.composite
def cron_exprs(draw: st.DrawFn) -> str:
    return " ".join(
        [
            draw(field_text(0, 59)),
            draw(field_text(0, 23)),
            draw(field_text(1, 31)),
            draw(field_text(1, 12, MONTHS)),
            draw(field_text(0, 6, DAYS)),
        ]
    )


def _schedule_or_reject(expr: str, zone: str = "UTC") -> CronSchedule:
    try:
        return CronSchedule(expr, zone)
    except CronError as exc:
        assert "never fires" in str(exc)
        assume(False)
        raise


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    expr=cron_exprs(),
    start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2080, 1, 1)),
)
def test_same_as_croniter_in_utc(expr: str, start: datetime) -> None:
    s = _schedule_or_reject(expr)
    start = start.replace(tzinfo=UTC)
    ours = s.next_n(start, 3)
    it = croniter(expr, start, implement_cron_bug=True, max_years_between_matches=100)
    theirs = [it.get_next(datetime) for _ in range(3)]
    assert ours == theirs


ZONES = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/St_Johns",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Adelaide",
    "America/Sao_Paulo",
    "Asia/Tehran",
]


def _is_gap_jump(instant: datetime, tz: ZoneInfo) -> bool:
    before = (instant - MINUTE).astimezone(tz).replace(tzinfo=None)
    return instant.astimezone(tz).replace(tzinfo=None) - before > MINUTE


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    expr=cron_exprs(),
    zone=st.sampled_from(ZONES),
    start=st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2035, 1, 1)),
)
def test_next_after_properties(expr: str, zone: str, start: datetime) -> None:
    s = _schedule_or_reject(expr, zone)
    start = start.replace(tzinfo=UTC)
    got = s.next_after(start)
    assert got > start
    assert got.tzinfo is UTC and got.second == 0 and got.microsecond == 0
    local = got.astimezone(s.tz)
    if s.matches(local.replace(tzinfo=None)):
        if local.fold == 1 and not s.is_wildcard:  # a repeated minute: first pass only
            assert local.replace(fold=0).utcoffset() == local.utcoffset()
    else:
        assert not s.is_wildcard and _is_gap_jump(got, s.tz)
    assert s.next_after(got) > got


# ---------------------------------------------------------------------------------------------
# Brute force: the DST rules applied minute by minute in UTC
# ---------------------------------------------------------------------------------------------


def oracle(s: CronSchedule, start: datetime, end: datetime) -> list[datetime]:
    """Every run in (start, end], straight from the rules, one UTC minute at a time."""
    out: list[datetime] = []
    x = start.replace(second=0, microsecond=0)
    prev = (x - MINUTE).astimezone(s.tz).replace(tzinfo=None)
    while x <= end:
        local = x.astimezone(s.tz)
        wall = local.replace(tzinfo=None)
        fire = s.matches(wall) and (local.fold == 0 or s.is_wildcard)
        if not fire and not s.is_wildcard and wall - prev > MINUTE:  # x ends a gap
            skipped = prev + MINUTE
            while skipped < wall and not fire:
                fire = s.matches(skipped)
                skipped += MINUTE
        if fire and x > start:
            out.append(x)
        prev = wall
        x += MINUTE
    return out


def transitions(zone: str, year: int) -> list[datetime]:
    tz = ZoneInfo(zone)
    found: list[datetime] = []
    t = utc(year, 1, 1)
    prev = t.astimezone(tz).utcoffset()
    while t.year == year:
        off = t.astimezone(tz).utcoffset()
        if off != prev:
            found.append(t)
        prev = off
        t += timedelta(hours=6)
    return found


ORACLE_EXPRS = [
    "30 2 * * *",
    "0,30 2,3 * * *",
    "*/15 * * * *",
    "30 * * * *",
    "* 2 * * *",
    "45 1 * * *",
    "0-59 1-3 * * *",
    "*/7 */3 * * *",
    "15 1 * * 0",
    "0,15,30,45 0-4 * * *",
    "50 2,3 * * *",
    "59 23 * * *",
]
ORACLE_CASES = [
    (zone, t)
    for zone in [
        "America/New_York",
        "Europe/London",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "America/St_Johns",
    ]
    for t in transitions(zone, 2026)
] + [("Pacific/Apia", utc(2011, 12, 30, 10))]


@pytest.mark.parametrize(("zone", "transition"), ORACLE_CASES)
def test_brute_force_around_transitions(zone: str, transition: datetime) -> None:
    start = transition - timedelta(hours=20, minutes=13)
    end = transition + timedelta(hours=10)
    for expr in ORACLE_EXPRS:
        s = CronSchedule(expr, zone)
        got: list[datetime] = []
        t = start
        while (t := s.next_after(t)) <= end:
            got.append(t)
        assert got == oracle(s, start, end), expr


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    minutes=st.sets(st.integers(0, 59), min_size=1, max_size=4),
    hours=st.sets(st.integers(0, 5), min_size=1, max_size=3),
    wildcard=st.booleans(),
    case=st.sampled_from(ORACLE_CASES),
    back=st.integers(1, 600),
)
def test_brute_force_random(
    minutes: set[int], hours: set[int], wildcard: bool, case: tuple[str, datetime], back: int
) -> None:
    zone, transition = case
    hour_field = "*" if wildcard else ",".join(map(str, sorted(hours)))
    s = CronSchedule(f"{','.join(map(str, sorted(minutes)))} {hour_field} * * *", zone)
    start = transition - timedelta(minutes=back)
    end = transition + timedelta(hours=6)
    got: list[datetime] = []
    t = start
    while (t := s.next_after(t)) <= end:
        got.append(t)
    assert got == oracle(s, start, end)
