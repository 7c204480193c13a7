"""Change notification between the nodes that share a PostgreSQL store.

A write another node must act on at once sends ``NOTIFY symbi_store`` in its transaction, with
its store object's id as payload; the scheduler's own writes are announced after their commit,
the id followed by ``:soon`` (``_version.py``). A watching store LISTENs on its own connection
(not the pool's) and calls back for the others': at once for the first kind, and for
announcements at most once per :data:`ANNOUNCE_WINDOW` whatever the number of nodes sending them
(one that comes sooner is answered at the end of the window).
"""

from __future__ import annotations

__all__ = ["ChangeListener"]

import asyncio
import logging
from collections.abc import Callable

import asyncpg

from ._sql import NOTIFY_CHANNEL
from ._version import ANNOUNCE_WINDOW, SOON

log = logging.getLogger("scheduler_core.store.postgres")  # the name it has always logged under


class ChangeListener:
    """Listens at ``dsn`` for the changes of store objects other than ``instance``."""

    def __init__(self, dsn: str, instance: str, window: float = ANNOUNCE_WINDOW) -> None:
        self._dsn = dsn
        self._instance = instance  #: our own NOTIFY payload: our own writes need no wake-up
        self._own = (instance, instance + SOON)
        self._window = window
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._listening: asyncio.Event | None = None

    def start(self, callback: Callable[[], None]) -> None:
        """Listen in the background, calling ``callback`` on the event loop for each change.

        Once listening has started, the callback is called once, for writes that may have landed
        meanwhile. A lost connection is re-established with backoff, again followed by one call.
        """
        self.stop()
        self._listening = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(
            self._listen(callback, self._listening), name="symbi-store-listen"
        )

    async def wait(self) -> bool:
        """Wait until listening has started (False if not started); bound it with a timeout."""
        if self._listening is None:
            return False
        await self._listening.wait()
        return True

    def stop(self) -> None:
        task, self._task = self._task, None
        conn, self._conn = self._conn, None
        self._listening = None
        if task is not None:
            task.cancel()
        if conn is not None and not conn.is_closed():
            conn.terminate()

    async def _listen(self, callback: Callable[[], None], ready: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        woken = [float("-inf")]  #: when announcements last woke us (loop time)
        pending: list[asyncio.TimerHandle | None] = [None]

        def wake_for_announcements() -> None:
            pending[0] = None
            woken[0] = loop.time()
            callback()

        def on_notify(conn: object, pid: int, channel: str, payload: str) -> None:
            if payload in self._own:
                return
            if not payload.endswith(SOON):
                callback()
                return
            if pending[0] is not None:
                return  # a wake-up is due at the end of the window: it covers this one
            due = woken[0] + self._window
            if loop.time() >= due:
                wake_for_announcements()
            else:
                pending[0] = loop.call_at(due, wake_for_announcements)

        delay = 0.5
        conn: asyncpg.Connection | None = None
        try:
            while True:
                try:
                    conn = await asyncpg.connect(self._dsn)
                    lost = asyncio.Event()
                    conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                    await conn.add_listener(NOTIFY_CHANNEL, on_notify)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    if conn is not None:
                        conn.terminate()
                        conn = None
                    # once per outage: the scheduler's own line says the store is unavailable
                    log.log(
                        logging.WARNING if delay == 0.5 else logging.DEBUG,
                        "cannot listen for store changes (%s); retrying in %.1fs",
                        exc,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                self._conn = conn
                delay = 0.5
                ready.set()
                callback()  # whatever was written before LISTEN took effect
                await lost.wait()
                self._conn = conn = None
                log.warning("lost the store's change notifications; reconnecting")
        finally:
            if pending[0] is not None:  # stopped: no call after that
                pending[0].cancel()
            if conn is not None and not conn.is_closed():
                conn.terminate()
