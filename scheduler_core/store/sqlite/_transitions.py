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
from .._rows import J_JOB_COLUMNS, JOB_COLUMNS, R_RUN_COLUMNS, run_and_job_from_row
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
    write_audit,
    write_context,
    write_decision,
)


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
    rows = conn.execute(
        f"SELECT {JOB_COLUMNS} FROM jobs INDEXED BY jobs_due "
        "WHERE status = 'active' AND next_run_at <= ? ORDER BY next_run_at LIMIT ?",
        (horizon, limit),
    ).fetchall()
    if not rows:
        return []
    plans = planner([job_of(r) for r in rows], {})
    conn.executemany(
        "UPDATE jobs SET next_run_at = ?, status = ? WHERE id = ?",
        [(stored(p.next_run_at), (p.status or p.job.status).value, p.job.id) for p in plans],
    )
    runs = [p.run for p in plans if p.run is not None]
    before = conn.total_changes
    conn.executemany(INSERT_OWNED_RUN_ONCE, [(*run_values(r), owner) for r in runs])
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
    pairs = [last.get(key) or run_and_job_from_row(key, instant) for key in keys]
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
    for item in items:
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
        current = job_of(row) if row else None
        plan = planner(item, current)
        if plan is not None and current is not None and chain is not None:
            plan = _chained(conn, item, plan, current, chain, leaders)
        plans.append(plan)
        if plan is None or current is None:
            continue
        outcome = JobOutcome.of(current, run, plan)
        conn.execute(
            "UPDATE jobs SET status = ?, failure_count = ?, last_error = ?, "
            "last_run_at = ?, last_run_status = ?, run_count = run_count + ? "
            "WHERE id = ?",
            (
                outcome.status.value,
                outcome.failure_count,
                outcome.last_error,
                fmt(outcome.last_run_at),
                outcome.last_run_status.value,
                outcome.counted,
                run.job_id,
            ),
        )
        if plan.retry is not None:
            conn.execute(INSERT_RUN_ONCE, run_values(plan.retry))
        for follower_run in plan.chained:
            conn.execute(INSERT_RUN_ONCE, run_values(follower_run))
        audits.extend(plan.audit)
        tally.add(run, plan.count_run)
        costs.add(current, run)
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
        write_audit(conn, audits)
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
