"""A small modal that asks for one line of text: a reason for approve/deny, a file path.

Enter submits, Escape cancels; it dismisses with the text (possibly empty) or None if cancelled.
"""

from __future__ import annotations

__all__ = ["PromptScreen"]

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label
from textual.widgets.button import ButtonVariant

from scheduler_core.textsafe import visible


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line; ``required`` refuses an empty answer (a path), else it is optional."""

    DEFAULT_CSS = """
    PromptScreen {
        align: center middle;
        background: $background 60%;
    }
    PromptScreen #prompt-dialog {
        width: 72;
        height: auto;
        padding: 1 2;
        border: thick $primary;
        border-title-color: $primary;
        background: $surface;
    }
    PromptScreen #prompt-message {
        width: 100%;
        margin-bottom: 1;
    }
    PromptScreen #prompt-input {
        width: 100%;
        margin-bottom: 1;
    }
    PromptScreen #prompt-error {
        color: $error;
        display: none;
        margin-bottom: 1;
    }
    PromptScreen #prompt-buttons {
        width: 100%;
        height: auto;
        align-horizontal: right;
    }
    PromptScreen Button {
        margin-left: 2;
    }
    """

    AUTO_FOCUS = "#prompt-input"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="prompt.cancel"),
    ]

    def __init__(
        self,
        title: str,
        message: str,
        *,
        confirm_label: str = "OK",
        placeholder: str = "",
        value: str = "",
        required: bool = False,
        variant: ButtonVariant = "primary",
    ) -> None:
        super().__init__()
        self._title = title
        self._message = visible(message)  # (a job name from anyone: never raw)
        self._confirm_label = confirm_label
        self._placeholder = placeholder
        self._value = value
        self._required = required
        self._variant = variant

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-dialog") as dialog:
            dialog.border_title = self._title
            yield Label(self._message, id="prompt-message", markup=False)
            yield Input(self._value, placeholder=self._placeholder, id="prompt-input")
            yield Label("", id="prompt-error", markup=False)
            with Horizontal(id="prompt-buttons"):
                yield Button("Cancel", id="prompt-cancel")
                yield Button(
                    self._confirm_label,
                    id="prompt-confirm",
                    variant=self._variant,
                )

    @property
    def value(self) -> str:
        return self.query_one("#prompt-input", Input).value.strip()

    @on(Input.Submitted, "#prompt-input")
    @on(Button.Pressed, "#prompt-confirm")
    def _submit(self) -> None:
        if self._required and not self.value:
            error = self.query_one("#prompt-error", Label)
            error.update("an answer is needed here")
            error.display = True
            return
        self.dismiss(self.value)

    @on(Button.Pressed, "#prompt-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
