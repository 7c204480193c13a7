"""``symbi``: the guide's command line (``symbi cron ...``, ``symbi audit query``, ``symbi run``).

Where a daemon holds the store's lease, commands go through its HTTP API; otherwise they open the
store directly, and ``symbi cron run`` executes the run in this process
(:mod:`symbi_tui.cli.connect` has the rule). The output is the same either way.

Exit codes: 0 success, 1 a failed operation (or a run that did not succeed), 2 usage, 130 Ctrl-C.
Errors go to stderr and say what was wrong.
"""

from __future__ import annotations

__all__ = ["build_parser", "main"]

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from scheduler_core.config import SchedulerConfig
from scheduler_core.errors import ConfigError, DslError, SchedulerError, ValidationError
from scheduler_core.model import AuditEventType, JobStatus, RunStatus

from . import backfill, commands, store
from .commands import UsageError
from .output import say

if TYPE_CHECKING:
    from scheduler_core.logfile import LogQuery

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_TABLE_FORMATS = ("table", "json", "csv")
_TEXT_FORMATS = ("text", "json")

_EPILOG = """\
Where a daemon (symbi-tui --daemon) holds the store's lease, commands go through its HTTP API
(address from the lease; key from SYMBI_API_KEY, [api] api_keys or <data dir>/api-key);
otherwise they use the store directly, and `symbi cron run` runs the job in this process.
Job arguments accept an id, a unique id prefix (4+ characters) or a name.
"""


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 10_000:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 10000")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 86400 seconds")
    return value


def _statuses(enum: type[JobStatus] | type[RunStatus]) -> list[str]:
    return [s.value for s in enum]


