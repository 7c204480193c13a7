"""The scheduler's three transactions on PostgreSQL: claim what is due, start queued runs, finish
runs. Each runs inside one transaction (``Tx``) and writes a whole batch in a few statements.

- ``claim_due`` locks the due jobs with ``FOR NO KEY UPDATE SKIP LOCKED``, so concurrent claimers
  get disjoint jobs; the planner runs on the locked rows and the plan (advance the jobs, insert
  the runs ``ON CONFLICT DO NOTHING``, audit) is applied in a few round trips whatever the batch
  size (``unnest`` of column arrays). ``start_queued`` locks queued runs the same way. Both check
  the node's row (``FOR SHARE``, so a takeover waits for them to commit);
- ``finish_runs`` finishes a run only if it is still in ``item.expected`` status (fencing); it
  locks the jobs it touches in id order first (no deadlock between concurrent finishers) and
  writes a whole batch in a few statements, with the outcome of finishing the items one by one.
"""

from __future__ import annotations

__all__ = ["claim_due", "finish_runs", "start_queued"]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ...model import AuditEvent, JobDefinition, JobRun, RunStatus
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
from ._sql import (
    DIALECT,
    INSERT_RUNS_ONCE,
    columns,
    job_of,
    run_update_values,
    run_values,
    same,
    storable,
    utc,
)
from ._tx import Tx, others_running, write_archive, write_contexts


async def claim_due(
    t: Tx,
    now: datetime,
    horizon: datetime,
    limit: int,
    owner: str,
    planner: ClaimPlanner,
) -> list[ClaimPlan] | None:
    """Advance jobs due by ``horizon`` and record their runs under ``owner``; None if it may not
    fire at ``now``. Jobs another transaction has locked are skipped, not waited for."""
    if not await holds_lease(t.conn, owner, now):
        return None
    rows = await t.conn.fetch(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE status = 'active' AND next_run_at <= $1 "
        "ORDER BY next_run_at LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED",
        horizon,
        limit,
    )
    if not rows:
        return []
    others = await others_running(t.conn, [r[0] for r in rows], owner)
    plans = planner([job_of(r) for r in rows], others)
    if plans:
        await t.execute(
            "UPDATE jobs SET next_run_at = v.next_run_at, status = v.status "
            "FROM unnest($1::text[], $2::timestamptz[], $3::text[]) "
            "AS v(id, next_run_at, status) WHERE jobs.id = v.id",
            [p.job.id for p in plans],
            [utc(p.next_run_at) for p in plans],
            [(p.status or p.job.status).value for p in plans],
        )
    runs = [p.run for p in plans if p.run is not None]
    if runs:
        inserted = await t.fetch_written(
            INSERT_RUNS_ONCE, *columns([run_values(r) for r in runs], 17), owner
        )
        if len(inserted) != len(runs):
            # some instant was fired already (never twice): keep only the runs inserted now
            plans = recorded_claims(plans, {r[0] for r in inserted})
    await t.audit([e for p in plans for e in p.audit])
    return list(plans)


async def start_queued(
    t: Tx, now: datetime, limit: int, owner: str, planner: StartPlanner
) -> list[StartPlan] | None:
    """Start (or cancel) queued runs due by ``now``, as the planner says; None if ``owner`` may
    not fire."""
    if not await holds_lease(t.conn, owner, now):
        return None
    rows = await t.conn.fetch(
        f"SELECT {R_RUN_COLUMNS}, {J_JOB_COLUMNS} "
        "FROM runs r JOIN jobs j ON j.id = r.job_id "
        "WHERE r.status = 'queued' AND r.due_at <= $1 ORDER BY r.due_at LIMIT $2 "
        # the job too: its runs start one transaction at a time across nodes
        "FOR NO KEY UPDATE OF r, j SKIP LOCKED",
        now,
        limit,
    )
    if not rows:
        return []
    pairs = [run_and_job_from_row(r, same) for r in rows]
    others = await others_running(t.conn, [run.job_id for run, _ in pairs], owner)
    plans = planner(pairs, others)
    cancels = [p for p in plans if p.cancel_reason is not None]
    starts = [p for p in plans if p.cancel_reason is None and p.start]
    done: set[str] = set()
    if cancels:
        rows = await t.fetch_written(
            "UPDATE runs SET status = 'cancelled', finished_at = $1, "
            "error_message = v.reason FROM unnest($2::text[], $3::text[]) AS v(id, reason) "
            "WHERE runs.id = v.id AND runs.status = 'queued' RETURNING runs.id",
            now,
            [p.run.id for p in cancels],
            [storable(p.cancel_reason) for p in cancels],
        )
        done.update(r[0] for r in rows)
    if starts:
        rows = await t.fetch_written(
            "UPDATE runs SET status = v.status, started_at = v.started_at, owner = $1 "
            "FROM unnest($2::text[], $3::text[], $4::timestamptz[]) "
            "AS v(id, status, started_at) "
            "WHERE runs.id = v.id AND runs.status = 'queued' RETURNING runs.id",
            owner,
            [p.run.id for p in starts],
            [p.run.status.value for p in starts],
            [utc(p.run.started_at) for p in starts],
        )
        done.update(r[0] for r in rows)
    return [p for p in plans if (p.cancel_reason is not None or p.start) and p.run.id in done]


