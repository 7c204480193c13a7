"""The ``/`` filter prompt (k9s style): narrows the jobs pane as you type."""

from __future__ import annotations

__all__ = ["FilterBar"]

from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input


class FilterBar(Input):
    """A one-line input, hidden until ``/``; Enter keeps the filter, Escape drops it."""

    BINDINGS = [
        Binding("escape", "cancel", "Clear filter", id="filter.cancel"),
    ]

    class Cancelled(Message):
        """The operator dropped the filter."""

    def __init__(self, *, return_focus: str | None = None, **kwargs: object) -> None:
        # Textual's typed keyword parameters: **kwargs: object cannot be matched against them
        super().__init__(placeholder="filter jobs by name or agent", **kwargs)  # type: ignore[arg-type]
        #: selector of the widget that gets the focus back on Enter
        self.return_focus = return_focus
        self._handed_back = False

    async def action_submit(self) -> None:
        """Give the focus back *before* announcing the submit, so keys typed right after Enter
        (``/daily`` Enter ``q`` in one burst) go to the table, not into the prompt."""
        self._hand_back()
        await super().action_submit()

    def _hand_back(self) -> None:
        if self.return_focus is not None:
            self._handed_back = True
            self.screen.set_focus(self.screen.query_one(self.return_focus))

    async def _on_key(self, event: events.Key) -> None:
        if self._handed_back:
            # typed after Enter but queued here before the focus moved: send it on again, to
            # be read (bindings included) by whatever has the focus now
            event.stop()
            event.prevent_default()
            self.app.post_message(events.Key(event.key, event.character))
            return
        if event.key in ("enter", "escape"):
            # Enter and Escape act here, as the prompt reads them, not through their bindings,
            # which the app runs once the key has bubbled up to it: by then a key typed right
            # behind (``/daily`` Enter ``p`` in one burst) was queued here too, and was typed
            # into the prompt instead of going to the table
            event.stop()
            event.prevent_default()
            if event.key == "enter":
                await self.action_submit()
            else:
                self.action_cancel()
            return
        await super()._on_key(event)

    def _on_focus(self, event: events.Focus) -> None:
        self._handed_back = False
        super()._on_focus(event)

    def _watch_value(self, value: str) -> None:
        """The Input's, without laying the whole screen out again on each key typed.

        The Input sets its virtual size to its text's width, which lays the screen out anew.
        The prompt's size is the stylesheet's (one line, the screen's width): the text's width
        only bounds how far the prompt scrolls, which the Input reads from its virtual size,
        set here quietly first.
        """
        if not self.styles.auto_dimensions:
            self.set_reactive(Widget.virtual_size, Size(self.content_width, 1))
        super()._watch_value(value)

    def action_cancel(self) -> None:
        self._hand_back()
        self.post_message(self.Cancelled())
