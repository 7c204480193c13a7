"""Keyset paging of the jobs list: where a page ended, as an opaque cursor.

A cursor holds the sort key of a page's last job: the order it was read in (column and
direction), that job's value of the column (an instant as UTC text, fixed width) and its name
(unique, so the key is total). The next page is the jobs after that key in the same order,
read from the order's index wherever the page starts: no OFFSET to walk, and a job added or
removed between two pages moves no other job across the boundary.

As text it is URL-safe base64 of a compact JSON array ``[order, descending, value, name]``:
opaque to clients, which only pass it back (``after=``).
"""

from __future__ import annotations

__all__ = ["INSTANT_ORDERS", "ORDER_COLUMNS", "JobCursor", "decode_cursor", "encode_cursor"]

import base64
import binascii
import json

from ..clock import parse_instant
from ..records import record

#: list_jobs' sort keys: the column each sorts by, and whether it can be NULL. NULLs come last
#: going up and first going down (the exact reverse); ties are broken by name.
ORDER_COLUMNS: dict[str, bool] = {
    "name": False,
    "next_run_at": True,
    "status": False,
    "agent": False,
    "last_run_at": True,
    "failure_count": False,
    "created_at": False,
}
#: the columns whose cursor value is an integer, and those holding instants (as UTC text)
_INTEGER_ORDERS = frozenset({"failure_count"})
INSTANT_ORDERS = frozenset({"next_run_at", "last_run_at", "created_at"})
#: longer cursors are refused before they are decoded (a name is at most a few hundred bytes)
_MAX_CURSOR = 4096


@record
class JobCursor:
    """The sort key of the last job of a page, in the order the page was read."""

    order: str
    descending: bool
    value: str | int | None  #: the order column's value (None: NULL); unused for ``name``
    name: str

    @property
    def nullable(self) -> bool:
        return ORDER_COLUMNS[self.order]


def encode_cursor(cursor: JobCursor) -> str:
    """``cursor`` as the opaque text clients pass back."""
    raw = json.dumps(
        [cursor.order, int(cursor.descending), cursor.value, cursor.name],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str) -> JobCursor:
    """The cursor ``text`` stands for; ValueError (saying what is wrong) if it is not one."""
    if not text or len(text) > _MAX_CURSOR:
        raise ValueError("not a cursor this server made (empty or too long)")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = json.loads(raw.decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a cursor this server made (pass back X-Next-Cursor as is)") from None
    if not (isinstance(data, list) and len(data) == 4):
        raise ValueError("not a cursor this server made")
    order, descending, value, name = data
    if not isinstance(order, str) or order not in ORDER_COLUMNS:
        raise ValueError("not a cursor this server made (unknown order)")
    if descending not in (0, 1) or isinstance(descending, float):
        raise ValueError("not a cursor this server made")
    if not isinstance(name, str) or "\x00" in name:
        raise ValueError("not a cursor this server made (no job name)")
    if order == "name":
        if value is not None:
            raise ValueError("not a cursor this server made")
    elif value is None:
        if not ORDER_COLUMNS[order]:
            raise ValueError(f"not a cursor this server made ({order} is never empty)")
    elif order in _INTEGER_ORDERS:
        if type(value) is not int:
            raise ValueError(f"not a cursor this server made ({order} is a number)")
    elif not isinstance(value, str) or "\x00" in value:
        raise ValueError(f"not a cursor this server made ({order} is text)")
    elif order in INSTANT_ORDERS:
        try:
            parse_instant(value)
        except ValueError:
            raise ValueError(f"not a cursor this server made ({order} is an instant)") from None
    return JobCursor(order, bool(descending), value, name)
