"""Queries both stores spell alike but for their placeholders, built once.

A :class:`Params` collects a query's values and hands back the placeholder for each in its
dialect's style: ``?`` for SQLite, ``$1``, ``$2``... for PostgreSQL (asyncpg). The builders add
their values to it in the order their text names them, and return the text.
"""

from __future__ import annotations

__all__ = [
    "JOB_ORDERS",
    "Params",
    "audit_query",
    "job_filters",
    "job_ref",
    "runs_query",
    "where_clause",
]

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from ..model import AuditEventType, RunStatus
from ._rows import RUN_COLUMNS, WriteInstant
from .base import JobQuery

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
