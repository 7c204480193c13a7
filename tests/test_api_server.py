"""The API server's transport (``server._Coalesced``): a response's head is held until its
body's first write and both go out in one write, in order; a head whose body does not follow
in the same turn of the event loop (a stream) is sent at the turn's end; closing sends what is
held first; nothing is written to a closing transport. The routes over the real server are
tests/test_api.py's."""

from __future__ import annotations

import asyncio
from typing import Any

from scheduler_core.api.server import _Coalesced


class Recording:
    """A transport that records its writes."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False
        self.events: list[str] = []

    def write(self, data: bytes) -> None:
        assert not self.closing
        self.writes.append(bytes(data))
        self.events.append("write")

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


async def test_a_head_goes_out_with_the_body_that_follows_it() -> None:
    inner = Recording()
    transport = _Coalesced(inner)  # type: ignore[arg-type]
    head = bytearray(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(head)
    head[:4] = b"XXXX"  # the caller's buffer may change: what was written was copied
    assert inner.writes == [] and transport.get_write_buffer_size() == len(head)
    transport.write(b"[1,2]")
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\n[1,2]"]
    transport.write(b"")  # h11's end of a Content-Length body
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\n[1,2]"]
    # the next response on the keep-alive connection, alike
    transport.write(b"HEAD2")
    transport.write(b"BODY2")
    transport.write(b"MORE")  # a second chunk of a body: held, then sent at the turn's end
    assert inner.writes[1:] == [b"HEAD2BODY2"]
    await asyncio.sleep(0)
    assert inner.writes[1:] == [b"HEAD2BODY2", b"MORE"]
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1)  # the transport's


async def test_a_head_alone_is_sent_at_the_end_of_the_turn() -> None:
    inner = Recording()
    transport = _Coalesced(inner)  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n")
    assert inner.writes == []
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n"]
    transport.write(b": keep-alive\n\n")
    await asyncio.sleep(0)
    assert len(inner.writes) == 2 and inner.writes[1] == b": keep-alive\n\n"


async def test_closing_sends_what_is_held_first_and_a_closing_transport_gets_nothing() -> None:
    inner = Recording()
    transport = _Coalesced(inner)  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    transport.close()
    assert inner.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"]
    assert inner.events == ["write", "close"]
    await asyncio.sleep(0)  # the turn's flush finds nothing held
    assert inner.events == ["write", "close"]

    lost = Recording()
    transport = _Coalesced(lost)  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    lost.closing = True  # the peer went away meanwhile
    await asyncio.sleep(0)
    assert lost.writes == []
