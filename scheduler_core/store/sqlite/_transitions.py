"""The scheduler's three transactions on SQLite: claim what is due, start queued runs, finish
runs. Each is one ``BEGIN IMMEDIATE`` transaction run whole on the writer's thread: it checks the
lease, reads the rows, hands them to the scheduler's planner and applies the plan.
"""

from __future__ import annotations

__all__ = ["claim_due", "finish_runs", "start_queued"]

import sqlite3
from collections.abc import Sequence
from typing import Any

from ...model import AuditEvent, JobDefinition, JobRun, RunStatus, SessionMode
from .._accounting import JobOutcome, RunTally, recorded_claims
from .._costs import CostTally, upsert_sql
from .._rows import (
    J_JOB_COLUMNS,
    JOB_COLUMNS,
    R_RUN_COLUMNS,
    RUN_WIDTH,
    JobTemplates,
    run_from_row,
)
from ..base import (
    ChainPlanner,
    ClaimPlan,
    ClaimPlanner,
    FinishItem,
    FinishPlan,
    FinishPlanner,
    QueuedStart,
    StartPlan,
    StartPlanner,
)
from ._batch import UPDATE_FROM, fetch_rows, insert_rows, update_from
from ._lease import holds_lease
from ._sessions import read_contexts
from ._sql import (
    AFTER_KEY,
    INSERT_OWNED_RUN_ONCE,
    INSERT_RUN_ONCE,
    UPDATE_RUN,
    fmt,
    instant,
    job_of,
    run_update_values,
    run_values,
    stored,
    values_head,
    write_audit,
    write_context,
    write_decision,
)

#: the jobs the scheduler's transactions read: a run's claim (or start) keeps its job's, its
#: finish takes it back (the row most often unchanged in its definition: see JobTemplates)
_templates = JobTemplates()


def _job(row: Sequence[Any]) -> JobDefinition:
    """The job of a row of ``JOB_COLUMNS``, kept for its run's finish."""
    return _templates.job(row, instant)


#: a claim's jobs, advanced (see _batch.update_from)
_ADVANCE_FROM = (
    "UPDATE jobs SET next_run_at = v.next_run_at, status = v.status FROM v WHERE jobs.id = v.id"
)
_OWNED_RUN_HEAD = values_head(INSERT_OWNED_RUN_ONCE)


def _due_order(row: list[Any]) -> tuple[str, int]:
    """A due job's place in the ``jobs_due`` index (its ``next_run_at``, then its rowid, the
    last column :func:`claim_due` reads)."""
    return row[5], row[-1]


def claim_due(
    conn: sqlite3.Connection,
    stamp: str,
    horizon: str,
    limit: int,
    owner: str,
    planner: ClaimPlanner,
) -> list[ClaimPlan] | None:
    """Advance jobs due by ``horizon`` and record their runs under ``owner``; None if it does not
    hold the lease at ``stamp`` (both stored instants)."""
    if not holds_lease(conn, owner, stamp):
        return None
    rows = fetch_rows(
        conn,
        f"{JOB_COLUMNS}, rowid",
        f"SELECT {JOB_COLUMNS}, rowid FROM jobs INDEXED BY jobs_due "
        "WHERE status = 'active' AND next_run_at <= ? ORDER BY next_run_at LIMIT ?",
        (horizon, limit),
    )
    if not rows:
        return []
    # in the index's order, as a scan of it reads them: by instant, then by rowid
    rows.sort(key=_due_order)
    plans = planner([_job(r) for r in rows], {})
    advanced = [(stored(p.next_run_at), (p.status or p.job.status).value, p.job.id) for p in plans]
    if UPDATE_FROM:  # (the jobs read once each: one row of v a job)
        update_from(conn, "next_run_at, status, id", _ADVANCE_FROM, advanced)
    else:
        conn.executemany("UPDATE jobs SET next_run_at = ?, status = ? WHERE id = ?", advanced)
    runs = [p.run for p in plans if p.run is not None]
    before = conn.total_changes
    insert_rows(conn, _OWNED_RUN_HEAD, [(*run_values(r), owner) for r in runs])
    if conn.total_changes - before != len(runs):
        # some instant was fired already (never twice): keep only the runs inserted now
        ids = [r.id for r in runs]
        inserted: set[str] = set()
        for k in range(0, len(ids), 500):
            chunk = ids[k : k + 500]
            inserted.update(
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM runs WHERE id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
            )
        plans = recorded_claims(plans, inserted)
    audits = [e for p in plans for e in p.audit]
    if audits:
        write_audit(conn, audits)
    return list(plans)


