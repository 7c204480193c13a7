"""The guide's command lines down both paths, as real processes: with a `symbi-tui --daemon`
holding the store (commands go through its HTTP API) and without one (commands open the store,
and `cron run` runs in the `symbi` process). The output is the same either way.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.keys import WRONG_KEY
from tests.test_cli_symbi import Cli, make_cli

GATED = (
    '{"name": "production-deploy", "agent_id": "deploy-agent", "cron_expr": "0 0 1 1 *", '
    '"policy": {"require_approval": true, "approvers": ["alice"]}}'
)


@contextlib.contextmanager
def daemon(cli: Cli) -> Iterator[str]:
    """``symbi-tui --daemon`` on ``cli``'s configuration; yields its API address."""
    log_path = cli.home / "daemon.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "symbi_tui", "--daemon"],
            env=cli.env(),
            cwd=cli.home,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield _wait_for_api(cli, proc, log_path)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, log_path.read_text()


def _wait_for_api(cli: Cli, proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the daemon exited: {log.read_text()}")
        address = _lease_address(cli.db)
        if address:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{address}/api/v1/health/scheduler", timeout=1).status_code == 200:
                    return address
        time.sleep(0.05)
    raise AssertionError(f"the daemon did not start: {log.read_text()}")


def _lease_address(db: Path) -> str | None:
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=1)) as conn:
            row = conn.execute("SELECT api_address FROM lease").fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def _actors(db: Path, kind: str) -> list[str]:
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        rows = conn.execute("SELECT actor FROM audit_events WHERE type = ?", (kind,)).fetchall()
    return [r[0] for r in rows]


def _run_status(db: Path, run_id: str) -> str | None:
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        row = conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
    return row[0] if row else None


def _wait_status(db: Path, run_id: str, status: str) -> None:
    deadline = time.monotonic() + 20
    while _run_status(db, run_id) != status:
        assert time.monotonic() < deadline, f"run {run_id} never became {status}"
        time.sleep(0.05)


