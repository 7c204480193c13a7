"""Every screen a view name opens: the one place that knows the screens' constructors.

Screens navigate by message (:class:`~symbi_tui.screens.base.OpenView`); the app answers with
:func:`make_view`, as does any app hosting a screen (the tests' one-screen app included).
"""

from __future__ import annotations

__all__ = ["make_view", "preload"]

import importlib
from typing import Any

from textual.screen import Screen

from scheduler_core.clock import Clock
from scheduler_core.model import JobStatus

from ..backend import Backend

#: the modules of the screens :func:`make_view` makes
VIEW_MODULES = (
    "watch",
    "run_history",
    "dead_letter",
    "audit",
    "run_detail",
    "heartbeat",
    "approvals",
    "timeline",
    "job_form",
    "export",
)


def preload() -> None:
    """Import every screen's module now (on a thread, once the first page is drawn), not on
    the key that first opens it: 50 ms of imports, 18 ms of them the watch screen's."""
    for name in VIEW_MODULES:
        importlib.import_module(f"{__package__}.{name}")


def make_view(
    view: str,
    target: str | None = None,
    *,
    backend: Backend,
    clock: Clock,
    readonly: bool = False,
    refresh_interval: float = 1.0,
    text: str | None = None,
    status: JobStatus | None = None,
) -> Screen[Any]:
    """The screen for ``view`` about ``target`` (a job, a run id for ``run``, job names separated
    by spaces for ``export``); ``text`` and
    ``status`` narrow the timeline as the jobs pane is narrowed."""
    from .approvals import ApprovalsScreen
    from .audit import AuditScreen
    from .dead_letter import DeadLetterScreen
    from .export import ExportScreen
    from .heartbeat import HeartbeatScreen
    from .job_form import JobFormScreen
    from .run_detail import RunDetailScreen
    from .run_history import RunHistoryScreen
    from .timeline import TimelineScreen
    from .watch import WatchScreen

    common: dict[str, Any] = {
        "clock": clock,
        "readonly": readonly,
        "refresh_interval": refresh_interval,
    }
    if view == "watch":
        return WatchScreen(backend, job=target or "", **common)
    if view == "runs":
        return RunHistoryScreen(backend, job=target or "", **common)
    if view == "run":
        return RunDetailScreen(backend, run_id=target or "", **common)
    if view == "dlq":
        return DeadLetterScreen(backend, **common)
    if view == "hb":
        return HeartbeatScreen(backend, job=target, **common)
    if view == "approvals":
        return ApprovalsScreen(backend, **common)
    if view == "audit":
        return AuditScreen(backend, job=target, **common)
    if view == "timeline":
        return TimelineScreen(backend, text=text, status=status, **common)
    if view == "export":  # target: job names separated by spaces (a name holds none)
        return ExportScreen(backend, names=(target or "").split(), **common)
    if view == "add":
        return JobFormScreen(backend, **common)
    if view == "edit":
        return JobFormScreen(backend, job=target, **common)
    raise ValueError(f"no view {view!r}")
