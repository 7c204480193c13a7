"""`symbi cron export` for real: export, apply to an empty store, export again gives the same
text; the same through a daemon's API, and what each key role may export."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import tomlkit

from scheduler_core.jobspec import JOB_FIELDS
from tests.keys import ADMIN_KEY, KEYS_TOML, OPERATOR_KEY, VIEWER_KEY
from tests.test_cli_daemon import daemon
from tests.test_cli_symbi import Cli

HOOK_TOKEN = "hook-secret-value-4242"

CONFIG = """\
data_dir = "{home}/data"
[store]
url = "{home}/symbi.db"
[api]
port = 0
{api}
[scheduler]
shutdown_timeout_seconds = 2
[secrets]
env = ["HOOK_*", "PIN_*"]
"""

#: every JobDefinition field away from its default, over four jobs (``policies``: below)
SOURCE = r'''
agent "reporter" {
  command: ["sh", "-c", "printf 'a \"quoted\" \${NOT_EXPANDED}'"]
  env: { "GREETING": "héllo\tworld" }
  timeout: "30s"
  description: "writes the report"
}
agent "watcher" {
  model: "gpt-4o"
  system_prompt: """
    Watch things.
    Say "sleep" when done.
    """
  temperature: 0.25
}
schedule {
  name: "every-field"
  agent: "reporter"
  cron: "*/5 9-17 * * 1-5"
  timezone: "Europe/Paris"
  session_mode: "shared_persistent"
  delivery: ["webhook", "slack", "email", "log_file"]
  webhook_url: "https://hooks.example.com/x?token=${HOOK_TOKEN}"
  webhook_headers: { "Authorization": "Bearer ${HOOK_TOKEN}", "Content-Type": "application/json" }
  slack_channel: "#ops"
  email_recipients: ["ops@example.com"]
  delivery_config: { "slack": { "username": "bot" } }
  on_failure: ["email", "slack"]
  on_dead_letter: []
  policy {
    require_approval: true
    approvers: ["alice", "role:admin"]
    approval_timeout: "1h"
    max_runtime: "5m"
    require_capabilities: ["deploy"]
    allowed_hours: { start: "22:00", end: "06:00", timezone: "job" }
    allowed_environments: ["prod"]
    require_agent_pin: true
    max_cost_per_day: 2.5
  }
  max_concurrent: 3
  max_retries: 0
  jitter: "2500ms"
  catch_up: "skip"
  misfire_grace: "10m"
  agent_pin_jwt: "${PIN_JWT}"
  input: "line one\nline \"two\" \\ $${literal}"
}
schedule {
  name: "heartbeat-watch"
  agent: "watcher"
  cron: "@hourly"
  heartbeat: { enabled: true, context_mode: "fully_ephemeral", max_iterations: 7 }
  on_dead_letter: ["log_file"]
}
schedule {
  name: "one-shot"
  agent: "reporter"
  at: "2031-01-02T03:04:05Z"
}
schedule {
  name: "after-watch"
  agent: "reporter"
  after: "heartbeat-watch"
}
'''


def _machine(home: Path, api: str = "") -> Cli:
    home.mkdir(parents=True)
    cli = Cli(home, extra={"HOOK_TOKEN": HOOK_TOKEN})
    cli.config.write_text(CONFIG.format(home=home, api=api))
    return cli


def test_every_field_is_in_the_round_trip() -> None:
    """The round trip's source sets every job field but ``policies`` (the named policy blocks
    test below): a field added to JobDefinition must be added here."""
    set_here = {
        "name", "agent", "cron", "at", "after", "timezone", "session_mode", "delivery",
        "webhook_url", "webhook_headers", "slack_channel", "email_recipients", "delivery_config",
        "on_failure", "on_dead_letter", "policy", "heartbeat", "max_concurrent", "max_retries",
        "jitter_seconds", "catch_up", "misfire_grace_seconds", "agent_pin_jwt", "input",
    }  # fmt: skip
    assert set(JOB_FIELDS) - set_here == {"policies"}


def test_export_apply_to_an_empty_store_and_export_again_is_the_same(tmp_path: Path) -> None:
    first = _machine(tmp_path / "first")
    source = first.home / "source.symbi"
    source.write_text(SOURCE)
    first.ok("cron", "add", "--file", str(source))
    text = first.ok("cron", "export")
    assert HOOK_TOKEN not in text and "${HOOK_TOKEN}" in text
    assert 'agent "reporter" {' in text and 'agent "watcher" {' in text
    assert text.index('agent "reporter"') < text.index("schedule {")
    exported = first.home / "exported.symbi"
    exported.write_text(text)
    check = first("cron", "validate", str(exported))
    assert check.returncode == 0, check.stderr

    second = _machine(tmp_path / "second")
    added = second.ok("cron", "add", "--file", str(exported))
    assert "registered agent reporter" in added and "created every-field" in added
    assert second.ok("cron", "export") == text
    assert second.ok("cron", "export", "--format", "json") == first.ok(
        "cron", "export", "--format", "json"
    )
    # one job by name: its agent only
    one = second.ok("cron", "export", "heartbeat-watch")
    assert 'agent "watcher"' in one and 'agent "reporter"' not in one
    assert one.count("schedule {") == 1


def test_json_export_gives_bodies_cron_add_json_takes(tmp_path: Path) -> None:
    first = _machine(tmp_path / "first")
    source = first.home / "source.symbi"
    source.write_text(SOURCE)
    first.ok("cron", "add", "--file", str(source))
    body = json.loads(first.ok("cron", "export", "--format", "json"))
    assert set(body["agents"]) == {"reporter", "watcher"}
    assert body["agents"]["watcher"]["temperature"] == 0.25
    assert body["agents"]["reporter"]["command"][2] == "printf 'a \"quoted\" ${NOT_EXPANDED}'"
    # a config that knows the agents' names takes each exported job with `cron add --json`
    second = _machine(tmp_path / "second")
    with second.config.open("a") as config:
        config.write(tomlkit.dumps({"agents": {n: {"command": "true"} for n in body["agents"]}}))
    for job in body["jobs"]:
        second.ok("cron", "add", "--json", json.dumps(job))
    assert json.loads(second.ok("cron", "export", "--format", "json"))["jobs"] == body["jobs"]


def test_unknown_names_fail_with_the_closest(tmp_path: Path) -> None:
    cli = _machine(tmp_path / "m")
    source = cli.home / "source.symbi"
    source.write_text(SOURCE)
    cli.ok("cron", "add", "--file", str(source))
    out = cli("cron", "export", "one-shots")
    assert out.returncode == 1 and "one-shot" in out.stderr and out.stdout == ""
    bad = cli("cron", "export", "--format", "yaml")
    assert bad.returncode == 2 and "--format" in bad.stderr


def test_named_policies_round_trip_as_policy_blocks(tmp_path: Path) -> None:
    first = _machine(tmp_path / "first")
    with first.config.open("a") as config:
        config.write('[policies.night]\nallowed_hours = { start = "22:00", end = "06:00" }\n')
    first.ok("cron", "add", "--json", '{"name": "n", "agent": "a", "cron": "@daily", '
             '"policies": ["night"]}')  # fmt: skip
    text = first.ok("cron", "export")
    assert 'policy "night" {' in text
    second = _machine(tmp_path / "second")
    exported = second.home / "exported.symbi"
    exported.write_text(text)
    second.ok("cron", "add", "--file", str(exported))
    assert second.ok("cron", "export") == text


def test_through_a_daemon_and_what_each_role_may_export(tmp_path: Path) -> None:
    cli = _machine(tmp_path / "m", api=f'api_keys = ["{ADMIN_KEY}"]\n{KEYS_TOML}')
    cli.extra["SYMBI_API_KEY"] = ADMIN_KEY
    source = cli.home / "source.symbi"
    source.write_text(SOURCE)
    cli.ok("cron", "add", "--file", str(source))
    local = cli.ok("cron", "export")
    cli.ok(
        "cron",
        "add",
        "--json",
        '{"name": "literal", "agent": "reporter", "cron": "@daily", '
        '"webhook_headers": {"X-Api-Key": "typed-in-secret-77"}}',
    )
    with daemon(cli) as address:
        remote = cli.ok(
            "cron", "export", "every-field", "heartbeat-watch", "one-shot", "after-watch"
        )
        assert remote == local  # the daemon's export is the store's

        def get(key: str, **params: str | list[str]) -> httpx.Response:
            return httpx.get(
                f"{address}/api/v1/export",
                params=params,
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            )

        viewer = get(VIEWER_KEY, name="every-field")
        assert viewer.status_code == 200 and viewer.headers["content-type"].startswith("text/")
        assert "${HOOK_TOKEN}" in viewer.text and HOOK_TOKEN not in viewer.text
        as_json = get(VIEWER_KEY, format="json", name=["one-shot", "every-field"])
        assert [j["name"] for j in as_json.json()["jobs"]] == ["every-field", "one-shot"]
        # a secret written literally goes to an admin key only
        for key in (VIEWER_KEY, OPERATOR_KEY):
            refused = get(key, name="literal")
            assert refused.status_code == 403
            assert "webhook_headers.X-Api-Key" in refused.json()["error"]
            assert "typed-in-secret-77" not in refused.text
        everything = get(VIEWER_KEY)
        assert everything.status_code == 403
        admin = get(ADMIN_KEY, name="literal")
        assert admin.status_code == 200 and '"X-Api-Key": "typed-in-secret-77"' in admin.text
        assert get(VIEWER_KEY, name="nobody").status_code == 404
        assert get(VIEWER_KEY, format="yaml").status_code == 422
