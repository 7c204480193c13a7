"""describe(): a short English reading of a cron expression's fields."""

from __future__ import annotations

from itertools import pairwise

from .fields import CronFields

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


def describe_fields(f: CronFields) -> str:
    """A short English reading of ``f``, e.g. "At 09:00 every day"."""
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
