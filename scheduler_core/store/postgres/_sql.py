"""The PostgreSQL store's SQL: how it keeps values, and its statements.

Text is kept as SQLite keeps it (JSON as text, instants as ``timestamptz``), except that PostgreSQL
text cannot hold NUL characters: they are stored as U+FFFD in free text (agent output and the like),
and a look-up key holding one matches nothing (it is not sent).
"""

from __future__ import annotations

__all__ = [
    "DIALECT",
    "INSERT_AUDIT",
    "INSERT_JOB",
    "INSERT_RUN",
    "INSERT_RUNS_ONCE",
    "NODE_MACHINE_COLUMNS",
    "NOTIFY_CHANNEL",
    "UPDATE_JOB_DEFINITION",
    "UPDATE_RUN",
    "UPSERT_APPROVAL",
    "UPSERT_DEFINITION",
    "UPSERT_ITERATION",
    "UPSERT_JOB",
    "audit_values",
    "columns",
    "has_nul",
    "job_definition_values",
    "job_list_queries",
    "job_of",
    "job_values",
    "lease_of",
    "node_of",
    "redact",
    "run_of",
    "run_update_values",
    "run_values",
    "same",
    "storable",
    "utc",
]

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ...clock import parse_instant
from .._common import Dialect
from .._queries import JOB_ORDERS, Params, job_filters, job_segments, where_clause
from .._rows import JOB_COLUMNS, NODE_COLUMNS, node_from_row, same
from ..base import JobQuery, NodeInfo
from ..job_cursor import INSTANT_ORDERS

NOTIFY_CHANNEL = "symbi_store"
#: a node's columns, and the machine it runs on
NODE_MACHINE_COLUMNS = NODE_COLUMNS + ", machine"

# --- values as PostgreSQL keeps them -------------------------------------------------------------


def storable(value: str | None) -> str | None:
    """Free text as PostgreSQL can hold it: NUL characters become U+FFFD."""
    if value is not None and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def has_nul(*values: object) -> bool:
    """Whether a look-up key holds a NUL: nothing stored does, and PostgreSQL refuses it."""
    return any(isinstance(v, str) and "\x00" in v for v in values)


def utc(value: datetime | None) -> datetime | None:
    """An instant as stored (a naive one taken as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


#: placeholders ``$1``, ``$2``...; instants as ``timestamptz`` (asyncpg reads them aware, as they
#: are); free text without NUL characters
DIALECT = Dialect("$", same, utc, storable, after_key="(definition::json ->> 'after')")


#: rows to records and records to values, the PostgreSQL way
job_of, run_of, lease_of = DIALECT.job, DIALECT.run, DIALECT.lease
job_values, run_values, audit_values = DIALECT.job_values, DIALECT.run_values, DIALECT.audit_values
job_definition_values, run_update_values = DIALECT.job_definition_values, DIALECT.run_update_values


def node_of(row: Sequence[Any]) -> NodeInfo:
    """A node from ``NODE_MACHINE_COLUMNS``, and the runs it holds if the row counts them."""
    return node_from_row(row, same, row[9] if len(row) > 9 else 0)


def columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as column lists (``unnest`` parameters)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(c) for c in zip(*rows, strict=True)]


def redact(url: str) -> str:
    """The URL without its password (for logs and the console)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


# --- statements ----------------------------------------------------------------------------------

