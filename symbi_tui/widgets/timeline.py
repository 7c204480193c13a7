"""Fires on a time axis: a row per job, a mark per fire, a line for now, a load row on top.

Each column of the track stands for a round span of time (1, 2, 5, 10, 15, 20, 30 minutes or an
hour or more: the smallest that fits the window in the width) and starts on a multiple of it, so
fires fall into columns the way an operator counts them ("6 fires in the 09:00 minute"). A job's
mark grows with the number of its fires in the column, scaled to that row's busiest column (a
daily job's single fire is as visible as a busy job's); the load row sums every job's fires per
column, scaled to the busiest column overall, so pile-ups stand out. Columns before now are muted.
"""

from __future__ import annotations

__all__ = ["COLUMN_UNITS", "LEVELS", "Timeline", "TimelineRow", "column_counts"]

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget

from ..format import Tone, fit
from ..palette import Palette

#: a mark's height, from one fire to the busiest column
LEVELS = "▁▂▃▄▅▆▇█"
#: what a column may stand for, in seconds, smallest first
COLUMN_UNITS: tuple[int, ...] = (
    60,
    120,
    300,
    600,
    900,
    1200,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
)
LABEL_WIDTH = 22
COUNT_WIDTH = 6
_TICKS = (  # axis label spacing by column unit
    (60, 600),
    (120, 1800),
    (300, 3600),
    (600, 7200),
    (1200, 10800),
    (1800, 21600),
)


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One job: its label, whether it fires at all, and its fire instants (sorted, UTC)."""

    key: str
    label: str
    fires: tuple[datetime, ...]
    active: bool = True
    capped: bool = False  #: more fires than were computed
    count: int | None = None  #: the number shown (None: the fires on the track)


def column_counts(
    fires: Sequence[datetime], start: datetime, window: timedelta, columns: int
) -> list[int]:
    """Fires per column for ``columns`` equal slices of ``[start, start + window)``."""
    counts = [0] * columns
    span = window.total_seconds()
    for fire in fires:
        offset = (fire - start).total_seconds()
        if 0 <= offset < span:
            counts[min(columns - 1, int(offset * columns / span))] += 1
    return counts


def _level(count: int, peak: int) -> str:
    if count <= 0 or peak <= 0:
        return " "
    index = math.ceil(len(LEVELS) * count / peak) - 1
    return LEVELS[min(len(LEVELS) - 1, max(0, index))]


def _floor(instant: datetime, seconds: int) -> datetime:
    stamp = instant.timestamp()
    return datetime.fromtimestamp(stamp - stamp % seconds, tz=UTC)


class Timeline(Widget):
    """The rows of :class:`TimelineRow` drawn against ``[start, start + window)``."""

    DEFAULT_CSS = """
    Timeline {
        height: auto;
        width: 1fr;
    }
    """

    class Measured(Message):
        """The track was laid out again: ``peak``, ``peak_at`` and ``unit`` may have changed."""

    def __init__(self, **kwargs: object) -> None:
        # Textual's typed keyword parameters: **kwargs: object cannot be matched against them
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.rows: list[TimelineRow] = []
        self.start = datetime(2000, 1, 1, tzinfo=UTC)
        self.window = timedelta(days=1)
        self.now = self.start
        self._palette: Palette | None = None
        self.unit = COLUMN_UNITS[0]  #: seconds per column, after the last layout
        self.track_start = self.start  #: the first column's start (a multiple of the unit)
        self.columns = 0
        self.totals: list[int] = []  #: every job's fires per column
        self.peak = 0  #: fires in the busiest column from now on
        self.peak_at: datetime | None = None  #: the first fire in that column
        self._state: tuple[object, ...] | None = None

    def show(
        self,
        rows: Sequence[TimelineRow],
        *,
        start: datetime,
        window: timedelta,
        now: datetime,
        palette: Palette,
    ) -> None:
        """Draw ``rows`` from ``start`` for ``window``, with a line at ``now``."""
        rows = list(rows)
        state = (rows, start, window, self.size.width, palette)
        if state == self._state and self.columns and self._now_col(now) == self._now_col(self.now):
            self.now = now
            return  # called every tick: nothing on screen would change
        self._state = state
        self.rows = rows
        self.start, self.window, self.now = start, window, now
        self._palette = palette
        self._measure(self.size.width)
        self.refresh(layout=True)

    @property
    def column_span(self) -> timedelta:
        """How much time one column stands for."""
        return timedelta(seconds=self.unit)

    def _now_col(self, now: datetime) -> int:
        return int((now - self.track_start).total_seconds() // self.unit)

    def _measure(self, width: int) -> None:
        available = max(12, (width or 100) - LABEL_WIDTH - COUNT_WIDTH - 1)
        seconds = self.window.total_seconds()
        self.unit = next(
            (u for u in COLUMN_UNITS if math.ceil(seconds / u) < available), COLUMN_UNITS[-1]
        )
        self.track_start = _floor(self.start, self.unit)
        end = self.start + self.window
        self.columns = min(
            available, math.ceil((end - self.track_start).total_seconds() / self.unit)
        )
        span = self.column_span * self.columns
        totals = [0] * self.columns
        for row in self.rows:
            for i, count in enumerate(
                column_counts(row.fires, self.track_start, span, self.columns)
            ):
                totals[i] += count
        self.totals = totals
        ahead = totals[max(0, self._now_col(self.now) + 1) :]  # columns wholly to come
        self.peak = max(ahead, default=0)
        self.peak_at = None
        if self.peak:
            # the first fire in the busiest column: a real instant, not a column edge
            column = len(totals) - len(ahead) + ahead.index(self.peak)
            low = self.track_start + self.column_span * column
            high = low + self.column_span
            self.peak_at = min(
                (fire for row in self.rows for fire in row.fires if low <= fire < high),
                default=low,
            )
        self.post_message(self.Measured())

    def on_resize(self) -> None:
        self._measure(self.size.width)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.rows) + 2

    def render(self) -> Text:
        palette = self._palette
        if palette is None or not self.columns:
            return Text("")
        columns = self.columns
        span = self.column_span * columns
        now_col = self._now_col(self.now)
        muted = palette[Tone.MUTED]
        accent = palette[Tone.ACCENT]
        warning = palette[Tone.WARNING]
        ticks = self._tick_columns()
        lines = [self._axis(ticks, now_col, muted, warning)]

        per_row = [column_counts(row.fires, self.track_start, span, columns) for row in self.rows]
        peak = self.peak
        load = Text("load".ljust(LABEL_WIDTH), style="bold")
        load.append(f"{peak:>{COUNT_WIDTH - 1}} ", style=muted)
        for i, total in enumerate(self.totals):
            hot = peak > 1 and total * 4 >= peak * 3
            style = muted if i < now_col else (warning if hot else accent)
            load.append(self._cell(total, peak, i, now_col, ticks, style, muted, warning))
        lines.append(load)

        for row, counts in zip(self.rows, per_row, strict=True):
            label = fit(row.label, LABEL_WIDTH - 1).ljust(LABEL_WIDTH)
            line = Text(label, style="" if row.active else muted)
            fires = sum(counts) if row.count is None else row.count
            count = f"{fires}+" if row.capped else str(fires)
            line.append(f"{count:>{COUNT_WIDTH - 1}} ", style=muted)
            row_peak = max(counts, default=0)
            for i, n in enumerate(counts):
                style = muted if i < now_col or not row.active else accent
                line.append(self._cell(n, row_peak, i, now_col, ticks, style, muted, warning))
            lines.append(line)
        return Text("\n").join(lines)

    @staticmethod
    def _cell(
        count: int,
        peak: int,
        column: int,
        now_col: int,
        ticks: dict[int, str],
        style: Style,
        muted: Style,
        warning: Style,
    ) -> Text:
        if count:
            return Text(_level(count, peak), style=style)
        if column == now_col:
            return Text("│", style=warning)
        if column in ticks:
            return Text("·", style=muted)
        return Text(" ")

    def _tick_columns(self) -> dict[int, str]:
        """Column -> ``HH:MM`` (UTC) of each axis tick on the track."""
        step = next((tick for unit, tick in _TICKS if self.unit <= unit), self.unit * 8)
        out: dict[int, str] = {}
        instant = _floor(self.track_start, step)
        if instant < self.track_start:
            instant += timedelta(seconds=step)
        end = self.track_start + self.column_span * self.columns
        while instant < end:
            column = int((instant - self.track_start).total_seconds() // self.unit)
            out[column] = f"{instant:%H:%M}"
            instant += timedelta(seconds=step)
        return out

    def _axis(self, ticks: dict[int, str], now_col: int, muted: Style, warning: Style) -> Text:
        chars = [" "] * self.columns
        styles: list[Style] = [muted] * self.columns
        free_from = 0
        for column, label in sorted(ticks.items()):
            if column < free_from or column + len(label) > self.columns:
                continue
            if column <= now_col <= column + len(label):
                continue  # the now marker stands there
            chars[column : column + len(label)] = label
            free_from = column + len(label) + 1
        if 0 <= now_col < self.columns:
            chars[now_col] = "▼"
            styles[now_col] = warning
        axis = Text("UTC".ljust(LABEL_WIDTH + COUNT_WIDTH), style=muted)
        for char, style in zip(chars, styles, strict=True):
            axis.append(char, style=style)
        return axis
