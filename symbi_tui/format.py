"""How the console words things: status glyphs, countdowns, durations, excerpts.

Kept free of Textual and Rich so the wording is the same in every front end and easy to test. Every
status has a glyph *and* a word, so it still reads under NO_COLOR or a 16-colour SSH terminal; the
colour is only a ``Tone`` that the console maps to a theme variable.
"""

from __future__ import annotations

__all__ = [
    "JOB_STATUS_GLYPHS",
    "JOB_STATUS_TONES",
    "RUN_STATUS_GLYPHS",
    "RUN_STATUS_TONES",
    "Tone",
    "countdown",
    "duration",
    "excerpt",
    "fit",
    "heartbeat_iterations",
    "heartbeat_mark",
    "job_status_label",
    "newest_first",
    "next_run_text",
    "run_status_label",
    "run_tally",
    "run_time",
    "short_ids",
    "short_instant",
    "shorten",
    "trigger_label",
]

import itertools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum

from scheduler_core.model import JobDefinition, JobRun, JobStatus, RunStatus, RunTrigger
from scheduler_core.textsafe import visible


class Tone(StrEnum):
    """A semantic colour; the console maps each to a theme variable of the same name."""

    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"
    ACCENT = "accent"
    MUTED = "muted"


JOB_STATUS_GLYPHS: dict[JobStatus, str] = {
    JobStatus.ACTIVE: "●",
    JobStatus.PAUSED: "‖",
    JobStatus.COMPLETED: "✔",
    JobStatus.MISSED: "⊘",
    JobStatus.FAILED: "▲",
    JobStatus.DEAD_LETTER: "✖",
}

JOB_STATUS_TONES: dict[JobStatus, Tone] = {
    JobStatus.ACTIVE: Tone.SUCCESS,
    JobStatus.PAUSED: Tone.WARNING,
    JobStatus.COMPLETED: Tone.MUTED,
    JobStatus.MISSED: Tone.WARNING,
    JobStatus.FAILED: Tone.ERROR,
    JobStatus.DEAD_LETTER: Tone.ERROR,
}

RUN_STATUS_GLYPHS: dict[RunStatus, str] = {
    RunStatus.QUEUED: "◌",
    RunStatus.RUNNING: "▶",
    RunStatus.SUCCEEDED: "✔",
    RunStatus.FAILED: "✖",
    RunStatus.TIMED_OUT: "⧗",
    RunStatus.SKIPPED: "↷",
    RunStatus.DENIED: "⊘",
    RunStatus.AWAITING_APPROVAL: "?",
    RunStatus.INTERRUPTED: "↯",
    RunStatus.CANCELLED: "∅",
}

RUN_STATUS_TONES: dict[RunStatus, Tone] = {
    RunStatus.QUEUED: Tone.MUTED,
    RunStatus.RUNNING: Tone.ACCENT,
    RunStatus.SUCCEEDED: Tone.SUCCESS,
    RunStatus.FAILED: Tone.ERROR,
    RunStatus.TIMED_OUT: Tone.ERROR,
    RunStatus.SKIPPED: Tone.MUTED,
    RunStatus.DENIED: Tone.WARNING,
    RunStatus.AWAITING_APPROVAL: Tone.WARNING,
    RunStatus.INTERRUPTED: Tone.ERROR,
    RunStatus.CANCELLED: Tone.MUTED,
}


def job_status_label(status: JobStatus) -> str:
    """``"● active"``: glyph and word, never colour alone."""
    return f"{JOB_STATUS_GLYPHS[status]} {status.value}"


def run_status_label(status: RunStatus) -> str:
    """``"✔ succeeded"``: glyph and word, never colour alone."""
    return f"{RUN_STATUS_GLYPHS[status]} {status.value}"


def _span(seconds: int) -> str:
    """The two most significant units: ``45s``, ``4m 10s``, ``2h 05m``, ``3d 4h``."""
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def countdown(target: datetime | None, now: datetime) -> str:
    """Time until ``target`` as an operator reads it: ``in 4m 10s``, ``due now``, ``—``.

    ``now`` comes from the injected clock, so snapshots and tests see a fixed value.
    """
    if target is None:
        return "—"
    seconds = int((target - now).total_seconds())
    if seconds <= 0:
        return "due now"
    return f"in {_span(seconds)}"


def next_run_text(job: JobDefinition, now: datetime) -> str:
    """When an active job runs next: a countdown, or ``after NAME`` for a chained job."""
    if job.after is not None:
        return f"after {job.after}"
    return countdown(job.next_run_at, now)


