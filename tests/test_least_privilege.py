"""Issue 19, as an attacker holding an ordinary API key would try it, against a real daemon.

A daemon whose environment holds its API key, an SMTP password, an LLM key and a cloud key:
no job made through its API can send any of them anywhere (``${VAR}`` only for names the
operator allows, never in a URL's host), no agent sees them unless its definition names them,
every delivery field is checked when the job is made, and the daemon's files are private.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .delivery_servers import ScriptedHTTPServer, running
from .test_daemon import PY, Daemon, clean_env, poll, write_config

API_KEY = "symbi-test-admin-key-0123456789"
SMTP_PASS = "smtp-pass-Qx81Lm2z"
LLM_KEY = "llm-key-Vb93Kd0w"
AWS_KEY = "aws-secret-Hn27Pc4y"
HOOK_TOKEN = "hook-token-Tr55Ws8e"
DUMP = [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"]


@pytest.fixture
def hook() -> Iterator[ScriptedHTTPServer]:
    yield from running(ScriptedHTTPServer())


def _config(tmp: Path) -> Path:
    dump = json.dumps(DUMP)
    return write_config(
        tmp,
        extra=f"""
[agents.envdump]
command = {dump}
[agents.cloud]
command = {dump}
inherit_env = ["AWS_*", "SYMBI_*"]
[agents.writer]
command = [{PY}, "-c", "open('agent-made.txt', 'w').write('x')"]
working_dir = {json.dumps(str(tmp))}
[secrets]
env = ["HOOK_*"]
""",
    )


def _env(tmp: Path) -> dict[str, str]:
    env = clean_env(tmp)
    env.update(
        SYMBI_API_KEY=API_KEY,
        SMTP_PASS=SMTP_PASS,
        MY_LLM_KEY=LLM_KEY,
        AWS_SECRET_ACCESS_KEY=AWS_KEY,
        HOOK_TOKEN=HOOK_TOKEN,
    )
    return env


def _symbi(
    tmp: Path, config: Path, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "symbi_tui.cli.symbi", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
        timeout=60,
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _refused(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("/api/v1/schedule", json=body)
    assert answer.status_code == 422, answer.text
    data: dict[str, Any] = answer.json()
    return data


def _job(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "agent": "envdump", "cron": "0 9 * * *", **fields}


def _delivered(hook: ScriptedHTTPServer, count: int) -> list[Any]:
    poll(lambda: len(hook.requests) >= count, timeout=30)
    return hook.requests


@pytest.mark.slow
def test_an_api_key_holder_reads_nothing_of_the_daemon(
    tmp_path: Path, hook: ScriptedHTTPServer
) -> None:
    config = _config(tmp_path)
    env = _env(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o755)  # left open by an older version: said at start, with the fix
    # a job stored by an older version, its header's ${HOOK_TOKEN} written out at DSL load
    old = _job(
        "old-report",
        delivery=["webhook"],
        webhook_url=f"{hook.url}/old",
        webhook_headers={"Authorization": f"Bearer {HOOK_TOKEN}"},
    )
    added = _symbi(tmp_path, config, "cron", "add", "--json", json.dumps(old), env=env)
    assert added.returncode == 0, added.stderr
    umask = os.umask(0o022)  # the operator's umask, which agents keep
    try:
        daemon = Daemon(config, env)
    finally:
        os.umask(umask)
    try:
        url = daemon.url
        # 3. private files: what the daemon made is 0600, what it found open is reported
        loose = daemon.wait_for(lambda line: line.get("event") == "files.private")
        assert loose["path"] == str(data) and loose["fix"] == f"chmod 700 {data}", loose
        db = tmp_path / "symbi.db"
        poll(lambda: Path(f"{db}-wal").exists() and Path(f"{db}-shm").exists())
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), data / "daemon.log"):
            assert _mode(path) == 0o600, (path, oct(_mode(path)))
        written = daemon.event("secrets.written_out")
        assert (written["job"], written["field"], written["variable"]) == (
            "old-report",
            "webhook_headers.Authorization",
            "HOOK_TOKEN",
        )

        headers = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=url, headers=headers, timeout=15) as client:
            # 1. ${VAR}: only what [secrets] allows, never in a URL's scheme or host
            leak_url = _refused(
                client, _job("leak-1", webhook_url=f"{hook.url}/collect/${{SMTP_PASS}}")
            )
            assert leak_url["field"] == "webhook_url", leak_url
            assert "${SMTP_PASS} is not an allowed secret" in leak_url["error"]
            leak_header = _refused(
                client,
                _job(
                    "leak-2",
                    webhook_url=f"{hook.url}/x",
                    webhook_headers={"X-Leak": "${MY_LLM_KEY}"},
                ),
            )
            assert leak_header["field"] == "webhook_headers.X-Leak", leak_header
            host = _refused(client, _job("leak-3", webhook_url="http://${HOOK_TOKEN}.evil/x"))
            assert host["field"] == "webhook_url" and "host" in host["error"], host
            pin = _refused(client, _job("leak-4", agent_pin_jwt="${AWS_SECRET_ACCESS_KEY}"))
            assert pin["field"] == "agent_pin_jwt", pin
            # 7. every delivery field is checked when the job is made
            for fields, where in (
                ({"delivery": ["webhook", "pagerdutty"]}, "delivery[1]"),
                ({"email_recipients": ["ops@example.com\r\nBcc: x@evil"]}, "email_recipients[0]"),
                ({"email_recipients": ["Ops <ops@example.com>"]}, "email_recipients[0]"),
                ({"webhook_headers": {"Bad Name": "x"}}, "webhook_headers.Bad Name"),
                ({"webhook_headers": {"X-A": "v\r\nX-B: injected"}}, "webhook_headers.X-A"),
                ({"webhook_url": "file:///etc/passwd"}, "webhook_url"),
                ({"webhook_url": "gopher://127.0.0.1:25/x"}, "webhook_url"),
                (
                    {"delivery_config": {"slack": {"webhook_url": "ftp://hooks.example/x"}}},
                    "delivery_config.slack.webhook_url",
                ),
            ):
                refused = _refused(client, _job("bad-delivery", **fields))
                assert refused["field"] == where, (fields, refused)
            assert client.get("/api/v1/schedule").json()[0]["name"] == "old-report"
            # a DSL file sent through the daemon: its refusal at the schedule's place
            bad = tmp_path / "bad.symbi"
            bad.write_text(
                'schedule {\n  name: "via-file"\n  agent: "envdump"\n  cron: "0 9 * * *"\n'
                '  webhook_url: "https://hooks.example.com/${SMTP_PASS}"\n}\n'
            )
            sent_file = _symbi(tmp_path, config, "cron", "add", "--file", str(bad), env=env)
            assert sent_file.returncode != 0
            assert (
                f'{bad}:1:1: schedule "via-file": webhook_url: ${{SMTP_PASS}} is not an allowed '
                "secret" in sent_file.stderr
            ), sent_file.stderr

            # an allowed name is sent, expanded at delivery; the store keeps it literally
            made = client.post(
                "/api/v1/schedule",
                json=_job(
                    "report",
                    delivery=["webhook"],
                    webhook_url=f"{hook.url}/collect",
                    webhook_headers={"X-Token": "${HOOK_TOKEN}"},
                ),
            )
            assert made.status_code == 201, made.text
            assert client.post("/api/v1/schedule/report/run").status_code < 300
            (sent,) = _delivered(hook, 1)
            assert sent.path == "/collect" and sent.headers["x-token"] == HOOK_TOKEN
            # 2. the agent's environment: the basics and the run's variables, no secret
            agent_env = json.loads(sent.json()["output"])
            assert "PATH" in agent_env and agent_env["SYMBI_JOB_NAME"] == "report"
            assert "SYMBI_RUN_ID" in agent_env
            for name in ("SYMBI_API_KEY", "SMTP_PASS", "MY_LLM_KEY", "AWS_SECRET_ACCESS_KEY"):
                assert name not in agent_env, name
            for secret in (API_KEY, SMTP_PASS, LLM_KEY, AWS_KEY, HOOK_TOKEN):
                assert secret not in sent.body.decode(), secret
            with sqlite3.connect(tmp_path / "symbi.db") as conn:
                (definition,) = conn.execute(
                    "SELECT definition FROM jobs WHERE name = 'report'"
                ).fetchone()
            assert "${HOOK_TOKEN}" in definition and HOOK_TOKEN not in definition

            # inherit_env names what an agent also gets; a glob never gives it the API key
            cloud = client.post(
                "/api/v1/schedule",
                json={
                    **_job("cloud", delivery=["webhook"], webhook_url=f"{hook.url}/cloud"),
                    "agent": "cloud",
                },
            )
            assert cloud.status_code == 201, cloud.text
            assert client.post("/api/v1/schedule/cloud/run").status_code < 300
            cloud_env = json.loads(_delivered(hook, 2)[1].json()["output"])
            assert cloud_env["AWS_SECRET_ACCESS_KEY"] == AWS_KEY
            assert "SYMBI_API_KEY" not in cloud_env and "SMTP_PASS" not in cloud_env

            # agents keep the operator's umask (the daemon's own 077 is not theirs)
            writer = client.post("/api/v1/schedule", json={**_job("writer"), "agent": "writer"})
            assert writer.status_code == 201, writer.text
            assert client.post("/api/v1/schedule/writer/run").status_code < 300
            made_by_agent = tmp_path / "agent-made.txt"
            poll(made_by_agent.exists)
            assert _mode(made_by_agent) == 0o644
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    log = "".join(daemon.raw) + (data / "daemon.log").read_text()
    for secret in (API_KEY, SMTP_PASS, LLM_KEY, AWS_KEY, HOOK_TOKEN):
        assert secret not in log, secret


def test_config_validate_reports_secrets_written_out_and_open_files(tmp_path: Path) -> None:
    """A store from a version that expanded ${VAR} at DSL load: said, never rewritten, and the
    value is never shown."""
    config = _config(tmp_path)
    env = _env(tmp_path)
    old = _job(
        "old-report",
        delivery=["webhook"],
        webhook_url="https://hooks.example.com/in",
        webhook_headers={"Authorization": f"Bearer {HOOK_TOKEN}"},
    )
    assert (
        _symbi(tmp_path, config, "cron", "add", "--json", json.dumps(old), env=env).returncode == 0
    )
    db = tmp_path / "symbi.db"
    assert _mode(db) == 0o600  # made by the CLI: private too
    os.chmod(db, 0o644)
    before = db.read_bytes()
    out = _symbi(tmp_path, config, "config", "validate", env=env)
    assert out.returncode == 0, out.stderr
    assert (
        "job 'old-report': webhook_headers.Authorization holds the value of HOOK_TOKEN "
        "written out" in out.stderr
    ), out.stderr
    assert f"fix it with: chmod 600 {db}" in out.stderr
    assert HOOK_TOKEN not in out.stdout + out.stderr
    assert db.read_bytes() == before and _mode(db) == 0o644  # nothing changed behind our back


def test_the_cli_refuses_a_job_naming_a_variable_it_may_not(tmp_path: Path) -> None:
    config = _config(tmp_path)
    env = _env(tmp_path)
    body = _job("leak", webhook_url="https://hooks.example.com/${SMTP_PASS}")
    out = _symbi(tmp_path, config, "cron", "add", "--json", json.dumps(body), env=env)
    assert out.returncode != 0
    assert "webhook_url: ${SMTP_PASS} is not an allowed secret" in out.stderr, out.stderr
    assert SMTP_PASS not in out.stdout + out.stderr


async def test_start_up_reports_a_few_secrets_written_out_then_counts_the_rest(
    harness_factory: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from scheduler_core.daemon import WRITTEN_OUT_SHOWN, _warn_written_out

    monkeypatch.setenv("HOOK_TOKEN", HOOK_TOKEN)
    h = await harness_factory()
    await h.service.add_jobs(
        [
            _job(
                f"old-{i:02d}",
                agent="reporter",
                webhook_url="https://hooks.example.com/in",
                webhook_headers={"Authorization": f"Bearer {HOOK_TOKEN}"},
            )
            for i in range(WRITTEN_OUT_SHOWN + 5)
        ]
    )
    with caplog.at_level("WARNING", logger="symbi.daemon"):
        await _warn_written_out(h.store, h.engine.config)
    lines = [r.getMessage() for r in caplog.records if r.name == "symbi.daemon"]
    assert len(lines) == WRITTEN_OUT_SHOWN + 1, lines
    assert lines[0].startswith("job 'old-00': webhook_headers.Authorization holds the value of")
    assert lines[-1].startswith("... and 5 more stored field(s) holding a secret written out")
    assert all(HOOK_TOKEN not in line for line in lines)
    stored = await h.service.get_job("old-00")
    assert stored.webhook_headers["Authorization"] == f"Bearer {HOOK_TOKEN}"  # left as it was


async def test_start_up_names_a_stored_reference_the_list_does_not_allow(
    harness_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A job the API stored before [secrets] existed: its deliveries would fail, so start-up
    says which job and field (and changes nothing)."""
    from dataclasses import replace

    from scheduler_core.daemon import _warn_written_out
    from scheduler_core.jobspec import job_from_mapping

    h = await harness_factory()
    legacy = job_from_mapping(
        _job(
            "legacy",
            agent="reporter",
            webhook_url="https://hooks.example.com/in",
            webhook_headers={"X-Token": "${OLD_TOKEN}"},
        )
    )
    now = h.clock.now()  # stored as an older version did, without today's checks
    await h.store.insert_jobs([replace(legacy, id="legacy-1", created_at=now, updated_at=now)], [])
    with caplog.at_level("WARNING", logger="symbi.daemon"):
        await _warn_written_out(h.store, h.engine.config)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "symbi.daemon"]
    assert line.startswith(
        "job 'legacy': webhook_headers.X-Token names ${OLD_TOKEN}, which [secrets] does not allow"
    ), line


