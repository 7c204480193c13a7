"""A modal list to pick one of a few values (a run status, an audit event type)."""

from __future__ import annotations

__all__ = ["ChoiceScreen"]

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option


class ChoiceScreen(ModalScreen[str | None]):
    """Dismisses with the chosen option's id (``""`` for "all"), or None when cancelled."""

    DEFAULT_CSS = """
    ChoiceScreen {
        align: center middle;
        background: $background 60%;
    }
    ChoiceScreen OptionList {
        width: 40;
        height: auto;
        max-height: 80%;
        border: thick $primary;
        border-title-color: $primary;
        background: $surface;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="choice.cancel"),
    ]

    def __init__(
        self, title: str, choices: Sequence[tuple[str, str]], *, current: str = ""
    ) -> None:
        """``choices`` are (id, label) pairs; ``current`` is highlighted first."""
        super().__init__()
        self._title = title
        self._choices = list(choices)
        self._current = current

    def compose(self) -> ComposeResult:
        options = OptionList(
            *[Option(label, id=key or "-all-") for key, label in self._choices], id="choices"
        )
        options.border_title = self._title
        yield options

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        keys = [key for key, _ in self._choices]
        if self._current in keys:
            options.highlighted = keys.index(self._current)
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        key = event.option.id or ""
        self.dismiss("" if key == "-all-" else key)

    def action_cancel(self) -> None:
        self.dismiss(None)
