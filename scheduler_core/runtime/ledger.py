"""The agent ledger: which process groups a scheduler's command agents run in, so that a
scheduler started after a crash can end the ones its dead predecessor left running.

A command agent runs in a process group of its own, and its leader dies with the scheduler
(``PR_SET_PDEATHSIG``); the processes it started do not. So each scheduler process keeps, under
the data directory, one small file per live agent group, written when the agent starts and removed
once its group is gone::

    <data dir>/agents/                    0700
        <boot id>.<pid>.<start>/          0700  one scheduler process
            <run id>.<pgid>               0600  {"pgid", "start", "run", "job", "program"}

A process is named by its pid *and* its start time (``/proc/<pid>/stat``), so a pid the kernel gave
to another process since is never taken for the one recorded. When a scheduler takes the lease, it
reaps the directories of scheduler processes that no longer exist: every recorded group that still
exists and is still the agent's is killed as a whole, and the directory is removed. A group is the
agent's when its leader is alive with the recorded start time, or, the leader gone, when one of its
members carries the run's ``SYMBI_RUN_ID`` in its environment (the kernel gives a pid out again only
once no process is left in the group it led, so a group whose leader is gone cannot be a newer one
unless the agent's group emptied first; the run id tells the two apart).

Linux only; elsewhere the ledger records nothing and reaps nothing.
"""

from __future__ import annotations

__all__ = ["SUPPORTED", "AgentLedger", "Reaped", "process_start"]

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ..records import record

log = logging.getLogger("symbi.scheduler")

_PROC = Path("/proc")
SUPPORTED = sys.platform.startswith("linux") and _PROC.is_dir()
#: the variable a command agent carries that names its run (see AgentExecutor)
RUN_VARIABLE = "SYMBI_RUN_ID"
#: how long a reap waits for the processes it killed to be gone
_GONE_TIMEOUT = 5.0


@record
class _Stat:
    state: str
    pgrp: int
    start: int  #: clock ticks after boot


