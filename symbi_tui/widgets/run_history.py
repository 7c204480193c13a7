"""The run history pane: the selected job's runs, newest first, keyed by run id."""

from __future__ import annotations

__all__ = ["RunHistory", "run_cells"]

from collections.abc import Sequence
from functools import partial

from rich.text import Text

from scheduler_core.model import JobRun, RunStatus

from ..format import RUN_STATUS_TONES, Tone, duration, excerpt, run_status_label, short_instant
from ..palette import Palette
from .keyed_table import CellCache, Column, KeyedTable

_OUTPUT_WIDTH = 60

COLUMNS = (
    Column("time", "Time (UTC)", 14),
    Column("trigger", "Trigger", 11),
    Column("status", "Status", 13),
    Column("duration", "Duration", 8),
    Column("output", "Output / error"),
)


def run_cells(run: JobRun, palette: Palette) -> list[Text]:
    """The cells of one run's row: when, why, how it ended, and what it said."""
    muted = palette[Tone.MUTED]
    trigger = run.trigger.value if run.attempt == 1 else f"{run.trigger.value} #{run.attempt}"
    if run.error_message:
        detail = Text(excerpt(run.error_message, _OUTPUT_WIDTH), style=palette[Tone.ERROR])
    elif run.status is RunStatus.QUEUED and run.due_at is not None:
        detail = Text(f"due {short_instant(run.due_at)}", style=muted)
    else:
        detail = Text(excerpt(run.output or run.summary, _OUTPUT_WIDTH))
    return [
        Text(short_instant(run.started_at or run.scheduled_for)),
        Text(trigger, style=muted),
        Text(run_status_label(run.status), style=palette[RUN_STATUS_TONES[run.status]]),
        Text(duration(run.execution_time_ms), justify="right"),
        detail,
    ]


class RunHistory(KeyedTable):
    """Runs of one job; a new run appears on top without disturbing the rest."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(COLUMNS, **kwargs)
        #: the cells of the runs of the last few jobs shown
        self._cells = CellCache()

    def show(self, runs: Sequence[JobRun], palette: Palette) -> None:
        """Bring the rows in line with ``runs`` (newest first)."""
        rows = [
            (
                run.id,
                self._cells.cells(run.id, (run, id(palette)), partial(run_cells, run, palette)),
            )
            for run in runs
        ]
        self._cells.trim()
        self.sync(rows)
