"""The bookkeeping of the scheduler's transactions, whatever the database.

The planners (``scheduling/rules.py``) decide; these functions say what their plans come to in the
store: which claims keep their run, what a finished run writes on its job, and what it adds to the
``run_stats`` counters. Both stores apply them, each in its own SQL.
"""

from __future__ import annotations

__all__ = ["JobOutcome", "RunTally", "recorded_claims"]

import dataclasses
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..model import JobDefinition, JobRun, JobStatus, RunStatus
from ..records import record
from ._rows import same
from .base import ClaimPlan, FinishPlan


def recorded_claims(plans: Sequence[ClaimPlan], inserted: Collection[str]) -> list[ClaimPlan]:
    """The claims to keep once their runs were inserted where not recorded already: a claim
    whose instant was fired before (its run id not ``inserted``) is dropped, never fired twice."""
    return [p for p in plans if p.run is None or p.run.id in inserted]


@record(kw_only=True)
class JobOutcome:
    """What a finished run writes on its job, by its finish plan."""

    status: JobStatus
    failure_count: int
    last_error: str | None
    last_run_at: datetime  #: when it finished (else started, else was scheduled)
    last_run_status: RunStatus
    counted: int  #: added to the job's run_count (1, or 0 for a denied or skipped run)

    @classmethod
    def of(cls, job: JobDefinition, run: JobRun, plan: FinishPlan) -> JobOutcome:
        return cls(
            status=plan.status or job.status,
            failure_count=plan.failure_count,
            last_error=plan.last_error,
            last_run_at=run.finished_at or run.started_at or run.scheduled_for,
            last_run_status=run.status,
            counted=1 if plan.count_run else 0,
        )

    def applied(
        self,
        job: JobDefinition,
        text: Callable[[str | None], str | None] = same,
        instant: Callable[[datetime | None], datetime | None] = same,
    ) -> JobDefinition:
        """``job`` as the store holds it afterwards (``text`` and ``instant``: as it keeps them)."""
        return dataclasses.replace(
            job,
            status=self.status,
            failure_count=self.failure_count,
            last_error=text(self.last_error),
            last_run_at=instant(self.last_run_at),
            last_run_status=self.last_run_status,
            run_count=job.run_count + self.counted,
        )


@dataclass(slots=True)
class RunTally:
    """What a batch of finished runs adds to the ``run_stats`` counters."""

    total: int = 0
    succeeded: int = 0
    failed: int = 0
    ms_total: int = 0
    executions: int = 0

    def add(self, run: JobRun, counted: bool) -> None:
        """Count a finished run (in the totals only if ``counted``; its time if it has one)."""
        if counted:
            self.total += 1
            if run.status is RunStatus.SUCCEEDED:
                self.succeeded += 1
            elif run.status.is_failure:
                self.failed += 1
        if run.execution_time_ms is not None:
            self.ms_total += run.execution_time_ms
            self.executions += 1

    def __bool__(self) -> bool:
        """Whether there is anything to add."""
        return bool(self.total or self.executions)

    def values(self) -> tuple[int, int, int, int, int]:
        """(runs_total, runs_succeeded, runs_failed, execution_ms_total, executions) to add."""
        return (self.total, self.succeeded, self.failed, self.ms_total, self.executions)