def _stat(pid: int | str) -> _Stat | None:
    """``/proc/<pid>/stat``, or None when there is no such process."""
    try:
        data = (_PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold anything: read after the last ')'
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return _Stat(state=fields[0].decode(), pgrp=int(fields[2]), start=int(fields[19]))
    except (IndexError, ValueError):
        return None


def process_start(pid: int) -> int | None:
    """When ``pid`` started (clock ticks after boot), or None if there is no such process."""
    stat = _stat(pid)
    return None if stat is None else stat.start


def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def _carries(pid: int, marker: bytes) -> bool:
    """Whether ``pid``'s environment holds ``marker`` (``NAME=value``)."""
    try:
        environ = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return marker in environ.split(b"\0")


@record
class Reaped:
    """A group a dead scheduler left running, killed."""

    run_id: str
    job: str | None
    pgid: int
    pids: tuple[int, ...]  #: its processes when it was killed
    owner: str  #: the dead scheduler process (``pid`` and start time)


class AgentLedger:
    """The live agent groups of this scheduler process, as files under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._boot = _boot_id() if SUPPORTED else ""
        pid = os.getpid()
        self._own = f"{self._boot}.{pid}.{process_start(pid) if SUPPORTED else 0}"
        self._ready = False
        self._warned = False

    @property
    def own_directory(self) -> Path:
        return self.directory / self._own

    # --- this process's agents -------------------------------------------------------------------

    def record(self, pid: int, *, run_id: str, job: str | None, program: str) -> Path | None:
        """Note the group ``pid`` leads (just started); returns the entry to :meth:`release`.
        A ledger that cannot be written is logged once and never fails the agent."""
        if not SUPPORTED:
            return None
        start = process_start(pid)
        if start is None:  # gone already: its end kills what it left (see run_command)
            return None
        entry = {"pgid": pid, "start": start, "run": run_id, "job": job, "program": program}
        path = self.own_directory / f"{run_id}.{pid}"
        try:
            if not self._ready:
                self.own_directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(self.directory, 0o700)
                self._ready = True
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, json.dumps(entry).encode())
            finally:
                os.close(fd)
        except OSError as exc:
            self._ready = False
            if not self._warned:
                self._warned = True
                log.warning(
                    "cannot record agent process groups in %s: %s; a crash of this scheduler "
                    "may leave agents' child processes running",
                    self.directory,
                    exc.strerror or exc,
                    extra={"event": "agents.ledger_failed"},
                )
            return None
        return path

    def release(self, entry: Path | None) -> None:
        """The group of ``entry`` is gone: forget it."""
        if entry is not None:
            with contextlib.suppress(OSError):
                entry.unlink()

    def close(self) -> None:
        """This scheduler stops: its (empty) directory goes."""
        if SUPPORTED:
            with contextlib.suppress(OSError):
                self.own_directory.rmdir()
            self._ready = False

    # --- what dead schedulers left ---------------------------------------------------------------

    async def reap(self) -> list[Reaped]:
        """Kill every recorded group of a scheduler process that no longer exists (and is still
        its agent's), wait until they are gone, and clear their records."""
        if not SUPPORTED:
            return []
        dead = self._dead_owners()
        if not dead:
            return []
        table = _process_table()
        reaped: list[Reaped] = []
        for owner in dead:
            same_boot = owner.name.split(".", 1)[0] == self._boot
            try:
                paths = sorted(owner.iterdir())
            except OSError:  # reaped meanwhile (another scheduler on this data directory)
                continue
            for path in paths:
                entry = _load(path)
                if entry is not None and same_boot:
                    got = _kill_if_ours(entry, table, owner=owner.name.split(".", 1)[-1])
                    if got is not None:
                        reaped.append(got)
                with contextlib.suppress(OSError):
                    path.unlink()
            with contextlib.suppress(OSError):
                owner.rmdir()
        await _wait_gone([pid for r in reaped for pid in r.pids])
        for r in reaped:
            log.warning(
                "killed agent process group %d of run %s%s (%d process(es)), left running by "
                "scheduler process %s, which died",
                r.pgid,
                r.run_id,
                f" of {r.job}" if r.job else "",
                len(r.pids),
                r.owner,
                extra={
                    "event": "agents.reaped",
                    "fields": {"run": r.run_id, "job": r.job, "pgid": r.pgid, "pids": r.pids},
                },
            )
        return reaped

    def _dead_owners(self) -> list[Path]:
        try:
            owners = [p for p in self.directory.iterdir() if p.is_dir() and p.name != self._own]
        except OSError:
            return []
        dead = []
        for owner in owners:
            boot, _, rest = owner.name.partition(".")
            pid, _, start = rest.partition(".")
            stat = _stat(pid) if boot == self._boot and pid.isdigit() else None
            if stat is not None and stat.start == _int(start) and stat.state not in ("Z", "X"):
                continue  # a live scheduler's (another daemon on this data directory)
            dead.append(owner)
        return dead


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _load(path: Path) -> dict[str, Any] | None:
    try:
        entry = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    ok = isinstance(entry, dict) and isinstance(entry.get("pgid"), int)
    return entry if ok and isinstance(entry.get("start"), int) else None


def _process_table() -> dict[int, _Stat]:
    table = {}
    for name in os.listdir(_PROC):
        if name.isdigit() and (stat := _stat(name)) is not None:
            table[int(name)] = stat
    return table


def _kill_if_ours(entry: dict[str, Any], table: dict[int, _Stat], *, owner: str) -> Reaped | None:
    pgid, start, run_id = entry["pgid"], entry["start"], str(entry.get("run") or "")
    members = sorted(p for p, s in table.items() if s.pgrp == pgid and s.state != "Z")
    leader = table.get(pgid)
    if leader is not None:
        # the pid is in use: by the agent's leader (its start time), or by another process, and
        # then the agent's group is gone (the kernel reuses a pid only once its group is empty)
        ours = leader.start == start
    else:
        marker = f"{RUN_VARIABLE}={run_id}".encode()
        ours = any(table[p].start >= start and _carries(p, marker) for p in members)
    if not ours or not members:
        return None
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return None
    except PermissionError:
        log.warning("cannot kill agent process group %d of run %s: not ours to kill", pgid, run_id)
        return None
    job = entry.get("job")
    return Reaped(
        run_id=run_id,
        job=str(job) if job else None,
        pgid=pgid,
        pids=tuple(members),
        owner=owner,
    )


async def _wait_gone(pids: list[int]) -> None:
    """Until every one of ``pids`` has exited (a zombie has let go of its files and locks)."""
    deadline = time.monotonic() + _GONE_TIMEOUT
    left = list(pids)
    while left and time.monotonic() < deadline:
        left = [p for p in left if (s := _stat(p)) is not None and s.state not in ("Z", "X")]
        if left:
            await asyncio.sleep(0.01)
