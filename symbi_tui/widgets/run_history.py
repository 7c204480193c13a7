"""The run history pane: the selected job's runs, newest first, keyed by run id."""

from __future__ import annotations

__all__ = ["RunHistory", "run_cells"]

from collections.abc import Sequence
from functools import partial

from rich.text import Text

from scheduler_core.llm_cost import cost_text, run_tokens
from scheduler_core.model import JobRun, RunStatus

from ..format import (
    RUN_STATUS_TONES,
    Tone,
    duration,
    excerpt,
    heartbeat_mark,
    newest_first,
    run_status_label,
    run_time,
    short_ids,
    short_instant,
    trigger_label,
)
from ..palette import Palette
from .keyed_table import CellCache, Column, KeyedTable

_ID_WIDTH = 12  #: the Run column's least width: ids made apart differ in their first 12
_OUTPUT_WIDTH = 200  #: the most of an output or error a row keeps (the column shows what fits)

#: the output or error takes what the others leave; as the pane narrows, an LLM run's cost goes
#: first (the run detail shows it), then the run id and the duration (at 80 columns all three)
COLUMNS = (
    Column("time", "Time (UTC)", 14),
    Column("run", "Run", _ID_WIDTH, priority=2),
    Column("trigger", "Trigger", 10),
    Column("status", "Status", 13),
    Column("duration", "Duration", 8, priority=1),
    Column("cost", "Cost", 8, priority=3),
    Column("output", "Output / error", 30, flex=True),
)


def run_cells(run: JobRun, palette: Palette, short_id: str = "") -> list[Text]:
    """The cells of one run's row: when, which (``short_id``), why, how it ended, and what it
    said (after a heartbeat run's iteration count)."""
    muted = palette[Tone.MUTED]
    trigger = trigger_label(run.trigger, run.attempt)
    if run.error_message:
        detail = Text(excerpt(run.error_message, _OUTPUT_WIDTH), style=palette[Tone.ERROR])
    elif run.status is RunStatus.QUEUED and run.due_at is not None:
        detail = Text(f"due {short_instant(run.due_at)}", style=muted)
    else:
        detail = Text(excerpt(run.output or run.summary, _OUTPUT_WIDTH))
    mark = heartbeat_mark(run)  # a heartbeat run: how many iterations it made, first
    if mark:
        detail = Text.assemble((f"{mark} · ", muted), detail)
    return [
        Text(short_instant(run_time(run))),
        Text(short_id or run.id[:12], style=muted),
        Text(trigger, style=muted),
        Text(run_status_label(run.status), style=palette[RUN_STATUS_TONES[run.status]]),
        Text(duration(run.execution_time_ms), justify="right"),
        Text(
            cost_text(run.details), justify="right", style="" if run_tokens(run.details) else muted
        ),
        detail,
    ]


class RunHistory(KeyedTable):
    """Runs of one job; a new run appears on top without disturbing the rest."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(COLUMNS, **kwargs)
        #: the cells of the runs of the last few jobs shown
        self._cells = CellCache()
        self.runs: list[JobRun] = []  #: the runs shown, newest first
        self._id_width = _ID_WIDTH  #: the Run column's width

    def show(self, runs: Sequence[JobRun], palette: Palette) -> None:
        """Bring the rows in line with ``runs``, shown newest first (see ``newest_first``)."""
        self.runs = newest_first(runs)
        # runs started together share their ids' first 12 characters: as many more as it takes
        short = short_ids(run.id for run in self.runs)
        # the column widens (by 4) to what the ids need and does not narrow again: laying the
        # columns out anew as the cursor goes from job to job would cost each move a refill
        needed = max(map(len, short.values()), default=_ID_WIDTH)
        self._id_width = max(self._id_width, -(-needed // 4) * 4)
        self.set_column_width("run", self._id_width)
        rows = [
            (
                run.id,
                self._cells.cells(
                    run.id,
                    (run, short[run.id], id(palette)),
                    partial(run_cells, run, palette, short[run.id]),
                ),
            )
            for run in self.runs
        ]
        self._cells.trim()
        self.sync(rows)