def start_queued(
    conn: sqlite3.Connection, stamp: str, limit: int, owner: str, planner: StartPlanner
) -> list[StartPlan] | None:
    """Start (or cancel) queued runs due by ``stamp``, as the planner says; None if ``owner``
    does not hold the lease."""
    if not holds_lease(conn, owner, stamp):
        return None
    rows = conn.execute(
        f"SELECT {R_RUN_COLUMNS}, {J_JOB_COLUMNS} "
        "FROM runs r INDEXED BY runs_status JOIN jobs j ON j.id = r.job_id "
        "WHERE r.status = 'queued' AND r.due_at <= ? ORDER BY r.due_at LIMIT ?",
        (stamp, limit),
    ).fetchall()
    if not rows:
        return []
    plans = planner(_pairs(rows), {})
    if _start_batch(conn, plans, stamp, owner):
        return [p for p in plans if p.start or p.cancel_reason is not None]
    out = []
    for plan in plans:
        if plan.cancel_reason is not None:
            cur = conn.execute(
                "UPDATE runs SET status = 'cancelled', finished_at = ?, error_message = ? "
                "WHERE id = ? AND status = 'queued'",
                (stamp, plan.cancel_reason, plan.run.id),
            )
            if cur.rowcount:
                out.append(plan)
            continue
        if not plan.start:
            continue
        cur = conn.execute(
            "UPDATE runs SET status = ?, started_at = ?, owner = ? "
            "WHERE id = ? AND status = 'queued'",
            (plan.run.status.value, stored(plan.run.started_at), owner, plan.run.id),
        )
        if cur.rowcount:
            out.append(plan)
    return out


#: queued runs started (see _start_batch): each as start_queued's loop updates one
_START_RUNS_FROM = (
    "UPDATE runs SET status = v.status, started_at = v.started_at, owner = v.owner "
    "FROM v WHERE runs.id = v.id AND runs.status = 'queued'"
)


def _start_batch(
    conn: sqlite3.Connection, plans: Sequence[StartPlan], stamp: str, owner: str
) -> bool:
    """What :func:`start_queued`'s loop writes for ``plans`` (each a run it read queued in this
    transaction), in one statement for the runs it starts and one for those it cancels, if
    every one of them is still queued (the transaction read them so, and no two plans are of
    one run); False, with nothing written, if not (the loop then writes them one by one)."""
    starts = [p for p in plans if p.cancel_reason is None and p.start]
    cancels = [p for p in plans if p.cancel_reason is not None]
    n = len(starts) + len(cancels)
    if not UPDATE_FROM or n < 2 or len({p.run.id for p in plans}) != len(plans):
        return False
    conn.execute("SAVEPOINT start_batch")
    changed = 0
    for plan in cancels:  # (rare: one by one, as the loop does)
        changed += conn.execute(
            "UPDATE runs SET status = 'cancelled', finished_at = ?, error_message = ? "
            "WHERE id = ? AND status = 'queued'",
            (stamp, plan.cancel_reason, plan.run.id),
        ).rowcount
    values = [(p.run.status.value, stored(p.run.started_at), owner, p.run.id) for p in starts]
    changed += update_from(conn, "status, started_at, owner, id", _START_RUNS_FROM, values)
    if changed != n:
        conn.execute("ROLLBACK TO start_batch")
        conn.execute("RELEASE start_batch")
        return False
    conn.execute("RELEASE start_batch")
    return True


#: the run-and-job pairs the last start read, by their whole rows: a finish's start reads a few
#: rows beyond the slots its batch leaves, which the next one reads again first while a queue
#: drains (unchanged, or they would not be the same rows); parsing them is most of its time
_last_read: dict[tuple[Any, ...], tuple[JobRun, JobDefinition]] = {}
#: no more rows than this are kept (a start of many slots reads many, none of them again)
_KEEP_READ = 64


