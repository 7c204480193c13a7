"""Retention: what a store keeps, what pruning asks of it, and what it reports.

The records both stores share (the SQL is each store's own, in ``sqlite/_retention.py`` and
``postgres/_retention.py``):

- :class:`RetentionPolicy`: how long runs, heartbeat iterations, audit events and archived context
  entries are kept (``[store]`` settings), and which runs are kept whatever their age: each job's
  newest ``keep_runs_per_job`` and every run of a dead-lettered job;
- :class:`PruneTarget`: one table's rows older than an instant, for one batch of pruning
  (``JobStore.prune_batch``), walked with a :class:`PruneCursor` so a pass never looks at a row
  twice;
- :class:`PruneBatch`, :class:`PruneReport`: what one batch and one whole pass did;
- :class:`StoreStats`: rows and bytes per table, the file's free space, the oldest run.

The pass itself (batches small enough never to hold the write lock for long, pauses between them,
the space given back) is :class:`scheduler_core.store.pruning.Pruner`'s.
"""

from __future__ import annotations

__all__ = [
    "PRUNED_TABLES",
    "PruneBatch",
    "PruneCursor",
    "PruneReport",
    "PruneTarget",
    "RetentionPolicy",
    "StoreStats",
    "TableStats",
]

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..clock import format_instant, parse_instant
from ..records import record

#: the tables pruning removes rows from, in the order a pass visits them (iterations before
#: their runs, so an iteration is counted once; archived context entries last)
PRUNED_TABLES = (
    "heartbeat_iterations",
    "runs",
    "audit_events",
    "context_archive",
    "llm_cost_days",
    "llm_cost_day_ends",
)


@record(kw_only=True)
class RetentionPolicy:
    """How long history is kept; 0 days keeps it for ever (iterations: as long as their run)."""

    run_days: float = 0
    iteration_days: float = 0
    audit_days: float = 0
    keep_runs_per_job: int = 100
    keep_dead_letter_runs: bool = True

    @classmethod
    def of(cls, store: Any) -> RetentionPolicy:
        """The policy of a ``[store]`` table (:class:`~scheduler_core.settings.StoreConfig`)."""
        return cls(
            run_days=store.run_retention_days,
            iteration_days=store.iteration_retention_days,
            audit_days=store.audit_retention_days,
            keep_runs_per_job=store.keep_runs_per_job,
            keep_dead_letter_runs=store.keep_dead_letter_runs,
        )

    @property
    def enabled(self) -> bool:
        """Whether anything is ever pruned."""
        return bool(self.run_days or self.iteration_days or self.audit_days)

    def targets(self, now: datetime) -> list[PruneTarget]:
        """What one pass at ``now`` removes, table by table (:data:`PRUNED_TABLES` order)."""
        per_job, dead = self.keep_runs_per_job, self.keep_dead_letter_runs
        out: list[PruneTarget] = []
        iterations: datetime | None = None
        if self.iteration_days:
            iterations = now - timedelta(days=self.iteration_days)
            out.append(
                PruneTarget(
                    table="heartbeat_iterations",
                    before=iterations,
                    keep_per_job=per_job,
                    keep_dead_letter=dead,
                )
            )
        if self.run_days:
            before = now - timedelta(days=self.run_days)
            out.append(
                PruneTarget(
                    table="runs",
                    before=before,
                    keep_per_job=per_job,
                    keep_dead_letter=dead,
                    iterations_before=iterations,
                )
            )
        if self.audit_days:
            before = now - timedelta(days=self.audit_days)
            out.append(PruneTarget(table="audit_events", before=before))
        if self.run_days:  # archived context entries are kept as long as runs
            before = now - timedelta(days=self.run_days)
            out.append(PruneTarget(table="context_archive", before=before))
            # a job's LLM cost per day (llm_cost_days), by when the day ended
            out.append(PruneTarget(table="llm_cost_days", before=before))
            out.append(PruneTarget(table="llm_cost_day_ends", before=before))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_retention_days": self.run_days,
            "iteration_retention_days": self.iteration_days,
            "audit_retention_days": self.audit_days,
            "keep_runs_per_job": self.keep_runs_per_job,
            "keep_dead_letter_runs": self.keep_dead_letter_runs,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetentionPolicy:
        return cls(
            run_days=float(data.get("run_retention_days") or 0),
            iteration_days=float(data.get("iteration_retention_days") or 0),
            audit_days=float(data.get("audit_retention_days") or 0),
            keep_runs_per_job=int(data.get("keep_runs_per_job") or 0),
            keep_dead_letter_runs=bool(data.get("keep_dead_letter_runs", True)),
        )


@record(kw_only=True)
class PruneTarget:
    """Rows of ``table`` older than ``before``: runs by when they finished (open runs never),
    iterations by when they started, audit events and archived context entries by their instant.

    Runs and iterations are kept whatever their age when their run is among its job's newest
    ``keep_per_job`` runs, or (``keep_dead_letter``) its job is in the dead-letter queue."""

    table: str
    before: datetime
    keep_per_job: int = 0
    keep_dead_letter: bool = False
    #: runs: the iterations of removed runs older than this were removed (and counted) by the
    #: pass over the iterations; they are not counted again with their runs
    iterations_before: datetime | None = None


@dataclass(slots=True)
class PruneCursor:
    """Where a pass has got to in one table (the last row looked at), and what it has learned
    along the way; opaque to callers, who hand back what ``prune_batch`` returned."""

    position: tuple[Any, ...]
    #: job id -> the seq below which its runs are not among its newest ``keep_per_job``. Runs
    #: only grow newer, so a bound learned earlier in the pass keeps more, never less.
    bounds: dict[str, int] = field(default_factory=dict)