@pytest.mark.slow
def test_a_new_daemon_makes_its_files_private(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    store = json.dumps(str(tmp_path / "symbi.db"))
    config.write_text(
        config.read_text().replace(store, json.dumps(str(tmp_path / "data/symbi.db")))
    )
    umask = os.umask(0o022)  # an operator's usual umask: the daemon's files are private anyway
    try:
        daemon = Daemon(config, clean_env(tmp_path))
    finally:
        os.umask(umask)
    try:
        daemon.event("api.listening")
        data = tmp_path / "data"
        assert _mode(data) == 0o700
        for name in ("symbi.db", "symbi.db-wal", "symbi.db-shm", "daemon.log", "api-key"):
            poll((data / name).exists)
            assert _mode(data / name) == 0o600, name
        assert not [line for line in daemon.lines if line.get("event") == "files.private"]
        assert daemon.stop() == 0
    finally:
        daemon.kill()


async def test_the_start_up_scan_reads_only_jobs_with_template_fields(
    harness_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan asks the store for the jobs whose definition has a field that may hold a
    secret, a page at a time (a store of plain jobs: none), not for every job."""
    from scheduler_core.secrets import SecretPolicy, scan_store

    monkeypatch.setenv("HOOK_TOKEN", HOOK_TOKEN)
    h = await harness_factory()
    plain = [_job(f"plain-{i}", agent="reporter") for i in range(5)]
    hooked = [
        _job(
            f"hooked-{i}",
            agent="reporter",
            webhook_url="https://hooks.example.com/in",
            webhook_headers={"Authorization": f"Bearer {HOOK_TOKEN}"},
        )
        for i in range(3)
    ]
    await h.service.add_jobs([*plain, *hooked])
    first = await h.store.jobs_with_templates("", 2)
    rest = await h.store.jobs_with_templates(first[-1].id, 2)
    assert sorted(j.name for j in [*first, *rest]) == ["hooked-0", "hooked-1", "hooked-2"]
    assert len(first) == 2 and len(rest) == 1
    asked: list[str] = []
    read = h.store.list_jobs

    async def counting(query: Any) -> Any:
        asked.append("list_jobs")
        return await read(query)

    monkeypatch.setattr(h.store, "list_jobs", counting)
    found = await scan_store(h.store, SecretPolicy.of(h.engine.config.secrets))
    assert [f.job for f in found] == ["hooked-0", "hooked-1", "hooked-2"] and not asked
