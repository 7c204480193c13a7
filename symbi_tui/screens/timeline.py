"""The next hours of fires of the listed jobs on a time axis, so load pile-ups are visible.

Fires come from each job's own schedule (``CronSchedule.next_after`` in the job's time zone,
DST included), computed for an hour-aligned range a little wider than the window and cached until
the hour or the job changes, so the live view costs almost nothing per tick. ``+``/``-`` zoom
between 1, 6 and 24 hours.
"""

from __future__ import annotations

__all__ = ["WINDOWS", "TimelineScreen", "job_fires"]

from collections.abc import Sequence
from datetime import datetime, timedelta

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from scheduler_core.clock import Clock
from scheduler_core.cron import CronSchedule
from scheduler_core.errors import SchedulerError
from scheduler_core.events import Event, JobChanged
from scheduler_core.model import JobDefinition, JobStatus

from ..backend import Backend
from ..format import JOB_STATUS_GLYPHS
from ..markup import escape
from ..widgets.screen_header import ScreenHeader
from ..widgets.steady_footer import SteadyFooter
from ..widgets.timeline import LEVELS, Timeline, TimelineRow
from ._markup import muted
from .base import ConsoleScreen

#: zoom levels, narrowest first
WINDOWS: tuple[timedelta, ...] = (timedelta(hours=1), timedelta(hours=6), timedelta(hours=24))
MAX_FIRES = 2000  #: marks computed per row at most
MAX_JOBS = 200  #: rows at most (the first jobs by name)
_BEFORE = 12  #: the window starts window/12 before now, so "now" is a line, not the edge


def job_fires(
    job: JobDefinition, start: datetime, end: datetime, *, cap: int = MAX_FIRES
) -> tuple[tuple[datetime, ...], bool]:
    """The instants in ``[start, end)`` at which ``job`` fires, and whether ``cap`` cut them."""
    if job.status is not JobStatus.ACTIVE:
        return (), False
    if job.cron is None:
        at = job.at
        return ((at,) if at is not None and start <= at < end else ()), False
    try:
        schedule = CronSchedule(job.cron, job.timezone)
    except SchedulerError:
        return (), False
    fires: list[datetime] = []
    instant = start - timedelta(microseconds=1)
    while len(fires) < cap:
        try:
            instant = schedule.next_after(instant)
        except SchedulerError:
            break
        if instant >= end:
            return tuple(fires), False
        fires.append(instant)
    return tuple(fires), True


