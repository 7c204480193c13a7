"""``:`` command mode (k9s style): a one-line prompt with completion that switches screens."""

from __future__ import annotations

__all__ = ["COMMANDS", "CommandScreen", "parse_command"]

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label

#: command -> (argument, what it shows); the first word may be abbreviated to a unique prefix
COMMANDS: dict[str, tuple[str, str]] = {
    "jobs": ("", "the jobs pane (the main screen)"),
    "watch": ("NAME", "one job, live"),
    "runs": ("NAME", "a job's run history"),
    "dlq": ("", "the dead-letter queue"),
    "hb": ("[NAME]", "heartbeat iterations"),
    "approvals": ("", "runs awaiting approval"),
    "audit": ("[NAME]", "the audit log"),
    "timeline": ("", "the next 24 hours of fires"),
    "add": ("", "a new job"),
    "edit": ("NAME", "edit a job"),
    "help": ("", "the keys of this screen"),
    "q": ("", "quit"),
}
_ALIASES = {"quit": "q", "deadletter": "dlq", "heartbeat": "hb", "history": "runs"}


def parse_command(text: str) -> tuple[str, str]:
    """``(command, argument)`` from what was typed; ValueError names an unknown command."""
    word, _, rest = text.strip().lstrip(":").partition(" ")
    word = word.lower()
    word = _ALIASES.get(word, word)
    if word not in COMMANDS:
        matches = [c for c in COMMANDS if c.startswith(word)] if word else []
        if len(matches) != 1:
            known = ", ".join(f":{c}" for c in COMMANDS)
            raise ValueError(f"unknown command {text.strip()!r}; try one of {known}")
        word = matches[0]
    return word, rest.strip()


class CommandScreen(ModalScreen[str | None]):
    """The ``:`` prompt; dismisses with the typed command, or None on Escape."""

    AUTO_FOCUS = "#command-input"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="command.cancel")]
    DEFAULT_CSS = """
    CommandScreen {
        align: center top;
        background: $background 40%;
    }
    CommandScreen #command-box {
        width: 80%;
        height: auto;
        margin-top: 1;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    CommandScreen #command-input {
        border: none;
        height: 1;
        padding: 0;
    }
    CommandScreen #command-hint {
        color: $foreground-muted;
        height: auto;
    }
    """

    def __init__(self, names: Sequence[str] = ()) -> None:
        super().__init__()
        words = [
            f"{c} " if arg and not arg.startswith("[") else c for c, (arg, _) in COMMANDS.items()
        ]
        with_names = [f"{c} {n}" for c in ("watch", "runs", "hb", "audit", "edit") for n in names]
        self._suggestions = [*words, *with_names]

    def compose(self) -> ComposeResult:
        from textual.containers import Vertical

        with Vertical(id="command-box") as box:
            box.border_title = "command"
            yield Input(
                placeholder="jobs, watch NAME, runs NAME, dlq, hb, approvals, audit, timeline, q",
                suggester=SuggestFromList(self._suggestions, case_sensitive=False),
                id="command-input",
            )
            hint = "  ".join(
                f":{c}" + (f" {arg}" if arg else "") for c, (arg, _) in COMMANDS.items()
            )
            yield Label(hint, id="command-hint", markup=False)

    @on(Input.Submitted, "#command-input")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
