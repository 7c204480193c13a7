"""The SQLite store's SQL: how it keeps values, its statements, and the writes several of its
transactions share (each takes the ``sqlite3`` connection a transaction runs on)."""

from __future__ import annotations

__all__ = [
    "DIALECT",
    "INSERT_AUDIT",
    "INSERT_JOB",
    "INSERT_OWNED_RUN_ONCE",
    "INSERT_RUN",
    "INSERT_RUN_ONCE",
    "LOG_NEW_JOB",
    "UPDATE_JOB_DEFINITION",
    "UPDATE_RUN",
    "UPSERT_DEFINITION",
    "audit_values",
    "fmt",
    "instant",
    "job_definition_values",
    "job_of",
    "job_values",
    "lease_of",
    "node_of",
    "run_of",
    "run_update_values",
    "run_values",
    "stored",
    "stored_ids",
    "stored_names",
    "values_head",
    "write_audit",
    "write_context",
    "write_decision",
]

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from ...clock import format_instant, parse_instant
from ...model import AgentContext, AuditEvent
from .._common import Dialect
from .._rows import (
    archived_entries,
    encode_memory,
    node_from_row,
)
from ..base import ApprovalDecision, NodeInfo
from ._batch import insert_rows

# --- values as SQLite keeps them -----------------------------------------------------------------

#: an instant as stored: fixed-width UTC text, which sorts and compares as the instants do
fmt = format_instant


def instant(value: str | None) -> datetime | None:
    """A stored instant (or NULL) read back."""
    return _parse_stored(value) if value else None


@lru_cache(maxsize=4096)
def _parse_stored(value: str) -> datetime:
    # rows share instants (a batch's due instant, its creation time): parse each text once
    return parse_instant(value)


def stored(value: datetime | None) -> str | None:
    """An instant (or None) as stored."""
    return fmt(value) if value else None


#: placeholders ``?``; instants as fixed-width UTC text; any text as it is
DIALECT = Dialect("?", instant, stored, runs_by_status="runs INDEXED BY runs_status")


#: a job row's ``after`` (see Dialect.after_key; the ``jobs_after`` index is on it)
AFTER_KEY = DIALECT.after_key

#: rows to records and records to values, the SQLite way
job_of, run_of, lease_of = DIALECT.job, DIALECT.run, DIALECT.lease
job_values, run_values, audit_values = DIALECT.job_values, DIALECT.run_values, DIALECT.audit_values
job_definition_values, run_update_values = DIALECT.job_definition_values, DIALECT.run_update_values


def node_of(row: Sequence[Any]) -> NodeInfo:
    """A node from its columns, and the runs it holds if the row counts them."""
    return node_from_row(row, instant, row[8] if len(row) > 8 else 0)


# --- statements ----------------------------------------------------------------------------------

