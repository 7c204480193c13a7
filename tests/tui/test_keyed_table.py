"""KeyedTable.sync: rows follow a query result by key, and the cursor follows its row."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from symbi_tui.widgets.keyed_table import Column, KeyedTable

from .conftest import table_rows


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield KeyedTable([Column("name", "Name"), Column("state", "State", 10)])


def rows(*pairs: tuple[str, str]) -> list[tuple[str, list[Text]]]:
    return [(key, [Text(key), Text(state)]) for key, state in pairs]


async def test_sync_updates_adds_removes_and_reorders_by_key() -> None:
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(KeyedTable)
        table.sync(rows(("a", "new"), ("b", "new"), ("c", "new")))
        table.move_cursor(row=1)  # on "b"
        await pilot.pause()
        updates = table._update_count

        table.sync(rows(("a", "new"), ("b", "new"), ("c", "new")))
        assert table._update_count == updates  # nothing changed, nothing touched

        table.sync(rows(("c", "done"), ("b", "new"), ("d", "new")))
        await pilot.pause()
        assert table_rows(table) == {
            "c": ["c", "done"],
            "b": ["b", "new"],
            "d": ["d", "new"],
        }
        assert table.selected_key == "b"  # the cursor stayed on its row, not its index

        table.sync(rows(("d", "new"), ("c", "done")))
        await pilot.pause()
        assert table.row_keys() == ["d", "c"]
        assert table.selected_key in {"d", "c"}

        table.sync([])
        assert table.row_count == 0 and table.selected_key is None
