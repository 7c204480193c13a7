"""A DataTable kept in step with a query result by row key.

Live panes change a few cells a second. Clearing and refilling a table would reset the cursor and
scroll position and repaint everything; :meth:`KeyedTable.sync` instead removes rows that went away,
updates only the cells whose text changed, adds new rows and restores the wanted order, keeping the
cursor on the same row key (the way dolphie keeps its live tables). Only when most rows go (another
page, sort or filter) is the table refilled, which is then far cheaper than removing them.

Rows of one-line text cells (every row the console shows) are drawn by the table itself, line for
line as the DataTable draws them: each cell's text laid out once, a row drawn again only when its
cells or the styles it is drawn with change, and what was drawn kept when the table is refilled,
for a page shown again.
"""

from __future__ import annotations

__all__ = [
    "ROWS_KEPT",
    "CellCache",
    "Column",
    "ColumnPlan",
    "KeyedCell",
    "KeyedTable",
    "fit_cell",
    "plan_columns",
    "trim_oldest",
]

import dataclasses
import itertools
import operator
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Self, TypeVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, CellKey, DuplicateKey, Row, RowKey

K = TypeVar("K")
V = TypeVar("V")
_Segment = Segment  #: (a local name: built once per cell and per row, in the hot loop)
_NULL = Style.null()
_RowLines = tuple[list[list[Segment]], list[list[Segment]]]  #: fixed and scrollable cell lines
_DrawnRow = tuple[tuple[object, ...], tuple[object, ...], _RowLines]


@dataclass(frozen=True, slots=True)
class Column:
    """One column. A table whose columns have priorities or a flexible column fits its width:
    columns of the highest ``priority`` go first when it is too narrow (0: always shown), and
    the ``flex`` column takes the width the others leave (at least ``width``, at most
    ``most``), its text shortened at a word's end to fit."""

    key: str
    label: str
    width: int | None = None  #: None: sized to content
    priority: int = 0
    flex: bool = False
    most: int | None = None


#: (index of the column in the table's spec, its width on screen) for each column shown
ColumnPlan = tuple[tuple[int, int | None], ...]


def plan_columns(columns: Sequence[Column], width: int, padding: int) -> ColumnPlan:
    """Which ``columns`` a table ``width`` cells wide shows, and their widths (``padding``:
    the blanks around each cell). One cell is kept for the vertical scrollbar."""
    shown = list(range(len(columns)))

    def need() -> int:
        return sum((columns[i].width or len(columns[i].label)) + padding for i in shown)

    room = width - 1
    while need() > room:
        optional = [i for i in shown if columns[i].priority > 0]
        if not optional:
            break
        shown.remove(max(optional, key=lambda i: (columns[i].priority, i)))
    spare = max(room - need(), 0)
    plan = []
    for i in shown:
        column = columns[i]
        size = column.width
        if column.flex and size is not None:
            size += spare
            if column.most is not None:
                size = min(size, column.most)
        plan.append((i, size))
    return tuple(plan)


def fit_cell(text: Text, width: int) -> Text:
    """``text`` shortened to ``width`` cells, at a word's end where one is near (see
    :func:`symbi_tui.format.shorten`), keeping its styles."""
    plain = text.plain
    if cell_len(plain) <= width or width < 1:
        return text
    head = plain[: width - 1]
    space = head.rfind(" ")
    in_a_word = plain[width - 1] != " "
    keep = space if in_a_word and space >= (width - 1) * 2 // 3 else width - 1
    while keep and plain[keep - 1] in " ,;:-·":
        keep -= 1
    out = text[:keep]
    out.append("…")
    if cell_len(out.plain) > width:  # wide characters
        out.truncate(width, overflow="ellipsis")
    return out


class KeyedCell:
    """The first cell of each row: renders its text and remembers the row's key.

    ``DataTable.sort`` hands the key function cell values only; carrying the row key in the first
    cell lets :meth:`KeyedTable.sync` impose an arbitrary order through the public API.
    """

    __slots__ = ("row_key", "text")

    def __init__(self, row_key: str, text: Text) -> None:
        self.row_key = row_key
        self.text = text

    def __rich__(self) -> Text:
        return self.text