def _pairs(rows: Sequence[Any]) -> list[tuple[JobRun, JobDefinition]]:
    """The runs and jobs of ``rows`` (``R_RUN_COLUMNS, J_JOB_COLUMNS``), those read by the last
    start as it parsed them (runs and jobs are immutable records)."""
    global _last_read
    last = _last_read
    keys = [tuple(row) for row in rows]
    pairs = [
        last.get(key) or (run_from_row(key[:RUN_WIDTH], instant), _job(key[RUN_WIDTH:]))
        for key in keys
    ]
    _last_read = dict(zip(keys, pairs, strict=True)) if len(keys) <= _KEEP_READ else {}
    return pairs


def finish_runs(
    conn: sqlite3.Connection,
    items: Sequence[FinishItem],
    planner: FinishPlanner,
    chain: ChainPlanner | None = None,
    start: QueuedStart | None = None,
) -> list[FinishPlan | None]:
    """Finish runs one after another, each with its consequences for its job (and, with
    ``chain``, the runs of the jobs that come after a job whose run succeeded); then, with
    ``start``, start queued runs in the slots they leave (``start.plans``)."""
    plans: list[FinishPlan | None] = []
    audits: list[AuditEvent] = []
    tally = RunTally()
    costs = CostTally()
    leaders = _leaders(conn, items) if chain is not None else frozenset()
    batch = None if leaders else _finish_batch(conn, items, planner, chained=chain is not None)
    for item in items if batch is None else ():
        run = item.run
        # only a run still recorded as running can finish: if its job was removed, or a
        # scheduler that took over the lease already marked it interrupted (and retried
        # it), this late result must not overwrite that decision
        cur = conn.execute(
            UPDATE_RUN + " AND status = ?", (*run_update_values(run), item.expected.value)
        )
        if cur.rowcount == 0:
            plans.append(None)
            continue
        if item.approval is not None:
            write_decision(conn, run.id, item.approval)
        if item.context is not None:
            write_context(conn, item.context)
        row = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (run.job_id,)).fetchone()
        current = _templates.take(row, instant) if row else None
        plan = planner(item, current)
        if plan is not None and current is not None and chain is not None:
            plan = _chained(conn, item, plan, current, chain, leaders)
        plans.append(plan)
        if plan is None or current is None:
            continue
        conn.execute(
            "UPDATE jobs SET status = ?, failure_count = ?, last_error = ?, "
            "last_run_at = ?, last_run_status = ?, run_count = run_count + ? "
            "WHERE id = ?",
            _outcome_values(current, run, plan),
        )
        if plan.retry is not None:
            conn.execute(INSERT_RUN_ONCE, run_values(plan.retry))
        for follower_run in plan.chained:
            conn.execute(INSERT_RUN_ONCE, run_values(follower_run))
        audits.extend(plan.audit)
        tally.add(run, plan.count_run)
        costs.add(current, run)
    if batch is not None:
        plans, audits, tally, costs = batch
    if costs:
        conn.executemany(
            upsert_sql(["?"] * 8),
            [(j, d.isoformat(), fmt(e), *rest) for j, d, e, *rest in costs.rows()],
        )
        conn.executemany(
            upsert_sql(["?"] * 3, by_end=True),
            [(fmt(e), runs, cost) for e, runs, cost in costs.end_rows()],
        )
    if audits:
        write_audit(conn, audits, rows=True)
    if tally:
        conn.execute(
            "UPDATE run_stats SET runs_total = runs_total + ?, "
            "runs_succeeded = runs_succeeded + ?, runs_failed = runs_failed + ?, "
            "execution_ms_total = execution_ms_total + ?, executions = executions + ? "
            "WHERE id = 1",
            tally.values(),
        )
    if start is not None:
        start.plans = start_queued(conn, fmt(start.now), start.limit, start.owner, start.planner)
        if start.read_contexts and start.plans:
            # the runs it starts wait for their contexts: read here, not in a hop of their own
            ids = list(
                {
                    p.job.id: None
                    for p in start.plans
                    if p.start and p.job.session_mode is not SessionMode.FULLY_EPHEMERAL
                }
            )
            start.contexts = (ids, read_contexts(conn, ids) if ids else {})
    return plans


