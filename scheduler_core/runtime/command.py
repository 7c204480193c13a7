"""The ``command`` runner: an agent that is a program.

The run's input goes to stdin and ``SYMBI_INPUT`` (or, too large for a variable, the file
``SYMBI_INPUT_FILE`` names: :mod:`.agents` decides); the job and run identity, the heartbeat
iteration and the previous summary go in ``SYMBI_*`` variables; the output is stdout. The program
runs in a process group of its own, so a timeout or a cancellation kills it and everything it
started.

An agent never outlives its run or its scheduler:

- its main process dies with the scheduler (``PR_SET_PDEATHSIG``, Linux), and its group is in the
  :class:`~scheduler_core.runtime.ledger.AgentLedger`, so the next scheduler kills what it left;
- the run ends when the main process exits: a process it left holding stdout or stderr gets
  :data:`OUTPUT_GRACE` seconds to let go, then its group is killed; the output read so far is kept
  and the run ends with the main process's exit status.
"""

from __future__ import annotations

__all__ = ["OUTPUT_GRACE", "CommandResult", "run_command"]

import asyncio
import contextlib
import errno
import functools
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from ..errors import ExecutionError
from ..private import agent_umask
from ..records import record
from .environment import agent_environment

if TYPE_CHECKING:
    from .ledger import AgentLedger

log = logging.getLogger("symbi.runtime")

#: stdout and stderr are each kept up to this many bytes (the rest is read and dropped)
DEFAULT_OUTPUT_LIMIT = 1024 * 1024
#: seconds a process the agent left behind may hold its stdout/stderr after the agent exited
OUTPUT_GRACE = 2.0
_STDERR_TAIL = 2000
_KILL_GRACE = 2.0
_PR_SET_PDEATHSIG = 1
_LINUX = sys.platform.startswith("linux")


@record(kw_only=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str
    truncated: bool
    #: a process it left behind held stdout/stderr past the grace: its group was killed
    held_output: bool = False


def _argv(command: str | Sequence[str]) -> list[str]:
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        raise ExecutionError("the agent's command is empty")
    return argv


class _Capture:
    """One output stream, kept up to ``limit`` bytes; what was read stays if reading stops."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0
        self.truncated = False

    async def read(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):
            if self.size < self.limit:
                self.chunks.append(chunk[: self.limit - self.size])
            self.truncated = self.truncated or self.size + len(chunk) > self.limit
            self.size += len(chunk)

    def text(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")


class _Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """asyncio's stream protocol, which also says when the main process exits (``wait()``
    waits for the pipes too, which a process left behind may hold open)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=2**16, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# --- dying with the scheduler ---------------------------------------------------------------------