def _label(window: timedelta) -> str:
    hours = int(window.total_seconds() // 3600)
    return f"{hours}h" if hours else f"{int(window.total_seconds() // 60)}m"


def _floor_minute(instant: datetime) -> datetime:
    return instant.replace(second=0, microsecond=0)


def _floor_hour(instant: datetime) -> datetime:
    return instant.replace(minute=0, second=0, microsecond=0)


class TimelineScreen(ConsoleScreen[None]):
    """Jobs (narrowed like the jobs pane by ``text`` and ``status``) against the next hours."""

    DEFAULT_CSS = """
    TimelineScreen #timeline-pane {
        height: 1fr;
        border: round $border-blurred;
        border-title-color: $foreground;
        border-subtitle-color: $foreground-muted;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    TimelineScreen #timeline-pane:focus {
        border: round $border;
    }
    TimelineScreen #timeline-legend {
        height: 1;
        padding: 0 1;
        color: $foreground-muted;
    }
    """

    BINDINGS = [
        Binding("plus,equals_sign", "zoom_in", "Zoom in", id="timeline-zoom-in", key_display="+"),
        Binding("minus", "zoom_out", "Zoom out", id="timeline-zoom-out", key_display="-"),
    ]

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock,
        readonly: bool = False,
        text: str | None = None,
        status: JobStatus | None = None,
        window: timedelta = WINDOWS[-1],
        refresh_interval: float = 1.0,
    ) -> None:
        super().__init__(backend, clock=clock, readonly=readonly, refresh_interval=refresh_interval)
        self.text = text
        self.status = status
        self.window = window
        self.jobs: list[JobDefinition] = []
        self.total = 0
        #: job id -> (cache key, fires, capped)
        self._fires: dict[str, tuple[tuple[object, ...], tuple[datetime, ...], bool]] = {}

    @property
    def crumbs(self) -> Sequence[str]:
        return ("symbi", "timeline")

    def compose(self) -> ComposeResult:
        yield ScreenHeader()
        with VerticalScroll(id="timeline-pane"):
            yield Timeline(id="timeline")
        yield Static(
            f"{LEVELS[0]}…{LEVELS[-1]} fires per column, each row scaled to its busiest column"
            "  ·  load: all jobs  ·  │ now  ·  count: fires ahead",
            id="timeline-legend",
        )
        yield SteadyFooter(show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#timeline-pane").focus()

    def wants(self, event: Event) -> bool:
        return isinstance(event, JobChanged)

    async def fetch(self) -> None:
        page = await self.backend.list_jobs(text=self.text, status=self.status, limit=MAX_JOBS)
        self.jobs = list(page.jobs)
        self.total = page.total
        keep = {job.id for job in self.jobs}
        self._fires = {k: v for k, v in self._fires.items() if k in keep}

    # --- rendering --------------------------------------------------------------------------------

    @property
    def start(self) -> datetime:
        """The track's left edge: a little before now, so now is a line inside it."""
        return _floor_minute(self.clock.now() - self.window / _BEFORE)

    @property
    def span(self) -> timedelta:
        """The track's length: the window ahead of now plus the bit before it."""
        return self.window + self.window / _BEFORE

    def _rows(self, start: datetime, now: datetime) -> list[TimelineRow]:
        # an hour-aligned range around the window: the cache holds for up to an hour
        range_start = _floor_hour(start)
        range_end = range_start + self.span + timedelta(hours=2)
        ahead = now + self.window
        rows = []
        for job in self.jobs:
            key = (job.cron, job.at, job.timezone, job.status, range_start, range_end)
            cached = self._fires.get(job.id)
            if cached is None or cached[0] != key:
                fires, capped = job_fires(job, range_start, range_end)
                cached = self._fires[job.id] = (key, fires, capped)
            glyph = JOB_STATUS_GLYPHS[job.status]
            rows.append(
                TimelineRow(
                    key=job.id,
                    label=f"{glyph} {job.name}",
                    fires=cached[1],
                    active=job.status is JobStatus.ACTIVE,
                    capped=cached[2],
                    count=sum(1 for fire in cached[1] if now <= fire < ahead),
                )
            )
        return rows

    def render_data(self) -> None:
        start = self.start
        now = self.clock.now()
        timeline = self.query_one(Timeline)
        timeline.show(
            self._rows(start, now),
            start=start,
            window=self.span,
            now=now,
            palette=self.palette,
        )
        self._update_title(timeline)

    def _update_title(self, timeline: Timeline) -> None:
        pane = self.query_one("#timeline-pane")
        shown = len(self.jobs)
        size = f"{shown} of {self.total}" if self.total > shown else str(shown)
        parts = [f"Timeline · next [b]{_label(self.window)}[/b]"]
        parts.append(f"{size} jobs")
        if self.text:
            parts.append(f'[$accent]/ "{escape(self.text)}"[/]')
        if self.status is not None:
            parts.append(f"[$accent]{self.status.value}[/]")
        if timeline.peak and timeline.peak_at is not None:
            parts.append(
                f"peak [b]{timeline.peak}[/b] fires per {_label(timeline.column_span)}"
                f" at {timeline.peak_at:%H:%M}"
            )
        elif self.loaded:
            parts.append(muted("nothing fires in this window"))
        pane.border_title = " · ".join(parts)
        zoom = " ".join(f"[b]{_label(w)}[/b]" if w == self.window else _label(w) for w in WINDOWS)
        pane.border_subtitle = f"zoom {zoom}"

    @on(Timeline.Measured)
    def _measured(self) -> None:
        """The track was laid out again (a resize): its peak may have moved."""
        self._update_title(self.query_one(Timeline))

    # --- keys -----------------------------------------------------------------------------------

    def _zoom(self, step: int) -> None:
        index = WINDOWS.index(self.window) if self.window in WINDOWS else len(WINDOWS) - 1
        new = min(max(index + step, 0), len(WINDOWS) - 1)
        if new == index:
            self.notify(
                f"the {'narrowest' if step < 0 else 'widest'} window is {_label(self.window)}",
                title="Timeline",
            )
            return
        self.window = WINDOWS[new]
        if self.loaded:
            self.render_data()

    def action_zoom_in(self) -> None:
        self._zoom(-1)

    def action_zoom_out(self) -> None:
        self._zoom(+1)
