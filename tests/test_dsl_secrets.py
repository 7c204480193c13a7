"""DSL files under issue 19: ``${VAR}`` means what it means through the API (kept as written,
checked against ``[secrets]`` at file:line:col), and only regular files of bounded size are read.

Through the ``symbi`` command line, as an operator runs it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler_core.config import load_config_text
from scheduler_core.delivery.checks import DeliveryRules
from scheduler_core.dsl import parse_dsl
from scheduler_core.errors import DslError
from scheduler_core.model import JobDefinition, JobRun, RunStatus
from scheduler_core.runtime.agents import AgentExecutor
from scheduler_core.runtime.base import RunContext

from .test_cli_symbi import PYCACHE

TOKEN = "hook-token-Tr55Ws8e"
CONFIG = """
[secrets]
env = ["HOOK_*"]
[agents.reporter]
command = ["true"]
"""
SCHEDULE = """schedule {{
  name: "report"
  agent: "reporter"
  cron: "0 9 * * *"
  delivery: [{channels}]
  webhook_url: "{url}"
  webhook_headers: {{ "X-Token": "{header}" }}
}}
"""


def symbi(tmp: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYMBI_")}
    env.update(
        PYTHONPYCACHEPREFIX=PYCACHE,
        SYMBI_DB=str(tmp / "symbi.db"),
        XDG_CONFIG_HOME=str(tmp / "xdg"),
        XDG_DATA_HOME=str(tmp / "xdg"),
        HOOK_TOKEN=TOKEN,
        SMTP_PASS="smtp-pass-Qx81Lm2z",
    )
    config = tmp / "config.toml"
    if not config.exists():
        config.write_text(CONFIG)
    return subprocess.run(
        [sys.executable, "-m", "symbi_tui.cli.symbi", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=timeout,
    )


def schedule(
    channels: str = '"webhook"',
    url: str = "https://hooks.example.com/in",
    header: str = "${HOOK_TOKEN}",
) -> str:
    return SCHEDULE.format(channels=channels, url=url, header=header)


def test_a_schedule_keeps_its_variables_as_written(tmp_path: Path) -> None:
    source = tmp_path / "report.symbi"
    source.write_text(schedule(url="https://hooks.example.com/in?token=${HOOK_TOKEN}"))
    assert symbi(tmp_path, "cron", "validate", str(source)).returncode == 0
    added = symbi(tmp_path, "cron", "add", "--file", str(source))
    assert added.returncode == 0, added.stderr
    with sqlite3.connect(tmp_path / "symbi.db") as conn:
        (definition,) = conn.execute("SELECT definition FROM jobs").fetchone()
    stored = json.loads(definition)
    assert stored["webhook_headers"] == {"X-Token": "${HOOK_TOKEN}"}
    assert stored["webhook_url"] == "https://hooks.example.com/in?token=${HOOK_TOKEN}"
    assert TOKEN not in definition


@pytest.mark.parametrize(
    ("text", "line", "col", "message"),
    [
        (
            schedule(header="Bearer ${SMTP_PASS}"),
            7,
            33,
            "webhook_headers.X-Token: ${SMTP_PASS} is not an allowed secret (allowed: HOOK_*)",
        ),
        (
            schedule(url="https://${HOOK_TOKEN}.example.com/in"),
            6,
            16,
            "webhook_url: a ${VAR} may stand only in a URL's path or query, not in its "
            "scheme or host",
        ),
        (schedule(url="file:///etc/passwd"), 6, 16, "webhook_url: must be an http:// or https://"),
        (
            schedule(channels='"webhook", "pagerdutty"'),
            5,
            25,
            "delivery[1]: unknown delivery channel 'pagerdutty' (known: email, log_file",
        ),
        (
            schedule(header="a\\r\\nX-Evil: 1"),
            7,
            33,
            "webhook_headers.X-Token: must not contain line breaks",
        ),
    ],
    ids=["not_allowed", "in_host", "file_url", "unknown_channel", "crlf_header"],
)
def test_cron_validate_names_the_place_of_each_refusal(
    tmp_path: Path, text: str, line: int, col: int, message: str
) -> None:
    source = tmp_path / "bad.symbi"
    source.write_text(text)
    out = symbi(tmp_path, "cron", "validate", str(source))
    assert out.returncode == 1, out.stdout
    assert f"{source}:{line}:{col}: {message}" in out.stderr, out.stderr
    added = symbi(tmp_path, "cron", "add", "--file", str(source))
    assert added.returncode != 0 and f"{source}:{line}:{col}: " in added.stderr, added.stderr
    assert (
        not (tmp_path / "symbi.db").exists()
        or "report" not in symbi(tmp_path, "cron", "list").stdout
    )


def test_an_agent_block_is_the_operator_s_own_and_expands_at_load() -> None:
    rules = DeliveryRules.of(load_config_text(CONFIG))
    doc = parse_dsl(
        'agent a {\n  command: "x"\n  env: { TOKEN: "${HOOK_TOKEN}", LIT: "\\${KEEP}" }\n'
        '  inherit_env: ["AWS_*", "LANGUAGE"]\n}\n',
        env={"HOOK_TOKEN": TOKEN},
        rules=rules,
    )
    (agent,) = doc.agents
    assert dict(agent.env) == {"TOKEN": TOKEN, "LIT": "${KEEP}"}
    assert agent.inherit_env == ("AWS_*", "LANGUAGE")
    with pytest.raises(DslError) as bad:
        parse_dsl('agent a {\n  command: "x"\n  inherit_env: ["AWS-*"]\n}\n', env={})
    assert str(bad.value.issues[0]).startswith("<string>:3:17: inherit_env[0]: 'AWS-*'")


async def test_a_python_agent_gets_the_clean_environment_for_what_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYMBI_API_KEY", "symbi-test-admin-key-0123456789")
    monkeypatch.setenv("SMTP_PASS", "smtp-pass-Qx81Lm2z")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    seen: dict[str, str] = {}

    def handler(ctx: RunContext) -> str:
        out = subprocess.run(
            [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"],
            env=dict(ctx.env),
            capture_output=True,
            text=True,
            check=True,
        )
        seen.update(json.loads(out.stdout))
        return "ok"

    from scheduler_core.dsl import agent_from_mapping

    agent = agent_from_mapping(
        {"handler": "tests.test_dsl_secrets:handler", "inherit_env": ["AWS_*"]}, name="py"
    )
    executor = AgentExecutor({"py": agent})
    executor._handlers[agent.handler or ""] = handler
    job = JobDefinition(id="j1", name="job", agent="py")
    run = JobRun(
        id="r1",
        job_id="j1",
        job_name="job",
        agent_id="py",
        status=RunStatus.RUNNING,
        scheduled_for=datetime(2026, 3, 2, 9, tzinfo=UTC),
    )
    await executor.execute(RunContext(job=job, run=run, input=None))
    assert seen["SYMBI_RUN_ID"] == "r1" and seen["AWS_REGION"] == "eu-west-1"
    assert "SYMBI_API_KEY" not in seen and "SMTP_PASS" not in seen


# --- 8. only regular files, never more than the limit ----------------------------------------


@pytest.mark.parametrize("kind", ["dev_zero", "fifo", "directory_entry"])
def test_cron_validate_refuses_what_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "evil.symbi"
    given = target
    if kind == "dev_zero":
        target.symlink_to("/dev/zero")
        what = "a character device"
    elif kind == "fifo":
        os.mkfifo(target)
        what = "a named pipe (FIFO)"
    else:
        folder = tmp_path / "schedules"
        folder.mkdir()
        target = folder / "inner.symbi"
        target.mkdir()
        given = folder
        what = "a directory"
    started = time.monotonic()
    out = symbi(tmp_path, "cron", "validate", str(given), timeout=30)
    assert out.returncode == 1, out.stdout
    assert f"{target}:1:1: not a regular file ({what})" in out.stderr, out.stderr
    assert time.monotonic() - started < 20  # refused, not read until the memory runs out


def test_cron_validate_reads_no_more_than_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.symbi"
    with big.open("wb") as f:
        f.truncate(64 * 1024 * 1024)  # sparse: 64 MiB of zeros
    out = symbi(tmp_path, "cron", "validate", str(big))
    assert out.returncode == 1
    assert f"{big}:1:1: file too large: more than 4194304 bytes" in out.stderr, out.stderr


def test_the_secrets_table_is_checked_key_by_key(tmp_path: Path) -> None:
    from scheduler_core.config import config_to_toml, validate_config_file

    bad = tmp_path / "bad.toml"
    bad.write_text('[secrets]\nenv = ["SLACK-*", "*"]\n[secrets.values]\n"NOT A NAME" = "x"\n')
    errors = [str(e) for e in validate_config_file(bad, env={})]
    assert any(
        e.startswith(f"{bad}:2 secrets.env: item 0: 'SLACK-*' is not a variable name")
        for e in errors
    ), errors
    assert any("item 1: the glob '*' would cover SYMBI_API_KEY" in e for e in errors), errors
    assert any("secrets.values.NOT A NAME" in e for e in errors), errors
    shown = config_to_toml(load_config_text('[secrets.values]\nWEBHOOK_TOKEN = "s3cr3t-value"\n'))
    assert "WEBHOOK_TOKEN" in shown and "s3cr3t-value" not in shown
