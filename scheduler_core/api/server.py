"""Serving the API with uvicorn inside the caller's event loop.

The host (the daemon, a test) owns the loop and the signals: uvicorn's own signal handlers are
disabled, and :meth:`ApiServer.stop` ends it (event streams first, so it never waits on them).
The socket is bound before the scheduler starts, so the lease can carry the real address even
when the port was 0.

uvicorn's own main loop wakes ten times a second (to refresh the ``Date`` header and look for
``should_exit``): 600 wake-ups a minute, over 90 % of an idle daemon's CPU. Here the loop waits
for the exit itself, and the header is made when a response asks for it (once a second at most).

uvicorn's h11 protocol writes a response's head and its body to the socket apart: two ``send``
calls and two TCP segments a response (TCP_NODELAY is on), which the client reads in two
wake-ups. Here the head is held until the body's first write and sent with it
(:class:`_Coalesced`): the same bytes in the same order, one ``send`` for a whole response.
"""

from __future__ import annotations

__all__ = ["ApiServer", "bind_socket"]

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port).

    Made from getaddrinfo's answer, as asyncio's own servers are: its ``proto`` must say TCP for
    asyncio to set TCP_NODELAY on accepted connections (without it, a keep-alive response split
    in two segments waits for the client's delayed ACK, 40 ms a request).
    """
    name = host.strip("[]")
    infos = socket.getaddrinfo(
        name, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(2048)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _DatedState(ServerState):
    """uvicorn's shared state, whose ``default_headers`` (read for every response) carry a
    ``Date`` made when read, at most once a second, instead of by a timer."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._config = config
        self._second = -1
        self._headers: list[tuple[bytes, bytes]] = []
        super().__init__()

    @property
    def default_headers(self) -> list[tuple[bytes, bytes]]:
        now = int(time.time())
        if now != self._second:
            extra: list[tuple[bytes, bytes]] = getattr(self._config, "encoded_headers", [])
            date = [(b"date", formatdate(now, usegmt=True).encode())]
            self._headers = (date if self._config.date_header else []) + extra
            self._second = now
        return self._headers

    @default_headers.setter
    def default_headers(self, value: list[tuple[bytes, bytes]]) -> None:
        self._second = -1  # (uvicorn only sets it empty, at start)


class _Coalesced:
    """A transport that holds a write until the next one, which goes out with it in one
    ``send``, or until the end of the event loop's turn (a streamed response's head, sent
    before its body is ready); closing it sends what it holds first. Everything else is the
    transport's."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
        else:
            self._held = None
            self._transport.write(held + data)

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        held = self._held
        return self._transport.get_write_buffer_size() + (len(held) if held else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _H11(H11Protocol):
    """uvicorn's h11 protocol writing through :class:`_Coalesced`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # flow control on the transport itself
        self.transport = _Coalesced(transport)  # type: ignore[assignment]


class _Server(uvicorn.Server):
    """uvicorn without its ten wake-ups a second: :meth:`main_loop` waits for ``should_exit``."""

    def __init__(self, config: uvicorn.Config) -> None:
        self._exit = asyncio.Event()
        self._should_exit = False
        super().__init__(config)
        self.server_state = _DatedState(config)

    @property
    def should_exit(self) -> bool:
        return self._should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._should_exit = value
        if value:
            self._exit.set()

    async def main_loop(self) -> None:
        await self._exit.wait()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the host handles SIGTERM/SIGINT/SIGHUP


class ApiServer:
    """uvicorn serving ``app`` on ``sock`` (or a new socket on ``host:port``) as a task."""

    def __init__(
        self,
        app: FastAPI,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        sock: socket.socket | None = None,
        shutdown_timeout: float = 3.0,
    ) -> None:
        self.app = app
        self.sock = sock or bind_socket(host, port)
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            # typed int, but uvicorn only passes it to asyncio.wait_for, which takes any number
            timeout_graceful_shutdown=shutdown_timeout,  # type: ignore[arg-type]
            timeout_keep_alive=5,
            http=_H11,
        )
        self.server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def host(self) -> str:
        return str(self.sock.getsockname()[0])

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        self._task = asyncio.create_task(
            self.server.serve(sockets=[self.sock]), name="symbi-api-server"
        )
        while not self.server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError("the API server stopped while starting")
            await asyncio.sleep(0.005)

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    async def stop(self) -> None:
        stopping = getattr(self.app.state, "stopping", None)
        if isinstance(stopping, asyncio.Event):
            stopping.set()
        if self._task is None:
            self.sock.close()
            return
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def __aenter__(self) -> ApiServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
