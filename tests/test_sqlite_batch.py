"""The SQLite store's multi-row statements (``store/sqlite/_batch.py``): rows written in order,
in statements of a few sizes only (each size is a statement the ``sqlite3`` module compiles and
caches, holding SQLite memory a row)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from scheduler_core.store.sqlite._batch import _sizes, insert_rows, update_from


def test_statement_sizes_cover_the_rows_in_few_sizes() -> None:
    for per in (1, 2, 64):
        for count in range(0, 3 * per + 70):
            sizes = _sizes(count, per)
            assert sum(sizes) == count
            assert sizes == sorted(sizes, reverse=True)
            assert all(s <= per and s & (s - 1) == 0 for s in sizes)
            assert len(set(sizes) - {per}) == bin(count % per).count("1")


class _Recording(sqlite3.Connection):
    """A connection that notes the text of every statement it executes."""

    texts: set[str] = set()

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        self.texts.add(sql)
        return super().execute(sql, parameters)


def test_rows_written_in_order_in_at_most_seven_statement_sizes(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "b.db", isolation_level=None, factory=_Recording)
    assert isinstance(conn, _Recording)
    texts = conn.texts = set()
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, name TEXT NOT NULL, n INTEGER)")
    texts.clear()
    total = 0
    for count in (1000, 511, 37, 64, 1):
        rows = [(f"r{total + i}", total + i) for i in range(count)]
        assert insert_rows(conn, "INSERT INTO t (name, n) VALUES", rows) == count
        total += count
    assert [r for r in conn.execute("SELECT name, n FROM t ORDER BY k")] == [
        (f"r{i}", i) for i in range(total)
    ]
    assert len({t for t in texts if t.startswith("INSERT")}) == 7  # 64 rows; 32, 16, ..., 1
    texts.clear()
    changed = update_from(
        conn,
        "n, name",
        "UPDATE t SET n = v.n FROM v WHERE t.name = v.name",
        [(-i, f"r{i}") for i in range(0, total, 2)],
    )
    assert changed == (total + 1) // 2
    assert [n for (n,) in conn.execute("SELECT n FROM t ORDER BY k")] == [
        -i if i % 2 == 0 else i for i in range(total)
    ]
    assert len({t for t in texts if t.startswith("UPDATE")}) <= 7
    conn.close()
