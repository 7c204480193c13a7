"""Which log lines a reader wants: a component, a minimum level, an instant; checked once, where
the request enters (``symbi logs`` options, ``GET /api/v1/logs`` parameters), naming the field."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from ..clock import parse_instant
from ..errors import ValidationError
from ..records import record
from ._format import format_time

#: the levels, lowest first, as the log writes them
LEVELS: dict[str, int] = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_LEVEL_ALIASES = {"warn": "warning", "fatal": "critical"}
#: the components a line can be asked for by its short name: the parts of the daemon's logger
#: names (``symbi.scheduler``, ``scheduler_core.delivery``, ``uvicorn.error``) and the first
#: part of its event names (``run.failed``, ``scheduler.leader``)
COMPONENTS = (
    "api",
    "asyncio",
    "audit",
    "config",
    "daemon",
    "delivery",
    "dsl",
    "events",
    "iteration",
    "job",
    "llm",
    "log",
    "metrics",
    "run",
    "runtime",
    "scheduler",
    "uvicorn",
)
_NAME = re.compile(r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$")
_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_level(text: str, field: str = "level") -> str:
    """A level name (any case; ``warn`` for ``warning``)."""
    name = text.strip().lower()
    name = _LEVEL_ALIASES.get(name, name)
    if name not in LEVELS:
        raise ValidationError(f"unknown level {text!r}: use {', '.join(LEVELS)}", field=field)
    return name


def parse_component(text: str, field: str = "component") -> str:
    """A component: one of :data:`COMPONENTS`, or a full logger name with a dot
    (``symbi.scheduler``, ``uvicorn.error``)."""
    name = text.strip()
    if not _NAME.match(name):
        raise ValidationError(
            f"{text!r} is not a component name (e.g. scheduler, or a logger name such as "
            "symbi.scheduler)",
            field=field,
        )
    if "." not in name and name.lower() not in COMPONENTS:
        close = difflib.get_close_matches(name.lower(), COMPONENTS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValidationError(
            f"unknown component {text!r}{hint}; components: {', '.join(COMPONENTS)}, or a "
            "logger name such as symbi.scheduler",
            field=field,
        )
    return name if "." in name else name.lower()


def parse_since(text: str, now: datetime, field: str = "since") -> datetime:
    """An ISO 8601 date or instant (UTC without an offset), or a time ago: ``90s``, ``15m``,
    ``2h``, ``1d``, ``1w``."""
    ago = _AGO.match(text)
    if ago:
        return now - timedelta(seconds=float(ago.group(1)) * _UNITS[ago.group(2)])
    try:
        return parse_instant(text.strip())
    except (ValueError, OverflowError):
        raise ValidationError(
            f"{text!r} is neither an ISO 8601 date or instant (2026-03-02, "
            "2026-03-02T09:00:00Z) nor a time ago (90s, 15m, 2h, 1d)",
            field=field,
        ) from None


def component_matches(component: str, logger: str, event: str) -> bool:
    """``scheduler`` matches the logger ``symbi.scheduler`` and the event ``scheduler.leader``;
    a dotted component matches those dotted parts of a logger name."""
    wanted = component.split(".")
    parts = logger.split(".")
    n = len(wanted)
    if any(parts[i : i + n] == wanted for i in range(len(parts) - n + 1)):
        return True
    return event.split(".")[:n] == wanted


@record(kw_only=True)
class LogQuery:
    """The lines wanted: of ``component`` (None: all), at ``level`` or above, written at or
    after ``since``; at most ``limit`` of them."""

    component: str | None = None
    level: str | None = None
    since: datetime | None = None
    limit: int = 100

    def matcher(self) -> Callable[[str | None, str, str, str], bool]:
        """A test of a line's head (time as written, level, logger, event): is it wanted?"""
        floor = LEVELS[self.level] if self.level else 0
        since = format_time(self.since) if self.since is not None else None
        component = self.component

        def wants(time: str | None, level: str, logger: str, event: str) -> bool:
            if floor and LEVELS.get(level, 0) < floor:
                return False
            if since is not None and (time is None or time < since):
                return False
            return component is None or component_matches(component, logger, event)

        return wants
