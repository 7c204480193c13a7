"""A heartbeat run's iterations as they happen: assessment, action, outcome and summary.

Given a run id it shows that run; given a job it follows the job, switching to each new run as it
starts; given neither it follows the heartbeat job that ran last. ``IterationRecorded`` events
refresh it, so each iteration appears (``running``) when it starts and fills in when it ends.
"""

from __future__ import annotations

__all__ = ["HeartbeatScreen", "iteration_cells"]

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from scheduler_core.clock import Clock
from scheduler_core.errors import JobNotFound, RunNotFound
from scheduler_core.events import Event, IterationRecorded, JobChanged, RunChanged
from scheduler_core.model import HeartbeatIteration, JobDefinition, JobRun, RunStatus

from ..backend import Backend
from ..format import Tone, duration, excerpt, fit, short_instant
from ..legibility import error_style
from ..markup import escape
from ..palette import Palette
from ..widgets.keyed_table import Column, KeyedTable
from ..widgets.screen_header import ScreenHeader
from ..widgets.steady_footer import SteadyFooter
from ._markup import (
    ITERATION_OUTCOMES,
    elapsed,
    iteration_label,
    kv_block,
    muted,
    run_status_markup,
)
from .base import ConsoleScreen, show

#: the assessment takes what the others leave; at 80 columns the summary, action and start go
#: (the selected iteration's pane below shows them whole)
COLUMNS = (
    Column("index", "#", 3),
    Column("started", "Started", 8, priority=3),
    Column("took", "Took", 7),
    Column("outcome", "Outcome", 16),
    Column("assessment", "Assessment", 20, flex=True),
    Column("action", "Action", 18, priority=2),
    Column("summary", "Summary", 26, priority=1),
)
_TEXT_WIDTH = 200  #: the most of a text a cell keeps (its column shows what fits)


def iteration_cells(iteration: HeartbeatIteration, now: datetime, palette: Palette) -> list[Text]:
    """One iteration's row; a running iteration's time comes from ``now`` (the clock)."""
    if iteration.finished_at is not None:
        ms = int((iteration.finished_at - iteration.started_at).total_seconds() * 1000)
        took = Text(duration(ms), justify="right")
    else:
        took = Text(elapsed(iteration.started_at, now), justify="right", style=palette[Tone.ACCENT])
    _, tone = ITERATION_OUTCOMES.get(iteration.outcome, ("?", Tone.MUTED))
    muted_style = palette[Tone.MUTED]
    return [
        Text(str(iteration.index), justify="right"),
        Text(f"{iteration.started_at.astimezone(UTC):%H:%M:%S}"),
        took,
        Text(iteration_label(iteration.outcome), style=palette[tone]),
        Text(fit(" ".join((iteration.assessment or "").split()), _TEXT_WIDTH)),
        Text(fit(iteration.action or "", 18), style=muted_style if not iteration.action else ""),
        Text(excerpt(iteration.summary, 26)),
    ]


