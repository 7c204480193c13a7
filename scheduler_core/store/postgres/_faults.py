"""PostgreSQL's errors as store faults, and the check made before a scheduler starts on a store.

A server out of reach or shutting down, a full disk, a read-only server (a hot standby), a lock
wait past ``lock_timeout`` or a corrupt page reach the store as asyncpg's exceptions or
``OSError``; :func:`store_fault` names their cause
(:class:`~scheduler_core.errors.StoreUnavailable`). Other errors (a constraint, a bug in SQL) are
left as they are.
"""

from __future__ import annotations

__all__ = ["PREFLIGHT_LOCK_TIMEOUT", "preflight", "store_fault", "translated"]

import contextlib
from collections.abc import Callable, Iterator

import asyncpg

from ...errors import StoreUnavailable

#: how long the check before a start waits for a lock another session holds (seconds)
PREFLIGHT_LOCK_TIMEOUT = 10

#: the classes of asyncpg's exceptions that are faults of the store, by cause (the first match)
_CAUSES: tuple[tuple[type[BaseException], str], ...] = (
    (asyncpg.PostgresConnectionError, "unreachable"),
    (asyncpg.DiskFullError, "disk_full"),
    (asyncpg.OutOfMemoryError, "out_of_memory"),
    (asyncpg.InsufficientResourcesError, "unreachable"),  # too many connections, ...
    (asyncpg.ReadOnlySQLTransactionError, "read_only"),
    (asyncpg.LockNotAvailableError, "locked"),
    (asyncpg.QueryCanceledError, "locked"),  # a statement or lock timeout
    (asyncpg.OperatorInterventionError, "unreachable"),  # shutting down, starting up
    (asyncpg.DataCorruptedError, "corrupt"),
    (asyncpg.IndexCorruptedError, "corrupt"),
    (asyncpg.PostgresSystemError, "io_error"),
    (OSError, "unreachable"),  # refused, reset, no route (TimeoutError is one)
)


def store_fault(exc: BaseException, url: str) -> StoreUnavailable | None:
    """The fault ``exc`` stands for (None: not a fault of the database server or its disk)."""
    cause = next((c for kind, c in _CAUSES if isinstance(exc, kind)), None)
    if cause is None and isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
        cause = "unreachable"  # a connection the server dropped
    if cause is None:
        return None
    return StoreUnavailable(cause, store=url, reason=str(exc) or type(exc).__name__)


@contextlib.contextmanager
def translated(url: str, count: Callable[[StoreUnavailable], StoreUnavailable]) -> Iterator[None]:
    """Raise the faults met inside as :class:`StoreUnavailable` (``count``-ed first)."""
    try:
        yield
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        fault = store_fault(exc, url)
        if fault is None:
            raise
        raise count(fault) from exc


async def preflight(conn: asyncpg.Connection) -> None:
    """A write that proves the store can be written (a hot standby refuses it; a lock held past
    :data:`PREFLIGHT_LOCK_TIMEOUT` fails it), rolled back."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute(f"SET LOCAL lock_timeout = '{PREFLIGHT_LOCK_TIMEOUT}s'")
        await conn.execute("UPDATE store_version SET version = version WHERE writer = ''")
    finally:
        await transaction.rollback()
