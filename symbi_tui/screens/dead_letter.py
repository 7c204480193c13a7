"""The dead-letter queue: jobs that failed ``max_retries`` times in a row, for manual review.

The guide's recovery, in one place: see each job's last error and failure count, read its recent
runs below, fix the cause, then ``ctrl+r`` resets it (after a confirmation with Cancel focused).
"""

from __future__ import annotations

__all__ = ["DeadLetterScreen", "dead_letter_cells"]

from collections.abc import Sequence
from functools import partial

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from scheduler_core.clock import Clock
from scheduler_core.errors import JobNotFound
from scheduler_core.events import Event, JobChanged, RunChanged
from scheduler_core.model import JobDefinition, JobRun, JobStatus

from ..backend import Backend
from ..format import (
    RUN_STATUS_TONES,
    Tone,
    excerpt,
    fit,
    run_status_label,
    run_tally,
    short_instant,
)
from ..legibility import error_style
from ..markup import escape
from ..palette import Palette
from ..widgets.keyed_table import CellCache, Column, KeyedTable
from ..widgets.run_history import RunHistory
from ..widgets.screen_header import ScreenHeader
from ..widgets.steady_footer import SteadyFooter
from . import job_actions
from ._markup import muted
from .base import ConsoleScreen

_PAGE = 500
_RUNS = 20

#: the last error takes what the others leave and is always shown, with the failure count; at
#: 80 columns the last run's time, the schedule and the agent go first
COLUMNS = (
    Column("name", "Name", 20),
    Column("agent", "Agent", 16, priority=3),
    Column("schedule", "Schedule", 14, priority=2),
    Column("fails", "Fails", 5),
    Column("last", "Last run (UTC)", 24, priority=1),
    Column("error", "Last error", 24, flex=True),
)


def dead_letter_cells(job: JobDefinition, palette: Palette) -> list[Text]:
    """One dead-lettered job: what it runs, how often it failed, what it last said."""
    muted_style = palette[Tone.MUTED]
    if job.last_run_status is not None:
        last = Text.assemble(
            (short_instant(job.last_run_at), ""),
            " ",
            (run_status_label(job.last_run_status), palette[RUN_STATUS_TONES[job.last_run_status]]),
        )
    else:
        last = Text("never", style=muted_style)
    return [
        Text(fit(job.name, 20)),
        Text(fit(job.agent, 16)),
        Text(fit(job.schedule_text, 14)),
        Text(str(job.failure_count), style=palette[Tone.ERROR], justify="right"),
        last,
        Text(
            excerpt(job.last_error, 200) or "—",
            style=palette[Tone.ERROR] if job.last_error else muted_style,
        ),
    ]


class DeadLetterTable(KeyedTable):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(COLUMNS, **kwargs)


