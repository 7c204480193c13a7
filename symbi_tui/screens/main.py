"""The main screen: scheduler health, the jobs pane and the selected job's run history.

Data flow, so a busy scheduler never floods the UI:

* one worker follows the backend's event stream and only *marks* what is stale (a job id, the
  health line, the history of the selected job, or everything after ``Dropped``);
* a timer every ``refresh_interval`` seconds (the debounce) fetches what is marked, then updates
  the tables by key, and re-renders the countdowns from the injected clock;
* an operator's own action or a new selection refreshes at once instead of waiting for the tick.
"""

from __future__ import annotations

__all__ = ["MainScreen"]

import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.markup import escape
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input
from textual.worker import Worker, WorkerState

from scheduler_core.clock import Clock
from scheduler_core.cron import CronSchedule
from scheduler_core.errors import JobNotFound, NotFoundError, SchedulerError
from scheduler_core.events import (
    Dropped,
    Event,
    JobChanged,
    RunChanged,
    SchedulerState,
)
from scheduler_core.model import JobDefinition, JobRun, JobStatus
from scheduler_core.service import Health

from ..backend import Backend
from ..format import JOB_STATUS_GLYPHS, JOB_STATUS_TONES
from ..palette import TONE_VARIABLES, Palette
from ..widgets.filter_bar import FilterBar
from ..widgets.health_bar import HealthBar
from ..widgets.jobs_table import JobsTable
from ..widgets.run_history import RunHistory
from .confirm import ConfirmScreen

log = logging.getLogger(__name__)

#: actions that change the scheduler's state: hidden in --readonly
MUTATING_ACTIONS = frozenset({"toggle_pause", "run_now", "reset"})
#: job changes that may add, drop or reorder rows, so the page is queried again
_RELOAD_CHANGES = frozenset({"created", "deleted", "updated"})
#: more stale jobs than this and one page query is cheaper than one query per job
_TARGETED_LIMIT = 32
_HISTORY_LIMIT = 50


