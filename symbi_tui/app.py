"""The symbi operations console: a Textual app over a :class:`~symbi_tui.backend.Backend`.

The app never builds a scheduler itself: whoever starts it (the ``symbi-tui`` entry point, a test,
the screenshot script) hands it a backend and the clock that backend runs on, so tests and
snapshots run the real screens on a fake clock and a real SQLite file.
"""

from __future__ import annotations

__all__ = ["SymbiApp"]

from collections.abc import Mapping

from textual.app import App
from textual.binding import Binding

from scheduler_core.clock import Clock

from .backend import Backend
from .screens.help import HelpScreen, help_rows
from .screens.main import MainScreen


class SymbiApp(App[None]):
    """Jobs, runs and scheduler health, live, for operators at a terminal."""

    CSS_PATH = "app.tcss"
    TITLE = "symbi"
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="help", key_display="?"),
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
        if keymap:
            self.set_keymap(dict(keymap))

    def on_mount(self) -> None:
        self.sub_title = self.backend.mode_label
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

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        rows = help_rows(self, self.screen.active_bindings.values())
        self.push_screen(HelpScreen(rows, readonly=self.readonly))
