"""Every schedule and agent block of the scheduling guide loads exactly as written.

The fixtures in tests/dsl_cases/guide/ are the guide's blocks verbatim (its transcription lost the
indentation, so they have none). The only block not loaded as-is is the "Migration from v0.9.0"
diff, whose ``+`` markers are not DSL; its plain form is 13_migration_my_job.symbi.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler_core.dsl import DslDocument, load_dsl_files, parse_dsl
from scheduler_core.errors import DslError
from scheduler_core.model import (
    AllowedHours,
    HeartbeatSpec,
    JobDefinition,
    PolicySpec,
    RunnerKind,
    SessionMode,
)

GUIDE = Path(__file__).parent / "dsl_cases" / "guide"
ENV = {"METRICS_API_KEY": "metrics-secret", "AGENT_PIN_JWT": "eyJ.jwt.sig"}
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def load(name: str) -> DslDocument:
    path = GUIDE / name
    return parse_dsl(path.read_text(), str(path), env=ENV, now=NOW)


def only_job(name: str) -> JobDefinition:
    doc = load(name)
    assert len(doc.jobs) == 1
    return doc.jobs[0]


def test_schedule_block_structure() -> None:
    job = only_job("01_daily_report.symbi")
    assert job.name == "daily-report"
    assert job.agent == "reporter-agent"
    assert job.cron == "0 9 * * *"
    assert job.at is None
    assert job.session_mode is SessionMode.EPHEMERAL_WITH_SUMMARY
    assert job.delivery == ("stdout", "log_file")
    assert job.policy == PolicySpec(require_approval=False, max_runtime_seconds=300.0)
    assert job.source == f"dsl:{GUIDE / '01_daily_report.symbi'}"
    assert job.id == ""


def test_one_shot_at_job() -> None:
    job = only_job("02_deployment_check.symbi")
    assert job.name == "deployment-check"
    assert job.agent == "health-checker"
    assert job.cron is None
    assert job.at == datetime(2026, 2, 15, 14, 30, tzinfo=UTC)
    assert job.is_one_shot
    assert job.delivery == ("webhook",)
    assert job.webhook_url == "https://ops.example.com/hooks/deployment"


def test_heartbeat_pattern() -> None:
    job = only_job("03_system_monitor.symbi")
    assert job.name == "system-monitor"
    assert job.agent == "heartbeat-agent"
    assert job.cron == "*/5 * * * *"  # the trailing comment is not part of the value
    assert job.heartbeat == HeartbeatSpec(
        enabled=True, context_mode=SessionMode.EPHEMERAL_WITH_SUMMARY, max_iterations=100
    )


def test_heartbeat_agent_example() -> None:
    doc = load("04_heartbeat_agent.symbi")
    (agent,) = doc.agents
    assert agent.name == "heartbeat_monitor"
    assert agent.runner is RunnerKind.LLM
    assert agent.model == "claude-sonnet-4.5"
    assert agent.provider == "anthropic"  # told by the model's name
    assert agent.system_prompt is not None
    assert agent.system_prompt.startswith("You are a system monitoring agent. On each heartbeat:\n")
    assert "- Alert ops team via Slack\n" in agent.system_prompt
    assert agent.system_prompt.endswith("5. Return 'sleep' when done")
    assert agent.system_prompt.count("\n") == 8  # nine lines
    assert agent.source == f"dsl:{GUIDE / '04_heartbeat_agent.symbi'}:1"
    (job,) = doc.jobs
    assert job.name == "heartbeat-monitor"
    assert job.agent == "heartbeat_monitor"
    assert job.cron == "*/10 * * * *"
    assert job.heartbeat == HeartbeatSpec(
        enabled=True, context_mode=SessionMode.EPHEMERAL_WITH_SUMMARY, max_iterations=50
    )
    assert job.delivery == ("log_file", "slack")
    assert job.slack_channel == "#ops-alerts"  # '#' inside a string is not a comment
    assert doc.positions == {
        "agent:heartbeat_monitor": (1, 1),
        "schedule:heartbeat-monitor": (15, 1),
    }


def test_session_mode_configuration() -> None:
    job = only_job("05_data_pipeline.symbi")
    assert (job.name, job.agent, job.cron) == ("data-pipeline", "etl-agent", "0 2 * * *")
    assert job.session_mode is SessionMode.EPHEMERAL_WITH_SUMMARY


def test_single_channel() -> None:
    job = only_job("06_backup.symbi")
    assert (job.name, job.agent, job.cron) == ("backup", "backup-agent", "0 3 * * *")
    assert job.delivery == ("log_file",)


def test_multiple_channels() -> None:
    job = only_job("07_security_scan.symbi")
    assert (job.name, job.agent, job.cron) == ("security-scan", "scanner", "0 1 * * *")
    assert job.delivery == ("log_file", "slack", "email")
    assert job.slack_channel == "#security"
    assert job.email_recipients == ("ops@example.com", "security@example.com")


def test_webhook_delivery_with_headers_map_without_commas() -> None:
    job = only_job("08_metrics_report.symbi")
    assert (job.name, job.agent, job.cron) == ("metrics-report", "metrics-agent", "*/30 * * * *")
    assert job.delivery == ("webhook",)
    assert job.webhook_url == "https://metrics.example.com/ingest"
    # kept as written: expanded only at delivery, and only if [secrets] allows it
    assert dict(job.webhook_headers) == {
        "Authorization": "Bearer ${METRICS_API_KEY}",
        "Content-Type": "application/json",
    }


def test_policy_conditions() -> None:
    job = only_job("09_production_deploy.symbi")
    assert (job.name, job.agent, job.cron) == ("production-deploy", "deploy-agent", "0 0 * * 0")
    assert job.policy == PolicySpec(
        require_approval=True,
        max_runtime_seconds=1800.0,
        require_capabilities=("deployment", "production_write"),
        allowed_hours=AllowedHours(start="00:00", end="04:00"),
        allowed_environments=("staging", "production"),
        require_agent_pin=True,
    )


def test_per_job_concurrency() -> None:
    job = only_job("10_data_sync.symbi")
    assert (job.name, job.agent, job.cron) == ("data-sync", "sync-agent", "*/5 * * * *")
    assert job.max_concurrent == 2


def test_dead_letter_max_retries() -> None:
    job = only_job("11_flaky_job.symbi")
    assert (job.name, job.agent, job.cron) == ("flaky-job", "unreliable-agent", "0 * * * *")
    assert job.max_retries == 3


def test_agentpin_verification() -> None:
    job = only_job("12_secure_task.symbi")
    assert (job.name, job.agent, job.cron) == ("secure-task", "trusted-agent", "0 * * * *")
    assert job.agent_pin_jwt == "${AGENT_PIN_JWT}"  # read when the pin is checked
    assert job.policy == PolicySpec(require_agent_pin=True)


def test_migration_block_without_diff_markers() -> None:
    job = only_job("13_migration_my_job.symbi")
    assert (job.name, job.agent, job.cron) == ("my-job", "my-agent", "0 * * * *")
    assert job.max_concurrent == 2
    assert job.agent_pin_jwt == "${AGENT_PIN_JWT}"
    assert job.policy.require_agent_pin


def test_migration_diff_markers_are_reported_not_loaded() -> None:
    text = (GUIDE / "migration_diff.txt").read_text()
    with pytest.raises(DslError) as info:
        parse_dsl(text, "diff.symbi", env=ENV)
    assert info.value.issues[0].line == 5
    assert "diff marker" in info.value.issues[0].message


@pytest.mark.parametrize("expr", ["0 9 * * *", "0 18 * * 1", "*/15 * * * *", "0 0 1 * *"], ids=str)
def test_cron_syntax_examples(expr: str) -> None:
    text = f'schedule {{\nname: "c"\nagent: "a"\n# comment line\ncron: "{expr}"\n}}\n'
    assert parse_dsl(text).jobs[0].cron == expr


def test_all_guide_blocks_load_together() -> None:
    bundle = load_dsl_files([GUIDE], env=ENV, now=NOW)
    assert [job.name for job in bundle.jobs] == [
        "daily-report",
        "deployment-check",
        "system-monitor",
        "heartbeat-monitor",
        "data-pipeline",
        "backup",
        "security-scan",
        "metrics-report",
        "production-deploy",
        "data-sync",
        "flaky-job",
        "secure-task",
        "my-job",
    ]
    assert [agent.name for agent in bundle.agents] == ["heartbeat_monitor"]
    assert bundle.location("schedule:backup") == (str(GUIDE / "06_backup.symbi"), 1, 1)


def test_indented_guide_block_loads_the_same() -> None:
    raw = (GUIDE / "09_production_deploy.symbi").read_text()
    lines = raw.splitlines()
    indented = "\n".join([lines[0], *(textwrap.indent(x, "    ") for x in lines[1:-1]), "}"])
    assert parse_dsl(indented).jobs[0].policy == only_job("09_production_deploy.symbi").policy


def test_upstream_form_schedule_name_after_keyword() -> None:
    doc = parse_dsl(
        """\
