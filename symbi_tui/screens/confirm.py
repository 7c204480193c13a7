"""Confirmation for destructive actions, with Cancel focused so a stray Enter does nothing;
``y`` confirms and ``n`` (or Escape) cancels, and the buttons say so."""

from __future__ import annotations

__all__ = ["ConfirmScreen", "QuitScreen"]

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from scheduler_core.textsafe import visible

from ..markup import escape


class ConfirmScreen(ModalScreen[bool]):
    """Ask before doing ``action``; dismisses with True only for the confirm button."""

    AUTO_FOCUS = "#cancel"
    BINDINGS = [
        Binding("escape,n", "cancel", "Cancel", id="confirm.cancel"),
        Binding("y", "confirm", "Confirm", id="confirm.confirm"),
        Binding("left", "app.focus_previous", "Previous button", id="confirm.previous", show=False),
        Binding("right", "app.focus_next", "Next button", id="confirm.next", show=False),
    ]

    def __init__(self, title: str, message: str, *, confirm_label: str) -> None:
        super().__init__()
        self._title = title
        self._message = visible(message)  # (a job name from anyone: never raw)
        self._confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = self._title
            yield Label(self._message, id="message", markup=False)
            with Horizontal(id="buttons"):
                yield Button(escape("Cancel [n]"), id="cancel")
                yield Button(escape(f"{self._confirm_label} [y]"), id="confirm", variant="error")

    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


class QuitScreen(ConfirmScreen):
    """Quit, though something would be lost? The quit keys pressed again say yes."""

    BINDINGS = [Binding("q,ctrl+c", "confirm", "Quit", id="quit.again", show=False)]
