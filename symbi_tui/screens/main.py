"""The main screen: scheduler health, the jobs pane and the selected job's run history.

Data flow, so a busy scheduler never floods the UI:

* one worker follows the backend's event stream and only *marks* what is stale (a job id, the
  health line, the history of the selected job, or everything after ``Dropped``);
* a timer every ``refresh_interval`` seconds (the debounce) fetches what is marked, then updates
  the tables by key, and re-renders the countdowns from the injected clock;
* an operator's own action or a new selection refreshes at once instead of waiting for the tick.

It is a :class:`~symbi_tui.screens.base.ConsoleScreen` like every other screen (palette, event
follower, read-only checks, actions and their feedback, worker errors, navigation), with finer
marks of what is stale than the whole screen, and frames held for a key's refresh.
"""

from __future__ import annotations

__all__ = ["MainScreen"]

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Input, Tab, Tabs

from scheduler_core.clock import Clock
from scheduler_core.cron import CronSchedule
from scheduler_core.errors import JobNotFound, SchedulerError
from scheduler_core.events import (
    Dropped,
    Event,
    JobChanged,
    RunChanged,
    SchedulerState,
)
from scheduler_core.model import JobDefinition, JobRun, JobStatus, RunStatus
from scheduler_core.service import Health
from scheduler_core.store import JobPage

from .._textual_private import Underline
from ..backend import Backend
from ..format import JOB_STATUS_GLYPHS, JOB_STATUS_TONES, run_tally
from ..idle_gc import IdleCollector, freeze_long_lived
from ..markup import escape
from ..palette import TONE_VARIABLES
from ..run_rate import RunRate
from ..widgets.filter_bar import FilterBar
from ..widgets.health_bar import HealthBar
from ..widgets.jobs_table import JobsTable
from ..widgets.keyed_table import trim_oldest
from ..widgets.run_history import RunHistory
from ..widgets.steady_footer import SteadyFooter
from . import job_actions, views
from .base import ConsoleScreen

log = logging.getLogger(__name__)

#: the status tabs over the jobs pane: (tab id, label, status filter); the last one lists the
#: jobs with a run awaiting approval (a run's state, not a job status: see ``approvals_only``)
STATUS_TABS: tuple[tuple[str, str, JobStatus | None], ...] = (
    ("all", "All", None),
    ("active", "Active", JobStatus.ACTIVE),
    ("paused", "Paused", JobStatus.PAUSED),
    ("dead_letter", "Dead letter", JobStatus.DEAD_LETTER),
    ("completed", "Completed", JobStatus.COMPLETED),
    ("failed", "Failed", JobStatus.FAILED),
    ("awaiting", "Awaiting approval", None),
)
#: the tab listing jobs with runs awaiting approval
AWAITING_TAB = "awaiting"
#: shorter words for the tabs below :data:`WIDE_TABS` columns, so all seven stay in view at 80
SHORT_TAB_LABELS: dict[str, str] = {
    "dead_letter": "Dead",
    "completed": "Done",
    "awaiting": "Approval",
}
WIDE_TABS = 120
#: the columns ``s`` cycles through: (store order, label)
SORTS: tuple[tuple[str, str], ...] = (
    ("name", "name"),
    ("next_run_at", "next run"),
    ("status", "status"),
    ("agent", "agent"),
    ("last_run_at", "last run"),
    ("failure_count", "failures"),
)
#: jobs-table column -> store order, for a click on a header
_COLUMN_ORDERS = {
    "name": "name",
    "agent": "agent",
    "status": "status",
    "next": "next_run_at",
    "last": "last_run_at",
    "failures": "failure_count",
}
#: job changes that may add, drop or reorder rows, so the page is queried again
_RELOAD_CHANGES = frozenset({"created", "deleted", "updated"})
#: more stale jobs than this and one page query is cheaper than one query per job
_TARGETED_LIMIT = 32
_HISTORY_LIMIT = 50
#: last runs kept for jobs off the page (a page shown again finds them)
_LAST_RUNS_KEPT = 1000
#: how long the echo of a key may wait for the rows it asked for, to be drawn with them at once
_HOLD_SECONDS = 0.04


