"""LLM cost and budgets through the service, on both stores: tokens and cost recorded per run,
the per-job per-day total in the job's zone, the policy and global budgets at the gate, and the
day rollover (fake clock)."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from scheduler_core.engine import Engine
from scheduler_core.model import AuditEventType, RunStatus
from scheduler_core.runtime.base import ExecutionResult, RunContext
from scheduler_core.settings import LlmConfig, ModelPrice

from .conftest import Agents, Harness, make_config

PRICES = {"model-a": ModelPrice(input=1.0, output=2.0)}  # USD per million tokens


def llm_reply(model: str = "model-a-2026-01-01", inp: int = 1000, out: int = 500) -> Any:
    """What an LLM agent's run returns (as the llm runner reports it): 1000 in, 500 out."""

    def reply(ctx: RunContext) -> ExecutionResult:
        return ExecutionResult(
            output="done",
            details={
                "provider": "openai",
                "model": model,
                "usage": {"input_tokens": inp, "output_tokens": out},
            },
        )

    return reply


@pytest.fixture
async def build(clock: Any, db_path: str, agents: Agents) -> AsyncIterator[Callable[..., Any]]:
    engines: list[Engine] = []

    async def make(**settings: Any) -> Harness:
        config = replace(make_config(db_path, **settings), llm=LlmConfig(prices=PRICES))
        engine = Engine(config, executor=agents.executor(), clock=clock, rng=random.Random(7))
        await engine.start()
        engines.append(engine)
        return Harness(engine, clock, agents)

    yield make
    for engine in engines:
        await engine.stop()


async def test_tokens_and_cost_per_run_and_per_day_in_the_jobs_zone(build: Any) -> None:
    h: Harness = await build()
    h.agents.behaviour["llm"] = llm_reply()
    job = await h.service.add_job(
        {"name": "digest", "agent": "llm", "cron": "30 * * * *", "timezone": "America/New_York"}
    )
    # 09:30 UTC is 04:30 in New York (EST, UTC-5) on 2 March; 04:30 UTC on 3 March is 23:30 on
    # 2 March there: the same day; 05:30 UTC on 3 March is 00:30 on 3 March: the next one
    for instant in ("2026-03-02T09:30:00Z", "2026-03-03T04:30:00Z", "2026-03-03T05:30:00Z"):
        await h.to(instant)
    runs = await h.service.history("digest")
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 3
    for run in runs:
        assert run.details["tokens"] == {"input": 1000, "output": 500}
        # the dated model is priced as model-a: 1000 * 1.0 / 1e6 + 500 * 2.0 / 1e6
        assert run.details["cost_usd"] == pytest.approx(0.002)
    days = await h.store.cost_days(job.id, date(2026, 3, 1), date(2026, 3, 4))
    assert [(d.day, d.runs, d.input_tokens, d.output_tokens) for d in days] == [
        (date(2026, 3, 2), 2, 2000, 1000),
        (date(2026, 3, 3), 1, 1000, 500),
    ]
    assert days[0].cost_usd == pytest.approx(0.004)
    assert days[0].ends_at.isoformat() == "2026-03-03T05:00:00+00:00"


async def test_a_model_with_no_price_records_tokens_no_cost_and_warns_once(
    build: Any, caplog: pytest.LogCaptureFixture
) -> None:
    h: Harness = await build()
    h.agents.behaviour["llm"] = llm_reply(model="mystery-model")
    job = await h.service.add_job({"name": "m", "agent": "llm", "cron": "0 * * * *"})
    with caplog.at_level(logging.WARNING, logger="symbi.llm"):
        await h.to("2026-03-02T09:00:00Z")
        await h.to("2026-03-02T10:00:00Z")
    runs = await h.service.history("m")
    assert len(runs) == 2
    assert all(r.details["tokens"] == {"input": 1000, "output": 500} for r in runs)
    assert all(r.details["cost_usd"] is None for r in runs)
    warnings = [r for r in caplog.records if "mystery-model" in r.getMessage()]
    assert len(warnings) == 1 and "has no price" in warnings[0].getMessage()
    (day,) = await h.store.cost_days(job.id, date(2026, 3, 2), date(2026, 3, 2))
    assert (day.runs, day.unpriced_runs, day.cost_usd) == (2, 2, 0.0)


