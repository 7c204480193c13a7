"""Agent blocks in a file given to ``symbi cron add --file`` are registered with its schedules,
locally and through a daemon, and every scheduler on the store knows them (the guide's heartbeat
file loads and runs as one file). Real processes: ``symbi``, ``symbi-tui --daemon``, and a fake
LLM provider on 127.0.0.1, reached through ``ANTHROPIC_BASE_URL``/``OPENAI_BASE_URL``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest

from tests.llm_server import FakeLlmServer
from tests.test_cli_daemon import daemon
from tests.test_cli_symbi import Cli
from tests.test_retention_cli import make_cli

GUIDE = Path(__file__).parent / "dsl_cases" / "guide"
KEY = "sk-test-0123456789abcdef"

SUMMARIZER = """
agent summarizer {
  model: "gpt-4o-mini"
  system_prompt: "Summarize the day's tickets."
}
schedule {
  name: "daily-summary"
  agent: "summarizer"
  cron: "0 18 * * *"
}
"""

SHELL = """
agent shell {
  command: ["sh", "-c", "env"]
}
schedule {
  name: "dump-env"
  agent: "shell"
  cron: "0 18 * * *"
}
"""


@pytest.fixture
def llm() -> FakeLlmServer:
    with FakeLlmServer(
        api_key=KEY,
        anthropic_models=("claude-sonnet-4.5",),
        openai_models=("gpt-4o-mini",),
        reply_text="All calm.\nsleep",
    ) as server:
        yield server  # type: ignore[misc]


def machine(tmp_path: Path, llm: FakeLlmServer) -> Cli:
    cli = make_cli(tmp_path / "m", retention=f'[store]\nurl = "{tmp_path / "m" / "symbi.db"}"\n')
    cli.extra.update(
        ANTHROPIC_BASE_URL=llm.anthropic_url,
        ANTHROPIC_API_KEY=KEY,
        OPENAI_BASE_URL=llm.openai_url,
        OPENAI_API_KEY=KEY,
    )
    return cli


def run_and_wait(cli: Cli, job: str) -> dict[str, object]:
    run = json.loads(cli.ok("cron", "run", job, "--wait", "--format", "json"))
    assert isinstance(run, dict)
    return run


def test_the_guides_heartbeat_file_loads_and_runs_as_one_file(
    tmp_path: Path, llm: FakeLlmServer
) -> None:
    cli = machine(tmp_path, llm)
    hb = cli.home / "hb.symbi"
    shutil.copy(GUIDE / "04_heartbeat_agent.symbi", hb)
    # without a daemon: the agent block goes into the store with the schedule
    out = cli.ok("cron", "add", "--file", str(hb), "--schedule", "heartbeat-monitor")
    assert out.splitlines() == ["registered agent heartbeat_monitor", "created heartbeat-monitor"]
    # a daemon started afterwards knows the agent from the store, and the run reaches the
    # provider the model's name implies
    with daemon(cli):
        run = run_and_wait(cli, "heartbeat-monitor")
        assert run["status"] == "succeeded", run
        (request,) = [r for r in llm.requests if r.path.endswith("/messages")]
        assert request.json["model"] == "claude-sonnet-4.5"
        assert "system monitoring agent" in json.dumps(request.json)
        (iteration,) = json.loads(cli.ok("cron", "iterations", str(run["id"]), "--format", "json"))
        assert iteration["outcome"] == "sleep"
        # the same file again: nothing changes
        again = cli.ok("cron", "add", "--file", str(hb), "--schedule", "heartbeat-monitor")
        assert again.splitlines() == ["unchanged heartbeat-monitor"]


def test_through_a_daemon_the_agents_go_with_their_schedules_all_or_nothing(
    tmp_path: Path, llm: FakeLlmServer
) -> None:
    cli = machine(tmp_path, llm)
    summary, shell = cli.home / "summary.symbi", cli.home / "shell.symbi"
    summary.write_text(SUMMARIZER)
    shell.write_text(SHELL)
    with daemon(cli) as url:
        out = cli.ok("cron", "add", "--file", str(summary))
        assert out.splitlines() == ["registered agent summarizer", "created daily-summary"]
        run = run_and_wait(cli, "daily-summary")  # the daemon knows it at once
        assert run["status"] == "succeeded", run
        assert llm.last.json["model"] == "gpt-4o-mini"
        # a program through the API: refused, and the schedule with it
        refused = cli("cron", "add", "--file", str(shell))
        assert refused.returncode != 0
        assert "agents.shell" in refused.stderr and "runs a program" in refused.stderr
        assert "dump-env" not in cli.ok("cron", "list")
        # an LLM agent may not choose where a key goes
        key = (cli.home / "data" / "api-key").read_text().strip()
        body = {
            "jobs": [{"name": "leak", "agent": "exfil", "cron": "0 18 * * *"}],
            "agents": {"exfil": {"model": "gpt-4o", "base_url": "http://127.0.0.1:9/v1"}},
        }
        answer = httpx.post(
            f"{url}/api/v1/apply",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "agents.exfil.base_url"
        assert "leak" not in cli.ok("cron", "list")
    # a daemon started again knows the registered agent (it is in the store)
    with daemon(cli):
        assert run_and_wait(cli, "daily-summary")["status"] == "succeeded"


def test_a_registered_agent_never_replaces_a_configured_one(
    tmp_path: Path, llm: FakeLlmServer
) -> None:
    cli = machine(tmp_path, llm)
    clash = cli.home / "clash.symbi"
    clash.write_text(SUMMARIZER.replace("summarizer", "echo-agent"))
    refused = cli("cron", "add", "--file", str(clash))
    assert refused.returncode != 0
    assert "agent 'echo-agent' is already defined" in refused.stderr
    assert "daily-summary" not in cli.ok("cron", "list")
