"""Keys with roles, through a real daemon: what each role may do (403 bodies that say which
role is needed), the audit actor (the key's name, never its value), approvers enforced, short
keys refused, health without a key showing only the guide's fields, and ``symbi`` showing a
refusal and exiting non-zero.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.keys import (
    ADMIN_KEY,
    ALICE_KEY,
    KEY,
    KEYS_TOML,
    OPERATOR_KEY,
    VIEWER_KEY,
)
from tests.test_cli_symbi import Cli
from tests.test_daemon import DAEMON, Daemon, clean_env, poll, write_config

GATED = {
    "name": "deploy",
    "agent_id": "echo",
    "cron_expr": "0 0 1 1 *",
    "policy": {"require_approval": True, "approvers": ["alice"]},
}
ADMINS_ONLY = {
    "name": "migrate",
    "agent_id": "echo",
    "cron_expr": "0 0 1 1 *",
    "policy": {"require_approval": True, "approvers": ["role:admin"]},
}
ALL_KEYS = (KEY, VIEWER_KEY, OPERATOR_KEY, ALICE_KEY, ADMIN_KEY)


def _with_api(config: Path, line: str) -> Path:
    """``config`` with ``line`` added to its [api] table."""
    config.write_text(config.read_text().replace("[api]\n", f"[api]\n{line}\n", 1))
    return config


def _client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Daemon, str, Path]]:
    config = _with_api(write_config(tmp_path, extra=KEYS_TOML), f'api_keys = ["{KEY}"]')
    daemon = Daemon(config, clean_env(tmp_path))
    try:
        yield daemon, daemon.url, config
    finally:
        daemon.kill()


def _refused(response: httpx.Response, required: str, role: str) -> dict[str, Any]:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "forbidden" and body["details"]["required_role"] == required, body
    assert body["details"]["role"] == role and f"the {required}" in body["error"], body
    return body


def test_each_role_may_do_its_own_and_is_told_what_it_lacks(
    served: tuple[Daemon, str, Path],
) -> None:
    daemon, url, _ = served
    texts: list[str] = []
    with (
        _client(url, VIEWER_KEY) as viewer,
        _client(url, OPERATOR_KEY) as ci,
        _client(url, ADMIN_KEY) as root,
        _client(url, KEY) as listed,
    ):
        assert viewer.get("/api/v1/whoami").json() == {"key": "watcher", "role": "viewer"}
        assert ci.get("/api/v1/whoami").json() == {"key": "ci", "role": "operator"}
        assert listed.get("/api/v1/whoami").json() == {"key": "key-1", "role": "admin"}

        job = {"name": "report", "agent_id": "echo", "cron_expr": "0 0 1 1 *"}
        # viewer: reads only
        refused = _refused(viewer.post("/api/v1/schedule", json=job), "admin", "viewer")
        texts.append(refused["error"])
        created = root.post("/api/v1/schedule", json=job)
        assert created.status_code == 201, created.text
        for path in ("/api/v1/schedule", "/api/v1/runs", "/api/v1/audit", "/api/v1/approvals"):
            answer = viewer.get(path)
            assert answer.status_code == 200, (path, answer.text)
            texts.append(answer.text)
        body = _refused(viewer.post("/api/v1/schedule/report/pause"), "operator", "viewer")
        assert body["error"] == (
            "the API key 'watcher' has the viewer role: \"Pause a job\" needs the operator or "
            "admin role"
        )
        _refused(viewer.post("/api/v1/schedules/report/trigger"), "operator", "viewer")
        _refused(viewer.get("/api/v1/logs"), "admin", "viewer")
        # operator: acts on what exists, defines nothing
        assert ci.post("/api/v1/schedule/report/pause").status_code == 200
        assert ci.post("/api/v1/schedule/report/resume").status_code == 200
        assert ci.post("/api/v1/schedule/report/run").status_code == 202
        change = {"cron_expr": "5 0 1 1 *"}
        _refused(ci.put("/api/v1/schedule/report", json=change), "admin", "operator")
        _refused(ci.delete("/api/v1/schedule/report"), "admin", "operator")
        _refused(ci.post("/api/v1/apply", json={"jobs": [job]}), "admin", "operator")
        _refused(ci.post("/api/v1/store/prune", json={"dry_run": True}), "admin", "operator")
        _refused(ci.delete("/api/v1/schedules/report"), "admin", "operator")
        # admin: everything
        assert root.get("/api/v1/logs").status_code == 200
        assert root.put("/api/v1/schedule/report", json=change).status_code == 200
        assert listed.post("/api/v1/store/prune", json={"dry_run": True}).status_code == 200
        assert root.delete("/api/v1/schedule/report").status_code == 200

        events = root.get("/api/v1/audit", params={"limit": 100}).json()
        texts.append(json.dumps(events))
        mine = [e for e in events if e["details"].get("job_name") == "report"]
        actors = {e["type"]: e["actor"] for e in mine}
        assert actors["CronJobCreated"] == "root" and actors["CronJobPaused"] == "ci"
        assert actors["CronJobTriggered"] == "ci" and actors["CronJobDeleted"] == "root"
        openapi = root.get("/openapi.json").json()["paths"]
        assert openapi["/api/v1/schedule/{job_id}/pause"]["post"]["x-required-role"] == "operator"
        assert openapi["/api/v1/schedule"]["post"]["x-required-role"] == "admin"
        assert openapi["/api/v1/schedule"]["get"]["x-required-role"] == "viewer"
    daemon.stop()
    # no key's value in any answer nor in the daemon's log (which names the keys)
    log = "".join(daemon.raw)
    assert "watcher (viewer), ci (operator), alice (operator), root (admin)" in log
    for key in ALL_KEYS:
        assert all(key not in text for text in texts) and key not in log


def _park(client: httpx.Client, job: str) -> str:
    run = client.post(f"/api/v1/schedule/{job}/run")
    assert run.status_code == 202, run.text
    run_id = str(run.json()["id"])
    poll(lambda: client.get(f"/api/v1/runs/{run_id}").json()["status"] == "awaiting_approval")
    return run_id


def test_approvers_decide_and_the_trigger_may_not_approve_its_own_run(
    served: tuple[Daemon, str, Path],
) -> None:
    daemon, url, _ = served
    with (
        _client(url, OPERATOR_KEY) as ci,
        _client(url, ALICE_KEY) as alice,
        _client(url, ADMIN_KEY) as root,
    ):
        for job in (GATED, ADMINS_ONLY):
            assert root.post("/api/v1/schedule", json=job).status_code == 201
        # a role that does not exist would admit nobody: refused when the job is made
        typo = {**GATED, "name": "typo", "policy": {"require_approval": True, "approvers": []}}
        typo["policy"]["approvers"] = ["alice", "role:operater"]
        refused = root.post("/api/v1/schedule", json=typo)
        assert refused.status_code == 422 and refused.json()["field"] == "policy.approvers[1]"
        assert "'role:operater' is not a role" in refused.json()["error"]
        run_id = _park(ci, "deploy")
        mine = ci.post(f"/api/v1/runs/{run_id}/approve")
        assert mine.status_code == 403, mine.text
        body = mine.json()
        assert body["code"] == "forbidden" and body["details"]["approvers"] == ["alice"]
        assert "'ci' may not approve this run (it triggered this run" in body["error"]
        assert "approvers are alice" in body["error"]
        assert root.post(f"/api/v1/runs/{run_id}/deny").status_code == 403  # admin is not alice
        approved = alice.post(f"/api/v1/runs/{run_id}/approve", json={"reason": "LGTM"})
        assert approved.status_code == 200, approved.text

        other = _park(ci, "migrate")  # approvers: role:admin
        assert alice.post(f"/api/v1/runs/{other}/deny").status_code == 403
        assert root.post(f"/api/v1/runs/{other}/deny").status_code == 200

        decided = root.get("/api/v1/audit", params={"type": "CronRunApproved"}).json()
        assert [e["actor"] for e in decided] == ["alice"]
        denied = root.get("/api/v1/audit", params={"type": "CronRunDenied"}).json()
        assert [e["actor"] for e in denied if e.get("run_id") == other] == ["root"]
    assert daemon.stop() == 0


def test_symbi_through_the_daemon_shows_a_refusal_and_the_key_names(
    served: tuple[Daemon, str, Path],
) -> None:
    daemon, url, config = served
    home = config.parent
    viewer = Cli(home, extra={"SYMBI_CONFIG": str(config), "SYMBI_API_KEY": VIEWER_KEY})
    operator = Cli(home, extra={"SYMBI_CONFIG": str(config), "SYMBI_API_KEY": OPERATOR_KEY})
    with _client(url, ADMIN_KEY) as root:
        assert root.post("/api/v1/schedule", json=GATED).status_code == 201
    refused = viewer("--connect", url, "cron", "pause", "deploy")
    assert refused.returncode == 1, refused.stderr
    assert "'watcher' has the viewer role" in refused.stderr
    assert "needs the operator or admin role" in refused.stderr
    assert operator("--connect", url, "cron", "pause", "deploy").returncode == 0
    table = viewer.ok("--connect", url, "audit", "query", "--type", "CronJobPaused")
    assert "ci" in table.split("\n")[1].split()  # the ACTOR column: the key's name
    (event,) = json.loads(
        viewer.ok("--connect", url, "audit", "query", "--type", "CronJobPaused", "--format", "json")
    )
    assert event["actor"] == "ci"
    assert daemon.stop() == 0


# --- keys refused at validation and at start --------------------------------------------------


@pytest.mark.parametrize(
    ("api", "where"),
    [
        ('api_keys = [""]', "api.api_keys: item 0 (key-1) is empty"),
        ('api_keys = ["short-key"]', "api.api_keys: item 0 (key-1) has 9 characters"),
        ('[api.keys.ci]\nkey = "0123456789"\nrole = "operator"', "api.keys.ci.key: the key has 10"),
        ('[api.keys.ci]\nkey = "0123456789abcdefXYZ"\nrole = "root"', "'root' is not one of"),
    ],
)
def test_short_empty_or_roleless_keys_are_refused_by_validate_and_at_start(
    tmp_path: Path, api: str, where: str
) -> None:
    config = write_config(tmp_path, host="0.0.0.0")  # the refusal to bind holds: no key here
    if api.startswith("["):
        config.write_text(config.read_text() + api + "\n")
    else:
        _with_api(config, api)
    cli = Cli(tmp_path, extra={"SYMBI_CONFIG": str(config)})
    checked = cli("config", "validate")
    assert checked.returncode != 0 and where in checked.stderr, checked.stderr
    assert f"{config}:" in checked.stderr  # file:line
    start = subprocess.run(
        [*DAEMON, "--config", str(config)],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        timeout=60,
    )
    assert start.returncode == 2, start.stderr
    assert where in start.stderr
    assert not (tmp_path / "data" / "api-key").exists()


def test_a_short_symbi_api_key_is_refused_naming_the_variable(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    start = subprocess.run(
        [sys.executable, "-m", "symbi_tui", "--daemon", "--config", str(config)],
        capture_output=True,
        text=True,
        env={**clean_env(tmp_path), "SYMBI_API_KEY": "too-short"},
        timeout=60,
    )
    assert start.returncode == 2
    assert "(from $SYMBI_API_KEY) has 9 characters" in start.stderr, start.stderr
    assert "too-short" not in start.stderr  # the value itself is never repeated
