"""The ``command`` runner: an agent that is a program.

The run's input goes to stdin and ``SYMBI_INPUT``; the job and run identity, the heartbeat iteration
and the previous summary go in ``SYMBI_*`` variables; the output is stdout. The program runs in a
process group of its own, so a timeout or a cancellation kills it and everything it started.
"""

from __future__ import annotations

__all__ = ["CommandResult", "run_command"]

import asyncio
import contextlib
import os
import shlex
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import ExecutionError

#: stdout and stderr are each kept up to this many bytes (the rest is read and dropped)
DEFAULT_OUTPUT_LIMIT = 1024 * 1024
_STDERR_TAIL = 2000
_KILL_GRACE = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str
    truncated: bool


def _argv(command: str | Sequence[str]) -> list[str]:
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        raise ExecutionError("the agent's command is empty")
    return argv


async def _read_capped(stream: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size, truncated = 0, False
    while chunk := await stream.read(65536):
        if size < limit:
            chunks.append(chunk[: limit - size])
        truncated = truncated or size + len(chunk) > limit
        size += len(chunk)
    return b"".join(chunks), truncated


def _kill_group(proc: asyncio.subprocess.Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


async def run_command(
    command: str | Sequence[str],
    *,
    input: str | None,
    env: Mapping[str, str],
    cwd: str | None = None,
    output_limit: int = DEFAULT_OUTPUT_LIMIT,
) -> CommandResult:
    """Run ``command`` to completion; cancelling the call kills its whole process group."""
    argv = _argv(command)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **env},
            cwd=cwd,
            start_new_session=True,  # its own process group: killed as a whole
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        raise ExecutionError(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from None
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    async def feed() -> None:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if input:
                proc.stdin.write(input.encode())
                await proc.stdin.drain()
            proc.stdin.close()

    try:
        _, (out, out_cut), (err, err_cut), code = await asyncio.gather(
            feed(),
            _read_capped(proc.stdout, output_limit),
            _read_capped(proc.stderr, output_limit),
            proc.wait(),
        )
    except asyncio.CancelledError:
        _kill_group(proc, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), _KILL_GRACE)
        except TimeoutError:
            _kill_group(proc, signal.SIGKILL)
        _kill_group(proc, signal.SIGKILL)  # whatever it left behind in its group
        raise
    _kill_group(proc, signal.SIGKILL)  # children that outlived their parent
    return CommandResult(
        exit_code=code,
        stdout=out.decode(errors="replace"),
        stderr=err.decode(errors="replace"),
        truncated=out_cut or err_cut,
    )


def failure_message(result: CommandResult) -> str:
    """``exit code N: <tail of stderr>``: what an operator needs to see first."""
    tail = result.stderr.strip()[-_STDERR_TAIL:]
    return f"exit code {result.exit_code}" + (f": {tail}" if tail else "")