#: a batch's runs finished (see _finish_batch): each as UPDATE_RUN, if still in its status
_FINISH_RUNS_FROM = (
    "UPDATE runs SET due_at = v.due_at, started_at = v.started_at, finished_at = v.finished_at, "
    "status = v.status, output = v.output, error_message = v.error_message, summary = v.summary, "
    "execution_time_ms = v.execution_time_ms, details = v.details "
    "FROM v WHERE runs.id = v.id AND runs.status = v.expected"
)
_FINISH_RUN_NAMES = (
    "due_at, started_at, finished_at, status, output, error_message, summary, "
    "execution_time_ms, details, id, expected"
)
#: their jobs' outcomes (see JobOutcome)
_OUTCOMES_FROM = (
    "UPDATE jobs SET status = v.status, failure_count = v.failure_count, "
    "last_error = v.last_error, last_run_at = v.last_run_at, "
    "last_run_status = v.last_run_status, run_count = jobs.run_count + v.counted "
    "FROM v WHERE jobs.id = v.id"
)
_OUTCOME_NAMES = "status, failure_count, last_error, last_run_at, last_run_status, counted, id"


def _finish_batch(
    conn: sqlite3.Connection, items: Sequence[FinishItem], planner: FinishPlanner, *, chained: bool
) -> tuple[list[FinishPlan | None], list[AuditEvent], RunTally, CostTally] | None:
    """The finish of a batch whose runs are all still in their expected status, of as many
    jobs, none of them followed by another (the caller looked their names up; with
    ``chained``, a job renamed since its run was claimed is not such a batch): what the loop
    of :func:`finish_runs` writes, in a few statements (see ``_batch``) rather than three a
    run. None, with nothing written, if the batch is not such a one (the loop then finishes
    it).

    The same writes: each run updated if still in its status (here all are), each job read
    after its run's update and before its own (no other run of the batch touches it), the
    retries inserted in the batch's order.

    Whether it is such a batch is read before anything is written (the transaction holds the
    write lock: nothing else writes until it ends), not found out afterwards and undone by a
    savepoint: with ``temp_store = MEMORY``, a savepoint keeps a copy of every page the batch
    changes until it is released (27 MB for 2,048 runs; 10,000 runs at one instant peaked at
    114 MB of RSS with it, 91 MB without)."""
    n = len(items)
    if not UPDATE_FROM or n < 2:
        return None
    if len({i.run.id for i in items}) != n or len({i.run.job_id for i in items}) != n:
        return None
    if not _all_expected(conn, items) or (chained and _renamed(conn, items)):
        return None  # one was finished elsewhere meanwhile, or a succeeded job renamed
    finished = [(*run_update_values(i.run), i.expected.value) for i in items]
    if update_from(conn, _FINISH_RUN_NAMES, _FINISH_RUNS_FROM, finished) != n:
        # (cannot be: every run was just read in its expected status, in this transaction)
        raise RuntimeError("a finish batch updated fewer runs than it read in their status")
    for item in items:
        if item.approval is not None:
            write_decision(conn, item.run.id, item.approval)
        if item.context is not None:
            write_context(conn, item.context)
    rows: dict[str, list[Any]] = {}
    ids = [i.run.job_id for i in items]
    for k in range(0, n, 500):
        chunk = ids[k : k + 500]
        query = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id IN ({','.join('?' * len(chunk))})"
        rows.update((r[0], r) for r in fetch_rows(conn, JOB_COLUMNS, query, chunk))
    plans: list[FinishPlan | None] = []
    audits: list[AuditEvent] = []
    tally = RunTally()
    costs = CostTally()
    outcomes = []
    retries = []
    for item in items:
        run = item.run
        job_row = rows.get(run.job_id)
        current = _templates.take(job_row, instant) if job_row else None
        plan = planner(item, current)
        plans.append(plan)
        if plan is None or current is None:
            continue
        outcomes.append(_outcome_values(current, run, plan))
        if plan.retry is not None:
            retries.append(run_values(plan.retry))
        audits.extend(plan.audit)
        tally.add(run, plan.count_run)
        costs.add(current, run)
    update_from(conn, _OUTCOME_NAMES, _OUTCOMES_FROM, outcomes)
    if retries:
        conn.executemany(INSERT_RUN_ONCE, retries)
    return plans, audits, tally, costs


