"""Export: the tagged jobs (or the selected one) as DSL text, with a save-to-file action.

What ``symbi cron export NAME...`` prints: the agent blocks and named policies the jobs name and
their schedule blocks, which ``symbi cron add --file`` reads back. ``ctrl+s`` (or ``w``) asks for
a path and writes the text there (a new file is private: mode 0600, as it may hold what the
operator wrote literally in a header). Over a daemon, a job holding a secret written literally
exports only with an admin key: the refusal is shown in place of the text.
"""

from __future__ import annotations

__all__ = ["ExportScreen", "write_export"]

import os
from collections.abc import Sequence
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from scheduler_core.clock import Clock
from scheduler_core.errors import SchedulerError

from ..backend import Backend
from ..widgets.screen_header import ScreenHeader
from ..widgets.steady_footer import SteadyFooter
from .base import ConsoleScreen
from .prompt import PromptScreen


def write_export(path: str, text: str) -> Path:
    """Write ``text`` to ``path`` (``~`` expanded); a new file is created 0600. OSError as is."""
    target = Path(path).expanduser()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    return target


class ExportScreen(ConsoleScreen[None]):
    """``names``: the jobs to export (by name); the text is read once, when the screen opens."""

    DEFAULT_CSS = """
    ExportScreen #export-body {
        height: 1fr;
        border: round $border-blurred;
        border-title-color: $foreground;
        border-subtitle-color: $foreground-muted;
        padding: 0 1;
    }
    ExportScreen #export-body:focus {
        border: round $border;
    }
    ExportScreen #export-text.-error {
        color: $error;
    }
    """

    BINDINGS = [
        Binding("ctrl+s", "save", "Save to file", id="export-save"),
        Binding("w", "save", "Save to file", id="export-write", show=False),
    ]
    CLOCK_DRIVEN = False

    def __init__(
        self,
        backend: Backend,
        *,
        names: Sequence[str],
        clock: Clock,
        readonly: bool = False,
        refresh_interval: float = 1.0,
    ) -> None:
        super().__init__(backend, clock=clock, readonly=readonly, refresh_interval=refresh_interval)
        self.names = list(names)
        self.text: str | None = None
        self.error: str | None = None
        self.saved_to: Path | None = None

    @property
    def crumbs(self) -> Sequence[str]:
        what = self.names[0] if len(self.names) == 1 else f"{len(self.names)} jobs"
        return ("symbi", what, "export")

    def compose(self) -> ComposeResult:
        yield ScreenHeader()
        with VerticalScroll(id="export-body") as body:
            body.border_title = "Export (DSL)"
            body.border_subtitle = "ctrl+s save to a file · symbi cron add --file reads it"
            yield Static("reading…", id="export-text", markup=False)
        yield SteadyFooter(show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#export-body").focus()

    async def fetch(self) -> None:
        if self.text is not None or self.error is not None:
            return  # an export is a snapshot: read once
        try:
            self.text = await self.backend.export_jobs(self.names)
        except SchedulerError as exc:
            self.error = exc.message

    def render_data(self) -> None:
        widget = self.query_one("#export-text", Static)
        if self.error is not None:
            widget.update(f"Could not export: {self.error}")
            widget.add_class("-error")
        elif self.text is not None:
            widget.update(self.text)
        self.refresh_bindings()

    def why_not(self, action: str) -> str:
        if action == "save":
            return self.error or "the export is still being read"
        return super().why_not(action)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "save" and self.text is None:
            return None
        return super().check_action(action, parameters)

    def action_save(self) -> None:
        if self.text is not None:
            self._save(self.text)

    @work(group="actions", exit_on_error=False)
    async def _save(self, text: str) -> None:
        default = f"{self.names[0]}.symbi" if len(self.names) == 1 else "export.symbi"
        path = await self.app.push_screen_wait(
            PromptScreen(
                "Save export",
                "Write the exported DSL to this file (replaced if it exists):",
                confirm_label="Save",
                value=default,
                placeholder="path of a .symbi file",
                required=True,
            )
        )
        if not path:
            return
        try:
            self.saved_to = write_export(path, text)
        except OSError as exc:
            self.notify(
                f"{path}: {exc.strerror or exc}",
                title="Could not save",
                severity="error",
                markup=False,
            )
            return
        self.notify(f"wrote {self.saved_to}", title="Saved", markup=False)
