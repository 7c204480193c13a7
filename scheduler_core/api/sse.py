"""The server-sent event stream: the event bus as ``text/event-stream`` text, with keep-alives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from .. import wire
from ..events import EventBus
from ..wire import EVENT_KINDS

#: one server-sent event, as OpenAPI 3.1 describes an event stream's items
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": list(EVENT_KINDS)},
        "data": {"type": "string", "description": "the event as JSON"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}

_KIND = "(" + "|".join(EVENT_KINDS) + ")"
KINDS_PATTERN = rf"^ *{_KIND} *(, *{_KIND} *)*$"


async def event_stream(
    bus: EventBus, kinds: frozenset[str], heartbeat: float, stopping: asyncio.Event
) -> AsyncIterator[str]:
    """The bus's events of ``kinds`` as SSE text, a keep-alive comment after ``heartbeat``
    idle seconds, until ``stopping`` is set."""
    subscription = bus.subscribe(maxsize=2000)
    stop: asyncio.Future[Any] = asyncio.ensure_future(stopping.wait())
    pending: asyncio.Future[Any] | None = None
    seq = 0
    try:
        yield "retry: 2000\n: connected\n\n"
        while not stopping.is_set():
            if pending is None:
                pending = asyncio.ensure_future(subscription.get())
            done, _ = await asyncio.wait(
                {pending, stop}, timeout=heartbeat, return_when=asyncio.FIRST_COMPLETED
            )
            if pending not in done:
                if stop in done:
                    break
                yield ": keep-alive\n\n"
                continue
            event, pending = pending.result(), None
            encoded = wire.event_to_wire(event)
            if encoded is None or encoded[0] not in kinds:
                continue
            seq += 1
            data = json.dumps(encoded[1], separators=(",", ":"), default=str)
            yield f"id: {seq}\nevent: {encoded[0]}\ndata: {data}\n\n"
    finally:
        for future in (pending, stop):
            if future is not None and not future.done():
                future.cancel()
        subscription.close()
