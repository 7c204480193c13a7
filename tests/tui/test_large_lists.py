"""What keeps the jobs pane quick over a large store, and still right.

The SQLite store counts a query's total once per commit, finds a few matches before sorting them
rather than walking an order index past every job, and filters with a literal, case-folding LIKE;
the tables refill rather than remove most of their rows and measure cells by their text; the
footer dims its keys in place; the console fetches the runs of the job a new page lands on with
the page, in one refresh.
"""

from __future__ import annotations

import dataclasses
import gc
import random
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable
from textual.widgets._footer import FooterKey

from scheduler_core.model import JobDefinition, JobRun, JobStatus, new_id
from scheduler_core.service import SchedulerService
from scheduler_core.store import SqliteJobStore
from scheduler_core.store.base import JobQuery
from symbi_tui.app import SymbiApp
from symbi_tui.screens.main import MainScreen
from symbi_tui.widgets.keyed_table import Column, KeyedTable
from symbi_tui.widgets.steady_footer import SteadyFooter, _in_order, _merge

from .conftest import settle, table_rows, until
from .test_main_screen import SIZE, jobs_table, loaded, names, row_of

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ORDERS = ("name", "next_run_at", "status", "agent", "last_run_at", "failure_count", "created_at")


def job(name: str, **kw: Any) -> JobDefinition:
    fields: dict[str, Any] = {
        "agent": "bot",
        "next_run_at": T0,
        "created_at": T0 - timedelta(hours=1),
        "updated_at": T0 - timedelta(hours=1),
    }
    fields.update(kw)
    return JobDefinition(id=new_id(), name=name, cron="*/5 * * * *", source="test", **fields)


