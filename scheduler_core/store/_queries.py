"""Queries both stores spell alike but for their placeholders, built once.

A :class:`Params` collects a query's values and hands back the placeholder for each in its
dialect's style: ``?`` for SQLite, ``$1``, ``$2``... for PostgreSQL (asyncpg). The builders add
their values to it in the order their text names them, and return the text.
"""

from __future__ import annotations

__all__ = [
    "JOB_ORDERS",
    "KeysetSegment",
    "Params",
    "audit_query",
    "job_filters",
    "job_ref",
    "job_segments",
    "page_cursor",
    "runs_query",
    "where_clause",
]

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from ..model import AuditEventType, RunStatus
from ..records import record
from ._rows import JOB_COLUMNS, RUN_COLUMNS, WriteInstant
from .base import JobQuery
from .job_cursor import INSTANT_ORDERS, ORDER_COLUMNS, JobCursor, encode_cursor

#: list_jobs' sort keys -> the column each sorts by (an unknown key sorts by name)
JOB_ORDERS = {
    "name": "name",
    "next_run_at": "next_run_at",
    "status": "status",
    "agent": "agent",
    "last_run_at": "last_run_at",
    "failure_count": "failure_count",
    "created_at": "created_at",
}
#: where each order column is in ``JOB_COLUMNS`` (a page's cursor is read from its last row)
_ORDER_PLACES = {
    column: [c.strip() for c in JOB_COLUMNS.split(",")].index(column) for column in ORDER_COLUMNS
}


class Params:
    """A query's values, and the placeholders that stand for them (``?`` or ``$n``)."""

    __slots__ = ("style", "values")

    def __init__(self, style: Literal["?", "$"]) -> None:
        self.style = style
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        """Add ``value``; its placeholder (which PostgreSQL's text may name more than once)."""
        self.values.append(value)
        return "?" if self.style == "?" else f"${len(self.values)}"

    def among(self, column: str, values: Sequence[Any]) -> str:
        """``column`` is one of ``values``: ``IN (?,?,...)`` in SQLite, ``= ANY($n::text[])``
        (one array parameter) in PostgreSQL."""
        if self.style == "?":
            self.values.extend(values)
            return f"{column} IN ({','.join('?' * len(values))})"
        return f"{column} = ANY({self(list(values))}::text[])"


def where_clause(conditions: Sequence[str]) -> str:
    """A WHERE clause of all ``conditions``, or nothing."""
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


def job_ref(ref: str) -> str:
    """A job reference as ``find_jobs`` looks it up: an id prefix in hex is matched lowered."""
    is_hex = bool(ref) and all(c in "0123456789abcdefABCDEF" for c in ref)
    return ref.lower() if is_hex else ref


def job_filters(p: Params, query: JobQuery) -> list[str]:
    """``list_jobs``' exact filters (status, agent); the text filter is each store's own."""
    conditions = []
    if query.status is not None:
        conditions.append(f"status = {p(query.status.value)}")
    if query.agent is not None:
        conditions.append(f"agent = {p(query.agent)}")
    return conditions


def runs_query(
    p: Params,
    *,
    job_id: str | None,
    status: RunStatus | Sequence[RunStatus] | None,
    before_seq: int | None,
    limit: int,
) -> str:
    """``list_runs``: newest first, keyset-paginated by ``before_seq``."""
    conditions = []
    if job_id is not None:
        conditions.append(f"job_id = {p(job_id)}")
    if status is not None:
        statuses = [status] if isinstance(status, RunStatus) else list(status)
        conditions.append(p.among("status", [s.value for s in statuses]))
    if before_seq is not None:
        conditions.append(f"seq < {p(before_seq)}")
    clause = where_clause(conditions)
    return f"SELECT {RUN_COLUMNS} FROM runs {clause} ORDER BY seq DESC LIMIT {p(limit)}"


