"""Reliability under store faults (issue 18): a real daemon on a real SQLite file made full, and
started on a read-only or a corrupt one.

The file is made full the way a disk fills: the daemon's writes are capped at a number of pages
(``PRAGMA max_page_count``, through the fault drill's ``SYMBI_SQLITE_MAX_PAGE_COUNT``) and the
test's own connection fills the file with ballast up to that cap, so writes that need a new page
get a real ``SQLITE_FULL``; dropping the ballast gives the space back. What is checked is what an
operator sees: the log, health, the API, the metrics, the CPU the daemon burns, and the file.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from scheduler_core.store import open_store
from tests.test_daemon import DAEMON, Daemon, poll
from tests.test_reliability import AUTH, config, create_jobs, env, query

pytestmark = pytest.mark.slow

OUTPUT_BYTES = 65536  #: a finished run's output: its end needs new pages
INPUT = "y" * 30000  #: a job's input: claiming its run needs new pages
ROOM = 1500  #: pages the daemon may grow by before the test fills it (its start, the jobs)


def pages(conn: sqlite3.Connection) -> tuple[int, int]:
    return (
        conn.execute("PRAGMA page_count").fetchone()[0],
        conn.execute("PRAGMA freelist_count").fetchone()[0],
    )


def create_store(path: Path) -> int:
    """A migrated store with an empty ballast table; its size in pages."""

    async def make() -> None:
        store = await open_store(str(path))
        await store.close()

    asyncio.run(make())
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("CREATE TABLE ballast (b BLOB)")
        conn.commit()
        return pages(conn)[0]
    finally:
        conn.close()


def fill(path: Path, cap: int) -> None:
    """Fill the file up to ``cap`` pages with no free page left: the daemon's next write that
    needs a new page fails with SQLITE_FULL."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        while True:
            count, free = pages(conn)
            if count >= cap and free == 0:
                return
            blob = 4000 * min(max(cap - count, 1), 16) if free == 0 else 1000
            conn.execute("INSERT INTO ballast VALUES (zeroblob(?))", (blob,))
            conn.commit()
    finally:
        conn.close()


