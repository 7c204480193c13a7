"""Console fixtures: a real engine on a SQLite file and a fake clock, and the app over it."""

from __future__ import annotations

import asyncio
import difflib
import html
import inspect
import pickle
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_textual_snapshot import node_to_report_path  # type: ignore[import-untyped]
from rich.text import Text
from textual.app import App

from scheduler_core.clock import FakeClock
from scheduler_core.config import SchedulerConfig, SchedulerSettings
from scheduler_core.engine import Engine
from scheduler_core.runtime.base import CallableExecutor, RunContext
from scheduler_core.service import SchedulerService
from scheduler_core.store import open_store
from symbi_tui.app import SymbiApp
from symbi_tui.backend import LocalBackend
from symbi_tui.widgets.keyed_table import KeyedCell, KeyedTable

START = "2026-03-02T08:59:30Z"  # a Monday, half a minute before 09:00

JOBS = [
    {"name": "daily-report", "agent": "reporter", "cron": "0 9 * * *"},
    {"name": "flaky-job", "agent": "broken", "cron": "0 9 * * *", "max_retries": 1},
    {"name": "health-probe", "agent": "prober", "cron": "*/5 * * * *"},
]


async def _report(ctx: RunContext) -> str:
    return f"report for {ctx.run.scheduled_for:%H:%M}"


async def _probe(ctx: RunContext) -> str:
    return "all endpoints healthy"


async def _broken(ctx: RunContext) -> str:
    raise RuntimeError("upstream returned 503")


#: what the ``gateway`` agent fails with: longer than any column shows
LONG_ERROR = "upstream returned 503 from the billing gateway while fetching invoices " * 2


async def _gateway(ctx: RunContext) -> str:
    raise RuntimeError(LONG_ERROR)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def engine(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Engine]:
    # the store is opened explicitly so SYMBI_DB in the environment can never redirect the test
    store = await open_store(str(tmp_path / "symbi.db"))
    engine = Engine(
        SchedulerConfig(scheduler=SchedulerSettings(claim_ahead_seconds=0)),
        executor=CallableExecutor(
            {"reporter": _report, "prober": _probe, "broken": _broken, "gateway": _gateway}
        ),
        clock=clock,
        store=store,
    )
    service = await engine.start()
    await service.add_jobs(JOBS)
    yield engine
    await engine.stop()


@pytest.fixture
def service(engine: Engine) -> SchedulerService:
    assert engine.service is not None
    return engine.service


@pytest.fixture
def make_app(engine: Engine, clock: FakeClock) -> Callable[..., SymbiApp]:
    def make(*, readonly: bool = False, refresh_interval: float = 0.05) -> SymbiApp:
        assert engine.service is not None
        return SymbiApp(
            LocalBackend(engine.service, engine.bus),
            clock=clock,
            readonly=readonly,
            refresh_interval=refresh_interval,
        )

    return make


async def settle(engine: Engine) -> None:
    """Let the scheduler do everything due at the fake clock's current instant."""
    assert engine.scheduler is not None
    await asyncio.wait_for(engine.scheduler.wait_idle(), 5)


async def move_clock(engine: Engine, clock: FakeClock, instant: str) -> None:
    """Jump the fake clock and let the scheduler catch up.

    Settling first matters: ``wait_idle`` can return early when it is called while a scheduler
    cycle for the previous instant is still in flight (reported to the scheduler_core owners).
    """
    await settle(engine)
    clock.set(instant)
    await settle(engine)


async def until(predicate: Callable[[], object], *, seconds: float = 5.0) -> None:
    """Wait (in small real-time steps) until ``predicate`` (sync or async) holds.

    The console refreshes on a timer and in workers, so a test waits for the outcome instead of
    sleeping a guessed amount of time.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {predicate.__name__}")
        await asyncio.sleep(0.02)


def cell_text(value: object) -> str:
    if isinstance(value, KeyedCell):
        value = value.text
    return value.plain if isinstance(value, Text) else str(value)


def table_rows(table: KeyedTable) -> dict[str, list[str]]:
    """Row key -> plain cell texts, in display order."""
    return {key: [cell_text(c) for c in table.get_row(key)] for key in table.row_keys()}


def column_cells(table: KeyedTable) -> dict[str, dict[str, str]]:
    """Row key -> column key -> plain cell text, for the columns on screen (a table that fits
    its width shows fewer columns when narrow)."""
    columns = table.shown_columns
    return {
        key: dict(zip(columns, (cell_text(c) for c in table.get_row(key)), strict=True))
        for key in table.row_keys()
    }


def notified(app: App[Any], words: str) -> bool:
    """A notification the app showed contains ``words``."""
    return any(words in str(n.message) for n in app._notifications)


_SVG_TEXT = re.compile(r'<text class="([^"]*)" x="[^"]*" y="([^"]*)"[^>]*>([^<]*)</text>')


def svg_lines(svg: str) -> list[str]:
    """A snapshot's text, row by row, each run of text tagged with its style class (so a
    change of colour shows as well as a change of words)."""
    rows: dict[float, list[str]] = {}
    for style, y, text in _SVG_TEXT.findall(svg):
        rows.setdefault(float(y), []).append(f"{style.rsplit('-', 1)[-1]}:{html.unescape(text)}")
    return [" ".join(parts).strip() for _y, parts in sorted(rows.items())]


@pytest.fixture
def snap_compare(
    snap_compare: Callable[..., bool], request: pytest.FixtureRequest
) -> Callable[..., bool]:
    """The plugin's ``snap_compare``, printing what differs (row by row) when it fails: the CI's
    log then says what changed, without the HTML report it cannot keep."""

    def compare(*args: Any, **kwargs: Any) -> bool:
        result = snap_compare(*args, **kwargs)
        if not result:
            data = pickle.loads(node_to_report_path(request.node).read_bytes())
            expected, actual = str(data[1] or ""), str(data[2] or "")
            diff = difflib.unified_diff(
                svg_lines(expected), svg_lines(actual), "snapshot", "drawn", lineterm=""
            )
            print("the snapshot differs, row by row (style:text):\n" + "\n".join(diff))
        return result

    return compare
