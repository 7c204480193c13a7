"""The store protocol: everything the engine and the front ends need from persistent state.

Shaped for more than one implementation (SQLite now, PostgreSQL for several nodes later): the
scheduler's state changes are whole transactions (``claim_due``, ``start_queued``, ``finish_runs``)
to which it hands a *pure* planner; the store runs the planner inside the transaction, on the rows
it has locked, and applies the plan. A run row is unique per (job, scheduled instant, attempt), so
no crash or race can fire an instant twice.
"""

from __future__ import annotations

__all__ = [
    "ApprovalDecision",
    "BackfillPlanner",
    "ClaimPlan",
    "FinishItem",
    "FinishPlan",
    "JobPage",
    "JobQuery",
    "JobStore",
    "LeaseInfo",
    "NodeInfo",
    "Orphan",
    "QueuedStart",
    "RowEncoder",
    "RunStats",
    "StartPlan",
    "StoredDefinition",
    "cap_context",
]

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from ..llm_cost import CostDay, SpendToday
from ..model import (
    AgentContext,
    AuditEvent,
    AuditEventType,
    HeartbeatIteration,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
)
from ..records import record
from .job_cursor import JobCursor
from .retention import PruneBatch, PruneCursor, PruneTarget, StoreStats


@record(kw_only=True)
class LeaseInfo:
    """Who fires jobs from this store."""

    owner: str
    pid: int
    host: str
    api_address: str | None
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    #: the holder's kernel boot and pid namespace (scheduler_core.liveness), if recorded
    machine: str | None = None

    def is_live(self, now: datetime) -> bool:
        return self.expires_at > now


@record(kw_only=True)
class StoredDefinition:
    """A definition registered in the store with its schedules: its kind (``agent``), name, the
    keys its block takes (for an agent, ``scheduler_core.dsl.agents.agent_to_mapping``), and
    where it was defined."""

    kind: str
    name: str
    definition: Mapping[str, Any]
    source: str | None = None
    updated_at: str = ""


@record(kw_only=True)
class NodeInfo:
    """A scheduler process announced in the store, renewing its row like a lease.

    On a single-scheduler store (SQLite) the lease holder is the ``leader`` and the others wait
    as ``standby``; on a shared store (PostgreSQL) every node is ``active`` and claims work.
    """

    owner: str
    host: str
    pid: int
    api_address: str | None
    role: str  #: leader | standby | active
    started_at: datetime  #: when this node (re)gained its lease
    heartbeat: datetime  #: its last renewal
    expires_at: datetime
    running: int = 0  #: runs it holds (recorded running under its name)

    def is_live(self, now: datetime) -> bool:
        return self.expires_at > now

    def as_lease(self) -> LeaseInfo:
        """This node's own lease, in the store lease's terms (its tenure, its last renewal)."""
        return LeaseInfo(
            owner=self.owner,
            pid=self.pid,
            host=self.host,
            api_address=self.api_address,
            acquired_at=self.started_at,
            renewed_at=self.heartbeat,
            expires_at=self.expires_at,
        )


@record(kw_only=True)
class Orphan:
    """A run recorded running by a scheduler that is gone."""

    run: JobRun
    heartbeat: datetime | None  #: the dead holder's last renewal, when the store still knows it


@record(kw_only=True)
class ClaimPlan:
    """What to do with one due job: advance it and (usually) record a run."""

    job: JobDefinition  #: as read in the transaction
    next_run_at: datetime | None
    status: JobStatus | None = None  #: a new job status, if it changes
    run: JobRun | None = None  #: running, queued or skipped
    audit: tuple[AuditEvent, ...] = ()


@record(kw_only=True)
class StartPlan:
    """A queued run to start now, to leave queued (``start`` False), or to cancel."""

    run: JobRun
    job: JobDefinition
    start: bool
    cancel_reason: str | None = None


@record(kw_only=True)
class ApprovalDecision:
    """An answer to a run awaiting approval: approved, denied, or expired (timed out)."""

    decision: str  #: approved | denied | expired
    decided_by: str
    decided_at: datetime
    reason: str | None = None