class DeadLetterScreen(ConsoleScreen[None]):
    """Dead-lettered jobs, and the recent runs of the selected one."""

    DEFAULT_CSS = """
    DeadLetterScreen #dlq-jobs {
        height: 1fr;
    }
    DeadLetterScreen #dlq-runs {
        height: 45%;
        min-height: 6;
    }
    """

    BINDINGS = [
        Binding("ctrl+r", "reset", "Reset", id="dlq-reset"),
        Binding("enter", "history", "History", id="dlq-history"),
    ]
    CLOCK_DRIVEN = False  #: nothing here counts down
    MUTATING_ACTIONS = frozenset({"reset"})

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock,
        readonly: bool = False,
        refresh_interval: float = 1.0,
    ) -> None:
        super().__init__(backend, clock=clock, readonly=readonly, refresh_interval=refresh_interval)
        self.jobs: dict[str, JobDefinition] = {}
        self.total = 0
        self.runs: list[JobRun] = []
        self._runs_for: str | None = None
        self._selected_for_bindings: str | None = None
        #: each job's cells, built again only when the job (or the palette) changed: every
        #: change to any job fetches the queue again, and its 500 rows cost 10-15 ms to build
        self._cells = CellCache()

    @property
    def crumbs(self) -> Sequence[str]:
        return ("symbi", "dead letter")

    def compose(self) -> ComposeResult:
        yield ScreenHeader()
        yield DeadLetterTable(id="dlq-jobs")
        yield RunHistory(id="dlq-runs")
        yield SteadyFooter(show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self._update_titles()
        self.query_one(DeadLetterTable).focus()

    # --- data -----------------------------------------------------------------------------------

    @property
    def selected_job(self) -> JobDefinition | None:
        return self.jobs.get(self.query_one(DeadLetterTable).selected_key or "")

    def wants(self, event: Event) -> bool:
        if isinstance(event, JobChanged):
            return True  # any job may have entered or left the queue
        if isinstance(event, RunChanged):
            return event.run.job_id in self.jobs
        return False

    async def fetch(self) -> None:
        page = await self.backend.list_jobs(status=JobStatus.DEAD_LETTER, limit=_PAGE)
        self.jobs = {job.id: job for job in page.jobs}
        self.total = page.total
        await self._fetch_runs(self._current_key())

    def _current_key(self) -> str | None:
        key = self.query_one(DeadLetterTable).selected_key
        if key in self.jobs:
            return key
        return next(iter(self.jobs), None)

    async def _fetch_runs(self, job_id: str | None) -> None:
        if job_id is None:
            self.runs, self._runs_for = [], None
            return
        try:
            self.runs = await self.backend.history(job_id, limit=_RUNS)
        except JobNotFound:
            self.runs = []
        self._runs_for = job_id

    def render_data(self) -> None:
        table = self.query_one(DeadLetterTable)
        palette = self.palette
        cells = self._cells.cells
        table.sync(
            [
                (
                    job.id,
                    cells(job.id, (job, palette), partial(dead_letter_cells, job, palette)),
                )
                for job in self.jobs.values()
            ]
        )
        self._cells.trim()
        selected = table.selected_key
        history = self.query_one(RunHistory)
        if selected is None:
            history.show([], self.palette)
        elif selected == self._runs_for:
            history.show(self.runs, self.palette)
        else:
            self.kick()  # the cursor moved on to another job: read its runs
        self._update_titles()
        if selected != self._selected_for_bindings:
            self._selected_for_bindings = selected
            self.refresh_bindings()

    def _update_titles(self) -> None:
        table = self.query_one(DeadLetterTable)
        count = len(self.jobs)
        size = f"{count} of {self.total}" if self.total > count else str(count)
        title = f"[{error_style()}]✖[/] Dead letter [b]{size}[/b]"
        if self.loaded and not self.jobs:
            title += " · " + muted("empty: nothing to review")
        table.border_title = title
        table.border_subtitle = "ctrl+r resets the selected job" if self.jobs else ""
        history = self.query_one(RunHistory)
        job = self.jobs.get(self._runs_for or "")
        history.border_title = (
            f"Recent runs of [b]{escape(job.name)}[/b] · {escape(run_tally(job, self.runs))}"
            if job
            else "Recent runs"
        )

    @on(DataTable.RowHighlighted, "#dlq-jobs")
    def _job_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value != self._runs_for and self.loaded:
            self.kick()
        if event.row_key.value != self._selected_for_bindings:
            self._selected_for_bindings = event.row_key.value
            self.refresh_bindings()

    # --- actions ----------------------------------------------------------------------------------

    def can(self, action: str) -> bool | None:
        return True if self.selected_job is not None else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "history":
            return True if self.jobs else None
        return super().check_action(action, parameters)

    @on(DataTable.RowSelected, "#dlq-jobs")
    def action_history(self) -> None:
        job = self.selected_job
        if job is not None:
            self.open_view("runs", job.id)

    def action_reset(self) -> None:
        job = self.selected_job
        if job is not None:
            self.run_action_worker(lambda: job_actions.reset(self, job))
