"""The top line of a secondary screen: where you are (a breadcrumb) and the scheduler's time."""

from __future__ import annotations

__all__ = ["ScreenHeader"]

from collections.abc import Sequence
from datetime import UTC, datetime

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from ..backend import CONNECTED, Connection
from ..markup import escape
from .health_bar import connection_markup


class ScreenHeader(Horizontal):
    """A breadcrumb (``symbi / flaky-job / runs``) left; ``embedded · 08:59:30 UTC`` right."""

    DEFAULT_CSS = """
    ScreenHeader {
        dock: top;
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $foreground;
    }
    ScreenHeader #crumbs {
        width: 1fr;
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    ScreenHeader #header-clock {
        width: auto;
        height: 1;
        margin-left: 2;
        color: $foreground-muted;
    }
    """

    def __init__(self, **kwargs: object) -> None:
        # Textual's typed keyword parameters: **kwargs: object cannot be matched against them
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._shown: tuple[str, str] | None = None
        # held here, not queried: a screen may show its header before the header has mounted
        self._crumbs = Static(id="crumbs")
        self._clock = Static(id="header-clock")

    def compose(self) -> ComposeResult:
        yield self._crumbs
        yield self._clock

    def show(
        self,
        crumbs: Sequence[str],
        *,
        mode: str,
        readonly: bool,
        now: datetime,
        connection: Connection = CONNECTED,
    ) -> None:
        """Render the breadcrumb (plain words, escaped here) and the clock (the injected one),
        after the connection's state while the scheduler is out of reach."""
        parts = [
            f"[b]{escape(crumb)}[/b]" if i == len(crumbs) - 1 else escape(crumb)
            for i, crumb in enumerate(crumbs)
        ]
        left = " [$foreground-muted]\u203a[/] ".join(parts)
        lost = connection_markup(connection)
        if lost is not None:
            left = f"{lost} [$foreground-muted]│[/] {left}"
        if readonly:
            left = f"[b $warning]READ-ONLY[/] [$foreground-muted]│[/] {left}"
        right = f"{escape(mode)} · {now.astimezone(UTC):%H:%M:%S} UTC"
        if (left, right) == self._shown:
            return
        self._crumbs.update(left)
        self._clock.update(right)
        self._shown = (left, right)
