"""A DataTable kept in step with a query result by row key, never cleared and refilled.

Live panes change a few cells a second. Clearing and refilling a table would reset the cursor and
scroll position and repaint everything; :meth:`KeyedTable.sync` instead removes rows that went away,
updates only the cells whose text changed, adds new rows and restores the wanted order, keeping the
cursor on the same row key (the way dolphie keeps its live tables).
"""

from __future__ import annotations

__all__ = ["Column", "KeyedCell", "KeyedTable"]

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text
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

    def sync(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        """Make the table show exactly ``rows`` (key, cells), in that order, by key."""
        selected = self.selected_key
        wanted = dict(rows)
        with self.app.batch_update():
            for row_key in [k for k in self.rows if k.value not in wanted]:
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

    def update_row(self, key: str, cells: Sequence[Text]) -> None:
        """Update the cells of one row whose text or style changed; leave the others alone."""
        current = self.get_row(key)
        for index, (old, new) in enumerate(zip(current, cells, strict=True)):
            if _same(old, new):
                continue
            column = self.ordered_columns[index]
            value: object = KeyedCell(key, new) if index == 0 else new
            self.update_cell(key, column.key, value, update_width=column.auto_width)
