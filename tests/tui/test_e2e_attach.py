"""End to end in a real terminal: the console attaches to a running daemon instead of starting a
second scheduler, and ``--connect URL`` opens it over the daemon's API; keys act through the API."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..test_daemon import Daemon, clean_env, dsl, write_config
from .test_e2e_tmux import Tmux

pytestmark = [
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
    pytest.mark.slow,
]


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    session = Tmux("symbi-attach", tmp_path / "tmux.sock")
    try:
        yield session
    finally:
        session.run("kill-server", check=False)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Daemon, Path]]:
    config = write_config(tmp_path)
    dsl(tmp_path, "nightly-report", "0 3 * * *")
    dsl(tmp_path, "hourly-sync", "0 * * * *")
    process = Daemon(config, clean_env(tmp_path))
    try:
        process.event("api.listening")
        yield process, config
    finally:
        process.kill()


def _console(*args: str) -> str:
    return shlex.join([sys.executable, "-m", "symbi_tui", *args])


def _env_prefix(tmp: Path) -> str:
    env = clean_env(tmp)
    keep = {k: env[k] for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "PATH", "HOME") if k in env}
    return "env -u SYMBI_DB -u SYMBI_API_KEY " + " ".join(
        f"{k}={shlex.quote(v)}" for k, v in keep.items()
    )


def _job_status(url: str, key: str, job: str) -> str:
    response = httpx.get(f"{url}/api/v1/schedule/{job}", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


def _pause_the_selected_job(tmux: Tmux, url: str, key: str) -> None:
    """p pauses the selected job (the first by name: hourly-sync) through the daemon's API: the
    daemon reports it paused, the other job stays active, and the console shows the paused row."""
    assert _job_status(url, key, "hourly-sync") == "active"
    tmux.keys("p")
    deadline = time.monotonic() + 15
    status = ""
    while time.monotonic() < deadline:
        status = _job_status(url, key, "hourly-sync")
        if status == "paused":
            break
        time.sleep(0.1)
    assert status == "paused", tmux.screen()
    assert _job_status(url, key, "nightly-report") == "active"
    tmux.wait(lambda s: "‖ paused" in s, "the paused row")


def _start(tmux: Tmux, command: str, tmp: Path) -> Path:
    """Run ``command`` in the pane; the shell around it writes the console's exit status to the
    file returned. (tmux cannot be relied on for it: it may mark the pane dead when the console
    closes its terminal, then leave the exited process unreaped and the status unknown.)"""
    exit_file = tmp / "console-exit-status"
    exit_file.unlink(missing_ok=True)
    tmux.start(f"{command}; echo $? > {shlex.quote(str(exit_file))}", cwd=tmp)
    return exit_file


def _quit(tmux: Tmux, exit_file: Path) -> None:
    """q ends the console: its process exits with status 0 (not a crash, not a signal) and the
    pane is dead, both within a bounded wait."""
    tmux.keys("q")
    deadline = time.monotonic() + 10
    while (tmux.alive() or not exit_file.exists()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert exit_file.exists(), f"the console did not exit after q:\n{tmux.screen()}"
    assert exit_file.read_text().strip() == "0", (exit_file.read_text(), tmux.screen())
    assert not tmux.alive(), tmux.screen()


def test_console_attaches_to_the_daemon_holding_the_lease(
    tmux: Tmux, tmp_path: Path, daemon: tuple[Daemon, Path]
) -> None:
    process, config = daemon
    url = process.url
    address = url.removeprefix("http://")
    exit_file = _start(
        tmux, f"{_env_prefix(tmp_path)} {_console('--config', str(config))}", tmp_path
    )
    screen = tmux.wait(
        lambda s: f"attached to {address}" in s and "nightly-report" in s and "hourly-sync" in s,
        "the attached console",
    )
    assert "embedded" not in screen
    # p pauses the selected job (the first by name: hourly-sync) through the daemon's API
    key = (tmp_path / "data" / "api-key").read_text().strip()
    _pause_the_selected_job(tmux, url, key)
    _quit(tmux, exit_file)
    assert process.proc.poll() is None  # the daemon goes on


def test_connect_url_opens_the_console_over_the_api(
    tmux: Tmux, tmp_path: Path, daemon: tuple[Daemon, Path]
) -> None:
    process, _ = daemon
    url = process.url
    key = (tmp_path / "data" / "api-key").read_text().strip()
    command = _console("--connect", url, "--api-key", key)
    exit_file = _start(tmux, f"{_env_prefix(tmp_path)} {command}", tmp_path)
    tmux.wait(
        lambda s: (
            "nightly-report" in s
            and "hourly-sync" in s
            and f"attached to {url.removeprefix('http://')}" in s
        ),
        "the remote console",
    )
    # a key acts through the API: the daemon has the job paused
    _pause_the_selected_job(tmux, url, key)
    _quit(tmux, exit_file)
    assert process.proc.poll() is None  # the daemon goes on


def test_console_and_cli_work_unchanged_against_postgresql_nodes(
    tmux: Tmux, tmp_path: Path, pg_url: str
) -> None:
    """Two daemons share a PostgreSQL store; the console (no --connect) attaches to one of them
    and its header lists both nodes; ``symbi cron`` commands go through a node's API."""
    from ..test_cli_symbi import symbi

    config = write_config(tmp_path)
    dsl(tmp_path, "nightly-report", "0 3 * * *")
    env = {**clean_env(tmp_path), "SYMBI_DB": pg_url}
    nodes = [Daemon(config, env) for _ in range(2)]
    try:
        for node in nodes:
            node.event("scheduler.leader")
        addresses = {node.url.removeprefix("http://") for node in nodes}
        exit_file = _start(
            tmux,
            f"{_env_prefix(tmp_path)} SYMBI_DB={shlex.quote(pg_url)} "
            f"{_console('--config', str(config))}",
            tmp_path,
        )
        screen = tmux.wait(
            lambda s: "attached to" in s and "nightly-report" in s and "nodes 2:" in s,
            "the console attached to a node, listing both",
        )
        assert any(f"attached to {a}" in screen for a in addresses), screen
        _quit(tmux, exit_file)
        listed = symbi("cron", "list", "--format", "json", db=pg_url, cwd=tmp_path)  # type: ignore[arg-type]
        assert listed.returncode == 0, listed.stderr
        assert [j["name"] for j in json.loads(listed.stdout)] == ["nightly-report"]
        listed = symbi("nodes", "--format", "json", db=pg_url, cwd=tmp_path)  # type: ignore[arg-type]
        assert listed.returncode == 0, listed.stderr
        seen = json.loads(listed.stdout)
        assert sorted(n["api_address"].removeprefix("http://") for n in seen) == sorted(addresses)
        assert {n["role"] for n in seen} == {"active"}
        table = symbi("nodes", db=pg_url, cwd=tmp_path)  # type: ignore[arg-type]
        assert table.returncode == 0 and "RUNNING" in table.stdout and "active" in table.stdout
        paused = symbi("cron", "pause", "nightly-report", db=pg_url, cwd=tmp_path)  # type: ignore[arg-type]
        assert paused.returncode == 0, paused.stderr
        key = (tmp_path / "data" / "api-key").read_text().strip()
        for node in nodes:  # both nodes see it: one database
            job = httpx.get(
                f"{node.url}/api/v1/schedule/nightly-report",
                headers={"Authorization": f"Bearer {key}"},
            ).json()
            assert job["status"] == "paused"
        for node in nodes:
            assert node.stop() == 0
    finally:
        for node in nodes:
            node.kill()
