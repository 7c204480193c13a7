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
    "Pricing",
    "SpendToday",
    "Spending",
    "add_usage",
    "budget_denial",
    "local_day",
    "run_cost",
    "run_tokens",
]

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from .model import JobDefinition, PolicySpec
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


@dataclass(frozen=True, slots=True, kw_only=True)
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


@dataclass(frozen=True, slots=True)
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