_RUN_INSERT_COLUMNS = (
    "id, job_id, job_name, agent_id, trigger, scheduled_for, due_at, started_at, finished_at, "
    "status, attempt, input, output, error_message, summary, execution_time_ms, details, owner"
)
INSERT_RUN = (
    f"INSERT INTO runs ({_RUN_INSERT_COLUMNS}) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)"
)
#: a batch of runs from column arrays; an instant already recorded is skipped, never fired twice
INSERT_RUNS_ONCE = (
    f"INSERT INTO runs ({_RUN_INSERT_COLUMNS}) "
    "SELECT u.*, $18::text FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
    "$5::text[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], "
    "$10::text[], $11::int[], $12::text[], $13::text[], $14::text[], $15::text[], $16::bigint[], "
    "$17::text[]) AS u ON CONFLICT DO NOTHING RETURNING id"
)
UPDATE_RUN = (
    "UPDATE runs SET due_at=$1, started_at=$2, finished_at=$3, status=$4, output=$5, "
    "error_message=$6, summary=$7, execution_time_ms=$8, details=$9 WHERE id=$10"
)
INSERT_JOB = (
    "INSERT INTO jobs (id, name, agent, status, schedule, timezone, definition, next_run_at, "
    "last_run_at, last_run_status, last_error, run_count, failure_count, created_at, "
    "updated_at, source) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)"
)
#: register a definition (an agent), or rewrite the one of that kind and name
UPSERT_DEFINITION = (
    "INSERT INTO definitions (kind, name, definition, source, updated_at) VALUES ($1,$2,$3,$4,$5) "
    "ON CONFLICT (kind, name) DO UPDATE SET definition=excluded.definition, "
    "source=excluded.source, updated_at=excluded.updated_at"
)
UPDATE_JOB_DEFINITION = (
    "UPDATE jobs SET name=$1, agent=$2, status=$3, schedule=$4, timezone=$5, definition=$6, "
    "next_run_at=$7, failure_count=$8, last_error=$9, updated_at=$10, source=$11 WHERE id=$12"
)
#: insert a job, or rewrite an existing one's definition keeping its run state
UPSERT_JOB = (
    INSERT_JOB + " ON CONFLICT (id) DO UPDATE SET name=EXCLUDED.name, agent=EXCLUDED.agent, "
    "status=EXCLUDED.status, schedule=EXCLUDED.schedule, timezone=EXCLUDED.timezone, "
    "definition=EXCLUDED.definition, next_run_at=EXCLUDED.next_run_at, "
    "failure_count=EXCLUDED.failure_count, last_error=EXCLUDED.last_error, "
    "updated_at=EXCLUDED.updated_at, source=EXCLUDED.source"
)
#: a run starts awaiting approval (again: a previous decision is forgotten)
UPSERT_APPROVAL = (
    "INSERT INTO approvals (run_id, job_id, requested_at, expires_at, approvers) "
    "VALUES ($1,$2,$3,$4,$5) ON CONFLICT (run_id) DO UPDATE SET "
    "job_id=EXCLUDED.job_id, requested_at=EXCLUDED.requested_at, "
    "expires_at=EXCLUDED.expires_at, approvers=EXCLUDED.approvers, decision=NULL, "
    "decided_by=NULL, decided_at=NULL, reason=NULL"
)
UPSERT_ITERATION = (
    "INSERT INTO heartbeat_iterations (run_id, idx, started_at, finished_at, outcome, "
    "assessment, action, summary, output_excerpt) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) "
    "ON CONFLICT (run_id, idx) DO UPDATE SET started_at=EXCLUDED.started_at, "
    "finished_at=EXCLUDED.finished_at, outcome=EXCLUDED.outcome, "
    "assessment=EXCLUDED.assessment, action=EXCLUDED.action, "
    "summary=EXCLUDED.summary, output_excerpt=EXCLUDED.output_excerpt"
)
INSERT_AUDIT = (
    "INSERT INTO audit_events (at, type, actor, job_id, run_id, details) "
    "SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], "
    "$6::text[])"
)


def job_list_queries(query: JobQuery) -> list[tuple[str, list[Any]]]:
    """The jobs list's queries: how many jobs match, then the page of them and one more (the
    first page, or by ``offset``), or with a cursor (``query.after``) the jobs after it, a
    page and one more from each run of the order (see ``job_segments``)."""
    p = Params("$")
    where = job_filters(p, query)
    if query.text:
        n = p(query.text.lower())
        where.append(f"(strpos(lower(name), {n}) > 0 OR strpos(lower(agent), {n}) > 0)")
    clause = where_clause(where)
    params = list(p.values)  #: the filters' (the count's)
    counted = (f"SELECT count(*) FROM jobs {clause}", params)
    want = query.limit + 1
    if query.after is not None:
        queries = [counted]
        for run in job_segments(query, query.after, is_null=_is_null, value_in=_value_in):
            q = Params("$")
            q.values.extend(params)
            queries.append((run.sql(q, where, JOB_COLUMNS, want), q.values))
        return queries
    page = f"LIMIT {p(want)} OFFSET {p(query.offset)}"
    column = JOB_ORDERS.get(query.order, "name")
    direction = "DESC" if query.descending else "ASC"
    nulls = "IS NULL" if not query.descending else "IS NOT NULL"
    order = f"{column} {nulls}, {column} {direction}, name {direction}"
    return [
        counted,
        (f"SELECT {JOB_COLUMNS} FROM jobs {clause} ORDER BY {order} {page}", list(p.values)),
    ]


def _is_null(column: str, yes: bool) -> str:
    return f"{column} IS NULL" if yes else f"{column} IS NOT NULL"


def _value_in(column: str, value: str | int) -> Any:
    """A cursor value as PostgreSQL compares it: an instant's text as a timestamptz."""
    return parse_instant(value) if column in INSTANT_ORDERS and isinstance(value, str) else value
