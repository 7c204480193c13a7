"""Time, injected.

The engine never calls ``datetime.now()`` or ``asyncio.sleep()`` for scheduling decisions: it asks a
:class:`Clock`. Production uses :class:`SystemClock`; tests and snapshots use :class:`FakeClock`,
which only moves when told to, so no test ever waits on wall time for a schedule.
"""

from __future__ import annotations

__all__ = ["UTC", "Clock", "FakeClock", "SystemClock", "format_instant", "parse_instant"]

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic scale, for measuring durations."""
        ...

    async def sleep_until(self, deadline: datetime, wake: asyncio.Event | None = None) -> None:
        """Return at ``deadline`` or as soon as ``wake`` is set, whichever comes first."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep_until(self, deadline: datetime, wake: asyncio.Event | None = None) -> None:
        delay = (deadline - datetime.now(UTC)).total_seconds()
        if delay <= 0:
            return
        if wake is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), delay)


class FakeClock:
    """A clock that moves only when :meth:`advance` or :meth:`set` is called."""

    def __init__(self, start: datetime | str = "2026-01-01T00:00:00Z") -> None:
        self._now = parse_instant(start) if isinstance(start, str) else start.astimezone(UTC)
        self._mono = 1000.0
        self._waiters: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def set(self, instant: datetime | str) -> None:
        """Jump to ``instant`` (backwards too: a wall-clock jump)."""
        new = parse_instant(instant) if isinstance(instant, str) else instant.astimezone(UTC)
        if new > self._now:
            self._mono += (new - self._now).total_seconds()
        self._now = new
        self._release()

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move forward by ``seconds`` (or a ``timedelta``'s keyword arguments)."""
        step = timedelta(seconds=seconds, **delta)
        self._now += step
        self._mono += step.total_seconds()
        self._release()
        return self._now

    def sleepers(self) -> list[datetime]:
        """The instants tasks sleep until now, earliest first (a test waits for a scheduler to
        be asleep again before it moves the clock on)."""
        return sorted(d for d, fut in self._waiters if not fut.done())

    def tick_ms(self, ms: float) -> None:
        """Advance the monotonic scale only, to give runs a measurable duration."""
        self._mono += ms / 1000.0

    def _release(self) -> None:
        keep = []
        for deadline, fut in self._waiters:
            if deadline <= self._now:
                if not fut.done():
                    fut.set_result(None)
            elif not fut.done():
                keep.append((deadline, fut))
        self._waiters = keep

    async def sleep_until(self, deadline: datetime, wake: asyncio.Event | None = None) -> None:
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((deadline, fut))
        if wake is None:
            await fut
            return
        waiter: asyncio.Future[Any] = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({fut, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            if not fut.done():
                fut.cancel()


@lru_cache(maxsize=8192)
def format_instant(instant: datetime) -> str:
    """UTC, fixed width, microseconds: sorts as text in the store (cached: instants repeat)."""
    d = instant.astimezone(UTC)
    return (
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
        f".{d.microsecond:06d}Z"
    )


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant; a naive value is taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
