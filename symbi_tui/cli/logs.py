"""``symbi logs``: the daemon's log, from this machine's log file or from a daemon's API.

Where from: ``--connect URL`` reads that daemon's log through ``GET /api/v1/logs``. Otherwise the
log file the config names (``[log] path``, default ``<data dir>/daemon.log``) is read directly,
which works whether the daemon is running or not (after a crash too); with no such file here, a
live daemon holding the store is asked through its API. ``--follow`` then polls for new lines
(the file, or the API with a cursor) until Ctrl-C, across rotations and daemon restarts.
"""

from __future__ import annotations

__all__ = ["logs_command", "store_exists"]

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from scheduler_core import wire
from scheduler_core.config import SchedulerConfig
from scheduler_core.errors import SchedulerError
from scheduler_core.logfile import LEVELS, LogPage, LogQuery, log_files, read_log
from scheduler_core.textsafe import json_safe, visible

EXIT_OK = 0
#: between two looks at the file (or the daemon) when following
LOCAL_POLL_SECONDS = 0.25
REMOTE_POLL_SECONDS = 1.0
#: the most lines asked for at once when following
FOLLOW_PAGE = 1000


class NoLog(SchedulerError):
    """There is no log to read here."""

    code = "no_log"


def store_exists(url: str) -> bool:
    """Whether opening ``url`` would find a store rather than create an empty one."""
    from scheduler_core.store import is_postgres_url

    if is_postgres_url(url):
        return True
    return Path(url.removeprefix("sqlite:///").removeprefix("sqlite://")).expanduser().exists()


async def logs_command(args: argparse.Namespace, config: SchedulerConfig) -> int:
    """Print the lines wanted; with ``--follow``, keep printing new ones until Ctrl-C."""
    query: LogQuery = args.log_query
    if args.connect:
        return await _remote(args, args.connect, config, query)
    path = config.log_path()
    if log_files(path):
        return await _local(args, path, config.log.level, query)
    store_url = args.db or config.store_url()
    if store_exists(store_url):
        from .connect import connect

        async with connect(config, store_url=store_url) as conn:
            if conn.via == "api":
                return await _remote(args, conn.address, config, query)
    why = (
        "the log file is off ([log] file = false)"
        if not config.log.file
        else "no daemon has written it yet (symbi-tui --daemon writes it)"
    )
    raise NoLog(
        f"no log file at {path}: {why}, and no running daemon holds the store; for a daemon on "
        "another machine: symbi --connect http://HOST:PORT logs"
    )


async def _local(args: argparse.Namespace, path: Path, level: str, query: LogQuery) -> int:
    async def read(cursor: str | None, q: LogQuery) -> LogPage:
        return await asyncio.to_thread(read_log, path, q, cursor=cursor, level=level)

    return await _show(args, query, read, LOCAL_POLL_SECONDS, where=str(path))


async def _remote(
    args: argparse.Namespace, url: str, config: SchedulerConfig, query: LogQuery
) -> int:
    from scheduler_core.api.auth import local_api_key

    from ..remote import RemoteBackend

    async with RemoteBackend(url, api_key=local_api_key(config)) as remote:

        async def read(cursor: str | None, q: LogQuery) -> LogPage:
            return await remote.logs(q, cursor=cursor)

        return await _show(args, query, read, REMOTE_POLL_SECONDS, where=remote.url)


async def _show(
    args: argparse.Namespace,
    query: LogQuery,
    read: Callable[[str | None, LogQuery], Awaitable[LogPage]],
    interval: float,
    *,
    where: str,
) -> int:
    page = await read(None, query)
    _note_level(query, page.level)
    _print(page, args.format)
    if not args.follow:
        return EXIT_OK
    from ..remote import Disconnected

    cursor = page.cursor
    following = replace(query, limit=FOLLOW_PAGE)
    lost = False
    while True:
        try:
            page = await read(cursor, following)
        except Disconnected as exc:
            if not lost:
                print(visible(f"symbi: {exc}; still trying"), file=sys.stderr, flush=True)
            lost = True
            await asyncio.sleep(interval * 2)
            continue
        if lost:
            print(f"symbi: reading {where} again", file=sys.stderr, flush=True)
            lost = False
        _print(page, args.format)
        cursor = page.cursor or cursor
        if len(page.lines) < FOLLOW_PAGE:
            await asyncio.sleep(interval)


def _note_level(query: LogQuery, recorded: str) -> None:
    if query.level and recorded in LEVELS and LEVELS[query.level] < LEVELS[recorded]:
        print(
            f"symbi: note: the daemon records from level {recorded} up; for {query.level} "
            f'lines set [log] level = "{query.level}" (or SYMBI_LOG_LEVEL={query.level}) and '
            "restart it",
            file=sys.stderr,
        )


def _print(page: LogPage, fmt: str) -> None:
    if not page.lines:
        return
    if fmt == "json":
        # (the exact strings, with what JSON leaves raw written \uXXXX)
        texts = [
            json_safe(json.dumps(d, ensure_ascii=False))
            for d in wire.log_page_to_dict(page)["lines"]
        ]
    else:  # control characters shown escaped: a log line must not drive the terminal
        texts = [visible(line.text) for line in page.lines]
    sys.stdout.write("".join(text + "\n" for text in texts))
    sys.stdout.flush()