async def test_the_job_budget_denies_once_reached_and_resets_at_midnight_in_its_zone(
    build: Any,
) -> None:
    h: Harness = await build()
    h.agents.behaviour["llm"] = llm_reply()
    await h.service.add_job(
        {
            "name": "spender",
            "agent": "llm",
            "cron": "0 * * * *",
            "timezone": "Europe/Paris",
            "policy": {"max_cost_per_day": 0.003},
        }
    )
    # 2 March, Paris is UTC+1: 20:00 and 21:00 UTC spend $0.004; 22:00 UTC (23:00 Paris) is
    # denied; 23:00 UTC is midnight in Paris: a new day, allowed again
    for instant in ("2026-03-02T20:00:00Z", "2026-03-02T21:00:00Z", "2026-03-02T22:00:00Z"):
        await h.to(instant)
    runs = await h.service.history("spender")
    assert [r.status for r in runs] == [RunStatus.DENIED, RunStatus.SUCCEEDED, RunStatus.SUCCEEDED]
    reason = runs[0].error_message or ""
    assert "policy max_cost_per_day of $0.00" in reason, reason
    assert "$0.0040 spent today" in reason
    assert "resets at 2026-03-02 23:00 UTC, midnight Europe/Paris" in reason
    assert len(h.agents.calls) == 2  # the denied run never reached its agent
    denied = await h.service.audit(type=AuditEventType.POLICY_DENIED)
    assert [e.details.get("reason") for e in denied] == [reason]
    await h.to("2026-03-02T23:00:00Z")
    newest = (await h.service.history("spender"))[0]
    assert newest.status is RunStatus.SUCCEEDED


async def test_the_global_budget_counts_every_job(build: Any) -> None:
    h: Harness = await build(max_llm_cost_per_day=0.005)
    h.agents.behaviour["llm"] = llm_reply()
    for name in ("one", "two"):
        await h.service.add_job({"name": name, "agent": "llm", "cron": "0 * * * *"})
    await h.service.add_job({"name": "three", "agent": "llm", "cron": "5 * * * *"})
    await h.to("2026-03-02T09:00:00Z")  # one and two: $0.004
    await h.to("2026-03-02T09:05:00Z")  # three: $0.006 in all
    await h.to("2026-03-02T10:00:00Z")  # both denied: the budget is reached
    one = await h.service.history("one")
    assert [r.status for r in one] == [RunStatus.DENIED, RunStatus.SUCCEEDED]
    reason = one[0].error_message or ""
    assert "[scheduler] max_llm_cost_per_day (all jobs) of $0.01" in reason, reason
    assert "$0.0060 spent today" in reason
    assert "resets at 2026-03-03 00:00 UTC" in reason
    assert (await h.service.history("two"))[0].status is RunStatus.DENIED
    await h.to("2026-03-03T00:00:00Z")  # a new UTC day for every job
    assert (await h.service.history("one"))[0].status is RunStatus.SUCCEEDED


async def test_named_policies_merge_max_cost_per_day_to_the_smallest() -> None:
    from scheduler_core.jobspec import policy_from_mapping
    from scheduler_core.named_policies import NamedPolicy, merge_policies

    inline = policy_from_mapping({"max_cost_per_day": 5})
    named = NamedPolicy(name="cheap", spec=policy_from_mapping({"max_cost_per_day": "$0.50"}))
    merged = merge_policies(inline, [named])
    assert merged.spec.max_cost_per_day == 0.5
    assert merged.sources["max_cost_per_day"] == ("policy cheap",)  # the $5 inline did not hold
    # the effective policy shown (symbi cron status, the watch screen, .../policy) says so
    from scheduler_core.model import JobDefinition
    from scheduler_core.named_policies import describe_effective

    job = JobDefinition(name="j", agent="a", cron="0 * * * *", policy=inline, policies=("cheap",))
    (rule,) = [r for r in describe_effective(job, {"cheap": named})["rules"]]
    assert (rule["label"], rule["text"], rule["value"]) == (
        "max cost per day",
        "$0.5000 of LLM runs",
        0.5,
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "must be a number greater than zero"),
        (-1, "must be a number greater than zero"),
        ("lots", "expected an amount in USD"),
        (True, "expected an amount in USD"),
    ],
)
def test_max_cost_per_day_refuses_what_is_not_an_amount(value: object, message: str) -> None:
    from scheduler_core.errors import ValidationError
    from scheduler_core.jobspec import policy_from_mapping

    with pytest.raises(ValidationError) as caught:
        policy_from_mapping({"max_cost_per_day": value})
    assert caught.value.errors[0].field == "policy.max_cost_per_day"
    assert message in caught.value.errors[0].reason


# --- the price table in the config ---------------------------------------------------------------

