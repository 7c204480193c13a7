"""A footer that shows, hides, dims and lights its keys in place rather than rebuild them."""

from __future__ import annotations

__all__ = ["SteadyFooter"]

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Footer

from .._textual_private import FooterKey

#: one key as the footer draws it: (key, key display, description, action, tooltip, whether it
#: is the command palette's key, docked right); whether it applies is not part of it
_Ident = tuple[str, str, str, str, str, bool]
#: at most this many keys are kept, hidden, for when they are shown again
_KEPT = 64


class _SteadyKey(FooterKey):
    """A footer key whose virtual size is set without laying the screen out again.

    The layout that shows a key sizes and places it, then hands it its virtual size, which a
    Widget sets as a reactive that asks for another layout: a second layout of the whole screen,
    a frame later, each time keys are shown (``/``, Escape). A key neither scrolls nor holds
    children: its virtual size changes nothing on screen.
    """

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        return super()._size_updated(size, virtual_size, container_size, layout=False)


class SteadyFooter(Footer):
    """Textual's footer, but a change of which keys are shown or apply does not rebuild it.

    The jobs pane dims the keys that do not apply to the job under the cursor (pause, run,
    reset: none of them on an empty page), and the filter prompt shows other keys than the table.
    The stock footer answers every such change by replacing all its key widgets, each styled
    again from scratch: tens of milliseconds on a status tab, a filter that empties or fills the
    pane, or ``/``. Here every key ever shown keeps its widget, in the stock footer's order: a
    change only hides, shows, dims or lights them. The footer is rebuilt (as the stock one, once
    however many changes come before the rebuild reads the bindings) only for a key it has never
    shown, or one that cannot keep its place among the others; the rebuild keeps the keys shown
    before, hidden. Bindings in groups (none here) leave it to the stock footer.
    """

    def __init__(self, **kwargs: object) -> None:
        # Textual's typed keyword parameters: **kwargs: object cannot be matched against them
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._built: list[_Ident] | None = None  #: the keys composed last, in order
        self._keys: dict[_Ident, FooterKey] = {}  #: their widgets
        self._rebuild_queued = False  #: a rebuild is on its way: it reads the bindings then
        self._kept: Sequence[_Ident] = ()  #: the keys of the last build, kept (hidden) in the next

    def compose(self) -> ComposeResult:
        self._rebuild_queued = False
        self._built, self._keys = None, {}
        layout = _layout(self) if self._bindings_ready else None
        if layout is None:
            yield from super().compose()
            return
        applies = dict(layout)
        order = _merge(self._kept, [ident for ident, _ in layout])
        keys: dict[_Ident, FooterKey] = {}
        for ident in order:
            key, key_display, description, action, tooltip, palette = ident
            widget = _SteadyKey(
                key,
                key_display,
                description,
                action,
                disabled=not applies.get(ident, True),
                tooltip=tooltip,
                classes="-command-palette" if palette else "",
            )
            if not palette:
                # born with the footer's compactness, which the binding then keeps: a key
                # born compact (FooterKey's default) and made wide on mount is styled twice
                widget.set_reactive(FooterKey.compact, self.compact)
                widget.set_class(self.compact, "-compact", update=False)
                widget.data_bind(compact=Footer.compact)
            if ident not in applies:
                widget.display = False
            keys[ident] = widget
            yield widget
        self._built, self._keys = order, keys

    def _keys_shown(self) -> list[str]:
        """The keys shown now (not those kept hidden), in order."""
        return [key.key for key in self.query(FooterKey) if key.display]

    def bindings_changed(self, screen: Screen[object]) -> None:
        if self._rebuild_queued:
            return
        if self._built is not None and self.is_attached and screen is self.screen:
            layout = _layout(self)
            if layout is not None and _in_order([ident for ident, _ in layout], self._built):
                applies = dict(layout)
                for ident in self._built:
                    widget = self._keys[ident]
                    shown = ident in applies
                    if widget.display != shown:
                        widget.display = shown
                    disabled = not applies.get(ident, True)
                    if widget._disabled != disabled:  # what a click on the key reads
                        widget._disabled = disabled
                        widget.set_class(disabled, "-disabled")
                return
        # (when Footer.bindings_changed queues its rebuild; without the app's focus it waits)
        queued = bool(screen.app.app_focus) and self.is_attached and screen is self.screen
        if queued and self._built is not None:
            self._kept = self._built
        super().bindings_changed(screen)
        self._rebuild_queued = queued


def _layout(footer: Footer) -> list[tuple[_Ident, bool]] | None:
    """The keys the stock footer would show now, in its order, each with whether it applies;
    None if any binding is in a group (the stock footer draws those otherwise)."""
    app = footer.app
    active = footer.screen.active_bindings
    layout: list[tuple[_Ident, bool]] = []
    actions: set[str] = set()
    for _, binding, enabled, tooltip in active.values():
        if not binding.show:
            continue
        if binding.group is not None:
            return None
        if binding.action in actions:  # the stock footer shows an action's first key only
            continue
        actions.add(binding.action)
        ident = (
            binding.key,
            app.get_key_display(binding),
            binding.description,
            binding.action,
            tooltip,
            False,
        )
        layout.append((ident, enabled))
    if footer.show_command_palette and app.ENABLE_COMMAND_PALETTE:
        shown = active.get(app.COMMAND_PALETTE_BINDING)
        if shown is not None:
            _, binding, enabled, _ = shown
            ident = (
                binding.key,
                app.get_key_display(binding),
                binding.description,
                binding.action,
                binding.tooltip or binding.description,
                True,
            )
            layout.append((ident, enabled))
    return layout


def _in_order(shown: Sequence[_Ident], built: Sequence[_Ident]) -> bool:
    """Whether every key of ``shown`` has a widget among ``built``, in the same order."""
    remaining = iter(built)
    return all(ident in remaining for ident in shown)


def _merge(kept: Sequence[_Ident], shown: Sequence[_Ident]) -> list[_Ident]:
    """``shown`` in its order, with the keys of ``kept`` not shown now each placed after the key
    it followed before (the command palette's last: it is docked right)."""
    order = list(shown)
    wanted = set(shown)
    hidden = [ident for ident in kept if ident not in wanted][: max(0, _KEPT - len(order))]
    previous: _Ident | None = None
    for ident in kept:
        if ident in wanted or ident in hidden:
            if ident not in wanted:
                at = order.index(previous) + 1 if previous is not None else 0
                order.insert(at, ident)
            previous = ident
    order.sort(key=lambda ident: ident[5])  # (stable: the palette's key last, the rest in order)
    return order
