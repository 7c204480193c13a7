"""The ``llm_cost_days`` table, whatever the database: what finished LLM runs add to it (in the
finish transaction) and the reads the budget checks, ``symbi cron status`` and the API make.

A row is one job's day in its zone at the run's end (``scheduler_core/llm_cost.py``); ``ends_at``
is when that day ends. ``llm_cost_day_ends`` holds the same costs by that instant alone (the jobs
of every zone whose day ends then), so the days not over yet are its rows with ``ends_at`` after
now: the global budget sums a row per zone in use, never a job's runs nor a row per job.
"""

from __future__ import annotations

__all__ = ["CostReads", "CostTally", "upsert_sql"]

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

from ..llm_cost import CostDay, SpendToday, local_day, run_cost, run_tokens
from ..model import JobDefinition, JobRun

_COLUMNS = "job_id, day, ends_at, runs, input_tokens, output_tokens, cost_usd, unpriced_runs"


_END_COLUMNS = "ends_at, runs, cost_usd"


def upsert_sql(
    placeholders: Sequence[str], casts: Sequence[str] = (), *, by_end: bool = False
) -> str:
    """The statement adding one row's sums to ``llm_cost_days`` (``placeholders``: its 8
    values, in :meth:`CostTally.rows` order) or, ``by_end``, to ``llm_cost_day_ends`` (3
    values, :meth:`CostTally.end_rows`). With ``casts`` (PostgreSQL) every placeholder is an
    array and the rows come from ``unnest``."""
    table, columns, key, summed = (
        ("llm_cost_day_ends", _END_COLUMNS, "ends_at", ("runs", "cost_usd"))
        if by_end
        else (
            "llm_cost_days",
            _COLUMNS,
            "job_id, day",
            ("runs", "input_tokens", "output_tokens", "cost_usd", "unpriced_runs"),
        )
    )
    if casts:
        typed = ", ".join(f"{p}::{c}" for p, c in zip(placeholders, casts, strict=True))
        source = f"SELECT * FROM unnest({typed})"
    else:
        source = f"VALUES ({', '.join(placeholders)})"
    sums = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in summed)
    return f"INSERT INTO {table} ({columns}) {source} ON CONFLICT ({key}) DO UPDATE SET {sums}"


@dataclass(slots=True)
class _Sums:
    ends_at: datetime
    runs: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_runs: int = 0


@dataclass(slots=True)
class CostTally:
    """What a batch of finished runs adds to ``llm_cost_days``, by job and day."""

    sums: dict[tuple[str, date], _Sums] = field(default_factory=dict)

    def add(self, job: JobDefinition, run: JobRun) -> None:
        """Count ``run`` (of ``job``, for its zone) if it made LLM calls."""
        tokens = run_tokens(run.details)
        if tokens is None:
            return
        at = run.finished_at or run.started_at or run.scheduled_for
        day, _, ends = local_day(at, job.timezone)
        s = self.sums.setdefault((run.job_id, day), _Sums(ends_at=ends))
        s.runs += 1
        s.input_tokens += tokens[0]
        s.output_tokens += tokens[1]
        cost = run_cost(run.details)
        if cost is None:
            s.unpriced_runs += 1
        else:
            s.cost_usd += cost

    def __bool__(self) -> bool:
        return bool(self.sums)

    def rows(self) -> list[tuple[str, date, datetime, int, int, int, float, int]]:
        return [
            (
                job_id,
                day,
                s.ends_at,
                s.runs,
                s.input_tokens,
                s.output_tokens,
                s.cost_usd,
                s.unpriced_runs,
            )
            for (job_id, day), s in sorted(self.sums.items())
        ]

    def end_rows(self) -> list[tuple[datetime, int, float]]:
        """(ends_at, runs, cost) per instant the runs' days end (every job's day ending then)."""
        ends: dict[datetime, tuple[int, float]] = {}
        for s in self.sums.values():
            runs, cost = ends.get(s.ends_at, (0, 0.0))
            ends[s.ends_at] = (runs + s.runs, cost + s.cost_usd)
        return [(at, runs, cost) for at, (runs, cost) in sorted(ends.items())]


class CostReads:
    """The reads of ``llm_cost_days`` (mixed into the stores' common base)."""

    _dialect: ClassVar[Any]

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError  # the store's

    def _day_param(self, day: date) -> Any:
        return day.isoformat() if self._dialect.placeholders == "?" else day

    def _cost_day(self, row: Sequence[Any]) -> CostDay:
        day = row[1] if isinstance(row[1], date) else date.fromisoformat(row[1])
        ends = self._dialect.read_instant(row[2])
        return CostDay(
            job_id=row[0],
            day=day,
            ends_at=ends,
            runs=int(row[3]),
            input_tokens=int(row[4]),
            output_tokens=int(row[5]),
            cost_usd=float(row[6]),
            unpriced_runs=int(row[7]),
        )

    async def cost_days(self, job_id: str, since: date, until: date) -> list[CostDay]:
        """The job's days from ``since`` to ``until`` (its zone's dates) that had LLM runs."""
        p = self._dialect.params()
        rows = await self._fetchall(
            f"SELECT {_COLUMNS} FROM llm_cost_days WHERE job_id = {p(job_id)} "
            f"AND day >= {p(self._day_param(since))} AND day <= {p(self._day_param(until))} "
            "ORDER BY day",
            p.values,
        )
        return [self._cost_day(r) for r in rows]

    async def spent_today(
        self, now: datetime, job_day: tuple[str, date] | None = None
    ) -> SpendToday:
        """What one job spent on its day (``job_day``: its id and today's date in its zone:
        one row, by the unique key), or else every job on its own day not over at ``now`` (a row
        per instant such a day ends: one per zone in use at most, whatever the jobs)."""
        p = self._dialect.params()
        if job_day is not None:
            table = "llm_cost_days"
            where = f"job_id = {p(job_day[0])} AND day = {p(self._day_param(job_day[1]))}"
        else:
            table = "llm_cost_day_ends"
            where = f"ends_at > {p(self._dialect.write_instant(now))}"
        rows = await self._fetchall(
            f"SELECT coalesce(sum(cost_usd), 0), min(ends_at) FROM {table} WHERE {where}",
            p.values,
        )
        total, ends = rows[0] if rows else (0, None)
        return SpendToday(
            float(total or 0), self._dialect.read_instant(ends) if ends is not None else None
        )
