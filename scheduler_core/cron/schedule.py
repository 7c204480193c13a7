"""CronSchedule: an expression bound to a time zone; the next run with cronie's DST rules."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from ..errors import CronError, ValidationError
from .compiled import NeverFires, compile_cron
from .describe import describe_fields
from .fields import CronFields
from .zones import MINUTE, fixed_offset, gap_end, load_zone


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
        compiled = compile_cron(text)
        if isinstance(tz, str):
            zone = load_zone(tz)
        elif isinstance(tz, ZoneInfo):
            zone = tz
        elif tz is UTC:
            zone = load_zone("UTC")
        else:
            raise ValidationError(f"expected an IANA time zone name, got {tz!r}", field="timezone")
        self._c = compiled
        self.fields = compiled.fields
        self.expr = text
        self.tz = zone
        self.timezone = zone.key if zone.key is not None else str(zone)
        self.is_wildcard = compiled.fields.is_wildcard
        self._fixed = fixed_offset(zone)

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
        except (NeverFires, OverflowError):
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
                start += MINUTE
        else:
            start += MINUTE
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
                jump, resume = gap_end(tz, local - o1, local - o0)
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
        return describe_fields(self.fields)
