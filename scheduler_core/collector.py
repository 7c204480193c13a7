"""The cycle collector held off around the bulk work of a large load (:func:`collector_paused`)."""

from __future__ import annotations

__all__ = ["collector_paused"]

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cycle collector held off while a bulk load makes its jobs, then left as it was.

    A load of 100,000 jobs allocates millions of objects that stay alive (the jobs, their
    values, their audit events): the collector's passes over all of them as they pile up were
    about 5 us a job, a sixth of the service's part, and found nothing to free. Only around
    code with no ``await`` (nothing else of the process runs on its thread meanwhile); the next
    collection after it takes whatever cycles it made."""
    if not gc.isenabled():  # (someone else's decision: left alone)
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
