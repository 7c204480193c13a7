"""A job's run history, full screen: newest first, a page at a time, filtered by status.

Pages are keyset pages (``before_seq``: the ``seq`` of the last run on the page), so paging stays
cheap however long the history grows, and a new run never shifts the page being read. The first
page is live; Enter opens a run.
"""

from __future__ import annotations

__all__ = ["RunHistoryScreen"]

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from scheduler_core.clock import Clock
from scheduler_core.errors import JobNotFound
from scheduler_core.events import Event, JobChanged, RunChanged
from scheduler_core.model import JobDefinition, JobRun, RunStatus

from ..backend import Backend
from ..format import RUN_STATUS_GLYPHS, run_tally
from ..legibility import error_style
from ..markup import escape
from ..widgets.run_history import RunHistory
from ..widgets.screen_header import ScreenHeader
from ..widgets.steady_footer import SteadyFooter
from . import job_actions
from ._markup import muted, schedule_reading
from .base import ConsoleScreen
from .choice import ChoiceScreen


class RunHistoryScreen(ConsoleScreen[None]):
    """Runs of one job by id or name; ``status`` narrows them to one run status."""

    DEFAULT_CSS = """
    RunHistoryScreen #history-runs {
        height: 1fr;
    }
    """

    BINDINGS = [
        Binding("enter", "open_run", "Open run", id="history-open"),
        Binding("f", "filter_status", "Status filter", id="history-filter"),
        Binding("c", "cancel_run", "Cancel run", id="history-cancel"),
        Binding("right_square_bracket", "older", "Older", id="history-older", key_display="]"),
        Binding("left_square_bracket", "newer", "Newer", id="history-newer", key_display="["),
    ]
    MUTATING_ACTIONS = frozenset({"cancel_run"})
    CLOCK_DRIVEN = False  #: nothing here counts down

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock,
        readonly: bool = False,
        job: str,
        status: RunStatus | None = None,
        page_size: int = 50,
        refresh_interval: float = 1.0,
    ) -> None:
        super().__init__(backend, clock=clock, readonly=readonly, refresh_interval=refresh_interval)
        self.job_ref = job
        self.status = status
        self.page_size = page_size
        self.job: JobDefinition | None = None
        self.runs: list[JobRun] = []
        #: ``before_seq`` of each page read so far; the last one is the page shown (None: newest)
        self._pages: list[int | None] = [None]
        self.missing = False
        #: the selected run and its status when the footer was last drawn (``c`` follows it)
        self._binding_state: tuple[str | None, RunStatus | None] = (None, None)

    @property
    def page(self) -> int:
        """1-based number of the page shown."""
        return len(self._pages)

    @property
    def crumbs(self) -> Sequence[str]:
        return ("symbi", self.job.name if self.job else self.job_ref, "runs")

    def compose(self) -> ComposeResult:
        yield ScreenHeader()
        yield RunHistory(id="history-runs")
        yield SteadyFooter(show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self._update_title()
        self.query_one(RunHistory).focus()

    # --- data -----------------------------------------------------------------------------------

    def wants(self, event: Event) -> bool:
        job_id = self.job.id if self.job else None
        if isinstance(event, RunChanged):
            # a later page is a fixed slice of the past: only the first page moves
            return event.run.job_id == job_id and (self.page == 1 or not event.run.status.is_final)
        if isinstance(event, JobChanged):
            return event.job_id == job_id
        return False

    async def fetch(self) -> None:
        try:
            self.job = await self.backend.get_job(self.job_ref)
            self.runs = await self.backend.history(
                self.job.id,
                limit=self.page_size,
                status=self.status,
                before_seq=self._pages[-1],
            )
        except JobNotFound:
            self.missing = True
            self.runs = []

    def render_data(self) -> None:
        self.query_one(RunHistory).show(self.runs, self.palette)
        self._update_title()
        self._follow_selection()

    @on(DataTable.RowHighlighted, "#history-runs")
    def _follow_selection(self) -> None:
        """Redraw the footer when the selected run (or its status) changes: ``c`` is dimmed on
        a run that has ended."""
        run = self.selected_run
        state = (run.id, run.status) if run is not None else (None, None)
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    def _update_title(self) -> None:
        table = self.query_one(RunHistory)
        name = self.job.name if self.job else self.job_ref
        parts = [f"Runs of [b]{escape(name)}[/b]"]
        if self.job is not None:
            parts.append(escape(run_tally(self.job, self.runs if self.page == 1 else ())))
        parts += [f"page {self.page}", f"{len(self.runs)} listed"]
        if self.status is not None:
            glyph = RUN_STATUS_GLYPHS[self.status]
            parts.append(f"[$accent]status {glyph} {self.status.value}[/]")
        if self.missing:
            parts.append(f"[{error_style()}]job removed[/]")
        elif self.loaded and not self.runs:
            parts.append(muted("no runs" if self.page == 1 else "no older runs"))
        table.border_title = " · ".join(parts)
        if self.job is not None:
            table.border_subtitle = escape(
                f"{self.job.schedule_text} · {schedule_reading(self.job)} · {self.job.timezone}"
            )

    # --- keys -----------------------------------------------------------------------------------

    @property
    def selected_run(self) -> JobRun | None:
        key = self.query_one(RunHistory).selected_key
        return next((run for run in self.runs if run.id == key), None)

    def action_open_run(self) -> None:
        run = self.selected_run
        if run is not None:
            self._open(run.id)

    @on(DataTable.RowSelected, "#history-runs")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value:
            self._open(event.row_key.value)

    def _open(self, run_id: str) -> None:
        self.open_view("run", run_id)

    def can(self, action: str) -> bool | None:
        if action == "cancel_run":
            run = self.selected_run
            return True if run is not None and not run.status.is_final else None
        return True

    def why_not(self, action: str) -> str:
        if action == "cancel_run":
            run = self.selected_run
            if run is None:
                return "no run is selected"
            return f"run {run.id[:12]} has ended ({run.status.value}): nothing to cancel"
        return super().why_not(action)

    def action_cancel_run(self) -> None:
        run = self.selected_run
        if run is not None and not run.status.is_final:
            self.run_action_worker(lambda: job_actions.cancel_run(self, run))

    def action_older(self) -> None:
        if len(self.runs) < self.page_size:
            self.notify("this is the oldest page", title="Runs")
            return
        seq = self.runs[-1].details.get("seq")
        if not isinstance(seq, int):
            return
        self._pages.append(seq)
        self.kick()

    def action_newer(self) -> None:
        if len(self._pages) == 1:
            self.notify("this is the newest page", title="Runs")
            return
        self._pages.pop()
        self.kick()

    def action_filter_status(self) -> None:
        choices = [("", "all statuses")] + [
            (status.value, f"{RUN_STATUS_GLYPHS[status]} {status.value}") for status in RunStatus
        ]
        current = self.status.value if self.status else ""
        self.app.push_screen(
            ChoiceScreen("Show runs that are…", choices, current=current), self._status_chosen
        )

    def _status_chosen(self, choice: str | None) -> None:
        if choice is None:
            return
        self.status = RunStatus(choice) if choice else None
        self._pages = [None]
        self.runs = []
        self.kick()