class MainScreen(Screen[None]):
    """Jobs and their runs, live; single letters act on the selected job."""

    BINDINGS = [
        Binding("p", "toggle_pause", "Pause/Resume", id="job-pause"),
        Binding("r", "run_now", "Run now", id="job-run"),
        Binding("ctrl+r", "reset", "Reset", id="job-reset"),
        Binding("slash", "filter", "Filter", id="jobs-filter", key_display="/"),
        Binding("escape", "clear_filter", "Clear filter", id="jobs-clear-filter", show=False),
    ]

    filter_text: reactive[str] = reactive("", init=False)
    """Substring of job name or agent the jobs pane is narrowed to ("" shows all)."""

    selected_job_id: reactive[str | None] = reactive(None, init=False)
    """The job under the cursor: what p, r and ctrl+r act on and whose runs are shown."""

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock,
        readonly: bool = False,
        refresh_interval: float = 1.0,
        page_size: int = 500,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.clock = clock
        self.readonly = readonly
        self.refresh_interval = refresh_interval
        self.page_size = page_size
        self.jobs: dict[str, JobDefinition] = {}  #: the loaded page, in display order
        self.total_jobs = 0  #: jobs matching the filter, loaded or not
        self.health: Health | None = None
        self._last_runs: dict[str, JobRun] = {}
        self._palette: Palette | None = None
        # what is stale, marked by events and actions, cleared by the next refresh
        self._reload = True
        self._stale_jobs: set[str] = set()
        self._stale_health = True
        self._stale_runs = True
        self._refreshing = False
        self._urgent = False  #: the operator is waiting: refresh again as soon as this one ends
        self._runs_job_id: str | None = None  #: whose runs the history pane shows
        self._last_error: str | None = None
        self._binding_state: tuple[str, JobStatus] | None = None
        self._polling = False  #: the event stream ended: every tick reloads

    # --- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield HealthBar(id="health")
        yield FilterBar(id="filter", return_focus="#jobs")
        yield JobsTable(id="jobs")
        yield RunHistory(id="runs")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(HealthBar).show(
            None, mode=self.backend.mode_label, readonly=self.readonly, now=self.clock.now()
        )
        self._update_jobs_title()
        self._update_runs_title()
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self.set_interval(self.refresh_interval, self.kick, name="refresh")
        self._follow_events()
        self.query_one(JobsTable).focus()
        self.kick()

    @property
    def palette(self) -> Palette:
        if self._palette is None:
            self._palette = Palette(self.app.theme_variables)
        return self._palette

    def _on_theme_changed(self, _theme: object) -> None:
        self._palette = None
        self._stale_runs = True  # the history is recoloured when it is next fetched
        self._render_all()
        self.kick(urgent=True)

    # --- selection --------------------------------------------------------------------------------

    @property
    def selected_job(self) -> JobDefinition | None:
        return self.jobs.get(self.selected_job_id or "")

    @on(DataTable.RowHighlighted, "#jobs")
    def _job_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.selected_job_id = event.row_key.value

    def watch_selected_job_id(self, old: str | None, new: str | None) -> None:
        if old == new:
            return
        self._stale_runs = True
        self.refresh_bindings()
        self.kick(urgent=True)

    # --- live data --------------------------------------------------------------------------------

    @work(group="events", exit_on_error=False)
    async def _follow_events(self) -> None:
        try:
            async for event in self.backend.subscribe():
                self.note_event(event)
        finally:
            # without events, fall back to reloading everything on every tick
            self._polling = True

    def note_event(self, event: Event) -> None:
        """Mark what ``event`` made stale; the next tick fetches it (the debounce)."""
        if isinstance(event, JobChanged):
            self._stale_health = True
            if event.change in _RELOAD_CHANGES:
                self._reload = True
            else:
                self._stale_jobs.add(event.job_id)
            if event.job_id == self.selected_job_id:
                self._stale_runs = True
        elif isinstance(event, RunChanged):
            run = event.run
            self._stale_health = True
            self._stale_jobs.add(run.job_id)
            if run.status.is_final:
                self._last_runs[run.job_id] = run
            if run.job_id == self.selected_job_id:
                self._stale_runs = True
        elif isinstance(event, SchedulerState | Dropped):
            if isinstance(event, Dropped):
                self._last_runs.clear()  # finished runs may be among the lost events
            self._reload = self._stale_health = self._stale_runs = True

    def kick(self, *, urgent: bool = False) -> None:
        """Refresh now; if a refresh is running, the next tick (or, if urgent, its end) follows."""
        if self._refreshing:
            self._urgent |= urgent
            return
        if self._polling:
            self._reload = self._stale_health = self._stale_runs = True
        self._refreshing = True
        self._refresh()

    @work(group="refresh", exit_on_error=False)
    async def _refresh(self) -> None:
        reload, self._reload = self._reload, False
        stale_jobs, self._stale_jobs = self._stale_jobs, set()
        stale_health, self._stale_health = self._stale_health, False
        stale_runs, self._stale_runs = self._stale_runs, False
        selected = self.selected_job_id
        try:
            if reload or len(stale_jobs) > _TARGETED_LIMIT:
                await self._load_page()
            elif stale_jobs:
                await self._load_jobs(stale_jobs)
            if stale_health:
                self.health = await self.backend.health()
            runs: list[JobRun] | None = None
            if stale_runs and selected is not None and selected in self.jobs:
                try:
                    runs = await self.backend.history(selected, limit=_HISTORY_LIMIT)
                except JobNotFound:
                    runs = []
        except BaseException:
            # put the marks back: the next tick tries again
            self._reload |= reload
            self._stale_jobs |= stale_jobs
            self._stale_health |= stale_health
            self._stale_runs |= stale_runs
            raise
        finally:
            self._refreshing = False
        self._last_error = None
        self._render_all(runs=runs, runs_for=selected)
        if self._urgent:
            self._urgent = False
            self.call_later(self.kick)

    async def _load_page(self) -> None:
        page = await self.backend.list_jobs(text=self.filter_text or None, limit=self.page_size)
        self.jobs = {job.id: job for job in page.jobs}
        self.total_jobs = page.total
        missing = [job_id for job_id in self.jobs if job_id not in self._last_runs]
        if missing:
            self._last_runs.update(await self.backend.last_results(missing))
        for job_id in [j for j in self._last_runs if j not in self.jobs]:
            del self._last_runs[job_id]

    async def _load_jobs(self, job_ids: set[str]) -> None:
        for job_id in job_ids:
            if job_id not in self.jobs:
                continue  # not on this page (filtered out, or beyond the page)
            try:
                self.jobs[job_id] = await self.backend.get_job(job_id)
            except JobNotFound:
                del self.jobs[job_id]
                self.total_jobs -= 1

    def _render_all(self, *, runs: list[JobRun] | None = None, runs_for: str | None = None) -> None:
        """Push the loaded state into the widgets (cheap when nothing changed)."""
        now = self.clock.now()
        jobs_table = self.query_one(JobsTable)
        jobs_table.show(list(self.jobs.values()), self._last_runs, now, self.palette)
        self.selected_job_id = jobs_table.selected_key
        self.query_one(HealthBar).show(
            self.health, mode=self.backend.mode_label, readonly=self.readonly, now=now
        )
        self._update_jobs_title()
        history = self.query_one(RunHistory)
        if self.selected_job_id is None:
            history.show([], self.palette)
            self._runs_job_id = None
        elif runs is not None and runs_for == self.selected_job_id:
            history.show(runs, self.palette)
            self._runs_job_id = runs_for
        self._update_runs_title()
        job = self.selected_job
        binding_state = (job.id, job.status) if job else None
        if binding_state != self._binding_state:  # the footer is rebuilt only when it changes
            self._binding_state = binding_state
            self.refresh_bindings()

    def _update_jobs_title(self) -> None:
        counts = Counter(job.status for job in self.jobs.values())
        shown = len(self.jobs)
        if self.filter_text or self.total_jobs > shown:
            size = f"{shown} of {self.total_jobs}" if self.total_jobs > shown else str(shown)
        else:
            size = str(shown)
        parts = [f"Jobs [b]{size}[/b]"]
        for status in JobStatus:
            if counts[status]:
                variable = TONE_VARIABLES[JOB_STATUS_TONES[status]]
                glyph = JOB_STATUS_GLYPHS[status]
                parts.append(f"[${variable}]{glyph} {counts[status]} {status.value}[/]")
        if self.filter_text:
            parts.append(f'[$accent]/ "{escape(self.filter_text)}"[/]')
        self.query_one(JobsTable).border_title = "  ".join(parts)

    def _update_runs_title(self) -> None:
        history = self.query_one(RunHistory)
        job = self.jobs.get(self._runs_job_id or "")
        if job is None:
            history.border_title = "Runs"
            history.border_subtitle = ""
            return
        history.border_title = f"Runs of [b]{escape(job.name)}[/b] · {history.row_count}"
        history.border_subtitle = escape(_schedule_summary(job))

    # --- filter -----------------------------------------------------------------------------------

    def action_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.display = True
        self.set_focus(bar)  # at once, not after a round trip: see on_key

    def on_key(self, event: events.Key) -> None:
        """Keep keys typed in one burst with ``/`` (a paste, a fast typist over SSH).

        Such keys are already queued for the table when the ``/`` binding would run, so ``/`` is
        handled here, as it bubbles up, and focus moves synchronously; the keys behind it that
        still reach this screen while the prompt has focus are handed to the prompt.
        """
        bar = self.query_one(FilterBar)
        if self.focused is bar:  # (bar.has_focus lags: it waits for the Focus event)
            # the prompt consumes what it types, so a printable key here was sent elsewhere
            if event.is_printable and event.character:
                bar.insert_text_at_cursor(event.character)
                event.stop()
                event.prevent_default()
            return
        active = self.active_bindings.get(event.key)
        if active is not None and active.binding.action == "filter" and active.enabled:
            event.stop()
            event.prevent_default()
            self.action_filter()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        bar = self.query_one(FilterBar)
        if not bar.value.strip():
            bar.display = False
        # at once, like action_filter: keys typed right after Enter belong to the table
        self.set_focus(self.query_one(JobsTable))

    @on(FilterBar.Cancelled)
    def action_clear_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.value = ""
        bar.display = False
        self.filter_text = ""
        self.set_focus(self.query_one(JobsTable))

    def watch_filter_text(self) -> None:
        self._reload = True
        self._update_jobs_title()
        self.kick(urgent=True)

    # --- actions on the selected job ----------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide what --readonly forbids; dim what does not apply to the selected job."""
        if action not in MUTATING_ACTIONS:
            return True
        if self.readonly:
            return False
        job = self.selected_job
        if job is None:
            return None
        if action == "toggle_pause":
            return True if job.status in (JobStatus.ACTIVE, JobStatus.PAUSED) else None
        if action == "reset":
            return True if job.status in (JobStatus.DEAD_LETTER, JobStatus.FAILED) else None
        return True

    def action_toggle_pause(self) -> None:
        job = self.selected_job
        if job is None:
            return
        if job.status is JobStatus.PAUSED:
            self._act(job, "resume", self.backend.resume_job, lambda j: f"{j.name} resumed")
        else:
            self._act(job, "pause", self.backend.pause_job, lambda j: f"{j.name} paused")

    def action_run_now(self) -> None:
        job = self.selected_job
        if job is None:
            return
        self._act(job, "run", self.backend.run_now, lambda run: f"{job.name}: manual run queued")

    @work(group="actions", exit_on_error=False)
    async def action_reset(self) -> None:
        job = self.selected_job
        if job is None:
            return
        message = (
            f"{job.name} is {job.status.value} after {job.failure_count} failure(s).\n"
            "Reset clears the failures and schedules it again from now."
        )
        confirmed = await self.app.push_screen_wait(
            ConfirmScreen(f"Reset {job.name}?", message, confirm_label="Reset")
        )
        if not confirmed:
            self.notify(f"{job.name} left {job.status.value}", title="Reset cancelled")
            return
        self._act(job, "reset", self.backend.reset_job, lambda j: f"{j.name} is active again")

    @work(group="actions", exit_on_error=False)
    async def _act(
        self,
        job: JobDefinition,
        verb: str,
        call: Callable[[str], Awaitable[object]],
        describe: Callable[..., str],
    ) -> None:
        """Run one mutation and tell the operator how it went, in words."""
        try:
            result = await call(job.id)
        except SchedulerError as exc:
            self.notify(exc.message, title=f"Could not {verb} {job.name}", severity="error")
            if isinstance(exc, NotFoundError):  # gone behind our back: show what is there now
                self._reload = True
                self.kick(urgent=True)
            return
        self.notify(describe(result), title=verb.capitalize())
        self._stale_jobs.add(job.id)
        self._stale_health = self._stale_runs = True
        self.kick(urgent=True)

    # --- failures -----------------------------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """The one place unexpected worker errors end up: logged and shown, never fatal."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        text = f"{type(error).__name__}: {error}"
        log.error("%s failed: %s", event.worker.name, text, exc_info=error)
        if text != self._last_error:  # a broken store must not toast once per tick
            self._last_error = text
            self.notify(text, title=f"{event.worker.group} failed", severity="error")


def _schedule_summary(job: JobDefinition) -> str:
    """``At 09:00 every day · UTC`` for the history pane's subtitle."""
    if job.cron is None:
        return f"once at {job.at.isoformat() if job.at else '?'}"
    try:
        text = CronSchedule(job.cron, job.timezone).describe()
    except SchedulerError:
        text = job.cron
    return f"{text} · {job.timezone}"