def _all_expected(conn: sqlite3.Connection, items: Sequence[FinishItem]) -> bool:
    """Whether every run of ``items`` (as many runs) is recorded in its item's expected
    status."""
    expected = {i.run.id: i.expected.value for i in items}
    ids = list(expected)
    seen = 0
    for k in range(0, len(ids), 500):
        chunk = ids[k : k + 500]
        query = f"SELECT id, status FROM runs WHERE id IN ({','.join('?' * len(chunk))})"
        for run_id, status in fetch_rows(conn, "id, status", query, chunk):
            if expected[run_id] != status:
                return False
            seen += 1
    return seen == len(ids)


def _renamed(conn: sqlite3.Connection, items: Sequence[FinishItem]) -> bool:
    """Whether a job whose run succeeded (as many jobs) is named otherwise than at its claim
    (its followers are looked up by its new name: the loop's :func:`_chained`). A job removed
    meanwhile is not renamed. Nothing the batch writes renames a job."""
    names = {i.run.job_id: i.job.name for i in items if i.run.status is RunStatus.SUCCEEDED}
    ids = list(names)
    for k in range(0, len(ids), 500):
        chunk = ids[k : k + 500]
        query = f"SELECT id, name FROM jobs WHERE id IN ({','.join('?' * len(chunk))})"
        if any(
            names[job_id] != name for job_id, name in fetch_rows(conn, "id, name", query, chunk)
        ):
            return True
    return False


def _leaders(conn: sqlite3.Connection, items: Sequence[FinishItem]) -> frozenset[str]:
    """Which of the names of the jobs whose runs succeeded (as claimed) some job comes after:
    one look-up a batch instead of one a run. The transaction adds no job and changes no
    definition, so a name not found here has no follower until it ends."""
    names = sorted({i.job.name for i in items if i.run.status is RunStatus.SUCCEEDED})
    found: set[str] = set()
    for k in range(0, len(names), 500):
        chunk = names[k : k + 500]
        found.update(
            row[0]
            for row in conn.execute(
                f"SELECT DISTINCT {AFTER_KEY} FROM jobs "
                f"WHERE {AFTER_KEY} IN ({','.join('?' * len(chunk))})",
                chunk,
            )
        )
    return frozenset(found)


def _chained(
    conn: sqlite3.Connection,
    item: FinishItem,
    plan: FinishPlan,
    current: JobDefinition,
    chain: ChainPlanner,
    leaders: frozenset[str],
) -> FinishPlan:
    """``plan`` with the runs of the jobs that come after ``current``, if its run succeeded
    (the ``jobs_after`` index finds them). ``leaders``: of the names the batch's jobs had at
    their claim, those some job comes after (see :func:`_leaders`); a job still so named and
    not among them has no follower, and is not looked up again."""
    if item.run.status is not RunStatus.SUCCEEDED:
        return plan
    if current.name == item.job.name and current.name not in leaders:
        return plan
    rows = conn.execute(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE {AFTER_KEY} = ? ORDER BY name", (current.name,)
    ).fetchall()
    return chain(item, plan, current, [job_of(r) for r in rows]) if rows else plan


def _outcome_values(job: JobDefinition, run: JobRun, plan: FinishPlan) -> tuple[Any, ...]:
    """What a finished run writes on its job, as the values of the finish's job update: status,
    failure_count, last_error, last_run_at, last_run_status, run_count's increment, job id."""
    outcome = JobOutcome.of(job, run, plan)
    return (
        outcome.status.value,
        outcome.failure_count,
        outcome.last_error,
        fmt(outcome.last_run_at),
        outcome.last_run_status.value,
        outcome.counted,
        run.job_id,
    )
