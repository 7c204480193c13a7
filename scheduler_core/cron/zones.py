"""Time zones for schedules: IANA names, fixed offsets and where a spring-forward gap ends."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ValidationError

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
MINUTE = timedelta(minutes=1)


@lru_cache(maxsize=1024)
def load_zone(key: str) -> ZoneInfo:
    """The IANA zone ``key`` (cached); raises :class:`ValidationError` naming it."""
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(
            f"unknown time zone {key!r} (use an IANA name such as 'Europe/London')",
            field="timezone",
        ) from None


def fixed_offset(tz: ZoneInfo) -> timedelta | None:
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
def gap_end(tz: ZoneInfo, lo: datetime, hi: datetime) -> tuple[datetime, datetime]:
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
        instant = instant.replace(second=0, microsecond=0) + MINUTE
    local = instant.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)
    return instant, local
