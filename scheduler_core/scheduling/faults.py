"""StoreFaults: a failing store is an episode, not a loop.

Each of the scheduler's operations on the store (the loop's look at it, writing finished runs,
renewing the lease) that fails is tried again after a delay that starts at the tick and doubles
up to ``store_retry_max_seconds``, whatever else asks for it meanwhile. The first failure starts
an *episode*, logged in one line with the error; it ends when every operation that failed has
succeeded since, logged in one line with how long it lasted and what waited. In between nothing
more is logged, however often the operations are tried. Health reports the episode.
"""

from __future__ import annotations

__all__ = ["StoreFault", "StoreFaults"]

import logging
from collections.abc import Callable
from datetime import datetime

from ..clock import Clock, format_instant
from ..errors import StoreError, StoreUnavailable
from ..records import record
from ..settings import SchedulerSettings

log = logging.getLogger("symbi.scheduler")

_ERROR_CHARS = 500


@record(kw_only=True)
class StoreFault:
    """A store fault under way, as health reports it."""

    error: str  #: what the store said, and which store
    since: datetime  #: the first failure of the episode
    cause: str | None = None  #: ``StoreUnavailable.cause`` (``disk_full``, ``read_only``, ...)
    failures: int = 1  #: operations that failed since
    waiting: int = 0  #: finished runs kept in memory until the store takes them


class StoreFaults:
    """The episode under way (if any), and each failing operation's backoff."""

    def __init__(self, *, settings: SchedulerSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._streaks: dict[str, int] = {}  #: operation -> consecutive failures
        self._error: BaseException | None = None
        self._since: datetime | None = None
        self._started = 0.0  #: monotonic
        self._failures = 0
        self._store = False  #: the episode is the store's (not a bug's)
        self._notes: list[str] = []
        #: finished runs waiting to be written (the finish writer's count)
        self.waiting: Callable[[], int] = lambda: 0

    @property
    def failing(self) -> bool:
        """An episode is under way."""
        return bool(self._streaks)

    def current(self) -> StoreFault | None:
        """The store fault under way (None: none, or what fails is not the store)."""
        error = self._error
        if not self._streaks or self._since is None or not isinstance(error, StoreError):
            return None
        return StoreFault(
            error=str(error)[:_ERROR_CHARS],
            since=self._since,
            cause=error.cause if isinstance(error, StoreUnavailable) else None,
            failures=self._failures,
            waiting=self.waiting(),
        )

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure in a row: the tick, doubling, up to
        ``store_retry_max_seconds``."""
        first = self.settings.tick_interval_seconds
        cap = max(self.settings.store_retry_max_seconds, first)
        return float(min(first * 2.0 ** min(max(failures, 1) - 1, 32), cap))

    def failed(self, operation: str, exc: BaseException) -> float:
        """``operation`` failed with ``exc``: the seconds to wait before trying it again. The
        first failure of an episode is logged (a store fault in one line; anything else, a bug,
        with its traceback, once)."""
        streak = self._streaks.get(operation, 0) + 1
        self._streaks[operation] = streak
        self._failures += 1
        self._error = exc
        if self._since is None:
            self._since = self.clock.now()
            self._started = self.clock.monotonic()
            self._notes = []
            self._store = False
            self._log_start(operation, exc)
        self._store = self._store or isinstance(exc, StoreError)
        return self.delay(streak)

    def succeeded(self, operation: str, waited: str | None = None) -> None:
        """``operation`` worked (after failing, or not); ``waited`` says what had waited for it.
        When nothing fails any more, the episode ends (logged)."""
        if self._streaks.pop(operation, None) is None:
            return
        if waited:
            self._notes.append(waited)
        if self._streaks:
            return
        seconds = round(self.clock.monotonic() - self._started, 1)
        notes = "; ".join(self._notes) or "nothing waited"
        since = self._since
        log.warning(
            "%s again after %gs (%d failed attempt(s) since %s): %s",
            "store available" if self._store else "scheduler working",
            seconds,
            self._failures,
            format_instant(since) if since is not None else "?",
            notes,
            extra={
                "event": "store.recovered" if self._store else "scheduler.recovered",
                "fields": {"seconds": seconds, "failures": self._failures, "waited": notes},
            },
        )
        self._since = None
        self._error = None
        self._failures = 0
        self._notes = []

    def _log_start(self, operation: str, exc: BaseException) -> None:
        retry = f"retrying from {self.delay(1):g}s up to {self.delay(64):g}s apart"
        fields: dict[str, object] = {"operation": operation, "error": str(exc)[:_ERROR_CHARS]}
        if isinstance(exc, StoreUnavailable):
            fields.update(cause=exc.cause, store=exc.store)
            log.error(
                "%s (%s); %s, finished runs wait in memory meanwhile",
                exc,
                exc.hint,
                retry,
                extra={"event": "store.unavailable", "fields": fields},
            )
        elif isinstance(exc, StoreError):
            log.error("%s; %s", exc, retry, extra={"event": "store.unavailable", "fields": fields})
        else:  # not the store's fault: a bug, whose traceback is wanted (once)
            log.error(
                "scheduler %s failed; %s",
                operation,
                retry,
                exc_info=exc,
                extra={"event": "scheduler.failing", "fields": fields},
            )