@pytest.fixture(params=["file", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqliteJobStore]:
    """A file store (a reader beside the writer) and an in-memory one (one connection)."""
    store = SqliteJobStore(str(tmp_path / "s.db") if request.param == "file" else ":memory:")
    await store.open()
    yield store
    await store.close()


async def all_names(store: SqliteJobStore, **query: Any) -> list[str]:
    page = await store.list_jobs(JobQuery(limit=10_000, **query))
    assert page.total == len(page.jobs)
    return [j.name for j in page.jobs]


# --- the store -----------------------------------------------------------------------------------


async def test_a_few_matches_sorted_agree_with_the_ordered_walk(store: SqliteJobStore) -> None:
    """The same order whichever way a page is found, NULLs included, both directions."""
    statuses = [JobStatus.ACTIVE, JobStatus.PAUSED, JobStatus.COMPLETED]
    jobs = [
        job(
            f"job-{i:02d}",
            agent=("alpha", "beta", "gamma")[i % 3],
            status=statuses[i % 3],
            next_run_at=None if i % 4 == 0 else T0 + timedelta(minutes=i % 5),
            last_run_at=None if i % 3 == 0 else T0 - timedelta(minutes=i % 7),
            failure_count=i % 4,
        )
        for i in range(30)
    ]
    await store.insert_jobs(jobs, [])
    by_name = {j.name: j for j in jobs}
    for order in ORDERS:
        for descending in (False, True):
            everything = await all_names(store, order=order, descending=descending)
            assert sorted(everything) == sorted(by_name)
            for status in statuses:  # a status: a few matches, found then sorted
                wanted = [n for n in everything if by_name[n].status is status]
                assert (
                    await all_names(store, order=order, descending=descending, status=status)
                    == wanted
                ), (order, descending, status)
            wanted = [n for n in everything if by_name[n].agent == "beta"]
            assert await all_names(store, order=order, descending=descending, text="ETA") == wanted
            # a page of them
            page = await store.list_jobs(
                JobQuery(order=order, descending=descending, text="a", limit=4, offset=3)
            )
            assert [j.name for j in page.jobs] == everything[3:7] and page.total == 30
    up = await all_names(store, order="next_run_at")
    down = await all_names(store, order="next_run_at", descending=True)
    assert by_name[up[-1]].next_run_at is None and down == up[::-1]  # NULLs last going up


async def test_many_matches_are_counted_and_walked_in_order(store: SqliteJobStore) -> None:
    await store.insert_jobs([job(f"bulk-{i:04d}") for i in range(2100)], [])
    page = await store.list_jobs(JobQuery(text="bulk", limit=5, offset=2000))
    assert page.total == 2100
    assert [j.name for j in page.jobs] == [f"bulk-{i:04d}" for i in range(2000, 2005)]
    page = await store.list_jobs(JobQuery(text="BULK-0", descending=True, limit=3))
    assert page.total == 1000
    assert [j.name for j in page.jobs] == ["bulk-0999", "bulk-0998", "bulk-0997"]
    page = await store.list_jobs(JobQuery(text="bulk", limit=5, offset=2100))
    assert page.jobs == [] and page.total == 2100  # past the end: no rows, the total still


async def test_totals_follow_every_commit(store: SqliteJobStore) -> None:
    """A total is remembered per query until the store changes, by whatever connection."""
    await store.insert_jobs([job(f"a-{i}") for i in range(3)], [])
    for offset in (0, 1, 0):  # paging over a remembered total
        assert (await store.list_jobs(JobQuery(text="a-", offset=offset))).total == 3
    assert (await store.count_jobs())[JobStatus.ACTIVE] == 3
    extra = job("a-3")
    await store.insert_jobs([extra], [])
    assert (await store.list_jobs(JobQuery(text="a-", offset=1))).total == 4
    assert (await store.list_jobs(JobQuery())).total == 4
    assert (await store.count_jobs())[JobStatus.ACTIVE] == 4
    await store.update_job(dataclasses.replace(extra, status=JobStatus.PAUSED), [])
    assert (await store.list_jobs(JobQuery(status=JobStatus.PAUSED))).total == 1
    assert (await store.list_jobs(JobQuery(status=JobStatus.ACTIVE))).total == 3
    assert (await store.count_jobs())[JobStatus.PAUSED] == 1
    await store.delete_job(extra.id, [])
    assert (await store.list_jobs(JobQuery(status=JobStatus.PAUSED))).total == 0
    assert (await store.list_jobs(JobQuery(text="a-"))).total == 3


async def test_the_text_filter_is_literal_and_folds_ascii_case(store: SqliteJobStore) -> None:
    await store.insert_jobs(
        [job("100%_done"), job("100x-done"), job("back\\slash"), job("Mixed", agent="Crawler")],
        [],
    )
    assert await all_names(store, text="0%_") == ["100%_done"]
    assert await all_names(store, text="_") == ["100%_done"]
    assert await all_names(store, text="%") == ["100%_done"]
    assert await all_names(store, text="\\s") == ["back\\slash"]
    assert await all_names(store, text="mIXED") == ["Mixed"]
    assert await all_names(store, text="crawl") == ["Mixed"]  # the agent too


# --- the tables ----------------------------------------------------------------------------------


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.highlighted: list[str | None] = []

    def compose(self) -> ComposeResult:
        yield KeyedTable([Column("name", "Name"), Column("state", "State", 10)])
        yield DataTable(id="plain")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if isinstance(event.data_table, KeyedTable):
            self.highlighted.append(event.row_key.value)


def rows(keys: Sequence[str], state: str = "new") -> list[tuple[str, list[Text]]]:
    return [(key, [Text(key), Text(state)]) for key in keys]


async def test_replacing_most_rows_keeps_the_cursor_on_its_row_or_goes_to_the_top() -> None:
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(KeyedTable)

        async def sync(keys: str, state: str = "new") -> None:
            """Show ``keys``; the cursor lands where key_after_sync said it would."""
            lands_on = table.key_after_sync(list(keys))
            table.sync(rows(keys, state))
            await pilot.pause()
            assert table.row_keys() == list(keys)
            assert table.selected_key == lands_on

        await sync("abcdefghij")
        table.move_cursor(row=2)
        await pilot.pause()
        app.highlighted.clear()

        await sync("xyzcw", "other")  # most rows go; c stays, fourth now
        assert table_rows(table)["c"] == ["c", "other"]
        assert table.selected_key == "c"
        assert app.highlighted and set(app.highlighted) == {"c"}  # never another row

        app.highlighted.clear()
        await sync("pqrs")  # c is gone: a new list is shown from its top
        assert table.selected_key == "p" and app.highlighted == ["p"]

        await sync("pqrst")  # one more row: added in place, the cursor stays
        table.move_cursor(row=2)
        await pilot.pause()
        await sync("pqst")  # one of five goes (the cursor's): removed in place, the cursor stays
        assert table.selected_key == "s"
        await sync("")
        assert table.selected_key is None

        added: list[str] = []
        add_row = table.add_row

        def counted(*cells: Any, **options: Any) -> Any:
            added.append(options["key"])
            return add_row(*cells, **options)

        table.add_row = counted  # type: ignore[method-assign]
        await sync("abcdef")  # rows shown in an empty table (back from an empty tab): one fill
        assert table.selected_key == "a" and added == []
        table.move_cursor(row=1)
        await pilot.pause()
        await sync("abcdefg")  # one more row: added in place
        assert added == ["g"] and table.selected_key == "b"
        await sync("abuvwxyz")  # most rows to show are new: one fill, the cursor on its row
        assert added == ["g"] and table.selected_key == "b"


async def test_cells_are_measured_as_the_datatable_would() -> None:
    texts = [
        ["job-1", "ok"],
        ["✓ tagged and rather long", "⚠ 失敗"],
        ["", "multi\nline"],  # a taller cell is left to the DataTable
        ["x", "y"],
    ]
    app = TableApp()
    async with app.run_test() as pilot:
        keyed = app.query_one(KeyedTable)
        plain = app.query_one("#plain", DataTable)
        plain.add_columns("Name", "State")
        for i, cells in enumerate(texts):
            keyed.sync([*rows(["k"]), (str(i), [Text(c) for c in cells])])
            plain.add_row(*(Text(c) for c in cells))
            await pilot.pause()
        assert [c.content_width for c in keyed.ordered_columns] == [
            c.content_width for c in plain.ordered_columns
        ]


#: cells of every kind the panes show, and some they do not
DRAWN = [
    Text("plain"),
    Text("right", justify="right"),
    Text("right, styled", justify="right", style="bold"),
    Text("centre", justify="center"),
    Text("left", justify="left"),
    Text.assemble(("✔ ok", "green"), " ", ("1.2s", "dim")),
    Text.assemble(("✔ ok", "green"), " ", ("1.2s", "dim"), style="italic"),
    Text("far too long for the column", overflow="ellipsis"),
    Text("far too long, folded by default"),
    Text("far too long, and styled", style="red on blue"),
    Text("wide 失敗 失敗失敗失敗"),
    Text("失敗"),
    Text("tab\there"),
    Text("trailing  ", justify="right"),
    Text(""),
    Text("styled", style="bold red"),
    Text("two\nlines"),
]


def random_texts(count: int, seed: int = 11) -> list[Text]:
    """Texts of random words, styles, spans, justification and overflow."""
    rng = random.Random(seed)
    words = ["ok", "失敗", "job-01", "  ", "x" * 30, "é", "-"]
    texts = []
    for _ in range(count):
        plain = "".join(rng.choice(words) for _ in range(rng.randint(0, 4)))
        text = Text(
            plain,
            style=rng.choice(["", "bold", "red on blue"]),
            justify=rng.choice([None, "default", "left", "right", "center", "full"]),
            overflow=rng.choice([None, "fold", "crop", "ellipsis"]),
        )
        for _ in range(rng.randint(0, 2)):
            start = rng.randint(0, len(plain))
            text.stylize(
                rng.choice(["green", "dim", "italic"]), start, rng.randint(start, len(plain))
            )
        texts.append(text)
    return texts


def line_of(pair: tuple[list[list[Any]], list[list[Any]]]) -> list[tuple[str, Any]]:
    """A row's line as (text, style) runs: the segments a terminal gets, however split."""
    fixed, scrollable = pair
    runs: list[tuple[str, Any]] = []
    for text, style, _ in (s for cell in [*fixed, *scrollable] for s in cell):
        if runs and runs[-1][1] == style:
            runs[-1] = (runs[-1][0] + text, style)
        elif text:
            runs.append((text, style))
    return runs


async def test_rows_are_drawn_as_the_datatable_would() -> None:
    """KeyedTable draws a row of one-line cells itself, once per cell and cursor state; the
    line must be the DataTable's own, cell for cell and style for style, whatever the text,
    its justification, width or styles, under the cursor, the hover or neither."""
    from textual.coordinate import Coordinate

    app = TableApp()
    drawn = [*DRAWN, *random_texts(150)]
    async with app.run_test() as pilot:
        table = app.query_one(KeyedTable)
        table.sync([(str(i), [Text(f"row {i}"), text]) for i, text in enumerate(drawn)])
        table.move_cursor(row=3)
        await pilot.pause()
        style = table.rich_style
        for show_cursor in (True, False):
            table.show_cursor = show_cursor
            await pilot.pause()
            for row, text in enumerate(drawn):
                key = table._row_locations.get_key(row)
                for cursor, hover in ((0, 0), (row, 0), (0, row), (row, row)):
                    where = (Coordinate(cursor, 0), Coordinate(hover, 1))
                    table._clear_caches()
                    ours = table._render_line_in_row(key, 0, style, *where)
                    table._clear_caches()
                    theirs = DataTable._render_line_in_row(table, key, 0, style, *where)
                    assert line_of(ours) == line_of(theirs), (text, cursor, hover, show_cursor)
                    # and drawn again from what was laid out (the cursor moved back and forth)
                    again = table._render_line_in_row(key, 0, style, *where)
                    assert line_of(again) == line_of(theirs)


async def test_a_row_is_drawn_again_only_when_it_changes() -> None:
    """Moving the cursor redraws the two rows it leaves and enters, not every visible row;
    new cells, a new place or new widths redraw a row."""
    from textual.coordinate import Coordinate

    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(KeyedTable)
        table.sync(rows([f"k{i}" for i in range(10)]))
        await pilot.pause()
        style = table.rich_style

        def draw(cursor: int) -> dict[str, object]:
            return {
                key: table._render_line_in_row(
                    table._row_locations.get_key(i),
                    0,
                    style,
                    Coordinate(cursor, 0),
                    Coordinate(0, 0),
                )
                for i, key in enumerate(table.row_keys())
            }

        first = draw(2)
        second = draw(3)
        redrawn = {key for key in first if first[key] is not second[key]}
        assert redrawn == {"k2", "k3"}
        # the focus leaves the table (its colours change with it): each line is the DataTable's
        table.focus()
        await pilot.pause()
        app.query_one("#plain", DataTable).focus()
        await pilot.pause()
        assert not table.has_focus
        style = table.rich_style
        blurred = draw(3)
        for i, key in enumerate(table.row_keys()):
            where = (table._row_locations.get_key(i), 0, style, Coordinate(3, 0), Coordinate(0, 0))
            table._line_cache.clear()
            theirs = DataTable._render_line_in_row(table, *where)
            assert line_of(blurred[key]) == line_of(theirs)  # type: ignore[arg-type]
        # another theme: every row in its colours
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause()
        style = table.rich_style
        light = draw(3)
        assert all(light[key] is not blurred[key] for key in light)
        for i, key in enumerate(table.row_keys()):
            where = (table._row_locations.get_key(i), 0, style, Coordinate(3, 0), Coordinate(0, 0))
            theirs = DataTable._render_line_in_row(table, *where)
            assert line_of(light[key]) == line_of(theirs)  # type: ignore[arg-type]
        table.sync([("k5", [Text("k5"), Text("changed")]), *rows(["k6", "k7"])])
        await pilot.pause()
        assert line_of(draw(0)["k5"])[0][0].strip().startswith("k5")


# --- the console ---------------------------------------------------------------------------------


async def test_the_footer_dims_its_keys_in_place(make_app: Callable[..., SymbiApp]) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        footer = app.screen.query_one(SteadyFooter)

        def keys() -> dict[str, FooterKey]:
            return {k.key: k for k in footer.query(FooterKey)}

        await until(lambda: footer._built is not None and "p" in keys())
        await pilot.pause()
        pause_key = keys()["p"]
        assert not pause_key.has_class("-disabled")
        await pilot.press("3")  # paused: no job, nothing to pause
        await until(lambda: pause_key.has_class("-disabled"))
        assert keys()["p"] is pause_key  # the same widget, dimmed
        await pilot.press("1")
        await until(lambda: not pause_key.has_class("-disabled"))
        assert keys()["p"] is pause_key
        await pilot.press("slash")  # other keys apply in the prompt: the footer is rebuilt
        await until(lambda: "escape" in keys())


def shown_keys(footer: SteadyFooter) -> list[tuple[str, str, bool]]:
    """(key, description, dimmed) of each key the footer shows, in its order."""
    return [
        (k.key, k.description, k.has_class("-disabled"))
        for k in footer.query(FooterKey)
        if k.display
    ]


def stock_keys(footer: SteadyFooter) -> list[tuple[str, str, bool]]:
    """What Textual's own footer shows for the same bindings (no groups here)."""
    screen = footer.screen
    shown: dict[str, tuple[str, str, bool]] = {}
    for _, binding, enabled, _ in screen.active_bindings.values():
        if binding.show:
            shown.setdefault(binding.action, (binding.key, binding.description, not enabled))
    palette = screen.active_bindings.get(footer.app.COMMAND_PALETTE_BINDING)
    keys = list(shown.values())
    if palette is not None and footer.show_command_palette:
        keys.append((palette.binding.key, palette.binding.description, not palette.enabled))
    return keys


async def test_the_footer_keeps_its_keys_when_the_filter_opens_and_closes(
    make_app: Callable[..., SymbiApp],
) -> None:
    """``/`` shows other keys: the first time the footer is rebuilt (the prompt's Escape is new),
    after that the same widgets are shown and hidden, in the stock footer's order."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        footer = app.screen.query_one(SteadyFooter)
        await until(lambda: footer._built is not None and "p" in footer._keys_shown())
        await pilot.pause()
        table_keys = shown_keys(footer)
        assert table_keys == stock_keys(footer)
        assert [k for k, _, _ in table_keys][:3] == ["p", "r", "ctrl+r"]

        await pilot.press("slash")  # Escape was never shown: rebuilt once, the table's kept
        await until(lambda: "escape" in footer._keys_shown())
        await pilot.pause()
        prompt_keys = shown_keys(footer)
        assert prompt_keys == stock_keys(footer)
        assert "p" not in [k for k, _, _ in prompt_keys]
        widgets = list(footer.query(FooterKey))
        assert {k.key for k in widgets} >= {k for k, _, _ in table_keys + prompt_keys}

        for _ in range(2):  # back and forth: the very same widgets, shown and hidden
            await pilot.press("escape")
            await until(lambda: "escape" not in footer._keys_shown())
            await pilot.pause()
            assert shown_keys(footer) == table_keys == stock_keys(footer)
            assert list(footer.query(FooterKey)) == widgets
            await pilot.press("slash")
            await until(lambda: "escape" in footer._keys_shown())
            await pilot.pause()
            assert shown_keys(footer) == prompt_keys == stock_keys(footer)
            assert list(footer.query(FooterKey)) == widgets
        hidden = next(k for k in widgets if k.key == "p")
        assert not hidden.display
        assert app.screen.get_widget_at(1, SIZE[1] - 1)[0] is not hidden


async def test_the_footer_is_rebuilt_for_a_key_it_never_showed(
    make_app: Callable[..., SymbiApp],
) -> None:
    """A remapped key ([tui.keymap]) is a key never shown: the footer is rebuilt and shows it,
    in the same place."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        footer = app.screen.query_one(SteadyFooter)
        await until(lambda: footer._built is not None and "s" in footer._keys_shown())
        await pilot.pause()
        before = list(footer.query(FooterKey))
        order = [k for k, _, _ in shown_keys(footer)]
        app.update_keymap({"jobs-sort": "o"})
        await until(lambda: "o" in footer._keys_shown())
        await pilot.pause()
        assert [k for k, _, _ in shown_keys(footer)] == ["o" if k == "s" else k for k in order]
        assert shown_keys(footer) == stock_keys(footer)
        assert not set(footer.query(FooterKey)) & set(before)  # rebuilt
        sort_key = next(k for k in footer.query(FooterKey) if k.key == "o")
        assert sort_key.display and sort_key.key_display == app.get_key_display(
            next(b.binding for b in app.screen.active_bindings.values() if b.binding.key == "o")
        )
        await pilot.click(sort_key)  # a click sends the remapped key
        await until(lambda: cast_main(app).sort_order == "next_run_at")


def cast_main(app: SymbiApp) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen)
    return screen


