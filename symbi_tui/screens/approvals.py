"""Runs awaiting approval: who may approve, when each expires; ``a`` approves, ``x`` denies.

Each decision asks for an optional reason (recorded with the decision and in the audit log).
"""

from __future__ import annotations

__all__ = ["ApprovalsScreen", "approval_cells"]

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from scheduler_core.clock import Clock, parse_instant
from scheduler_core.events import Event, RunChanged
from scheduler_core.model import JobRun, RunStatus

from ..backend import Backend
from ..format import Tone, countdown, fit, short_instant
from ..markup import escape
from ..palette import Palette
from ..widgets.keyed_table import Column, KeyedTable
from ..widgets.screen_header import ScreenHeader
from ..widgets.steady_footer import SteadyFooter
from . import job_actions
from ._markup import kv_block, muted
from .base import ConsoleScreen, show

#: the approvers take what the others leave; at 80 columns the trigger and the instants go
#: (the selected run's pane below shows them)
COLUMNS = (
    Column("job", "Job", 24),
    Column("trigger", "Trigger", 9, priority=3),
    Column("scheduled", "Scheduled (UTC)", 15, priority=2),
    Column("requested", "Requested (UTC)", 15, priority=1),
    Column("expires", "Expires", 12),
    Column("approvers", "Approvers", 16, flex=True),
)


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_instant(value)
    except ValueError:
        return None


def approval_of(run: JobRun) -> Mapping[str, Any]:
    approval = run.details.get("approval")
    return approval if isinstance(approval, Mapping) else {}


def approval_cells(run: JobRun, now: datetime, palette: Palette) -> list[Text]:
    """One run awaiting approval; the expiry counts down on ``now`` (the clock)."""
    approval = approval_of(run)
    expires = _instant(approval.get("expires_at"))
    left = countdown(expires, now) if expires else "never"
    soon = expires is not None and (expires - now).total_seconds() < 600
    approvers = ", ".join(map(str, approval.get("approvers") or [])) or "any operator"
    return [
        Text(fit(run.job_name or run.job_id, 24)),
        Text(run.trigger.value, style=palette[Tone.MUTED]),
        Text(short_instant(run.scheduled_for)),
        Text(short_instant(_instant(approval.get("requested_at")))),
        Text(left, style=palette[Tone.WARNING] if soon else ""),
        Text(fit(approvers, 60)),
    ]


class ApprovalsTable(KeyedTable):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(COLUMNS, **kwargs)


class ApprovalsScreen(ConsoleScreen[None]):
    """Every run awaiting approval, oldest request first."""

    DEFAULT_CSS = """
    ApprovalsScreen #approvals {
        height: 1fr;
    }
    ApprovalsScreen #approval-detail {
        height: auto;
        min-height: 5;
        border: round $border-blurred;
        border-title-color: $foreground;
        padding: 0 1;
    }
    """

    BINDINGS = [
        Binding("a", "approve", "Approve", id="approvals-approve"),
        Binding("x", "deny", "Deny", id="approvals-deny"),
        Binding("enter", "open_run", "Open run", id="approvals-open"),
    ]
    MUTATING_ACTIONS = frozenset({"approve", "deny"})

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock,
        readonly: bool = False,
        refresh_interval: float = 1.0,
    ) -> None:
        super().__init__(backend, clock=clock, readonly=readonly, refresh_interval=refresh_interval)
        self.runs: dict[str, JobRun] = {}
        self._selected_for_bindings: str | None = None

    @property
    def crumbs(self) -> Sequence[str]:
        return ("symbi", "approvals")

    def compose(self) -> ComposeResult:
        yield ScreenHeader()
        yield ApprovalsTable(id="approvals")
        yield Static(id="approval-detail")
        yield SteadyFooter(show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#approval-detail").border_title = "Selected run"
        self._update_title()
        self.query_one(ApprovalsTable).focus()

    # --- data -----------------------------------------------------------------------------------

    @property
    def selected_run(self) -> JobRun | None:
        return self.runs.get(self.query_one(ApprovalsTable).selected_key or "")

    def wants(self, event: Event) -> bool:
        if isinstance(event, RunChanged):
            run = event.run
            return run.status is RunStatus.AWAITING_APPROVAL or run.id in self.runs
        return False

    async def fetch(self) -> None:
        runs = await self.backend.pending_approvals()
        # oldest request first: the one closest to expiring is on top
        runs.sort(key=lambda run: (str(approval_of(run).get("requested_at") or ""), run.id))
        self.runs = {run.id: run for run in runs}

    def render_data(self) -> None:
        now = self.clock.now()
        table = self.query_one(ApprovalsTable)
        table.sync([(run.id, approval_cells(run, now, self.palette)) for run in self.runs.values()])
        self._update_title()
        self._render_detail()
        if table.selected_key != self._selected_for_bindings:
            self._selected_for_bindings = table.selected_key
            self.refresh_bindings()

    def _update_title(self) -> None:
        table = self.query_one(ApprovalsTable)
        title = f"[$warning]?[/] Awaiting approval [b]{len(self.runs)}[/b]"
        if self.loaded and not self.runs:
            title += " · " + muted("nothing is waiting")
        table.border_title = title
        table.border_subtitle = "a approve · x deny" if self.runs and not self.readonly else ""

    @on(DataTable.RowHighlighted, "#approvals")
    def _render_detail(self) -> None:
        pane = self.query_one("#approval-detail", Static)
        run = self.selected_run
        if run is None:
            show(pane, muted("no run selected"))
            return
        approval = approval_of(run)
        expires = _instant(approval.get("expires_at"))
        rows = [
            ("Job", f"[b]{escape(run.job_name or run.job_id)}[/b] · agent {escape(run.agent_id)}"),
            ("Run", escape(f"{run.id} · {run.trigger.value} · attempt {run.attempt}")),
            (
                "Expires",
                escape(f"{short_instant(expires)} UTC ({countdown(expires, self.clock.now())})")
                if expires
                else muted("never"),
            ),
            ("Input", escape(run.input) if run.input else muted("—")),
        ]
        show(pane, kv_block(rows, width=8))

    # --- actions ----------------------------------------------------------------------------------

    def can(self, action: str) -> bool | None:
        return True if self.selected_run is not None else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_run":
            return True if self.runs else None
        return super().check_action(action, parameters)

    @work(group="actions", exit_on_error=False)
    async def action_approve(self) -> None:
        await self._decide("approve")

    @work(group="actions", exit_on_error=False)
    async def action_deny(self) -> None:
        await self._decide("deny")

    async def _decide(self, verb: str) -> None:
        run = self.selected_run
        if run is not None:
            await job_actions.decide(self, run, verb)

    @on(DataTable.RowSelected, "#approvals")
    def action_open_run(self) -> None:
        run = self.selected_run
        if run is None:
            return
        self.open_view("run", run.id)
