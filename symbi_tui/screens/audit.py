"""Recent audit events (the guide's ``symbi audit query``), newest first, filterable.

``t`` narrows to one event type (asked of the backend); ``/`` narrows the loaded events by text
(job, actor, details). New events arrive live.
"""

from __future__ import annotations

__all__ = ["AuditScreen", "audit_cells"]

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Input

from scheduler_core.clock import Clock
from scheduler_core.events import AuditRecorded, Event
from scheduler_core.model import AuditEvent, AuditEventType

from ..backend import Backend
from ..format import Tone, fit, short_instant
from ..markup import escape
from ..palette import Palette
from ..widgets.filter_bar import FilterBar
from ..widgets.keyed_table import Column, KeyedTable
from ..widgets.screen_header import ScreenHeader
from ..widgets.steady_footer import SteadyFooter
from .base import ConsoleScreen
from .choice import ChoiceScreen

#: the details take what the others leave; at 80 columns the actor goes first
COLUMNS = (
    Column("time", "Time (UTC)", 14),
    Column("type", "Type", 23),
    Column("actor", "Actor", 10, priority=1),
    Column("job", "Job", 16),
    Column("details", "Details", 14, flex=True),
)

_ERROR_TYPES = frozenset(
    {
        AuditEventType.CRON_JOB_FAILED,
        AuditEventType.CRON_JOB_DEAD_LETTERED,
        AuditEventType.AGENT_PIN_VERIFICATION_FAILED,
        AuditEventType.POLICY_DENIED,
        AuditEventType.CRON_RUN_DENIED,
        AuditEventType.CRON_RUN_INTERRUPTED,
    }
)
_WARNING_TYPES = frozenset(
    {
        AuditEventType.CRON_JOB_PAUSED,
        AuditEventType.CRON_JOB_SKIPPED,
        AuditEventType.CRON_RUN_AWAITING_APPROVAL,
        AuditEventType.CRON_JOB_DELETED,
        AuditEventType.CRON_RUN_CANCELLED,
    }
)


def event_tone(kind: AuditEventType) -> Tone | None:
    if kind in _ERROR_TYPES:
        return Tone.ERROR
    if kind in _WARNING_TYPES:
        return Tone.WARNING
    return None


