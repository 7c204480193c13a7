"""The `symbi` entry point, run for real in subprocesses against a SQLite file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).parent / "dsl_cases" / "guide"


def symbi(*args: str, db: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYMBI_")}
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