def free_space(path: Path) -> None:
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("DELETE FROM ballast")
        conn.commit()
    finally:
        conn.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(text: str, name: str) -> dict[str, float]:
    """The samples of metric ``name`` by their label text."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name):
            labels, _, value = line[len(name) :].rpartition(" ")
            out[labels] = float(value)
    return out


def test_a_full_store_is_an_episode_and_no_finished_run_is_lost_or_run_again(
    tmp_path: Path,
) -> None:
    db = tmp_path / "symbi.db"
    cap = create_store(db) + ROOM
    go = tmp_path / "go"
    ran = {name: tmp_path / f"{name}-ran" for name in ("gated", "due")}
    gated = (
        f"echo run >> {ran['gated']}; while [ ! -e {go} ]; do sleep 0.05; done; "
        f"head -c {OUTPUT_BYTES} /dev/zero | tr '\\0' x"
    )
    agents = {
        "gated": ["/bin/sh", "-c", gated],
        "due": ["/bin/sh", "-c", f"echo run >> {ran['due']}"],
    }
    cfg = config(tmp_path, agents, store_retry_max_seconds=4, lease_ttl_seconds=10)
    daemon = Daemon(cfg, {**env(tmp_path), "SYMBI_SQLITE_MAX_PAGE_COUNT": str(cap)})
    try:
        client = httpx.Client(base_url=daemon.url, headers=AUTH, timeout=30)
        daemon.event("scheduler.leader")
        (gated_id,) = create_jobs(
            client, [{"name": "gated", "agent_id": "gated", "cron_expr": "0 0 1 1 *"}]
        )
        started = client.post(f"/api/v1/schedule/{gated_id}/run")
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        poll(lambda: ran["gated"].exists())
        due_at = datetime.now(UTC) + timedelta(seconds=8)
        body = {"name": "due", "agent_id": "due", "at": due_at.isoformat(), "input": INPUT}
        (due_id,) = create_jobs(client, [body])

        fill(db, cap)
        before = len(daemon.lines)
        go.touch()  # the agent ends; its end (64 KiB of output) cannot be written
        daemon.event("store.unavailable", timeout=15)
        fault_started = time.monotonic()

        # --- during the fault --------------------------------------------------------------
        cpu_from = cpu_seconds(daemon.proc.pid)
        time.sleep(8)  # the due job's instant passes meanwhile: its claim fails too
        cpu = cpu_seconds(daemon.proc.pid) - cpu_from
        assert cpu < 0.05 * 8, f"{cpu:.2f}s of CPU in 8s of store fault"

        health = client.get("/api/v1/health/scheduler")
        assert health.status_code == 200
        state = health.json()
        assert state["status"] == "degraded", state
        fault = state["store_fault"]
        assert fault["cause"] == "disk_full" and str(db) in fault["error"], fault
        assert fault["waiting"] == 1 and fault["failures"] >= 2, fault
        assert datetime.fromisoformat(fault["since"]) <= datetime.now(UTC)
        assert state["in_flight_jobs"] == 1  # the finished run holds its slot until recorded
        refused = client.post(
            "/api/v1/schedule",
            json={"name": "more", "agent_id": "due", "cron_expr": "0 0 1 1 *", "input": INPUT},
        )
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"].startswith("application/json")
        assert refused.headers["retry-after"]
        error = refused.json()
        assert error["code"] == "store_unavailable" and error["details"]["cause"] == "disk_full"
        assert "is full" in error["error"]
        errors = metric(client.get("/metrics").text, "symbiont_cron_store_errors_total")
        assert 3 <= errors['{cause="disk_full"}'] < 40, errors  # backing off, not spinning

        (row,) = query(tmp_path, "SELECT status FROM runs WHERE id = ?", run_id)
        assert row["status"] == "running"  # not lost, not recorded yet
        assert not ran["due"].exists()
        during = daemon.lines[before:]
        assert [line["event"] for line in during].count("store.unavailable") == 1
        assert len(during) <= 6, during  # the episode's one line, and events before it
        assert not any("Traceback" in line for line in daemon.raw)

        # --- space comes back ----------------------------------------------------------------
        free_space(db)
        end = daemon.event("store.recovered", timeout=15)
        assert "1 finished run(s) kept in memory are recorded" in end["msg"], end
        lasted = time.monotonic() - fault_started
        assert 8 <= end["seconds"] <= lasted + 1, end

        def recorded() -> list[Any]:
            rows = query(tmp_path, "SELECT * FROM runs WHERE job_id = ?", gated_id)
            return rows if rows and rows[0]["status"] != "running" else []

        (gated_run,) = poll(recorded)  # exactly once
        assert gated_run["id"] == run_id and gated_run["status"] == "succeeded"
        assert gated_run["output"] == "x" * OUTPUT_BYTES
        poll(lambda: ran["due"].exists())
        due_runs = poll(
            lambda: [
                r
                for r in query(tmp_path, "SELECT * FROM runs WHERE job_id = ?", due_id)
                if r["status"] == "succeeded"
            ]
        )
        assert len(due_runs) == 1
        time.sleep(2)
        assert ran["gated"].read_text() == "run\n"  # its agent ran once
        assert ran["due"].read_text() == "run\n"
        assert len(query(tmp_path, "SELECT id FROM runs WHERE job_id = ?", gated_id)) == 1
        healthy = client.get("/api/v1/health/scheduler").json()
        assert healthy["status"] == "healthy" and healthy["store_fault"] is None, healthy
        client.close()
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert not any("Traceback" in line for line in daemon.raw), "".join(daemon.raw)
    assert query(tmp_path, "PRAGMA integrity_check")[0][0] == "ok"


# --- at start ---------------------------------------------------------------------------------


def start_refused(tmp_path: Path) -> tuple[int, list[dict[str, Any]], str]:
    """Start a daemon on the store that is there: its exit status, log lines and raw stderr."""
    cfg = config(tmp_path, {})
    out = subprocess.run(
        [*DAEMON, "--config", str(cfg), "--log-format", "json"],
        capture_output=True,
        text=True,
        env=env(tmp_path),
        cwd=tmp_path,
        timeout=60,
    )
    return out.returncode, [json.loads(line) for line in out.stderr.splitlines()], out.stderr


def read_only(path: Path) -> Callable[[], None]:
    """Make ``path`` read-only, even for root (immutable); returns the undo."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        return lambda: path.chmod(0o644)
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot make a file read-only for root here: {done.stderr!r}")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=False) and None


def test_a_read_only_store_ends_the_start_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "symbi.db"
    create_store(db)
    undo = read_only(db)
    try:
        code, lines, raw = start_refused(tmp_path)
    finally:
        undo()
    assert code == 3, raw
    assert len(lines) == 1 and "Traceback" not in raw, raw
    (line,) = lines
    assert line["level"] == "error" and line["event"] == "daemon.failed", line
    assert line["cause"] == "read_only" and line["store"] == str(db), line
    assert str(db) in line["msg"] and "read-only" in line["msg"] and "writable" in line["msg"]


def test_a_corrupt_store_ends_the_start_in_one_line_and_is_left_as_it_is(tmp_path: Path) -> None:
    db = tmp_path / "symbi.db"
    size = create_store(db)
    with db.open("r+b") as f:  # pages in the middle of the schema's b-trees
        f.seek(4096 * (size // 2))
        f.write(os.urandom(4096 * 3))
    damaged = db.read_bytes()
    code, lines, raw = start_refused(tmp_path)
    assert code == 3, raw
    assert len(lines) == 1 and "Traceback" not in raw, raw
    (line,) = lines
    assert line["event"] == "daemon.failed" and line["cause"] == "corrupt", line
    assert str(db) in line["msg"] and "quick_check" in line["msg"] and "backup" in line["msg"]
    assert db.read_bytes() == damaged  # nothing written to it