PRICE_ERRORS = """[llm.prices."gpt-4o"]
input = 2.5
outptu = 10
[llm.prices."claude-x"]
input = -1
output = "cheap"
[llm.prices.broken]
input = true
[llm]
pricez = 1
[scheduler]
max_llm_cost_per_day = 0
"""


def test_the_price_table_refuses_bad_values_naming_each_key() -> None:
    from scheduler_core.config import ConfigErrors, load_config_text

    with pytest.raises(ConfigErrors) as caught:
        load_config_text(PRICE_ERRORS, path="symbi.toml")
    found = {(e.key, e.line): e.message for e in caught.value.errors}
    messages = "\n".join(f"{k} {m}" for k, m in found.items())
    expected = [
        ("llm.prices.gpt-4o.outptu", 3, "unknown key 'outptu' in [llm.prices.\"gpt-4o\"]"),
        ("llm.prices.gpt-4o.output", 1, "missing output = ..."),
        ("llm.prices.claude-x.input", 5, "must be a number of zero or more, got -1"),
        ("llm.prices.claude-x.output", 6, "expected a number of USD per million tokens"),
        ("llm.prices.broken.input", 8, "got a boolean"),
        ("llm.prices.broken.output", 7, "missing output = ..."),
        ("llm.pricez", 10, "unknown key 'pricez' in [llm]"),
        ("scheduler.max_llm_cost_per_day", 12, ""),
    ]
    for key, line, words in expected:
        assert (key, line) in found, f"{key}:{line} not in\n{messages}"
        assert words in found[(key, line)], found[(key, line)]
    assert "did you mean 'output'" in found[("llm.prices.gpt-4o.outptu", 3)]


def test_config_show_writes_the_price_table_back() -> None:
    from scheduler_core.config import config_to_toml, load_config_text

    text = '[llm.prices."gpt-4.1-mini"]\ninput = 0.4\noutput = 1.6\n'
    text += "[scheduler]\nmax_llm_cost_per_day = 5\n"
    cfg = load_config_text(text)
    assert cfg.llm.prices == {"gpt-4.1-mini": ModelPrice(input=0.4, output=1.6)}
    shown = config_to_toml(cfg)
    assert '[llm.prices."gpt-4.1-mini"]' in shown and "max_llm_cost_per_day = 5\n" in shown
    again = load_config_text(shown)
    assert again.llm.prices == cfg.llm.prices
    assert again.scheduler.max_llm_cost_per_day == 5.0


def test_pricing_matches_dated_models_and_sums_heartbeat_usage() -> None:
    from scheduler_core.llm_cost import Pricing, add_usage

    pricing = Pricing(
        {"gpt-4o": ModelPrice(input=2.5, output=10), "gpt-4o-mini": PRICES["model-a"]}
    )
    assert pricing.price_of("gpt-4o-mini-2024-07-18") == PRICES["model-a"]  # the longest name
    assert pricing.price_of("gpt-4o-2024-08-06") == ModelPrice(input=2.5, output=10)
    assert pricing.price_of("gpt-4") is None
    total = add_usage(
        add_usage(None, {"input_tokens": 12, "output_tokens": 7}), {"input_tokens": 3}
    )
    assert total == {"input_tokens": 15, "output_tokens": 7}
    priced = pricing.priced({"provider": "openai", "model": "gpt-4o", "usage": total})
    assert priced == {"tokens": {"input": 15, "output": 7}, "cost_usd": pytest.approx(0.0001075)}
    assert pricing.priced({"exit_code": 0}) == {}  # a command run made no LLM call


async def test_pruning_removes_the_cost_of_days_older_than_the_runs_kept(build: Any) -> None:
    from tests.test_retention import pruner

    h: Harness = await build()
    h.agents.behaviour["llm"] = llm_reply()
    job = await h.service.add_job({"name": "old", "agent": "llm", "cron": "0 9 * * *"})
    await h.to("2026-03-02T09:00:00Z")
    await h.to("2026-03-20T09:00:00Z")
    assert len(await h.store.cost_days(job.id, date(2026, 3, 1), date(2026, 3, 31))) == 2
    # 15 days of runs kept on 21 March: the day of 2 March (ended 3 March) goes, 20 March stays
    await h.settle()
    h.clock.set("2026-03-21T12:00:00Z")
    report = await pruner(h.store, h.clock, run_days=15, keep_runs_per_job=0).run()
    assert report.removed["llm_cost_days"] == 1 and report.removed["llm_cost_day_ends"] == 1
    days = await h.store.cost_days(job.id, date(2026, 3, 1), date(2026, 3, 31))
    assert [d.day for d in days] == [date(2026, 3, 20)]


