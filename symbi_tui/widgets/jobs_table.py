"""The jobs pane: one row per job, keyed by job id, updated in place."""

from __future__ import annotations

__all__ = ["JobsTable", "job_cells"]

from collections.abc import Mapping, Sequence, Set
from datetime import datetime
from functools import partial

from rich.text import Text

from scheduler_core.model import JobDefinition, JobRun, JobStatus

from ..format import (
    JOB_STATUS_TONES,
    RUN_STATUS_TONES,
    Tone,
    duration,
    fit,
    job_status_label,
    next_run_text,
    run_status_label,
    short_instant,
)
from ..palette import Palette
from .keyed_table import CellCache, Column, KeyedTable

_NAME_WIDTH = 40  #: the longest a name is shown, however wide the terminal

#: by priority: the name, the job's status, its last result and failure count are always shown
#: (a failing job never looks healthy, even at 80 columns); the next run, then the schedule, the
#: last run's duration and the agent as the terminal widens
COLUMNS = (
    Column("name", "Name", 14, flex=True, most=_NAME_WIDTH),
    Column("agent", "Agent", 16, priority=4),
    Column("schedule", "Schedule", 16, priority=2),
    Column("status", "Status", 13),
    Column("next", "Next run", 10, priority=1),
    Column("last", "Last result", 13),
    Column("took", "Took", 8, priority=3),
    Column("failures", "Fails", 5),
)


def job_cells(
    job: JobDefinition,
    last: JobRun | None,
    now: datetime,
    palette: Palette,
    *,
    tagged: bool = False,
) -> list[Text]:
    """The cells of one job's row; ``now`` (the injected clock) drives the countdown."""
    muted = palette[Tone.MUTED]
    if job.cron is not None:
        schedule = job.cron
    elif job.after is not None:
        schedule = f"after {job.after}"
    else:
        schedule = f"at {short_instant(job.at)}"
    if job.status is JobStatus.ACTIVE:
        next_run = Text(next_run_text(job, now))
    else:
        next_run = Text("—", style=muted)
    if last is None:
        last_result = Text("never", style=muted)
        took = Text("—", style=muted, justify="right")
    else:
        last_result = Text(
            run_status_label(last.status), style=palette[RUN_STATUS_TONES[last.status]]
        )
        took = Text(duration(last.execution_time_ms), style=muted, justify="right")
    failures = Text(
        str(job.failure_count),
        style=palette[Tone.ERROR] if job.failure_count else muted,
        justify="right",
    )
    return [
        (
            Text.assemble(("✓ ", palette[Tone.ACCENT]), fit(job.name, _NAME_WIDTH - 2))
            if tagged
            else Text(fit(job.name, _NAME_WIDTH))
        ),
        Text(fit(job.agent, 16)),
        Text(fit(schedule, 16)),
        Text(job_status_label(job.status), style=palette[JOB_STATUS_TONES[job.status]]),
        next_run,
        last_result,
        took,
        failures,
    ]


class JobsTable(KeyedTable):
    """Jobs by name; the row cursor selects the job that single-letter keys act on."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(COLUMNS, **kwargs)
        #: a row is rebuilt only when its job, last run, countdown, tag or colours change
        self._cells = CellCache()

    def show(
        self,
        jobs: Sequence[JobDefinition],
        last_runs: Mapping[str, JobRun],
        now: datetime,
        palette: Palette,
        *,
        tagged: Set[str] = frozenset(),
    ) -> None:
        """Bring the rows in line with ``jobs`` (already in display order)."""
        rows = []
        for job in jobs:
            last = last_runs.get(job.id)
            is_tagged = job.id in tagged
            next_text = next_run_text(job, now) if job.status is JobStatus.ACTIVE else ""
            cells = self._cells.cells(
                job.id,
                (job, last, next_text, is_tagged, id(palette)),
                partial(job_cells, job, last, now, palette, tagged=is_tagged),
            )
            rows.append((job.id, cells))
        self._cells.trim()
        self.sync(rows)
