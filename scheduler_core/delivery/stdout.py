"""The ``stdout`` channel: a compact block on the console (any text stream; default stdout).

::

    [2026-03-02T09:00:01Z] daily-report: succeeded in 850ms (run 0193..., attempt 1)
      first line of output
      second line of output

The output is indented by two spaces so consecutive blocks stay apart; a run without output
prints ``  (no output)``; a failed run adds an ``error:`` line. The stream is flushed after each
block, and one lock keeps blocks of concurrent runs whole.
"""

from __future__ import annotations

__all__ = ["StdoutRouter", "format_block"]

import asyncio
import sys
from datetime import datetime
from typing import TextIO

from ..model import JobDefinition, JobRun
from .base import DeliveryContext, format_duration, run_duration_ms


def format_block(job: JobDefinition, run: JobRun, output: str, at: datetime) -> str:
    """The text :class:`StdoutRouter` writes for ``run``: a header line, then the output."""
    stamp = at.isoformat(timespec="seconds").replace("+00:00", "Z")
    status = run.status.value.replace("_", " ")
    duration = format_duration(run_duration_ms(run))
    lines = [f"[{stamp}] {job.name}: {status} in {duration} (run {run.id}, attempt {run.attempt})"]
    if run.error_message:
        lines.append(f"  error: {' '.join(run.error_message.split())}")
    body = output.rstrip("\n")
    if body:
        lines.extend(f"  {line}" for line in body.splitlines())
    else:
        lines.append("  (no output)")
    return "\n".join(lines) + "\n"


class StdoutRouter:
    """Writes each run as a block to ``stream`` (the context's stream, else ``sys.stdout``)."""

    timeout_seconds = 30.0

    def __init__(self, context: DeliveryContext, stream: TextIO | None = None) -> None:
        self.context = context
        self._stream = stream
        self._lock = asyncio.Lock()

    @property
    def stream(self) -> TextIO:
        # looked up when writing, so a replaced sys.stdout (tests, daemons) is honoured
        return self._stream or self.context.stream or sys.stdout

    async def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> None:
        text = format_block(job, run, output, self.context.now())
        async with self._lock:
            stream = self.stream
            stream.write(text)
            stream.flush()