def test_the_footer_keeps_old_keys_in_their_place() -> None:
    def key(name: str, palette: bool = False) -> tuple[str, str, str, str, str, bool]:
        return (name, name, name, name, "", palette)

    a, b, c, d, p = key("a"), key("b"), key("c"), key("d"), key("ctrl+p", True)
    assert _merge([a, b, c, p], [a, d, p]) == [a, b, c, d, p]
    assert _merge([a, b, c, p], [c, p]) == [a, b, c, p]
    assert _merge([b, c], [d, a]) == [b, c, d, a]
    assert _in_order([a, c, p], [a, b, c, p])
    assert not _in_order([c, a], [a, b, c, p])
    assert not _in_order([d], [a, b, c])


async def test_a_refilled_table_leaves_no_cycles_to_collect() -> None:
    """Textual's LRU cache drops its ring of entries whole on clear: a cycle only the (slow)
    full collection frees. The table unlinks them first, so they go at once."""
    rows = [(f"k{i:03}", [Text(f"name-{i:03}"), Text("x")]) for i in range(60)]

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield KeyedTable([Column("name", "Name"), Column("other", "Other")])

    app = Host()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(KeyedTable)
        table.sync(rows)
        await pilot.pause()
        await table.wait_for_refresh()
        assert len(table._line_cache) and len(table._cell_render_cache)
        links = list(table._line_cache._cache.values())
        gc.collect()
        other = [(f"n{i:03}", [Text(f"other-{i:03}"), Text("y")]) for i in range(60)]
        table.sync(other)  # another page: the table is refilled, its caches emptied
        assert all(link == [] for link in links)
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            rings = [  # an LRU cache's links: [previous, next, key, value]
                o
                for o in gc.garbage
                if isinstance(o, list) and len(o) == 4 and all(isinstance(x, list) for x in o[:2])
            ]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        assert not rings
        await pilot.pause()
        assert table.row_keys() == [key for key, _ in other]