class IterationsTable(KeyedTable):
    """Iterations of one run, keyed by index, in order."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(COLUMNS, **kwargs)


class HeartbeatScreen(ConsoleScreen[None]):
    """Iterations of a heartbeat run; ``iteration N / max_iterations`` in the summary."""

    DEFAULT_CSS = """
    HeartbeatScreen #hb-summary {
        height: auto;
        border: round $border-blurred;
        border-title-color: $foreground;
        border-subtitle-color: $foreground-muted;
        padding: 0 1;
    }
    HeartbeatScreen #hb-iterations {
        height: 1fr;
    }
    HeartbeatScreen #hb-detail {
        height: 9;
        border: round $border-blurred;
        border-title-color: $foreground;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    HeartbeatScreen #hb-detail Static {
        height: auto;
    }
    """

    BINDINGS = [
        Binding("r", "run_now", "Run now", id="heartbeat-run"),
    ]
    MUTATING_ACTIONS = frozenset({"run_now"})

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock,
        readonly: bool = False,
        run_id: str | None = None,
        job: str | None = None,
        refresh_interval: float = 1.0,
    ) -> None:
        super().__init__(backend, clock=clock, readonly=readonly, refresh_interval=refresh_interval)
        self.fixed_run_id = run_id
        self.job_ref = job
        self.job: JobDefinition | None = None
        self.run: JobRun | None = None
        self.iterations: list[HeartbeatIteration] = []
        self.note = ""  #: why nothing is shown, when nothing is

    @property
    def crumbs(self) -> Sequence[str]:
        name = self.job.name if self.job else (self.job_ref or "heartbeat")
        return ("symbi", name, "heartbeat")

    def compose(self) -> ComposeResult:
        yield ScreenHeader()
        yield Static(id="hb-summary")
        yield IterationsTable(id="hb-iterations")
        with VerticalScroll(id="hb-detail"):
            yield Static(id="hb-detail-text")
        yield SteadyFooter(show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#hb-summary").border_title = "Heartbeat"
        self.query_one("#hb-detail").border_title = "Iteration"
        self.query_one(IterationsTable).focus()

    # --- data -----------------------------------------------------------------------------------

    def wants(self, event: Event) -> bool:
        if isinstance(event, IterationRecorded):
            return self.run is not None and event.iteration.run_id == self.run.id
        if isinstance(event, RunChanged):
            if self.run is not None and event.run.id == self.run.id:
                return True
            # following a job: a new run of it takes over the screen
            return (
                self.fixed_run_id is None
                and self.job is not None
                and event.run.job_id == self.job.id
            )
        if isinstance(event, JobChanged):
            return self.job is not None and event.job_id == self.job.id
        return False

    async def fetch(self) -> None:
        if self.fixed_run_id is not None:
            try:
                self.run = await self.backend.get_run(self.fixed_run_id)
            except RunNotFound:
                self.run, self.note = None, "no such run (it was removed)"
                return
            self.job = await self._job(self.run.job_id)
        else:
            if self.job_ref is None:
                self.job_ref = await self._latest_heartbeat_job()
                if self.job_ref is None:
                    self.note = "no heartbeat jobs: give a job heartbeat { enabled: true }"
                    return
            self.job = await self._job(self.job_ref)
            if self.job is None:
                self.note = f"no job {self.job_ref!r} (it was removed)"
                return
            runs = await self.backend.history(self.job.id, limit=5)
            started = [run for run in runs if run.status is not RunStatus.QUEUED]
            self.run = started[0] if started else None
            if self.run is None:
                self.note = f"{self.job.name} has not run yet"
                return
        self.iterations = await self.backend.iterations(self.run.id)
        self.note = ""

    async def _job(self, ref: str) -> JobDefinition | None:
        try:
            return await self.backend.get_job(ref)
        except JobNotFound:
            return None

    async def _latest_heartbeat_job(self) -> str | None:
        page = await self.backend.list_jobs(limit=500)
        beats = [job for job in page.jobs if job.heartbeat_enabled]
        if not beats:
            return None
        epoch = datetime.min.replace(tzinfo=self.clock.now().tzinfo)
        return max(beats, key=lambda job: job.last_run_at or epoch).id

    @property
    def max_iterations(self) -> int | str:
        info = self.run.details.get("heartbeat") if self.run else None
        if isinstance(info, dict) and info.get("max_iterations"):
            return int(info["max_iterations"])
        if self.job is not None and self.job.heartbeat is not None:
            return self.job.heartbeat.max_iterations
        return "?"

    # --- rendering --------------------------------------------------------------------------------

    def render_data(self) -> None:
        now = self.clock.now()
        summary = self.query_one("#hb-summary", Static)
        table = self.query_one(IterationsTable)
        run = self.run
        if run is None:
            show(summary, muted(self.note or "loading…"))
            table.sync([])
            self._render_detail()
            return
        name = self.job.name if self.job else run.job_name
        count = len(self.iterations)
        summary.border_title = (
            f"Heartbeat · [b]{escape(name)}[/b] · iteration [b]{count} / {self.max_iterations}[/b]"
        )
        summary.border_subtitle = escape(f"run {run.id}")  # (runs started together share its head)
        if run.status is RunStatus.RUNNING:
            timing = (
                f"started {short_instant(run.started_at)} · elapsed {elapsed(run.started_at, now)}"
            )
        else:
            timing = (
                f"started {short_instant(run.started_at)} · took {duration(run.execution_time_ms)}"
            )
        info = run.details.get("heartbeat") or {}
        mode = self.job.heartbeat.context_mode.value if self.job and self.job.heartbeat else "?"
        rows = [
            (
                "Run",
                f"{run_status_markup(run.status)} · {escape(run.trigger.value)} · {escape(timing)}",
            ),
            ("Progress", self._progress(count)),
            (
                "Context",
                escape(mode)
                + (muted(f" · stopped: {info['stopped']}") if info.get("stopped") else ""),
            ),
        ]
        if run.error_message:
            rows.append(("Error", f"[{error_style()}]{escape(run.error_message)}[/]"))
        show(summary, kv_block(rows, width=8))
        palette = self.palette
        table.sync([(str(it.index), iteration_cells(it, now, palette)) for it in self.iterations])
        table.border_title = f"Iterations · {count}"
        self._render_detail()

    def _progress(self, count: int) -> str:
        limit = self.max_iterations
        if not isinstance(limit, int) or limit <= 0:
            return escape(f"{count} iterations")
        width = 40
        filled = min(width, round(width * count / limit))
        bar = "█" * filled + "░" * (width - filled)
        return f"[$accent]{bar[:filled]}[/][$foreground-muted]{bar[filled:]}[/] {count} of {limit}"

    @on(DataTable.RowHighlighted, "#hb-iterations")
    def _highlighted(self) -> None:
        self._render_detail()

    def _render_detail(self) -> None:
        pane = self.query_one("#hb-detail")
        text = self.query_one("#hb-detail-text", Static)
        key = self.query_one(IterationsTable).selected_key
        iteration = next((it for it in self.iterations if str(it.index) == key), None)
        if iteration is None:
            pane.border_title = "Iteration"
            show(text, muted("no iterations yet"))
            return
        pane.border_title = f"Iteration {iteration.index} · {iteration_label(iteration.outcome)}"
        rows = [
            ("Assessment", escape(iteration.assessment or "—")),
            ("Action", escape(iteration.action or "—")),
            ("Summary", escape(iteration.summary or "—")),
        ]
        if iteration.output_excerpt:
            rows.append(("Output", escape(iteration.output_excerpt)))
        show(text, kv_block(rows, width=10))

    # --- actions ----------------------------------------------------------------------------------

    def can(self, action: str) -> bool | None:
        return True if self.job is not None else None

    @work(group="actions", exit_on_error=False)
    async def action_run_now(self) -> None:
        job = self.job
        if job is None:
            return
        await self.act(
            "run", lambda: self.backend.run_now(job.id), lambda r: f"{job.name}: run queued"
        )