@record(kw_only=True)
class PruneBatch:
    """What one batch did: rows looked at, rows removed (or, in a dry run, that would be)."""

    examined: int
    removed: int
    #: rows removed with them: the iterations of removed runs
    cascaded: int = 0
    #: where to go on; None when the table has nothing older left to look at
    cursor: PruneCursor | None = None
    #: how long the batch held the store's write lock, in milliseconds (0 in a dry run)
    held_ms: float = 0.0


@record(kw_only=True)
class PruneReport:
    """One pruning pass: what it removed (or would), and the space given back."""

    dry_run: bool
    started_at: datetime
    policy: RetentionPolicy
    #: table -> rows removed (``heartbeat_iterations`` includes those that went with their run)
    removed: Mapping[str, int] = field(default_factory=dict)
    #: table -> the instant older rows were removed before
    cutoffs: Mapping[str, datetime] = field(default_factory=dict)
    bytes_before: int | None = None
    bytes_after: int | None = None
    seconds: float = 0.0
    batches: int = 0
    #: the longest a batch held the store's write lock, in milliseconds
    longest_hold_ms: float = 0.0
    #: why nothing was done (no retention configured, another node is pruning)
    skipped: str | None = None
    #: a note for the operator (e.g. a SQLite file that cannot shrink until vacuumed once)
    note: str | None = None

    @property
    def total(self) -> int:
        return sum(self.removed.values())

    @property
    def reclaimed_bytes(self) -> int | None:
        if self.bytes_before is None or self.bytes_after is None:
            return None
        return max(self.bytes_before - self.bytes_after, 0)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (``symbi store prune --format json``, ``POST /api/v1/store/prune``)."""
        return {
            "dry_run": self.dry_run,
            "started_at": _out(self.started_at),
            "removed": dict(self.removed),
            "cutoffs": {table: _out(at) for table, at in self.cutoffs.items()},
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "reclaimed_bytes": self.reclaimed_bytes,
            "seconds": round(self.seconds, 3),
            "batches": self.batches,
            "longest_hold_ms": round(self.longest_hold_ms, 3),
            "skipped": self.skipped,
            "note": self.note,
            "retention": self.policy.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PruneReport:
        return cls(
            dry_run=bool(data["dry_run"]),
            started_at=parse_instant(data["started_at"]),
            policy=RetentionPolicy.from_dict(data.get("retention") or {}),
            removed={str(k): int(v) for k, v in (data.get("removed") or {}).items()},
            cutoffs={str(k): parse_instant(v) for k, v in (data.get("cutoffs") or {}).items()},
            bytes_before=data.get("bytes_before"),
            bytes_after=data.get("bytes_after"),
            seconds=float(data.get("seconds") or 0),
            batches=int(data.get("batches") or 0),
            longest_hold_ms=float(data.get("longest_hold_ms") or 0),
            skipped=data.get("skipped"),
            note=data.get("note"),
        )


@record(kw_only=True)
class TableStats:
    rows: int
    bytes: int | None = None  #: the table with its indexes (None: the store cannot tell)


@record(kw_only=True)
class StoreStats:
    """What a store holds and what it takes on disk."""

    url: str
    backend: str  #: sqlite | postgresql
    tables: Mapping[str, TableStats]
    total_bytes: int  #: the database file and its write-ahead log (PostgreSQL: the database)
    free_bytes: int | None = None  #: pages the file holds unused (SQLite's free list)
    wal_bytes: int | None = None
    #: SQLite: none | full | incremental (only incremental files shrink as they are pruned)
    auto_vacuum: str | None = None
    oldest_run_at: datetime | None = None  #: the oldest finished run
    oldest_audit_at: datetime | None = None
    #: the retention the answering process applies (its ``[store]`` settings)
    retention: RetentionPolicy | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape (``symbi store stats --format json``, ``GET /api/v1/store/stats``)."""
        return {
            "url": self.url,
            "backend": self.backend,
            "tables": {
                name: {"rows": table.rows, "bytes": table.bytes}
                for name, table in self.tables.items()
            },
            "total_bytes": self.total_bytes,
            "free_bytes": self.free_bytes,
            "wal_bytes": self.wal_bytes,
            "auto_vacuum": self.auto_vacuum,
            "oldest_run_at": _out(self.oldest_run_at),
            "oldest_audit_at": _out(self.oldest_audit_at),
            "retention": self.retention.to_dict() if self.retention else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoreStats:
        retention = data.get("retention")
        return cls(
            url=str(data["url"]),
            backend=str(data["backend"]),
            tables={
                str(name): TableStats(rows=int(t["rows"]), bytes=t.get("bytes"))
                for name, t in (data.get("tables") or {}).items()
            },
            total_bytes=int(data["total_bytes"]),
            free_bytes=data.get("free_bytes"),
            wal_bytes=data.get("wal_bytes"),
            auto_vacuum=data.get("auto_vacuum"),
            oldest_run_at=_in(data.get("oldest_run_at")),
            oldest_audit_at=_in(data.get("oldest_audit_at")),
            retention=RetentionPolicy.from_dict(retention) if retention else None,
        )


def _out(value: datetime | None) -> str | None:
    return format_instant(value) if value is not None else None


def _in(value: Any) -> datetime | None:
    return parse_instant(value) if isinstance(value, str) and value else None
