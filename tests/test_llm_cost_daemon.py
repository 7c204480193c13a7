"""LLM cost and budgets the way a user meets them: a real ``symbi-tui --daemon`` whose LLM agent
calls the fake provider (tests/llm_server.py), read through its API, ``/metrics`` and ``symbi``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.llm_server import FakeLlmServer
from tests.test_cli_symbi import Cli
from tests.test_daemon import Daemon, clean_env, poll, write_config

LLM_KEY = "sk-test-cost-0123456789abcdef"
# gpt-test: $1000 per million input tokens, $2000 per million output tokens (so the fake
# provider's 12 in, 7 out cost 0.012 + 0.014 = $0.026 a call)
PRICES = """
[llm.prices."gpt-test"]
input = 1000
output = 2000
"""


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Daemon, httpx.Client, FakeLlmServer, Cli]]:
    with FakeLlmServer(api_key=LLM_KEY) as server:
        extra = f"""
[agents.analyst]
runner = "llm"
provider = "openai"
model = "gpt-test"
base_url = {json.dumps(server.openai_url)}
api_key_env = "LLM_KEY"
{PRICES}
"""
        config = write_config(tmp_path, extra=extra)
        text = config.read_text().replace(
            "[scheduler]\n", "[scheduler]\nmax_llm_cost_per_day = 0.05\n", 1
        )
        config.write_text(text)
        (tmp_path / "dsl" / "jobs.symbi").write_text(
            """
