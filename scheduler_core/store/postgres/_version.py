"""How the nodes of a PostgreSQL store learn of each other's writes, without serialising them.

What a node must learn, and how fast:

- **at once**, what changes what its scheduler would do now: a job added, changed, paused or
  removed, a run asked for by hand or backfilled, a cancel request for a run it holds, an
  approval, the lease changing hands. These writes (every transaction of the store but those
  below) send ``NOTIFY symbi_store`` in the transaction itself: delivered at commit, never lost
  while the listener's connection lives (a reconnection calls back once, for what it missed);
- **soon** (within :data:`ANNOUNCE_WINDOW` seconds), what the scheduler's own transactions write:
  claims, starts and finishes of runs, heartbeat iterations, agent contexts. Another node acts on
  none of it by itself (it claims with ``SKIP LOCKED`` and fences every claim on its node row: a
  job another node just advanced is found not due, a run it just finished is not its to finish),
  but its views show it (a console attached to it, the run that freed a job's
  ``max_concurrent`` slot, the retry a failure queued, the follower a success queued: any node
  with room starts those). These commit without a NOTIFY and are *announced* after their commit,
  at most once per window per store object (:class:`Announcer`); a listening node is woken by
  the announcements of all the others together at most once per window too (their payload ends
  with :data:`SOON`; ``_listen.py``), so that each node's wake-ups stay at ten a second however
  many nodes share the store (every wake-up costs a scheduler cycle: a dozen statements).

Why: PostgreSQL serialises the commits of every transaction that notifies, cluster-wide (a
global lock on the notification queue, held from the pre-commit until the commit has been
flushed), and the single ``store_version`` row that every write used to bump did the same (its
row lock was held until the commit's flush). With two nodes, each commit waited for the other's
disk flush, so the nodes' commits could never share one flush. An announcement is a
transaction of its own with ``synchronous_commit = off``: it holds the queue's lock for
microseconds, and a handful per second at most.

The store version (``data_version()``, what a scheduler compares between its cycles, and the
fallback when a notification is lost) is the sum of per-writer counters: every write transaction
bumps its own store object's row in ``store_version`` (keyed by the store object's id; one write
transaction at a time per store object, so no two transactions ever wait on one row) as its last
statement. Each row only grows, so the sum changes with every committed write and never
otherwise; a row is visible exactly when its transaction's writes are. Rows of store objects
that closed (folded at ``close``) or stopped writing an hour ago (folded at a node's renewal) are
added to the base row (writer ``''``) and removed in one transaction, which leaves the sum as it
was: the table holds a row per live writer.
"""

from __future__ import annotations

__all__ = [
    "ANNOUNCE_WINDOW",
    "BUMP",
    "BUMP_AND_NOTIFY",
    "FOLD_STALE",
    "FOLD_STALE_RUN_STATS",
    "FOLD_WRITER",
    "READ_VERSION",
    "SOON",
    "Announcer",
]

import asyncio
import logging
from collections.abc import Callable

import asyncpg

from ._sql import NOTIFY_CHANNEL

log = logging.getLogger("scheduler_core.store.postgres")

#: how long a quiet write may wait before the other nodes hear of it (seconds); also the least
#: time between two announcements of one store object, and between two wake-ups of a listener
#: by announcements
ANNOUNCE_WINDOW = 0.1
#: the end of an announcement's payload (the store object's id before it)
SOON = ":soon"

_UPSERT = (
    "INSERT INTO store_version (writer, version, bumped_at) VALUES ($1, 1, now()) "
    "ON CONFLICT (writer) DO UPDATE SET version = store_version.version + 1, bumped_at = now() "
    "RETURNING version"
)
#: the last statement of a write transaction the others need not hear of at once ($1: writer)
BUMP = f"WITH v AS ({_UPSERT}) SELECT 1 FROM v"
#: the last statement of a write the others must hear of at once ($1: writer, the payload)
BUMP_AND_NOTIFY = f"WITH v AS ({_UPSERT}) SELECT pg_notify('{NOTIFY_CHANNEL}', $1) FROM v"
#: the store version: the sum of every writer's counter
READ_VERSION = "SELECT sum(version)::bigint FROM store_version"

_FOLD = (
    "WITH gone AS (DELETE FROM store_version WHERE writer <> '' AND {where} RETURNING version) "
    "UPDATE store_version SET version = store_version.version + g.total "
    "FROM (SELECT sum(version) AS total FROM gone) g WHERE writer = '' AND g.total IS NOT NULL"
)
#: a closing store object's row into the base row ($1: writer)
FOLD_WRITER = _FOLD.format(where="writer = $1")
#: the rows of writers that have not written for an hour (gone, or idle: a row is made again
#: by the next write) into the base row; the same for the run counters (``run_stats``, summed
#: like the version: schema migration 8)
FOLD_STALE = _FOLD.format(where="bumped_at < now() - interval '1 hour'")
_COUNTERS = ("runs_total", "runs_succeeded", "runs_failed", "execution_ms_total", "executions")
FOLD_STALE_RUN_STATS = (
    "WITH gone AS (DELETE FROM run_stats_rows WHERE writer <> 0 "
    "AND bumped_at < now() - interval '1 hour' RETURNING *) "
    "UPDATE run_stats_rows SET "
    + ", ".join(f"{c} = run_stats_rows.{c} + g.{c}" for c in _COUNTERS)
    + " FROM (SELECT count(*) AS n, "
    + ", ".join(f"sum({c}) AS {c}" for c in _COUNTERS)
    + " FROM gone) g WHERE writer = 0 AND g.n > 0"
)


class Announcer:
    """Sends ``NOTIFY symbi_store`` for the quiet writes of one store object, after they
    committed: at once for the first, then at most once per ``window`` (whatever committed
    meanwhile is covered by the next one).

    The notification is a transaction of its own with ``synchronous_commit = off``: it waits
    for no disk flush while it holds the notification queue's lock. If it is lost (the
    process dies first, the server is unreachable), the store version still changed: the
    others see it at their next cycle, as with any missed notification.
    """

    def __init__(
        self, instance: str, pool: Callable[[], asyncpg.Pool | None], window: float
    ) -> None:
        if not instance.isalnum():
            raise ValueError("an announcer's payload must be alphanumeric")
        self._sql = (
            "BEGIN; SET LOCAL synchronous_commit = off; "
            f"SELECT pg_notify('{NOTIFY_CHANNEL}', '{instance}{SOON}'); COMMIT"
        )
        self._pool = pool
        self._window = window
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def soon(self) -> None:
        """A quiet write committed: announce it (now, or at the end of the current window)."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._again = False
        self._task = asyncio.get_running_loop().create_task(
            self._announce(), name="symbi-store-announce"
        )

    async def flush(self) -> None:
        """Wait for the announcements under way (tests; closing)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()

    async def _announce(self) -> None:
        while True:
            pool = self._pool()
            if pool is None:
                return
            try:
                async with pool.acquire() as conn:
                    await conn.execute(self._sql)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # the others see the change by the store version at their next cycle
                log.debug("could not announce a write to the other nodes: %s", exc)
            await asyncio.sleep(self._window)
            if not self._again:
                return
            self._again = False