class MainScreen(ConsoleScreen[None]):
    """Jobs and their runs, live; single letters act on the selected job."""

    BINDINGS = [
        Binding("p", "toggle_pause", "Pause/Resume", id="job-pause"),
        Binding("r", "run_now", "Run now", id="job-run"),
        Binding("ctrl+r", "reset", "Reset", id="job-reset"),
        Binding("R", "run_with_input", "Run with input", id="job-run-input", show=False),
        Binding("B", "backfill", "Backfill", id="job-backfill", show=False),
        Binding("a", "add", "Add", id="job-add"),
        Binding("e", "edit", "Edit", id="job-edit", show=False),
        Binding("d", "delete", "Delete", id="job-delete", show=False),
        Binding("h", "history", "History", id="job-history", show=False),
        Binding("E", "export", "Export as DSL", id="job-export", show=False),
        Binding("A", "approve", "Approve", id="job-approve", show=False),
        Binding("X", "deny", "Deny", id="job-deny", show=False),
        Binding("space", "tag", "Tag", id="job-tag", show=False),
        Binding("slash", "filter", "Filter", id="jobs-filter", key_display="/"),
        Binding("s", "sort", "Sort", id="jobs-sort"),
        Binding("S", "sort_reverse", "Reverse sort", id="jobs-sort-reverse", show=False),
        Binding("z", "freeze", "Freeze", id="refresh-freeze", show=False),
        Binding("escape", "clear_filter", "Clear filter", id="jobs-clear-filter", show=False),
        *(
            Binding(str(n), f"status_tab('{tab}')", label, id=f"tab-{tab}", show=False)
            for n, (tab, label, _) in enumerate(STATUS_TABS, start=1)
        ),
        Binding("]", "page(1)", "Next page", id="jobs-next-page", show=False),
        Binding("[", "page(-1)", "Previous page", id="jobs-previous-page", show=False),
    ]
    MUTATING_ACTIONS = frozenset(
        {
            "toggle_pause",
            "run_now",
            "run_with_input",
            "backfill",
            "reset",
            "delete",
            "edit",
            "add",
            "approve",
            "deny",
        }
    )

    # (repaint=False: the screen draws nothing of its own; a change repainting the whole of it
    # would redraw every widget, a full frame on each cursor move)
    filter_text: reactive[str] = reactive("", init=False, repaint=False)
    """Substring of job name or agent the jobs pane is narrowed to ("" shows all)."""

    selected_job_id: reactive[str | None] = reactive(None, init=False, repaint=False)
    """The job under the cursor: what p, r and ctrl+r act on and whose runs are shown."""

    status_filter: reactive[JobStatus | None] = reactive(None, init=False, repaint=False)
    """The status tab: only jobs in this status (None: all)."""

    approvals_only: reactive[bool] = reactive(False, init=False, repaint=False)
    """The Awaiting approval tab: only jobs with a run awaiting approval."""

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock,
        readonly: bool = False,
        refresh_interval: float = 1.0,
        page_size: int = 100,
    ) -> None:
        super().__init__(backend, clock=clock, readonly=readonly, refresh_interval=refresh_interval)
        self.page_size = page_size
        self.jobs: dict[str, JobDefinition] = {}  #: the loaded page, in display order
        self.total_jobs = 0  #: jobs matching the filter, loaded or not
        self.health: Health | None = None
        self._last_runs: dict[str, JobRun] = {}
        self._never_ran: set[str] = set()  #: jobs with no finished run when last asked
        # what is stale, marked by events and actions, cleared by the next refresh
        self._reload = True
        self._stale_jobs: set[str] = set()
        self._stale_health = True
        self._stale_runs = True
        self._urgent = False  #: the operator is waiting: refresh again as soon as this one ends
        self._runs_job_id: str | None = None  #: whose runs the history pane shows
        self._titles: dict[str | None, tuple[str, str]] = {}  #: pane id -> titles set
        self._runs_coming_for: str | None = None  #: whose runs the refresh under way fetched
        self._binding_state: tuple[JobStatus, bool] | None = None
        #: the store column the jobs pane is sorted by. (The name shadows Textual's
        #: ``Widget.sort_order``, an int counting construction that only ``sort_children()``
        #: without a key reads, which nothing calls on the app's screens; the tests and the
        #: benchmarks read this one.)
        self.sort_order: str = "name"  # type: ignore[assignment]  # shadows Widget.sort_order
        self.descending = False
        self.page_offset = 0  #: the first row of the page shown (pages of ``page_size`` jobs)
        self.tagged: set[str] = set()  #: job ids tagged with space, for bulk actions
        self.frozen = False  #: z: the panes stop following the scheduler
        self._rate = RunRate()
        self._tab_keys: dict[str, str] = {}  #: binding id -> the key shown, once known
        self._tab_counts: dict[str, int] | None = None  #: the jobs in each tab, once known
        self.awaiting_jobs = 0  #: jobs with a run awaiting approval (the tab's count)
        self._prepared = False  #: the first page was drawn and _prepare started

    # --- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield HealthBar(id="health")
        yield FilterBar(id="filter", return_focus="#jobs")
        yield Tabs(*(Tab(label, id=f"tab-{tab}") for tab, label, _ in STATUS_TABS), id="tabs")
        yield JobsTable(id="jobs")
        yield RunHistory(id="runs")
        # (the palette key, docked right, was drawn over "? Help" and "q Quit" below 100
        # columns; ctrl+p still opens it, and ? lists it)
        yield SteadyFooter(show_command_palette=False)

    def on_mount(self) -> None:
        self._label_tabs()
        self._update_jobs_title()
        self._update_runs_title()
        self.query_one(JobsTable).focus()
        super().on_mount()

    def _show_header(self) -> None:
        self.query_one(HealthBar).show(
            self.health,
            mode=self.backend.mode_label,
            readonly=self.readonly,
            now=self.clock.now(),
            rate=self.run_rate(),
            connection=self.backend.connection,
        )

    def _tick(self) -> None:
        self._show_header()  # the connection's state, even while fetches fail
        self.kick()

    def theme_changed(self) -> None:
        self._titles.clear()  # their colours are looked up when they are set
        self._stale_runs = True  # the history is recoloured when it is next fetched
        self._render_all()
        self.kick(urgent=True)

    # --- selection --------------------------------------------------------------------------------

    @property
    def selected_job(self) -> JobDefinition | None:
        """The job under the cursor *now*: what a key acts on.

        Read from the table, not from ``selected_job_id``: that follows the table's
        ``RowHighlighted`` messages, which a burst of keys (``Down Down p`` in one write) leaves
        queued behind the ``p``, so it would still name the row the cursor left.
        """
        return self.jobs.get(self.query_one(JobsTable).selected_key or "")

    @on(DataTable.RowHighlighted, "#jobs")
    def _job_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.selected_job_id = event.row_key.value

    def watch_selected_job_id(self, old: str | None, new: str | None) -> None:
        if old == new:
            return
        job = self.selected_job
        binding_state = (job.status, bool(self.tagged)) if job else None
        if binding_state != self._binding_state:  # the footer only changes with the status
            self._binding_state = binding_state
            self.refresh_bindings()
        if new is None or new != self._runs_coming_for:  # (else the refresh under way has them)
            self._stale_runs = True
            self.kick(urgent=True)

    # --- live data --------------------------------------------------------------------------------

    @work(group="prepare", exit_on_error=False)
    async def _prepare(self) -> None:
        """Once the first page is drawn: get the filter ready before the first key typed into
        it, and the other screens' modules before the first key that opens one, then take what
        is alive by then out of the cycle collector's sight at the next pause of the keys."""
        try:
            await self.backend.prepare_search()
            await asyncio.to_thread(views.preload)
        finally:
            idle_gc = getattr(self.app, "idle_gc", None)
            if isinstance(idle_gc, IdleCollector):
                idle_gc.freeze_when_idle()  # (in a pause of the operator's keys)
            else:
                freeze_long_lived()

    def note_event(self, event: Event) -> None:
        """Mark what ``event`` made stale; the next tick fetches it (the debounce)."""
        if isinstance(event, JobChanged):
            self._stale_health = True
            if event.change in _RELOAD_CHANGES:
                self._reload = True
            else:
                self._stale_jobs.add(event.job_id)
            if event.job_id in (self.selected_job_id, self._runs_coming_for):
                self._stale_runs = True
        elif isinstance(event, RunChanged):
            run = event.run
            self._stale_health = True
            self._stale_jobs.add(run.job_id)
            if run.status.is_final:
                self._last_runs[run.job_id] = run
            if self.approvals_only and (
                run.status is RunStatus.AWAITING_APPROVAL or run.job_id in self.jobs
            ):
                self._reload = True  # a job may join or leave the Awaiting approval tab
            # (or about to be: a change after its runs were read is fetched by the next tick)
            if run.job_id in (self.selected_job_id, self._runs_coming_for):
                self._stale_runs = True
        elif isinstance(event, SchedulerState | Dropped):
            if isinstance(event, Dropped):
                self._last_runs.clear()  # finished runs may be among the lost events
                self._never_ran.clear()
            self._reload = self._stale_health = self._stale_runs = True

    def kick(self, *, urgent: bool = False) -> None:
        """Refresh now; if a refresh is running, the next tick (or, if urgent, its end) follows."""
        if self.frozen and not urgent:
            return  # z: what is shown stays until the operator thaws it or acts
        if urgent:
            self.hold_frames(_HOLD_SECONDS)
        if self._refreshing:
            self._urgent |= urgent
            return
        if self._polling:
            self._reload = self._stale_health = self._stale_runs = True
        self._refreshing = True
        self._refresh()

    @work(group="refresh", exit_on_error=False)
    async def _refresh(self) -> None:
        try:
            await self._fetch_and_render()
        finally:
            if not self._urgent:  # (else the refresh that follows at once draws what was asked)
                self.release_frames()

    async def _fetch_and_render(self) -> None:
        reload, self._reload = self._reload, False
        stale_jobs, self._stale_jobs = self._stale_jobs, set()
        stale_health, self._stale_health = self._stale_health, False
        stale_runs, self._stale_runs = self._stale_runs, False
        selected = self.selected_job_id
        try:
            if not self._access_asked:
                await self._learn_access()
            if reload or len(stale_jobs) > _TARGETED_LIMIT:
                await self._load_page()
            elif stale_jobs:
                await self._load_jobs(stale_jobs)
            if reload or stale_jobs:
                # where the cursor lands once the rows are shown (the top of another page, sort
                # or filter): that job's runs come with them, in this refresh and its one
                # repaint, not in the next
                lands_on = self.query_one(JobsTable).key_after_sync(list(self.jobs))
                if lands_on != selected:
                    selected, stale_runs = lands_on, True
            if stale_health:
                self.health = await self.backend.health()
                self._sample_rate(self.health)
                if not self.health.awaiting_approval:
                    self.awaiting_jobs = 0
                elif not (reload and self.approvals_only):  # (else the page counted them)
                    waiting = await self.backend.pending_approvals()
                    self.awaiting_jobs = len({run.job_id for run in waiting})
            runs: list[JobRun] | None = None
            if stale_runs and selected is not None and selected in self.jobs:
                self._runs_coming_for = selected
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
            self._runs_coming_for = None
            raise
        finally:
            self._refreshing = False
        self._last_error = None
        try:
            self._render_all(runs=runs, runs_for=selected)
        finally:
            self._runs_coming_for = None
        self.loaded = True
        if not self._prepared and self.jobs:
            self._prepared = True  # once the first page is on screen
            self.call_after_refresh(self._prepare)
        if self._urgent:
            self._urgent = False
            self.call_later(self.kick)

    async def _load_page(self) -> None:
        page = await self._query_page()
        if not page.jobs and self.page_offset and page.total:
            self.page_offset = max(0, (page.total - 1) // self.page_size * self.page_size)
            page = await self._query_page()
        self.jobs = {job.id: job for job in page.jobs}
        self.total_jobs = page.total
        self.tagged &= set(self.jobs)
        if self._polling:  # no events to keep them current: the page's are fetched each time
            self._last_runs = {j: r for j, r in self._last_runs.items() if j in self.jobs}
            self._never_ran.clear()
        known = self._last_runs.keys() | self._never_ran
        missing = [job_id for job_id in self.jobs if job_id not in known]
        if missing:
            found = await self.backend.last_results(missing)
            self._last_runs.update(found)
            self._never_ran.update(j for j in missing if j not in found)
        # the last runs of jobs off the page are kept (events keep them current) for a page
        # shown again, up to a few pages' worth
        self._last_runs = trim_oldest(self._last_runs, _LAST_RUNS_KEPT)
        if len(self._never_ran) > _LAST_RUNS_KEPT:
            self._never_ran = set(self.jobs) & self._never_ran

    async def _query_page(self) -> JobPage:
        """The page shown: a query of the store, or, on the Awaiting approval tab, the jobs of
        the runs awaiting approval (few: each waits for a person), filtered and sorted here."""
        if not self.approvals_only:
            return await self.backend.list_jobs(
                text=self.filter_text or None,
                status=self.status_filter,
                limit=self.page_size,
                offset=self.page_offset,
                order=self.sort_order,
                descending=self.descending,
            )
        waiting = await self.backend.pending_approvals()
        jobs: list[JobDefinition] = []
        for job_id in dict.fromkeys(run.job_id for run in waiting):
            try:
                jobs.append(await self.backend.get_job(job_id))
            except JobNotFound:
                continue  # deleted since: its run goes with it
        self.awaiting_jobs = len(jobs)
        needle = self.filter_text.lower()
        if needle:
            jobs = [j for j in jobs if needle in f"{j.name}\t{j.agent}".lower()]
        jobs.sort(key=lambda job: _sort_key(job, self.sort_order), reverse=self.descending)
        start = self.page_offset
        return JobPage(jobs=jobs[start : start + self.page_size], total=len(jobs))

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
        self.selected_job_id = self._show_jobs()
        self._show_header()
        self._update_tabs()
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
        # what check_action depends on: the footer is recomposed only when that changes, not on
        # every cursor move (recomposing it costs more than the rest of a move)
        binding_state = (job.status, bool(self.tagged)) if job else None
        if binding_state != self._binding_state:  # the footer is rebuilt only when it changes
            self._binding_state = binding_state
            self.refresh_bindings()

    def _show_jobs(self) -> str | None:
        """Bring the jobs pane in line with the loaded page; the key under its cursor after."""
        jobs_table = self.query_one(JobsTable)
        jobs_table.show(
            list(self.jobs.values()),
            self._last_runs,
            self.clock.now(),
            self.palette,
            tagged=self.tagged,
        )
        return jobs_table.selected_key

    def _update_jobs_title(self) -> None:
        counts = Counter(job.status for job in self.jobs.values())
        shown = len(self.jobs)
        if self.total_jobs > shown:
            first = self.page_offset + 1 if shown else 0
            size = f"{first}-{self.page_offset + shown} of {self.total_jobs}"
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
        if self.tagged:
            parts.append(f"[$accent]✓ {len(self.tagged)} tagged[/]")
        table = self.query_one(JobsTable)
        title = "  ".join(parts)
        label = dict(SORTS).get(self.sort_order, self.sort_order)
        subtitle = [f"sorted by {label} {'↓' if self.descending else '↑'}"]
        if self.total_jobs > self.page_size:
            subtitle.append("[ ] pages")
        if self.frozen:
            subtitle.append("[b $warning]❄ frozen (z)[/]")
        self._set_titles(table, title, " · ".join(subtitle))

    def _update_tabs(self) -> None:
        """Tab labels with the number of jobs in each status (from the scheduler's health)."""
        health = self.health
        if health is None:
            return
        counts = {
            "active": health.active_jobs,
            "paused": health.paused_jobs,
            "dead_letter": health.dead_letter_jobs,
            "completed": health.completed_jobs,
            "failed": health.failed_jobs,
            "missed": health.missed_jobs,  # (no tab of its own: under All)
        }
        counts["all"] = sum(counts.values())
        counts[AWAITING_TAB] = self.awaiting_jobs
        self._label_tabs(counts)

    def on_resize(self) -> None:
        self._label_tabs()  # (shorter words when narrow)

    def _label_tabs(self, counts: dict[str, int] | None = None) -> None:
        """Each tab with the key that shows it (as remapped, if it was) and, once the health
        is known, its number of jobs: ``2 Active 12``."""
        if not self._tab_keys:  # (the bindings are active once the screen is)
            self._tab_keys = {
                str(active.binding.id): self.app.get_key_display(active.binding)
                for active in self.active_bindings.values()
                if str(active.binding.id).startswith("tab-")
            }
        if counts is not None:
            self._tab_counts = counts
        counts = self._tab_counts
        narrow = self.app.size.width < WIDE_TABS
        tabs = self.query_one(Tabs)
        for tab_id, wide_label, _ in STATUS_TABS:
            label = SHORT_TAB_LABELS.get(tab_id, wide_label) if narrow else wide_label
            key = self._tab_keys.get(f"tab-{tab_id}", "")
            count = f" {counts[tab_id]}" if counts is not None else ""
            text = escape(f"{key} {label}{count}".strip())
            tab = tabs.query_one(f"#tab-{tab_id}", Tab)
            if str(tab.label) != text:
                tab.label = text

    # --- runs per minute ------------------------------------------------------------------------

    def _sample_rate(self, health: Health) -> None:
        self._rate.sample(self.clock.monotonic(), health.stats.runs_total)

    def run_rate(self, minutes: int = 30) -> list[int]:
        """Runs finished per minute over the last ``minutes`` minutes (oldest first), from the
        run totals seen since the console started."""
        return self._rate.per_minute(minutes)

    def _update_runs_title(self) -> None:
        history = self.query_one(RunHistory)
        job = self.jobs.get(self._runs_job_id or "")
        if job is None:
            self._set_titles(history, "Runs", "")
            return
        self._set_titles(
            history,
            f"Runs of [b]{escape(job.name)}[/b] · {run_tally(job, history.runs)}",
            escape(_schedule_summary(job)),
        )

    def _set_titles(self, pane: Widget, title: str, subtitle: str) -> None:
        """A pane's border title and subtitle: setting one repaints the whole pane, even to the
        same text, so only a change is set (the titles are worked out on every refresh)."""
        if self._titles.get(pane.id) != (title, subtitle):
            self._titles[pane.id] = (title, subtitle)
            pane.border_title = title
            pane.border_subtitle = subtitle

    # --- filter -----------------------------------------------------------------------------------

    def action_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.display = True
        self.set_focus(bar)  # at once, not after a round trip: see on_key

    def on_key(self, event: events.Key) -> None:
        self.take_burst_key(event, self.query_one(FilterBar))

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

    def action_clear_filter(self) -> None:
        """Esc on the jobs pane: drop the filter; without one, say there is nothing to undo."""
        if not self.filter_text and not self.query_one(FilterBar).display:
            self.notify(
                "no filter to clear, and nothing to go back to: this is the first screen "
                f"({self._key_of('quit')} quits)",
                title="Esc",
            )
            return
        self._clear_filter()

    @on(FilterBar.Cancelled)
    def _clear_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.value = ""
        bar.display = False
        self.filter_text = ""
        self.set_focus(self.query_one(JobsTable))

    def watch_filter_text(self) -> None:
        self.page_offset = 0
        self._reload = True
        self._update_jobs_title()
        self.kick(urgent=True)

    # --- actions on the selected job ----------------------------------------------------------

    def can(self, action: str) -> bool | None:
        """Dim what does not apply to the selected job."""
        if action == "add":
            return True
        job = self.selected_job
        if job is None:
            return None
        if action in ("approve", "deny"):
            # not yet counted: let the key ask (decide_for_job says when nothing waits)
            return True if self.health is None or self.health.awaiting_approval else None
        if self.tagged and action in ("toggle_pause", "run_now"):
            return True
        if action == "toggle_pause":
            return True if job.status in (JobStatus.ACTIVE, JobStatus.PAUSED) else None
        if action == "reset":
            return True if job.status in (JobStatus.DEAD_LETTER, JobStatus.FAILED) else None
        if action == "backfill":
            return True if job_actions.backfill_refusal(job) is None else None
        return True

    def why_not(self, action: str) -> str:
        job = self.selected_job
        if job is None:
            return "no job is selected"
        status = job.status.value
        if action == "backfill":
            return job_actions.backfill_refusal(job) or super().why_not(action)
        if action == "reset":
            return f"{job.name} is {status}: reset brings back a failed or dead-lettered job"
        if action == "toggle_pause":
            return f"{job.name} is {status}: only an active or paused job pauses or resumes"
        if action in ("approve", "deny"):
            return "no run is awaiting approval"
        return super().why_not(action)

    def action_toggle_pause(self) -> None:
        if self.tagged:
            self._bulk_pause()
            return
        job = self.selected_job
        if job is not None:
            self.run_action_worker(lambda: job_actions.toggle_pause(self, job))

    def action_run_now(self) -> None:
        if self.tagged:
            self._bulk("run", self.backend.run_now, self._tagged_jobs())
            return
        job = self.selected_job
        if job is not None:
            self.run_action_worker(lambda: job_actions.run_now(self, job))

    def action_run_with_input(self) -> None:
        job = self.selected_job
        if job is not None:
            self.run_action_worker(lambda: job_actions.run_now(self, job, ask=True))

    def action_backfill(self) -> None:
        job = self.selected_job
        if job is not None:
            self.run_action_worker(lambda: job_actions.backfill(self, job))

    def action_reset(self) -> None:
        job = self.selected_job
        if job is not None:
            self.run_action_worker(lambda: job_actions.reset(self, job))

    def action_approve(self) -> None:
        job = self.selected_job
        if job is not None:
            self.run_action_worker(lambda: job_actions.decide_for_job(self, job, "approve"))

    def action_deny(self) -> None:
        job = self.selected_job
        if job is not None:
            self.run_action_worker(lambda: job_actions.decide_for_job(self, job, "deny"))

    def action_delete(self) -> None:
        job = self.selected_job
        if job is not None:
            self.run_action_worker(lambda: job_actions.delete(self, job))

    def after_action(self, job_id: str | None, *, gone: bool = False) -> None:
        if gone or job_id is None or self.status_filter is not None or self.approvals_only:
            # the page may have changed (on a status tab, the job may have left it)
            self._reload = True
        else:
            self._stale_jobs.add(job_id)
        self._stale_health = self._stale_runs = True
        self.kick(urgent=True)

    def action_add(self) -> None:
        self._open_form(None)

    def action_edit(self) -> None:
        job = self.selected_job
        if job is not None:
            self._open_form(job.name)

    def _open_form(self, job: str | None) -> None:
        def done(result: object) -> None:
            if result is not None:
                self._reload = self._stale_health = self._stale_runs = True
                self.kick(urgent=True)

        self.open_view("edit" if job else "add", job, on_result=done)

    def action_export(self) -> None:
        """The tagged jobs (or the selected one) as DSL, to read or save to a file."""
        jobs = self._tagged_jobs() if self.tagged else []
        if not jobs and self.selected_job is not None:
            jobs = [self.selected_job]
        if not jobs:
            self.notify("no job is selected", title="Export", severity="warning", markup=False)
            return
        self.open_view("export", " ".join(sorted(j.name for j in jobs)))

    def action_watch(self) -> None:
        job = self.selected_job
        if job is not None:
            self.open_view("watch", job.name)

    def action_history(self) -> None:
        job = self.selected_job
        if job is not None:
            self.open_view("runs", job.name)

    @on(DataTable.RowSelected, "#jobs")
    def _job_selected(self, event: DataTable.RowSelected) -> None:
        """Enter drills down: the selected job, live."""
        self.selected_job_id = event.row_key.value
        self.action_watch()

    # --- tags, sort, tabs, pages, freeze ------------------------------------------------------

    def action_tag(self) -> None:
        job = self.selected_job
        if job is None:
            return
        self.tagged ^= {job.id}
        self._render_all()
        self.refresh_bindings()
        table = self.query_one(JobsTable)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)

    def _tagged_jobs(self) -> list[JobDefinition]:
        return [self.jobs[j] for j in self.jobs if j in self.tagged]

    def _bulk_pause(self) -> None:
        jobs = self._tagged_jobs()
        active = [j for j in jobs if j.status is JobStatus.ACTIVE]
        if active:
            self._bulk("pause", self.backend.pause_job, active)
        else:
            paused = [j for j in jobs if j.status is JobStatus.PAUSED]
            self._bulk("resume", self.backend.resume_job, paused)

    @work(group="actions", exit_on_error=False)
    async def _bulk(
        self, verb: str, call: Callable[[str], Awaitable[object]], jobs: list[JobDefinition]
    ) -> None:
        """One action on every tagged job; one notification says how it went."""
        done: list[str] = []
        failed: list[str] = []
        for job in jobs:
            try:
                await call(job.id)
            except SchedulerError as exc:
                failed.append(f"{job.name}: {exc.message}")
            else:
                done.append(job.name)
        self.tagged.clear()
        if done:
            self.notify(f"{verb}: {', '.join(done)}", title=f"{verb.capitalize()} {len(done)}")
        if failed:
            self.notify("\n".join(failed), title=f"Could not {verb}", severity="error")
        if not jobs:
            self.notify(f"no tagged job can {verb}", title=verb.capitalize(), severity="warning")
        self._reload = self._stale_health = self._stale_runs = True
        self.refresh_bindings()
        self.kick(urgent=True)

    def action_sort(self) -> None:
        orders = [order for order, _ in SORTS]
        index = orders.index(self.sort_order) if self.sort_order in orders else -1
        self._sort_by(orders[(index + 1) % len(orders)], descending=False)

    def action_sort_reverse(self) -> None:
        self._sort_by(self.sort_order, descending=not self.descending)

    @on(DataTable.HeaderSelected, "#jobs")
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        order = _COLUMN_ORDERS.get(str(event.column_key.value))
        if order is not None:
            same = order == self.sort_order
            self._sort_by(order, descending=not self.descending if same else False)

    def _sort_by(self, order: str, *, descending: bool) -> None:
        self.sort_order, self.descending = order, descending
        self.page_offset = 0
        self._reload = True
        self._update_jobs_title()
        self.kick(urgent=True)

    def action_status_tab(self, tab: str) -> None:
        tabs = self.query_one(Tabs)
        if tabs.active == f"tab-{tab}":
            label = next(label for t, label, _ in STATUS_TABS if t == tab)
            self.notify(f"the {label} tab is the one shown", title=label)
            return
        tabs.active = f"tab-{tab}"

    def _key_of(self, binding_id: str) -> str:
        """The key bound to ``binding_id`` now (as remapped), for a message."""
        for active in self.active_bindings.values():
            if active.binding.id == binding_id:
                return self.app.get_key_display(active.binding)
        return binding_id

    @on(Tabs.TabActivated, "#tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        tab_id = (event.tab.id or "tab-all").removeprefix("tab-")
        self.status_filter = next((st for t, _, st in STATUS_TABS if t == tab_id), None)
        self.approvals_only = tab_id == AWAITING_TAB
        # the underline under the new tab now, in the frame that shows its jobs (the Tabs move
        # it after the next frame, in a frame of its own)
        underline = event.tabs.query_one(Underline)
        tab = event.tab
        if tab.region:
            start, end = tab.virtual_region.shrink(tab.styles.gutter).column_span
            underline.highlight_start, underline.highlight_end = start, end

    def watch_approvals_only(self) -> None:
        self.watch_status_filter()

    def watch_status_filter(self) -> None:
        self.page_offset = 0
        self._reload = True
        self.kick(urgent=True)

    def action_page(self, step: int) -> None:
        offset = max(0, self.page_offset + step * self.page_size)
        if (offset >= self.total_jobs and step > 0) or offset == self.page_offset:
            shown = "last" if step > 0 else "first"
            self.notify(f"this is the {shown} page of jobs", title="Pages")
            return
        if offset != self.page_offset:
            self.page_offset = offset
            self._reload = True
            self.kick(urgent=True)

    def action_freeze(self) -> None:
        self.frozen = not self.frozen
        self.notify(
            "the panes stop following the scheduler (z again resumes)"
            if self.frozen
            else "following the scheduler again",
            title="Frozen" if self.frozen else "Live",
        )
        self._update_jobs_title()
        if not self.frozen:
            self._reload = self._stale_health = self._stale_runs = True
            self.kick(urgent=True)


def _sort_key(job: JobDefinition, order: str) -> tuple[bool, Any, str]:
    """Sort jobs as the store does: by ``order`` (a column), empty values last, then by name."""
    value = getattr(job, order, None)
    if isinstance(value, JobStatus):
        value = value.value
    return (value is None, value if value is not None else 0, job.name)


def _schedule_summary(job: JobDefinition) -> str:
    """``At 09:00 every day · UTC`` for the history pane's subtitle."""
    if job.cron is None:
        return f"once at {job.at.isoformat() if job.at else '?'}"
    try:
        text = CronSchedule(job.cron, job.timezone).describe()
    except SchedulerError:
        text = job.cron
    return f"{text} · {job.timezone}"
