"""What a daemon costs while its store is full (issue 18): CPU and log lines during the fault.

A real ``symbi-tui --daemon`` runs on a SQLite store with ten every-minute jobs (each with a 20
KiB input, so that claiming its run needs new pages) and one run in flight. The store is then
made full, the run finishes into the fault, and for ``--seconds`` the daemon's CPU time (user +
system, from /proc) and its log lines are counted. Then space is given back: the time until the
daemon says the store recovered, and whether the finished run was recorded exactly once, are
reported too.

```sh
.venv/bin/python benchmarks/bench_faults.py                 # 120 s of fault, max_page_count
.venv/bin/python benchmarks/bench_faults.py --seconds 30
.venv/bin/python benchmarks/bench_faults.py --disk tmpfs    # a real full file system
```

``--disk pages`` (default): the daemon's writes are capped at a number of pages (the fault
drill's ``SYMBI_SQLITE_MAX_PAGE_COUNT``) and the file is filled with ballast rows up to it;
deleting them gives the space back. ``--disk tmpfs``: the store lives on a 4 MiB tmpfs mounted in
a private mount namespace (``unshare``: root, or unprivileged user namespaces), filled with a
ballast file; removing it gives the space back. Targets: under 5 % of a core, under 10 lines a
minute.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Report,
    Target,
    print_table,
    print_targets,
    save_results,
    source_tree,
    temp_dir,
)

KEY = "bench-faults-key"
OUTPUT_BYTES = 65536
INPUT = "y" * 20000
JOBS = 10
ROOM = 3000  #: pages the daemon may grow by before the store is filled (--disk pages)
TMPFS = "4m"


class Daemon:
    """The daemon process and its JSON log lines, read as they come."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                self.lines.append({"event": "raw", "msg": line.rstrip()})

    def event(self, name: str, timeout: float, since: int = 0) -> dict[str, Any]:
        """The first line of event ``name`` (``"error"``: of level error) from line ``since``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[since:]:
                if line.get("event") == name or line.get("level") == name:
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        tail = "\n".join(json.dumps(line) for line in self.lines[-20:])
        raise RuntimeError(f"no {name} line within {timeout}s; the log's end:\n{tail}")

    def python_pid(self) -> int:
        """The daemon's own process (under ``unshare``, the interpreter it execs into)."""
        return self.proc.pid

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(10)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api(url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    import httpx

    got = httpx.request(
        method,
        url + path,
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    try:
        return got.status_code, got.json()
    except ValueError:
        return got.status_code, got.text


def write_config(tmp: Path, store_dir: Path, go: Path, ran: Path) -> Path:
    gated = (
        f"echo run >> {ran}; while [ ! -e {go} ]; do sleep 0.05; done; "
        f"head -c {OUTPUT_BYTES} /dev/zero | tr '\\0' x"
    )
    path = tmp / "config.toml"
    path.write_text(
        f"""
data_dir = {json.dumps(str(tmp / "data"))}
[scheduler]
shutdown_timeout_seconds = 2
[store]
url = {json.dumps(str(store_dir / "symbi.db"))}
[api]
port = 0
[agents.gated]
command = ["/bin/sh", "-c", {json.dumps(gated)}]
[agents.tick]
command = ["/bin/sh", "-c", "true"]
"""
    )
    return path


def create_store(path: Path) -> int:
    """A migrated store with a ballast table (``--disk pages``); its size in pages."""
    code = (
        "import asyncio, sys\n"
        "from scheduler_core.store import open_store\n"
        "async def main():\n"
        "    await (await open_store(sys.argv[1])).close()\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "PYTHONPATH": source_tree()}
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env)
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("CREATE TABLE ballast (b BLOB)")
        conn.commit()
        return int(conn.execute("PRAGMA page_count").fetchone()[0])
    finally:
        conn.close()


def fill_pages(path: Path, cap: int) -> None:
    conn = sqlite3.connect(path, timeout=30)
    try:
        while True:
            count = conn.execute("PRAGMA page_count").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            if count >= cap and free == 0:
                return
            blob = 4000 * min(max(cap - count, 1), 16) if free == 0 else 1000
            conn.execute("INSERT INTO ballast VALUES (zeroblob(?))", (blob,))
            conn.commit()
    finally:
        conn.close()


def free_pages(path: Path) -> None:
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("DELETE FROM ballast")
        conn.commit()
    finally:
        conn.close()


def read(db: Path, sql: str) -> list[Any]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def read_in(pid: int, db: Path, sql: str) -> list[Any]:
    """``read`` in the mount namespace of process ``pid`` (SQLite resolves /proc/PID/root to
    this namespace's path, so it cannot open the file through it)."""
    code = (
        "import json, sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], timeout=30)\n"
        "print(json.dumps(conn.execute(sys.argv[2]).fetchall()))\n"
    )
    enter = ["nsenter", "-t", str(pid), "-m"] if os.geteuid() == 0 else None
    enter = enter or ["nsenter", "-t", str(pid), "-U", "-m", "--preserve-credentials"]
    done = subprocess.run(
        [*enter, sys.executable, "-c", code, str(db), sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return list(json.loads(done.stdout))


def fill_disk(ballast: Path) -> None:
    with ballast.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass


def run(seconds: float, disk: str) -> dict[str, Any]:
    with temp_dir("symbi-bench-faults-") as tmp:
        store_dir = tmp / "store"
        store_dir.mkdir()
        go, ran = tmp / "go", tmp / "ran"
        cfg = write_config(tmp, store_dir, go, ran)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYMBI_")} | {
            "SYMBI_API_KEY": KEY,
            "PYTHONPATH": source_tree(),
        }
        daemon_argv = [sys.executable, "-m", "symbi_tui", "--daemon", "--config", str(cfg)]
        daemon_argv += ["--log-format", "json"]
        if disk == "pages":
            cap = create_store(store_dir / "symbi.db") + ROOM
            env["SYMBI_SQLITE_MAX_PAGE_COUNT"] = str(cap)
        else:
            mount = f'mount -t tmpfs -o size={TMPFS} tmpfs {store_dir} && exec "$@"'
            daemon_argv = ["unshare", "-rm", "sh", "-c", mount, "sh", *daemon_argv]
            if os.geteuid() == 0:
                daemon_argv[1] = "-m"
        daemon = Daemon(daemon_argv, env, tmp)
        try:
            url = str(daemon.event("api.listening", 60)["url"])
            daemon.event("scheduler.leader", 60)
            db = store_dir / "symbi.db"  # (--disk tmpfs: in the daemon's mount namespace)
            seen = Path(f"/proc/{daemon.python_pid()}/root{store_dir}")
            for i in range(JOBS):
                status, _ = api(
                    url,
                    "POST",
                    "/api/v1/schedule",
                    {
                        "name": f"tick-{i}",
                        "agent_id": "tick",
                        "cron_expr": "* * * * *",
                        "input": INPUT,
                    },
                )
                assert status == 201, status
            status, job = api(
                url,
                "POST",
                "/api/v1/schedule",
                {"name": "gated", "agent_id": "gated", "cron_expr": "0 0 1 1 *"},
            )
            assert status == 201, job
            status, run_ = api(url, "POST", f"/api/v1/schedule/{job['id']}/run")
            assert status == 202, run_
            deadline = time.monotonic() + 30
            while not ran.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            if disk == "pages":
                fill_pages(db, cap)
            else:
                fill_disk(seen / "ballast")
            lines_from = len(daemon.lines)  # the episode's first line counts
            go.touch()
            # the first error line (a tree from before issue 18 logs no store.unavailable)
            fault = daemon.event("error", 90, since=lines_from)
            pid = daemon.python_pid()
            cpu_from, wall_from = cpu_seconds(pid), time.monotonic()
            time.sleep(seconds)
            cpu = cpu_seconds(pid) - cpu_from
            wall = time.monotonic() - wall_from
            lines = daemon.lines[lines_from:]
            _, health = api(url, "GET", "/api/v1/health/scheduler")
            _, metrics = api(url, "GET", "/metrics")
            errors = sum(
                float(line.rsplit(" ", 1)[1])
                for line in str(metrics).splitlines()
                if line.startswith("symbiont_cron_store_errors_total")
            )
            freed = time.monotonic()
            if disk == "pages":
                free_pages(db)
            else:
                (seen / "ballast").unlink()
            try:
                recovered: dict[str, Any] | None = daemon.event("store.recovered", 120)
                recovery: float | None = time.monotonic() - freed
            except RuntimeError:  # (a tree from before issue 18)
                recovered, recovery = None, None
            rows: list[Any] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                sql = f"SELECT status FROM runs WHERE job_id = '{job['id']}'"
                rows = read(db, sql) if disk == "pages" else read_in(pid, db, sql)
                if rows and rows[0][0] != "running":
                    break
                time.sleep(0.2)
            agent_runs = len(ran.read_text().split())
        finally:
            code = daemon.stop()
    return {
        "disk": disk,
        "seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 3),
        "cpu_percent": round(100 * cpu / wall, 2),
        "log_lines": len(lines),
        "lines_per_minute": round(len(lines) * 60 / wall, 2),
        "lines": [f"{line.get('event')}: {str(line.get('msg'))[:120]}" for line in lines],
        "fault_line": fault.get("msg"),
        "store_errors_total": errors,
        "health_status": health.get("status") if isinstance(health, dict) else None,
        "store_fault": health.get("store_fault") if isinstance(health, dict) else None,
        "recovery_seconds": round(recovery, 2) if recovery is not None else None,
        "recovered_line": recovered.get("msg") if recovered else None,
        "finished_run": [r[0] for r in rows],
        "agent_runs": agent_runs,
        "exit": code,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120, help="how long the fault lasts")
    parser.add_argument("--disk", choices=("pages", "tmpfs"), default="pages")
    args = parser.parse_args()
    if args.disk == "tmpfs" and not (shutil.which("unshare") and shutil.which("nsenter")):
        sys.exit("--disk tmpfs needs util-linux's unshare and nsenter")
    print(f"source tree: {source_tree()}; a store fault of {args.seconds:g}s on --disk {args.disk}")
    result = run(args.seconds, args.disk)
    report = Report()
    report.sections["fault"] = result
    report.targets = [
        Target("CPU during a store fault", result["cpu_percent"], 5, "% of a core"),
        Target("log lines during a store fault", result["lines_per_minute"], 10, "per minute"),
    ]
    rows = [
        ("fault lasted", f"{result['seconds']} s"),
        ("CPU", f"{result['cpu_seconds']} s ({result['cpu_percent']} % of a core)"),
        ("log lines", f"{result['log_lines']} ({result['lines_per_minute']} a minute)"),
        ("store errors counted", f"{result['store_errors_total']:g}"),
        ("health", f"{result['health_status']}: {result['store_fault']}"),
        ("recovered after space returned", f"{result['recovery_seconds']} s"),
        ("the finished run", f"{result['finished_run']}, its agent ran {result['agent_runs']}x"),
        ("daemon exit", str(result["exit"])),
    ]
    print_table("store fault", rows, ("figure", "value"))
    print("\nlog lines during the fault:")
    for line in result["lines"]:
        print("  " + line)
    print_targets(report.targets)
    path = save_results("faults", report.to_dict())
    print(f"\nsaved {path}")


if __name__ == "__main__":
    main()
