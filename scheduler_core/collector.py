"""The cycle collector held off around the bulk work of a large load (:func:`collector_paused`)."""

from __future__ import annotations

__all__ = ["collector_paused"]

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused(*, promote: bool = True) -> Iterator[None]:
    """The cycle collector held off while a bulk load makes its jobs, then left as it was.

    A load of 100,000 jobs allocates millions of objects that stay alive (the jobs, their
    values, their audit events): the collector's passes over all of them as they pile up were
    about 5 us a job, a sixth of the service's part, and found nothing to free. Only around
    code with no ``await`` (nothing else of the process runs on its thread meanwhile); the next
    collection after it takes whatever cycles it made.

    ``promote``: what is alive when it ends (what the load made, which it keeps) goes to the
    oldest generation at once (below); the SQLite writer's bulk, whose rows are gone by then,
    leaves it (it runs on its own thread, and a freeze is best left to the event loop's)."""
    if not gc.isenabled():  # (someone else's decision: left alone)
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if promote and not gc.get_freeze_count():
            # what the load made would be walked, all of it, by the next young collection
            # (0.3 s after 100,000 jobs), to be moved to an older generation: moved there at
            # once instead (freeze, then unfreeze: the oldest generation), where the next full
            # collection walks it as it would have. Not when something is frozen (the console's
            # long-lived objects): unfreezing would hand those back to every full collection.
            gc.freeze()
            gc.unfreeze()
        gc.enable()
