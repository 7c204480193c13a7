"""A footer that dims and lights its keys in place when only that changed."""

from __future__ import annotations

__all__ = ["SteadyFooter"]

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: what the footer's keys are drawn from, apart from whether each applies
_Signature = tuple[tuple[object, ...], ...]


class SteadyFooter(Footer):
    """Textual's footer, but a change of which keys apply does not rebuild it.

    The jobs pane dims the keys that do not apply to the job under the cursor (pause, run,
    reset: none of them on an empty page). The stock footer answers every such change by
    replacing all its key widgets, each styled again from scratch: tens of milliseconds on a
    status tab or a filter that empties or fills the pane. When the same keys are shown, only
    their ``-disabled`` class is switched here; anything else rebuilds the footer as before, once
    however many changes come before the rebuild reads the bindings (moving the focus to the
    filter prompt announces two).
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._signature: _Signature | None = None  #: of the keys composed last
        self._rebuild_queued = False  #: a rebuild is on its way: it reads the bindings then

    def compose(self) -> ComposeResult:
        self._rebuild_queued = False
        self._signature = _signature(self.screen) if self._bindings_ready else None
        yield from super().compose()

    def bindings_changed(self, screen: Screen[object]) -> None:
        if self._rebuild_queued:
            return
        if (
            self._signature is not None
            and self.is_attached
            and screen is self.screen
            and _signature(screen) == self._signature
        ):
            active = screen.active_bindings
            for key in self.query(FooterKey):
                binding = active.get(key.key)
                if binding is None:  # cannot happen with the same signature; rebuild to be sure
                    break
                disabled = not binding.enabled
                if key._disabled != disabled:  # what a click on the key reads
                    key._disabled = disabled
                    key.set_class(disabled, "-disabled")
            else:
                return
        # (when Footer.bindings_changed queues its rebuild; without the app's focus it waits)
        queued = bool(screen.app.app_focus) and self.is_attached and screen is self.screen
        super().bindings_changed(screen)
        self._rebuild_queued = queued


def _signature(screen: Screen[object]) -> _Signature:
    """The shown bindings as the footer lays them out, without whether each is enabled."""
    return tuple(
        (binding.key, binding.action, binding.description, binding.group, tooltip)
        for _, binding, _, tooltip in screen.active_bindings.values()
        if binding.show
    )
