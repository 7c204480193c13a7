"""The store lease and the node rows on SQLite.

One scheduler fires from a SQLite store: the holder of the ``lease`` row (``acquire_lease``); the
other schedulers announce themselves in ``nodes`` as standbys, renewing their rows like leases.
Each function runs inside the caller's transaction (its ``sqlite3`` connection).
"""

from __future__ import annotations

__all__ = ["acquire_lease", "holds_lease", "write_node"]

import sqlite3
from datetime import datetime, timedelta

from ...clock import parse_instant
from .._leases import LEASE_NAME, NODE_MEMORY, held_by_another, tenure, this_process
from .._rows import LEASE_COLUMNS, NODE_COLUMNS
from ..base import LeaseInfo, NodeInfo
from ._sql import fmt, lease_of, node_of


def acquire_lease(
    conn: sqlite3.Connection, owner: str, now: datetime, ttl: float, api_address: str | None
) -> LeaseInfo:
    """Take or renew the lease for ``owner`` if it is free, expired or ours; whoever holds it.
    A standby is announced as one in ``nodes``."""
    stamp, expires = fmt(now), fmt(now + timedelta(seconds=ttl))
    renewed = _renew(conn, owner, stamp, expires, api_address)
    if renewed is not None:
        return renewed
    row = conn.execute(
        f"SELECT {LEASE_COLUMNS} FROM lease WHERE name = ?", (LEASE_NAME,)
    ).fetchone()
    current = lease_of(row) if row is not None else None
    if current is not None and held_by_another(current, owner, now):
        # a standby checks every 2 s but re-announces itself at a third of the TTL, as
        # the holder renews: each write wakes the holder
        mine = conn.execute(
            "SELECT role, expires_at FROM nodes WHERE owner = ?", (owner,)
        ).fetchone()
        due = fmt(now + timedelta(seconds=ttl * 2 / 3))
        if mine is None or mine[0] != "standby" or mine[1] <= due:
            write_node(conn, owner, "standby", now, ttl, api_address)
        return current
    write_node(conn, owner, "leader", now, ttl, api_address)
    pid, host, machine = this_process()
    acquired = fmt(tenure(current, owner, now))
    values = (owner, pid, host, api_address, acquired, stamp, expires, machine)
    conn.execute(
        f"INSERT OR REPLACE INTO lease (name, {LEASE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
        (LEASE_NAME, *values),
    )
    return lease_of(values)


def _renew(
    conn: sqlite3.Connection, owner: str, stamp: str, expires: str, api_address: str | None
) -> LeaseInfo | None:
    """The holder renewing its live lease, as the idle scheduler does every third of the TTL:
    its lease row and its node row updated in place (two statements where taking the lease
    needs six); None when the lease is not ``owner``'s and live, or its node row is not a live
    leader's (then the whole path decides)."""
    row = conn.execute(
        f"UPDATE lease SET renewed_at = ?, expires_at = ?, api_address = ? "
        f"WHERE name = ? AND owner = ? AND expires_at > ? RETURNING {LEASE_COLUMNS}",
        (stamp, expires, api_address, LEASE_NAME, owner, stamp),
    ).fetchone()
    if row is None:
        return None
    node = conn.execute(
        "UPDATE nodes SET heartbeat = ?, expires_at = ?, api_address = ? "
        "WHERE owner = ? AND role = 'leader' AND expires_at > ?",
        (stamp, expires, api_address, owner, stamp),
    )
    if node.rowcount != 1:
        write_node(conn, owner, "leader", parse_instant(stamp), 0, api_address, expires=expires)
    return lease_of(row)


def write_node(
    conn: sqlite3.Connection,
    owner: str,
    role: str,
    now: datetime,
    ttl: float,
    api_address: str | None,
    *,
    expires: str | None = None,
) -> NodeInfo:
    """Announce or renew ``owner`` until ``now + ttl`` (or ``expires``); a node whose row had
    expired (or changed role) starts afresh."""
    stamp = fmt(now)
    conn.execute("DELETE FROM nodes WHERE expires_at < ?", (fmt(now - NODE_MEMORY),))
    row = conn.execute(
        "SELECT started_at, expires_at, role FROM nodes WHERE owner = ?", (owner,)
    ).fetchone()
    started = row[0] if row is not None and row[1] > stamp and row[2] == role else stamp
    pid, host, _ = this_process()
    values = (
        owner,
        host,
        pid,
        api_address,
        role,
        started,
        stamp,
        expires or fmt(now + timedelta(seconds=ttl)),
    )
    conn.execute(f"INSERT OR REPLACE INTO nodes ({NODE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)", values)
    return node_of(values)


def holds_lease(conn: sqlite3.Connection, owner: str, stamp: str) -> bool:
    """Whether ``owner`` holds the store lease at ``stamp`` (a stored instant)."""
    row = conn.execute(
        "SELECT owner, expires_at FROM lease WHERE name = ?", (LEASE_NAME,)
    ).fetchone()
    return row is not None and row[0] == owner and row[1] > stamp
