"""Cancelling a run through a real ``symbi-tui --daemon``: ``POST /api/v1/runs/{id}/cancel`` and
``symbi cron cancel`` (through the daemon's API, and on the store while the daemon runs the run).
The agent is a command that starts a child and waits: the cancel kills its whole process group
(the child's pid, recorded by the agent, is gone). Keys have roles: a viewer is refused; the
audit event names the operator key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.keys import KEY, KEYS_TOML, OPERATOR_KEY, VIEWER_KEY, WRONG_KEY
from tests.test_cli_symbi import Cli
from tests.test_daemon import Daemon, clean_env, poll, write_config

pytestmark = pytest.mark.slow


def _config(tmp: Path) -> Path:
    """A daemon config with the role keys and an agent that starts a child and waits for it,
    each run recording the child's pid in ``pids/<run id>``."""
    (tmp / "pids").mkdir()
    script = f'sleep 300 & echo $! > {tmp / "pids"}/"$SYMBI_RUN_ID"; wait'
    agent = f'[agents.group]\ncommand = ["sh", "-c", {_toml(script)}]\n'
    config = write_config(tmp, extra=agent + KEYS_TOML)
    text = config.read_text().replace("[api]\n", f'[api]\napi_keys = ["{KEY}"]\n', 1)
    config.write_text(text)
    return config


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its reaper is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Daemon, Path]]:
    daemon = Daemon(_config(tmp_path), clean_env(tmp_path))
    try:
        yield daemon, tmp_path
    finally:
        daemon.kill()


def _client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _started(client: httpx.Client, job_id: str, pids: Path) -> tuple[str, int]:
    """Run the job now; once its agent has started its child: the run id and the child's pid."""
    answer = client.post(f"/api/v1/schedule/{job_id}/run")
    assert answer.status_code == 202, answer.text
    run_id = str(answer.json()["id"])
    pid_file = pids / run_id
    poll(lambda: pid_file.exists() and pid_file.read_text().strip())
    pid = int(pid_file.read_text())
    assert _alive(pid)
    assert client.get(f"/api/v1/runs/{run_id}").json()["status"] == "running"
    return run_id, pid