_NORMALIZE = [
    (re.compile(r"\b[0-9a-f]{32}\b"), "<id>"),
    (re.compile(r"\b[0-9a-f]{12}\b"), "<id>"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?Z?"), "<time>"),
    (re.compile(r"(<time>,<time>,<time>,)\d+"), r"\1<ms>"),
    (re.compile(r'"execution_time_ms": \d+'), '"execution_time_ms": <ms>'),
    (re.compile(r"\b\d+(\.\d)? (ms|s)\b"), "<duration>"),
    (re.compile(r"\(in [^)]*\)"), "(in <countdown>)"),
    (re.compile(r'"source": "[^"]*"'), '"source": "<source>"'),
    (re.compile(r"^source .*$", re.MULTILINE), "source <source>"),
    (re.compile(r" +"), " "),
]


def _normalize(text: str) -> str:
    for pattern, replacement in _NORMALIZE:
        text = pattern.sub(replacement, text)
    return text


def guide_session(cli: Cli) -> list[str]:
    """The guide's `symbi cron ...` and `symbi audit query` lines, checked as they run; returns
    the transcript (exit codes and output, ids and instants normalized)."""
    transcript: list[str] = []
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()

    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        out = cli(*args)
        assert out.returncode == code, (args, out.stdout, out.stderr)
        transcript.append(f"$ symbi {' '.join(args)}\n[{out.returncode}]\n{out.stdout}")
        return out

    out = run("cron", "add", "--file", "agent.symbi", "--schedule", "daily-report")
    assert out.stdout == "created daily-report\n"
    quick = '{"name": "quick-task", "agent_id": "echo-agent", "cron_expr": "0 9 1 1 *"}'
    assert run("cron", "add", "--json", quick).stdout.startswith("created quick-task (")
    flaky = (
        '{"name": "flaky-job", "agent_id": "unreliable-agent", "cron_expr": "0 9 1 1 *", '
        '"max_retries": 1}'
    )
    run("cron", "add", "--json", flaky)
    table = run("cron", "list").stdout
    assert table.splitlines()[0].split() == [
        "ID", "NAME", "AGENT", "SCHEDULE", "STATUS", "NEXT", "RUN", "(UTC)", "LAST", "RUN",
    ]  # fmt: skip
    assert [line.split()[1] for line in table.splitlines()[1:]] == [
        "daily-report",
        "flaky-job",
        "quick-task",
    ]
    assert "● active" in table
    by_agent = run("cron", "list", "--agent", "reporter-agent", "--format", "json").stdout
    assert [j["name"] for j in json.loads(by_agent)] == ["daily-report"]
    assert run("cron", "pause", "quick-task").stdout == "paused quick-task: paused\n"
    paused = run("cron", "list", "--status", "paused").stdout
    assert "quick-task" in paused and "‖ paused" in paused and "daily-report" not in paused
    assert run("cron", "resume", "quick-task").stdout.startswith("resumed quick-task: active")
    status = run("cron", "status", "daily-report", "--history", "10").stdout
    assert "daily-report  ● active" in status and "max runtime 5m  (inline)" in status
    assert "0 9 1 1 *  (UTC): At 09:00 on January 1" in status and "No runs." in status

    out = run("cron", "run", "quick-task", "--input", "Check production database", "--wait")
    lines = out.stdout.splitlines()
    assert lines[1].startswith("✔ succeeded  quick-task  attempt 1")
    assert lines[2] == "echo: Check production database"
    history = run("cron", "history", "quick-task", "--limit", "20").stdout
    assert "✔ succeeded" in history and "echo: Check production database" in history

    failed = run("cron", "run", "flaky-job", "--wait", code=1)
    assert failed.stdout.splitlines()[1].startswith("✖ failed  flaky-job  attempt 1")
    assert "exit code 2: upstream returned 503" in failed.stderr
    assert "flaky-job is now dead_letter" in failed.stderr
    dead = run("cron", "list", "--status", "dead_letter").stdout
    assert "flaky-job" in dead and "✖ dead_letter" in dead
    rows = run("cron", "history", "flaky-job", "--status", "failed", "--format", "csv").stdout
    assert len(rows.splitlines()) == 2 and ",failed,manual,1," in rows
    assert run("cron", "reset", "flaky-job").stdout.startswith("reset flaky-job: active")
    audit = run(
        "audit", "query", "--type", "CronJobFailed", "--since", yesterday, "--limit", "50"
    ).stdout
    assert "CronJobFailed" in audit and "flaky-job" in audit and "upstream returned" in audit

    removed = run("cron", "remove", "--name", "daily-report", "--force").stdout
    assert removed.startswith("removed daily-report (")
    wrong = run("cron", "status", "quick-tsak", code=1)
    assert wrong.stderr == (
        "symbi: error: No job by the id or name of 'quick-tsak' was found "
        "(did you mean 'quick-task'?)\n"
    )
    assert len(run("cron", "run", "quick-task").stdout.strip()) == 32
    return [_normalize(entry) for entry in transcript]


def approval_session(cli: Cli) -> None:
    """`cron run --wait` on a job that needs approval; another `symbi` approves, then denies."""
    cli.ok("cron", "add", "--json", GATED)
    waiting = cli.popen("cron", "run", "production-deploy", "--wait")
    assert waiting.stdout is not None
    run_id = waiting.stdout.readline().strip()
    _wait_status(cli.db, run_id, "awaiting_approval")
    pending = cli.ok("cron", "approvals")
    assert run_id[:12] in pending and "? awaiting_approval" in pending
    approved = cli.ok("cron", "approve", run_id[:12], "--reason", "change #42")
    assert approved == f"approved run {run_id} of production-deploy: queued\n"
    stdout, stderr = waiting.communicate(timeout=30)
    assert waiting.returncode == 0, stderr
    assert f"awaiting approval; waiting (symbi cron approve {run_id}" in stderr
    assert "✔ succeeded  production-deploy" in stdout and "deployed" in stdout

    second = cli("cron", "run", "production-deploy")
    assert second.returncode == 0, second.stderr
    other = second.stdout.strip()
    _wait_status(cli.db, other, "awaiting_approval")
    denied = cli.ok("cron", "deny", other, "--reason", "freeze week", "--format", "json")
    assert json.loads(denied)["status"] == "denied"
    history = cli.ok("cron", "history", "production-deploy", "--format", "csv")
    assert ",denied,manual," in history and ",succeeded,manual," in history


def _without_daemon(home: Path) -> tuple[list[str], Cli]:
    cli = make_cli(home)
    transcript = guide_session(cli)
    # the in-process run held the lease while it waited (a holder without an API): the
    # approval went through the store, and the waiting process saw it
    approval_session(cli)
    return transcript, cli


def _with_daemon(home: Path) -> tuple[list[str], Cli]:
    cli = make_cli(home)
    with daemon(cli) as address:
        assert address.startswith("http://127.0.0.1:")
        transcript = guide_session(cli)
        # (approvals through the API: tests/test_remote_backend.py)
        # --connect names the daemon; a refused key says so
        listed = json.loads(cli.ok("--connect", address, "cron", "list", "--format", "json"))
        assert [j["name"] for j in listed] == ["flaky-job", "quick-task"]
        stranger = Cli(cli.home, extra={"SYMBI_API_KEY": WRONG_KEY})
        refused = stranger("--connect", address, "cron", "list")
        assert refused.returncode == 1 and "refused the API key" in refused.stderr
        # found through the lease, a refused key falls back to the store, with a warning
        fallback = stranger("cron", "list", "--format", "json")
        assert fallback.returncode == 0 and "using the store" in fallback.stderr
        assert json.loads(fallback.stdout) == listed
    return transcript, cli


def test_the_guide_s_commands_give_the_same_output_with_and_without_a_daemon(
    tmp_path: Path,
) -> None:
    # the two machines are independent: run them side by side
    with ThreadPoolExecutor(2) as pool:
        alone = pool.submit(_without_daemon, tmp_path / "alone")
        served = pool.submit(_with_daemon, tmp_path / "served")
        (without, alone_cli), (with_daemon, served_cli) = alone.result(), served.result()
    assert with_daemon == without
    # alone, the CLI wrote to the store; served, the daemon did (the API key's id is the actor)
    assert _actors(alone_cli.db, "CronJobPaused") == ["cli"]
    (actor,) = _actors(served_cli.db, "CronJobPaused")
    assert actor == "local"  # the generated key's name
    assert _actors(alone_cli.db, "CronRunApproved") == ["cli"]