@record(kw_only=True)
class FinishItem:
    """A run that ended, with the job definition it ran under."""

    run: JobRun  #: final status, output, error, timings filled in
    job: JobDefinition
    expected: RunStatus = RunStatus.RUNNING  #: it finishes only if still recorded so (fencing)
    approval: ApprovalDecision | None = None  #: recorded with it (a denied approval)
    context: AgentContext | None = None  #: the job's agent context after this run, to keep


@record(kw_only=True)
class FinishPlan:
    """The job-side consequences of a finished run."""

    job_id: str
    status: JobStatus | None = None
    failure_count: int
    last_error: str | None = None
    count_run: bool = True  #: add to run_count (not for denied/skipped)
    retry: JobRun | None = None
    #: runs of the jobs that come ``after`` this one (queued, or skipped with the reason),
    #: recorded in the same transaction as this finish (see ``ChainPlanner``)
    chained: tuple[JobRun, ...] = ()
    audit: tuple[AuditEvent, ...] = ()


@record(kw_only=True)
class JobQuery:
    status: JobStatus | None = None
    agent: str | None = None
    text: str | None = None  #: substring of name or agent
    order: str = "name"  #: name | next_run_at | status | agent | last_run_at | failure_count
    descending: bool = False
    limit: int = 100
    offset: int = 0
    #: keyset paging: the jobs after this one in the order (``order``/``descending`` are the
    #: cursor's; ``offset`` is 0); None: from the first job, skipping ``offset``
    after: JobCursor | None = None
    #: when given, each job of the page is handed over as ``encode(row, read_instant)`` (in
    #: ``JobPage.encoded``, ``jobs`` left empty): its row (``JOB_COLUMNS``) and the store's
    #: reader of its instant columns; an API sends a page without building its jobs
    encode: RowEncoder | None = None


#: a job's row (``JOB_COLUMNS``) and the store's instant reader -> the job as bytes
RowEncoder = Callable[[Sequence[Any], Callable[[Any], datetime | None]], bytes]


@record(kw_only=True)
class JobPage:
    jobs: list[JobDefinition]
    total: int
    #: the page's jobs as ``JobQuery.encode`` made them (None: not asked)
    encoded: list[bytes] | None = None
    #: the cursor of the page's last job (``JobQuery.after`` for the next page), or None when
    #: no job follows it
    next_cursor: str | None = None


@record(kw_only=True)
class RunStats:
    runs_total: int = 0
    runs_succeeded: int = 0
    runs_failed: int = 0
    execution_ms_total: int = 0
    executions: int = 0
    by_status: Mapping[str, int] = field(default_factory=dict)

    @property
    def avg_execution_time_ms(self) -> int:
        return round(self.execution_ms_total / self.executions) if self.executions else 0


#: Planners get the due jobs (or queued runs) locked in the transaction, and the runs of those jobs
#: other nodes have running, counted inside it (a store with one scheduler passes ``{}``): with
#: the scheduler's own count, what a job's max_concurrent holds across nodes.
ClaimPlanner = Callable[[Sequence[JobDefinition], Mapping[str, int]], list[ClaimPlan]]
StartPlanner = Callable[
    [Sequence[tuple[JobRun, JobDefinition]], Mapping[str, int]], list[StartPlan]
]
FinishPlanner = Callable[[FinishItem, JobDefinition | None], FinishPlan | None]
#: a backfill, planned in its transaction: the job as it is now (None: deleted) and its runs
#: (manual ones aside) in the range -> the runs to insert and their audit events


@dataclass(slots=True, kw_only=True)
class QueuedStart:
    """Queued runs to start in the transaction that finishes runs (the slots those runs leave):
    what :meth:`JobStore.start_queued` takes; the store sets ``plans`` to what it answers
    (None: ``owner`` does not hold the lease, or the store was not asked)."""

    now: datetime
    limit: int
    owner: str
    planner: StartPlanner
    plans: list[StartPlan] | None = None
    #: also read, in the same transaction, the agent contexts of the jobs whose runs it starts
    #: (those whose session mode keeps one); a store that does sets ``contexts`` to the ids it
    #: read and what it found (a store may not: the runtime then reads them itself)
    read_contexts: bool = False
    contexts: tuple[list[str], dict[str, AgentContext]] | None = None


