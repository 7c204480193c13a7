"""LLM cost in the console, driven through Pilot over a real engine (SQLite file, fake clock): the
run history's cost column (kept by priority: wide it shows, at 80 columns it goes first), the
run detail's cost and tokens, and the watch screen's cost of the day against its budget."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Static

from scheduler_core.clock import FakeClock
from scheduler_core.config import SchedulerConfig, SchedulerSettings
from scheduler_core.engine import Engine
from scheduler_core.runtime.base import CallableExecutor, ExecutionResult, RunContext
from scheduler_core.settings import LlmConfig, ModelPrice
from scheduler_core.store import open_store
from symbi_tui.backend import LocalBackend
from symbi_tui.screens.run_detail import RunDetailScreen
from symbi_tui.screens.run_history import RunHistoryScreen
from symbi_tui.screens.watch import WatchScreen
from symbi_tui.widgets.run_history import RunHistory

from .conftest import column_cells, move_clock, until
from .scenes import ScreenApp


async def _llm(ctx: RunContext) -> ExecutionResult:
    """An LLM run as the llm runner reports it: 1000 tokens in, 500 out."""
    return ExecutionResult(
        output="three incidents overnight",
        details={
            "provider": "openai",
            "model": "model-a",
            "usage": {"input_tokens": 1000, "output_tokens": 500},
        },
    )


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[tuple[Engine, FakeClock]]:
    clock = FakeClock("2026-03-02T08:59:30Z")
    store = await open_store(str(tmp_path / "symbi.db"))
    config = SchedulerConfig(
        scheduler=SchedulerSettings(claim_ahead_seconds=0),
        llm=LlmConfig(prices={"model-a": ModelPrice(input=1.0, output=2.0)}),
    )
    engine = Engine(config, executor=CallableExecutor({"llm": _llm}), clock=clock, store=store)
    service = await engine.start()
    await service.add_jobs(
        [
            {
                "name": "digest",
                "agent": "llm",
                "cron": "0 * * * *",
                "policy": {"max_cost_per_day": 0.003},
            }
        ]
    )
    await move_clock(engine, clock, "2026-03-02T09:00:00Z")
    await move_clock(engine, clock, "2026-03-02T10:00:00Z")  # $0.004: the budget is reached
    yield engine, clock
    await engine.stop()


def _backend(engine: Engine) -> LocalBackend:
    assert engine.service is not None
    return LocalBackend(engine.service, engine.bus)


@pytest.mark.parametrize(("size", "shows_cost"), [((120, 36), True), ((80, 24), False)])
async def test_the_history_shows_each_runs_cost_where_it_fits(
    engine: tuple[Engine, FakeClock], size: tuple[int, int], shows_cost: bool
) -> None:
    eng, clock = engine
    app = ScreenApp(lambda: RunHistoryScreen(_backend(eng), clock=clock, job="digest"))
    async with app.run_test(size=size):
        await until(lambda: isinstance(app.screen, RunHistoryScreen) and app.screen.loaded)
        table = app.screen.query_one(RunHistory)
        await until(lambda: table.row_count == 2)
        assert ("cost" in table.shown_columns) is shows_cost
        assert "status" in table.shown_columns and "output" in table.shown_columns
        if shows_cost:
            assert [c["cost"] for c in column_cells(table).values()] == ["$0.0020", "$0.0020"]


async def test_the_run_detail_shows_its_cost_and_tokens(
    engine: tuple[Engine, FakeClock],
) -> None:
    eng, clock = engine
    assert eng.service is not None
    run = (await eng.service.history("digest"))[0]
    app = ScreenApp(lambda: RunDetailScreen(_backend(eng), clock=clock, run_id=run.id))
    async with app.run_test(size=(80, 24)):
        await until(lambda: isinstance(app.screen, RunDetailScreen) and app.screen.loaded)
        text = str(app.screen.query_one("#run-when", Static).render())
        assert "Cost" in text and "$0.0020 · 1000 in / 500 out tokens" in text


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_watch_shows_the_cost_of_the_day_against_the_budget(
    engine: tuple[Engine, FakeClock], size: tuple[int, int]
) -> None:
    eng, clock = engine
    app = ScreenApp(
        lambda: WatchScreen(_backend(eng), clock=clock, job="digest", refresh_interval=0.05)
    )
    async with app.run_test(size=size):
        await until(lambda: isinstance(app.screen, WatchScreen) and app.screen.loaded)
        text = " ".join(str(app.screen.query_one("#watch-definition", Static).render()).split())
        assert "LLM cost $0.0040 today of $0.0030/day · 2 runs · resets" in text, text
        # the next hour's run is denied: the watch screen says so once it is recorded
        await move_clock(eng, clock, "2026-03-02T11:00:00Z")
        await until(
            lambda: "max_cost_per_day" in str(app.screen.query_one("#watch-run-text").render())
        )


async def test_editing_a_job_in_the_form_keeps_its_budget(
    engine: tuple[Engine, FakeClock],
) -> None:
    from symbi_tui.screens.job_form import build_mapping, job_values

    eng, _ = engine
    assert eng.service is not None
    job = await eng.service.get_job("digest")
    values = {**job_values(job), "cron": "30 * * * *"}
    changed = await eng.service.update_job("digest", build_mapping(values, job))
    assert changed.cron == "30 * * * *"
    assert changed.policy.max_cost_per_day == 0.003
