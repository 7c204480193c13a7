"""``symbi store stats|prune|vacuum``: what the store holds, and pruning it by its retention.

``stats`` and ``prune`` go where every ``symbi`` command goes (:mod:`symbi_tui.cli.connect`): to
the lease holder's API when a daemon holds the store (it prunes by *its* ``[store]`` settings,
and its scheduler paces the pass around its fires), else to the store itself, by this config's
settings. ``vacuum`` rewrites a SQLite file so that it gives space back as it is pruned; it holds
the write lock throughout, so it refuses to run while a scheduler holds the store.
"""

from __future__ import annotations

__all__ = ["add_parser", "store_command"]

import argparse
import sys
from datetime import datetime
from typing import Any

from rich.text import Text

from scheduler_core.config import SchedulerConfig
from scheduler_core.errors import ConflictError, ValidationError
from scheduler_core.store.retention import PruneReport, RetentionPolicy, StoreStats

from . import output
from .connect import connect, holder_is_live

EXIT_OK = 0

_WORDS = {
    "runs": "runs",
    "heartbeat_iterations": "heartbeat iterations",
    "audit_events": "audit events",
    "context_archive": "archived context entries",
}


def add_parser(top: Any) -> None:
    """The ``store`` command group, under ``top`` (the parser's sub-parsers)."""
    store = top.add_parser("store", help="the store: its size, pruning history").add_subparsers(
        dest="cmd", required=True, metavar="COMMAND"
    )
    p = store.add_parser("stats", help="rows and bytes per table, the oldest run, the retention")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p = store.add_parser(
        "prune", help="remove history past its retention now, and give the space back"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="count what would be removed; remove nothing"
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    store.add_parser(
        "vacuum",
        help="rewrite a SQLite file so that it shrinks as it is pruned (scheduler stopped)",
    )


async def store_command(args: argparse.Namespace, config: SchedulerConfig) -> int:
    """Run ``symbi store ...``."""
    if args.cmd == "vacuum":
        return await _vacuum(args, config)
    async with connect(
        config, store_url=args.db or config.store_url(), api_url=args.connect
    ) as conn:
        if args.cmd == "stats":
            stats = await conn.backend.store_stats()
            if args.format == "json":
                output.print_json(stats.to_dict())
            else:
                _show_stats(stats)
            return EXIT_OK
        report = await conn.backend.prune_store(dry_run=args.dry_run)
        if args.format == "json":
            output.print_json(report.to_dict())
        else:
            _show_report(report)
        return EXIT_OK


async def _vacuum(args: argparse.Namespace, config: SchedulerConfig) -> int:
    from scheduler_core.store import open_store

    if args.connect:
        raise ValidationError(
            "vacuum works on the store's file: run it where the store is, with the daemon stopped",
            field="--connect",
        )
    store = await open_store(args.db or config.store_url())
    try:
        lease = await store.get_lease()
        if holder_is_live(lease):
            assert lease is not None
            raise ConflictError(
                f"a scheduler holds this store ({lease.owner}): stop it first (a vacuum holds "
                "the store's write lock until it has rewritten the whole file)"
            )
        before, after = await store.vacuum()
    finally:
        await store.close()
    print(
        f"vacuumed {store.url}: {_bytes(before)} -> {_bytes(after)}; from now on it gives space "
        "back as it is pruned"
    )
    return EXIT_OK


# --- text ----------------------------------------------------------------------------------------


def _bytes(value: int | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{value} B"  # pragma: no cover


def _when(instant: datetime | None) -> str:
    return instant.strftime("%Y-%m-%d %H:%M:%S UTC") if instant is not None else "-"


def _days(days: float) -> str:
    return f"{days:g} day" + ("" if days == 1 else "s")


def retention_words(policy: RetentionPolicy) -> str:
    """The retention in one line, as an operator reads it."""
    if not policy.enabled:
        return "none: history is kept for ever ([store] run_retention_days and the like)"
    parts = []
    if policy.run_days:
        kept = f"each job's newest {policy.keep_runs_per_job:,}" if policy.keep_runs_per_job else ""
        if policy.keep_dead_letter_runs:
            kept += (" and " if kept else "") + "dead-lettered jobs' runs"
        parts.append(f"runs {_days(policy.run_days)}" + (f" (keeping {kept})" if kept else ""))
    else:
        parts.append("runs for ever")
    if policy.iteration_days:
        parts.append(f"iterations {_days(policy.iteration_days)}")
    else:
        parts.append("iterations with their runs")
    parts.append(
        f"audit events {_days(policy.audit_days)}" if policy.audit_days else "audit events for ever"
    )
    return "; ".join(parts)


def _show_stats(stats: StoreStats) -> None:
    space = f"{_bytes(stats.total_bytes)}"
    extra = []
    if stats.free_bytes is not None:
        extra.append(f"{_bytes(stats.free_bytes)} free")
    if stats.wal_bytes:
        extra.append(f"write-ahead log {_bytes(stats.wal_bytes)}")
    if extra:
        space += f" ({', '.join(extra)})"
    print(f"store       {stats.url} ({stats.backend})")
    print(f"size        {space}")
    if stats.auto_vacuum is not None:
        gives = stats.auto_vacuum != "none"
        print(
            f"vacuum      {stats.auto_vacuum}"
            + ("" if gives else ": pruning frees space for reuse only (symbi store vacuum)")
        )
    table = output._table(
        ("TABLE", {"no_wrap": True}),
        ("ROWS", {"no_wrap": True, "justify": "right"}),
        ("SIZE", {"no_wrap": True, "justify": "right"}),
    )
    for name, t in stats.tables.items():
        table.add_row(name, f"{t.rows:,}", _bytes(t.bytes))
    output.show(table)
    print(f"oldest run  {_when(stats.oldest_run_at)} (finished)")
    print(f"oldest audit event  {_when(stats.oldest_audit_at)}")
    if stats.retention is not None:
        print(f"retention   {retention_words(stats.retention)}")


def _show_report(report: PruneReport) -> None:
    if report.skipped:
        print(f"nothing pruned: {report.skipped}")
        return
    verb = "would remove" if report.dry_run else "removed"
    counts = [f"{report.removed.get(t, 0):,} {w}" for t, w in _WORDS.items() if t in report.removed]
    print(f"{verb} {', '.join(counts)}")
    for table, before in report.cutoffs.items():
        print(f"  {_WORDS.get(table, table)} older than {_when(before)}")
    print(f"  retention: {retention_words(report.policy)}")
    if not report.dry_run:
        line = Text(
            f"gave back {_bytes(report.reclaimed_bytes)} "
            f"({_bytes(report.bytes_before)} -> {_bytes(report.bytes_after)}) in "
            f"{report.seconds:.1f}s, {report.batches} batches, the longest holding the write "
            f"lock {report.longest_hold_ms:.1f} ms"
        )
        output.show(line)
    if report.note:
        print(f"symbi: note: {report.note}", file=sys.stderr)
