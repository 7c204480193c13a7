"""``policy NAME { ... }`` blocks in DSL files: checked like an inline policy (file:line:col),
named by schedules, registered with them by ``symbi cron add --file`` (locally and through a
daemon), and shown merged, each rule with where it came from, by ``symbi cron status`` and
``GET /api/v1/schedule/{id}/policy``. Real processes: ``symbi`` and ``symbi-tui --daemon``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from scheduler_core.dsl import load_dsl_files, parse_dsl, validate_paths
from scheduler_core.errors import DslError
from scheduler_core.model import AllowedHours, PolicySpec
from scheduler_core.named_policies import NamedPolicy
from tests.test_cli_daemon import daemon
from tests.test_cli_symbi import Cli
from tests.test_retention_cli import make_cli

RELEASE = """\
policy release-window {
  require_approval: false
  max_runtime: "10m"
  allowed_hours { start: "22:00", end: "06:00" }
  allowed_environments: ["production"]
}

schedule {
  name: "nightly-deploy"
  agent: "deploy-agent"
  cron: "0 23 * * *"
  policies: ["release-window"]
  policy { max_runtime: "30m" }
}
"""


def issues(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(DslError) as caught:
        parse_dsl(text, "p.symbi", **kwargs)  # type: ignore[arg-type]
    return [str(issue) for issue in caught.value.issues]


def test_a_policy_block_holds_the_rules_of_an_inline_policy() -> None:
    doc = parse_dsl(RELEASE, "p.symbi")
    (policy,) = doc.policies
    assert policy.name == "release-window" and policy.source == "dsl:p.symbi:1"
    assert policy.spec == PolicySpec(
        max_runtime_seconds=600,
        allowed_hours=AllowedHours(start="22:00", end="06:00"),
        allowed_environments=("production",),
    )
    (job,) = doc.jobs
    assert job.policies == ("release-window",) and job.policy.max_runtime_seconds == 1800
    assert doc.summary == "p.symbi: OK, 1 schedule, 0 agents, 1 policy"


def test_a_bad_rule_in_a_policy_block_is_reported_where_it_was_written() -> None:
    text = 'policy p {\n  max_runtime: "soon"\n  require_aproval: true\n}\n'
    assert issues(text) == [
        'p.symbi:2:16: max_runtime: \'soon\' is not a duration (use e.g. "30s", "5m", "2h", "1d")',
        "p.symbi:3:3: unknown key 'require_aproval' in policy (did you mean 'require_approval'?)",
    ]
    assert issues("policy {\n  require_approval: true\n}\n") == [
        "p.symbi:1:1: policy block needs a name: policy NAME { ... }"
    ]
    twice = "policy p { max_runtime: 5m }\npolicy p { max_runtime: 6m }\n"
    assert issues(twice) == ['p.symbi:2:8: duplicate policy name "p" (first defined at 1:1)']


def test_a_schedule_naming_an_unknown_policy_is_refused_at_the_list(tmp_path: Path) -> None:
    path = tmp_path / "p.symbi"
    path.write_text(RELEASE.replace('policies: ["release-window"]', 'policies: ["release-windo"]'))
    with pytest.raises(DslError) as caught:
        load_dsl_files([path], known_policies={})
    (issue,) = caught.value.issues
    assert (issue.line, issue.col) == (12, 13)
    assert 'unknown policy "release-windo" (did you mean "release-window"?)' in issue.message
    # a policy the config defines is known
    path.write_text(RELEASE.replace("release-window {", "other {"))
    known = {"release-window": NamedPolicy(name="release-window", spec=PolicySpec())}
    assert load_dsl_files([path], known_policies=known).jobs[0].policies == ("release-window",)


def test_policies_that_contradict_are_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "p.symbi"
    path.write_text(
        RELEASE.replace('policy { max_runtime: "30m" }', 'policy { allowed_environments: ["dev"] }')
    )
    with pytest.raises(DslError) as caught:
        load_dsl_files([path], known_policies={})
    (issue,) = caught.value.issues
    assert "inline and policy release-window leave no allowed environments" in issue.message
    (report,) = validate_paths([path])  # validate checks each file alone: it is well formed
    assert report.ok and report.summary.endswith("1 policy")


#: without the hours window, so a run today is denied for its environment whatever the hour
ANYTIME = RELEASE.replace('  allowed_hours { start: "22:00", end: "06:00" }\n', "")


def _denied_run(cli: Cli, job: str) -> dict[str, object]:
    """``symbi cron run JOB --wait``: a denied run exits 1 and still prints the run."""
    out = cli("cron", "run", job, "--wait", "--format", "json")
    assert out.returncode == 1, (out.stdout, out.stderr)
    run = json.loads(out.stdout)
    assert run["status"] == "denied", run
    assert "not one of the allowed: production" in run["error_message"], run
    return dict(run)


def _status(cli: Cli, job: str) -> dict[str, object]:
    status = json.loads(cli.ok("cron", "status", job, "--format", "json"))
    assert isinstance(status, dict)
    return status


def test_add_file_registers_the_policy_and_a_daemon_gates_runs_by_it(tmp_path: Path) -> None:
    cli = make_cli(tmp_path / "m")
    deploy = cli.home / "deploy.symbi"
    deploy.write_text(RELEASE)
    out = cli.ok("cron", "add", "--file", str(deploy))
    assert out.splitlines() == ["registered policy release-window", "created nightly-deploy"]
    text = cli.ok("cron", "status", "nightly-deploy")
    assert re.search(r"^policies +release-window$", text, re.M)
    assert "max runtime 10m  (policy release-window)" in text  # the inline 30m does not hold
    assert "allowed hours 22:00-06:00  (policy release-window)" in text
    effective = _status(cli, "nightly-deploy")["effective_policy"]
    assert isinstance(effective, dict) and effective["error"] is None
    rules = {r["rule"]: r for r in effective["rules"]}
    assert rules["max_runtime_seconds"]["value"] == 600
    assert rules["allowed_environments"]["from"] == ["policy release-window"]
    # a daemon started afterwards knows the policy from the store and gates the run by it
    deploy.write_text(ANYTIME)
    cli.ok("cron", "add", "--file", str(deploy))
    with daemon(cli):
        _denied_run(cli, "nightly-deploy")
    # the same file again changes nothing; a changed rule is registered again
    assert cli.ok("cron", "add", "--file", str(deploy)).splitlines() == ["unchanged nightly-deploy"]
    deploy.write_text(ANYTIME.replace('max_runtime: "10m"', 'max_runtime: "20m"'))
    assert "registered policy release-window" in cli.ok("cron", "add", "--file", str(deploy))
    assert "max runtime 20m  (policy release-window)" in cli.ok("cron", "status", "nightly-deploy")


def test_through_a_daemon_the_policies_go_with_their_schedules(tmp_path: Path) -> None:
    cli = make_cli(tmp_path / "m")
    deploy = cli.home / "deploy.symbi"
    deploy.write_text(ANYTIME)
    with daemon(cli) as url:
        out = cli.ok("cron", "add", "--file", str(deploy))
        assert out.splitlines() == ["registered policy release-window", "created nightly-deploy"]
        key = (cli.home / "data" / "api-key").read_text().strip()
        auth = {"Authorization": f"Bearer {key}"}
        job_id = _status(cli, "nightly-deploy")["job"]["id"]  # type: ignore[index]
        answer = httpx.get(f"{url}/api/v1/schedule/{job_id}/policy", headers=auth, timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["name"] == "nightly-deploy" and body["policies"] == ["release-window"]
        runtime = next(r for r in body["rules"] if r["rule"] == "max_runtime_seconds")
        assert runtime == {
            "rule": "max_runtime_seconds",
            "label": "max runtime",
            "value": 600.0,
            "text": "10m",
            "from": ["policy release-window"],  # the inline 30m does not hold
        }
        # the run is gated by it at once
        _denied_run(cli, "nightly-deploy")
        # a bad rule in a policy sent to /apply names its field; nothing is created
        bad = {
            "jobs": [{"name": "x", "agent": "echo-agent", "cron": "0 9 * * *", "policies": ["p"]}],
            "policies": {"p": {"max_runtime": "soon"}},
        }
        refused = httpx.post(f"{url}/api/v1/apply", json=bad, headers=auth, timeout=10)
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "policies.p.max_runtime"
        assert "x" not in [j["name"] for j in cli.json("cron", "list")]


def test_through_a_daemon_a_name_it_does_not_know_is_refused_where_it_is_written(
    tmp_path: Path,
) -> None:
    """The daemon decides which policies and agents exist (its config, its store): what it
    refuses of a file is still reported at the file's place, as a load without it would be."""
    cli = make_cli(tmp_path / "m")
    deploy = cli.home / "deploy.symbi"
    deploy.write_text(
        ANYTIME.replace('policies: ["release-window"]', 'policies: ["release-window", "audit"]')
    )
    stranger = cli.home / "stranger.symbi"
    stranger.write_text('schedule {\n  name: "s"\n  agent:  "nobody"\n  cron: "0 9 * * *"\n}\n')
    with daemon(cli) as url:
        refused = cli("cron", "add", "--file", str(deploy))
        assert refused.returncode == 1, refused
        assert f'{deploy}:11:13: schedule "nightly-deploy": policies: unknown policy' in (
            refused.stderr
        ), refused.stderr
        refused = cli("cron", "add", "--file", str(stranger))
        assert refused.returncode == 1, refused
        assert f'{stranger}:3:11: schedule "s": agent: unknown agent' in refused.stderr
        assert [j["name"] for j in cli.json("cron", "list")] == []  # nothing of either file
        # the API names the body the refusal is about
        key = (cli.home / "data" / "api-key").read_text().strip()
        body = {
            "jobs": [
                {"name": "ok", "agent": "echo-agent", "cron": "0 9 * * *"},
                {"name": "x", "agent": "echo-agent", "cron": "0 9 * * *", "policies": ["nope"]},
            ]
        }
        answer = httpx.post(
            f"{url}/api/v1/apply",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "jobs[1].policies", answer.text
