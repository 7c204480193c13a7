"""The half of a store that does not depend on its database, written once.

:class:`StoreBase` answers the look-ups whose SQL both dialects spell alike (but for their
placeholders), through what a store supplies: ``_fetchall`` and ``_fetch_together`` (queries on
its reading connection) and its :class:`Dialect` (placeholders, and how it keeps instants and
text). What differs, transactions first, is each store's own (``sqlite/``, ``postgres/``).
"""

from __future__ import annotations

__all__ = ["Dialect", "StoreBase", "name_conflict", "runs_by_job_sql"]

import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Literal, Self

from ..errors import ConflictError, StoreUnavailable
from ..model import (
    AgentContext,
    AuditEvent,
    AuditEventType,
    HeartbeatIteration,
    JobDefinition,
    JobRun,
    RunStatus,
)
from ..records import record
from ._costs import CostReads
from ._queries import Params, audit_query, runs_query
from ._rows import (
    JOB_COLUMNS,
    RUN_COLUMNS,
    ReadInstant,
    WriteInstant,
    WriteText,
    audit_from_row,
    audit_params,
    iteration_from_row,
    job_definition_params,
    job_from_row,
    job_params,
    lease_from_row,
    run_from_row,
    run_params,
    run_stats_from_rows,
    run_update_params,
    same,
)
from .base import LeaseInfo, RunStats, StoredDefinition

#: names looked up per query by ``jobs_by_names`` (well under SQLite's limit of parameters)
_NAMES_PER_QUERY = 500


def name_conflict(found: Iterable[str], names: Sequence[str], error: Exception) -> ConflictError:
    """The error for jobs whose names are taken: by jobs ``found`` stored under them, else by
    each other (a name twice in the batch); ``error``, the database's, if neither explains it."""
    taken = list(found) or [name for name, count in Counter(names).items() if count > 1]
    return ConflictError(f"a job named {taken[0]!r} already exists" if taken else str(error))


@record
class Dialect:
    """How one store spells a parameter and keeps instants and text, and so how its rows and
    records convert (``_rows.py`` with this store's converters)."""

    placeholders: Literal["?", "$"]
    read_instant: ReadInstant
    write_instant: WriteInstant
    write_text: WriteText = same
    #: the SQL of a job row's ``after`` (the leader's name), read from its definition; an
    #: expression index of the same text finds a job's followers
    after_key: str = "json_extract(definition, '$.after')"
    #: the runs table as a query of the few runs in open statuses names it: on SQLite the
    #: (status, due_at) index, which the planner passes over for ``GROUP BY job_id`` (it walks
    #: the (job_id, status, seq) index instead: every run, 0.5 s over 5,000,000 runs)
    runs_by_status: str = "runs"

    def params(self) -> Params:
        return Params(self.placeholders)

    def job(self, row: Sequence[Any]) -> JobDefinition:
        return job_from_row(row, self.read_instant)

    def run(self, row: Sequence[Any]) -> JobRun:
        return run_from_row(row, self.read_instant)

    def lease(self, row: Sequence[Any]) -> LeaseInfo:
        return lease_from_row(row, self.read_instant)

    def job_values(self, job: JobDefinition) -> tuple[Any, ...]:
        return job_params(job, self.write_instant, self.write_text)

    def job_definition_values(self, job: JobDefinition) -> tuple[Any, ...]:
        return job_definition_params(job, self.write_instant, self.write_text)

    def run_values(self, run: JobRun) -> tuple[Any, ...]:
        return run_params(run, self.write_instant, self.write_text)

    def run_update_values(self, run: JobRun) -> tuple[Any, ...]:
        return run_update_params(run, self.write_instant, self.write_text)

    def audit_values(self, event: AuditEvent) -> tuple[Any, ...]:
        return audit_params(event, self.write_instant, self.write_text)


def runs_by_job_sql(dialect: Dialect, status: str) -> str:
    """The count of runs per job whose status is ``status`` (SQL: ``= 'queued'``, ``IN (...)``),
    read through the status index (the scheduler asks at every wake-up after a change)."""
    return (
        f"SELECT job_id, count(*) FROM {dialect.runs_by_status} WHERE status {status} "
        "GROUP BY job_id"
    )


#: the job fields that may hold ``${VAR}`` or a secret written out (see secrets.py)
TEMPLATE_FIELDS = ("webhook_url", "webhook_headers", "delivery_config", "agent_pin_jwt")