@functools.cache
def _setpriv() -> str | None:
    """util-linux's ``setpriv``, if it can set the parent-death signal: it sets it and execs the
    agent, so no Python runs in the child and the fast (vfork) spawn stays."""
    path = shutil.which("setpriv")
    if path is None:
        return None
    try:
        probe = subprocess.run(
            [path, "--pdeathsig", "KILL", "--", path, "--version"],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return path if probe.returncode == 0 else None


@functools.cache
def _prctl() -> Callable[..., int] | None:
    import ctypes

    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """For the child, before exec: be killed when ``parent`` dies (where setpriv is missing)."""
    prctl = _prctl()  # looked up here, in the parent: the child only calls it
    if prctl is None:
        return None

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # it died before the call
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _cannot_start(program: str, env: Mapping[str, str], cwd: str | None) -> str | None:
    """Why exec would refuse ``program`` (setpriv would only say so on stderr), or None."""
    if os.sep in program:
        candidates = [program if cwd is None else os.path.join(cwd, program)]
    else:
        candidates = [os.path.join(d, program) for d in os.get_exec_path(dict(env))]
    denied = False
    for path in candidates:
        if os.path.isfile(path):
            if os.access(path, os.X_OK):
                return None
            denied = True
    return os.strerror(errno.EACCES if denied else errno.ENOENT)


def _launch(
    argv: list[str], env: Mapping[str, str], cwd: str | None
) -> tuple[list[str], Callable[[], None] | None]:
    """The argv to start and the preexec function that make the agent die with us."""
    if not _LINUX:
        return argv, None
    setpriv = _setpriv()
    if setpriv is None:
        return argv, _die_with_parent(os.getpid())
    if (cwd is None or os.path.isdir(cwd)) and (why := _cannot_start(argv[0], env, cwd)):
        raise ExecutionError(f"cannot start {argv[0]!r}: {why}")
    return [setpriv, "--pdeathsig", "KILL", "--", *argv], None


def _agent_umask() -> int:
    umask = agent_umask()
    return -1 if umask is None else umask


# --- one run --------------------------------------------------------------------------------------


async def run_command(
    command: str | Sequence[str],
    *,
    input: str | None,
    env: Mapping[str, str],
    cwd: str | None = None,
    output_limit: int = DEFAULT_OUTPUT_LIMIT,
    output_grace: float = OUTPUT_GRACE,
    ledger: AgentLedger | None = None,
    run_id: str | None = None,
    job: str | None = None,
    inherit_env: Sequence[str] = (),
) -> CommandResult:
    """Run ``command`` until its main process exits; cancelling the call kills its whole
    process group. ``ledger``: where its group is recorded while it lives (``run_id`` and
    ``job`` name it there). The process gets ``env`` over a clean environment: the basics
    (PATH, HOME, locale, TZ, TMPDIR) and what ``inherit_env`` names of ours, nothing else
    (see :mod:`.environment`)."""
    argv = _argv(command)
    full_env = agent_environment(env, inherit_env=inherit_env)
    launch, preexec = _launch(argv, full_env, cwd)
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.subprocess_exec(
            lambda: _Protocol(loop),
            *launch,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            start_new_session=True,  # its own process group: killed as a whole
            preexec_fn=preexec,
            umask=_agent_umask(),  # the operator's, not the scheduler's private 077
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        raise ExecutionError(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from None
    proc = asyncio.subprocess.Process(transport, protocol, loop)
    entry = None
    if ledger is not None:
        entry = ledger.record(proc.pid, run_id=run_id or "", job=job, program=argv[0])
    try:
        return await _supervise(proc, protocol, input, output_limit, output_grace)
    finally:
        transport.close()
        if ledger is not None:
            ledger.release(entry)


async def _supervise(
    proc: asyncio.subprocess.Process,
    protocol: _Protocol,
    input: str | None,
    limit: int,
    grace: float,
) -> CommandResult:
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    stdin, out, err = proc.stdin, _Capture(limit), _Capture(limit)

    async def feed() -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if input:
                stdin.write(input.encode())
                await stdin.drain()
            stdin.close()

    async def read() -> None:
        assert proc.stdout is not None and proc.stderr is not None
        await asyncio.gather(out.read(proc.stdout), err.read(proc.stderr))

    feeding = asyncio.create_task(feed())
    reading = asyncio.create_task(read())
    held = False
    try:
        await asyncio.shield(protocol.exited)
        code = proc.returncode
        assert code is not None
        if not reading.done():
            await asyncio.wait([reading], timeout=grace)
        if not reading.done():
            held = True
            log.warning(
                "process %d exited but processes it started held its output %gs later: "
                "killing its process group",
                proc.pid,
                grace,
            )
            _kill_group(proc.pid, signal.SIGKILL)
            # their end closes the pipes; one that left the group would hold them: stop reading
            await asyncio.wait([reading], timeout=_KILL_GRACE)
    except asyncio.CancelledError:
        _kill_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(protocol.exited), _KILL_GRACE)
        raise
    finally:
        _kill_group(proc.pid, signal.SIGKILL)  # whatever it left behind in its group
        for task in (feeding, reading):
            task.cancel()
        await asyncio.wait([feeding, reading])
    return CommandResult(
        exit_code=code,
        stdout=out.text(),
        stderr=err.text(),
        truncated=out.truncated or err.truncated,
        held_output=held,
    )


def failure_message(result: CommandResult) -> str:
    """``exit code N: <tail of stderr>``: what an operator needs to see first."""
    tail = result.stderr.strip()[-_STDERR_TAIL:]
    return f"exit code {result.exit_code}" + (f": {tail}" if tail else "")