def _widths(cells: Sequence[object]) -> list[int] | None:
    """The width of each cell, if each is one line of text (a :class:`KeyedCell`'s included)."""
    widths = []
    for cell in cells:
        text = cell.text if isinstance(cell, KeyedCell) else cell
        if not isinstance(text, Text):
            return None
        lines = text.plain.splitlines()
        if len(lines) > 1:
            return None
        widths.append(cell_len(lines[0]) if lines else 0)
    return widths


#: the DataTable's LRU caches its ``_clear_caches`` empties
_RENDER_CACHES = (
    "_row_render_cache",
    "_cell_render_cache",
    "_row_renderable_cache",
    "_line_cache",
    "_offset_cache",
    "_ordered_row_cache",
)


#: rows whose drawing is kept when the table is refilled (a few pages')
ROWS_KEPT = 1000


def trim_oldest(entries: dict[K, V], keep: int) -> dict[K, V]:
    """``entries`` without its oldest beyond the last ``keep``."""
    if len(entries) <= keep:
        return entries
    return dict(itertools.islice(entries.items(), len(entries) - keep, None))


class CellCache:
    """Row key -> the cells built for it and what they were built from, for the rows of the
    last few pages: a row is rebuilt only when its source changes, and a page shown again (the
    first one, after a filter or a tab) reuses its cells, which the table then draws from what
    it kept of them."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[object, list[Text]]] = {}

    def __getitem__(self, key: str) -> tuple[object, list[Text]]:
        return self._entries[key]

    def cells(self, key: str, source: object, build: Callable[[], list[Text]]) -> list[Text]:
        """The cells of row ``key``, built from ``source`` by ``build`` unless they were."""
        cached = self._entries.pop(key, None)  # (put back last: the newest)
        cells = cached[1] if cached is not None and cached[0] == source else build()
        self._entries[key] = (source, cells)
        return cells

    def trim(self) -> None:
        """Forget the oldest rows past ``ROWS_KEPT``."""
        self._entries = trim_oldest(self._entries, ROWS_KEPT)


def _replaces(shown: int, kept: int, wanted: int) -> bool:
    """Whether :meth:`KeyedTable.sync` refills the table (``shown`` rows, ``kept`` of which stay)
    to show ``wanted`` rows, rather than remove and add rows one by one: when most rows go, or
    most of those to show are new (a page shown in an empty table, back from an empty tab)."""
    gone, added = shown - kept, wanted - kept
    return (gone > 0 and gone * 2 >= shown) or added * 2 > wanted


def _same(a: object, b: Text) -> bool:
    if isinstance(a, KeyedCell):
        a = a.text
    return isinstance(a, Text) and a.plain == b.plain and a.style == b.style and a.spans == b.spans


#: how long a table's note about a key stays
_NOTE_SECONDS = 2.0
#: a key pressed again within this time of the last is taken for a key held down
_REPEAT_SECONDS = 0.1


class KeyedTable(DataTable[object]):
    """A row-cursor DataTable whose rows are identified by string keys.

    Besides the DataTable's arrows and pages, the keys operators bring from k9s and less:
    ``j``/``k``, ``g``/``G`` and Home/End (first and last row), ``ctrl+d``/``ctrl+u`` and
    ``ctrl+f``/``ctrl+b`` (a page down or up). Each can be remapped by its id.
    """

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("k", "cursor_up", "Up", show=False, id="table.up"),
        Binding("g,home", "scroll_top", "First row", show=False, id="table.first"),
        Binding("G,end", "scroll_bottom", "Last row", show=False, id="table.last"),
        Binding("ctrl+d,ctrl+f", "page_down", "Page down", show=False, id="table.page-down"),
        Binding("ctrl+u,ctrl+b", "page_up", "Page up", show=False, id="table.page-up"),
    ]

    def __init__(self, columns: Iterable[Column], **kwargs: object) -> None:
        # Textual's typed keyword parameters: **kwargs: object cannot be matched against them
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self._columns_spec = tuple(columns)
        #: the columns shown and their widths: all of them until the table knows its width
        self._plan: ColumnPlan = tuple((i, c.width) for i, c in enumerate(self._columns_spec))
        self._fits = any(c.priority or c.flex for c in self._columns_spec)
        self._shown_cells: dict[str, Sequence[Text]] = {}  #: key -> the cells last synced
        #: row key -> (how it was drawn: place, cursor, hover, widths..., its cells, the lines)
        self._drawn_rows: dict[RowKey, _DrawnRow] = {}
        #: (id of a cell's text, width, padding) -> (the text, its segments laid out so)
        self._laid_out: dict[tuple[int, int, int], tuple[Text, list[Segment]]] = {}
        self._line_style: Style | None = None  #: the widget's style during a paint
        self._layout_free = False  #: a new virtual size is being set: see _resized_inside
        #: (row and cursor styles, a text's style, post style) -> the three added
        self._combined: dict[tuple[Style, Style | None, Style], Style] = {}
        self._said: tuple[str, float] | None = None  #: the last note and when (see _say)

    def on_mount(self) -> None:
        self._add_columns()

    def _add_columns(self) -> None:
        for index, width in self._plan:
            column = self._columns_spec[index]
            self.add_column(column.label, key=column.key, width=width)

    @property
    def shown_columns(self) -> list[str]:
        """The keys of the columns on screen, in order."""
        return [self._columns_spec[index].key for index, _ in self._plan]

    def on_resize(self) -> None:
        """A table that fits its width (see :class:`Column`) lays its columns out again."""
        self._lay_out()

    def set_column_width(self, key: str, width: int) -> None:
        """Give column ``key`` another width (what it shows got wider or narrower), laying the
        columns out again if that changes them."""
        spec = list(self._columns_spec)
        index = next(i for i, column in enumerate(spec) if column.key == key)
        if spec[index].width == width:
            return
        spec[index] = dataclasses.replace(spec[index], width=width)
        self._columns_spec = tuple(spec)
        self._lay_out()

    def _lay_out(self) -> None:
        if not self._fits or not self.size.width:
            return
        plan = plan_columns(self._columns_spec, self.size.width, 2 * self.cell_padding)
        if plan == self._plan:
            return
        selected = self.selected_key
        rows = list(self._shown_cells.items())
        self._plan = plan
        with self.app.batch_update():
            self.clear(columns=True)
            self._add_columns()
            self._shown_cells = {}
            if rows:
                self._replace(rows, selected)

    def _on_screen(self, cells: Sequence[Text]) -> list[Text]:
        """The cells of the columns shown, the flexible one's text fitted to its width."""
        if not self._fits:
            return list(cells)
        spec = self._columns_spec
        out = []
        for index, width in self._plan:
            cell = cells[index]
            if width is not None and spec[index].flex:
                cell = fit_cell(cell, width)
            out.append(cell)
        return out

    # --- keys that cannot move the cursor say so ------------------------------------------------

    def _at_edge(self, forward: bool) -> bool:
        """The cursor cannot move that way (no rows, or already at that end): say so, rather
        than nothing, and skip the move."""
        if not self.row_count:
            self._say("there are no rows here")
            return True
        if self.cursor_row >= self.row_count - 1 if forward else self.cursor_row <= 0:
            self._say(f"already on the {'last' if forward else 'first'} row")
            return True
        return False

    def _say(self, text: str) -> None:
        """A short note; not again for a key held down (its repeats come a few tens of
        milliseconds apart: each one still within ``_REPEAT_SECONDS`` of the last is quiet)."""
        now = time.monotonic()
        said, self._said = self._said, (text, now)
        if said is not None and said[0] == text and now - said[1] < _REPEAT_SECONDS:
            return
        self.notify(text, title="Cursor", timeout=_NOTE_SECONDS)

    def action_cursor_down(self) -> None:
        if not self._at_edge(forward=True):
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if not self._at_edge(forward=False):
            super().action_cursor_up()

    def action_page_down(self) -> None:
        if not self._at_edge(forward=True):
            super().action_page_down()

    def action_page_up(self) -> None:
        if not self._at_edge(forward=False):
            super().action_page_up()

    def action_scroll_bottom(self) -> None:
        if not self._at_edge(forward=True):
            super().action_scroll_bottom()

    def action_scroll_top(self) -> None:
        if not self._at_edge(forward=False):
            super().action_scroll_top()

    def action_select_cursor(self) -> None:
        if not self.row_count:
            self._say("there are no rows here to open")
            return
        super().action_select_cursor()

    @property
    def selected_key(self) -> str | None:
        """The key of the row under the cursor, or None when the table is empty."""
        if not self.row_count:
            return None
        try:
            row_key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        except CellDoesNotExist:
            return None
        return row_key.value

    def row_keys(self) -> list[str]:
        """Row keys in display order."""
        return [
            self.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value or ""
            for i in range(self.row_count)
        ]

    def has_row(self, key: str) -> bool:
        return RowKey(key) in self.rows

    def key_after_sync(self, keys: Sequence[str]) -> str | None:
        """The key the cursor will be on once :meth:`sync` shows rows of ``keys`` (in order):
        the same row if it stays, else the top one if most rows go, else the same place."""
        if not keys:
            return None
        selected = self.selected_key
        wanted = set(keys)
        if selected in wanted:
            return selected
        kept = sum(1 for k in self.rows if k.value in wanted)
        if _replaces(self.row_count, kept, len(wanted)):
            return keys[0]
        return keys[min(self.cursor_row, max(kept - 1, 0))]

    def sync(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        """Make the table show exactly ``rows`` (key, cells), in that order, by key."""
        selected = self.selected_key
        wanted = dict(rows)
        gone = [k for k in self.rows if k.value not in wanted]
        if _replaces(self.row_count, self.row_count - len(gone), len(wanted)):
            self._replace(rows, selected)
            return
        with self.app.batch_update():
            for row_key in gone:
                self.remove_row(row_key)
            shown = self._shown_cells
            for key, cells in rows:
                if self.has_row(key):
                    if shown.get(key) is not cells:  # the very cells drawn last time: no change
                        self.update_row(key, self._on_screen(cells))
                else:
                    visible = self._on_screen(cells)
                    self.add_row(KeyedCell(key, visible[0]), *visible[1:], key=key)
            self._shown_cells = {key: cells for key, cells in rows}
            order = [key for key, _ in rows]
            if self.row_keys() != order:
                rank = {key: index for index, key in enumerate(order)}
                self.sort(key=lambda cells: rank[cells[0].row_key])
            if selected is not None and selected in wanted:
                index = self.get_row_index(selected)
                if index != self.cursor_row:
                    self.move_cursor(row=index)
        self._measure_now()

    def _replace(self, rows: Sequence[tuple[str, Sequence[Text]]], selected: str | None) -> None:
        """Most rows go (another page, sort or filter): refill the table rather than remove rows
        one by one (each removal renumbers every row and lays the whole screen out again).

        The rows are filled in at once, in their order, as ``add_row`` leaves each (its own
        bookkeeping, once per row, cost more than the rest of a refill). The cursor stays on
        ``selected`` if it is still shown, else goes to the top; one highlight event names the
        row under it.
        """
        first = next((i for i, (key, _) in enumerate(rows) if key == selected), 0)
        with self.app.batch_update():
            self.clear()
            columns = [column.key for column in self.ordered_columns]
            locations, data, meta, new = self._row_locations, self._data, self.rows, self._new_rows
            for index, (key, cells) in enumerate(rows):
                row_key = RowKey(key)
                if row_key in locations:
                    raise DuplicateKey(f"The row key {row_key!r} already exists.")
                locations[row_key] = index
                visible = self._on_screen(cells)
                values = (KeyedCell(key, visible[0]), *visible[1:])
                data[row_key] = dict(itertools.zip_longest(columns, values))
                meta[row_key] = Row(row_key, 1, None, False)
                new.add(row_key)
            self._shown_cells = {key: cells for key, cells in rows}
            if rows:
                self._require_update_dimensions = True
                self._update_count += 1
                self.check_idle()
            self._measure_now()
            if rows:
                # measured first: the cursor's row is scrolled into view now, not after the
                # next frame (which then needed another, for the scrollbar)
                if self.cursor_coordinate != Coordinate(first, 0):
                    self.cursor_coordinate = Coordinate(first, 0)  # its watcher highlights it
                elif self.show_cursor and self.cursor_type != "none":
                    self._highlight_cursor()

    def _measure_now(self) -> None:
        """Measure new rows and changed cells now, as the DataTable does once idle: the table
        is then drawn once, at its new size, rather than once before measuring and again
        after (a frame later, and the screen laid out again if a scrollbar came or went)."""
        if self._updated_cells:
            updated, self._updated_cells = self._updated_cells, set()
            self._update_column_widths(updated)
        if self._require_update_dimensions:
            self._require_update_dimensions = False
            new_rows, self._new_rows = self._new_rows, set()
            self._update_dimensions(new_rows)

    def _clear_caches(self) -> None:
        """Empty the render caches, unlinking their entries first.

        Textual's LRU cache keeps its entries in a ring of linked lists, which its ``clear``
        drops whole: a reference cycle holding every line, cell and row it cached, thousands of
        objects each time the table is refilled or its cursor shown again. Only the cycle
        collector can free those, in a full collection that then took 15-45 ms in the middle of
        a key. Unlinked, they are freed at once, as they go.
        """
        for name in _RENDER_CACHES:
            cache = getattr(self, name, None)
            links = getattr(cache, "_cache", None) if isinstance(cache, LRUCache) else None
            if isinstance(links, dict):
                for link in links.values():
                    if isinstance(link, list):
                        link.clear()
        self._drawn_rows = {}
        self._laid_out = {}
        self._combined = {}
        super()._clear_caches()

    def notify_style_update(self) -> None:
        """A theme, CSS or focus change: the DataTable empties its caches. What KeyedTable kept
        stays: a row is keyed by the styles it is drawn with (redrawn if they changed), a cell's
        layout by its text (new with a new theme's colours)."""
        drawn, laid, combined = self._drawn_rows, self._laid_out, self._combined
        super().notify_style_update()
        self._drawn_rows, self._laid_out, self._combined = drawn, laid, combined

    def clear(self, columns: bool = False) -> Self:
        """Empty the table, keeping how its cells were laid out and its rows drawn (each entry
        checks that its cells are the very ones shown): a page, filter or tab shown again (the
        first page, after a filter is dropped) is drawn from them, not laid out anew. The
        oldest go past ``ROWS_KEPT`` rows."""
        drawn, laid, combined = self._drawn_rows, self._laid_out, self._combined
        super().clear(columns)
        if not columns:
            self._drawn_rows = trim_oldest(drawn, ROWS_KEPT)
            self._laid_out = trim_oldest(laid, ROWS_KEPT * len(self.columns))
            self._combined = combined
        return self

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """Measure the new rows' cells by their text's width.

        Every cell here is one line of :class:`Text`, whose width is its cell length; Rich's
        measuring protocol gets the same figure but asks the OS for the terminal's size three
        times a cell, which made adding a page of rows cost more than drawing it. Anything else
        (a label, a taller row, another renderable) is measured by the DataTable itself.

        A column given its width (every column of the console's tables) is drawn that wide
        whatever its cells hold: its cells are not measured at all (500 rows of the dead-letter
        queue: 5-13 ms).
        """
        columns = self.ordered_columns
        keys = [column.key for column in columns]
        others: list[RowKey] = []
        sized = not any(column.auto_width for column in columns)
        for row_key in new_rows:
            row = self.rows.get(row_key)
            if row is None:
                continue  # removed before the table was idle
            one_line = row.height == 1 and row.label is None
            if sized and one_line and not row.auto_height:
                continue
            cells = self._data[row_key]
            widths = _widths([cells.get(key) for key in keys]) if one_line else None
            if widths is None or len(widths) != len(columns):
                others.append(row_key)
                continue
            for column, width in zip(columns, widths, strict=True):
                if width > column.content_width:
                    column.content_width = width
        before = self.virtual_size
        self._layout_free = not self.styles.auto_dimensions
        try:
            super()._update_dimensions(others)
        finally:
            self._layout_free = False
        if self.virtual_size != before and not self.styles.auto_dimensions:
            self._resized_inside()

    def _update_column_widths(self, updated_cells: set[CellKey]) -> None:
        """Measure the changed cells' new widths, for the columns sized to their content (none
        of the console's: see _update_dimensions); the table's size is checked again."""
        if any(column.auto_width for column in self.columns.values()):
            super()._update_column_widths(updated_cells)
        else:
            self._require_update_dimensions = True

    def _resized_inside(self) -> None:
        """The rows or columns changed the table's virtual size, not its size on screen (set by
        the stylesheet): what that changes is how far it scrolls and its scrollbars' thumbs,
        not the screen's layout, which a new virtual size would lay out again whole (a new
        page of another length, a column widening). Only a scrollbar coming or going, which
        takes or gives back a column or line, needs the layout."""
        shown = (self.show_vertical_scrollbar, self.show_horizontal_scrollbar)
        self._refresh_scrollbars()
        if (self.show_vertical_scrollbar, self.show_horizontal_scrollbar) != shown:
            self.refresh(layout=True)
        else:
            self._scroll_update(self.virtual_size)
            self.refresh()

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        """The layout's new size for the table. Its virtual size is the table's own (its rows
        and columns, set without a layout: see _resized_inside), not the figure the layout
        last recorded: comparing the two found a change that was none, and redrew the
        scrollbars a frame later."""
        return super()._size_updated(size, self.virtual_size, container_size, layout)

    def refresh(
        self,
        *regions: Region,
        repaint: bool = True,
        layout: bool = False,
        recompose: bool = False,
    ) -> Self:
        # (while the DataTable sets a new virtual size: see _resized_inside)
        layout = layout and not self._layout_free
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _render_line_in_row(
        self,
        row_key: RowKey,
        line_no: int,
        base_style: Style,
        cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> _RowLines:
        """A body row of one-line cells, drawn as the DataTable draws it, in a fraction of the
        time: each cell's text is laid out once (whatever the cursor does after), and a row is
        drawn again only when its cells, its place, the cursor or the hover on it change; the
        stock table redraws every visible row on each cursor move and renders each cell through
        layers of renderables. Anything else (the header, labels, fixed columns, taller rows,
        another cursor type) is drawn by the DataTable itself."""
        row = self.rows.get(row_key)
        if (
            line_no
            or row is None
            or row.height != 1
            or row.auto_height
            or self.cursor_type != "row"
            or self.fixed_columns
            or (self._labelled_row_exists and self.show_row_labels)
        ):
            return super()._render_line_in_row(
                row_key, line_no, base_style, cursor_location, hover_location
            )
        row_index = self._row_locations.get(row_key)
        values = self._data.get(row_key)
        if row_index is None or values is None:
            return super()._render_line_in_row(
                row_key, line_no, base_style, cursor_location, hover_location
            )
        columns = self.ordered_columns
        cells = tuple(values.get(column.key) for column in columns)
        widths = tuple(column.get_render_width(self) for column in columns)
        cursor = cursor_location.row == row_index
        hover = hover_location.row == row_index
        row_style = self._get_row_style(row_index, base_style)
        component_style, post_style = self._body_styles(
            hover,
            cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        extend_style, _ = self._body_styles(hover, cursor, False, False)
        # what the row is drawn with, as styles rather than the states they come from (focus,
        # cursor, hover, theme): a change redraws the rows whose colours it changed, only
        key = (
            row_index,
            row_style,
            component_style,
            post_style,
            extend_style,
            widths,
            self.size.width,
        )
        drawn = self._drawn_rows.get(row_key)
        if drawn is not None and drawn[0] == key and all(map(operator.is_, drawn[1], cells)):
            return drawn[2]
        pad = self.cell_padding
        # the row's styles, the text's and the cursor's, combined once per text style and
        # state for the whole table; the cell's place (its meta, read by mouse events) last:
        # the same style as the DataTable's (row + meta + cursor + text + post), in a third of
        # the additions, as meta sets no attribute
        prefix = row_style + component_style
        combined = self._combined
        kept = True
        scrollable: list[list[Segment]] = []
        for index, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            text = cell.text if isinstance(cell, KeyedCell) else cell
            inner = self._cell_line(text, width, pad) if isinstance(text, Text) else None
            if inner is None:  # not one line of text: the DataTable draws the cell
                line = self._render_cell(row_index, index, row_style, width, cursor, hover)[0]
                kept = False  # (drawn from its caches, keyed by what it depends on)
            else:
                meta = Style.from_meta({"row": row_index, "column": index})
                line = []
                for segment_text, segment_style, _ in inner:
                    style = combined.get((prefix, segment_style, post_style))
                    if style is None:
                        style = prefix + segment_style + post_style
                        combined[(prefix, segment_style, post_style)] = style
                    line.append(_Segment(segment_text, style + meta))
            scrollable.append(line)
        # the rest of the line, to the widget's edge, in the row's colours (as the DataTable does)
        remaining = max(0, self.size.width - sum(widths) - self._row_label_column_width)
        extend_style = row_style + extend_style
        extend_style += Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        scrollable.append([Segment(" " * remaining, extend_style)])
        result: _RowLines = ([], scrollable)
        if kept:
            self._drawn_rows[row_key] = (key, cells, result)
        return result

    def _body_styles(
        self, hover: bool, cursor: bool, css_foreground: bool, css_background: bool
    ) -> tuple[Style, Style]:
        """The cursor's and hover's styles over a body cell, and the style laid over its text."""
        return self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            css_foreground,
            css_background,
        )

    def _cell_line(self, text: Text, width: int, pad: int) -> list[Segment] | None:
        """``text`` laid out in a cell ``width`` wide with ``pad`` blanks each side, before the
        table's styles, if it fits on one line as it is (None otherwise: wrapped, cropped,
        tabbed or centred text is left to the DataTable).

        These are the segments Rich's wrapping gives, without wrapping: the text's own style
        covers it (Rich's render leaves that to the wrapping when there are no spans), the
        blanks making up the width are unstyled after it by default and in its style when it
        is justified (Rich pads the text itself then). Runs of one style are merged: a plain
        cell is one segment, to which the row's styles are added once.
        """
        inner = width - 2 * pad
        laid = self._laid_out.get((id(text), width, pad))
        if laid is not None and laid[0] is text:
            return laid[1]
        plain = text.plain
        fill = inner - cell_len(plain)
        justify = text.justify
        if (
            not plain
            or fill < 0
            or inner < 1
            or "\n" in plain
            or "\t" in plain
            or justify not in (None, "default", "left", "right")
            or (justify == "right" and plain != plain.rstrip())  # Rich strips it first
        ):
            return None
        base = self.app.console.get_style(text.style, default=_NULL) if text.style else _NULL
        body = list(text.render(self.app.console)) if text.spans else [_Segment(plain, base)]
        if justify == "right":
            segments = [_Segment(" " * fill, base), *body]
        else:
            segments = [*body, _Segment(" " * fill, base if justify == "left" else _NULL)]
        if pad:
            segments = [_Segment(" " * pad, _NULL), *segments, _Segment(" " * pad, _NULL)]
        merged = list(
            Segment.simplify(
                _Segment(t, _NULL if s is None else s, c) for t, s, c in segments if t or c
            )
        )
        self._laid_out[(id(text), width, pad)] = (text, merged)
        return merged

    def render_lines(self, crop: Region) -> list[Strip]:
        self._line_style = self.rich_style  # once a paint, not once a line
        try:
            return super().render_lines(crop)
        finally:
            self._line_style = None

    def render_line(self, y: int) -> Strip:
        """The DataTable's line ``y``, with the widget's style worked out once per paint (it
        walks every ancestor's styles; the stock table asks for it on each line)."""
        base_style = self._line_style
        if base_style is None or self.fixed_rows:
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        if y >= (self.header_height if self.show_header else 0):
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + self.size.width, base_style)

    def update_row(self, key: str, cells: Sequence[Text]) -> None:
        """Update the cells of one row whose text or style changed; leave the others alone."""
        current = self.get_row(key)
        for index, (old, new) in enumerate(zip(current, cells, strict=True)):
            if _same(old, new):
                continue
            column = self.ordered_columns[index]
            value: object = KeyedCell(key, new) if index == 0 else new
            self.update_cell(key, column.key, value, update_width=column.auto_width)
