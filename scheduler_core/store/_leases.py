"""The store lease and the node rows: the decisions both stores make alike.

Whether another process holds the lease (it has not expired, and its holder is not known dead:
``scheduler_core.liveness``), since when a holder has held it, and who this process is when it
writes its lease or node row. Each store reads and writes the rows in its own SQL.
"""

from __future__ import annotations

__all__ = [
    "LEASE_NAME",
    "NODE_MEMORY",
    "held_by_another",
    "holder_alive",
    "tenure",
    "this_process",
]

import os
import socket
from datetime import datetime, timedelta

from ..liveness import process_alive, this_machine
from .base import LeaseInfo

#: the key of the one lease row
LEASE_NAME = "scheduler"
#: node rows are kept this long after their last heartbeat (recovery reads the dead's heartbeat)
NODE_MEMORY = timedelta(days=1)


def this_process() -> tuple[int, str, str | None]:
    """(pid, host, machine) of this process, as its lease and node rows record it."""
    return os.getpid(), socket.gethostname(), this_machine()


def holder_alive(lease: LeaseInfo) -> bool:
    """A holder whose process is gone has no lease, whatever its expiry says."""
    return process_alive(lease.pid, lease.host, lease.machine)


def held_by_another(lease: LeaseInfo, owner: str, now: datetime) -> bool:
    """Whether someone other than ``owner`` holds ``lease`` at ``now`` (``owner`` must wait as a
    standby); otherwise ``owner`` takes it, or renews it."""
    return lease.owner != owner and lease.expires_at > now and holder_alive(lease)


def tenure(lease: LeaseInfo | None, owner: str, now: datetime) -> datetime:
    """Since when ``owner`` holds the lease once it takes or renews it at ``now``: a renewal keeps
    its holder's tenure, a takeover starts one."""
    return lease.acquired_at if lease is not None and lease.owner == owner else now
