"""``GET /api/v1/logs``: the daemon's own log file, filtered, and followed with a cursor.

The file is read in a worker thread (it may be megabytes; the loop keeps firing jobs meanwhile).
The lines are as the daemon wrote them, every secret it knows already masked.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ... import wire
from ...errors import ConflictError
from ...logfile import LogQuery, parse_component, parse_level, parse_since, read_log
from ...settings import SchedulerConfig
from ..schemas import LogsOut
from .common import PREFIX

#: the most lines one answer holds
MAX_LINES = 10_000


def log_routes(config: SchedulerConfig, log_file: Path | None) -> APIRouter:
    """The log route over ``log_file`` (None: this daemon writes none; the route says so)."""
    r = APIRouter(tags=["logs"])

    @r.get(
        f"{PREFIX}/logs",
        response_model=LogsOut,
        summary="The daemon's log: filter by component, level and time; follow with a cursor",
    )
    async def logs(
        component: Annotated[
            str | None,
            Query(
                max_length=200,
                description="a component (scheduler, api, run, ...) or a logger name",
            ),
        ] = None,
        level: Annotated[
            str | None,
            Query(max_length=20, description="the lowest level wanted: debug ... critical"),
        ] = None,
        since: Annotated[
            str | None,
            Query(max_length=64, description="ISO 8601 date or instant, or a time ago: 15m, 2h"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LINES)] = 100,
        cursor: Annotated[
            str | None,
            Query(
                max_length=64,
                pattern=r"^\d+:\d+$",
                description="from an earlier answer: only the lines written after it",
            ),
        ] = None,
    ) -> Any:
        query = LogQuery(
            component=parse_component(component) if component is not None else None,
            level=parse_level(level) if level is not None else None,
            since=parse_since(since, datetime.now(UTC)) if since is not None else None,
            limit=limit,
        )
        if log_file is None:
            raise ConflictError(
                "this daemon writes no log file ([log] file = false, or it could not be "
                "opened: see its stderr)"
            )
        page = await asyncio.to_thread(
            read_log, log_file, query, cursor=cursor, level=config.log.level
        )
        return wire.log_page_to_dict(page)

    return r
