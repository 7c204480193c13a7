"""``symbi``: the guide's command line (``symbi cron ...``, ``symbi config ...``).

Commands that change jobs go through :class:`SchedulerService` on the store; a scheduler holding the
store's lease sees the change within one tick. Exit codes: 0 success, 1 a failed operation, 2 usage.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from scheduler_core.clock import parse_instant
from scheduler_core.config import SchedulerConfig
from scheduler_core.errors import ConfigError, DslError, SchedulerError, ValidationError
from scheduler_core.jobspec import job_to_dict

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symbi", description="Cron for AI agents.")
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file")
    parser.add_argument("--db", metavar="PATH", help="SQLite store (overrides config, SYMBI_DB)")
    top = parser.add_subparsers(dest="group", required=True)

    cron = top.add_parser("cron", help="scheduled jobs").add_subparsers(dest="cmd", required=True)
    p = cron.add_parser("validate", help="check DSL files without loading them")
    p.add_argument("files", nargs="+", metavar="FILE")
    p = cron.add_parser("next", help="next fire instants of a cron expression, and its reading")
    p.add_argument("expr")
    p.add_argument("--tz", default="UTC")
    p.add_argument("--after", metavar="ISO", help="start instant (default: now)")
    p.add_argument("--count", type=int, default=5)
    p.add_argument("--format", choices=("table", "json"), default="table")
    p = cron.add_parser("add", help="add jobs from a DSL file or inline JSON")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--file", metavar="FILE")
    src.add_argument("--json", metavar="JSON")
    p.add_argument("--schedule", metavar="NAME", help="only this schedule of the file")
    p = cron.add_parser("list", help="list jobs")
    p.add_argument("--status")
    p.add_argument("--agent")
    p.add_argument("--format", choices=("table", "json"), default="table")

    cfg = top.add_parser("config", help="configuration").add_subparsers(dest="cmd", required=True)
    cfg.add_parser("show", help="the effective configuration, secrets masked")
    p = cfg.add_parser("set", help="set KEY to VALUE in the config file, keeping its comments")
    p.add_argument("key")
    p.add_argument("value")
    cfg.add_parser("validate", help="check the config file")
    return parser


def _load_config(args: argparse.Namespace) -> SchedulerConfig:
    from scheduler_core.config import StoreConfig, load_config

    config = load_config(args.config)
    if args.db:
        from dataclasses import replace

        config = replace(config, store=StoreConfig(url=args.db))
    return config


def _err(message: str) -> None:
    print(f"symbi: error: {message}", file=sys.stderr)


async def _with_service(args: argparse.Namespace, fn: Callable[[Any], Awaitable[int]]) -> int:
    from scheduler_core.service import SchedulerService
    from scheduler_core.store import open_store

    config = _load_config(args)
    store = await open_store(config.store_url())
    try:
        return await fn(SchedulerService(store, config=config))
    finally:
        await store.close()


def _cmd_validate(args: argparse.Namespace) -> int:
    from scheduler_core.dsl import validate_paths

    reports = validate_paths(args.files, now=datetime.now(UTC))
    failed = False
    for report in reports:
        if report.ok:
            print(report.summary)
        else:
            failed = True
            for issue in report.issues:
                print(str(issue), file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _cmd_next(args: argparse.Namespace) -> int:
    from scheduler_core.cron import CronSchedule

    schedule = CronSchedule(args.expr, args.tz)
    after = parse_instant(args.after) if args.after else datetime.now(UTC)
    if not 1 <= args.count <= 1000:
        raise ValidationError("must be between 1 and 1000", field="--count")
    instants = schedule.next_n(after, args.count)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "expression": schedule.expr,
                    "timezone": schedule.timezone,
                    "description": schedule.describe(),
                    "next": [i.isoformat().replace("+00:00", "Z") for i in instants],
                },
                indent=2,
            )
        )
        return EXIT_OK
    print(f"{schedule.expr}  ({schedule.timezone}): {schedule.describe()}")
    for instant in instants:
        local = instant.astimezone(schedule.tz)
        print(f"  {instant:%Y-%m-%d %H:%M} UTC   {local:%a %Y-%m-%d %H:%M %Z}")
    return EXIT_OK


async def _cmd_add(args: argparse.Namespace) -> int:
    if args.json is not None:
        try:
            body = json.loads(args.json)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} col {exc.colno}"
            raise ValidationError(f"not valid JSON: {exc.msg} at {where}", field="--json") from None

        async def add_json(service: Any) -> int:
            job = await service.add_job(body, actor="cli")
            print(f"created {job.name} ({job.id})")
            return EXIT_OK

        return await _with_service(args, add_json)

    async def apply(service: Any) -> int:
        result = await service.load_dsl([args.file], only=args.schedule, actor="cli")
        for name in result.created:
            print(f"created {name}")
        for name in result.updated:
            print(f"updated {name}")
        for name in result.unchanged:
            print(f"unchanged {name}")
        return EXIT_OK

    return await _with_service(args, apply)


async def _cmd_list(args: argparse.Namespace) -> int:
    async def run(service: Any) -> int:
        page = await service.list_jobs(status=args.status, agent=args.agent, limit=10_000)
        if args.format == "json":
            print(json.dumps([job_to_dict(j) for j in page.jobs], indent=2))
            return EXIT_OK
        rows = [("ID", "NAME", "AGENT", "SCHEDULE", "STATUS", "NEXT RUN")]
        for j in page.jobs:
            nxt = j.next_run_at.strftime("%Y-%m-%d %H:%M:%S") if j.next_run_at else "-"
            rows.append((j.id[:12], j.name, j.agent, j.schedule_text, j.status.value, nxt))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        return EXIT_OK

    return await _with_service(args, run)


def _cmd_config(args: argparse.Namespace) -> int:
    from scheduler_core import config as cfg

    if args.cmd == "show":
        config = cfg.load_config(args.config)
        print(cfg.config_to_toml(config, mask_secrets=True), end="")
        for warning in config.warnings:
            print(f"# warning: {warning}", file=sys.stderr)
        return EXIT_OK
    path = cfg.find_config_path(args.config) or cfg.default_config_path()
    if args.cmd == "set":
        cfg.set_config_value(path, args.key, args.value)
        print(f"{path}: {args.key} set")
        return EXIT_OK
    errors = cfg.validate_config_file(path)
    for error in errors:
        print(str(error), file=sys.stderr)
    if not errors:
        print(f"{path}: OK")
    return EXIT_FAILED if errors else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.group == "config":
            return _cmd_config(args)
        if args.cmd == "validate":
            return _cmd_validate(args)
        if args.cmd == "next":
            return _cmd_next(args)
        if args.cmd == "add":
            return asyncio.run(_cmd_add(args))
        if args.cmd == "list":
            return asyncio.run(_cmd_list(args))
    except DslError as exc:
        for issue in exc.issues:
            print(str(issue), file=sys.stderr)
        return EXIT_FAILED
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_FAILED
    except SchedulerError as exc:
        _err(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {args.cmd!r}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
