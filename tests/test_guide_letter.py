"""The guide, to the letter: behaviour the guide (or our README) promises, checked through the
path a user takes: a real daemon, its API and metrics, and ``symbi`` against it."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scheduler_core.clock import format_instant
from scheduler_core.errors import ConflictError
from scheduler_core.model import JobStatus, RunStatus
from scheduler_core.wire import health_from_dict
from tests.conftest import Harness
from tests.delivery_servers import refusing_port
from tests.test_api import serving
from tests.test_cli_daemon import daemon as cli_daemon
from tests.test_daemon import Daemon, clean_env, poll, write_config
from tests.test_retention_cli import add_jobs, make_cli


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Daemon, httpx.Client]]:
    with refusing_port() as port:
        extra = """
[scheduler.delivery]
webhook_retry_attempts = 1
webhook_timeout_seconds = 2
"""
        config = write_config(tmp_path, extra=extra)
        (tmp_path / "dsl" / "jobs.symbi").write_text(
            f"""
schedule {{
  name: "to-nowhere"
  agent: "echo"
  cron: "0 0 1 1 *"
  delivery: ["webhook"]
  webhook_url: "http://127.0.0.1:{port}/hook"
}}
schedule {{
  name: "wrong-place"
  agent: "echo"
  cron: "0 0 1 1 *"
  policy {{
    allowed_environments: ["production"]
  }}
}}
"""
        )
        running = Daemon(config, clean_env(tmp_path))
        try:
            url = running.url
            key = (tmp_path / "data" / "api-key").read_text().strip()
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
                yield running, client
        finally:
            running.kill()


def scrape(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").text
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def finished(client: httpx.Client, job: str) -> dict[str, object]:
    def last() -> dict[str, object] | None:
        runs = client.get(f"/api/v1/schedule/{job}/history").json()
        return runs[0] if runs and runs[0]["status"] not in ("queued", "running") else None

    return poll(last)  # type: ignore[no-any-return]


def test_a_failed_delivery_is_counted_and_a_denied_run_has_no_duration(
    daemon: tuple[Daemon, httpx.Client],
) -> None:
    _, client = daemon
    assert client.post("/api/v1/schedule/to-nowhere/run").status_code == 202
    assert finished(client, "to-nowhere")["status"] == "succeeded"
    failures = ("symbiont_cron_delivery_failures_total", (("channel", "webhook"),))
    poll(lambda: scrape(client).get(failures) == 1)  # delivery ends after the run is recorded
    assert client.post("/api/v1/schedule/wrong-place/run").status_code == 202
    denied = finished(client, "wrong-place")
    assert denied["status"] == "denied", json.dumps(denied)
    s = scrape(client)
    assert s[("symbiont_cron_policy_denials_total", ())] == 1
    assert s[failures] == 1  # the same run's results are not counted twice
    ran = ("symbiont_cron_execution_duration_seconds_count", (("job_name", "to-nowhere"),))
    never = ("symbiont_cron_execution_duration_seconds_count", (("job_name", "wrong-place"),))
    assert s[ran] == 1 and s.get(never, 0) == 0


def _history_of_every_ending(db: Path, job_id: str) -> None:
    """One finished run of the job in each final status, as a scheduler records them."""
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        for i, status in enumerate(s for s in RunStatus if s.is_final):
            at = format_instant(datetime.now(UTC) - timedelta(hours=1 + i))
            conn.execute(
                "INSERT INTO runs (id, job_id, job_name, agent_id, trigger, scheduled_for, "
                "due_at, started_at, finished_at, status, attempt, output) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (f"run-{i:02d}-{status.value}", job_id, "nightly", "echo-agent", "schedule")
                + (at,) * 4
                + (status.value, 1, ""),
            )


def test_history_status_failed_lists_every_failure_locally_and_through_a_daemon(
    tmp_path: Path,
) -> None:
    cli = make_cli(tmp_path / "m", retention=f'[store]\nurl = "{tmp_path / "m" / "symbi.db"}"\n')
    ids = add_jobs(cli, "nightly")
    _history_of_every_ending(cli.db, ids["nightly"])
    want = {"failed", "timed_out", "interrupted"}

    def statuses(*args: str) -> set[str]:
        out = cli.ok("cron", "history", "nightly", "--format", "json", *args)
        return {run["status"] for run in json.loads(out)}

    assert statuses("--status", "failed") == want
    assert statuses("--status", "timed_out") == {"timed_out"}  # the others match exactly
    with cli_daemon(cli) as url:
        assert statuses("--status", "failed") == want
        key = (cli.home / "data" / "api-key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        for path in (
            "/api/v1/runs?status=failed",
            "/api/v1/schedule/nightly/history?status=failed",
        ):
            runs = httpx.get(url + path, headers=headers, timeout=10).json()
            assert {run["status"] for run in runs} == want, path


async def test_a_one_shot_denied_at_its_instant_is_missed_until_given_a_new_one(
    harness: Harness,
) -> None:
    h = harness
    await h.service.add_job(
        {
            "name": "deploy-once",
            "agent": "ok",
            "at": "2026-03-02T09:00:00Z",
            "policy": {"allowed_environments": ["production"]},
        }
    )
    await h.to("2026-03-02T09:00:00Z")
    (run,) = await h.service.history("deploy-once")
    assert run.status is RunStatus.DENIED
    job = await h.service.get_job("deploy-once")
    assert job.status is JobStatus.MISSED and job.next_run_at is None
    health = await h.service.health()
    assert (health.missed_jobs, health.completed_jobs, health.active_jobs) == (1, 0, 0)
    assert health_from_dict(health.to_dict()).missed_jobs == 1  # the API's health, both ways
    with pytest.raises(ConflictError, match="is missed; give it a new 'at' instead"):
        await h.service.reset_job("deploy-once")
    # a new instant, and an environment it may run in
    job = await h.service.update_job("deploy-once", {"at": "2026-03-02T10:00:00Z", "policy": {}})
    assert job.status is JobStatus.ACTIVE and job.next_run_at is not None
    await h.to("2026-03-02T10:00:00Z")
    assert (await h.service.get_job("deploy-once")).status is JobStatus.COMPLETED


#: a heartbeat agent: drains a queue, and sleeps at its third iteration
BEAT = 'echo "queue depth $SYMBI_ITERATION"; [ $SYMBI_ITERATION -ge 3 ] && echo sleep || echo drain'
BEATING = f"""
[agents.beat-agent]
command = ["sh", "-c", {json.dumps(BEAT)}]
"""


def test_cron_iterations_shows_a_heartbeat_runs_iterations_locally_and_through_a_daemon(
    tmp_path: Path,
) -> None:
    cli = make_cli(tmp_path / "m", retention=f'[store]\nurl = "{tmp_path / "m" / "symbi.db"}"\n')
    cli.config.write_text(cli.config.read_text() + BEATING)
    body = json.dumps(
        {
            "name": "queue-watch",
            "agent_id": "beat-agent",
            "cron_expr": "0 9 1 1 *",
            "heartbeat": {"enabled": True, "max_iterations": 5},
        }
    )
    cli.ok("cron", "add", "--json", body)
    cli.ok("cron", "run", "queue-watch", "--wait")
    (run,) = json.loads(cli.ok("cron", "history", "queue-watch", "--format", "json"))
    history = cli.ok("cron", "history", "queue-watch")
    assert "BEATS" in history and "♥ 3 it." in history
    exported = cli.ok("cron", "history", "queue-watch", "--format", "csv")
    (row,) = csv.DictReader(io.StringIO(exported))
    assert row["heartbeat_iterations"] == "3", row

    def shown(ref: str) -> tuple[str, list[dict[str, object]]]:
        table = cli.ok("cron", "iterations", ref)
        return table, json.loads(cli.ok("cron", "iterations", ref, "--format", "json"))

    for ref in (run["id"], run["id"][:12]):  # the id the tables show is enough
        table, rows = shown(ref)
        assert [(r["index"], r["outcome"], r["action"]) for r in rows] == [
            (1, "continue", "continue"),
            (2, "continue", "continue"),
            (3, "sleep", "sleep"),
        ]
        assert "queue depth 2" in table and "sleep" in table
    with cli_daemon(cli):
        table, rows = shown(run["id"][:12])
        assert len(rows) == 3 and "queue depth 3" in table
    missing = cli("cron", "iterations", "ffffffffffff")
    assert missing.returncode != 0 and "No run by the id of 'ffffffffffff'" in missing.stderr


async def test_one_shot_is_accepted_only_with_at(harness: Harness) -> None:
    async with serving(harness) as api:
        create = "/api/v1/schedule"
        base = {"agent_id": "reporter"}
        recurring = {**base, "name": "every-minute", "cron_expr": "* * * * *", "one_shot": True}
        answer = await api.client.post(create, json=recurring)
        assert answer.status_code == 422, answer.text
        error = answer.json()
        assert error["field"] == "one_shot" and "needs 'at'" in error["error"], error
        # the field named once: "one_shot: true needs ...", not "one_shot: one_shot: true ..."
        assert error["error"] == (
            "one_shot: true needs 'at' (an ISO 8601 instant), not a cron expression"
        ), error
        assert (await api.client.get(f"{create}/every-minute")).status_code == 404  # nothing made
        for body, why in (
            ({**base, "name": "x", "at": "2026-03-03T09:00:00Z", "one_shot": False}, "'at' makes"),
            ({**base, "name": "y", "at": "2026-03-03T09:00:00Z", "one_shot": "yes"}, "true or"),
        ):
            answer = await api.client.post(create, json=body)
            assert answer.status_code == 422 and why in answer.text, answer.text
        once = {**base, "name": "once", "at": "2026-03-03T09:00:00Z", "one_shot": True}
        answer = await api.client.post(create, json=once)
        assert answer.status_code == 201, answer.text
        assert (
            answer.json()["at"].startswith("2026-03-03T09:00:00")
            and answer.json()["cron_expr"] is None
        )
        # the SDK's own path still turns a cron expression into its next instant
        sdk = {"name": "sdk-once", "agent_name": "reporter", "cron_expression": "0 9 * * *"}
        answer = await api.client.post("/api/v1/schedules", json={**sdk, "one_shot": True})
        assert answer.status_code == 200, answer.text
        job = await harness.service.get_job("sdk-once")
        assert job.cron is None and job.at is not None


def test_cron_add_refuses_one_shot_with_a_cron_expression(tmp_path: Path) -> None:
    cli = make_cli(tmp_path / "m", retention=f'[store]\nurl = "{tmp_path / "m" / "symbi.db"}"\n')
    body = '{"name": "m", "agent_id": "echo-agent", "cron_expr": "* * * * *", "one_shot": true}'
    refused = cli("cron", "add", "--json", body)
    assert refused.returncode != 0 and "one_shot" in refused.stderr, refused
    assert "needs 'at'" in refused.stderr
    assert "No jobs" in cli.ok("cron", "list")


def test_cron_add_json_refuses_unknown_fields_locally_and_through_a_daemon(
    tmp_path: Path,
) -> None:
    cli = make_cli(tmp_path / "m", retention=f'[store]\nurl = "{tmp_path / "m" / "symbi.db"}"\n')
    body = '{"name": "q", "agent_id": "echo-agent", "cronexpr": "0 * * * *", "colour": "red"}'
    for where in ("store", "daemon"):
        with cli_daemon(cli) if where == "daemon" else contextlib.nullcontext():
            refused = cli("cron", "add", "--json", body)
            assert refused.returncode == 1, (where, refused)
            assert "cronexpr: unknown field 'cronexpr' (did you mean 'cron_expr'?)" in (
                refused.stderr
            ), (where, refused.stderr)
            assert "colour: unknown field 'colour'" in refused.stderr, (where, refused.stderr)
            assert "No jobs" in cli.ok("cron", "list")


async def test_a_body_sent_to_an_action_that_takes_none_is_refused_not_ignored(
    harness: Harness,
) -> None:
    """pause, resume, reset, delete, cancel and the SDK's actions take no fields: one sent (a
    ``reason`` the client believes recorded) is a 422 naming it, and nothing is done."""
    async with serving(harness) as api:
        c = api.client
        spec = {"name": "n", "agent": "ok", "cron": "0 9 * * *"}
        job = (await harness.service.add_job({**spec, "policy": {"require_approval": True}})).id
        run = (await harness.service.run_now("n")).id  # parked until approved: not ended
        await harness.settle()
        for method, path in (
            ("POST", f"/api/v1/schedule/{job}/pause"),
            ("POST", f"/api/v1/schedule/{job}/resume"),
            ("POST", f"/api/v1/schedule/{job}/reset"),
            ("DELETE", f"/api/v1/schedule/{job}"),
            ("POST", f"/api/v1/runs/{run}/cancel"),
            ("POST", f"/api/v1/schedules/{job}/pause"),
            ("POST", f"/api/v1/schedules/{job}/resume"),
            ("POST", f"/api/v1/schedules/{job}/trigger"),
            ("DELETE", f"/api/v1/schedules/{job}"),
        ):
            answer = await c.request(method, path, json={"reason": "maintenance"})
            assert answer.status_code == 422, (path, answer.text)
            error = answer.json()
            assert error["field"] == "reason", (path, error)
            assert error["error"] == "reason: unknown field 'reason'", (path, error)
        assert (await harness.service.get_job(job)).status is JobStatus.ACTIVE
        assert (await harness.service.get_run(run)).status is RunStatus.AWAITING_APPROVAL
        assert len(await harness.service.history("n")) == 1  # no trigger either
        # nothing, or an empty object, is what they take
        assert (await c.post(f"/api/v1/schedule/{job}/pause")).status_code == 200
        assert (await c.post(f"/api/v1/schedule/{job}/resume", json={})).status_code == 200
        assert (await c.post(f"/api/v1/runs/{run}/cancel")).status_code == 200
        assert (await c.delete(f"/api/v1/schedule/{job}")).status_code == 200
        # the routes that take fields name an unknown one the same way
        answer = await c.post("/api/v1/schedule/x/run", json={"inpt": "x"})
        assert answer.json()["error"] == "inpt: unknown field 'inpt'", answer.text


def test_an_agentpin_failure_names_its_run_in_the_audit_log_through_a_daemon(
    tmp_path: Path,
) -> None:
    cli = make_cli(tmp_path / "m", retention=f'[store]\nurl = "{tmp_path / "m" / "symbi.db"}"\n')
    body = {
        "name": "secure-task",
        "agent_id": "echo-agent",
        "cron_expr": "0 9 1 1 *",
        "agent_pin_jwt": "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln",
        "policy": {"require_agent_pin": True},
    }
    cli.ok("cron", "add", "--json", json.dumps(body))
    with cli_daemon(cli):
        denied = cli("cron", "run", "secure-task", "--wait", "--format", "json")
        assert denied.returncode == 1, denied
        run = json.loads(denied.stdout)
        assert run["status"] == "denied" and "AgentPin" in run["error_message"], run
        (event,) = cli.json("audit", "query", "--type", "AgentPinVerificationFailed")
        assert event["run_id"] == run["id"] and event["job_id"] == run["job_id"], event
        table = cli.ok("audit", "query", "--type", "AgentPinVerificationFailed")
        assert "RUN" in table.splitlines()[0] and run["id"][:12] in table, table