schedule {
  name: "spender"
  agent: "analyst"
  cron: "0 0 1 1 *"
  policy { max_cost_per_day: 0.02 }
}
schedule {
  name: "helper"
  agent: "analyst"
  cron: "0 0 1 1 *"
}
schedule {
  name: "beats"
  agent: "analyst"
  cron: "0 0 1 1 *"
  heartbeat { enabled: true, max_iterations: 3 }
}
"""
        )
        env = {**clean_env(tmp_path), "LLM_KEY": LLM_KEY}
        daemon = Daemon(config, env)
        try:
            url = daemon.url
            key = (tmp_path / "data" / "api-key").read_text().strip()
            cli = Cli(tmp_path, extra={"SYMBI_CONFIG": str(config), "LLM_KEY": LLM_KEY})
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10
            ) as client:
                yield daemon, client, server, cli
        finally:
            daemon.stop()
            daemon.kill()


def _job_id(client: httpx.Client, name: str) -> str:
    jobs = client.get("/api/v1/schedule").json()
    return str(next(j["id"] for j in jobs if j["name"] == name))


def _run(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """Run the job now, and its record once it has ended."""
    started = client.post(f"/api/v1/schedule/{job_id}/run")
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]

    def ended() -> dict[str, Any] | None:
        run = client.get(f"/api/v1/runs/{run_id}").json()
        return run if run["status"] not in ("queued", "running") else None

    result: dict[str, Any] = poll(ended)
    return result


def _samples(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_costs_budgets_metrics_and_the_cli_through_a_daemon(
    running: tuple[Daemon, httpx.Client, FakeLlmServer, Cli],
) -> None:
    daemon, client, server, cli = running
    spender, helper = _job_id(client, "spender"), _job_id(client, "helper")

    first = _run(client, spender)
    assert first["status"] == "succeeded", first
    assert first["tokens"] == {"input": 12, "output": 7}
    assert first["cost_usd"] == pytest.approx(0.026)

    # the job's own budget ($0.02) is reached: its next run is denied, naming it
    second = _run(client, spender)
    assert second["status"] == "denied"
    reason = second["error_message"]
    assert "policy max_cost_per_day of $0.02 reached: $0.0260 spent today" in reason
    assert "it resets at " in reason and " 00:00 UTC" in reason
    assert second["tokens"] is None and second["cost_usd"] is None
    assert len(server.requests) == 1  # the denied run never called the model
    audit = client.get("/api/v1/audit", params={"type": "PolicyDenied"}).json()
    assert [e["details"]["reason"] for e in audit] == [reason]

    # the global budget ($0.05) counts every job: helper runs once ($0.052 in all), then not
    assert _run(client, helper)["status"] == "succeeded"
    third = _run(client, helper)
    assert third["status"] == "denied"
    assert (
        "[scheduler] max_llm_cost_per_day (all jobs) of $0.05 reached: $0.0520"
        in (third["error_message"])
    )

    cost = client.get(f"/api/v1/schedule/{spender}/cost", params={"days": 3}).json()
    assert len(cost["days"]) == 3 and cost["timezone"] == "UTC"
    today = cost["days"][-1]
    assert (today["runs"], today["input_tokens"], today["output_tokens"]) == (1, 12, 7)
    assert today["cost_usd"] == pytest.approx(0.026)
    assert cost["days"][0]["runs"] == 0 and cost["days"][0]["cost_usd"] == 0
    assert cost["max_cost_per_day"] == 0.02 and cost["global_max_cost_per_day"] == 0.05
    assert cost["global_spent_today_usd"] == pytest.approx(0.052)
    bad = client.get(f"/api/v1/schedule/{spender}/cost", params={"days": 0})
    assert bad.status_code == 422 and "days" in bad.text
    made = client.post(
        "/api/v1/schedule",
        json={"name": "capped", "agent_id": "analyst", "cron_expr": "0 0 1 1 *",
              "policy": {"max_cost_per_day": 1.25}},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["policy"]["max_cost_per_day"] == 1.25
    refused = client.post(
        "/api/v1/schedule",
        json={"name": "free", "agent_id": "analyst", "cron_expr": "0 0 1 1 *",
              "policy": {"max_cost_per_day": -1}},
    )  # fmt: skip
    assert refused.status_code == 422
    assert "policy.max_cost_per_day" in json.dumps(refused.json()), refused.text

    samples = _samples(client)
    tokens = "symbiont_cron_llm_tokens_total"
    assert samples[(tokens, (("job_name", "spender"), ("kind", "input")))] == 12
    assert samples[(tokens, (("job_name", "spender"), ("kind", "output")))] == 7
    assert samples[(tokens, (("job_name", "helper"), ("kind", "input")))] == 12
    spent = samples[("symbiont_cron_llm_cost_total", (("job_name", "spender"),))]
    assert spent == pytest.approx(0.026)

    # symbi, through the daemon: the history's cost column, the status's cost of the day
    history = cli("cron", "history", "spender")
    assert history.returncode == 0, history.stderr
    assert "COST" in history.stdout and "$0.0260" in history.stdout
    # each run's own line keeps its id, status and cost whole, however long the denied run's
    # reason (the DETAIL column gives way first, then TRIGGER and ATTEMPT): piped (200
    # columns) and in a terminal down to 80 columns
    for columns in (None, "120", "100", "80"):
        extra = {**cli.extra, "COLUMNS": columns} if columns else cli.extra
        lines = Cli(cli.home, extra=extra).ok("cron", "history", "spender").splitlines()
        (paid,) = [line for line in lines if first["id"][:12] in line]
        assert "✔ succeeded" in paid and "$0.0260" in paid, (columns, lines)
        (denied,) = [line for line in lines if second["id"][:12] in line]
        assert "⊘ denied" in denied and "policy" in denied, (columns, lines)
        assert all(len(line) <= int(columns or 200) for line in lines), (columns, lines)
    status = cli("cron", "status", "spender")
    assert status.returncode == 0, status.stderr
    assert "LLM cost" in status.stdout
    assert "$0.0260 today (1 run(s), 12 in / 7 out) of max_cost_per_day $0.0200" in (
        " ".join(status.stdout.split())
    )
    as_json = json.loads(cli("cron", "status", "spender", "--format", "json").stdout)
    assert as_json["cost"]["spent_today_usd"] == pytest.approx(0.026)
    csv = cli("cron", "history", "spender", "--format", "csv").stdout.splitlines()
    assert csv[0].endswith("input_tokens,output_tokens,cost_usd,heartbeat_iterations")

    # the key never shows: not in the API's answers, the CLI's, nor the daemon's log
    everything = json.dumps([first, second, cost]) + history.stdout + "".join(daemon.raw)
    assert LLM_KEY not in everything
    assert os.environ.get("LLM_KEY") != LLM_KEY  # (the test process itself never had it)


def test_a_heartbeat_run_sums_the_tokens_of_its_iterations(
    running: tuple[Daemon, httpx.Client, FakeLlmServer, Cli],
) -> None:
    _, client, server, _ = running
    run = _run(client, _job_id(client, "beats"))
    assert run["status"] == "succeeded", run
    assert run["details"]["heartbeat"]["iterations"] == 3  # the model never says sleep
    assert len(server.requests) == 3
    assert run["tokens"] == {"input": 36, "output": 21}
    assert run["cost_usd"] == pytest.approx(0.078)