BackfillPlanner = Callable[
    [JobDefinition | None, Sequence[JobRun]], tuple[Sequence[JobRun], Sequence[AuditEvent]]
]
#: Given a succeeded run's item, its plan, its job (as the transaction holds it) and the jobs
#: whose ``after`` names that job (found by an index, in name order): the plan with their runs in
#: ``chained`` (and their audit events), which the store writes in the same transaction.
ChainPlanner = Callable[
    [FinishItem, FinishPlan, JobDefinition, Sequence[JobDefinition]], FinishPlan
]


class JobStore(Protocol):
    """Persistent state. Every method is one transaction."""

    url: str
    #: several schedulers fire from this store at once, each holding its own node lease
    #: (``register_node``); otherwise one holds the store lease (``acquire_lease``) at a time
    shared: bool

    @property
    def fault_counts(self) -> Mapping[str, int]:
        """The store faults (``StoreUnavailable``) met since this object was made, by cause."""
        ...

    async def open(self, *, preflight: bool = False) -> None:
        """Connect, and bring the schema up to date. ``preflight`` (a scheduler about to start
        on it): first raise ``StoreUnavailable`` if the store is corrupt, read-only, or locked by
        another process past a timeout."""
        ...

    async def close(self) -> None: ...

    # --- jobs --------------------------------------------------------------------------------
    async def insert_jobs(
        self, jobs: Sequence[JobDefinition], audit: Sequence[AuditEvent]
    ) -> None: ...
    async def upsert_jobs(
        self,
        jobs: Sequence[JobDefinition],
        audit: Sequence[AuditEvent],
        definitions: Sequence[StoredDefinition] = (),
    ) -> None:
        """Insert new jobs and rewrite existing ones (by id), and register ``definitions`` (by
        kind and name), in one transaction."""
        ...

    async def list_definitions(self, kind: str) -> list[StoredDefinition]:
        """The definitions of this kind registered in the store, by name."""
        ...

    async def update_job(self, job: JobDefinition, audit: Sequence[AuditEvent]) -> None: ...
    async def delete_job(self, job_id: str, audit: Sequence[AuditEvent]) -> bool: ...
    async def get_job(self, job_id: str) -> JobDefinition | None: ...
    async def get_job_by_name(self, name: str) -> JobDefinition | None: ...
    async def jobs_by_names(self, names: Sequence[str]) -> dict[str, JobDefinition]:
        """The stored jobs of these names (those there are), by name, in one read."""
        ...

    async def find_jobs(self, ref: str, limit: int = 5) -> list[JobDefinition]: ...
    async def all_job_names(self) -> list[str]: ...
    async def jobs_with_templates(self, after: str = "", limit: int = 500) -> list[JobDefinition]:
        """The jobs (by id, the first ``limit`` past ``after``) whose definition has a field
        that may hold ``${VAR}`` or a secret (``webhook_url``, ``webhook_headers``,
        ``delivery_config``, ``agent_pin_jwt``): what the start-up secrets scan reads, instead
        of every job."""
        ...

    async def list_jobs(self, query: JobQuery) -> JobPage: ...
    async def prepare_text_search(self) -> None:
        """Get ``list_jobs``' text filter ready ahead of the first query (SQLite reads every
        job's name into memory once; a no-op where filtering needs nothing prepared)."""
        ...

    async def count_jobs(self) -> dict[JobStatus, int]: ...
    async def next_wakeup(self, now: datetime, ahead: float = 0.0) -> datetime | None: ...

    # --- runs --------------------------------------------------------------------------------
    async def claim_due(
        self,
        now: datetime,
        limit: int,
        owner: str,
        planner: ClaimPlanner,
        *,
        until: datetime | None = None,
    ) -> list[ClaimPlan] | None: ...
    async def start_queued(
        self, now: datetime, limit: int, owner: str, planner: StartPlanner
    ) -> list[StartPlan] | None: ...
    async def finish_runs(
        self,
        items: Sequence[FinishItem],
        planner: FinishPlanner,
        chain: ChainPlanner | None = None,
        *,
        start: QueuedStart | None = None,
    ) -> list[FinishPlan | None]:
        """Finish ``items`` (fenced by ``item.expected``) with ``planner``'s consequences for their
        jobs; with ``chain``, a run that succeeded also records the runs of its job's followers
        (``chain``'s plan), in the same transaction. With ``start``, then, in the same
        transaction, queued runs are started as :meth:`start_queued` does (its answer in
        ``start.plans``)."""
        ...

    async def followers(self, name: str) -> list[JobDefinition]:
        """The jobs whose ``after`` names ``name``, by name (an index look-up, no scan)."""
        ...

    async def insert_run(self, run: JobRun, audit: Sequence[AuditEvent]) -> None: ...
    async def backfill_runs(
        self, job_id: str, start: datetime, end: datetime, planner: BackfillPlanner
    ) -> None:
        """In one transaction: read the job (locked) and its non-manual runs scheduled in
        ``[start, end]``, oldest instant and attempt first; insert the runs and audit events
        the planner returns (what it raises rolls everything back)."""
        ...

    async def update_run(
        self,
        run: JobRun,
        *,
        expected: RunStatus | None = None,
        audit: Sequence[AuditEvent] = (),
    ) -> bool: ...
    async def get_run(self, run_id: str) -> JobRun | None: ...
    async def runs_with_prefix(self, prefix: str, limit: int = 2) -> list[JobRun]: ...
    async def list_runs(
        self,
        job_id: str | None = None,
        *,
        status: RunStatus | Sequence[RunStatus] | None = None,
        limit: int = 50,
        before_seq: int | None = None,
    ) -> list[JobRun]: ...
    async def open_runs_by_job(self) -> dict[str, int]: ...
    async def last_runs(
        self, job_ids: Sequence[str], statuses: Sequence[RunStatus]
    ) -> dict[str, JobRun]:
        """The newest run in one of ``statuses`` of each job that has one (one round trip)."""
        ...

    async def awaiting_by_job(self) -> dict[str, int]:
        """Runs awaiting approval per job (they count against the job's max_concurrent)."""
        ...

    # --- approvals ----------------------------------------------------------------------------
    async def park_run(
        self,
        run: JobRun,
        *,
        expires_at: datetime | None,
        approvers: Sequence[str],
        audit: Sequence[AuditEvent] = (),
    ) -> bool:
        """A running run starts awaiting approval (only if still running)."""
        ...

    async def approve_run(
        self, run: JobRun, decision: ApprovalDecision, audit: Sequence[AuditEvent] = ()
    ) -> bool:
        """An awaiting run is released (``run`` is its queued state); False if not awaiting."""
        ...

    async def cancel_requests(self) -> dict[str, dict[str, str]]:
        """Running runs whose cancel another process asked for: run id -> ``by``, ``at``."""
        ...

    async def expired_approvals(self, now: datetime) -> list[str]:
        """Run ids whose approval window has closed without a decision."""
        ...

    async def run_stats(self) -> RunStats: ...

    # --- LLM cost (scheduler_core/llm_cost.py) --------------------------------------------------
    async def cost_days(self, job_id: str, since: date, until: date) -> list[CostDay]:
        """The job's days from ``since`` to ``until`` (its zone's dates) that had LLM runs."""
        ...

    async def spent_today(
        self, now: datetime, job_day: tuple[str, date] | None = None
    ) -> SpendToday:
        """One job's cost on its day (``job_day``), or every job's on its day not over."""
        ...

    # --- heartbeat, contexts, audit -----------------------------------------------------------
    async def record_iteration(self, iteration: HeartbeatIteration) -> None: ...
    async def list_iterations(self, run_id: str) -> list[HeartbeatIteration]: ...
    async def load_context(self, job_id: str) -> AgentContext | None: ...
    async def load_contexts(self, job_ids: Sequence[str]) -> dict[str, AgentContext]:
        """The stored contexts of these jobs (those that have one), in one round trip."""
        ...

    async def save_context(self, context: AgentContext, max_bytes: int) -> None: ...
    async def record_audit(self, events: Sequence[AuditEvent]) -> None: ...
    async def query_audit(
        self,
        *,
        type: AuditEventType | str | None = None,
        job_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]: ...

    # --- lease ---------------------------------------------------------------------------------
    async def acquire_lease(
        self, owner: str, *, now: datetime, ttl: float, api_address: str | None = None
    ) -> LeaseInfo: ...
    async def release_lease(self, owner: str) -> None: ...
    async def get_lease(self) -> LeaseInfo | None:
        """Who fires jobs: the lease holder (a shared store: its oldest live node)."""
        ...

    # --- nodes ---------------------------------------------------------------------------------
    async def register_node(
        self,
        owner: str,
        *,
        now: datetime,
        ttl: float,
        api_address: str | None = None,
        role: str = "active",
    ) -> NodeInfo:
        """Announce or renew this scheduler until ``now + ttl``. A node whose row had expired
        starts afresh (``started_at`` = now): whatever it held may have been recovered."""
        ...

    async def unregister_node(self, owner: str) -> None: ...
    async def list_nodes(self, now: datetime) -> list[NodeInfo]:
        """The nodes alive at ``now``, oldest first, with the runs each holds."""
        ...

    async def orphaned_runs(self, now: datetime, owner: str, limit: int = 500) -> list[Orphan]:
        """Runs recorded running whose holder is gone: on a shared store, no live node holds
        them; otherwise (``owner`` holds the store lease) any not ``owner``'s."""
        ...

    async def data_version(self) -> int: ...
    def watch(self, callback: Callable[[], None]) -> bool:
        """Call ``callback`` when another process changes the store; False if unsupported."""
        ...

    def unwatch(self) -> None: ...

    # --- retention (store/retention.py) --------------------------------------------------------
    async def prune_batch(
        self,
        target: PruneTarget,
        *,
        after: PruneCursor | None = None,
        limit: int = 500,
        dry_run: bool = False,
    ) -> PruneBatch:
        """Remove up to ``limit`` rows of ``target`` past ``after`` that have expired, in one
        short transaction (a dry run removes nothing and counts what would go); hand the
        returned cursor back for the next batch (None: done)."""
        ...

    async def reclaim_space(self, max_pages: int) -> tuple[int, float]:
        """Give up to ``max_pages`` unused pages of the file back to the file system (SQLite's
        incremental vacuum): the pages given back (0: none left, or nothing to do on this
        store) and how long the write lock was held, in milliseconds."""
        ...

    def maintenance(self) -> AbstractAsyncContextManager[bool]:
        """Held for a pruning pass; yields False when another node is pruning (a shared
        store's nodes prune one at a time)."""
        ...

    async def store_stats(self, *, exact: bool = True) -> StoreStats:
        """Rows and bytes per table, the space the store takes, the oldest run and event;
        ``exact=False``: only the space (no counting, for a pruning pass's before and after)."""
        ...

    async def vacuum(self) -> tuple[int, int]:
        """Rewrite a SQLite file so that it gives space back from now on (``symbi store
        vacuum``; holds the write lock throughout): its size before and after."""
        ...

    # --- misc -----------------------------------------------------------------------------------
    async def integrity_check(self) -> str: ...


Json = Mapping[str, Any]


def cap_context(context: AgentContext, max_bytes: int, *, archive: bool = False) -> AgentContext:
    """The context with its oldest memory entries dropped until it fits in ``max_bytes``; with
    ``archive``, the dropped entries are added to its ``archived`` (the store keeps them)."""
    entries = list(context.memory)
    if not entries:
        return context
    sizes = [len(json.dumps(dict(e), separators=(",", ":"), default=str).encode()) for e in entries]
    total = sum(sizes) + len(sizes) + 1  # the commas and brackets of the list
    start = 0
    while total > max_bytes and start < len(entries):
        total -= sizes[start] + 1
        start += 1
    if start == 0:
        return context
    archived = (*context.archived, *entries[:start]) if archive else context.archived
    return dataclasses.replace(context, memory=tuple(entries[start:]), archived=archived)
