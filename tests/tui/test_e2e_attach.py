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


def test_console_attaches_to_the_daemon_holding_the_lease(
    tmux: Tmux, tmp_path: Path, daemon: tuple[Daemon, Path]
) -> None:
    process, config = daemon
    url = process.url
    address = url.removeprefix("http://")
    tmux.start(f"{_env_prefix(tmp_path)} {_console('--config', str(config))}", cwd=tmp_path)
    screen = tmux.wait(
        lambda s: f"attached to {address}" in s and "nightly-report" in s and "hourly-sync" in s,
        "the attached console",
    )
    assert "embedded" not in screen
    # p pauses the selected job (the first by name: hourly-sync) through the daemon's API
    tmux.keys("p")
    key = (tmp_path / "data" / "api-key").read_text().strip()
    deadline = time.monotonic() + 15
    status = ""
    while time.monotonic() < deadline:
        job = httpx.get(
            f"{url}/api/v1/schedule/hourly-sync", headers={"Authorization": f"Bearer {key}"}
        ).json()
        status = job["status"]
        if status == "paused":
            break
        time.sleep(0.1)
    assert status == "paused"
    tmux.wait(lambda s: "‖ paused" in s, "the paused row")
    tmux.keys("q")
    deadline = time.monotonic() + 10
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tmux.alive()
    assert process.proc.poll() is None  # the daemon goes on


def test_connect_url_opens_the_console_over_the_api(
    tmux: Tmux, tmp_path: Path, daemon: tuple[Daemon, Path]
) -> None:
    process, _ = daemon
    url = process.url
    key = (tmp_path / "data" / "api-key").read_text().strip()
    command = _console("--connect", url, "--api-key", key)
    tmux.start(f"{_env_prefix(tmp_path)} {command}", cwd=tmp_path)
    tmux.wait(
        lambda s: "nightly-report" in s and f"attached to {url.removeprefix('http://')}" in s,
        "the remote console",
    )
    tmux.keys("q")


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
        tmux.start(
            f"{_env_prefix(tmp_path)} SYMBI_DB={shlex.quote(pg_url)} "
            f"{_console('--config', str(config))}",
            cwd=tmp_path,
        )
        screen = tmux.wait(
            lambda s: "attached to" in s and "nightly-report" in s and "nodes 2:" in s,
            "the console attached to a node, listing both",
        )
        assert any(f"attached to {a}" in screen for a in addresses), screen
        tmux.keys("q")
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