def test_a_bad_max_cost_per_day_in_a_dsl_file_names_its_place() -> None:
    from datetime import UTC, datetime

    from scheduler_core.dsl import parse_dsl
    from scheduler_core.errors import DslError

    source = (
        'schedule {\n  name: "a"\n  agent: "b"\n  cron: "0 9 * * *"\n'
        "  policy {\n    max_cost_per_day: -2\n  }\n}\n"
    )
    with pytest.raises(DslError) as caught:
        parse_dsl(source, "x.symbi", env={}, now=datetime(2026, 1, 1, tzinfo=UTC))
    (issue,) = caught.value.issues
    assert str(issue).startswith("x.symbi:6:"), str(issue)
    assert "max_cost_per_day" in str(issue) and "greater than zero" in issue.message
    good = parse_dsl(
        source.replace("-2", '"$1.50"'), "x.symbi", env={}, now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert good.jobs[0].policy.max_cost_per_day == 1.5


async def test_a_failed_heartbeat_iteration_keeps_the_tokens_spent_before_it(
    tmp_path: Any,
) -> None:
    from scheduler_core.model import AgentDefinition, RunnerKind
    from scheduler_core.runtime.agents import AgentExecutor
    from scheduler_core.settings import SchedulerConfig, SchedulerSettings, StoreConfig

    from .conftest import finished_run, real_engine
    from .llm_server import FakeLlmServer, Reply

    with FakeLlmServer(api_key="sk-test-heartbeat-0123456789", usage=(100, 40)) as server:
        agent = AgentDefinition(
            name="watcher",
            runner=RunnerKind.LLM,
            provider="openai",
            model="gpt-test",
            base_url=server.openai_url,
            api_key_env="LLM_KEY",
        )
        executor = AgentExecutor({"watcher": agent}, env={"LLM_KEY": server.api_key or ""})
        config = SchedulerConfig(
            scheduler=SchedulerSettings(claim_ahead_seconds=0, shutdown_timeout_seconds=0.5),
            store=StoreConfig(url=str(tmp_path / "s.db")),
            llm=LlmConfig(prices={"gpt-test": ModelPrice(input=10, output=20)}),
        )
        engine, clock = await real_engine(tmp_path, executor, config=config)
        try:
            assert engine.service is not None
            await engine.service.add_job(
                {
                    "name": "beats",
                    "agent": "watcher",
                    "cron": "0 * * * *",
                    "max_retries": 0,
                    "heartbeat": {"enabled": True, "max_iterations": 5},
                }
            )
            server.enqueue(Reply(text="checking"), Reply(usage=(5, 1), text="still checking"))
            server.enqueue(Reply(400, message="context length exceeded"))
            clock.set("2026-03-02T09:00:00Z")
            run = await finished_run(engine, "beats")
            assert run.status is RunStatus.FAILED
            assert "heartbeat iteration 3 failed" in (run.error_message or "")
            assert run.details["tokens"] == {"input": 105, "output": 41}
            assert run.details["cost_usd"] == pytest.approx((105 * 10 + 41 * 20) / 1e6)
        finally:
            await engine.stop()


def test_the_budget_checks_read_by_index_never_a_scan(tmp_path: Any) -> None:
    """SQLite's plan for both checks: a search by a unique key, no table scan (the benchmark
    benchmarks/bench_llm_cost.py gives their cost: well under a millisecond)."""
    import asyncio
    import sqlite3

    from scheduler_core.store import open_store

    db = str(tmp_path / "plan.db")

    async def migrate() -> None:
        store = await open_store(db)
        await store.close()

    asyncio.run(migrate())
    conn = sqlite3.connect(db)
    plans = {
        sql: " ".join(r[3] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))
        for sql, args in (
            (
                "SELECT coalesce(sum(cost_usd), 0), min(ends_at) FROM llm_cost_days "
                "WHERE job_id = ? AND day = ?",
                ("j", "2026-03-02"),
            ),
            (
                "SELECT coalesce(sum(cost_usd), 0), min(ends_at) FROM llm_cost_day_ends "
                "WHERE ends_at > ?",
                ("2026-03-02T12:00:00Z",),
            ),
        )
    }
    conn.close()
    for sql, plan in plans.items():
        assert "SEARCH" in plan and "USING INDEX" in plan and "SCAN" not in plan, (sql, plan)