@dataclass(slots=True)
class _FinishAcc:
    """What a finish_runs transaction gathers before writing it in bulk."""

    plans: list[FinishPlan | None] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)
    retries: list[JobRun] = field(default_factory=list)
    audits: list[AuditEvent] = field(default_factory=list)
    tally: RunTally = field(default_factory=RunTally)
    costs: CostTally = field(default_factory=CostTally)
    #: the jobs that come after each job (by its name) whose run succeeded in this batch
    followers: dict[str, list[JobDefinition]] = field(default_factory=dict)
    chain: ChainPlanner | None = None


def _unique_runs(items: Sequence[FinishItem]) -> list[list[FinishItem]]:
    """Consecutive chunks in which no run appears twice (a repeat starts a new chunk)."""
    chunks: list[list[FinishItem]] = [[]]
    seen: set[str] = set()
    for item in items:
        if item.run.id in seen:
            chunks.append([])
            seen = set()
        seen.add(item.run.id)
        chunks[-1].append(item)
    return [c for c in chunks if c]


async def finish_runs(
    t: Tx,
    items: Sequence[FinishItem],
    planner: FinishPlanner,
    chain: ChainPlanner | None = None,
    start: QueuedStart | None = None,
) -> list[FinishPlan | None]:
    """Finish runs and apply their consequences to their jobs; then, with ``start``, start
    queued runs in the slots they leave (``start.plans``).

    The same outcome as finishing the items one after another (each planner call sees the job
    as the previous items left it), in a handful of round trips per batch: the runs are
    finished with one fenced UPDATE, the planner runs on the locked job rows kept up to date
    in memory, and the jobs, retries, audit and stats are written with one statement each.
    """
    # lock the jobs in one order first: concurrent finishers cannot deadlock
    rows = await t.conn.fetch(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE",
        sorted({item.run.job_id for item in items}),
    )
    jobs = {r[0]: job_of(r) for r in rows}
    acc = _FinishAcc(chain=chain)
    if chain is not None:
        await _load_followers(t, items, jobs, acc)
    for chunk in _unique_runs(items):
        await _finish_chunk(t, chunk, planner, jobs, acc)
    if acc.changed:
        changed = [jobs[job_id] for job_id in sorted(acc.changed)]
        await t.execute(
            "UPDATE jobs SET status = v.status, failure_count = v.failure_count, "
            "last_error = v.last_error, last_run_at = v.last_run_at, "
            "last_run_status = v.last_run_status, run_count = v.run_count "
            "FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], "
            "$5::timestamptz[], $6::text[], $7::bigint[]) AS v(id, status, "
            "failure_count, last_error, last_run_at, last_run_status, run_count) "
            "WHERE jobs.id = v.id",
            [j.id for j in changed],
            [j.status.value for j in changed],
            [j.failure_count for j in changed],
            [j.last_error for j in changed],
            [j.last_run_at for j in changed],
            [j.last_run_status.value if j.last_run_status else None for j in changed],
            [j.run_count for j in changed],
        )
    if acc.retries:
        await t.fetch_written(
            INSERT_RUNS_ONCE, *columns([run_values(r) for r in acc.retries], 17), None
        )
    await t.audit(acc.audits)
    if acc.costs:
        await t.execute(
            upsert_sql(
                [f"${i}" for i in range(1, 9)],
                [
                    "text[]",
                    "date[]",
                    "timestamptz[]",
                    "bigint[]",
                    "bigint[]",
                    "bigint[]",
                    "float8[]",
                    "bigint[]",
                ],
            ),
            *(list(column) for column in zip(*acc.costs.rows(), strict=True)),
        )
        await t.execute(
            upsert_sql(["$1", "$2", "$3"], ["timestamptz[]", "bigint[]", "float8[]"], by_end=True),
            *(list(column) for column in zip(*acc.costs.end_rows(), strict=True)),
        )
    if acc.tally:
        await t.execute(
            "UPDATE run_stats SET runs_total = runs_total + $1, "
            "runs_succeeded = runs_succeeded + $2, runs_failed = runs_failed + $3, "
            "execution_ms_total = execution_ms_total + $4, "
            "executions = executions + $5 WHERE id = 1",
            *acc.tally.values(),
        )
    if start is not None:
        start.plans = await start_queued(t, start.now, start.limit, start.owner, start.planner)
    return acc.plans