def audit_query(
    p: Params,
    *,
    type: AuditEventType | str | None,
    job_id: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    instant: WriteInstant,
) -> str:
    """``query_audit``: newest first, the events of one type, one job and a time window
    (``since`` included, ``until`` not), each filter only if given; ``instant`` writes the
    window's ends as the store keeps instants."""
    conditions = []
    if type is not None:
        conditions.append(f"type = {p(str(type))}")
    if job_id is not None:
        conditions.append(f"job_id = {p(job_id)}")
    if since is not None:
        conditions.append(f"at >= {p(instant(since))}")
    if until is not None:
        conditions.append(f"at < {p(instant(until))}")
    clause = where_clause(conditions)
    return (
        f"SELECT seq, at, type, actor, job_id, run_id, details FROM audit_events {clause} "
        f"ORDER BY at DESC, seq DESC LIMIT {p(limit)}"
    )


@record
class KeysetSegment:
    """A run of jobs in a keyset page's order: a condition (besides the filters) that one
    index range answers, and the ORDER BY that reads that range in order."""

    condition: Callable[[Params], str] | None
    order: str

    def sql(self, p: Params, conditions: Sequence[str], columns: str, limit: int) -> str:
        """The query of up to ``limit`` jobs of this run that also meet ``conditions``."""
        where = list(conditions)
        if self.condition is not None:
            where.append(self.condition(p))
        clause = where_clause(where)
        return f"SELECT {columns} FROM jobs {clause} ORDER BY {self.order} LIMIT {p(limit)}"


def job_segments(
    query: JobQuery,
    cursor: JobCursor,
    *,
    is_null: Callable[[str, bool], str],
    value_in: Callable[[str, str | int], Any],
    unindexed: bool = False,
) -> list[KeysetSegment]:
    """The jobs after ``cursor`` in ``query``'s order, as runs to read one after the other
    until a page is full: one run for a column that is never NULL (``(column, name) > (v,
    n)``), and for a nullable one the rest of the cursor's block (NULLs or not) then the other
    block, NULLs last going up and first going down as the first page's ORDER BY has them.

    ``is_null(column, yes)`` is the store's test that keeps a block to its index range;
    ``value_in`` turns a cursor value into the store's (an instant's text into a datetime);
    ``unindexed`` sorts the matches rather than read them from an order index.
    """
    column = cursor.order
    direction = "DESC" if query.descending else "ASC"
    op = "<" if query.descending else ">"
    plus = "+" if unindexed else ""
    name = cursor.name
    by_name = f"{plus}name {direction}"
    if column == "name":
        return [KeysetSegment(lambda p: f"name {op} {p(name)}", by_name)]
    by_value = f"{plus}{column} {direction}, {by_name}"
    value = cursor.value
    if not ORDER_COLUMNS[column]:
        after = value_in(column, value) if value is not None else None
        return [KeysetSegment(lambda p: f"({column}, name) {op} ({p(after)}, {p(name)})", by_value)]
    present, absent = is_null(column, False), is_null(column, True)
    if value is None:  # in the NULLs: the rest of them, then (going down) the values
        nulls = KeysetSegment(lambda p: f"{absent} AND name {op} {p(name)}", by_name)
        if query.descending:
            return [nulls, KeysetSegment(lambda p: present, by_value)]
        return [nulls]
    after = value_in(column, value)
    values = KeysetSegment(
        lambda p: f"{present} AND ({column}, name) {op} ({p(after)}, {p(name)})", by_value
    )
    if query.descending:
        return [values]
    return [values, KeysetSegment(lambda p: absent, by_name)]


def page_cursor(query: JobQuery, row: Sequence[Any], instant_text: Callable[[Any], str]) -> str:
    """The cursor of a page that ends with ``row`` (``JOB_COLUMNS``) in ``query``'s order;
    ``instant_text`` writes an instant column's value as a cursor holds it."""
    order = query.order if query.order in ORDER_COLUMNS else "name"
    value = row[_ORDER_PLACES[order]] if order != "name" else None
    if value is not None and order in INSTANT_ORDERS:
        value = instant_text(value)
    return encode_cursor(JobCursor(order, query.descending, value, row[1]))
