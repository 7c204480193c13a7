"""One liveness policy for lease holders, whatever the store: dead only when certain."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from scheduler_core.liveness import process_alive, this_machine


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(proc.stdout)


def test_a_holder_gone_from_this_machine_is_dead(dead_pid: int) -> None:
    machine = this_machine()
    assert machine is not None  # Linux: boot id and pid namespace
    assert not process_alive(dead_pid, socket.gethostname(), machine)
    assert process_alive(os.getpid(), socket.gethostname(), machine)


def test_anything_less_certain_is_alive(dead_pid: int) -> None:
    here = socket.gethostname()
    # another container with the same host name, or another boot: its pids are not ours
    assert process_alive(dead_pid, here, "another-boot/pid:[4026531836]")
    assert process_alive(dead_pid, "another-host", this_machine())


def test_rows_from_before_machines_were_recorded_fall_back_to_host_and_pid(dead_pid: int) -> None:
    assert not process_alive(dead_pid, socket.gethostname(), None)
    assert process_alive(dead_pid, "another-host", None)
