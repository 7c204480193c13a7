"""What LLM runs cost: tokens summed per run, priced from the config, totalled per job and day,
and the daily budgets checked before a run starts.

- A run's tokens are the ``usage`` its LLM calls reported (``input_tokens``: the prompt,
  ``output_tokens``: the completion), summed over a heartbeat's iterations; the run records them
  as ``details["tokens"] = {"input": N, "output": M}``.
- Its cost is priced when it finishes, from ``[llm.prices."MODEL"]`` (USD per million tokens) as
  the config says then: ``details["cost_usd"]``. The model is the one the provider says answered;
  a price listed for ``gpt-4o-mini`` also prices ``gpt-4o-mini-2024-07-18`` (the longest listed
  name the model starts with, followed by ``-``). A model with no price: its tokens are recorded,
  its cost is null, and the log says so once per model (``llm.unpriced``).
- The store adds each finished run's tokens and cost to its job's row for the day the run
  finished on, in the job's time zone (``llm_cost_days``, written in the finish transaction), so
  a budget check reads one row, never the job's runs.
- Budgets: a policy's ``max_cost_per_day`` (the job's own cost today, its zone's day) and
  ``[scheduler] max_llm_cost_per_day`` (every job's cost for its own today). A run is denied
  when the cost has already reached the budget; the reason names the budget, the amount spent
  and when the day ends (the budget resets).
"""

from __future__ import annotations

__all__ = [
    "Budgets",
    "CostDay",
    "CostReport",
    "Pricing",
    "SpendToday",
    "Spending",
    "add_usage",
    "budget_denial",
    "cost_text",
    "local_day",
    "run_cost",
    "run_tokens",
    "usd",
]

import logging
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from .model import JobDefinition, PolicySpec
from .records import record
from .settings import ModelPrice

log = logging.getLogger("symbi.llm")

_PER = 1_000_000.0  #: prices are per million tokens


def add_usage(total: Mapping[str, Any] | None, usage: object) -> dict[str, int]:
    """``total`` plus one call's ``usage`` (``input_tokens``, ``output_tokens``, ``total_tokens``;
    what a provider did not report is left out)."""
    out = {k: v for k, v in (total or {}).items() if isinstance(v, int)}
    if isinstance(usage, Mapping):
        for key in ("input_tokens", "output_tokens", "total_tokens"):
            value = usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                out[key] = out.get(key, 0) + value
    return out


def run_tokens(details: Mapping[str, Any]) -> tuple[int, int] | None:
    """(input, output) tokens a run recorded, or None for a run that made no LLM call."""
    tokens = details.get("tokens")
    if isinstance(tokens, Mapping):
        i, o = tokens.get("input"), tokens.get("output")
        if isinstance(i, int) and isinstance(o, int):
            return i, o
    return None


def run_cost(details: Mapping[str, Any]) -> float | None:
    """The cost in USD a run recorded (None: no LLM call, or a model with no price)."""
    cost = details.get("cost_usd")
    if isinstance(cost, int | float) and not isinstance(cost, bool) and math.isfinite(cost):
        return float(cost)
    return None


def usd(amount: float) -> str:
    """An amount as front ends show it: ``$0.0042`` (4 decimals under a dollar), ``$12.50``."""
    return f"${amount:.4f}" if abs(amount) < 1 else f"${amount:,.2f}"


def cost_text(details: Mapping[str, Any]) -> str:
    """A run's cost in a table cell: ``$0.0042``; ``no price`` for a model with none; ``-``
    for a run that made no LLM call."""
    if run_tokens(details) is None:
        return "-"
    cost = run_cost(details)
    return "no price" if cost is None else usd(cost)


