"""``symbi cron backfill JOB --from T1 --to T2 [--dry-run]``: runs for a cron job's past instants.

It goes where every ``symbi cron`` command goes (:mod:`symbi_tui.cli.connect`): through the lease
holder's API when a daemon holds the store, else to the store itself, where the runs wait queued
for the next scheduler that holds it. The answer lists each instant of the range: the run created
(or, with ``--dry-run``, to be created) and the instants skipped, with why.
"""

from __future__ import annotations

__all__ = ["add_parser", "backfill_command"]

import argparse
import sys
from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from scheduler_core.backfill import Backfill, backfill_to_dict
from scheduler_core.cron.zones import load_zone
from scheduler_core.textsafe import visible

from ..format import short_ids
from . import output
from .connect import Connection
from .output import say

EXIT_OK = 0

_INSTANTS = (
    "ISO 8601 instant (2026-03-01T00:00:00Z, 2026-03-01T09:30+01:00); without an offset it is "
    "wall time in the job's time zone (2026-03-01T00:00)"
)


def add_parser(cron: Any) -> None:
    """``backfill`` under ``cron`` (the ``symbi cron`` sub-parsers)."""
    p = cron.add_parser(
        "backfill",
        help="queue a run for each past cron instant of a job in a range",
        description="Queue one run (trigger backfill) for each instant of the job's cron "
        "expression in [--from, --to], both included, computed in the job's time zone with the "
        "scheduler's DST rules. The runs start like scheduled ones: through the job's policy "
        "gate, within its max_concurrent and the global max_concurrent_jobs. Instants that "
        "already have a run (manual runs aside), or that the scheduler has not reached yet, "
        "are skipped and listed; asking twice creates nothing new. A range holding more than "
        "[scheduler] max_backfill_runs instants is refused whole.",
    )
    p.add_argument("job", metavar="JOB", help="job id, id prefix or name (a cron job)")
    p.add_argument("--from", dest="start", required=True, metavar="T1", help=f"first: {_INSTANTS}")
    p.add_argument(
        "--to",
        dest="end",
        metavar="T2",
        help=f"last, not in the future (default: now): {_INSTANTS}",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list the instants it would create and those it would skip; create nothing",
    )
    p.add_argument("--format", choices=("table", "json"), default="table")


async def backfill_command(conn: Connection, args: argparse.Namespace) -> int:
    result = await conn.backend.backfill(
        args.job, start=args.start, end=args.end, dry_run=args.dry_run
    )
    if args.format == "json":
        output.print_json(backfill_to_dict(result))
    else:
        say(summary(result))
        if result.instants:
            output.show(instants_table(result))
    idle = conn.via == "store" and conn.holder is None
    if idle and result.created and not result.dry_run:
        say(
            "symbi: no scheduler holds the store: the runs are queued and start when one does "
            "(symbi-tui --daemon, or the console)",
            file=sys.stderr,
        )
    return EXIT_OK


def summary(result: Backfill) -> str:
    """One line: the job, the range, and what was (or would be) created and skipped."""
    verb = "would create" if result.dry_run else "created"
    what = "dry run: " if result.dry_run else ""
    return visible(
        f"{what}backfill of {result.job_name} ({result.timezone}) "
        f"{_utc(result.start)} .. {_utc(result.end)}: {result.instants} instant(s), "
        f"{verb} {len(result.created)} run(s), skipped {len(result.skipped)}"
    )


def instants_table(result: Backfill) -> Table:
    """Every instant of the range, oldest first: created (the run's id) or skipped (why)."""
    table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for title, options in (
        ("INSTANT (UTC)", {"no_wrap": True}),
        ("LOCAL", {"no_wrap": True}),
        ("ACTION", {"no_wrap": True}),
        ("RUN", {"no_wrap": True}),
        ("REASON", {"overflow": "fold", "ratio": 1}),
    ):
        table.add_column(title, **options)
    zone = load_zone(result.timezone)
    action = Text("would create", style="bold") if result.dry_run else Text("created")
    # (runs made together share their first 12 characters: as many more as tells them apart)
    made = [] if result.dry_run else [run.id for run in result.created]
    short = short_ids([*made, *(s.run_id for s in result.skipped if s.run_id)])
    rows: list[tuple[datetime, list[Any]]] = []
    for run in result.created:
        rows.append((run.scheduled_for, [action, short.get(run.id, "-"), ""]))
    for skip in result.skipped:
        run_id = short.get(skip.run_id or "", "-")
        rows.append((skip.instant, ["skipped", run_id, visible(skip.reason)]))
    for instant, cells in sorted(rows, key=lambda row: row[0]):
        local = instant.astimezone(zone)
        table.add_row(_utc(instant), f"{local:%Y-%m-%d %H:%M %Z}", *cells)
    return table


def _utc(instant: datetime) -> str:
    return f"{instant:%Y-%m-%d %H:%M:%S}"
