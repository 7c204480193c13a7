"""The symbi operations console: a Textual app over a :class:`~symbi_tui.backend.Backend`.

The app never builds a scheduler itself: whoever starts it (the ``symbi-tui`` entry point, a test,
the screenshot script) hands it a backend and the clock that backend runs on, so tests and
snapshots run the real screens on a fake clock and a real SQLite file.
"""

from __future__ import annotations

from . import _console_env  # noqa: F401  (before Textual is imported)

__all__ = ["SymbiApp"]

from collections.abc import Mapping
from typing import Any

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from scheduler_core.clock import Clock

from .backend import Backend
from .idle_gc import IdleCollector
from .screens.base import OpenView
from .screens.help import HelpScreen, help_rows
from .screens.main import MainScreen
from .screens.views import make_view


class SymbiApp(App[None]):
    """Jobs, runs and scheduler health, live, for operators at a terminal."""

    CSS_PATH = "app.tcss"
    TITLE = "symbi"
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="help", key_display="?"),
        Binding("colon", "command", "Command", id="command", key_display=":", show=False),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock,
        readonly: bool = False,
        refresh_interval: float = 1.0,
        keymap: Mapping[str, str] | None = None,
        theme: str | None = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.clock = clock
        self.readonly = readonly
        self.refresh_interval = refresh_interval
        self._theme_name = theme
        self.idle_gc = IdleCollector()
        if keymap:
            self.set_keymap(dict(keymap))

    def on_mount(self) -> None:
        self.sub_title = self.backend.mode_label
        self.idle_gc.install()
        self.set_interval(0.2, self.idle_gc.tick, name="idle-gc")
        if self._theme_name:
            if self._theme_name in self.available_themes:
                self.theme = self._theme_name
            else:  # a typo in the config should not keep an operator out of the console
                choices = ", ".join(sorted(self.available_themes))
                self.notify(
                    f"unknown theme {self._theme_name!r}; choose one of: {choices}",
                    title="[tui] theme",
                    severity="warning",
                )
        self.push_screen(
            MainScreen(
                self.backend,
                clock=self.clock,
                readonly=self.readonly,
                refresh_interval=self.refresh_interval,
            )
        )

    def on_unmount(self) -> None:
        self.idle_gc.uninstall()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            self.idle_gc.note_input()
        await super().on_event(event)

    # --- navigation ----------------------------------------------------------------------------

    @property
    def main_screen(self) -> MainScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)

    def selected_job_name(self) -> str | None:
        main = self.main_screen
        job = main.selected_job if main is not None else None
        return job.name if job is not None else None

    @work(group="command", exclusive=True)
    async def action_command(self) -> None:
        from .screens.command import CommandScreen

        main = self.main_screen
        names = [job.name for job in main.jobs.values()] if main is not None else []
        text = await self.push_screen_wait(CommandScreen(names))
        if text:
            self.run_console_command(text)

    def run_console_command(self, text: str) -> None:
        """Carry out a ``:`` command: switch to its screen (on top of the jobs pane)."""
        from .screens.command import parse_command

        try:
            command, argument = parse_command(text)
        except ValueError as exc:
            self.notify(str(exc), title="Command", severity="error")
            return
        if command == "q":
            self.exit()
            return
        if command == "help":
            self.action_help()
            return
        target = argument or self.selected_job_name()
        if command in ("watch", "runs", "edit") and not target:
            self.notify(f":{command} needs a job name", title="Command", severity="warning")
            return
        self.open_view(command, target)

    def open_view(self, view: str, job: str | None = None) -> None:
        """Show ``view`` (jobs, watch, runs, dlq, hb, approvals, audit, timeline, add, edit)
        over the jobs pane; ``jobs`` goes back to it."""
        while len(self.screen_stack) > 1 and not isinstance(self.screen, MainScreen):
            self.pop_screen()
        if view == "jobs":
            return
        self.push_screen(self.make_view(view, job))

    def on_open_view(self, message: OpenView) -> None:
        """A screen asked to show another over it (a drill-down: Enter on a job, a run...)."""
        self.push_screen(self.make_view(message.view, message.target), message.on_result)

    def make_view(self, view: str, job: str | None = None) -> Screen[Any]:
        """The screen for ``view``; ``job`` is the job it is about (a run id for ``run``)."""
        main = self.main_screen
        return make_view(
            view,
            job,
            backend=self.backend,
            clock=self.clock,
            readonly=self.readonly,
            refresh_interval=self.refresh_interval,
            text=(main.filter_text or None) if main is not None else None,
            status=main.status_filter if main is not None else None,
        )

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        rows = help_rows(self, self.screen.active_bindings.values())
        self.push_screen(HelpScreen(rows, readonly=self.readonly))