class Pricing:
    """The price table, and what a finished run's details gain from it."""

    def __init__(self, prices: Mapping[str, ModelPrice] | None = None) -> None:
        self.prices: Mapping[str, ModelPrice] = dict(prices or {})
        self._warned: set[str] = set()

    def price_of(self, model: str) -> ModelPrice | None:
        """The price of ``model``: its own, else that of the longest listed name it extends
        with ``-`` (a dated version of a listed model)."""
        if model in self.prices:
            return self.prices[model]
        best = max(
            (name for name in self.prices if model.startswith(f"{name}-")), key=len, default=None
        )
        return self.prices[best] if best is not None else None

    def priced(self, details: Mapping[str, Any]) -> dict[str, Any]:
        """``tokens`` and ``cost_usd`` for a run whose details hold an LLM ``usage``; nothing
        for another run."""
        usage = details.get("usage")
        if not isinstance(usage, Mapping) or "provider" not in details:
            return {}
        summed = add_usage(None, usage)
        tokens = {"input": summed.get("input_tokens", 0), "output": summed.get("output_tokens", 0)}
        model = str(details.get("model") or "")
        price = self.price_of(model)
        cost: float | None = None
        if price is not None:
            cost = round(
                (tokens["input"] * price.input + tokens["output"] * price.output) / _PER, 9
            )
        elif model not in self._warned:
            self._warned.add(model)
            log.warning(
                "model %r has no price: its runs record their tokens but no cost "
                '(add [llm.prices."%s"] with input and output, USD per million tokens)',
                model,
                model,
                extra={"event": "llm.unpriced"},
            )
        return {"tokens": tokens, "cost_usd": cost}


