"""Textual markup shared by the secondary screens: tones as theme variables, key/value blocks.

Statics render Textual markup, which can name theme variables (``$success``), so these strings
follow the theme; tables use :class:`~symbi_tui.palette.Palette` instead. Every status keeps its
glyph and word, so nothing here depends on colour alone.
"""

from __future__ import annotations

__all__ = [
    "ITERATION_OUTCOMES",
    "elapsed",
    "instant_pair",
    "iteration_label",
    "job_status_markup",
    "kv_block",
    "muted",
    "run_status_markup",
    "schedule_reading",
    "toned",
]

from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scheduler_core.cron import CronSchedule
from scheduler_core.errors import SchedulerError
from scheduler_core.model import JobDefinition, JobStatus, RunStatus

from ..format import JOB_STATUS_TONES, RUN_STATUS_TONES, Tone, job_status_label, run_status_label
from ..legibility import error_style
from ..markup import escape
from ..palette import TONE_VARIABLES

#: a heartbeat iteration's outcome: glyph and tone (the word is the outcome itself)
ITERATION_OUTCOMES: dict[str, tuple[str, Tone]] = {
    "running": ("▶", Tone.ACCENT),
    "continue": ("→", Tone.SUCCESS),
    "sleep": ("☾", Tone.SUCCESS),
    "max_iterations": ("▲", Tone.WARNING),
    "failed": ("✖", Tone.ERROR),
    "cancelled": ("∅", Tone.MUTED),
}


def toned(text: str, tone: Tone, *, bold: bool = False) -> str:
    """``text`` (escaped) in the theme variable behind ``tone`` (an error: see
    :func:`~symbi_tui.legibility.error_style`)."""
    if tone is Tone.ERROR:
        return f"[{error_style()}]{escape(text)}[/]"
    style = f"${TONE_VARIABLES[tone]}"
    if bold:
        style = f"b {style}"
    return f"[{style}]{escape(text)}[/]"


def muted(text: str) -> str:
    return toned(text, Tone.MUTED)


def run_status_markup(status: RunStatus) -> str:
    return toned(run_status_label(status), RUN_STATUS_TONES[status])


def job_status_markup(status: JobStatus) -> str:
    return toned(job_status_label(status), JOB_STATUS_TONES[status])


def iteration_label(outcome: str) -> str:
    glyph, _ = ITERATION_OUTCOMES.get(outcome, ("?", Tone.MUTED))
    return f"{glyph} {outcome}"


def kv_block(rows: Iterable[tuple[str, str]], *, width: int = 11) -> str:
    """Aligned ``label  value`` lines; labels are plain words, values are markup already."""
    return "\n".join(f"[b]{escape(label.ljust(width))}[/b] {value}" for label, value in rows)


def _span(seconds: int) -> str:
    days, rest = divmod(max(seconds, 0), 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def elapsed(since: datetime | None, now: datetime) -> str:
    """How long something has been going on: ``20s``, ``4m 10s``; empty when unknown."""
    if since is None:
        return ""
    return _span(int((now - since).total_seconds()))


def instant_pair(instant: datetime | None, timezone: str) -> str:
    """``2026-03-02 09:00 UTC`` plus the job's local time when its zone is not UTC."""
    if instant is None:
        return "—"
    utc = instant.astimezone(UTC)
    text = f"{utc:%Y-%m-%d %H:%M:%S} UTC"
    if timezone and timezone != "UTC":
        try:
            local = instant.astimezone(ZoneInfo(timezone))
        except (ZoneInfoNotFoundError, ValueError):
            return text
        text += f"  ({local:%H:%M} {local.tzname() or timezone})"
    return text


def schedule_reading(job: JobDefinition) -> str:
    """The English reading of a job's schedule: ``At 09:00 every day``, ``once at …``."""
    if job.cron is None:
        return f"once at {job.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if job.at else ""
    try:
        return CronSchedule(job.cron, job.timezone).describe()
    except SchedulerError as exc:
        return exc.message
