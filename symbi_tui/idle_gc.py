"""Full garbage collections while the operator is not typing, rather than in the middle of a key.

CPython's cycle collector walks every object it tracks outside the frozen ones (see
:func:`freeze_long_lived`) once ten younger collections have passed
and enough objects have reached the oldest generation: in the console, about every ten keys, for
5-15 ms (30 ms seen) at whichever key it falls on. The console leaves that collection to the
operator's pauses: while the collector is installed the automatic full collection waits ten
times longer (a safety net for a long burst of input), and :meth:`IdleCollector.tick`, called a
few times a second, runs it once no input came for ``quiet_seconds`` and the younger collections
that would have called for it have passed.
"""

from __future__ import annotations

__all__ = ["IdleCollector", "freeze_long_lived"]

import gc
import time
from collections.abc import Callable

#: younger collections after which CPython considers a full one (its default third threshold)
FULL_AFTER = 10
#: how much longer the automatic full collection waits while the collector is installed
DEFERRAL = 10
_frozen = False  #: the objects alive once the first jobs pane was drawn are frozen


def freeze_long_lived() -> bool:
    """Collect once, then move every object alive (modules, classes, widgets, the engine: some
    80,000) where the cycle collector no longer walks them.

    Each full collection walked them all: a 50-80 ms pause, now and then, in the middle of a key.
    After this it walks only what was allocated since (5-15 ms). Once a process: the console
    calls it at the first pause of the input once its first page of jobs is on screen and the
    filter's names are read (:meth:`IdleCollector.freeze_when_idle`).
    """
    global _frozen
    if _frozen:
        return False  # (once a process)
    _frozen = True
    gc.collect()
    gc.freeze()
    return True


class IdleCollector:
    """Runs the cycle collector's full collections in the pauses between input events."""

    def __init__(
        self,
        *,
        quiet_seconds: float = 0.3,
        clock: Callable[[], float] = time.monotonic,
        collect: Callable[[], object] = gc.collect,
        counts: Callable[[], tuple[int, int, int]] = gc.get_count,
        busy: Callable[[], bool] = lambda: False,
        freeze: Callable[[], bool] = freeze_long_lived,
    ) -> None:
        self.quiet_seconds = quiet_seconds
        self._clock = clock
        self._collect = collect
        self._freeze = freeze
        self._freeze_wanted = False
        self._counts = counts
        self.busy = busy  #: whether the console is still answering a key (then: not now)
        self._last_input = float("-inf")
        self._saved: tuple[int, int, int] | None = None
        self.collections = 0  #: full collections run here (when idle)

    def install(self) -> None:
        """Defer the automatic full collection (until :meth:`uninstall`)."""
        if self._saved is None:
            self._saved = gc.get_threshold()
            young, middle, full = self._saved
            gc.set_threshold(young, middle, max(full, FULL_AFTER) * DEFERRAL)

    def uninstall(self) -> None:
        """Put the thresholds back as they were."""
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def note_input(self) -> None:
        """An input event (a key, the mouse) came in: not a moment to collect."""
        self._last_input = self._clock()

    def freeze_when_idle(self) -> None:
        """Run :func:`freeze_long_lived` (its full collection: 40-80 ms over a million jobs'
        console) at the next pause of the input, not in the middle of a key."""
        self._freeze_wanted = True

    def tick(self) -> bool:
        """Collect if the input has been quiet long enough, a full collection is due (or a
        freeze is wanted) and the console is not busy answering a key."""
        if self._clock() - self._last_input < self.quiet_seconds:
            return False
        if self._counts()[2] < FULL_AFTER and not self._freeze_wanted:
            return False
        if self.busy():
            return False
        if self._freeze_wanted:
            self._freeze_wanted = False
            if self._freeze():  # (a full collection, then the survivors frozen)
                self.collections += 1
                return True
            if self._counts()[2] < FULL_AFTER:  # (frozen before, by another console)
                return False
        self._collect()
        self.collections += 1
        return True
