"""Whether the process that holds a lease (or a node row) is still alive: one policy for every
store and for the CLI.

A lease row names its holder's pid, host name and machine (kernel boot id and pid namespace).
Only a holder in this very pid namespace can be looked up with ``kill(pid, 0)``: host names are
reused by containers and pids are per namespace, so the check answers "dead" only when the
machine matches ours and the process is gone; anything less certain counts as alive, and the
lease then lapses on its own at its expiry.
"""

from __future__ import annotations

__all__ = ["process_alive", "this_machine"]

import os
import socket
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def this_machine() -> str | None:
    """This kernel boot and pid namespace: two processes that share it see each other's pids
    (None where /proc does not tell, e.g. not Linux)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
    return f"{boot}/{namespace}"


def process_alive(pid: int, host: str, machine: str | None) -> bool:
    """False only for a holder on this host and machine whose process no longer exists.

    ``machine`` None: a row written before machines were recorded (SQLite stores before schema
    7), or by a process that could not tell its own; the host name and pid decide then.
    """
    if pid == os.getpid() or host != socket.gethostname():
        return True
    if machine is not None and machine != this_machine():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