async def _finish_chunk(
    t: Tx,
    items: Sequence[FinishItem],
    planner: FinishPlanner,
    jobs: dict[str, JobDefinition],
    acc: _FinishAcc,
) -> None:
    """Finish runs with distinct ids; ``jobs`` (locked) is kept as the database holds them."""
    # only a run still recorded as expected can finish: if its job was removed, or a scheduler
    # that took over the lease already marked it interrupted (and retried it), this late
    # result must not overwrite that decision
    params = [(*run_update_values(i.run), i.expected.value) for i in items]
    finished = {
        r[0]
        for r in await t.fetch_written(
            "UPDATE runs SET due_at = v.due_at, started_at = v.started_at, "
            "finished_at = v.finished_at, status = v.status, output = v.output, "
            "error_message = v.error_message, summary = v.summary, "
            "execution_time_ms = v.execution_time_ms, details = v.details "
            "FROM unnest($1::timestamptz[], $2::timestamptz[], $3::timestamptz[], "
            "$4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], "
            "$10::text[], $11::text[]) AS v(due_at, started_at, finished_at, status, output, "
            "error_message, summary, execution_time_ms, details, id, expected) "
            "WHERE runs.id = v.id AND runs.status = v.expected RETURNING runs.id",
            *columns(params, 11),
        )
    }
    done = [i for i in items if i.run.id in finished]
    decided = [i for i in done if i.approval is not None]
    if decided:
        await t.execute(
            "UPDATE approvals SET decision = v.decision, decided_by = v.decided_by, "
            "decided_at = v.decided_at, reason = v.reason "
            "FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) "
            "AS v(run_id, decision, decided_by, decided_at, reason) "
            "WHERE approvals.run_id = v.run_id AND approvals.decision IS NULL",
            [i.run.id for i in decided],
            [i.approval.decision for i in decided if i.approval],
            [storable(i.approval.decided_by) for i in decided if i.approval],
            [utc(i.approval.decided_at) for i in decided if i.approval],
            [storable(i.approval.reason) for i in decided if i.approval],
        )
    contexts = {i.context.job_id: i.context for i in done if i.context is not None}
    if contexts:  # the last one per job wins, as if saved one after another
        await write_contexts(t, list(contexts.values()))
        await write_archive(t, [i.context for i in done if i.context is not None])
    for item in items:
        run = item.run
        if run.id not in finished:
            acc.plans.append(None)
            continue
        current = jobs.get(run.job_id)
        plan = planner(item, current)
        acc.plans.append(plan)
        if plan is None or current is None:
            continue
        jobs[run.job_id] = JobOutcome.of(current, run, plan).applied(current, storable, utc)
        acc.changed.add(run.job_id)
        if acc.chain is not None and run.status is RunStatus.SUCCEEDED:
            followers = acc.followers.get(current.name)
            if followers:
                plan = acc.chain(item, plan, current, followers)
                acc.plans[-1] = plan
        if plan.retry is not None:
            acc.retries.append(plan.retry)
        acc.retries.extend(plan.chained)
        acc.audits.extend(plan.audit)
        acc.tally.add(run, plan.count_run)
        acc.costs.add(current, run)


async def _load_followers(
    t: Tx, items: Sequence[FinishItem], jobs: Mapping[str, JobDefinition], acc: _FinishAcc
) -> None:
    """The jobs that come after the jobs of the runs that succeeded, in one look-up (the
    ``jobs_after`` index). Their rows are share-locked: a follower removed meanwhile is either
    seen gone or removed after this transaction, never in between (its run's insert would fail
    on the missing job and take the leader's finish with it)."""
    names = sorted(
        {
            jobs[i.run.job_id].name
            for i in items
            if i.run.status is RunStatus.SUCCEEDED and i.run.job_id in jobs
        }
    )
    if not names:
        return
    rows = await t.conn.fetch(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE {DIALECT.after_key} = ANY($1::text[]) "
        "ORDER BY name FOR KEY SHARE",
        names,
    )
    for row in rows:
        job = job_of(row)
        if job.after is not None:
            acc.followers.setdefault(job.after, []).append(job)