def _job(admin: httpx.Client) -> dict[str, Any]:
    body = {"name": "sleeper", "agent_id": "group", "cron_expr": "0 0 1 1 *", "max_retries": 1}
    answer = admin.post("/api/v1/schedule", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_the_api_cancels_a_running_command_and_kills_its_process_group(
    served: tuple[Daemon, Path],
) -> None:
    daemon, tmp = served
    with (
        _client(daemon.url, KEY) as admin,
        _client(daemon.url, OPERATOR_KEY) as ci,
        _client(daemon.url, VIEWER_KEY) as viewer,
    ):
        job = _job(admin)
        run_id, child = _started(ci, job["id"], tmp / "pids")

        refused = viewer.post(f"/api/v1/runs/{run_id}/cancel")
        assert refused.status_code == 403, refused.text
        assert refused.json()["details"]["required_role"] == "operator"
        assert ci.get(f"/api/v1/runs/{run_id}").json()["status"] == "running"

        answer = ci.post(f"/api/v1/runs/{run_id}/cancel")
        assert answer.status_code == 200, answer.text
        run = answer.json()
        assert (run["id"], run["status"]) == (run_id, "cancelled")
        assert run["error_message"] == "cancelled by ci"
        poll(lambda: not _alive(child), timeout=10)  # the agent's whole group is gone

        again = ci.post(f"/api/v1/runs/{run_id}/cancel")
        assert again.status_code == 409, again.text
        assert "already ended (cancelled)" in again.json()["error"]
        missing = ci.post(f"/api/v1/runs/{'0' * 32}/cancel")
        assert missing.status_code == 404, missing.text

        events = ci.get("/api/v1/audit", params={"type": "CronRunCancelled"}).json()
        assert [(e["actor"], e["run_id"]) for e in events] == [("ci", run_id)]
        # not a failure (max_retries = 1 would dead-letter it) and not retried
        after = ci.get(f"/api/v1/schedule/{job['id']}").json()
        assert after["status"] == "active" and after.get("failure_count", 0) == 0, after
        history = ci.get(f"/api/v1/schedule/{job['id']}/history").json()
        assert [r["id"] for r in history] == [run_id]


def test_symbi_cron_cancel_through_the_daemon_and_on_the_store(
    served: tuple[Daemon, Path],
) -> None:
    daemon, tmp = served
    with _client(daemon.url, KEY) as admin:
        job = _job(admin)

        # through the daemon's API, found through the lease, with an operator key: a prefix
        cli = Cli(tmp, extra={"SYMBI_API_KEY": OPERATOR_KEY})
        run_id, child = _started(admin, job["id"], tmp / "pids")
        out = cli("cron", "cancel", run_id[:12])
        assert out.returncode == 0, out.stderr
        assert out.stdout == f"cancelled run {run_id} of sleeper\n"
        poll(lambda: not _alive(child), timeout=10)
        ended = cli("cron", "cancel", run_id[:12])
        assert ended.returncode == 1 and "already ended (cancelled)" in ended.stderr
        unknown = cli("cron", "cancel", "f" * 12)
        assert unknown.returncode != 0 and "f" * 12 in unknown.stderr

        # on the store (the key is refused: the CLI falls back to the store), while the daemon
        # runs the run: the request is recorded, and the daemon stops the agent
        stranger = Cli(tmp, extra={"SYMBI_API_KEY": WRONG_KEY})
        second, child = _started(admin, job["id"], tmp / "pids")
        out = stranger("cron", "cancel", second, "--format", "json")
        assert out.returncode == 0, out.stderr
        assert "using the store" in out.stderr
        asked = json.loads(out.stdout)
        assert asked["status"] == "running" and asked["details"]["cancel_requested"]["by"] == "cli"
        poll(lambda: admin.get(f"/api/v1/runs/{second}").json()["status"] == "cancelled")
        poll(lambda: not _alive(child), timeout=10)
        events = admin.get("/api/v1/audit", params={"type": "CronRunCancelled"}).json()
        assert sorted((e["actor"], e["run_id"]) for e in events) == sorted(
            [("ci", run_id), ("cli", second)]
        )


def test_a_parked_run_is_cancelled_through_the_api(
    served: tuple[Daemon, Path],
) -> None:
    daemon, _ = served
    with _client(daemon.url, KEY) as admin, _client(daemon.url, OPERATOR_KEY) as ci:
        gated = {
            "name": "deploy",
            "agent_id": "echo",
            "cron_expr": "0 0 1 1 *",
            "policy": {"require_approval": True, "approvers": ["alice"]},
        }
        job = admin.post("/api/v1/schedule", json=gated).json()
        run_id = ci.post(f"/api/v1/schedule/{job['id']}/run").json()["id"]
        poll(lambda: ci.get(f"/api/v1/runs/{run_id}").json()["status"] == "awaiting_approval")
        answer = ci.post(f"/api/v1/runs/{run_id}/cancel")
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "cancelled"
        assert ci.get("/api/v1/approvals").json() == []
        events = ci.get("/api/v1/audit", params={"type": "CronRunCancelled"}).json()
        assert [(e["actor"], e["details"]["was"]) for e in events] == [("ci", "awaiting_approval")]


def test_a_cancel_sent_to_a_standby_daemon_is_carried_out_by_the_lease_holder(
    served: tuple[Daemon, Path],
) -> None:
    """Two daemons on one store: the standby's API answers 202 (the run still running, the
    request recorded in it); the lease holder, woken by the write, kills the agent's group and
    records the run cancelled by the key that asked."""
    holder, tmp = served
    holder.event("scheduler.leader")
    holder_url = holder.url
    standby = Daemon(tmp / "config.toml", clean_env(tmp))
    try:
        assert holder_url in standby.event("scheduler.standby")["detail"]
        with _client(holder_url, KEY) as admin, _client(standby.url, OPERATOR_KEY) as ci:
            job = _job(admin)
            run_id, child = _started(admin, job["id"], tmp / "pids")

            answer = ci.post(f"/api/v1/runs/{run_id}/cancel")

            assert answer.status_code == 202, answer.text
            run = answer.json()
            assert run["status"] == "running" and run["details"]["cancel_requested"]["by"] == "ci"
            poll(lambda: admin.get(f"/api/v1/runs/{run_id}").json()["status"] == "cancelled")
            poll(lambda: not _alive(child), timeout=10)
            final = admin.get(f"/api/v1/runs/{run_id}").json()
            assert final["error_message"] == "cancelled by ci"
            assert "cancel_requested" not in final["details"]
            events = admin.get("/api/v1/audit", params={"type": "CronRunCancelled"}).json()
            assert [(e["actor"], e["run_id"]) for e in events] == [("ci", run_id)]
    finally:
        standby.kill()
