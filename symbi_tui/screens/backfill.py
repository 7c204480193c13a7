"""The backfill form (``B`` on the jobs pane and the watch screen): a range, its preview, confirm.

The operator types ``from`` and ``to`` (ISO 8601; without an offset, wall time in the job's zone;
``to`` empty: now). Enter (or Preview) asks the scheduler for a dry run, and the preview lists
each instant of the range: to create, or skipped and why. Backfill is enabled only for the range
just previewed, and queues the runs; the form dismisses with what was created, or None.
"""

from __future__ import annotations

__all__ = ["BackfillScreen"]

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from scheduler_core.backfill import Backfill
from scheduler_core.cron.zones import load_zone
from scheduler_core.errors import SchedulerError
from scheduler_core.model import JobDefinition
from scheduler_core.textsafe import visible

from ..backend import Backend
from ..format import short_ids
from ..markup import escape

#: the longest reason a preview line shows (a narrow terminal keeps one line per instant)
_REASON_WIDTH = 42


class BackfillScreen(ModalScreen[Backfill | None]):
    """Backfill ``job`` through ``backend``: preview (a dry run) first, then confirm."""

    DEFAULT_CSS = """
    BackfillScreen {
        align: center middle;
        background: $background 60%;
    }
    BackfillScreen #backfill-dialog {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        padding: 0 1;
        border: thick $primary;
        border-title-color: $primary;
        background: $surface;
    }
    BackfillScreen #backfill-message {
        width: 100%;
        margin-bottom: 1;
    }
    BackfillScreen #backfill-range {
        height: auto;
    }
    BackfillScreen .backfill-field {
        width: 1fr;
        height: auto;
    }
    BackfillScreen Input {
        width: 100%;
    }
    BackfillScreen #backfill-preview {
        height: auto;
        max-height: 8;
        margin-top: 1;
        border: round $foreground 30%;
        border-title-color: $foreground-muted;
    }
    BackfillScreen #backfill-error {
        color: $error;
        display: none;
    }
    BackfillScreen #backfill-buttons {
        width: 100%;
        height: auto;
        align-horizontal: right;
    }
    BackfillScreen Button {
        margin-left: 1;
    }
    App.-no-color BackfillScreen #backfill-error {
        color: $foreground;
        text-style: bold reverse;
    }
    """

    AUTO_FOCUS = "#backfill-from"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="backfill.cancel"),
        # Tab and shift+Tab move between the fields as they arrive (as in the job form): left to
        # the app's own bindings, the keys typed after them in one burst (``from`` Tab ``to``,
        # a paste, a fast typist over SSH) went on into the field they left
        Binding(
            "tab", "app.focus_next", "Next field", id="backfill.next", show=False, priority=True
        ),
        Binding(
            "shift+tab",
            "app.focus_previous",
            "Previous field",
            id="backfill.previous",
            show=False,
            priority=True,
        ),
    ]

    def __init__(self, backend: Backend, job: JobDefinition) -> None:
        super().__init__()
        self.backend = backend
        self.job = job
        #: the range last previewed, and its answer (Backfill acts on that range only)
        self.previewed: tuple[str, str] | None = None
        self.preview: Backfill | None = None

    def compose(self) -> ComposeResult:
        job = self.job
        with Vertical(id="backfill-dialog") as dialog:
            dialog.border_title = visible(f"Backfill {job.name}")
            yield Label(
                visible(
                    f"A queued run for each past instant of {job.cron} in [from, to]. Times "
                    f"without an offset are in {job.timezone}; an empty 'to' is now."
                ),
                id="backfill-message",
                markup=False,
            )
            with Horizontal(id="backfill-range"):
                with Vertical(classes="backfill-field"):
                    yield Label("From")
                    yield Input(placeholder="2026-03-01T00:00", id="backfill-from")
                with Vertical(classes="backfill-field"):
                    yield Label("To")
                    yield Input(placeholder="now", id="backfill-to")
            with VerticalScroll(id="backfill-preview") as preview:
                preview.border_title = "Preview"
                yield Static(
                    "Enter previews the instants; nothing is created yet.", id="backfill-list"
                )
            yield Label("", id="backfill-error", markup=False)
            with Horizontal(id="backfill-buttons"):
                yield Button("Cancel", id="backfill-cancel")
                yield Button("Preview", id="backfill-preview-button")
                yield Button("Backfill", id="backfill-confirm", variant="primary", disabled=True)

    # --- what was typed ---------------------------------------------------------------------------

    @property
    def span(self) -> tuple[str, str]:
        start = self.query_one("#backfill-from", Input).value.strip()
        end = self.query_one("#backfill-to", Input).value.strip()
        return start, end

    @on(Input.Changed)
    def _changed(self) -> None:
        if self.previewed is not None and self.previewed != self.span:
            self.previewed = None
            self.query_one("#backfill-confirm", Button).disabled = True

    # --- preview and confirm ----------------------------------------------------------------------

    @on(Input.Submitted)
    @on(Button.Pressed, "#backfill-preview-button")
    def action_preview(self) -> None:
        start, end = self.span
        if not start:
            self._error("from: give the first instant, e.g. 2026-03-01T00:00")
            self.query_one("#backfill-from", Input).focus()
            return
        self.run_worker(self._preview(start, end), group="backfill", exclusive=True)

    async def _preview(self, start: str, end: str) -> None:
        try:
            answer = await self.backend.backfill(
                self.job.id, start=start, end=end or None, dry_run=True
            )
        except SchedulerError as exc:
            self._error(exc.message)
            return
        self._error("")
        self.previewed, self.preview = (start, end), answer
        self.query_one("#backfill-list", Static).update(_preview_text(answer))
        confirm = self.query_one("#backfill-confirm", Button)
        confirm.disabled = not answer.created
        if answer.created:
            confirm.focus()

    @on(Button.Pressed, "#backfill-confirm")
    def action_confirm(self) -> None:
        if self.previewed is None or self.previewed != self.span:
            self._error("preview this range first (Enter)")
            return
        start, end = self.previewed
        self.run_worker(self._create(start, end), group="backfill", exclusive=True)

    async def _create(self, start: str, end: str) -> None:
        try:
            answer = await self.backend.backfill(self.job.id, start=start, end=end or None)
        except SchedulerError as exc:
            self._error(exc.message)
            return
        self.dismiss(answer)

    @on(Button.Pressed, "#backfill-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def _error(self, message: str) -> None:
        error = self.query_one("#backfill-error", Label)
        error.update(visible(message))
        error.display = bool(message)


def _preview_text(answer: Backfill) -> str:
    """The count, then each instant of the range (job's zone) and what happens to it."""
    zone = load_zone(answer.timezone)
    lines = [
        f"[b]{answer.instants} instant(s)[/b]: {len(answer.created)} to create, "
        f"{len(answer.skipped)} skipped"
    ]
    # (runs made together share their first 12 characters: as many more as tells them apart)
    short = short_ids(s.run_id for s in answer.skipped if s.run_id)
    rows = [(run.scheduled_for, "create", "") for run in answer.created]
    rows += [
        (
            skip.instant,
            "skip",
            skip.reason.replace(f"has run {skip.run_id}", f"run {short[skip.run_id]}"),
        )
        if skip.run_id
        else (skip.instant, "skip", skip.reason)
        for skip in answer.skipped
    ]
    for instant, action, reason in sorted(rows, key=lambda row: row[0]):
        when = f"{instant.astimezone(zone):%Y-%m-%d %H:%M %Z}"
        why = visible(reason)
        if len(why) > _REASON_WIDTH:
            why = why[: _REASON_WIDTH - 1] + "…"
        lines.append(escape(f"{when}  {action}" + (f": {why}" if why else "")))
    return "\n".join(lines)