async def add_bulk(service: SchedulerService) -> None:
    await service.add_jobs(
        [{"name": f"bulk-{i:03}", "agent": "prober", "cron": "0 * * * *"} for i in range(25)]
    )


def paged(app: SymbiApp) -> MainScreen:
    """The main screen with pages of 10 rows, reloading now."""
    screen = app.screen
    assert isinstance(screen, MainScreen)
    screen.page_size = 10
    screen._reload = True
    screen.kick(urgent=True)
    return screen


async def test_pages_filters_and_sorts_follow_the_store(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    await add_bulk(service)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        paged(app)
        await until(lambda: len(names(app)) == 10)

        def title() -> str:
            return str(jobs_table(app).border_title)

        await pilot.press("]")
        await until(lambda: "11-20 of 28" in title())
        assert names(app) == [f"bulk-{i:03}" for i in range(10, 20)]
        # a job sorting before this page shifts it by one; the total counts it
        await service.add_job({"name": "bulk-0005", "agent": "prober", "cron": "0 * * * *"})
        await until(lambda: "11-20 of 29" in title())
        await until(lambda: names(app) == [f"bulk-{i:03}" for i in range(9, 19)])
        await pilot.press("slash", *"bulk-01", "enter")
        await until(lambda: names(app) == [f"bulk-{i:03}" for i in range(10, 20)])
        assert "Jobs [b]10[/b]" in title()
        await service.remove_job("bulk-015")
        await until(lambda: len(names(app)) == 9 and "bulk-015" not in names(app))
        await pilot.press("escape", "S")  # all jobs again, by name going down
        await until(lambda: names(app)[:2] == ["health-probe", "flaky-job"])
        assert "1-10 of 28" in title()
        await service.add_job({"name": "aa-late", "agent": "prober", "cron": "30 9 * * *"})
        await until(lambda: "1-10 of 29" in title())
        await pilot.press("s")  # next run going up: the 09:00 jobs by name, 09:30 last
        await until(lambda: names(app)[:3] == ["bulk-000", "bulk-0005", "bulk-001"])
        await pilot.press("S")
        await until(lambda: names(app)[:2] == ["aa-late", "health-probe"])
        assert "1-10 of 29" in title() and "next run ↓" in str(jobs_table(app).border_subtitle)


async def test_a_new_page_brings_its_top_jobs_runs_in_the_same_refresh(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    await add_bulk(service)
    app = make_app(refresh_interval=60)  # no tick: every fetch below is the key's own
    async with app.run_test(size=SIZE) as pilot:
        screen = paged(app)
        await until(lambda: len(names(app)) == 10 and screen._runs_job_id == screen.selected_job_id)
        fetched: list[str] = []
        history = screen.backend.history

        async def counted(ref: str | None, **kw: Any) -> list[JobRun]:
            fetched.append(ref or "")
            return await history(ref, **kw)

        screen.backend.history = counted  # type: ignore[method-assign]
        renders: list[bool] = []
        render_all = screen._render_all

        def render(*, runs: list[JobRun] | None = None, runs_for: str | None = None) -> None:
            renders.append(runs is not None)
            render_all(runs=runs, runs_for=runs_for)

        screen._render_all = render  # type: ignore[method-assign]
        await pilot.press("]")
        await until(
            lambda: (
                not screen._refreshing
                and screen.selected_job is not None
                and screen.selected_job.name == "bulk-010"
                and screen._runs_job_id == screen.selected_job_id
            )
        )
        await pilot.pause(0.1)
        assert jobs_table(app).cursor_row == 0
        assert fetched == [screen.selected_job_id]  # once,
        assert renders == [True]  # with the page: one refresh, one repaint


async def test_the_console_prepares_its_filter_once_the_first_page_is_drawn(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    """The store reads the jobs' names for the filter after the first page is on screen, not
    at the first key typed into the filter (150-250 ms over 100,000 jobs)."""
    await add_bulk(service)
    store = service.store
    assert isinstance(store, SqliteJobStore)
    assert len(store._text_index) == 0  # nothing read before the console asks
    total = sum((await store.count_jobs()).values())
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: isinstance(app.screen, MainScreen) and len(names(app)) == total)
        await until(lambda: len(store._text_index) == total)
        await pilot.press("slash", *"bulk-01")
        await until(lambda: names(app) == [f"bulk-{i:03}" for i in range(10, 20)])


async def test_a_long_filter_scrolls_the_prompt_without_laying_the_screen_out() -> None:
    """Typing past the prompt's width keeps the cursor in view; the typing itself lays nothing
    out again (the prompt's size is fixed; the text's width only bounds its scrolling)."""
    from textual.widget import Widget

    from symbi_tui.widgets.filter_bar import FilterBar

    class PromptApp(App[None]):
        def compose(self) -> ComposeResult:
            yield FilterBar(id="filter")

    app = PromptApp()
    async with app.run_test(size=(40, 5)) as pilot:
        bar = app.query_one(FilterBar)
        bar.styles.display = "block"
        bar.focus()
        await pilot.pause()
        layouts: list[str] = []
        original = Widget.refresh

        def refresh(widget: Widget, *regions: Any, layout: bool = False, **kw: Any) -> Widget:
            if layout:
                layouts.append(type(widget).__name__)
            return original(widget, *regions, layout=layout, **kw)

        Widget.refresh = refresh  # type: ignore[method-assign]
        try:
            await pilot.press(*"a-very-long-filter-typed-past-the-edge-of-the-prompt")
            await pilot.pause()
        finally:
            Widget.refresh = original  # type: ignore[method-assign]
        assert "FilterBar" not in layouts
        assert bar.virtual_size.width == len(bar.value) + 1
        assert bar.scroll_x > 0 and bar.scroll_x == bar.max_scroll_x
        assert "prompt" in app.export_screenshot()  # the end of the text is what is shown


async def test_a_new_virtual_size_lays_out_only_when_a_scrollbar_comes_or_goes() -> None:
    """More rows or wider columns change how far the table scrolls, not the screen's layout;
    a scrollbar appearing or going does need the layout (it takes a column)."""
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(KeyedTable)
        table.styles.height = 8  # as the console's panes: sized by the stylesheet, not the rows
        table.sync(rows(["a", "b"]))
        await pilot.pause()
        assert not table.show_vertical_scrollbar
        asked: list[bool] = []
        original = KeyedTable.refresh

        def refresh(widget: KeyedTable, *regions: Any, layout: bool = False, **kw: Any) -> Any:
            asked.append(layout and not widget._layout_free)
            return original(widget, *regions, layout=layout, **kw)

        KeyedTable.refresh = refresh  # type: ignore[method-assign]
        try:
            table.sync(rows([f"k{i:02}" for i in range(40)]))  # the scrollbar comes
            await pilot.pause()
            assert table.show_vertical_scrollbar and any(asked)
            asked.clear()
            table.sync(rows([f"k{i:02}" for i in range(80)]))  # longer: it stays
            await pilot.pause()
            assert not any(asked)
            assert (
                table.max_scroll_y
                == table.virtual_size.height - table.scrollable_content_region.height
            )
            table.scroll_end(animate=False)
            await pilot.pause()
            assert table.scroll_y == table.max_scroll_y > 0
        finally:
            KeyedTable.refresh = original  # type: ignore[method-assign]
        assert table.vertical_scrollbar.window_virtual_size == table.virtual_size.height


async def test_a_slow_scheduler_does_not_hold_the_screen(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    """A key's echo waits for the rows it asked for, to be drawn with them; if they are slow
    to come (a remote scheduler), it is drawn anyway after 40 ms, and the rows when they come."""
    import asyncio

    app = make_app(refresh_interval=60)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        screen = cast_main(app)
        backend = screen.backend
        gate = asyncio.Event()
        original = backend.list_jobs

        async def slow_list_jobs(**query: Any) -> Any:
            await gate.wait()
            return await original(**query)

        backend.list_jobs = slow_list_jobs  # type: ignore[method-assign]
        held: list[float] = []
        hold = screen.hold_frames

        def hold_frames(seconds: float) -> None:
            held.append(asyncio.get_running_loop().time())
            hold(seconds)

        screen.hold_frames = hold_frames  # type: ignore[method-assign]
        await pilot.press("slash", "d")
        await until(lambda: screen._refreshing and bool(held))
        await until(lambda: screen._held is None, seconds=0.5)
        assert screen._refreshing  # the rows are still on their way, the echo was drawn
        gate.set()
        await until(lambda: screen.filter_text == "d" and not screen._refreshing)
        await until(lambda: screen._held is None)


async def test_a_page_shown_again_is_drawn_from_what_was_kept(
    make_app: Callable[..., SymbiApp], service: SchedulerService, engine: Any
) -> None:
    """Back on a page shown before (the first, after a filter, a tab or the next page): its
    cells, their layout and its jobs' last runs are reused, not built or fetched again; and a
    job that ran meanwhile, off the page, shows that run (events kept its last run current)."""
    await add_bulk(service)
    app = make_app(refresh_interval=60)
    async with app.run_test(size=SIZE) as pilot:
        screen = paged(app)
        table = jobs_table(app)
        await until(lambda: len(names(app)) == 10 and not screen._refreshing)
        await pilot.pause()
        first = names(app)
        cells = {key: table._cells[key][1] for key in table.row_keys()}
        laid = dict(table._laid_out)
        asked: list[list[str]] = []
        last_results = screen.backend.last_results

        async def counted(job_ids: list[str]) -> dict[str, JobRun]:
            asked.append(list(job_ids))
            return await last_results(job_ids)

        screen.backend.last_results = counted  # type: ignore[method-assign]
        await pilot.press("]")
        await until(lambda: names(app)[0] == "bulk-010" and not screen._refreshing)
        await service.run_now(first[3])  # a job of the first page runs while it is off screen
        await settle(engine)
        await pilot.press("[")
        await until(lambda: names(app) == first and not screen._refreshing)
        await pilot.pause()
        assert not any(asked)  # nothing fetched again
        for key in table.row_keys():
            if names(app)[table.get_row_index(key)] != first[3]:
                assert table._cells[key][1] is cells[key]  # the very cells
        again = [k for k, entry in laid.items() if table._laid_out.get(k) is entry]
        assert len(again) >= 6 * 7  # laid out once, drawn from that (the row that ran: anew)
        await until(lambda: row_of(app, first[3])[5].startswith("✔ succeeded"))


async def footer_of(screen: object) -> SteadyFooter:
    """The screen's footer, once it shows its keys."""
    from symbi_tui.screens.base import ConsoleScreen

    assert isinstance(screen, ConsoleScreen)
    await until(lambda: screen.loaded)
    footer = screen.query_one(SteadyFooter)
    await until(lambda: footer._built is not None and bool(footer._keys_shown()))
    return footer


@pytest.mark.parametrize("width", [120, 80])
async def test_every_screen_opens_with_a_steady_footer_styled_once(
    make_app: Callable[..., SymbiApp], monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    """Every screen a key opens keeps its footer's keys when its bindings change (a selection,
    a loaded job) rather than building them all again, and its keys are born with the footer's
    compactness (Textual's are born compact and restyled on mount): it shows what the stock
    footer would, at both widths."""
    from symbi_tui.widgets.steady_footer import _SteadyKey

    restyled: list[bool] = []  #: the footer keys' compactness changes (each a restyle)
    watch_compact = _SteadyKey._watch_compact

    def compact_changed(key: _SteadyKey, compact: bool) -> None:
        if key.has_class("-compact") != compact:
            restyled.append(compact)
        watch_compact(key, compact)

    monkeypatch.setattr(_SteadyKey, "_watch_compact", compact_changed)
    app = make_app()
    async with app.run_test(size=(width, 30)) as pilot:
        await loaded(app)
        main = app.screen
        for key in ("enter", "h"):
            restyled.clear()
            await pilot.press(key)
            await until(lambda: app.screen is not main)
            screen = app.screen
            footer = await footer_of(screen)
            await pilot.pause()
            assert shown_keys(footer) == stock_keys(footer), key
            compact = footer.compact
            assert compact == (width < 100)
            widgets = list(footer.query(FooterKey))
            assert all(k.compact == compact == k.has_class("-compact") for k in widgets)
            assert restyled == [], key  # born as compact as the footer: styled once
            styled: list[FooterKey] = []
            for widget in widgets:
                widget.update_node_styles = styled.append  # type: ignore[assignment,method-assign]
            screen.refresh_bindings()  # what a new selection or a loaded job does
            await pilot.pause()
            await pilot.pause()
            assert list(footer.query(FooterKey)) == widgets, key  # the same widgets
            assert styled == [], key  # none styled again
            await pilot.press("escape")
            await until(lambda: app.screen is main)


async def test_each_screen_follows_the_events_once_and_ticks_once(
    make_app: Callable[..., SymbiApp],
) -> None:
    """Textual calls every class's on_mount, and each screen's calls the base's too: the base
    starts its refresh timer and its follower of the scheduler's events once per screen."""
    from textual.timer import Timer

    from symbi_tui.screens.watch import WatchScreen

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, WatchScreen) and app.screen.loaded)
        for screen in app.screen_stack[-2:]:  # the jobs pane and the watch screen over it
            followers = [w for w in app.workers if w.node is screen and w.group == "events"]
            timers = [t for t in screen._timers if isinstance(t, Timer) and t.name == "refresh"]
            assert len(followers) == 1, screen
            assert len(timers) == 1, screen