def _input_arguments(parser: argparse.ArgumentParser, text: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--input", metavar="TEXT", help=text)
    group.add_argument(
        "--input-file",
        metavar="FILE",
        help="the input read from FILE ('-': standard input): UTF-8 text without NUL, "
        "at most 1 MiB",
    )


def read_input_file(path: str) -> str:
    """``--input-file``: the file's text, checked as every input is (UTF-8 without NUL, at most
    1 MiB) before anything is opened; ``-`` reads standard input."""
    from scheduler_core.jobspec import MAX_INPUT_BYTES, check_input

    field = "--input-file"
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}", field=field) from None
    if len(data) > MAX_INPUT_BYTES:
        raise ValidationError(
            f"{path} is larger than {MAX_INPUT_BYTES:,} bytes (1 MiB), the most an input may be",
            field=field,
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            field=field,
        ) from None
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ValidationError(
            f"{path} contains a NUL byte (at offset {nul}); an input must be text without NUL",
            field=field,
        )
    return check_input(text, field)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symbi",
        description="Cron for AI agents: manage scheduled jobs, runs, approvals and the audit log.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file")
    parser.add_argument("--db", metavar="PATH", help="SQLite store (overrides config, SYMBI_DB)")
    parser.add_argument(
        "--connect",
        metavar="URL",
        help="talk to the daemon at URL (http://HOST:PORT) instead of finding it from the store",
    )
    top = parser.add_subparsers(
        dest="group", required=True, metavar="{cron,audit,run,logs,nodes,store,config}"
    )

    cron = top.add_parser("cron", help="scheduled jobs").add_subparsers(
        dest="cmd", required=True, metavar="COMMAND"
    )

    p = cron.add_parser("list", help="list jobs")
    p.add_argument("--status", choices=_statuses(JobStatus), help="only jobs in this status")
    p.add_argument("--agent", metavar="AGENT", help="only jobs that run this agent")
    p.add_argument("--format", choices=_TABLE_FORMATS, default="table")

    p = cron.add_parser("add", help="add jobs from a DSL file or inline JSON")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--file", metavar="FILE", help="a .symbi file (or directory of them)")
    src.add_argument("--json", metavar="JSON", help="a job object: name, agent_id, cron_expr...")
    p.add_argument("--schedule", metavar="NAME", help="with --file: only this schedule")
    p.add_argument("--format", choices=_TEXT_FORMATS, default="text")

    p = cron.add_parser("remove", help="delete a job (asks for confirmation)")
    p.add_argument("job", nargs="?", metavar="JOB", help="job id, id prefix or name")
    p.add_argument("--name", metavar="NAME", help="the job with exactly this name")
    p.add_argument("--force", action="store_true", help="do not ask for confirmation")
    p.add_argument("--format", choices=_TEXT_FORMATS, default="text")

    for name, text in (
        ("pause", "pause a job (stops scheduling, keeps its state)"),
        ("resume", "resume a paused job"),
        ("reset", "return a dead-lettered or failed job to active"),
    ):
        p = cron.add_parser(name, help=text)
        p.add_argument("job", metavar="JOB")
        p.add_argument("--format", choices=_TEXT_FORMATS, default="text")

    p = cron.add_parser("status", help="a job's details and next run time")
    p.add_argument("job", metavar="JOB")
    p.add_argument("--history", type=_count, metavar="N", help="include the last N runs")
    p.add_argument("--watch", action="store_true", help="refresh in place until Ctrl-C")
    p.add_argument(
        "--interval", type=_seconds, default=5.0, metavar="SECONDS", help="--watch refresh (5)"
    )
    p.add_argument("--format", choices=("table", "json"), default="table")

    p = cron.add_parser("run", help="run a job now, whatever its schedule says")
    p.add_argument("job", metavar="JOB")
    _input_arguments(p, "input for the agent (default: the job's)")
    p.add_argument("--wait", action="store_true", help="follow the run to its end")
    p.add_argument("--format", choices=_TEXT_FORMATS, default="text")

    backfill.add_parser(cron)

    p = cron.add_parser("history", help="a job's runs, newest first")
    p.add_argument("job", metavar="JOB")
    p.add_argument("--limit", type=_count, default=50, metavar="N", help="at most N runs (50)")
    p.add_argument(
        "--status",
        choices=_statuses(RunStatus),
        help="only runs in this status (failed: every failure, timed_out and interrupted too)",
    )
    p.add_argument("--format", choices=_TABLE_FORMATS, default="table")

    p = cron.add_parser("iterations", help="a heartbeat run's iterations, in order")
    p.add_argument("run", metavar="RUN_ID", help="run id (or a unique prefix of 8+ characters)")
    p.add_argument("--format", choices=("table", "json"), default="table")

    p = cron.add_parser("approvals", help="runs awaiting approval")
    p.add_argument("--format", choices=_TABLE_FORMATS, default="table")

    for name, text in (
        ("approve", "release a run awaiting approval"),
        ("deny", "refuse a run awaiting approval"),
    ):
        p = cron.add_parser(name, help=text)
        p.add_argument("run", metavar="RUN_ID", help="run id (or a unique prefix of one)")
        p.add_argument("--reason", metavar="TEXT", help="recorded in the run and the audit log")
        p.add_argument("--format", choices=_TEXT_FORMATS, default="text")

    p = cron.add_parser(
        "cancel", help="cancel a queued, parked or running run (its agent is stopped)"
    )
    p.add_argument("run", metavar="RUN_ID", help="run id (or a unique prefix of 8+ characters)")
    p.add_argument("--format", choices=_TEXT_FORMATS, default="text")

    p = cron.add_parser("next", help="next fire instants of a cron expression, and its reading")
    p.add_argument("expr")
    p.add_argument("--tz", default="UTC", help="IANA time zone (UTC)")
    p.add_argument("--after", metavar="ISO", help="start instant (default: now)")
    p.add_argument("--count", type=int, default=5)
    p.add_argument("--format", choices=("table", "json"), default="table")

    p = cron.add_parser(
        "export", help="print jobs as DSL (what `cron add --file` reads) or JSON specs"
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="jobs to export (default: every job)")
    p.add_argument("--format", choices=("symbi", "json"), default="symbi")

    p = cron.add_parser("validate", help="check DSL files without loading them")
    p.add_argument("files", nargs="+", metavar="FILE")

    audit = top.add_parser("audit", help="the audit log").add_subparsers(
        dest="cmd", required=True, metavar="COMMAND"
    )
    p = audit.add_parser("query", help="audit events, newest first")
    p.add_argument("--type", metavar="TYPE", help="event type, e.g. CronJobFailed")
    p.add_argument("--since", metavar="DATE", help="ISO 8601 date or instant (UTC if no offset)")
    p.add_argument("--job", metavar="JOB", help="job id, id prefix or name")
    p.add_argument("--limit", type=_count, default=100, metavar="N", help="at most N events (100)")
    p.add_argument("--format", choices=_TABLE_FORMATS, default="table")

    p = top.add_parser("run", help="run an agent once, outside the scheduler")
    p.set_defaults(cmd="agent")
    p.add_argument("agent", metavar="AGENT")
    _input_arguments(p, "the agent's input")
    p.add_argument(
        "--file",
        metavar="FILE",
        action="append",
        default=[],
        help="also take agents from this DSL file (repeatable)",
    )
    p.add_argument("--timeout", type=_seconds, metavar="SECONDS", help="give up after SECONDS")
    p.add_argument("--format", choices=_TEXT_FORMATS, default="text")

    p = top.add_parser(
        "logs",
        help="the daemon's log: this machine's log file, or a daemon's through its API",
        description="The daemon's log lines, oldest first: from the log file the config names "
        "(<data dir>/daemon.log), or with --connect from that daemon's API.",
    )
    p.set_defaults(cmd=None)
    p.add_argument(
        "--filter",
        metavar="COMPONENT",
        help="only this component's lines: a part of the logger name (scheduler matches "
        "symbi.scheduler) or of the event (run matches run.failed)",
    )
    p.add_argument(
        "--level",
        metavar="LEVEL",
        help="only lines at LEVEL or above: debug, info, warning, error, critical",
    )
    p.add_argument(
        "--since",
        metavar="T",
        help="only lines written since T: ISO 8601 date or instant (UTC if no offset), or a "
        "time ago (90s, 15m, 2h, 1d)",
    )
    p.add_argument(
        "-n",
        "--lines",
        type=_count,
        metavar="N",
        help="the last N lines wanted (100; with --since, all of them up to 10000)",
    )
    p.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="then print new lines as they come, until Ctrl-C",
    )
    p.add_argument(
        "--format",
        choices=_TEXT_FORMATS,
        default="text",
        help="text: the lines as written; json: one JSON object per line",
    )

    p = top.add_parser(
        "nodes", help="the scheduler processes on the store, their roles and the runs each holds"
    )
    p.add_argument("--format", choices=("table", "json"), default="table")

    store.add_parser(top)

    cfg = top.add_parser("config", help="configuration").add_subparsers(
        dest="cmd", required=True, metavar="COMMAND"
    )
    cfg.add_parser("show", help="the effective configuration, secrets masked")
    p = cfg.add_parser("set", help="set KEY to VALUE in the config file, keeping its comments")
    p.add_argument("key")
    p.add_argument("value")
    cfg.add_parser("validate", help="check the config file")
    return parser


