"""Demo agents and schedules: what `symbi-tui --demo` starts with, offline, in a temporary store."""

from __future__ import annotations

__all__ = ["DEMO_JOBS", "demo_executor"]

import asyncio
import random
from typing import Any

from .runtime.base import CallableExecutor, RunContext


async def _reporter(ctx: RunContext) -> dict[str, Any]:
    await asyncio.sleep(0.2)
    return {
        "output": f"report for {ctx.run.scheduled_for:%Y-%m-%d %H:%M}: 42 rows",
        "summary": "ok",
    }


async def _health(ctx: RunContext) -> str:
    await asyncio.sleep(0.05)
    return "all 3 endpoints healthy"


async def _flaky(ctx: RunContext) -> str:
    await asyncio.sleep(0.1)
    if random.random() < 0.7:
        raise RuntimeError("upstream returned 503")
    return "synced 12 records"


async def _slow(ctx: RunContext) -> str:
    await asyncio.sleep(3)
    return "backup finished: 1.2 GB"


def demo_executor() -> CallableExecutor:
    return CallableExecutor(
        {
            "reporter-agent": _reporter,
            "health-checker": _health,
            "unreliable-agent": _flaky,
            "backup-agent": _slow,
        }
    )


DEMO_JOBS: list[dict[str, Any]] = [
    {"name": "daily-report", "agent": "reporter-agent", "cron": "0 9 * * *"},
    {"name": "health-probe", "agent": "health-checker", "cron": "* * * * *"},
    {"name": "flaky-job", "agent": "unreliable-agent", "cron": "* * * * *", "max_retries": 3},
    {"name": "backup", "agent": "backup-agent", "cron": "*/2 * * * *", "max_concurrent": 1},
    {"name": "quarter-hour", "agent": "health-checker", "cron": "*/15 * * * *"},
    {
        "name": "weekday-standup",
        "agent": "reporter-agent",
        "cron": "30 9 * * MON-FRI",
        "timezone": "Europe/London",
    },
]