def _details_text(details: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={_value(v)}" for k, v in details.items() if k != "job_name")


def _value(value: object) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return " ".join(str(value).split())


def event_job(event: AuditEvent) -> str:
    name = event.details.get("job_name")
    if isinstance(name, str) and name:
        return name
    return event.job_id[:12] if event.job_id else ""


def audit_cells(event: AuditEvent, palette: Palette, *, details_width: int = 200) -> list[Text]:
    tone = event_tone(event.type)
    return [
        Text(short_instant(event.at)),
        Text(fit(event.type.value, 23), style=palette[tone] if tone else ""),
        Text(fit(event.actor, 10), style=palette[Tone.MUTED]),
        Text(fit(event_job(event), 16)),
        Text(fit(_details_text(event.details), details_width)),
    ]


def _haystack(event: AuditEvent) -> str:
    return " ".join(
        (
            event.type.value,
            event.actor,
            event_job(event),
            event.job_id or "",
            event.run_id or "",
            _details_text(event.details),
        )
    ).lower()


class AuditTable(KeyedTable):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(COLUMNS, **kwargs)


class AuditScreen(ConsoleScreen[None]):
    """The newest ``limit`` audit events (of one job, with ``job``), filtered by type and text."""

    DEFAULT_CSS = """
    AuditScreen #audit-events {
        height: 1fr;
    }
    """

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="audit-filter", key_display="/"),
        Binding("t", "filter_type", "Event type", id="audit-type"),
        Binding("enter", "open_run", "Open run", id="audit-open"),
    ]
    CLOCK_DRIVEN = False  #: nothing here counts down

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock,
        readonly: bool = False,
        job: str | None = None,
        type: AuditEventType | None = None,
        limit: int = 500,
        refresh_interval: float = 1.0,
    ) -> None:
        super().__init__(backend, clock=clock, readonly=readonly, refresh_interval=refresh_interval)
        self.job_ref = job
        self.event_type = type
        self.limit = limit
        self.text = ""
        self.events: list[AuditEvent] = []

    @property
    def crumbs(self) -> Sequence[str]:
        return ("symbi", self.job_ref, "audit") if self.job_ref else ("symbi", "audit")

    def compose(self) -> ComposeResult:
        yield ScreenHeader()
        bar = FilterBar(id="audit-filter")
        bar.placeholder = "filter events by job, actor or details"
        yield bar
        yield AuditTable(id="audit-events")
        yield SteadyFooter(show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self._update_title()
        self.query_one(AuditTable).focus()

    # --- data -----------------------------------------------------------------------------------

    def wants(self, event: Event) -> bool:
        if not isinstance(event, AuditRecorded):
            return False
        return self.event_type is None or event.event.type is self.event_type

    async def fetch(self) -> None:
        self.events = await self.backend.audit(
            type=self.event_type, job=self.job_ref, limit=self.limit
        )

    @property
    def shown(self) -> list[AuditEvent]:
        if not self.text:
            return self.events
        needle = self.text.lower()
        return [event for event in self.events if needle in _haystack(event)]

    def render_data(self) -> None:
        table = self.query_one(AuditTable)
        table.sync([(_key(event), audit_cells(event, self.palette)) for event in self.shown])
        self._update_title()

    def _update_title(self) -> None:
        table = self.query_one(AuditTable)
        shown = len(self.shown)
        size = f"{shown} of {len(self.events)}" if self.text else str(len(self.events))
        parts = [f"Audit [b]{size}[/b]"]
        if self.event_type is not None:
            parts.append(f"[$accent]type {self.event_type.value}[/]")
        if self.text:
            parts.append(f'[$accent]/ "{escape(self.text)}"[/]')
        table.border_title = "  ".join(parts)
        table.border_subtitle = f"newest {self.limit}" if len(self.events) >= self.limit else ""

    @property
    def selected_event(self) -> AuditEvent | None:
        key = self.query_one(AuditTable).selected_key
        return next((event for event in self.events if _key(event) == key), None)

    # --- filters --------------------------------------------------------------------------------

    def action_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.display = True
        self.set_focus(bar)

    def on_key(self, event: events.Key) -> None:
        self.take_burst_key(event, self.query_one(FilterBar))

    @on(Input.Changed, "#audit-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.text = event.value.strip()
        if self.loaded:
            self.render_data()

    @on(Input.Submitted, "#audit-filter")
    def _filter_submitted(self) -> None:
        bar = self.query_one(FilterBar)
        if not bar.value.strip():
            bar.display = False
        self.query_one(AuditTable).focus()

    @on(FilterBar.Cancelled)
    def _filter_cancelled(self) -> None:
        bar = self.query_one(FilterBar)
        bar.value = ""
        bar.display = False
        self.text = ""
        self.query_one(AuditTable).focus()
        if self.loaded:
            self.render_data()

    def action_back(self) -> None:
        """Esc drops the text filter first (k9s), then goes back."""
        if self.text:
            self._filter_cancelled()
            return
        super().action_back()

    def action_filter_type(self) -> None:
        choices = [("", "all event types")] + [(kind.value, kind.value) for kind in AuditEventType]
        current = self.event_type.value if self.event_type else ""
        self.app.push_screen(
            ChoiceScreen("Show events of type…", choices, current=current), self._type_chosen
        )

    def _type_chosen(self, choice: str | None) -> None:
        if choice is None:
            return
        self.event_type = AuditEventType(choice) if choice else None
        self._update_title()
        self.kick()

    # --- drill down -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_run":
            event = self.selected_event
            return True if event is not None and event.run_id else None
        return super().check_action(action, parameters)

    @on(DataTable.RowHighlighted, "#audit-events")
    def _highlighted(self) -> None:
        self.refresh_bindings()

    def why_not(self, action: str) -> str:
        if action == "open_run":
            event = self.selected_event
            if event is None:
                return "no event is selected"
            return f"this {event.type.value} event is not about a run"
        return super().why_not(action)

    @on(DataTable.RowSelected, "#audit-events")
    def action_open_run(self) -> None:
        event = self.selected_event
        if event is None or not event.run_id:
            self.notify(self.why_not("open_run"), title="Open run: not now", markup=False)
            return
        self.open_view("run", event.run_id)


def _key(event: AuditEvent) -> str:
    return str(event.id) if event.id is not None else f"{event.at.isoformat()}-{event.type.value}"
