"""Change notification between the processes that share a SQLite store file.

The scheduler holding the lease listens on a datagram socket named after the store; every other
store object (the CLI, a console attached to the same file) sends one byte after each commit, so
the scheduler sees outside writes at once without polling every second. The data_version probe
stays as the backstop for writers that do not poke (a ``sqlite3`` shell).
"""

from __future__ import annotations

__all__ = ["WakeSocket"]

import asyncio
import contextlib
import hashlib
import os
import socket
import tempfile
from collections.abc import Callable


class WakeSocket:
    """The wake-up socket of the store at ``path`` (none for ``:memory:``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._listener: socket.socket | None = None
        self._sender: socket.socket | None = None
        #: the address the last poke was sent to (see ``poke``)
        self._poked: tuple[str, str | None] | None = None

    @property
    def address(self) -> str | None:
        if self.path == ":memory:":
            return None
        real = os.path.realpath(os.path.expanduser(self.path))
        digest = hashlib.sha1(real.encode()).hexdigest()[:20]
        return os.path.join(tempfile.gettempdir(), f"symbi-{os.getuid()}-{digest}.wake")

    def _poke_address(self) -> str | None:
        """``address``, worked out once per store path (a commit each: three ``lstat`` calls
        and a hash were a sixth of a one-job insert's CPU)."""
        known = self._poked
        if known is None or known[0] != self.path:
            known = self._poked = (self.path, self.address)
        return known[1]

    def watch(self, callback: Callable[[], None]) -> bool:
        """Call ``callback`` on the event loop whenever another process commits and pokes."""
        address = self.address
        if address is None or not hasattr(socket, "AF_UNIX"):
            return False
        self.unwatch()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(address)
        try:
            sock.bind(address)
        except OSError:
            sock.close()
            return False
        sock.setblocking(False)

        def readable() -> None:
            with contextlib.suppress(BlockingIOError, OSError):
                while sock.recv(64):
                    pass
            callback()

        asyncio.get_running_loop().add_reader(sock.fileno(), readable)
        self._listener = sock
        return True

    def unwatch(self) -> None:
        sock, self._listener = self._listener, None
        if sock is None:
            return
        with contextlib.suppress(Exception):
            asyncio.get_running_loop().remove_reader(sock.fileno())
        with contextlib.suppress(OSError):
            if sock.getsockname():
                os.unlink(sock.getsockname())
        sock.close()

    def poke(self) -> None:
        """Tell the listening scheduler that this process committed."""
        if self._listener is not None:  # the scheduler's own writes need no poke
            return
        address = self._poke_address()
        if address is None or not hasattr(socket, "AF_UNIX"):
            return
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
        with contextlib.suppress(OSError):  # nobody listening, or its queue is full: fine
            self._sender.sendto(b"!", address)

    def close(self) -> None:
        """Stop listening and drop the sending socket."""
        self.unwatch()
        if self._sender is not None:
            self._sender.close()
            self._sender = None
