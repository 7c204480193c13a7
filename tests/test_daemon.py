"""``symbi-tui --daemon`` as a real process: API, signals, lease standby and its log lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from scheduler_core.daemon import EventLogger, JsonFormatter, TextFormatter
from scheduler_core.events import AuditRecorded, RunChanged, SchedulerState
from scheduler_core.model import AuditEvent, AuditEventType, JobRun, RunStatus
from scheduler_core.store import open_store
from tests.keys import KEY

PY = json.dumps(sys.executable)
START_TIMEOUT = 30.0
DAEMON = (sys.executable, "-m", "symbi_tui", "--daemon")


def write_config(tmp: Path, *, host: str = "127.0.0.1", extra: str = "") -> Path:
    (tmp / "dsl").mkdir(exist_ok=True)
    path = tmp / "config.toml"
    path.write_text(
        f"""
data_dir = {json.dumps(str(tmp / "data"))}
dsl_paths = ["dsl"]
[scheduler]
shutdown_timeout_seconds = 0.5
lease_ttl_seconds = 2
idle_poll_seconds = 1
[store]
url = {json.dumps(str(tmp / "symbi.db"))}
[api]
host = {json.dumps(host)}
port = 0
[agents.echo]
command = [{PY}, "-c", "import sys; print('echo:', sys.stdin.read())"]
[agents.slow]
command = [{PY}, "-c", "import time; time.sleep(60)"]
{extra}
"""
    )
    return path


def dsl(tmp: Path, name: str, schedule: str, agent: str = "echo") -> None:
    (tmp / "dsl" / f"{name}.symbi").write_text(
        f'schedule {{\n  name: "{name}"\n  agent: "{agent}"\n  cron: "{schedule}"\n}}\n'
    )


def clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYMBI_")}
    env.update(XDG_CONFIG_HOME=str(tmp / "xdg"), XDG_DATA_HOME=str(tmp / "xdg"))
    return env


class Daemon:
    """A daemon subprocess whose JSON log lines are collected as they come."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [*DAEMON, "--config", str(config), "--log-format", "json"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=config.parent,
        )
        self.raw: list[str] = []
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.raw.append(line)
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                self.lines.append({"event": "raw", "msg": line})

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = START_TIMEOUT
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for line in self.lines[seen:]:
                if predicate(line):
                    return line
            seen = len(self.lines)
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError("no such log line; the log:\n" + "".join(self.raw))

    def event(self, name: str, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        return self.wait_for(lambda line: line.get("event") == name, timeout)

    @property
    def url(self) -> str:
        return str(self.event("api.listening")["url"])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def poll(fn: Callable[[], Any], timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting; last value {value!r}")
        time.sleep(0.05)


@pytest.mark.slow
def test_daemon_serves_the_guide_reloads_on_sighup_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    dsl(tmp_path, "from-dsl", "0 0 1 1 *")
    daemon = Daemon(config, clean_env(tmp_path))
    try:
        url = daemon.url
        key_file = tmp_path / "data" / "api-key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text().strip()
        anonymous = httpx.Client(base_url=url, timeout=10)
        c = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10)

        # without a key, health is the guide's fields: nothing of hosts, pids or addresses
        health = anonymous.get("/api/v1/health/scheduler").json()
        assert set(health) == {"status", "active_jobs", "paused_jobs", "in_flight_jobs", "metrics"}
        assert health["status"] == "healthy" and url.split("//")[1] not in json.dumps(health)
        health = c.get("/api/v1/health/scheduler").json()  # with any key: the detail
        assert (health["status"], health["role"], health["lease_address"]) == (
            "healthy",
            "leader",
            url,
        )
        assert health["nodes"][0]["pid"] == daemon.proc.pid
        assert anonymous.get("/api/v1/schedule").status_code == 401
        assert c.get("/api/v1/schedule/from-dsl").status_code == 200  # loaded at start

        # the guide's curl calls
        created = c.post(
            "/api/v1/schedule",
            json={
                "name": "hourly-report",
                "agent_id": "echo",
                "cron_expr": "0 * * * *",
                "session_mode": "ephemeral_with_summary",
                "delivery": ["stdout"],
            },
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        listed = c.get("/api/v1/schedule?status=active&agent_id=echo").json()
        assert {j["name"] for j in listed} == {"hourly-report", "from-dsl"}
        assert c.get(f"/api/v1/schedule/{job_id}").json()["name"] == "hourly-report"
        put = c.put(f"/api/v1/schedule/{job_id}", json={"cron_expr": "0 */2 * * *"})
        assert put.json()["cron_expr"] == "0 */2 * * *"
        assert c.post(f"/api/v1/schedule/{job_id}/pause").json()["status"] == "paused"
        assert c.post(f"/api/v1/schedule/{job_id}/resume").json()["status"] == "active"
        run = c.post(f"/api/v1/schedule/{job_id}/run", json={"input": "Run with custom input"})
        assert run.status_code == 202

        def finished() -> dict[str, Any] | None:
            runs = c.get(f"/api/v1/schedule/{job_id}/history?limit=20").json()
            return runs[0] if runs and runs[0]["status"] == "succeeded" else None

        done = poll(finished)
        assert done["output"].strip() == "echo: Run with custom input"
        assert c.get(f"/api/v1/schedule/{job_id}/history?limit=20&status=failed").json() == []
        assert c.get(f"/api/v1/schedule/{job_id}/next_run").json()["next_run"]
        assert c.delete(f"/api/v1/schedule/{job_id}").json()["deleted"] is True

        # SIGHUP reloads the DSL files; a broken file leaves the loaded schedules as they are
        dsl(tmp_path, "added-by-hup", "0 6 * * *")
        daemon.proc.send_signal(signal.SIGHUP)
        poll(lambda: c.get("/api/v1/schedule/added-by-hup").status_code == 200)
        daemon.event("dsl.reloaded")
        (tmp_path / "dsl" / "broken.symbi").write_text('schedule {\n  name: "x"\n  crn: 1\n}\n')
        daemon.proc.send_signal(signal.SIGHUP)
        failed = daemon.event("dsl.reload_failed")
        assert "broken.symbi:1:1:" in failed["msg"] and "unchanged" in failed["msg"]
        assert c.get("/api/v1/schedule/added-by-hup").status_code == 200

        # SIGTERM with a run in flight: exit 0, the run recorded interrupted
        slow = c.post(
            "/api/v1/schedule",
            json={"name": "slow-job", "agent_id": "slow", "cron_expr": "@yearly"},
        )
        assert slow.status_code == 201
        slow_run = c.post("/api/v1/schedule/slow-job/run").json()["id"]
        poll(lambda: c.get(f"/api/v1/runs/{slow_run}").json()["status"] == "running")
        assert daemon.stop(signal.SIGTERM) == 0
    finally:
        daemon.kill()

    async def final_status() -> str:
        store = await open_store(str(tmp_path / "symbi.db"))
        try:
            got = await store.get_run(slow_run)
            assert got is not None
            return got.status.value
        finally:
            await store.close()

    assert asyncio.run(final_status()) == "interrupted"
    events = [line.get("event") for line in daemon.lines]
    for name in (
        "scheduler.leader",
        "dsl.loaded",
        "audit.CronJobCreated",
        "run.succeeded",
        "run.interrupted",
        "daemon.stopping",
        "daemon.stopped",
    ):
        assert name in events, name
    log = "".join(daemon.raw)
    assert key not in log and str(key_file) in log  # where the key is, never the key
    assert daemon.lines[-1]["event"] == "daemon.stopped"


@pytest.mark.slow
def test_second_daemon_stands_by_and_takes_over_after_kill_9(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    env = {**clean_env(tmp_path), "SYMBI_API_KEY": KEY}
    first = Daemon(config, env)
    second: Daemon | None = None
    try:
        first.event("scheduler.leader")
        first_url = first.url
        second = Daemon(config, env)
        standby = second.event("scheduler.standby")
        assert "lease" in standby["msg"] and first_url in standby["detail"]
        second_url = second.url
        auth = {"Authorization": f"Bearer {KEY}"}
        health = httpx.get(f"{second_url}/api/v1/health/scheduler", headers=auth, timeout=10)
        health = health.json()
        assert (health["role"], health["lease_address"]) == ("standby", first_url)
        # the standby serves the API too; its writes reach the leader through the store
        created = httpx.post(
            f"{second_url}/api/v1/schedule",
            json={"name": "via-standby", "agent_id": "echo", "cron_expr": "0 0 1 1 *"},
            headers=auth,
            timeout=10,
        )
        assert created.status_code == 201

        first.proc.kill()  # kill -9: no release of the lease
        first.proc.wait(10)
        took = time.monotonic()
        second.wait_for(lambda line: line.get("event") == "scheduler.leader", timeout=15)
        assert time.monotonic() - took < 10
        health = httpx.get(f"{second_url}/api/v1/health/scheduler", headers=auth, timeout=10)
        assert (health.json()["role"], health.json()["lease_address"]) == ("leader", second_url)
        run = httpx.post(
            f"{second_url}/api/v1/schedule/via-standby/run", headers=auth, timeout=10
        ).json()

        def ran() -> bool:
            got = httpx.get(f"{second_url}/api/v1/runs/{run['id']}", headers=auth, timeout=10)
            return got.json()["status"] == "succeeded"

        poll(ran)
        assert second.stop() == 0
    finally:
        first.kill()
        if second is not None:
            second.kill()


def test_daemon_refuses_bad_setups_without_loading_textual(tmp_path: Path) -> None:
    exposed = tmp_path / "exposed"
    exposed.mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    write_config(exposed, host="0.0.0.0")
    write_config(broken)
    (broken / "dsl" / "bad.symbi").write_text('schedule {\n  name: "x"\n  agent: "echo"\n}\n')
    configs = [str(d / "config.toml") for d in (exposed, broken)]
    script = (
        "import sys\n"
        "from symbi_tui.cli.main import main\n"
        f"codes = [main(['--daemon', '--config', c]) for c in {configs!r}]\n"
        "print(codes, 'textual' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        timeout=60,
    )
    assert out.stdout.strip() == "[2, 2] False", out.stdout + out.stderr
    assert "not a loopback address" in out.stderr and "SYMBI_API_KEY" in out.stderr
    assert "bad.symbi:1:1:" in out.stderr and "cron" in out.stderr
    assert not (exposed / "data" / "api-key").exists()


# --- log lines ------------------------------------------------------------------------------------


def capture(formatter: logging.Formatter) -> tuple[EventLogger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test.events.{id(stream)}")
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return EventLogger(logger), stream


def test_only_events_the_log_missed_are_a_warning() -> None:
    """Dropped(0) is another process's write (a standby sees one per lease renewal): it was
    logged as "event log fell behind" about every second."""
    from scheduler_core.events import Dropped

    sink, stream = capture(JsonFormatter())
    for _ in range(5):
        sink(Dropped(0))
    assert stream.getvalue() == ""
    sink(Dropped(7))
    (line,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert (line["event"], line["level"], line["count"]) == ("log.dropped", "warning", 7)


def test_event_log_lines_are_structured_and_mask_secrets() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    run = JobRun(
        id="r1",
        job_id="j1",
        job_name="nightly backup",
        agent_id="backup",
        scheduled_for=at,
        status=RunStatus.FAILED,
        execution_time_ms=12,
        error_message="exit 2: disk full",
    )
    audit = AuditEvent(
        at=at,
        type=AuditEventType.CRON_JOB_UPDATED,
        actor="api:1a2b3c4d",
        job_id="j1",
        details={"job_name": "nightly backup", "fields": ["cron"], "api_token": "xoxb-secret"},
    )
    sink, stream = capture(JsonFormatter())
    sink(RunChanged(run))
    sink(AuditRecorded(audit))
    for _ in range(3):
        sink(SchedulerState("standby", "other:1 (http://127.0.0.1:8080)"))
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3  # the standby state is logged once
    assert lines[0]["event"] == "run.failed" and lines[0]["level"] == "warning"
    assert (lines[0]["job"], lines[0]["duration_ms"], lines[0]["error"]) == (
        "nightly backup",
        12,
        "exit 2: disk full",
    )
    assert lines[1]["event"] == "audit.CronJobUpdated" and lines[1]["actor"] == "api:1a2b3c4d"
    assert lines[1]["details"] == {"fields": ["cron"], "api_token": "****"}
    assert lines[2]["event"] == "scheduler.standby"
    assert "xoxb-secret" not in stream.getvalue()

    text_sink, text = capture(TextFormatter())
    text_sink(RunChanged(run))
    line = text.getvalue().strip()
    assert " event=run.failed " in line and ' job="nightly backup" ' in line
    assert line.startswith("time=2") and line.endswith('msg="run failed"')
