"""The `symbi` entry point, run for real in subprocesses against a SQLite file."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

GUIDE = Path(__file__).parent / "dsl_cases" / "guide"
#: bytecode of the many short `symbi` processes, cached outside the source tree
PYCACHE = str(Path(tempfile.gettempdir()) / "symbi-pycache")


def symbi(*args: str, db: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYMBI_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", PYCACHE)
    env.update(SYMBI_DB=str(db), XDG_CONFIG_HOME=str(cwd / "xdg"), XDG_DATA_HOME=str(cwd / "xdg"))
    return subprocess.run(
        [sys.executable, "-m", "symbi_tui.cli.symbi", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "symbi.db"


def test_validate_ok_and_errors(tmp_path: Path, db: Path) -> None:
    ok = symbi("cron", "validate", str(GUIDE / "01_daily_report.symbi"), db=db, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout and "1 schedule" in ok.stdout
    bad = tmp_path / "bad.symbi"
    bad.write_text('schedule {\n  name: "x"\n  agent: "a"\n  crn: "0 9 * * *"\n}\n')
    out = symbi("cron", "validate", str(bad), db=db, cwd=tmp_path)
    assert out.returncode == 1
    assert f"{bad}:4:3:" in out.stderr and "did you mean 'cron'" in out.stderr


def test_add_from_dsl_twice_updates_and_keeps_history(tmp_path: Path, db: Path) -> None:
    source = tmp_path / "agent.symbi"
    source.write_text((GUIDE / "01_daily_report.symbi").read_text())
    first = symbi(
        "cron", "add", "--file", str(source), "--schedule", "daily-report", db=db, cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert "created daily-report" in first.stdout
    again = symbi("cron", "add", "--file", str(source), db=db, cwd=tmp_path)
    assert "unchanged daily-report" in again.stdout
    source.write_text(source.read_text().replace('"0 9 * * *"', '"0 10 * * *"'))
    changed = symbi("cron", "add", "--file", str(source), db=db, cwd=tmp_path)
    assert "updated daily-report" in changed.stdout
    listed = json.loads(symbi("cron", "list", "--format", "json", db=db, cwd=tmp_path).stdout)
    assert [(j["name"], j["cron_expr"]) for j in listed] == [("daily-report", "0 10 * * *")]


def test_add_json_with_guide_keys_and_bad_json(tmp_path: Path, db: Path) -> None:
    body = '{"name": "quick-task", "agent_id": "agent-123", "cron_expr": "0 * * * *"}'
    out = symbi("cron", "add", "--json", body, db=db, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    table = symbi("cron", "list", "--status", "active", db=db, cwd=tmp_path).stdout
    assert "quick-task" in table and "agent-123" in table
    bad = symbi(
        "cron",
        "add",
        "--json",
        '{"name": "x", "agent_id": "a", "cron_expr": "61 * * * *"}',
        db=db,
        cwd=tmp_path,
    )
    assert bad.returncode == 1 and "cron_expr" in bad.stderr and "minute" in bad.stderr


def test_next_prints_instants_and_reading(tmp_path: Path, db: Path) -> None:
    out = symbi(
        "cron",
        "next",
        "30 2 * * *",
        "--tz",
        "America/New_York",
        "--after",
        "2026-03-07T12:00:00Z",
        "--count",
        "2",
        "--format",
        "json",
        db=db,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["next"] == ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"]
    assert data["description"]
    bad = symbi("cron", "next", "* * * * 8", db=db, cwd=tmp_path)
    assert bad.returncode == 1 and "day-of-week value 8" in bad.stderr


def test_config_set_show_validate(tmp_path: Path, db: Path) -> None:
    cfg = tmp_path / "symbi.toml"
    cfg.write_text(
        "# my settings\n[scheduler]\n# spread starts\nmax_jitter_seconds = 30\n"
        '[scheduler.delivery]\nsmtp_password = "hunter2"\n'
    )
    out = symbi(
        "--config",
        str(cfg),
        "config",
        "set",
        "scheduler.max_concurrent_jobs",
        "20",
        db=db,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    text = cfg.read_text()
    assert "# spread starts" in text and "max_concurrent_jobs = 20" in text
    shown = symbi("--config", str(cfg), "config", "show", db=db, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "max_concurrent_jobs = 20" in shown.stdout and "hunter2" not in shown.stdout
    bad = symbi(
        "--config", str(cfg), "config", "set", "scheduler.max_jiter", "5", db=db, cwd=tmp_path
    )
    assert bad.returncode == 1 and "max_jitter_seconds" in bad.stderr
    assert cfg.read_text() == text  # nothing lost on a refused edit
    ok = symbi("--config", str(cfg), "config", "validate", db=db, cwd=tmp_path)
    assert ok.returncode == 0 and "OK" in ok.stdout


# --- a configured machine: agents, a data directory, a store ---------------------------------

AGENTS_TOML = """
[agents.reporter-agent]
command = ["sh", "-c", "printf 'report: '; cat"]
[agents.echo-agent]
command = ["sh", "-c", "printf 'echo: '; cat"]
[agents.unreliable-agent]
command = ["sh", "-c", "echo 'upstream returned 503' >&2; exit 2"]
[agents.deploy-agent]
command = ["sh", "-c", "echo deployed"]
[agents.csv-agent]
command = ["sh", "-c", "printf 'a,b \\"quoted\\"\\nsecond line'"]
"""

AGENT_FILE = """\
schedule {
  name: "daily-report"
  agent: "reporter-agent"
  cron: "0 9 1 1 *"
  session_mode: "ephemeral_with_summary"
  policy {
    require_approval: false
    max_runtime: "5m"
  }
}
schedule {
  name: "weekly-digest"
  agent: "reporter-agent"
  cron: "0 9 1 1 *"
}
"""


@dataclass
class Cli:
    """Runs the real ``symbi`` entry point in a subprocess against one configured machine."""

    home: Path
    extra: dict[str, str] = field(default_factory=dict)  #: more environment

    @property
    def config(self) -> Path:
        return self.home / "config.toml"

    @property
    def db(self) -> Path:
        return self.home / "symbi.db"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SYMBI_", "COLUMNS"))}
        # bytecode cached outside the tree, so each of the many short processes starts faster
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.setdefault("PYTHONPYCACHEPREFIX", PYCACHE)
        env.update(
            SYMBI_CONFIG=str(self.config),
            XDG_CONFIG_HOME=str(self.home / "xdg"),
            XDG_DATA_HOME=str(self.home / "xdg"),
            NO_COLOR="1",
        )
        env.update(self.extra)
        return env

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "symbi_tui.cli.symbi", *args]

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=self.home,
            timeout=60,
            input=stdin if stdin is not None else "",
        )

    def ok(self, *args: str) -> str:
        out = self(*args)
        assert out.returncode == 0, (args, out.stdout, out.stderr)
        return out.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--format", "json"))

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.Popen(
            self.argv(*args), text=True, env=self.env(), cwd=self.home, **kwargs
        )


def make_cli(home: Path, *, api: str = "port = 0") -> Cli:
    home.mkdir(parents=True, exist_ok=True)
    cli = Cli(home)
    cli.config.write_text(
        f'data_dir = "{home / "data"}"\n'
        f'[store]\nurl = "{cli.db}"\n'
        f"[api]\n{api}\n"
        "[scheduler]\nshutdown_timeout_seconds = 2\nretry_backoff_seconds = 3600\n" + AGENTS_TOML
    )
    (home / "agent.symbi").write_text(AGENT_FILE)
    return cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return make_cli(tmp_path / "machine")


Result = tuple[int, str, str]


@pytest.fixture
def symbi_main(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    """``symbi`` called in this process (for details; the guide's lines run as processes)."""
    from symbi_tui.cli.symbi import main

    for key in [k for k in os.environ if k.startswith("SYMBI_")]:
        monkeypatch.delenv(key)
    for key, value in cli.env().items():
        if key.startswith(("SYMBI_", "XDG_", "NO_COLOR")):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(cli.home)

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def test_run_here_runs_only_that_run(cli: Cli) -> None:
    """No daemon: `cron run` executes in this process and fires nothing else that is due."""
    cli.ok(
        "cron",
        "add",
        "--json",
        '{"name": "quick-task", "agent_id": "echo-agent", "cron_expr": "0 9 1 1 *"}',
    )
    cli.ok(
        "cron",
        "add",
        "--json",
        '{"name": "other", "agent_id": "echo-agent", "cron_expr": "* * * * *"}',
    )
    with sqlite3.connect(cli.db) as conn:  # make `other` overdue
        conn.execute(
            "UPDATE jobs SET next_run_at = '2020-01-01T00:00:00.000000Z' WHERE name = 'other'"
        )
    out = cli("cron", "run", "quick-task", "--input", "Check production database", "--wait")
    assert out.returncode == 0, out.stderr
    run_id, status, text = out.stdout.splitlines()
    assert len(run_id) == 32 and status.startswith("✔ succeeded  quick-task  attempt 1")
    assert text == "echo: Check production database"
    assert "running quick-task in this process" in out.stderr
    assert cli.json("cron", "history", "other") == []
    (other,) = [j for j in cli.json("cron", "list") if j["name"] == "other"]
    assert other["next_run_at"] == "2020-01-01T00:00:00.000000Z"  # still due, not fired
    # without --wait: the run id, and the run has happened when the command returns
    quiet = cli("cron", "run", "quick-task")
    assert quiet.returncode == 0 and len(quiet.stdout.strip()) == 32
    (last, first) = cli.json("cron", "history", "quick-task")
    assert last["id"] == quiet.stdout.strip() and last["status"] == "succeeded"
    assert last["input"] is None and first["input"] == "Check production database"
    # the lease was released: nobody holds the store
    with sqlite3.connect(cli.db) as conn:
        assert conn.execute("SELECT count(*) FROM lease").fetchone()[0] == 0


def test_remove_confirms_on_a_terminal_and_refuses_without_one(cli: Cli) -> None:
    cli.ok("cron", "add", "--file", "agent.symbi")
    refused = cli("cron", "remove", "daily-report")
    assert refused.returncode == 2
    assert "stdin is not a terminal (add --force)" in refused.stderr
    for answer, code in (("n\n", 1), ("y\n", 0)):
        primary, secondary = os.openpty()
        try:
            proc = cli.popen("cron", "remove", "--name", "daily-report", stdin=secondary)
            os.write(primary, answer.encode())
            stdout, stderr = proc.communicate(timeout=30)
        finally:
            os.close(primary)
            os.close(secondary)
        assert proc.returncode == code, stderr
        assert "Remove job 'daily-report'" in stderr
    assert "removed daily-report" in stdout
    names = [j["name"] for j in cli.json("cron", "list")]
    assert names == ["weekly-digest"]
    by_name = cli("cron", "remove", "--name", "weekly-digst", "--force")
    assert by_name.returncode == 1 and "did you mean 'weekly-digest'?" in by_name.stderr


def test_usage_errors_exit_2(symbi_main: Callable[..., Result]) -> None:
    for args, words in (
        (("cron", "remove"), "give a JOB or --name NAME"),
        (("cron", "list", "--status", "sleeping"), "invalid choice: 'sleeping'"),
        (("cron", "history", "x", "--limit", "0"), "not between 1 and 10000"),
        (("audit", "query", "--type", "CronJobFaild"), "did you mean 'CronJobFailed'?"),
        (("audit", "query", "--since", "yesterday"), "not an ISO 8601 date"),
        (("cron", "status", "x", "--watch", "--format", "json"), "--watch shows a table"),
    ):
        code, out, err = symbi_main(*args)
        assert code == 2, (args, err)
        assert words in err and out == ""


def test_status_watch_redraws_until_ctrl_c(cli: Cli) -> None:
    cli.ok("cron", "add", "--file", "agent.symbi", "--schedule", "daily-report")
    proc = cli.popen("cron", "status", "daily-report", "--watch", "--interval", "0.1")
    frames = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        frames += "Ctrl-C to stop" in line
        if frames == 2:
            break
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert frames == 2


def test_history_csv_is_rfc_4180_and_json_is_the_api_shape(
    symbi_main: Callable[..., Result],
) -> None:
    def ok(*args: str) -> str:
        code, out, err = symbi_main(*args)
        assert code == 0, (args, err)
        return out

    body = '{"name": "csv-job", "agent_id": "csv-agent", "cron_expr": "0 9 1 1 *"}'
    ok("cron", "add", "--json", body)
    ok("cron", "run", "csv-job", "--wait")
    raw = ok("cron", "history", "csv-job", "--format", "csv")
    assert raw.endswith("\r\n") and raw.count("\r\n") == 2  # header, one record
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    assert rows[0][:6] == ["id", "job_id", "job_name", "agent_id", "status", "trigger"]
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["output"] == 'a,b "quoted"\nsecond line' and record["status"] == "succeeded"
    (run,) = json.loads(ok("cron", "history", "csv-job", "--format", "json"))
    assert list(run) == [
        "id", "job_id", "job_name", "agent_id", "trigger", "status", "attempt",
        "scheduled_for", "due_at", "started_at", "finished_at", "execution_time_ms",
        "input", "output", "summary", "error_message", "tokens", "cost_usd", "details",
    ]  # fmt: skip
    assert run["tokens"] is None and run["cost_usd"] is None  # (not an LLM run)
    status = json.loads(ok("cron", "status", "csv-job", "--history", "5", "--format", "json"))
    assert list(status) == ["job", "next_runs", "history", "effective_policy", "cost", "followers"]
    assert status["job"]["name"] == "csv-job" and status["history"][0]["id"] == run["id"]
    assert status["next_runs"][0] == status["job"]["next_run_at"]
    events = json.loads(
        ok("audit", "query", "--job", "csv-job", "--type", "CronJobExecuted", "--format", "json")
    )
    assert [e["type"] for e in events] == ["CronJobExecuted"]
    assert list(events[0]) == ["id", "at", "type", "actor", "job_id", "run_id", "details"]
    audit_csv = ok("audit", "query", "--job", "csv-job", "--format", "csv")
    types = {r["type"] for r in csv.DictReader(io.StringIO(audit_csv, newline=""))}
    assert types >= {"CronJobCreated", "CronJobTriggered", "CronJobExecuted"}
    listed = ok("cron", "list", "--format", "csv")
    (job,) = csv.DictReader(io.StringIO(listed, newline=""))
    assert job["name"] == "csv-job" and job["last_run_status"] == "succeeded"
    table = ok("cron", "history", "csv-job")
    assert "✔ succeeded" in table and "manual" in table and "second line" in table
    assert all(line == line.rstrip() for line in table.splitlines())


def test_symbi_run_runs_an_agent_outside_the_scheduler(
    cli: Cli, symbi_main: Callable[..., Result]
) -> None:
    out = cli("run", "echo-agent", "--input", "test")  # the guide's troubleshooting line
    assert out.returncode == 0 and out.stdout == "echo: test\n"
    code, _, err = symbi_main("run", "unreliable-agent", "--input", "test")
    assert code == 1
    assert "agent 'unreliable-agent' failed: exit code 2: upstream returned 503" in err
    code, _, err = symbi_main("run", "echo-agnet", "--input", "test")
    assert code == 1 and "did you mean 'echo-agent'?" in err
    code, out_json, _ = symbi_main("run", "deploy-agent", "--format", "json")
    as_json = json.loads(out_json)
    assert as_json["status"] == "succeeded" and as_json["output"] == "deployed\n"
    more = cli.home / "more.symbi"
    more.write_text('agent extra { command: ["sh", "-c", "echo extra"] }\n')
    assert symbi_main("run", "extra", "--file", str(more))[:2] == (0, "extra\n")
    assert symbi_main("cron", "list", "--format", "json")[1] == "[]\n"  # nothing was stored


async def _made_together(db: Path) -> tuple[list[str], list[str]]:
    """Three jobs added, and three runs of one started, in one millisecond (ids from a fake
    clock): their ids share their first 12 characters, as those of jobs loaded from one file or
    runs started at one instant do."""
    from scheduler_core.clock import FakeClock
    from scheduler_core.config import SchedulerConfig
    from scheduler_core.engine import Engine
    from scheduler_core.runtime.base import CallableExecutor, RunContext
    from scheduler_core.store import open_store
    from tests.tui.demo_scene import stable_ids

    async def echo(ctx: RunContext) -> str:
        return "ok"

    clock = FakeClock("2026-03-02T08:59:30Z")
    engine = Engine(
        SchedulerConfig(),
        executor=CallableExecutor({"echo": echo}),
        clock=clock,
        store=await open_store(str(db)),
    )
    service = await engine.start()
    try:
        with stable_ids(clock):
            jobs = await service.add_jobs(
                [
                    {"name": f"job-{n}", "agent": "echo", "cron": "0 9 1 1 *", "max_concurrent": 3}
                    for n in range(3)
                ]
            )
            runs = [await service.run_now("job-0") for _ in range(3)]
        assert engine.scheduler is not None
        await engine.scheduler.wait_idle()
    finally:
        await engine.stop()
    return [job.id for job in jobs], [run.id for run in runs]


def _first_column(table: str, ids: list[str]) -> list[str]:
    """The first cell of each line of ``table`` that starts one of ``ids``."""
    cells = [line.split()[0] for line in table.splitlines() if line.strip()]
    return [cell for cell in cells if any(full.startswith(cell) for full in ids)]


def test_tables_show_ids_made_together_apart(tmp_path: Path, db: Path) -> None:
    import asyncio

    job_ids, run_ids = asyncio.run(_made_together(db))
    assert len({job_id[:12] for job_id in job_ids}) == 1  # what the tables showed: one id
    for args, ids in ((("cron", "list"), job_ids), (("cron", "history", "job-0"), run_ids)):
        out = symbi(*args, db=db, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        shown = _first_column(out.stdout, ids)
        assert len(shown) == 3 and len(set(shown)) == 3, (args, out.stdout)
        assert all(len(cell) > 12 for cell in shown)


def test_add_file_takes_a_directory_all_or_nothing(tmp_path: Path, db: Path) -> None:
    """``cron add --file DIR``: every ``.symbi`` file of it in one apply (how a million
    schedules are loaded: files of up to 1 MiB each); a mistake in one file is reported at its
    file, line and column, exit 1, and no file's schedules are stored."""
    folder = tmp_path / "schedules"
    folder.mkdir()
    for part, names in (("a", ("one", "two")), ("b", ("three",))):
        (folder / f"{part}.symbi").write_text(
            "".join(f'schedule {n} {{\n  agent: "x"\n  cron: "0 9 * * *"\n}}\n' for n in names)
        )
    bad = folder / "c.symbi"
    bad.write_text('schedule four {\n  agent: "x"\n  cron: "0 9 * *"\n}\n')
    refused = symbi("cron", "add", "--file", str(folder), db=db, cwd=tmp_path)
    assert refused.returncode == 1
    assert f"{bad}:3:9:" in refused.stderr, refused.stderr
    listed = symbi("cron", "list", "--format", "json", db=db, cwd=tmp_path)
    assert json.loads(listed.stdout or "[]") == []
    bad.unlink()
    added = symbi("cron", "add", "--file", str(folder), db=db, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert added.stdout.splitlines() == ["created one", "created two", "created three"]