def duration(ms: int | None) -> str:
    """A run's execution time: ``212 ms``, ``1.2 s``, ``2m 03s``; empty when unknown."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return _span(ms // 1000)


def run_tally(job: JobDefinition, runs: Iterable[JobRun] = ()) -> str:
    """How many runs ``job`` has had, in the same words and numbers on every screen: ``3
    runs``, ``1 run · 1 in flight``. The count is the job's own (the runs that ran and ended,
    as the header's total counts them: not those skipped or denied), never the number of rows
    a pane happens to list; ``runs`` (those listed, newest first) tell what is in flight."""
    text = f"{job.run_count} run{'s' * (job.run_count != 1)}"
    in_flight = sum(1 for run in runs if not run.status.is_final)
    if in_flight:
        text += f" · {in_flight} in flight"
    return text


def heartbeat_iterations(run: JobRun) -> int | None:
    """How many iterations a heartbeat run made (``details.heartbeat.iterations``), else None."""
    beat = run.details.get("heartbeat")
    if not isinstance(beat, Mapping):
        return None
    count = beat.get("iterations")
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def heartbeat_mark(run: JobRun) -> str:
    """``♥ 3 it.`` for a heartbeat run (how many iterations it made), else empty."""
    count = heartbeat_iterations(run)
    return "" if count is None else f"♥ {count} it."


def run_time(run: JobRun) -> datetime:
    """The instant a run is listed at: when it started, else when it may start (a queued retry
    waits for its backoff), else the instant it stands for."""
    return run.started_at or run.due_at or run.scheduled_for


def newest_first(runs: Iterable[JobRun]) -> list[JobRun]:
    """``runs`` in the one order every list of runs uses: newest :func:`run_time` first, then
    the newest created (ids begin with their creation time). The store pages runs in the order
    they were created; a run that waited (for a slot, an approval, its backoff) starts after
    runs created later, and would otherwise be listed out of time order."""
    return sorted(runs, key=lambda run: (run_time(run), run.id), reverse=True)


def trigger_label(trigger: RunTrigger, attempt: int) -> str:
    """Why a run started: ``schedule``, ``manual``, ``retry #1`` for the first retry (attempt 2:
    the attempt number counts the first try, the retry number does not)."""
    if trigger is RunTrigger.RETRY:
        return f"retry #{max(attempt - 1, 1)}"
    return trigger.value if attempt <= 1 else f"{trigger.value} · attempt {attempt}"


def short_ids(ids: Iterable[str], least: int = 12) -> dict[str, str]:
    """Each id -> its shortest prefix of at least ``least`` characters that no other of
    ``ids`` shares. Ids begin with their creation time in milliseconds, so runs started
    together share their first 12 characters; a screen that shows several takes as many more as
    it needs to tell them apart (a prefix is accepted wherever an id is)."""
    unique = sorted(set(ids))
    size = least
    for before, after in itertools.pairwise(unique):
        common = 0
        for a, b in zip(before, after, strict=False):
            if a != b:
                break
            common += 1
        size = max(size, common + 1)
    return {run_id: run_id[:size] for run_id in unique}


def short_instant(instant: datetime | None) -> str:
    """``03-02 09:00:05`` in UTC: fixed width, so a column of them lines up and sorts."""
    if instant is None:
        return ""
    return instant.astimezone(UTC).strftime("%m-%d %H:%M:%S")


def excerpt(text: str | None, width: int) -> str:
    """``text`` on one line, whitespace collapsed, shortened to ``width`` at a word's end
    (control characters shown as escapes: see :func:`fit`)."""
    if not text:
        return ""
    return shorten(" ".join(text.split()), width)


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis, at the end of a word when one ends
    in the last third (``upstream returned…``, not ``upstream retu…``), so a shortened message
    still reads; a long word (a name, a path) is cut where it must be. Control characters and
    escape sequences are shown as visible escapes first (see :func:`fit`)."""
    text = visible(text, one_line=True)
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = text[: width - 1]
    space = head.rfind(" ")
    if text[width - 1] != " " and space >= (width - 1) * 2 // 3:  # (the cut is in a word)
        head = head[:space]
    return head.rstrip(" ,;:-·") + "…"


def fit(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` characters, marking the cut with an ellipsis.

    Control characters and escape sequences (from an agent, an error, a name) are shown as
    visible escapes (``\\x1b``) first: a cell must never drive the terminal.
    """
    if width <= 0:
        return ""
    text = visible(text, one_line=True)
    return text if len(text) <= width else text[: width - 1] + "…"
