"""End to end in a real terminal: ``symbi-tui --demo`` under tmux, driven by keystrokes.

This is the README's quick start exactly as a user runs it: a real TTY, the real entry point,
the system clock, the demo agents. It uses its own tmux server (a socket in the test's temporary
directory) so it neither sees nor disturbs the user's sessions, and it inherits this process's
environment.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

WIDTH, HEIGHT = 120, 36
DEMO_NAMES = (
    "backup",
    "daily-report",
    "flaky-job",
    "health-probe",
    "quarter-hour",
    "weekday-standup",
)


class Tmux:
    def __init__(self, name: str, socket: Path) -> None:
        self.name = name
        self.socket = socket

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-S", str(self.socket), "-f", os.devnull, *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=10,
        )

    def start(self, command: str, *, cwd: Path) -> None:
        # the pane outlives the program (remain-on-exit), so a traceback it dies with stays on
        # the screen the failure reports
        self.run(
            "start-server",
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "new-session",
            "-d",
            "-s",
            self.name,
            "-x",
            str(WIDTH),
            "-y",
            str(HEIGHT),
            "-c",
            str(cwd),
            command,
        )

    def alive(self) -> bool:
        """The program in the pane is still running."""
        shown = self.run("display-message", "-p", "-t", self.name, "#{pane_dead}", check=False)
        return shown.returncode == 0 and shown.stdout.strip() == "0"

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.name).stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.run("send-keys", "-t", self.name, *(["-l"] if literal else []), *keys)

    def wait(self, check: Callable[[str], bool], what: str, seconds: float = 40) -> str:
        deadline = time.monotonic() + seconds
        text = ""
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"symbi-tui exited while waiting for {what}:\n{self.screen()}")
            text = self.screen()
            if check(text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; the screen was:\n{text}")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    session = Tmux("symbi-e2e", tmp_path / "tmux.sock")
    try:
        yield session
    finally:
        session.run("kill-server", check=False)
        session.socket.unlink(missing_ok=True)


def jobs_pane(screen: str) -> str:
    """The screen down to the end of the jobs pane (the runs pane repeats the selected name)."""
    return screen.split("Runs", 1)[0]


def console_command() -> str:
    """The installed ``symbi-tui`` script beside this Python (the README's command)."""
    script = Path(sys.executable).parent / "symbi-tui"
    if script.exists():
        return f"{shlex.quote(str(script))} --demo"
    return f"{shlex.quote(sys.executable)} -m symbi_tui --demo"


def test_demo_quick_start(tmux: Tmux, tmp_path: Path) -> None:
    # started outside the source tree, so it runs the installed entry point and nothing else
    tmux.start(console_command(), cwd=tmp_path)
    # the terminal may be caught mid-frame, so wait for everything the test needs at once
    tmux.wait(
        lambda s: (
            all(name in jobs_pane(s) for name in DEMO_NAMES) and "● active" in s and "embedded" in s
        ),
        "the jobs table",
    )

    tmux.keys("/")
    # like a person, look for the prompt before typing
    tmux.wait(lambda s: "filter jobs by name or agent" in s, "the filter prompt", seconds=5)
    tmux.keys("daily", literal=True)
    tmux.wait(
        lambda s: (
            '/ "daily"' in s
            and "daily-report" in jobs_pane(s)
            and not any(name in jobs_pane(s) for name in DEMO_NAMES if name != "daily-report")
        ),
        "the filtered table",
    )

    tmux.keys("Enter")
    tmux.keys("q")
    # the demo's prod-deploy waits for approval: the console would leave it waiting, so it asks
    tmux.wait(lambda s: "Quit?" in s and "Quit [y]" in s, "the quit question")
    tmux.keys("y")
    deadline = time.monotonic() + 10
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tmux.alive(), tmux.screen()


def _gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its parent counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.parametrize("sighup", ["delivered", "ignored"])
def test_losing_the_terminal_ends_the_console_cleanly(
    tmux: Tmux, tmp_path: Path, sighup: str
) -> None:
    """A dropped SSH connection or a closed pane: the console stops its engine and exits within
    a few seconds, and the demo's temporary store is removed. With SIGHUP ignored (``nohup``,
    ``trap "" HUP``) the hung-up terminal is noticed instead of read in a loop forever."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    ignore = 'trap "" HUP; ' if sighup == "ignored" else ""
    tmux.start(f"{ignore}TMPDIR={shlex.quote(str(scratch))} exec {console_command()}", cwd=tmp_path)
    tmux.wait(lambda s: all(name in jobs_pane(s) for name in DEMO_NAMES), "the jobs table")
    shown = tmux.run("display-message", "-p", "-t", tmux.name, "#{pane_pid}")
    pid = int(shown.stdout.strip())
    assert list(scratch.glob("symbi-demo-*")), "the demo store is where TMPDIR says"

    tmux.run("kill-server")  # the terminal goes away
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(pid), "the console outlived its terminal"
    assert not list(scratch.glob("symbi-demo-*")), "the demo store was left behind"


def test_keys_in_one_burst_act_on_the_row_the_cursor_reached(tmux: Tmux, tmp_path: Path) -> None:
    """``Down Down p`` in one write, as a paste or a laggy link delivers it: the job under the
    cursor after the two Downs is paused, not the one the cursor started on."""
    tmux.start(console_command(), cwd=tmp_path)
    tmux.wait(lambda s: all(name in jobs_pane(s) for name in DEMO_NAMES), "the jobs table")
    lines = [line.strip("│ ") for line in jobs_pane(tmux.screen()).splitlines()]
    rows = [line.split()[0] for line in lines if line]  # (the pane's blank rows have no name)
    names = [name for name in rows if name in DEMO_NAMES or name in ("digest", "prod-deploy")]
    third = names[2]  # the job two rows below the cursor's first row
    tmux.keys("Down", "Down", "p")  # one send-keys: one write to the terminal
    screen = tmux.wait(lambda s: "‖ paused" in jobs_pane(s), "a paused job")
    paused = [line for line in jobs_pane(screen).splitlines() if "‖ paused" in line]
    assert len(paused) == 1 and third in paused[0], screen
    tmux.keys("q")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_a_daemon_that_dies_shows_disconnected_and_its_return_is_announced(
    tmux: Tmux, tmp_path: Path
) -> None:
    """The console attached over the API to a daemon killed with ``kill -9``: within 2 s the
    header says so with a symbol (not only colour) and when it retries; a daemon started again
    on the same address is announced, and the header is healthy again."""
    from ..test_daemon import Daemon, clean_env, dsl, write_config
    from .test_e2e_attach import _console, _env_prefix

    config = write_config(tmp_path)
    port = _free_port()
    config.write_text(config.read_text().replace("port = 0", f"port = {port}"))
    dsl(tmp_path, "nightly-report", "0 3 * * *")
    daemon = Daemon(config, clean_env(tmp_path))
    again: Daemon | None = None
    try:
        url = daemon.url
        assert url == f"http://127.0.0.1:{port}"
        key = (tmp_path / "data" / "api-key").read_text().strip()
        command = _console("--connect", url, "--api-key", key)
        tmux.start(f"{_env_prefix(tmp_path)} {command}", cwd=tmp_path)
        tmux.wait(
            lambda s: "nightly-report" in s and "● healthy" in s and f"127.0.0.1:{port}" in s,
            "the attached console, healthy",
        )
        daemon.kill()  # kill -9: no goodbye on the event stream
        gone = time.monotonic()
        screen = tmux.wait(lambda s: "✖ disconnected" in s, "the disconnected header", seconds=5)
        took = time.monotonic() - gone
        assert took <= 2.0, f"the header said disconnected after {took:.2f} s"
        assert "retrying" in screen and "● healthy" not in screen, screen

        again = Daemon(config, clean_env(tmp_path))
        assert again.url == url
        tmux.wait(
            lambda s: "reconnected to" in s and "● healthy" in s and "✖ disconnected" not in s,
            "the reconnection announced",
            seconds=20,
        )
        tmux.keys("q")  # attached: nothing of the console's own to lose, it quits at once
        deadline = time.monotonic() + 10
        while tmux.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not tmux.alive(), tmux.screen()
    finally:
        daemon.kill()
        if again is not None:
            again.kill()
