"""The ``/`` filter prompt (k9s style): narrows the jobs pane as you type."""

from __future__ import annotations

__all__ = ["FilterBar"]

from textual import events
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

    def __init__(self, *, return_focus: str | None = None, **kwargs: object) -> None:
        super().__init__(placeholder="filter jobs by name or agent", **kwargs)  # type: ignore[arg-type]
        #: selector of the widget that gets the focus back on Enter
        self.return_focus = return_focus
        self._handed_back = False

    async def action_submit(self) -> None:
        """Give the focus back *before* announcing the submit, so keys typed right after Enter
        (``/daily`` Enter ``q`` in one burst) go to the table, not into the prompt."""
        if self.return_focus is not None:
            self._handed_back = True
            self.screen.set_focus(self.screen.query_one(self.return_focus))
        await super().action_submit()

    async def _on_key(self, event: events.Key) -> None:
        if self._handed_back:
            # typed after Enter but queued here before the focus moved: send it on again, to
            # be read (bindings included) by whatever has the focus now
            event.stop()
            event.prevent_default()
            self.app.post_message(events.Key(event.key, event.character))
            return
        await super()._on_key(event)

    def _on_focus(self, event: events.Focus) -> None:
        self._handed_back = False
        super()._on_focus(event)

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled())
