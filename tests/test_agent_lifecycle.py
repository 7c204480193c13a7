"""An agent never outlives its run or its scheduler, and a shutdown is not a failure (issue 18).

Real ``symbi-tui --daemon`` processes on a real SQLite file, real agent processes; the store is
read with :mod:`sqlite3` directly. Every process a test starts is ended by it, by pid and start
time (a pid the kernel gave out again is never killed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from scheduler_core.runtime.ledger import SUPPORTED, AgentLedger, process_start
from tests.test_daemon import Daemon, poll
from tests.test_reliability import AUTH, YEARLY, config, env, query

linux_only = pytest.mark.skipif(not SUPPORTED, reason="process groups are tracked on Linux only")


# --- processes ------------------------------------------------------------------------------------


def alive(pid: int) -> bool:
    """Running (a zombie has let go of everything: it counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def gone(pid: int, timeout: float = 10) -> bool:
    poll(lambda: not alive(pid), timeout=timeout)
    return True


class Pids:
    """Processes a test saw, each with its start time, all killed at the end."""

    def __init__(self) -> None:
        self.seen: dict[int, int | None] = {}

    def add(self, *pids: int) -> None:
        for pid in pids:
            self.seen.setdefault(pid, process_start(pid))

    def kill_all(self) -> None:
        for pid, start in self.seen.items():
            if start is not None and process_start(pid) == start:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


# --- no orphaned agents ---------------------------------------------------------------------------

#: a command agent that holds a lock, with a child that holds it too, and says whether it was
#: alone: a second copy running beside the first finds the lock taken
HOLDER = textwrap.dedent(
    """
    import fcntl, os, subprocess, sys, time
    lock = open(sys.argv[1], "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        state = "alone"
    except BlockingIOError:
        state = "double"
    child = subprocess.Popen(["sleep", "300"], pass_fds=[lock.fileno()])
    with open(sys.argv[2], "a") as log:
        log.write(f"{os.environ['SYMBI_RUN_ID']} {os.getpid()} {child.pid} {state}\\n")
    time.sleep(300)
    """
)


def copies(path: Path) -> list[tuple[str, int, int, str]]:
    """(run id, agent pid, child pid, alone|double) per copy of the agent started."""
    if not path.exists():
        return []
    lines = [line.split() for line in path.read_text().splitlines()]
    return [(run, int(pid), int(child), state) for run, pid, child, state in lines]


@linux_only
@pytest.mark.slow
def test_kill_9_of_the_daemon_kills_its_agents_and_one_copy_runs_after_restart(
    tmp_path: Path,
) -> None:
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    started = tmp_path / "started.txt"
    agent = [sys.executable, str(script), str(tmp_path / "lock"), str(started)]
    cfg = config(tmp_path, {"holder": agent}, retry_backoff_seconds=0.05, lease_ttl_seconds=1)
    pids = Pids()
    first = Daemon(cfg, env(tmp_path))
    second: Daemon | None = None
    try:
        c = httpx.Client(base_url=first.url, headers=AUTH, timeout=30)
        body = {"name": "holder", "agent_id": "holder", "cron_expr": YEARLY, "max_concurrent": 1}
        assert c.post("/api/v1/schedule", json=body).status_code == 201
        run_id = c.post("/api/v1/schedule/holder/run").json()["id"]
        ((got, leader, child, state),) = poll(lambda: copies(started), timeout=30)
        pids.add(leader, child)
        assert (got, state) == (run_id, "alone")
        ledger = list((tmp_path / "data" / "agents").glob(f"*/{run_id}.*"))
        assert len(ledger) == 1 and ledger[0].stat().st_mode & 0o777 == 0o600
        assert ledger[0].parent.stat().st_mode & 0o777 == 0o700
        c.close()

        first.proc.kill()  # kill -9: nothing is recorded or cleaned on the way down
        first.proc.wait(10)
        assert gone(leader)  # the agent died with its daemon...
        assert alive(child)  # ...but what it started lives on, holding the lock

        second = Daemon(cfg, env(tmp_path))
        reaped = second.event("agents.reaped")
        second.event("scheduler.leader")
        assert (reaped["run"], reaped["pgid"], child in reaped["pids"]) == (run_id, leader, True)
        assert not alive(child)  # killed before the restarted daemon started anything

        # the interrupted run is retried, and the retry runs alone
        def retried() -> list[tuple[str, int, int, str]]:
            return [c for c in copies(started) if c[0] != run_id]

        ((retry_id, leader2, child2, state2),) = poll(retried, timeout=30)
        pids.add(leader2, child2)
        assert state2 == "alone", copies(started)
        rows = {r["id"]: dict(r) for r in query(tmp_path, "SELECT * FROM runs")}
        assert rows[run_id]["status"] == "interrupted"
        assert (rows[retry_id]["status"], rows[retry_id]["attempt"]) == ("running", 2)
        assert [r for r in rows.values() if r["status"] == "running"] == [rows[retry_id]]
        assert second.stop() == 0
        assert gone(leader2) and gone(child2)  # a graceful stop ends its agents too
        assert not list((tmp_path / "data" / "agents").iterdir())  # and leaves no record
    finally:
        first.kill()
        if second is not None:
            second.kill()
        pids.kill_all()


@linux_only
def test_reaping_kills_only_what_a_dead_scheduler_left(tmp_path: Path) -> None:
    """The ledger's safety: a group is killed only when it is still the agent's (its leader's
    start time, or, the leader gone, a member carrying the run id); a pid given to another
    process is never killed, and a live scheduler's records are left alone."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SYMBI_")}
    procs: list[subprocess.Popen[str]] = []
    pids = Pids()

    def group(run_id: str, *, leader_stays: bool) -> tuple[int, int, int]:
        """A process group: a leader and a child; returns (pgid, leader's start, child)."""
        code = (
            "import subprocess, sys; c = subprocess.Popen(['sleep', '300']); "
            "print(c.pid, flush=True); sys.stdin.readline()"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**base, "SYMBI_RUN_ID": run_id},
            start_new_session=True,
        )
        procs.append(proc)
        assert proc.stdout is not None and proc.stdin is not None
        child = int(proc.stdout.readline())
        start = process_start(proc.pid)
        assert start is not None
        pids.add(proc.pid, child)
        if not leader_stays:
            proc.stdin.close()
            proc.wait(10)
        return proc.pid, start, child

    try:
        agents = tmp_path / "agents"
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        own_start = process_start(os.getpid())
        assert own_start is not None
        # a scheduler that died: its pid is ours now (another start time)
        dead = agents / f"{boot}.{os.getpid()}.{own_start + 1}"
        dead.mkdir(parents=True)
        live_group = group("run-live", leader_stays=True)
        orphaned = group("run-orphaned", leader_stays=False)
        stranger = group("run-stranger", leader_stays=True)
        recycled = group("run-of-someone-else", leader_stays=False)
        entries = {
            "run-live": live_group,  # its leader alive, same start: killed with its child
            "run-orphaned": orphaned,  # its leader gone, its child carries the run id: killed
            "run-stranger": (stranger[0], stranger[1] - 1, stranger[2]),  # pid reused: spared
            "run-recycled": recycled,  # leader gone, no member carries this run id: spared
        }
        for run_id, (pgid, start, _) in entries.items():
            body = {"pgid": pgid, "start": start, "run": run_id, "job": "j", "program": "x"}
            (dead / f"{run_id}.{pgid}").write_text(json.dumps(body))
        # a live scheduler's record (the stranger's leader stands for it): never touched
        stranger_start = process_start(stranger[0])
        live_owner = agents / f"{boot}.{stranger[0]}.{stranger_start}"
        live_owner.mkdir()
        body = {"pgid": recycled[0], "start": recycled[1], "run": "run-of-someone-else"}
        (live_owner / f"run-of-someone-else.{recycled[0]}").write_text(json.dumps(body))

        reaped = asyncio.run(AgentLedger(agents).reap())

        assert sorted(r.run_id for r in reaped) == ["run-live", "run-orphaned"]
        by_run = {r.run_id: r for r in reaped}
        assert set(by_run["run-live"].pids) == {live_group[0], live_group[2]}
        assert by_run["run-orphaned"].pids == (orphaned[2],)
        for pid in (live_group[0], live_group[2], orphaned[2]):
            assert not alive(pid), pid  # waited for: gone when reap() returns
        for pid in (stranger[0], stranger[2], recycled[2]):
            assert alive(pid), pid
        assert not dead.exists()
        assert [p.name for p in live_owner.iterdir()] == [f"run-of-someone-else.{recycled[0]}"]
    finally:
        pids.kill_all()
        for proc in procs:
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait(10)


DIES_WITH_PARENT = textwrap.dedent(
    """
    import asyncio, sys
    from scheduler_core.runtime import command
    if sys.argv[1] == "prctl":
        command._setpriv = lambda: None  # no setpriv on this machine: the preexec fallback
    asyncio.run(command.run_command(
        ["/bin/sh", "-c", f"echo $$ > {sys.argv[2]}; exec sleep 300"], input=None, env={}
    ))
    """
)


@linux_only
@pytest.mark.parametrize("how", ["setpriv", "prctl"])
def test_a_command_agent_dies_with_its_scheduler(tmp_path: Path, how: str) -> None:
    pidfile = tmp_path / "agent.pid"
    script = tmp_path / "scheduler.py"
    script.write_text(DIES_WITH_PARENT)
    parent = subprocess.Popen([sys.executable, str(script), how, str(pidfile)])
    pids = Pids()
    try:
        poll(lambda: pidfile.exists() and pidfile.read_text().strip())
        agent = int(pidfile.read_text())
        pids.add(agent)
        assert alive(agent)
        parent.kill()
        parent.wait(10)
        assert gone(agent)
    finally:
        parent.kill()
        parent.wait(10)
        pids.kill_all()


# --- a child that keeps stdout open ---------------------------------------------------------------


@linux_only
@pytest.mark.slow
def test_a_run_ends_when_its_agent_exits_though_a_child_holds_stdout(tmp_path: Path) -> None:
    child_file = tmp_path / "child.pid"
    agent = ["/bin/sh", "-c", f"sleep 300 & echo $! > {child_file}; echo finished; exit 0"]
    cfg = config(tmp_path, {"leaves": agent})
    pids = Pids()
    daemon = Daemon(cfg, env(tmp_path))
    try:
        c = httpx.Client(base_url=daemon.url, headers=AUTH, timeout=30)
        body = {"name": "leaves", "agent_id": "leaves", "cron_expr": YEARLY}
        assert c.post("/api/v1/schedule", json=body).status_code == 201
        asked = time.monotonic()
        run_id = c.post("/api/v1/schedule/leaves/run").json()["id"]
        child = int(poll(lambda: child_file.exists() and child_file.read_text().strip()))
        pids.add(child)

        def ended() -> dict[str, Any] | None:
            run = c.get(f"/api/v1/runs/{run_id}").json()
            return run if run["status"] not in ("queued", "running") else None

        run = poll(ended, timeout=20)
        took = time.monotonic() - asked
        assert run["status"] == "succeeded", run
        assert run["output"] == "finished\n"
        assert run["details"]["held_output"] is True and run["details"]["exit_code"] == 0
        assert took < 15, took  # the grace (2 s), not the child's 300 s
        assert not alive(child)
        c.close()
        assert daemon.stop() == 0
    finally:
        daemon.kill()
        pids.kill_all()


# --- graceful shutdown ----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_graceful_shutdown_interrupts_without_a_failure_and_retries_on_restart(
    tmp_path: Path,
) -> None:
    flag = tmp_path / "started-once"
    # the first attempt runs until the shutdown; the retry succeeds at once
    agent = [
        "/bin/sh",
        "-c",
        f'if [ -e "{flag}" ]; then echo done; else touch "{flag}"; exec sleep 300; fi',
    ]
    cfg = config(tmp_path, {"flaky": agent}, retry_backoff_seconds=0.05)
    body = {"name": "nightly", "agent_id": "flaky", "cron_expr": YEARLY, "max_retries": 1}
    first = Daemon(cfg, env(tmp_path))
    second: Daemon | None = None
    try:
        with httpx.Client(base_url=first.url, headers=AUTH, timeout=30) as c:
            assert c.post("/api/v1/schedule", json=body).status_code == 201
            run_id = c.post("/api/v1/schedule/nightly/run").json()["id"]
            poll(flag.exists)  # the agent started
        assert first.stop(signal.SIGTERM) == 0
        interrupted = first.event("audit.CronRunInterrupted")
        assert interrupted["run"] == run_id

        # on disk: interrupted, not failed; the job active with no failure (max_retries = 1
        # would have dead-lettered it); the audit event; the retry queued per policy
        (job,) = query(tmp_path, "SELECT * FROM jobs")
        assert (job["status"], job["failure_count"]) == ("active", 0), dict(job)
        runs = {r["attempt"]: dict(r) for r in query(tmp_path, "SELECT * FROM runs")}
        assert runs[1]["id"] == run_id and runs[1]["status"] == "interrupted"
        assert "shut down" in runs[1]["error_message"]
        assert (runs[2]["status"], runs[2]["trigger"]) == ("queued", "retry")
        events = query(tmp_path, "SELECT * FROM audit_events WHERE type = 'CronRunInterrupted'")
        assert [(e["run_id"], e["actor"]) for e in events] == [(run_id, "scheduler")]
        assert not query(
            tmp_path,
            "SELECT 1 FROM audit_events WHERE type IN ('CronJobFailed', 'CronJobDeadLettered')",
        )

        second = Daemon(cfg, env(tmp_path))
        with httpx.Client(base_url=second.url, headers=AUTH, timeout=30) as c:
            retry = runs[2]["id"]
            poll(lambda: c.get(f"/api/v1/runs/{retry}").json()["status"] == "succeeded")
            assert c.get(f"/api/v1/runs/{retry}").json()["output"] == "done\n"
            got = c.get("/api/v1/schedule/nightly").json()
            assert (got["status"], got["failure_count"]) == ("active", 0), got
        assert second.stop() == 0
    finally:
        first.kill()
        if second is not None:
            second.kill()