def local_day(instant: datetime, zone: str) -> tuple[date, datetime, datetime]:
    """The day ``instant`` falls on in ``zone``: (the date, its start and end as UTC instants)."""
    tz = ZoneInfo(zone)
    day = instant.astimezone(tz).date()
    start = datetime.combine(day, time(0), tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    return day, start, end


@record(kw_only=True)
class CostDay:
    """One job's LLM runs on one day of its zone: how many, their tokens and cost."""

    job_id: str
    day: date
    runs: int
    input_tokens: int
    output_tokens: int
    cost_usd: float  #: of the priced runs
    unpriced_runs: int  #: runs of a model with no price (tokens counted, cost not)
    ends_at: datetime  #: when that day ends (UTC)


@record
class SpendToday:
    """An amount spent today and when the earliest of the days it covers ends."""

    cost_usd: float
    resets_at: datetime | None


def budget_denial(what: str, budget: float, spent: SpendToday, zone_note: str) -> str | None:
    """The denial reason when ``spent`` has reached ``budget``, else None."""
    if spent.cost_usd < budget:
        return None
    resets = (
        f"; it resets at {spent.resets_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC{zone_note}"
        if spent.resets_at is not None
        else ""
    )
    return f"{what} of ${budget:.2f} reached: ${spent.cost_usd:.4f} spent today{resets}"


class Spending(Protocol):
    """Where spending is read (the store)."""

    async def spent_today(
        self, now: datetime, job_day: tuple[str, date] | None = None
    ) -> SpendToday: ...


class Budgets:
    """The daily budgets checked at the policy gate: the job's policy ``max_cost_per_day`` and
    ``[scheduler] max_llm_cost_per_day`` (every job). ``store`` is read when a run is gated:
    one row for the job's budget, the rows of days not over for the global one."""

    def __init__(self, store: Spending, *, global_limit: float | None = None) -> None:
        self.store = store
        self.global_limit = global_limit

    async def denial(self, job: JobDefinition, policy: PolicySpec, now: datetime) -> str | None:
        """Why the run must not start (a budget reached), or None."""
        limit = policy.max_cost_per_day
        if limit is not None:
            day, _, ends = local_day(now, job.timezone)
            spent = await self.store.spent_today(now, (job.id, day))
            zone = "" if job.timezone == "UTC" else f", midnight {job.timezone}"
            reason = budget_denial(
                "policy max_cost_per_day", limit, SpendToday(spent.cost_usd, ends), zone
            )
            if reason is not None:
                return f"{reason} (job {job.name!r})"
        if self.global_limit is not None:
            spent = await self.store.spent_today(now)
            note = ", when the first job's day ends" if spent.resets_at is not None else ""
            reason = budget_denial(
                "[scheduler] max_llm_cost_per_day (all jobs)", self.global_limit, spent, note
            )
            if reason is not None:
                return reason
        return None


@record(kw_only=True)
class CostReport:
    """A job's LLM cost over its last ``days`` days (its zone's dates, today last; days with no
    LLM run are listed with zeros), and its budgets as they stand now."""

    job_id: str
    job_name: str
    timezone: str
    today: date
    resets_at: datetime  #: when today ends in the job's zone (UTC)
    days: tuple[CostDay, ...]
    max_cost_per_day: float | None  #: the job's budget (its policy merged with named ones)
    global_max_cost_per_day: float | None
    global_spent_today: float

    @property
    def spent_today(self) -> float:
        return self.days[-1].cost_usd if self.days else 0.0

    @property
    def total_cost_usd(self) -> float:
        return sum(d.cost_usd for d in self.days)

    def to_dict(self) -> dict[str, Any]:
        """The API's answer (``GET /api/v1/schedule/{id}/cost``); instants in UTC."""
        return {
            "job_id": self.job_id,
            "name": self.job_name,
            "timezone": self.timezone,
            "today": self.today.isoformat(),
            "resets_at": _instant(self.resets_at),
            "spent_today_usd": self.spent_today,
            "total_cost_usd": self.total_cost_usd,
            "max_cost_per_day": self.max_cost_per_day,
            "global_max_cost_per_day": self.global_max_cost_per_day,
            "global_spent_today_usd": self.global_spent_today,
            "days": [
                {
                    "day": d.day.isoformat(),
                    "runs": d.runs,
                    "input_tokens": d.input_tokens,
                    "output_tokens": d.output_tokens,
                    "cost_usd": d.cost_usd,
                    "unpriced_runs": d.unpriced_runs,
                    "ends_at": _instant(d.ends_at),
                }
                for d in self.days
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostReport:
        """:meth:`to_dict` read back (a console attached to a daemon)."""
        job_id = str(data["job_id"])
        return cls(
            job_id=job_id,
            job_name=str(data["name"]),
            timezone=str(data["timezone"]),
            today=date.fromisoformat(data["today"]),
            resets_at=datetime.fromisoformat(data["resets_at"]),
            days=tuple(
                CostDay(
                    job_id=job_id,
                    day=date.fromisoformat(d["day"]),
                    runs=int(d["runs"]),
                    input_tokens=int(d["input_tokens"]),
                    output_tokens=int(d["output_tokens"]),
                    cost_usd=float(d["cost_usd"]),
                    unpriced_runs=int(d["unpriced_runs"]),
                    ends_at=datetime.fromisoformat(d["ends_at"]),
                )
                for d in data.get("days") or ()
            ),
            max_cost_per_day=data.get("max_cost_per_day"),
            global_max_cost_per_day=data.get("global_max_cost_per_day"),
            global_spent_today=float(data.get("global_spent_today_usd") or 0),
        )

    @classmethod
    def of(
        cls,
        job: JobDefinition,
        now: datetime,
        days: int,
        rows: list[CostDay],
        *,
        budget: float | None,
        global_budget: float | None,
        global_spent: float,
    ) -> CostReport:
        today, _, resets = local_day(now, job.timezone)
        found = {r.day: r for r in rows}
        listed: list[CostDay] = []
        for back in range(days - 1, -1, -1):
            day = today - timedelta(days=back)
            listed.append(found.get(day) or _empty_day(job, day))
        return cls(
            job_id=job.id,
            job_name=job.name,
            timezone=job.timezone,
            today=today,
            resets_at=resets,
            days=tuple(listed),
            max_cost_per_day=budget,
            global_max_cost_per_day=global_budget,
            global_spent_today=global_spent,
        )


def _empty_day(job: JobDefinition, day: date) -> CostDay:
    tz = ZoneInfo(job.timezone)
    ends = datetime.combine(day + timedelta(days=1), time(0), tz).astimezone(UTC)
    return CostDay(
        job_id=job.id,
        day=day,
        runs=0,
        input_tokens=0,
        output_tokens=0,
        cost_usd=0.0,
        unpriced_runs=0,
        ends_at=ends,
    )


def _instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