INSERT_RUN = (
    "INSERT INTO runs (id, job_id, job_name, agent_id, trigger, scheduled_for, due_at, "
    "started_at, finished_at, status, attempt, input, output, error_message, summary, "
    "execution_time_ms, details) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
INSERT_RUN_ONCE = INSERT_RUN.replace("INSERT INTO", "INSERT OR IGNORE INTO")
#: a run claimed by a scheduler, recorded under its name (``owner``, the last parameter)
INSERT_OWNED_RUN_ONCE = INSERT_RUN_ONCE.replace(
    "execution_time_ms, details) VALUES (", "execution_time_ms, details, owner) VALUES (?,"
)
UPDATE_RUN = (
    "UPDATE runs SET due_at=?, started_at=?, finished_at=?, status=?, output=?, "
    "error_message=?, summary=?, execution_time_ms=?, details=? WHERE id=?"
)
#: a job added, for every process's text index (see schema migration 6)
LOG_NEW_JOB = "INSERT INTO job_text_log (job_id) VALUES (?)"
INSERT_JOB = (
    "INSERT INTO jobs (id, name, agent, status, schedule, timezone, definition, next_run_at, "
    "last_run_at, last_run_status, last_error, run_count, failure_count, created_at, "
    "updated_at, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
#: register a definition (an agent), or rewrite the one of that kind and name
UPSERT_DEFINITION = (
    "INSERT INTO definitions (kind, name, definition, source, updated_at) VALUES (?,?,?,?,?) "
    "ON CONFLICT (kind, name) DO UPDATE SET definition=excluded.definition, "
    "source=excluded.source, updated_at=excluded.updated_at"
)
UPDATE_JOB_DEFINITION = (
    "UPDATE jobs SET name=?, agent=?, status=?, schedule=?, timezone=?, definition=?, "
    "next_run_at=?, failure_count=?, last_error=?, updated_at=?, source=? WHERE id=?"
)
INSERT_AUDIT = (
    "INSERT INTO audit_events (at, type, actor, job_id, run_id, details) VALUES (?,?,?,?,?,?)"
)


# --- writes inside a transaction -----------------------------------------------------------------


def values_head(insert: str) -> str:
    """An ``INSERT ... VALUES (?,...)`` statement up to ``VALUES`` (for ``_batch.insert_rows``)."""
    return insert[: insert.index(" VALUES (")] + " VALUES"


_AUDIT_HEAD = values_head(INSERT_AUDIT)


def write_audit(
    conn: sqlite3.Connection, events: Sequence[AuditEvent], *, rows: bool = False
) -> None:
    """Audit ``events``, in order; with ``rows``, many in a few statements (see ``_batch``:
    a finish batch's; not a bulk load's 100,000, which held 7 MB more memory afterwards)."""
    if rows and len(events) > 1:
        insert_rows(conn, _AUDIT_HEAD, [audit_values(e) for e in events])
    else:
        conn.executemany(INSERT_AUDIT, [audit_values(e) for e in events])


def write_context(conn: sqlite3.Connection, context: AgentContext) -> None:
    encoded = encode_memory(context)
    conn.execute(
        "INSERT OR REPLACE INTO agent_contexts (job_id, mode, summary, memory, size, updated_at) "
        "VALUES (?,?,?,?,?,?)",
        (
            context.job_id,
            context.mode.value,
            context.previous_summary,
            encoded,
            len(encoded),
            fmt(context.updated_at or datetime.now(UTC)),
        ),
    )
    if context.archived:
        at = fmt(context.updated_at or datetime.now(UTC))
        conn.executemany(
            "INSERT INTO context_archive (job_id, run_id, archived_at, entry) VALUES (?,?,?,?)",
            [(job, run, at, entry) for job, run, entry in archived_entries(context)],
        )


def write_decision(conn: sqlite3.Connection, run_id: str, decision: ApprovalDecision) -> None:
    conn.execute(
        "UPDATE approvals SET decision = ?, decided_by = ?, decided_at = ?, reason = ? "
        "WHERE run_id = ? AND decision IS NULL",
        (
            decision.decision,
            decision.decided_by,
            fmt(decision.decided_at),
            decision.reason,
            run_id,
        ),
    )


def stored_ids(conn: sqlite3.Connection, ids: list[str]) -> set[str]:
    """Those of ``ids`` that jobs have."""
    found: set[str] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        rows = conn.execute(
            f"SELECT id FROM jobs WHERE id IN ({','.join('?' * len(chunk))})", chunk
        ).fetchall()
        found.update(r[0] for r in rows)
    return found


def stored_names(conn: sqlite3.Connection, names: list[str]) -> list[str]:
    """Those of ``names`` that jobs have."""
    taken = []
    for i in range(0, len(names), 500):
        chunk = names[i : i + 500]
        rows = conn.execute(
            f"SELECT name FROM jobs WHERE name IN ({','.join('?' * len(chunk))})", chunk
        ).fetchall()
        taken += [r[0] for r in rows]
    return taken
