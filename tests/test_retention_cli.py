"""Retention as an operator meets it: ``symbi store stats|prune|vacuum`` run as real processes on
a real SQLite file, with and without a daemon holding it, the file giving its space back, and a
store made by an earlier version (no incremental vacuum) handled as its size allows.

History is written straight into the file with old timestamps, as months of running would have
left it; nothing waits on wall time.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scheduler_core.clock import format_instant
from scheduler_core.store.sqlite.schema import MIGRATIONS
from tests.test_cli_daemon import daemon
from tests.test_cli_symbi import AGENTS_TOML, Cli

RETENTION = """\
[store]
url = "{db}"
run_retention_days = 30
audit_retention_days = 60
keep_runs_per_job = 5
"""


def make_cli(home: Path, retention: str = RETENTION) -> Cli:
    home.mkdir(parents=True, exist_ok=True)
    cli = Cli(home)
    cli.config.write_text(
        f'data_dir = "{home / "data"}"\n'
        + retention.format(db=cli.db)
        + "[api]\nport = 0\n[scheduler]\nshutdown_timeout_seconds = 2\n"
        + AGENTS_TOML
    )
    return cli


def add_jobs(cli: Cli, *names: str) -> dict[str, str]:
    """Jobs that fire once a year (nothing of theirs runs during a test): name -> id."""
    ids = {}
    for name in names:
        body = json.dumps({"name": name, "agent_id": "echo-agent", "cron_expr": "0 9 1 1 *"})
        ids[name] = json.loads(cli.ok("cron", "add", "--json", body, "--format", "json"))["jobs"][
            0
        ]["id"]
    return ids


def write_history(db: Path, job_id: str, days: list[float], *, output: str = "ok") -> None:
    """Finished runs of a job, ``days`` ago each, oldest first, as a scheduler records them."""
    now = datetime.now(UTC)
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        for i, ago in enumerate(sorted(days, reverse=True)):
            at = format_instant(now - timedelta(days=ago))
            run_id = f"{job_id[:16]}{i:016x}"
            conn.execute(
                "INSERT INTO runs (id, job_id, job_name, agent_id, trigger, scheduled_for, "
                "due_at, started_at, finished_at, status, attempt, output) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, job_id, "x", "echo-agent", "schedule", *[at] * 4, "succeeded", 1, output),
            )


def count(db: Path, sql: str) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_stats_and_prune_from_the_command_line(tmp_path: Path) -> None:
    cli = make_cli(tmp_path / "m")
    ids = add_jobs(cli, "nightly", "hourly")
    write_history(cli.db, ids["nightly"], [90, 80, 70, 60, 50, 40, 35, 2, 1])  # 7 past 30 days
    write_history(cli.db, ids["hourly"], [45, 44, 43])  # old, but among its newest five
    stats = cli.json("store", "stats")
    assert stats["backend"] == "sqlite" and stats["url"] == str(cli.db)
    assert stats["tables"]["runs"]["rows"] == 12 and stats["tables"]["jobs"]["rows"] == 2
    assert stats["auto_vacuum"] == "incremental"
    assert stats["oldest_run_at"].startswith(
        (datetime.now(UTC) - timedelta(days=90)).strftime("%Y-%m-%d")
    )
    assert stats["retention"]["run_retention_days"] == 30
    table = cli.ok("store", "stats")
    assert "runs" in table and "12" in table and "oldest run" in table
    assert "runs 30 days (keeping each job's newest 5 and dead-lettered jobs' runs)" in table

    dry = cli.json("store", "prune", "--dry-run")
    assert dry["dry_run"] and dry["removed"]["runs"] == 4  # nightly's newest five stay
    assert count(cli.db, "SELECT count(*) FROM runs") == 12
    text = cli.ok("store", "prune")
    assert text.startswith("removed 4 runs, 0 heartbeat iterations, 0 audit events")
    assert "gave back" in text
    assert count(cli.db, "SELECT count(*) FROM runs") == 8
    (event,) = cli.json("audit", "query", "--type", "StorePruned")
    assert event["actor"] == "cli" and event["details"]["removed"] == {"runs": 4}
    again = cli.json("store", "prune")
    assert again["removed"]["runs"] == 0


def test_without_retention_prune_says_so_and_keeps_everything(tmp_path: Path) -> None:
    cli = make_cli(tmp_path / "m", retention='[store]\nurl = "{db}"\n')
    ids = add_jobs(cli, "j")
    write_history(cli.db, ids["j"], [3000, 2000])
    out = cli.ok("store", "prune")
    assert out.startswith("nothing pruned: no retention is configured")
    assert count(cli.db, "SELECT count(*) FROM runs") == 2
    assert "none: history is kept for ever" in cli.ok("store", "stats")


def test_through_the_daemon_the_daemon_prunes(tmp_path: Path) -> None:
    cli = make_cli(tmp_path / "m")
    ids = add_jobs(cli, "nightly")
    write_history(cli.db, ids["nightly"], [90, 80, 70, 2, 1, 0.5, 0.2])
    with daemon(cli):
        stats = cli.json("store", "stats")
        assert stats["tables"]["runs"]["rows"] == 7
        assert stats["retention"]["keep_runs_per_job"] == 5
        report = cli.json("store", "prune")
        assert report["removed"]["runs"] == 2 and not report["dry_run"]
        (event,) = cli.json("audit", "query", "--type", "StorePruned")
        assert event["actor"] == "local"  # the daemon did it, for the generated key's holder
        refused = cli("store", "vacuum")
        assert refused.returncode == 1 and "stop it first" in refused.stderr
    assert count(cli.db, "SELECT count(*) FROM runs") == 5


def test_a_pruned_file_gives_its_space_back(tmp_path: Path) -> None:
    cli = make_cli(tmp_path / "m")
    ids = add_jobs(cli, "chatty")
    write_history(
        cli.db, ids["chatty"], [40 + i / 100 for i in range(3000)] + [1, 2], output="z" * 3000
    )
    before = os.path.getsize(cli.db)
    report = cli.json("store", "prune")
    assert report["removed"]["runs"] == 2997  # the job's newest five stay
    assert report["reclaimed_bytes"] > 8_000_000
    after = os.path.getsize(cli.db)
    assert after < before / 5
    assert count(cli.db, "PRAGMA freelist_count") == 0
    compact = tmp_path / "compact.db"
    with contextlib.closing(sqlite3.connect(cli.db)) as conn:
        conn.execute(f"VACUUM INTO '{compact}'")
    assert after <= 1.3 * os.path.getsize(compact)


def _legacy_store(db: Path, runs: int, output: str) -> str:
    """A store as version 7 of the schema left it: no incremental vacuum; a job and its runs,
    all long finished. The job's id."""
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        for number, script in enumerate(MIGRATIONS[:7], start=1):
            conn.executescript(script)
            conn.execute(f"PRAGMA user_version = {number}")
        now = format_instant(datetime.now(UTC))
        job_id = "0" * 31 + "1"
        conn.execute(
            "INSERT INTO jobs (id, name, agent, status, schedule, timezone, definition, "
            "created_at, updated_at) VALUES (?, 'old', 'echo-agent', 'active', '0 9 1 1 *', "
            '\'UTC\', \'{"name": "old", "agent": "echo-agent", "cron": "0 9 1 1 *"}\', '
            "?, ?)",
            (job_id, now, now),
        )
    write_history(db, job_id, [100 + i / 100 for i in range(runs)] + [1], output=output)
    assert count(db, "PRAGMA auto_vacuum") == 0
    return job_id