class StoreBase(CostReads, ABC):
    """What every store does alike: the context manager, the look-ups of jobs, runs, approvals,
    heartbeat iterations and audit events by a key, and the run counters."""

    _dialect: ClassVar[Dialect]

    def __init__(self) -> None:
        self._fault_counts: Counter[str] = Counter()

    @property
    def fault_counts(self) -> Mapping[str, int]:
        """The store faults met since this object was made, by cause (what the
        ``symbiont_cron_store_errors_total`` metric counts)."""
        return self._fault_counts

    def _fault(self, fault: StoreUnavailable) -> StoreUnavailable:
        """Count ``fault`` and return it, to be raised."""
        self._fault_counts[fault.cause] += 1
        return fault

    @abstractmethod
    async def open(self, *, preflight: bool = False) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """The rows of one query on the reading connection."""

    @abstractmethod
    async def _fetch_together(self, *queries: tuple[str, Sequence[Any]]) -> list[list[Any]]:
        """The rows of each query, asked in one go (on PostgreSQL, of one snapshot)."""

    @abstractmethod
    async def load_contexts(self, job_ids: Sequence[str]) -> dict[str, AgentContext]: ...

    def _cannot_hold(self, *keys: object) -> bool:
        """Whether a look-up key is text this store cannot hold (then nothing stored matches it,
        and it is not sent to the database)."""
        return False

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- jobs -------------------------------------------------------------------------------------

    async def get_job(self, job_id: str) -> JobDefinition | None:
        return await self._one_job("id", job_id)

    async def get_job_by_name(self, name: str) -> JobDefinition | None:
        return await self._one_job("name", name)

    async def jobs_by_names(self, names: Sequence[str]) -> dict[str, JobDefinition]:
        """The stored jobs of these names (those there are), by name, in one read: a batch's
        look-up, where one query per name cost a round trip each."""
        wanted = [n for n in dict.fromkeys(names) if not self._cannot_hold(n)]
        queries: list[tuple[str, Sequence[Any]]] = []
        for i in range(0, len(wanted), _NAMES_PER_QUERY):
            p = self._dialect.params()
            among = p.among("name", wanted[i : i + _NAMES_PER_QUERY])
            queries.append((f"SELECT {JOB_COLUMNS} FROM jobs WHERE {among}", p.values))
        found: dict[str, JobDefinition] = {}
        for rows in await self._fetch_together(*queries) if queries else []:
            for row in rows:
                job = self._dialect.job(row)
                found[job.name] = job
        return found

    async def _one_job(self, column: str, key: str) -> JobDefinition | None:
        if self._cannot_hold(key):
            return None
        p = self._dialect.params()
        rows = await self._fetchall(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE {column} = {p(key)}", p.values
        )
        return self._dialect.job(rows[0]) if rows else None

    async def followers(self, name: str) -> list[JobDefinition]:
        if self._cannot_hold(name):
            return []
        p = self._dialect.params()
        rows = await self._fetchall(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE {self._dialect.after_key} = {p(name)} "
            "ORDER BY name",
            p.values,
        )
        return [self._dialect.job(r) for r in rows]

    async def all_job_names(self) -> list[str]:
        return [r[0] for r in await self._fetchall("SELECT name FROM jobs ORDER BY name")]

    async def jobs_with_templates(self, after: str = "", limit: int = 500) -> list[JobDefinition]:
        # a definition stores only the fields a job sets, by name: most jobs have none of these
        fields = " OR ".join(f"definition LIKE '%\"{f}\"%'" for f in TEMPLATE_FIELDS)
        p = self._dialect.params()
        rows = await self._fetchall(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE id > {p(after)} AND ({fields}) "
            f"ORDER BY id LIMIT {p(limit)}",
            p.values,
        )
        return [self._dialect.job(r) for r in rows]

    # --- runs -------------------------------------------------------------------------------------

    async def get_run(self, run_id: str) -> JobRun | None:
        if self._cannot_hold(run_id):
            return None
        p = self._dialect.params()
        rows = await self._fetchall(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE id = {p(run_id)}", p.values
        )
        return self._dialect.run(rows[0]) if rows else None

    async def list_definitions(self, kind: str) -> list[StoredDefinition]:
        p = self._dialect.params()
        rows = await self._fetchall(
            "SELECT name, definition, source, updated_at FROM definitions "
            f"WHERE kind = {p(kind)} ORDER BY name",
            p.values,
        )
        return [
            StoredDefinition(
                kind=kind, name=r[0], definition=json.loads(r[1]), source=r[2], updated_at=r[3]
            )
            for r in rows
        ]

    async def runs_with_prefix(self, prefix: str, limit: int = 2) -> list[JobRun]:
        """Runs whose id starts with ``prefix`` (a range of the primary key: no scan)."""
        if not prefix or self._cannot_hold(prefix):
            return []
        p = self._dialect.params()
        after = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = await self._fetchall(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE id >= {p(prefix)} AND id < {p(after)} "
            f"ORDER BY id LIMIT {int(limit)}",
            p.values,
        )
        return [self._dialect.run(row) for row in rows]

    async def list_runs(
        self,
        job_id: str | None = None,
        *,
        status: RunStatus | Sequence[RunStatus] | None = None,
        limit: int = 50,
        before_seq: int | None = None,
    ) -> list[JobRun]:
        """Newest first, keyset-paginated by ``before_seq`` (a run's ``details['seq']``)."""
        if self._cannot_hold(job_id):
            return []
        p = self._dialect.params()
        sql = runs_query(p, job_id=job_id, status=status, before_seq=before_seq, limit=limit)
        return [self._dialect.run(r) for r in await self._fetchall(sql, p.values)]

    async def open_runs_by_job(self) -> dict[str, int]:
        """Running and awaiting-approval runs per job (what per-job concurrency counts)."""
        return await self._runs_by_job("IN ('running', 'awaiting_approval')")

    async def awaiting_by_job(self) -> dict[str, int]:
        """Runs awaiting approval per job (they count against the job's max_concurrent)."""
        return await self._runs_by_job("= 'awaiting_approval'")

    async def _runs_by_job(self, status: str) -> dict[str, int]:
        rows = await self._fetchall(runs_by_job_sql(self._dialect, status))
        return {r[0]: r[1] for r in rows}

    async def cancel_requests(self) -> dict[str, dict[str, str]]:
        """Running runs an operator asked to cancel through another process than the one
        running them (``details["cancel_requested"]``): run id -> who asked and when. Read by
        each scheduler that runs agents, after another process wrote; few rows are running."""
        rows = await self._fetchall(
            "SELECT id, details FROM runs WHERE status = 'running' "
            "AND details LIKE '%\"cancel_requested\"%'"
        )
        found: dict[str, dict[str, str]] = {}
        for run_id, text in rows:
            request = json.loads(text).get("cancel_requested") if text else None
            if isinstance(request, dict):
                found[run_id] = {str(k): str(v) for k, v in request.items()}
        return found

    async def run_stats(self) -> RunStats:
        totals, open_rows = await self._fetch_together(
            (
                "SELECT runs_total, runs_succeeded, runs_failed, execution_ms_total, executions "
                "FROM run_stats WHERE id = 1",
                (),
            ),
            (
                "SELECT status, count(*) FROM runs "
                "WHERE status IN ('queued', 'running', 'awaiting_approval') GROUP BY status",
                (),
            ),
        )
        return run_stats_from_rows(totals[0], open_rows)

    async def expired_approvals(self, now: datetime) -> list[str]:
        """Run ids whose approval window has closed without a decision."""
        p = self._dialect.params()
        rows = await self._fetchall(
            "SELECT run_id FROM approvals WHERE decision IS NULL "
            f"AND expires_at <= {p(self._dialect.write_instant(now))} ORDER BY expires_at",
            p.values,
        )
        return [r[0] for r in rows]

    # --- heartbeat, contexts, audit ---------------------------------------------------------------

    async def list_iterations(self, run_id: str) -> list[HeartbeatIteration]:
        if self._cannot_hold(run_id):
            return []
        p = self._dialect.params()
        rows = await self._fetchall(
            "SELECT run_id, idx, started_at, finished_at, outcome, assessment, action, summary, "
            f"output_excerpt FROM heartbeat_iterations WHERE run_id = {p(run_id)} ORDER BY idx",
            p.values,
        )
        return [iteration_from_row(r, self._dialect.read_instant) for r in rows]

    async def load_context(self, job_id: str) -> AgentContext | None:
        return (await self.load_contexts([job_id])).get(job_id)

    async def query_audit(
        self,
        *,
        type: AuditEventType | str | None = None,
        job_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        if self._cannot_hold(type, job_id):
            return []
        d = self._dialect
        p = d.params()
        sql = audit_query(
            p,
            type=type,
            job_id=job_id,
            since=since,
            until=until,
            limit=limit,
            instant=d.write_instant,
        )
        return [audit_from_row(r, d.read_instant) for r in await self._fetchall(sql, p.values)]


def definition_values(d: StoredDefinition) -> tuple[str, str, str, str | None, str]:
    """A ``definitions`` row (kind, name, definition, source, updated_at) of either dialect."""
    return (
        d.kind,
        d.name,
        json.dumps(d.definition, sort_keys=True, ensure_ascii=False),
        d.source,
        d.updated_at,
    )
