"""The ``/`` filter prompt (k9s style): narrows the jobs pane as you type."""

from __future__ import annotations

__all__ = ["FilterBar"]

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class FilterBar(Input):
    """A one-line input, hidden until ``/``; Enter keeps the filter, Escape drops it."""

    BINDINGS = [
        Binding("escape", "cancel", "Clear filter", id="filter.cancel"),
    ]

    class Cancelled(Message):
        """The operator dropped the filter."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(placeholder="filter jobs by name or agent", **kwargs)  # type: ignore[arg-type]

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled())