def test_a_small_store_from_an_earlier_version_is_converted_when_opened(tmp_path: Path) -> None:
    cli = make_cli(tmp_path / "m")
    _legacy_store(cli.db, 50, "small")
    stats = cli.json("store", "stats")  # opening it migrates it, and converts it
    assert stats["auto_vacuum"] == "incremental"
    assert count(cli.db, "PRAGMA user_version") == len(MIGRATIONS)
    assert cli.json("store", "prune")["removed"]["runs"] == 46  # all but the newest five


def test_a_large_store_from_an_earlier_version_is_left_to_symbi_store_vacuum(
    tmp_path: Path,
) -> None:
    cli = make_cli(tmp_path / "m")
    from scheduler_core.store.sqlite import _retention

    _legacy_store(cli.db, 9000, "w" * 4000)
    assert os.path.getsize(cli.db) > _retention.SMALL_FILE_BYTES
    stats = cli.json("store", "stats")
    assert stats["auto_vacuum"] == "none"  # too large to rewrite unasked when opened
    assert "symbi store vacuum" in cli.ok("store", "stats")
    size = os.path.getsize(cli.db)
    pruned = cli("store", "prune")
    assert pruned.returncode == 0 and "removed 8,996 runs" in pruned.stdout
    assert "symbi store vacuum" in pruned.stderr  # the note: this file does not shrink
    assert os.path.getsize(cli.db) >= size  # its pages are free for reuse, not given back
    vacuumed = cli.ok("store", "vacuum")
    assert vacuumed.startswith(f"vacuumed {cli.db}: ")
    assert os.path.getsize(cli.db) < size / 10
    assert cli.json("store", "stats")["auto_vacuum"] == "incremental"


def test_vacuum_refuses_while_a_scheduler_holds_the_store(tmp_path: Path) -> None:
    cli = make_cli(tmp_path / "m")
    add_jobs(cli, "j")
    later = format_instant(datetime.now(UTC) + timedelta(hours=1))
    with contextlib.closing(sqlite3.connect(cli.db)) as conn, conn:
        conn.execute(
            "INSERT INTO lease (name, owner, pid, host, acquired_at, renewed_at, expires_at) "
            "VALUES ('scheduler', 'busy-daemon', ?, ?, ?, ?, ?)",
            (os.getpid(), socket.gethostname(), later, later, later),
        )
    refused = cli("store", "vacuum")
    assert refused.returncode == 1
    assert "a scheduler holds this store (busy-daemon): stop it first" in refused.stderr
    elsewhere = cli("--connect", "http://127.0.0.1:9", "store", "vacuum")
    assert elsewhere.returncode == 1 and "--connect" in elsewhere.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["store"], "the following arguments are required: COMMAND"),
        (["store", "prune", "--force"], "unrecognized arguments: --force"),
        (["store", "stats", "--format", "csv"], "invalid choice: 'csv'"),
    ],
)
def test_store_usage_errors_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    cli = make_cli(tmp_path / "m")
    out = cli(*args)
    assert out.returncode == 2 and says in out.stderr, out.stderr
