"""The header line: how the console is attached and how the scheduler is doing.

Everything here comes from the backend's ``Health`` and the injected clock, never from wall time,
so a snapshot of the screen is the same on every run.
"""

from __future__ import annotations

__all__ = [
    "HealthBar",
    "connection_markup",
    "health_markup",
    "nodes_markup",
    "sparkline",
    "store_markup",
]

import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from scheduler_core.errors import STORE_CAUSES
from scheduler_core.service import Health, StoreFault

from ..backend import CONNECTED, Connection
from ..legibility import error_style
from ..markup import escape

_STATUS = {
    "healthy": ("●", "success"),
    "standby": ("◐", "warning"),
    "degraded": ("✖", "error"),
}
#: the roles each status implies; only a surprising role is spelled out
_USUAL_ROLE = {"healthy": ("leader", "active"), "standby": ("standby",)}
_NODES_SHOWN = 4
_SEP = " [$foreground-muted]│[/] "


_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[int]) -> str:
    """``values`` as a row of block characters, scaled to the largest."""
    if not values:
        return ""
    top = max(values)
    if top == 0:
        return _BARS[0] * len(values)
    return "".join(_BARS[min(len(_BARS) - 1, v * (len(_BARS) - 1) // top)] for v in values)


_KEY_HELP = "give one with --api-key, SYMBI_API_KEY or [api] api_keys"
_REASON_CHARS = 60


def connection_markup(connection: Connection, now: float | None = None) -> str | None:
    """What the header says while the scheduler is not reachable (None while it is): a symbol
    and a word, not only a colour, and when the next attempt is (``now``: ``time.monotonic()``).
    """
    if connection.state == "connected":
        return None
    if connection.state == "connecting":
        return "[$foreground-muted]… connecting[/]"
    if connection.state == "unauthorized":
        return f"[{error_style()}]✖ API key refused[/] · {escape(_KEY_HELP)}"
    now = time.monotonic() if now is None else now
    if connection.retry_at is None or connection.retry_at <= now:
        retry = "retrying now"
    else:
        retry = f"retrying in {math.ceil(connection.retry_at - now)}s"
    reason = connection.reason
    if len(reason) > _REASON_CHARS:
        reason = reason[: _REASON_CHARS - 1] + "…"
    shown = f" · [$foreground-muted]{escape(reason)}[/]" if reason else ""
    return f"[{error_style()}]✖ disconnected[/] · {retry}{shown}"


def health_markup(
    health: Health | None,
    *,
    readonly: bool,
    rate: Sequence[int] = (),
    connection: Connection = CONNECTED,
) -> str:
    """Textual markup for the header (theme variables, so it follows the theme)."""
    parts = ["[b $warning]READ-ONLY[/]"] if readonly else []
    lost = connection_markup(connection)
    if lost is not None:  # what was last read is not the scheduler's state now: not shown
        parts.append(lost)
    elif health is None:
        parts.append("[$foreground-muted]connecting…[/]")
    else:
        glyph, variable = _STATUS.get(health.status, ("?", "warning"))
        state = f"[${variable}]{glyph} {escape(health.status)}[/]"
        if health.role not in _USUAL_ROLE.get(health.status, ()):
            state += f" ({escape(health.role)})"
        parts.append(state)
        if health.store is not None:
            parts.append(store_markup(health.store))
        nodes = nodes_markup(health)
        if nodes:
            parts.append(nodes)
        parts.append(
            f"active {health.active_jobs} · paused {health.paused_jobs}"
            f" · in-flight {health.in_flight_jobs}"
        )
        if health.awaiting_approval:  # a run waits for an operator: never out of sight
            parts.append(
                f"[b $warning]? {health.awaiting_approval} awaiting approval[/]"
                " [$foreground-muted](:approvals)[/]"
            )
        stats = health.stats
        parts.append(
            f"runs {stats.runs_total} [$success]✔ {stats.runs_succeeded}[/]"
            f" [{error_style()}]✖ {stats.runs_failed}[/] · avg {stats.avg_execution_time_ms} ms"
        )
        if len(rate) > 1:
            parts.append(f"[$accent]{sparkline(rate)}[/] {rate[-1]}/min")
    return _SEP.join(parts)


def store_markup(fault: StoreFault) -> str:
    """The store fails: ``✖ store is full since 12:03:04 UTC · 2 finished runs waiting · …``."""
    what = STORE_CAUSES.get(fault.cause or "", ("fails", ""))[0]
    since = fault.since.astimezone(UTC)
    parts = [f"[{error_style()}]✖ store {escape(what)}[/] since {since:%H:%M:%S} UTC"]
    if fault.waiting:
        parts.append(f"[$warning]{fault.waiting} finished run(s) waiting[/]")
    error = fault.error
    if len(error) > _REASON_CHARS:
        error = error[: _REASON_CHARS - 1] + "…"
    parts.append(f"[$foreground-muted]{escape(error)}[/]")
    return " · ".join(parts)


def nodes_markup(health: Health) -> str:
    """The scheduler processes on the store and the runs each holds, when there is more than
    the one embedded scheduler: ``nodes 3: ▸web-1:812 20 · web-2:77 19 · …`` (▸ is this one)."""
    nodes = health.nodes
    if not nodes or (len(nodes) == 1 and nodes[0].role == "leader"):
        return ""
    shown = []
    for node in nodes[:_NODES_SHOWN]:
        mark = "▸" if node.owner == health.node else ""
        role = "" if node.role in ("leader", "active") else f" {node.role}"
        shown.append(f"{mark}{escape(node.host)}:{node.pid}{role} [b]{node.running}[/]")
    more = f" · +{len(nodes) - _NODES_SHOWN}" if len(nodes) > _NODES_SHOWN else ""
    return f"nodes {len(nodes)}: " + " · ".join(shown) + more


class HealthBar(Horizontal):
    """One line docked at the top of the main screen: health on the left; on the right how the
    console is attached (``embedded``) and the scheduler's time."""

    def __init__(self, **kwargs: object) -> None:
        # Textual's typed keyword parameters: **kwargs: object cannot be matched against them
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._shown: tuple[str, str] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="health-summary")
        yield Static(id="health-clock")

    def show(
        self,
        health: Health | None,
        *,
        mode: str,
        readonly: bool,
        now: datetime,
        rate: Sequence[int] = (),
        connection: Connection = CONNECTED,
    ) -> None:
        """Render ``health``; ``now`` is the scheduler's clock (a fake one in snapshots);
        ``rate`` is runs per minute, oldest first (drawn as a sparkline); ``connection`` how
        the scheduler is reached (anything but connected replaces the health)."""
        summary = health_markup(health, readonly=readonly, rate=rate, connection=connection)
        clock = f"{escape(mode)} · {now.astimezone(UTC):%H:%M:%S} UTC"
        if (summary, clock) == self._shown:
            return  # called every tick: repaint only what changed
        if self._shown is None or summary != self._shown[0]:
            self.query_one("#health-summary", Static).update(summary)
        if self._shown is None or clock != self._shown[1]:
            self.query_one("#health-clock", Static).update(clock)
        self._shown = (summary, clock)