schedule nightly_backup {
  agent: "backup-agent"
  cron: "0 3 * * *"
}
schedule "quoted-name" { agent = backup-agent, cron = "0 3 * * *" }
"""
    )
    assert [j.name for j in doc.jobs] == ["nightly_backup", "quoted-name"]
    assert doc.jobs[1].agent == "backup-agent"  # bare words read as strings
    assert doc.positions["schedule:quoted-name"] == (5, 1)


def test_runner_inference_and_explicit_runner() -> None:
    doc = parse_dsl(
        """
        agent backup-agent { command: "tar czf /tmp/b.tgz /srv" }
        agent argv { command: ["python", "-m", "report"], env: { "MODE": "daily" } }
        agent py { handler: "mypkg.agents:check" capabilities: [read, write] }
        agent llm { model: "llama3.2" provider: "openai" base_url: "http://localhost:11434/v1" }
        agent explicit { runner: "python" handler: "m:f" model: "used-by-handler" }
        agent tuned { command: "x" timeout: 90s max_tokens: 10 temperature: 0.5 }
        """
    )
    by_name = {a.name: a for a in doc.agents}
    assert by_name["backup-agent"].runner is RunnerKind.COMMAND
    assert by_name["backup-agent"].command == "tar czf /tmp/b.tgz /srv"
    assert by_name["argv"].command == ("python", "-m", "report")
    assert dict(by_name["argv"].env) == {"MODE": "daily"}
    assert by_name["py"].runner is RunnerKind.PYTHON
    assert by_name["py"].capabilities == ("read", "write")
    assert by_name["llm"].runner is RunnerKind.LLM
    assert by_name["llm"].base_url == "http://localhost:11434/v1"
    assert by_name["explicit"].runner is RunnerKind.PYTHON
    assert by_name["tuned"].timeout_seconds == 90.0
    assert by_name["tuned"].temperature == 0.5


def test_syntax_variety() -> None:
    doc = parse_dsl(
        """
        // a C++-style comment
        schedule {
          name = "variety";  agent: "a",
          cron: "@daily"
          jitter: 30s
          misfire_grace: "2h"
          timezone: "Europe/Berlin"
          input: "line one\\nline \\"two\\" \\u00e9 \\${LITERAL} $${ALSO} ${HOME_X:-fallback}"
          delivery_config: { custom: { "url": "https://x" , retries: 2, on: true, off: null } }
          catch_up: skip
          policy { approvers: ["alice", "bob",], approval_timeout: 1d }
        }
        """,
        env={},
    )
    job = doc.jobs[0]
    assert job.jitter_seconds == 30.0
    assert job.misfire_grace_seconds == 7200.0
    assert job.timezone == "Europe/Berlin"
    # a schedule's input is plain text: nothing in it is expanded
    assert job.input == 'line one\nline "two" é ${LITERAL} ${ALSO} ${HOME_X:-fallback}'
    assert dict(job.delivery_config) == {
        "custom": {"url": "https://x", "retries": 2, "on": True, "off": None}
    }
    assert job.catch_up.value == "skip"
    assert job.policy.approvers == ("alice", "bob")
    assert job.policy.approval_timeout_seconds == 86400.0


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("claude-3-5-haiku", "anthropic"),
        ("gpt-4o-mini", "openai"),
        ("o1-preview", "openai"),
        ("o3", "openai"),
        ("o4-mini", "openai"),
    ],
)
def test_a_well_known_models_provider_is_inferred(model: str, provider: str) -> None:
    (agent,) = parse_dsl(f'agent a {{ model: "{model}" }}\n').agents
    assert agent.provider == provider
    # what the operator gives wins
    (agent,) = parse_dsl(f'agent a {{ model: "{model}" provider: "openai" }}\n').agents
    assert agent.provider == "openai"


def test_an_llm_agent_that_names_no_provider_is_refused_where_its_model_is() -> None:
    with pytest.raises(DslError) as caught:
        parse_dsl('agent local {\n  model: "llama3.2"\n}\n', path="agents.symbi")
    assert str(caught.value).startswith("agents.symbi:2:10: model: cannot tell which provider")
    assert "set provider (openai or anthropic) or base_url" in str(caught.value)
    # a base_url means an OpenAI-compatible server
    (agent,) = parse_dsl('agent a { model: "llama3.2" base_url: "http://127.0.0.1:1/v1" }').agents
    assert agent.provider is None and agent.base_url == "http://127.0.0.1:1/v1"


def test_triple_quoted_text_is_dedented_and_raw() -> None:
    doc = parse_dsl(
        'agent a {\n  model: "m" provider: "openai"\n'
        '  system_prompt: """\n    Use C:\\temp and "quotes".\n'
        '      Indented ${WHO}.\n    """\n}\n',
        env={"WHO": "you"},
    )
    assert doc.agents[0].system_prompt == 'Use C:\\temp and "quotes".\n  Indented you.'


def test_empty_and_comment_only_files_load_nothing() -> None:
    assert parse_dsl("").jobs == ()
    assert parse_dsl("# nothing\n// here\n/* or\nhere */\n").agents == ()
