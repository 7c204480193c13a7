"""The in-process event bus: what changed, for live front ends (console panes, SSE stream).

Publishing never blocks the scheduler: each subscriber has a bounded queue, and a subscriber that
falls behind loses its oldest events and is told so (``Dropped``), so it can refresh from the store.
"""

from __future__ import annotations

__all__ = [
    "AuditRecorded",
    "Dropped",
    "Event",
    "EventBus",
    "IterationRecorded",
    "JobChanged",
    "RunChanged",
    "SchedulerState",
    "Subscription",
]

import asyncio
import contextlib
from collections.abc import AsyncIterator

from .model import AuditEvent, HeartbeatIteration, JobRun
from .records import record


@record
class JobChanged:
    job_id: str
    change: str  #: created | updated | deleted | paused | resumed | reset | cancelled | state


@record
class RunChanged:
    run: JobRun


@record
class IterationRecorded:
    iteration: HeartbeatIteration


@record
class AuditRecorded:
    event: AuditEvent


@record
class SchedulerState:
    state: str  #: leader | standby | stopped
    detail: str = ""


@record
class Dropped:
    """Events were missed: ``count`` of them (0: unknown, e.g. another process wrote to the
    store); whoever receives it reloads what it shows."""

    count: int


Event = JobChanged | RunChanged | IterationRecorded | AuditRecorded | SchedulerState | Dropped


class Subscription:
    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self._dropped = 0

    def _put(self, event: Event) -> None:
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self._dropped += 1
        self._queue.put_nowait(event)

    async def get(self) -> Event:
        if self._dropped:
            count, self._dropped = self._dropped, 0
            return Dropped(count)
        return await self._queue.get()

    def get_nowait(self) -> Event | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def close(self) -> None:
        self._bus._subscribers.discard(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self.get()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        sub = Subscription(self, maxsize)
        self._subscribers.add(sub)
        return sub

    def publish(self, event: Event) -> None:
        for sub in self._subscribers:
            sub._put(event)

    @property
    def has_subscribers(self) -> bool:
        return bool(self._subscribers)
