"""The daemon's log file and ``symbi logs``, through real daemons, the real CLI and the API.

The guide's troubleshooting line ``symbi logs --filter scheduler --level debug`` must work as
written: the daemon writes its log (text or JSON) to a private, rotated file under the data dir,
and ``symbi logs`` reads it here, or from a daemon's ``GET /api/v1/logs`` (``--connect``), with
``--follow`` across rotations. No line ever holds an API key.
"""

from __future__ import annotations

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

from .test_cli_daemon import daemon
from .test_cli_symbi import Cli, make_cli
from .test_daemon import Daemon, clean_env, poll, write_config

KEY = "symbi_logs-test-key-0123456789abcdef"
PY = json.dumps(sys.executable)


def _text_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("time=")]


def _field(line: str, key: str) -> str | None:
    for part in line.split(" "):
        if part.startswith(f"{key}="):
            return part[len(key) + 1 :]
    return None


class Follower:
    """``symbi ... logs --follow`` in a subprocess; its stdout lines collected as they come."""

    def __init__(self, cli: Cli, *args: str) -> None:
        self.proc = subprocess.Popen(
            cli.argv(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli.env(),
            cwd=cli.home,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(list(self.lines)):
            if self.proc.poll() is not None:
                raise AssertionError(f"the follower exited: {self.proc.stderr.read()}")  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "\n".join(self.lines[-20:])
            time.sleep(0.05)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(10)
        self._reader.join(5)
        return code


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = make_cli(tmp_path / "machine")
    cli.config.write_text(cli.config.read_text() + '[log]\nlevel = "debug"\n')
    return cli


# --- the file --------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_daemon_writes_a_private_rotated_log_file(tmp_path: Path) -> None:
    extra = '[log]\nlevel = "debug"\nmax_bytes = 4096\nbackup_count = 2\n'
    d = Daemon(write_config(tmp_path, extra=extra), clean_env(tmp_path))
    try:
        url = d.url
        log_file = tmp_path / "data" / "daemon.log"
        assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
        key = (tmp_path / "data" / "api-key").read_text().strip()
        c = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        created = c.post(
            "/api/v1/schedule",
            json={"name": "chatty", "agent_id": "echo", "cron_expr": "0 0 1 1 *"},
        )
        assert created.status_code == 201, created.text
        history = "/api/v1/schedule/chatty/history?status=succeeded&limit=50"
        for i in range(12):
            assert c.post("/api/v1/schedule/chatty/run", json={"input": f"n{i}"}).status_code == 202
            poll(lambda i=i: len(c.get(history).json()) > i)
        poll(lambda: (tmp_path / "data" / "daemon.log.2").exists())
        assert not (tmp_path / "data" / "daemon.log.3").exists()
        for name in ("daemon.log", "daemon.log.1", "daemon.log.2"):
            path = tmp_path / "data" / name
            assert path.stat().st_size <= 4096 + 1024, name
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        # the files have the stderr's lines (JSON here: --log-format json), the logger named
        texts = [(tmp_path / "data" / n).read_text() for n in ("daemon.log.2", "daemon.log.1")]
        lines = [json.loads(x) for x in "".join([*texts, log_file.read_text()]).splitlines()]
        assert all({"time", "level", "logger", "event", "msg"} <= set(x) for x in lines)
        assert any(x["event"] == "run.succeeded" and x["logger"] == "symbi.events" for x in lines)
        # [log] level = "debug": debug records reach the file
        assert any(x["level"] == "debug" and x["event"] == "job.state" for x in lines)
    finally:
        assert d.stop() == 0


def test_a_log_file_that_cannot_be_written_says_so_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk (/dev/full answers every write with ENOSPC): one line on stderr, not one
    traceback per record; one more when writing works again."""
    from scheduler_core.logfile import PrivateRotatingFileHandler, TextFormatter

    handler = PrivateRotatingFileHandler(tmp_path / "d.log", max_bytes=1 << 20, backup_count=1)
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("test-full-disk")
    logger.propagate = False
    logger.addHandler(handler)
    real_open = handler._open
    try:
        handler.stream.close()
        handler.stream = None  # type: ignore[assignment]
        monkeypatch.setattr(handler, "_open", lambda: open("/dev/full", "w"))  # noqa: SIM115
        for i in range(20):
            logger.warning("line %d", i)
        full = capsys.readouterr().err
        assert full.count("cannot write the log file") == 1, full
        assert "Traceback" not in full and "No space left" in full
        monkeypatch.setattr(handler, "_open", real_open)
        logger.warning("back")
        assert "can be written again" in capsys.readouterr().err
        assert "msg=back" in (tmp_path / "d.log").read_text()
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_two_daemons_writing_one_log_file_keep_its_lines_in_order(tmp_path: Path) -> None:
    """A standby daemon on the same data dir writes the same file: a rotation one of them makes
    is followed by the other (not made again over it), so reading the files oldest first gives
    every line once, in the order written."""
    from scheduler_core.logfile import PrivateRotatingFileHandler, TextFormatter

    path = tmp_path / "daemon.log"
    loggers = []
    for name in ("one", "two"):
        handler = PrivateRotatingFileHandler(path, max_bytes=2000, backup_count=100)
        handler.setFormatter(TextFormatter())
        logger = logging.getLogger(f"test-shared-log-{name}")
        logger.propagate = False
        logger.addHandler(handler)
        loggers.append(logger)
    try:
        for i in range(300):
            loggers[i % 2].warning("line %04d", i)
        files = sorted(tmp_path.glob("daemon.log.*"), key=lambda p: -int(p.suffix[1:]))
        text = "".join(p.read_text() for p in [*files, path])
        numbers = [int(x.rsplit("line ", 1)[1][:4]) for x in text.splitlines()]
        assert numbers == list(range(300))
        assert all(p.stat().st_size <= 2000 for p in [*files, path])
    finally:
        for logger in loggers:
            for h in list(logger.handlers):
                logger.removeHandler(h)
                h.close()


# --- symbi logs, here ------------------------------------------------------------------------


@pytest.mark.slow
def test_symbi_logs_reads_this_machines_log_file(cli: Cli) -> None:
    with daemon(cli):
        cli.ok(
            "cron",
            "add",
            "--json",
            '{"name": "ok-job", "agent_id": "echo-agent", "cron_expr": "0 9 1 1 *"}',
        )
        cli.ok(
            "cron",
            "add",
            "--json",
            '{"name": "bad-job", "agent_id": "unreliable-agent", '
            '"cron_expr": "0 9 1 1 *", "max_retries": 1}',
        )
        cli.ok("cron", "run", "ok-job", "--wait")
        cli("cron", "run", "bad-job", "--wait")

        # the guide's line, as written
        out = cli("logs", "--filter", "scheduler", "--level", "debug")
        assert out.returncode == 0, out.stderr
        lines = _text_lines(out.stdout)
        assert lines and any("took the store lease" in line for line in lines)
        for line in lines:
            logger, event = _field(line, "logger"), _field(line, "event")
            assert logger == "symbi.scheduler" or (event or "").startswith("scheduler."), line

        # debug records are there (the config says debug), and a level is a minimum
        everything = _text_lines(cli.ok("logs", "--level", "debug", "-n", "10000"))
        assert any(_field(line, "level") == "debug" for line in everything)
        warnings = _text_lines(cli.ok("logs", "--level", "warning"))
        assert warnings and all(_field(x, "level") in ("warning", "error") for x in warnings)
        assert any(_field(x, "event") == "run.failed" for x in warnings)
        # a component is also an event's first part
        runs = _text_lines(cli.ok("logs", "--filter", "run"))
        assert runs and all((_field(x, "event") or "").startswith("run.") for x in runs)
        assert len(_text_lines(cli.ok("logs", "-n", "2"))) == 2
        assert _text_lines(cli.ok("logs", "--since", "2999-01-01")) == []
        assert _text_lines(cli.ok("logs", "--since", "1h"))
        as_json = [json.loads(x) for x in cli.ok("logs", "--format", "json").splitlines()]
        assert as_json and {"time", "level", "logger", "event", "message", "text"} <= set(
            as_json[0]
        )

    # the daemon is gone: its log is still here to read
    after = _text_lines(cli.ok("logs", "--filter", "daemon"))
    assert _field(after[-1], "event") == "daemon.stopped"

    # bad values: a clear error, exit 2
    for args, words in (
        (("--level", "loud"), "--level: unknown level 'loud'"),
        (("--filter", "schedulr"), "did you mean 'scheduler'?"),
        (("--filter", "a b"), "--filter"),
        (("--since", "yesterdayish"), "--since"),
        (("-n", "0"), "-n/--lines"),
    ):
        bad = cli("logs", *args)
        assert bad.returncode == 2 and words in bad.stderr, (args, bad.stderr)


@pytest.mark.slow
def test_symbi_logs_follow_reads_on_across_rotations(cli: Cli) -> None:
    cli.config.write_text(cli.config.read_text() + "max_bytes = 4096\nbackup_count = 3\n")
    with daemon(cli):
        cli.ok(
            "cron",
            "add",
            "--json",
            '{"name": "ok-job", "agent_id": "echo-agent", "cron_expr": "0 9 1 1 *"}',
        )
        follower = Follower(cli, "logs", "--follow", "--filter", "run", "-n", "1")
        try:
            ids = [cli.ok("cron", "run", "ok-job", "--wait").splitlines()[0] for _ in range(10)]

            def all_seen(lines: list[str]) -> bool:
                done = [_field(x, "run") for x in lines if _field(x, "event") == "run.succeeded"]
                return all(i in done for i in ids)

            follower.wait_for(all_seen)
        finally:
            assert follower.stop() == 0
        data = cli.home / "data"
        assert (data / "daemon.log.1").exists(), "the log was rotated meanwhile"
        succeeded = [_field(x, "run") for x in follower.lines if "event=run.succeeded" in x]
        assert len(succeeded) == len(set(succeeded)), "a line was shown twice"


def test_symbi_logs_without_a_log_says_where_it_looked(cli: Cli) -> None:
    out = cli("logs")
    assert out.returncode == 1
    assert "no log file at" in out.stderr and "daemon.log" in out.stderr
    assert not cli.db.exists(), "looking for a log created no store"


# --- a daemon's log through its API ----------------------------------------------------------

LEAK = "import os, sys; print('token', os.environ['TOKEN'], file=sys.stderr); sys.exit(3)"
#: an agent that prints the API key it was given, and fails: its error goes into a log line
LEAKY_AGENT = f"""
[agents.leaky]
command = [{PY}, "-c", "{LEAK}"]
env = {{ TOKEN = "{KEY}" }}
"""


@pytest.mark.slow
def test_the_logs_api_filters_follows_and_never_shows_a_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra=LEAKY_AGENT)
    config.write_text(config.read_text().replace("port = 0\n", f'port = 0\napi_keys = ["{KEY}"]\n'))
    d = Daemon(config, clean_env(tmp_path))
    try:
        url = d.url
        c = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
        assert httpx.get(f"{url}/api/v1/logs", timeout=10).status_code == 401

        first = c.get("/api/v1/logs", params={"component": "scheduler", "level": "debug"})
        assert first.status_code == 200, first.text
        page = first.json()
        assert page["level"] == "info" and page["cursor"]
        assert any("took the store lease" in x["message"] for x in page["lines"])
        assert all(
            x["logger"] == "symbi.scheduler" or x["event"].startswith("scheduler.")
            for x in page["lines"]
        )
        for params, field in (
            ({"level": "loud"}, "level"),
            ({"component": "schedulr"}, "component"),
            ({"since": "whenever"}, "since"),
            ({"cursor": "nope"}, "cursor"),
            ({"limit": "0"}, "limit"),
        ):
            bad = c.get("/api/v1/logs", params=params)
            assert bad.status_code == 422 and bad.json()["field"] == field, (params, bad.text)

        # follow: the lines after the cursor, each once
        cursor = c.get("/api/v1/logs", params={"limit": 1}).json()["cursor"]
        created = c.post(
            "/api/v1/schedule",
            json={"name": "leak", "agent_id": "leaky", "cron_expr": "0 0 1 1 *", "max_retries": 0},
        )
        assert created.status_code == 201, created.text
        run_id = c.post("/api/v1/schedule/leak/run").json()["id"]
        seen: list[dict[str, Any]] = []

        def failed() -> bool:
            nonlocal cursor
            answer = c.get("/api/v1/logs", params={"cursor": cursor, "component": "run"}).json()
            seen.extend(answer["lines"])
            cursor = answer["cursor"]
            return any(
                x["event"] == "run.failed" and x["fields"].get("run") == run_id for x in seen
            )

        poll(failed)
        assert [x["event"] for x in seen].count("run.failed") == 1
        (line,) = [x for x in seen if x["event"] == "run.failed"]
        assert "****" in line["fields"]["error"] and KEY not in json.dumps(line)

        # the CLI through the API: --connect, and the note about the recorded level
        env = {
            **clean_env(tmp_path),
            "SYMBI_API_KEY": KEY,
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        }
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "symbi_tui.cli.symbi",
                "--connect",
                url,
                "logs",
                "--filter",
                "run",
                "--level",
                "debug",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            cwd=tmp_path,
        )
        assert out.returncode == 0, out.stderr
        assert run_id in out.stdout and '"event":"run.failed"' in out.stdout  # as written: JSON
        assert 'level = "debug"' in out.stderr  # the daemon records from info: say so
        assert KEY not in out.stdout + out.stderr
    finally:
        assert d.stop() == 0
    everything = "".join(p.read_text() for p in (tmp_path / "data").glob("daemon.log*"))
    assert "event" in everything and KEY not in everything
    assert "token ****" in everything


@pytest.mark.slow
def test_symbi_logs_follows_a_remote_daemon(cli: Cli) -> None:
    with daemon(cli) as url:
        follower = Follower(cli, "--connect", url, "logs", "--follow", "--filter", "run")
        try:
            cli.ok(
                "cron",
                "add",
                "--json",
                '{"name": "ok-job", "agent_id": "echo-agent", "cron_expr": "0 9 1 1 *"}',
            )
            run_id = cli.ok("cron", "run", "ok-job").strip()
            follower.wait_for(
                lambda lines: any(
                    f"run={run_id}" in x and "event=run.succeeded" in x for x in lines
                )
            )
        finally:
            assert follower.stop() == 0


def test_a_log_file_that_is_off_is_a_409(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra="[log]\nfile = false\n")
    d = Daemon(config, clean_env(tmp_path))
    try:
        url = d.url
        key = (tmp_path / "data" / "api-key").read_text().strip()
        answer = httpx.get(
            f"{url}/api/v1/logs", headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert answer.status_code == 409 and "[log] file = false" in answer.json()["error"]
        assert not (tmp_path / "data" / "daemon.log").exists()
    finally:
        assert d.stop() == 0


# --- the reader ------------------------------------------------------------------------------


def test_read_log_keeps_a_traceback_with_its_record(tmp_path: Path) -> None:
    from scheduler_core.logfile import LogQuery, read_log

    path = tmp_path / "daemon.log"
    path.write_text(
        "time=2026-03-02T09:00:00.000Z level=error logger=symbi.scheduler event=symbi.scheduler "
        'msg="cycle failed"\nTraceback (most recent call last):\n  File "x", line 1\n'
        "OSError: disk full\n"
        "time=2026-03-02T09:00:01.000Z level=info logger=symbi.events event=run.succeeded "
        'run=r1 msg="run succeeded"\n'
        "time=2026-03-02T09:00:02.000Z level=info logger=symbi.events event=run.queued"  # torn
    )
    page = read_log(path, LogQuery(component="scheduler"))
    (line,) = page.lines
    assert line.level == "error" and line.message == "cycle failed"
    assert line.fields["exception"].endswith("OSError: disk full")
    assert line.text.count("\n") == 3
    both = read_log(path, LogQuery())
    assert [x.event for x in both.lines] == ["symbi.scheduler", "run.succeeded"]
    assert both.lines[1].fields == {"run": "r1"}
    # the torn last line is read once it is whole, after the cursor
    with path.open("a") as f:
        f.write(' msg="run queued"\n')
    after = read_log(path, LogQuery(), cursor=both.cursor)
    assert [x.event for x in after.lines] == ["run.queued"]
