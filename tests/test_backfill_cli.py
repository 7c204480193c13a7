"""Backfill as a user reaches it: ``POST /api/v1/schedule/{id}/backfill`` on a real daemon
(roles, 422s naming the field, the audit actor), and ``symbi cron backfill`` through that daemon
and on the store without one, as real processes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.keys import KEY, KEYS_TOML, OPERATOR_KEY, VIEWER_KEY
from tests.test_cli_symbi import Cli, make_cli
from tests.test_daemon import Daemon, clean_env, poll, write_config

MONTHLY = {
    "name": "monthly",
    "agent_id": "echo",
    "cron_expr": "0 0 1 * *",
    "timezone": "America/New_York",
    "max_concurrent": 3,
}
#: the first three months of 2025 at midnight in New York (EST, UTC-5)
FIRSTS = [
    "2025-01-01T05:00:00.000000Z",
    "2025-02-01T05:00:00.000000Z",
    "2025-03-01T05:00:00.000000Z",
]


def _client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    config = write_config(tmp_path, extra=KEYS_TOML)
    text = config.read_text()
    text = text.replace("[api]\n", f'[api]\napi_keys = ["{KEY}"]\n', 1)
    text = text.replace("[scheduler]\n", "[scheduler]\nmax_backfill_runs = 5\n", 1)
    config.write_text(text)
    daemon = Daemon(config, clean_env(tmp_path))
    try:
        yield daemon.url, tmp_path
    finally:
        daemon.kill()


def _error(response: httpx.Response, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body.get("field") == field, body
    return body


def test_api_roles_errors_idempotence_and_the_cli_through_the_daemon(
    served: tuple[str, Path],
) -> None:
    url, home = served
    path = "/api/v1/schedule/monthly/backfill"
    span = {"from": "2025-01-01T00:00", "to": "2025-03-15T00:00"}
    with (
        _client(url, KEY) as admin,
        _client(url, OPERATOR_KEY) as ci,
        _client(url, VIEWER_KEY) as viewer,
    ):
        assert admin.post("/api/v1/schedule", json=MONTHLY).status_code == 201
        once = {"name": "once", "agent_id": "echo", "at": "2999-01-01T00:00:00Z"}
        assert admin.post("/api/v1/schedule", json=once).status_code == 201

        refused = viewer.post(path, json=span)
        assert refused.status_code == 403, refused.text
        assert refused.json()["details"]["required_role"] == "operator"

        # bad bodies: 422 naming the field, nothing created
        body = _error(ci.post(path, json={**span, "dry_run": True, "bogus": 1}), 422, "bogus")
        assert body["code"] == "validation_error"
        _error(ci.post(path, json={"to": span["to"]}), 422, "from")
        body = _error(ci.post(path, json={"from": "2025-03-01", "to": "2025-01-01"}), 422, "from")
        assert "after 'to'" in body["error"]
        body = _error(ci.post(path, json={"from": "2025-01-01", "to": "2999-01-01"}), 422, "to")
        assert "in the future" in body["error"]
        body = _error(ci.post(path, json={"from": "last week"}), 422, "from")
        assert "ISO 8601" in body["error"]
        body = _error(ci.post(path, json={"from": "2020-01-01", "to": "2025-01-02"}), 422, "to")
        assert "holds 61 instants" in body["error"] and "5 one backfill may create" in body["error"]
        assert ci.post("/api/v1/schedule/nope/backfill", json=span).status_code == 404
        assert ci.post("/api/v1/schedule/once/backfill", json=span).status_code == 409
        assert admin.get("/api/v1/schedule/monthly/history").json() == []

        # a dry run: the instants (naive: New York wall time), nothing written
        dry = ci.post(path, json={**span, "dry_run": True})
        assert dry.status_code == 200, dry.text
        answer = dry.json()
        assert answer["dry_run"] is True and answer["instants"] == 3
        assert answer["from"] == "2025-01-01T05:00:00.000000Z"
        assert [c["scheduled_for"] for c in answer["created"]] == FIRSTS
        assert [c["run_id"] for c in answer["created"]] == [None] * 3
        assert all(set(c) == {"scheduled_for", "run_id"} for c in answer["created"])
        assert admin.get("/api/v1/schedule/monthly/history").json() == []

        made = ci.post(path, json=span).json()
        assert [c["scheduled_for"] for c in made["created"]] == FIRSTS and made["skipped"] == []
        ids = [c["run_id"] for c in made["created"]]

        def finished() -> list[dict[str, Any]]:
            runs = admin.get("/api/v1/schedule/monthly/history").json()
            done = [r for r in runs if r["status"] == "succeeded"]
            return runs if len(done) == 3 else []

        runs = poll(finished)
        assert sorted(r["id"] for r in runs) == sorted(ids)
        assert {r["trigger"] for r in runs} == {"backfill"}
        assert sorted(r["scheduled_for"] for r in runs) == FIRSTS

        again = ci.post(path, json=span).json()
        assert again["created"] == [] and [s["run_id"] for s in again["skipped"]] == ids
        assert all("(backfill, succeeded)" in s["reason"] for s in again["skipped"])
        assert all(set(s) == {"scheduled_for", "reason", "run_id"} for s in again["skipped"])

        events = admin.get("/api/v1/audit", params={"event_type": "CronJobBackfilled"}).json()
        events = [e for e in events if e["type"] == "CronJobBackfilled"]
        assert [(e["actor"], e["details"]["created"], e["details"]["skipped"]) for e in events] == [
            ("ci", 0, 3),
            ("ci", 3, 0),
        ]

    # symbi through the daemon, with the operator's key
    cli = Cli(home, extra={"SYMBI_API_KEY": OPERATOR_KEY})
    dry = cli("--connect", url, "cron", "backfill", "monthly", "--from", "2024-12-01T00:00",
              "--to", "2025-03-15T00:00", "--dry-run", "--format", "json")  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    answer = json.loads(dry.stdout)
    assert [c["scheduled_for"] for c in answer["created"]] == ["2024-12-01T05:00:00.000000Z"]
    assert [s["scheduled_for"] for s in answer["skipped"]] == FIRSTS
    table = cli.ok("--connect", url, "cron", "backfill", "monthly", "--from", "2024-12-01T00:00",
                   "--to", "2025-03-15T00:00")  # fmt: skip
    assert "backfill of monthly (America/New_York)" in table
    assert "4 instant(s), created 1 run(s), skipped 3" in table
    assert "2024-12-01 00:00 EST" in table and "2024-12-01 05:00:00" in table
    viewer = Cli(home, extra={"SYMBI_API_KEY": VIEWER_KEY})
    refused = viewer("--connect", url, "cron", "backfill", "monthly", "--from", "2024-01-01")
    assert refused.returncode == 1 and "operator" in refused.stderr
    bad = cli("--connect", url, "cron", "backfill", "monthly", "--from", "2025-03-01",
              "--to", "2025-01-01")  # fmt: skip
    assert bad.returncode == 1 and "from:" in bad.stderr and "after 'to'" in bad.stderr


def test_cli_on_the_store_without_a_daemon(tmp_path: Path) -> None:
    cli = make_cli(tmp_path / "machine")
    cli.config.write_text(
        cli.config.read_text().replace("[scheduler]\n", "[scheduler]\nmax_backfill_runs = 10\n")
    )
    cli.ok("cron", "add", "--json", json.dumps({**MONTHLY, "agent_id": "echo-agent"}))

    help_text = " ".join(cli.ok("cron", "backfill", "--help").split())
    assert "wall time in the job's time zone" in help_text and "--dry-run" in help_text

    args = ("cron", "backfill", "monthly", "--from", "2025-01-01T00:00", "--to", "2025-03-15")
    dry = cli.ok(*args, "--dry-run")
    assert "dry run: backfill of monthly" in dry and "would create 3 run(s)" in dry
    assert dry.count("would create") == 4  # the summary and one line per instant
    assert cli.json("cron", "history", "monthly") == []

    made = cli(*args)
    assert made.returncode == 0, made.stderr
    assert "created 3 run(s), skipped 0" in made.stdout
    assert "no scheduler holds the store: the runs are queued" in made.stderr
    rows = [line.split() for line in made.stdout.splitlines()[1:]]
    shown = [row[6] for row in rows if row[5:6] == ["created"]]  # RUN: told apart
    assert len(shown) == 3 == len(set(shown)) and all(len(i) >= 12 for i in shown)
    runs = cli.json("cron", "history", "monthly")
    assert sorted(r["scheduled_for"] for r in runs) == FIRSTS
    assert {(r["status"], r["trigger"]) for r in runs} == {("queued", "backfill")}

    again = cli.json(*args)
    assert again["created"] == [] and len(again["skipped"]) == 3
    assert len(cli.json("cron", "history", "monthly")) == 3

    too_many = cli("cron", "backfill", "monthly", "--from", "2020-01-01", "--to", "2025-01-02")
    assert too_many.returncode == 1
    assert "to: the range" in too_many.stderr and "holds 61 instants" in too_many.stderr
    unknown = cli("cron", "backfill", "nope", "--from", "2025-01-01")
    assert unknown.returncode == 1 and "nope" in unknown.stderr
    usage = cli("cron", "backfill", "monthly")
    assert usage.returncode == 2 and "--from" in usage.stderr
    events = cli.json("audit", "query", "--type", "CronJobBackfilled")
    assert [(e["actor"], e["details"]["created"]) for e in events] == [("cli", 0), ("cli", 3)]
