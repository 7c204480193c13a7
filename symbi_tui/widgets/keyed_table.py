"""A DataTable kept in step with a query result by row key.

Live panes change a few cells a second. Clearing and refilling a table would reset the cursor and
scroll position and repaint everything; :meth:`KeyedTable.sync` instead removes rows that went away,
updates only the cells whose text changed, adds new rows and restores the wanted order, keeping the
cursor on the same row key (the way dolphie keeps its live tables). Only when most rows go (another
page, sort or filter) is the table refilled, which is then far cheaper than removing them.
"""

from __future__ import annotations

__all__ = ["Column", "KeyedCell", "KeyedTable"]

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowKey


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int | None = None  #: None: sized to content


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


def _replaces(gone: int, shown: int) -> bool:
    """Whether :meth:`KeyedTable.sync` refills the table rather than remove ``gone`` rows."""
    return gone > 0 and gone * 2 >= shown


def _same(a: object, b: Text) -> bool:
    if isinstance(a, KeyedCell):
        a = a.text
    return isinstance(a, Text) and a.plain == b.plain and a.style == b.style and a.spans == b.spans


class KeyedTable(DataTable[object]):
    """A row-cursor DataTable whose rows are identified by string keys."""

    def __init__(self, columns: Iterable[Column], **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self._columns_spec = tuple(columns)
        self._shown_cells: dict[str, Sequence[Text]] = {}  #: key -> the cells last synced

    def on_mount(self) -> None:
        for column in self._columns_spec:
            self.add_column(column.label, key=column.key, width=column.width)

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
        if _replaces(self.row_count - kept, self.row_count):
            return keys[0]
        return keys[min(self.cursor_row, max(kept - 1, 0))]

    def sync(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        """Make the table show exactly ``rows`` (key, cells), in that order, by key."""
        selected = self.selected_key
        wanted = dict(rows)
        gone = [k for k in self.rows if k.value not in wanted]
        if _replaces(len(gone), self.row_count):
            self._replace(rows, selected)
            return
        with self.app.batch_update():
            for row_key in gone:
                self.remove_row(row_key)
            shown = self._shown_cells
            for key, cells in rows:
                if self.has_row(key):
                    if shown.get(key) is not cells:  # the very cells drawn last time: no change
                        self.update_row(key, cells)
                else:
                    self.add_row(KeyedCell(key, cells[0]), *cells[1:], key=key)
            self._shown_cells = {key: cells for key, cells in rows}
            order = [key for key, _ in rows]
            if self.row_keys() != order:
                rank = {key: index for index, key in enumerate(order)}
                self.sort(key=lambda cells: rank[cells[0].row_key])
            if selected is not None and selected in wanted:
                index = self.get_row_index(selected)
                if index != self.cursor_row:
                    self.move_cursor(row=index)

    def _replace(self, rows: Sequence[tuple[str, Sequence[Text]]], selected: str | None) -> None:
        """Most rows go (another page, sort or filter): refill the table rather than remove rows
        one by one (each removal renumbers every row and lays the whole screen out again).

        The cursor stays on ``selected`` if it is still shown, else goes to the top. The row under
        the cursor is added first, so the one highlight event the first row raises names it.
        """
        index = next((i for i, (key, _) in enumerate(rows) if key == selected), None)
        first = 0 if index is None else index
        with self.app.batch_update():
            self.clear()
            for i in (first, *range(first), *range(first + 1, len(rows))) if rows else ():
                key, cells = rows[i]
                self.add_row(KeyedCell(key, cells[0]), *cells[1:], key=key)
            self._shown_cells = {key: cells for key, cells in rows}
            if first:
                rank = {key: i for i, (key, _) in enumerate(rows)}
                self.sort(key=lambda cells: rank[cells[0].row_key])
                self.move_cursor(row=first)

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
        super()._clear_caches()

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """Measure the new rows' cells by their text's width.

        Every cell here is one line of :class:`Text`, whose width is its cell length; Rich's
        measuring protocol gets the same figure but asks the OS for the terminal's size three
        times a cell, which made adding a page of rows cost more than drawing it. Anything else
        (a label, a taller row, another renderable) is measured by the DataTable itself.
        """
        columns = self.ordered_columns
        others: list[RowKey] = []
        for row_key in new_rows:
            row = self.rows.get(row_key)
            if row is None:
                continue  # removed before the table was idle
            one_line = row.height == 1 and row.label is None
            widths = _widths(self.get_row(row_key)) if one_line else None
            if widths is None or len(widths) != len(columns):
                others.append(row_key)
                continue
            for column, width in zip(columns, widths, strict=True):
                if width > column.content_width:
                    column.content_width = width
        super()._update_dimensions(others)

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        """A body cell of one line of text, drawn as the DataTable draws it (the text padded,
        between the row's and the cursor's styles) without the layers of renderables it wraps
        the text in: a third of the time of a page's repaint went into them."""
        pad = self.cell_padding
        if (
            row_index < 0
            or column_index < 0
            or row_index < self.fixed_rows
            or column_index < self.fixed_columns
            or width - 2 * pad < 1
        ):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        row = self.rows.get(row_key) if row_key is not None else None
        if row is None or row.height != 1 or row.auto_height:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        column_key = self._column_locations.get_key(column_index)
        key = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cache = self._cell_render_cache
        if key in cache:
            return cache[key]
        cell = self._get_row_renderables(row_index)[1][column_index]
        text = cell.text if isinstance(cell, KeyedCell) else cell
        if not isinstance(text, Text) or "\n" in text.plain:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index})
        options = self.app.console_options.update_dimensions(width - 2 * pad, 1)
        inner = Segment.split_and_crop_lines(
            text.__rich_console__(self.app.console, options.update(no_wrap=True)),
            width - 2 * pad,
            include_new_lines=False,
        )
        margin = Segment(" " * pad, Style.null())
        line = [margin, *next(inner, []), margin] if pad else next(inner, [])
        lines = [list(Segment.apply_style(line, pre_style + component_style, post_style))]
        cache[key] = lines
        return lines

    def update_row(self, key: str, cells: Sequence[Text]) -> None:
        """Update the cells of one row whose text or style changed; leave the others alone."""
        current = self.get_row(key)
        for index, (old, new) in enumerate(zip(current, cells, strict=True)):
            if _same(old, new):
                continue
            column = self.ordered_columns[index]
            value: object = KeyedCell(key, new) if index == 0 else new
            self.update_cell(key, column.key, value, update_width=column.auto_width)