def _load_config(args: argparse.Namespace) -> SchedulerConfig:
    from scheduler_core.config import load_config

    config = load_config(args.config)
    if args.db:  # the store's other settings (retention) still apply
        config = replace(config, store=replace(config.store, url=args.db))
    return config


def _err(message: str) -> None:
    say(f"symbi: error: {message}", file=sys.stderr)


def _check_usage(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Argument checks argparse cannot express (exit 2 before anything is opened)."""
    remove = args.group == "cron" and args.cmd == "remove"
    if remove and (args.job is None) == (args.name is None):
        parser.error("cron remove: give a JOB or --name NAME (one of them)")
    if args.group == "cron" and args.cmd == "add" and args.schedule and not args.file:
        parser.error("cron add: --schedule goes with --file")
    if args.group == "audit" and args.type:
        names = [t.value for t in AuditEventType]
        if args.type not in names:
            import difflib

            close = difflib.get_close_matches(args.type, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            parser.error(f"audit query: unknown event type {args.type!r}{hint}")
    if args.group == "logs":
        args.log_query = _log_query(args, parser)
    if args.group == "audit" and args.since:
        from scheduler_core.clock import parse_instant

        try:
            args.since = parse_instant(args.since)
        except (ValueError, OverflowError):
            parser.error(
                f"audit query: --since {args.since!r} is not an ISO 8601 date or instant "
                "(e.g. 2026-02-01)"
            )


def _log_query(args: argparse.Namespace, parser: argparse.ArgumentParser) -> LogQuery:
    from datetime import UTC, datetime

    from scheduler_core.logfile import LogQuery, parse_component, parse_level, parse_since

    try:
        component = parse_component(args.filter, "--filter") if args.filter is not None else None
        level = parse_level(args.level, "--level") if args.level is not None else None
        since = parse_since(args.since, datetime.now(UTC), "--since") if args.since else None
    except ValidationError as exc:
        parser.error(f"logs: {exc}")
    limit = args.lines or (10_000 if since is not None else 100)
    return LogQuery(component=component, level=level, since=since, limit=limit)


def _report(exc: SchedulerError) -> None:
    if isinstance(exc, DslError) and exc.issues:
        for issue in exc.issues:
            say(str(issue), file=sys.stderr)
        return
    errors = getattr(exc, "errors", None)
    if isinstance(exc, ValidationError) and len(exc.errors) > 1:
        for error in exc.errors:
            _err(str(error))
        return
    if isinstance(errors, list) and len(errors) > 1 and isinstance(exc, ConfigError):
        for error in errors:
            _err(str(error))
        return
    _err(str(exc))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``symbi`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_usage(args, parser)
    watching = (args.group == "cron" and args.cmd == "status" and args.watch) or (
        args.group == "logs" and args.follow
    )
    try:
        if args.group == "config":
            return commands.config_command(args)
        if args.group == "cron" and args.cmd == "validate":
            return commands.validate(args)
        if args.group == "cron" and args.cmd == "next":
            return commands.next_instants(args)
        if getattr(args, "input_file", None) is not None:
            args.input = read_input_file(args.input_file)
        config = _load_config(args)
        if args.group == "run":
            return asyncio.run(commands.run_agent(args, config))
        if args.group == "logs":
            from .logs import logs_command

            return asyncio.run(logs_command(args, config))
        if args.group == "store":
            return asyncio.run(store.store_command(args, config))
        return asyncio.run(commands.dispatch(args, config))
    except UsageError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except SchedulerError as exc:
        _report(exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK if watching else EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`symbi cron list | head`): not an error worth a traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
