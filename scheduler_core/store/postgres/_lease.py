"""The store lease and the node rows on PostgreSQL.

Every node announces itself in ``nodes``, renewing its row like a lease: its claims are fenced by
that row (``holds_lease``), and the runs it holds (``runs.owner``) are recovered by the others once
the row expires. The ``lease`` row names the one scheduler of a store whose nodes do not share the
work (``acquire_lease``).
"""

from __future__ import annotations

__all__ = ["acquire_lease", "holds_lease", "orphaned_runs", "write_node"]

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from ...errors import StoreError
from ...liveness import process_alive
from .._leases import LEASE_NAME, NODE_MEMORY, held_by_another, tenure, this_process
from .._rows import LEASE_COLUMNS, R_RUN_COLUMNS, orphan_from_row, same
from ..base import LeaseInfo, NodeInfo, Orphan
from ._sql import NODE_MACHINE_COLUMNS, lease_of, node_of
from ._tx import Tx
from ._version import FOLD_STALE, FOLD_STALE_RUN_STATS


async def acquire_lease(
    t: Tx, owner: str, now: datetime, ttl: float, api_address: str | None
) -> LeaseInfo:
    """Take or renew the store lease for ``owner`` if it is free, expired or ours; whoever holds
    it. Renewing does not count as a change of the store (``t`` stays clean); taking it does."""
    expires = now + timedelta(seconds=ttl)
    pid, host, machine = this_process()
    mine = (owner, pid, host, api_address)
    for _ in range(5):
        row = await t.conn.fetchrow(
            f"SELECT {LEASE_COLUMNS} FROM lease WHERE name = $1 FOR UPDATE", LEASE_NAME
        )
        if row is None:
            row = await t.conn.fetchrow(
                "INSERT INTO lease (name, owner, pid, host, api_address, acquired_at, "
                "renewed_at, expires_at, machine) VALUES ($1,$2,$3,$4,$5,$6,$6,$7,$8) "
                f"ON CONFLICT (name) DO NOTHING RETURNING {LEASE_COLUMNS}",
                LEASE_NAME,
                *mine,
                now,
                expires,
                machine,
            )
            if row is None:
                continue  # another node inserted it meanwhile: read theirs
            t.dirty = True
            await write_node(t.conn, owner, "leader", now, ttl, api_address)
            return lease_of(row)
        current = lease_of(row)
        if held_by_another(current, owner, now):
            await write_node(t.conn, owner, "standby", now, ttl, api_address)
            return current
        await write_node(t.conn, owner, "leader", now, ttl, api_address)
        acquired = tenure(current, owner, now)
        if current.owner != owner:
            t.dirty = True
        row = await t.conn.fetchrow(
            "UPDATE lease SET owner=$2, pid=$3, host=$4, api_address=$5, acquired_at=$6, "
            f"renewed_at=$7, expires_at=$8, machine=$9 WHERE name = $1 "
            f"RETURNING {LEASE_COLUMNS}",
            LEASE_NAME,
            *mine,
            acquired,
            now,
            expires,
            machine,
        )
        return lease_of(row)
    raise StoreError("the lease row kept changing; try again")


async def holds_lease(conn: asyncpg.Connection, owner: str, now: datetime) -> bool:
    """Whether ``owner`` may fire: its node row is live and not a standby's. FOR SHARE: a node
    renewing or expiring this row waits until this transaction commits."""
    row = await conn.fetchrow(
        "SELECT expires_at, role FROM nodes WHERE owner = $1 FOR SHARE", owner
    )
    return row is not None and row[0] > now and row[1] != "standby"


async def write_node(
    conn: asyncpg.Connection,
    owner: str,
    role: str,
    now: datetime,
    ttl: float,
    api_address: str | None,
) -> NodeInfo:
    """Announce or renew ``owner``; a node whose row had expired (or changed role) starts afresh."""
    pid, host, machine = this_process()
    await conn.execute("DELETE FROM nodes WHERE expires_at < $1", now - NODE_MEMORY)
    # the version and run counters of writers long gone, into the base rows (the sums stay)
    await conn.execute(FOLD_STALE)
    await conn.execute(FOLD_STALE_RUN_STATS)
    row = await conn.fetchrow(
        "INSERT INTO nodes (owner, host, pid, machine, api_address, role, started_at, heartbeat, "
        "expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$7,$8) ON CONFLICT (owner) DO UPDATE SET "
        "host=EXCLUDED.host, pid=EXCLUDED.pid, machine=EXCLUDED.machine, "
        "api_address=EXCLUDED.api_address, role=EXCLUDED.role, heartbeat=EXCLUDED.heartbeat, "
        "expires_at=EXCLUDED.expires_at, started_at = CASE WHEN nodes.expires_at > "
        "EXCLUDED.heartbeat AND nodes.role = EXCLUDED.role THEN nodes.started_at "
        f"ELSE EXCLUDED.started_at END RETURNING {NODE_MACHINE_COLUMNS}",
        owner,
        host,
        pid,
        machine,
        api_address,
        role,
        now,
        now + timedelta(seconds=ttl),
    )
    return node_of(row)


async def orphaned_runs(
    fetch: Callable[[str, Sequence[Any]], Awaitable[list[Any]]],
    now: datetime,
    owner: str,
    limit: int,
) -> list[Orphan]:
    """Runs recorded running whose node is gone: its row expired (or was removed), or it ran on
    this machine and its process no longer exists (``fetch``: the store's query)."""
    nodes = await fetch(
        "SELECT owner, pid, host, machine FROM nodes WHERE expires_at > $1 AND role <> 'standby'",
        (now,),
    )
    dead = [r[0] for r in nodes if not process_alive(r[1], r[2], r[3])]
    rows = await fetch(
        f"SELECT {R_RUN_COLUMNS}, n.heartbeat "
        "FROM runs r LEFT JOIN nodes n ON n.owner = r.owner "
        "WHERE r.status = 'running' AND r.owner IS DISTINCT FROM $1 AND (n.owner IS NULL "
        "OR n.expires_at <= $2 OR n.role = 'standby' OR r.owner = ANY($3::text[])) "
        "ORDER BY r.seq LIMIT $4",
        (owner, now, dead, limit),
    )
    return [orphan_from_row(r, same) for r in rows]
