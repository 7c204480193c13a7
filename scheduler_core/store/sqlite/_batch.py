"""Many rows in one SQLite statement: a multi-row ``INSERT ... VALUES (...),(...)`` and an
``UPDATE ... FROM`` a list of values (SQLite >= 3.33).

And the rows of a query in one step (:func:`fetch_rows`), as one JSON array.

Why: the ``sqlite3`` module releases the GIL around every step of a statement, and
``executemany`` steps once a row. While the event loop is busy, each step hands it the GIL and
waits up to the switch interval to take it back, so a batch of 2,000 rows written row by row
waited on the event loop 2,000 times; written by these, a few times. What is written is the same:
the rows in the same order, the same statements' effects (triggers fire row by row as before).
"""

from __future__ import annotations

__all__ = ["UPDATE_FROM", "fetch_rows", "insert_rows", "update_from"]

import json
import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

#: whether this SQLite runs ``UPDATE ... FROM`` (3.33 and later)
UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)

#: rows in one statement at most. A prepared statement holds ~1.5 KB of SQLite memory a row
#: (12 values a row; its program) for as long as the ``sqlite3`` module caches it (128
#: statements a connection), so it is kept small; and the rows beyond whole statements are
#: written in statements of 32, 16, ..., 1 rows, so that a shape is compiled in at most 7
#: sizes, not one a remainder. (At 500 rows a statement, the statements cached after 10,000
#: runs at one instant held 7.9-8.4 MB of SQLite memory; at 64, 4.1-4.6 MB.)
_ROWS = 64


def _per(conn: sqlite3.Connection, width: int) -> int:
    """How many rows of ``width`` values one statement binds at most (the connection's variable
    limit), a power of two."""
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per = max(1, min(_ROWS, limit // width))
    return 1 << (per.bit_length() - 1)


def _sizes(count: int, per: int) -> list[int]:
    """Statement sizes for ``count`` rows: as many of ``per`` (a power of two) as fit, then the
    rest in decreasing powers of two (its binary digits)."""
    sizes = [per] * (count // per)
    rest = count % per
    bit = per >> 1
    while rest:
        if rest & bit:
            sizes.append(bit)
            rest ^= bit
        bit >>= 1
    return sizes


@lru_cache(maxsize=64)
def _marks(width: int, count: int) -> str:
    """``(?,..),(?,..)``: ``count`` rows of ``width`` values."""
    one = "(" + ",".join("?" * width) + ")"
    return ",".join([one] * count)


def _chunks(conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> list[tuple[str, list[Any]]]:
    """``rows`` as (``(?,..),(?,..)``, their values) a statement each, in order."""
    if not rows:
        return []
    width = len(rows[0])
    out = []
    k = 0
    for size in _sizes(len(rows), _per(conn, width)):
        chunk = rows[k : k + size]
        k += size
        out.append((_marks(width, size), [v for row in chunk for v in row]))
    return out


def insert_rows(conn: sqlite3.Connection, head: str, rows: Sequence[Sequence[Any]]) -> int:
    """``head`` (``INSERT ... (columns) VALUES``) with ``rows``, in order; the rows changed."""
    changed = 0
    for marks, values in _chunks(conn, rows):
        changed += conn.execute(f"{head} {marks}", values).rowcount
    return changed


def update_from(
    conn: sqlite3.Connection, names: str, update: str, rows: Sequence[Sequence[Any]]
) -> int:
    """``update`` (``UPDATE t SET ... FROM v WHERE``, joining each row of ``v`` to at most one
    row of ``t`` by its key) with ``v`` the ``rows``, whose columns are ``names``; the rows it
    changed. (A subquery, not ``WITH``: the ``sqlite3`` module counts the rows a statement
    changed only if its text begins with the verb.)"""
    columns = ", ".join(
        f"column{k} AS {name.strip()}" for k, name in enumerate(names.split(","), 1)
    )
    head, sep, tail = update.partition(" FROM v ")
    assert sep, update
    changed = 0
    for marks, values in _chunks(conn, rows):
        sql = f"{head} FROM (SELECT {columns} FROM (VALUES {marks})) AS v {tail}"
        changed += conn.execute(sql, values).rowcount
    return changed


def fetch_rows(
    conn: sqlite3.Connection, columns: str, query: str, params: Sequence[Any]
) -> list[list[Any]]:
    """The rows of ``query``, which selects ``columns`` (plain names, no BLOB, no REAL), each a
    list of those columns' values, in one step: SQLite writes them as one JSON array (the same
    text, integers and NULLs come back). In no particular order (an aggregate's)."""
    sql = f"SELECT json_group_array(json_array({columns})) FROM ({query})"
    rows: list[list[Any]] = json.loads(conn.execute(sql, params).fetchone()[0])
    return rows
