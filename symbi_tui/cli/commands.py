"""The ``symbi`` commands: each takes the parsed arguments and returns an exit status.

Commands that need a scheduler get a :class:`~symbi_tui.backend.Backend` from
:func:`~symbi_tui.cli.connect.connect` and never look at which one it is, except ``run``, which
executes in this process when no scheduler holds the store (:mod:`symbi_tui.cli.oneshot`).
"""

from __future__ import annotations

__all__ = [
    "UsageError",
    "config_command",
    "dispatch",
    "next_instants",
    "run_agent",
    "validate",
]

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scheduler_core import wire
from scheduler_core.clock import parse_instant
from scheduler_core.config import SchedulerConfig
from scheduler_core.errors import JobNotFound, RunNotFound, SchedulerError, ValidationError
from scheduler_core.jobspec import job_to_dict
from scheduler_core.llm_cost import cost_text, run_tokens
from scheduler_core.model import JobDefinition, JobRun, JobStatus, RunStatus
from scheduler_core.textsafe import visible

from ..backend import Backend
from ..format import duration
from . import output
from .backfill import backfill_command
from .connect import Connection, connect
from .output import say

EXIT_OK, EXIT_FAILED = 0, 1


class UsageError(Exception):
    """The command line cannot be carried out as given (exit 2)."""


def _note(message: str) -> None:
    say(f"symbi: {message}", file=sys.stderr)


def _now() -> datetime:
    return datetime.now(UTC)


def _when(instant: datetime | None) -> str:
    return instant.strftime("%Y-%m-%d %H:%M:%S UTC") if instant is not None else "-"


# --- commands without a scheduler -----------------------------------------------------------------


def validate(args: argparse.Namespace) -> int:
    """``symbi cron validate FILE...``: check DSL files, load nothing."""
    from scheduler_core.config import load_config
    from scheduler_core.delivery.checks import DeliveryRules
    from scheduler_core.dsl import validate_paths

    # the installation's channels and [secrets] decide what a schedule may name
    try:
        rules: DeliveryRules | None = DeliveryRules.of(load_config(getattr(args, "config", None)))
    except SchedulerError as exc:
        print(
            f"symbi: warning: the config cannot be read ({exc}); delivery channels and "
            "${VAR} references are not checked",
            file=sys.stderr,
        )
        rules = None
    reports = validate_paths(args.files, now=_now(), rules=rules)
    failed = False
    for report in reports:
        if report.ok:
            say(report.summary)
        else:
            failed = True
            for issue in report.issues:
                say(str(issue), file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def next_instants(args: argparse.Namespace) -> int:
    """``symbi cron next EXPR``: the coming instants of an expression, and how it reads."""
    from scheduler_core.cron import CronSchedule

    schedule = CronSchedule(args.expr, args.tz)
    after = parse_instant(args.after) if args.after else _now()
    if not 1 <= args.count <= 1000:
        raise ValidationError("must be between 1 and 1000", field="--count")
    instants = schedule.next_n(after, args.count)
    if args.format == "json":
        output.print_json(
            {
                "expression": schedule.expr,
                "timezone": schedule.timezone,
                "description": schedule.describe(),
                "next": [i.isoformat().replace("+00:00", "Z") for i in instants],
            }
        )
        return EXIT_OK
    say(f"{schedule.expr}  ({schedule.timezone}): {schedule.describe()}")
    for instant in instants:
        local = instant.astimezone(schedule.tz)
        say(f"  {instant:%Y-%m-%d %H:%M} UTC   {local:%a %Y-%m-%d %H:%M %Z}")
    return EXIT_OK


def config_command(args: argparse.Namespace) -> int:
    """``symbi config show|set|validate``."""
    from scheduler_core import config as cfg

    if args.cmd == "show":
        config = cfg.load_config(args.config)
        say(cfg.config_to_toml(config, mask_secrets=True), end="")
        for warning in config.warnings:
            say(f"# warning: {warning}", file=sys.stderr)
        return EXIT_OK
    path = cfg.find_config_path(args.config) or cfg.default_config_path()
    if args.cmd == "set":
        cfg.set_config_value(path, args.key, args.value)
        say(f"{path}: {args.key} set")
        return EXIT_OK
    errors = cfg.validate_config_file(path)
    for error in errors:
        say(str(error), file=sys.stderr)
    if not errors:
        say(f"{path}: OK")
        config = cfg.load_config(path)
        url = config.store_url()
        exists = "://" in url or Path(url).expanduser().is_file()
        for warning in asyncio.run(_store_warnings(config, url if exists else None)):
            say(f"warning: {warning}", file=sys.stderr)
    return EXIT_FAILED if errors else EXIT_OK


async def _store_warnings(config: SchedulerConfig, url: str | None) -> list[str]:
    """What ``config validate`` says of the store the config names (if there is one): fields
    holding a secret written out, and files others can read. Nothing is changed."""
    from scheduler_core.private import loose_files
    from scheduler_core.secrets import SecretPolicy, scan_store
    from scheduler_core.store import open_store

    warnings = [str(loose) for loose in loose_files(config)]
    if url is None:
        return warnings  # no store yet: nothing stored to look at
    try:
        store = await open_store(url)
    except SchedulerError as exc:
        return [*warnings, f"the store {url} was not checked: {exc}"]
    try:
        found = await scan_store(store, SecretPolicy.of(config.secrets))
    finally:
        await store.close()
    return [*warnings, *(str(item) for item in found)]


async def run_agent(args: argparse.Namespace, config: SchedulerConfig) -> int:
    """``symbi run AGENT --input TEXT``: one execution of an agent, no store, no schedule."""
    import difflib

    from scheduler_core.model import RunTrigger, new_id
    from scheduler_core.runtime.agents import AgentExecutor
    from scheduler_core.runtime.base import RunContext

    from .connect import local_agents

    if args.input is not None:
        from scheduler_core.jobspec import check_input

        check_input(args.input, "--input")
    agents = local_agents(config)
    if args.file:
        from scheduler_core.dsl import load_dsl_files

        for agent in load_dsl_files(args.file, known_agents=set(agents) or None).agents:
            agents[agent.name] = agent
    if args.agent not in agents:
        close = difflib.get_close_matches(args.agent, list(agents), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        known = ", ".join(sorted(agents)) or "none"
        raise ValidationError(
            f"unknown agent {args.agent!r}{hint}; known agents: {known} "
            "(define agents in the config, its dsl_paths, or pass --file)",
            field="agent",
        )
    now = _now()
    job = JobDefinition(id="", name=f"run-{args.agent}"[:128], agent=args.agent, input=args.input)
    run = JobRun(
        id=new_id(),
        job_id="",
        job_name=job.name,
        agent_id=args.agent,
        trigger=RunTrigger.MANUAL,
        scheduled_for=now,
        started_at=now,
        status=RunStatus.RUNNING,
        input=args.input,
    )
    executor = AgentExecutor(agents)
    started = time.monotonic()
    result = None
    error: str | None = None
    details: dict[str, Any] = {}
    try:
        call = executor.execute(RunContext(job=job, run=run, input=args.input))
        result = await (asyncio.wait_for(call, args.timeout) if args.timeout else call)
    except TimeoutError:
        error = f"timed out after {args.timeout:g}s"
    except Exception as exc:
        error = str(exc) or type(exc).__name__
        if isinstance(exc, SchedulerError):
            details = dict(exc.details())
    finally:
        await executor.aclose()
    elapsed = round((time.monotonic() - started) * 1000)
    if args.format == "json":
        from scheduler_core.jobspec import _mask_mapping

        output.print_json(
            {
                "agent": args.agent,
                "status": "failed" if error else "succeeded",
                "output": result.output if result else None,
                "summary": result.summary if result else None,
                "error": error,
                "execution_time_ms": elapsed,
                "details": _mask_mapping({**details, **(dict(result.details) if result else {})}),
            }
        )
    elif result is not None and result.output:
        say(result.output, end="" if result.output.endswith("\n") else "\n")
    if error:
        say(f"symbi: agent {args.agent!r} failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


# --- commands over a backend ----------------------------------------------------------------------


async def dispatch(args: argparse.Namespace, config: SchedulerConfig) -> int:
    """Open the store or the daemon's API and run the command there."""
    handler = _HANDLERS[(args.group, getattr(args, "cmd", None))]
    async with connect(
        config, store_url=args.db or config.store_url(), api_url=args.connect
    ) as conn:
        return await handler(conn, args)


async def _list(conn: Connection, args: argparse.Namespace) -> int:
    backend = conn.backend
    status = JobStatus(args.status) if args.status else None
    jobs: list[JobDefinition] = []
    cursor: str | None = None
    while True:
        # by cursor: a job added or removed meanwhile moves no other across a page boundary
        # (a daemon that sends no cursor is paged by offset)
        page = await backend.list_jobs(
            status=status,
            agent=args.agent,
            limit=1000,
            offset=0 if cursor else len(jobs),
            after=cursor,
        )
        jobs.extend(page.jobs)
        cursor = page.next_cursor
        if not page.jobs or (cursor is None and len(jobs) >= page.total):
            break
    if args.format == "json":
        output.print_json([job_to_dict(j) for j in jobs])
    elif args.format == "csv":
        output.print_csv("jobs", jobs)
    elif not jobs:
        say("No jobs" + (" match" if status or args.agent else "") + ".")
    else:
        output.show(output.jobs_table(jobs))
    return EXIT_OK


async def _add(conn: Connection, args: argparse.Namespace) -> int:
    backend = conn.backend
    if args.json is not None:
        try:
            body = json.loads(args.json)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} col {exc.colno}"
            raise ValidationError(f"not valid JSON: {exc.msg} at {where}", field="--json") from None
        if not isinstance(body, dict):
            raise ValidationError("expected a JSON object {...}", field="--json")
        job = await backend.add_job(body)
        if args.format == "json":
            output.print_json(
                {"created": [job.name], "updated": [], "unchanged": [], "jobs": [job_to_dict(job)]}
            )
        else:
            say(f"created {job.name} ({job.id})")
        return EXIT_OK
    result = await backend.apply_dsl([args.file], schedule=args.schedule)
    if args.format == "json":
        names = [*result.created, *result.updated, *result.unchanged]
        jobs = [job_to_dict(await backend.get_job(name)) for name in names]
        output.print_json(
            {
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "agents": result.agents,
                "policies": result.policies,
                "jobs": jobs,
            }
        )
        return EXIT_OK
    for name in result.agents:
        say(f"registered agent {name}")
    for name in result.policies:
        say(f"registered policy {name}")
    for name in result.created:
        say(f"created {name}")
    for name in result.updated:
        say(f"updated {name}")
    for name in result.unchanged:
        say(f"unchanged {name}")
    if not (result.created or result.updated or result.unchanged):
        say(f"no schedules in {args.file}")
    return EXIT_OK


async def _export(conn: Connection, args: argparse.Namespace) -> int:
    """The text as the exporter wrote it: strings escaped, so nothing a terminal acts on."""
    sys.stdout.write(await conn.backend.export_jobs(args.names, format=args.format))
    return EXIT_OK


def _confirm(question: str) -> bool:
    say(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        say(file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")


async def _remove(conn: Connection, args: argparse.Namespace) -> int:
    backend = conn.backend
    if args.name is not None:
        job = await backend.get_job(args.name)
        if job.name != args.name:
            raise JobNotFound(args.name)  # it matched an id prefix, not the name
    else:
        job = await backend.get_job(args.job)
    if not args.force:
        if not sys.stdin.isatty():
            raise UsageError(
                f"not removing {job.name!r} without confirmation: stdin is not a terminal "
                "(add --force)"
            )
        if not _confirm(f"Remove job {job.name!r} ({job.id[:12]}) and its run history?"):
            _note(f"{job.name} was not removed")
            return EXIT_FAILED
    removed = await backend.remove_job(job.id)
    if args.format == "json":
        output.print_json(job_to_dict(removed))
    else:
        say(f"removed {removed.name} ({removed.id})")
    return EXIT_OK


async def _transition(conn: Connection, args: argparse.Namespace) -> int:
    backend = conn.backend
    call = {"pause": backend.pause_job, "resume": backend.resume_job, "reset": backend.reset_job}
    job = await call[args.cmd](args.job)
    if args.format == "json":
        output.print_json(job_to_dict(job))
        return EXIT_OK
    verb = {"pause": "paused", "resume": "resumed", "reset": "reset"}[args.cmd]
    line = f"{verb} {job.name}: {job.status.value}"
    if job.status is JobStatus.ACTIVE and job.after:  # no instant: its leader's success
        line += f", next run after {job.after} succeeds"
    elif job.status is JobStatus.ACTIVE:
        line += f", next run {_when(job.next_run_at)}"
    say(line)
    return EXIT_OK


async def _status_data(backend: Backend, ref: str, history: int | None) -> output.StatusData:
    job = await backend.get_job(ref)
    upcoming = await backend.next_runs(job.id, 3)
    runs = await backend.history(job.id, limit=history) if history else None
    policy = await backend.effective_policy(job.id)
    cost = await backend.job_cost(job.id, 7)
    followers = await backend.followers(job.id)
    return output.StatusData(
        job=job, upcoming=upcoming, runs=runs, policy=policy, cost=cost, followers=followers
    )


async def _status(conn: Connection, args: argparse.Namespace) -> int:
    backend = conn.backend
    if args.format == "json":
        if args.watch:
            raise UsageError("cron status: --watch shows a table; drop --format json")
        data = await _status_data(backend, args.job, args.history)
        output.print_json(
            {
                "job": job_to_dict(data.job),
                "next_runs": [output.iso(t) for t in data.upcoming],
                "history": [output.run_dict(r) for r in data.runs or []],
                "effective_policy": {
                    k: v for k, v in data.policy.items() if k not in ("job_id", "name")
                },
                "cost": data.cost.to_dict() if data.cost is not None else None,
                "followers": list(data.followers),
            }
        )
        return EXIT_OK
    if not args.watch:
        output.show(output.status_view(await _status_data(backend, args.job, args.history), _now()))
        return EXIT_OK
    await _watch(conn, args)
    return EXIT_OK


async def _watch(conn: Connection, args: argparse.Namespace) -> None:
    """Redraw the status every ``--interval`` seconds until Ctrl-C (in place on a terminal)."""
    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    from ..remote import Disconnected

    backend = conn.backend
    con = output.console()

    async def frame() -> Any:
        now = _now()
        footer = Text(
            f"every {args.interval:g}s · {now:%H:%M:%S} UTC · {conn.via} {conn.address} · "
            "Ctrl-C to stop",
            style="dim",
        )
        try:
            data = await _status_data(backend, args.job, args.history)
        except Disconnected as exc:
            text = visible(f"disconnected: {exc}; retrying")
            return Group(Text(text, style="bold red"), footer)
        return Group(output.status_view(data, now), Text(""), footer)

    if con.is_terminal:
        with Live(await frame(), console=con, auto_refresh=False) as live:
            while True:
                await asyncio.sleep(args.interval)
                live.update(await frame(), refresh=True)
    while True:  # not a terminal: one frame after another
        con.print(await frame())
        con.print()
        con.file.flush()
        await asyncio.sleep(args.interval)


async def _follow(
    backend: Backend, run_id: str, *, until_approval: bool, quiet: bool = False
) -> JobRun:
    """Poll a run until it ends (or, with ``until_approval``, parks awaiting approval)."""
    delay = 0.05
    noted = False
    while True:
        run = await backend.get_run(run_id)
        if run.status.is_final:
            return run
        if run.status is RunStatus.AWAITING_APPROVAL:
            if until_approval:
                return run
            if not noted and not quiet:
                noted = True
                _note(
                    f"run {run.id} is awaiting approval; waiting "
                    f"(symbi cron approve {run.id} / symbi cron deny {run.id})"
                )
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.5)


async def _run(conn: Connection, args: argparse.Namespace) -> int:
    if conn.via == "store" and conn.holder is None:
        return await _run_here(conn, args)
    backend = conn.backend
    run = await backend.run_now(args.job, input=args.input)
    if not args.wait:
        _print_queued(run, args)
        return EXIT_OK
    if args.format != "json":
        _print_queued(run, args)
    final = await _follow(backend, run.id, until_approval=False)
    return await _print_final(backend, final, args)


def _print_queued(run: JobRun, args: argparse.Namespace) -> None:
    if args.format == "json":
        output.print_json(output.run_dict(run))
    else:
        say(run.id, flush=True)


async def _run_here(conn: Connection, args: argparse.Namespace) -> int:
    """No scheduler holds the store: this process runs the run (and fires nothing else)."""
    from .oneshot import LocalRun

    assert conn.store is not None
    backend = conn.backend
    local = LocalRun(conn.config, conn.store)
    finished = False
    try:
        leader = await local.start()
        assert local.service is not None
        run = await local.service.run_now(args.job, input=args.input, actor="cli")
        if leader:
            local.allow(run.id)
            _note(f"no scheduler holds the store: running {run.job_name} in this process")
        else:
            _note("another scheduler took the store's lease meanwhile: the run is queued for it")
        if not args.wait:
            _print_queued(run, args)
            if leader:
                parked = await _follow(backend, run.id, until_approval=True, quiet=True)
                if parked.status is RunStatus.AWAITING_APPROVAL:
                    _note(
                        f"run {run.id} is awaiting approval; once approved, it runs when a "
                        "scheduler next holds the store (symbi cron run --wait waits for it)"
                    )
            finished = True
            return EXIT_OK
        if args.format != "json":
            _print_queued(run, args)
        final = await _follow(backend, run.id, until_approval=False)
        finished = True
        await local.stop()  # deliveries end before the result is shown
        return await _print_final(backend, final, args)
    finally:
        await local.stop(interrupt=not finished)


async def _print_final(backend: Backend, run: JobRun, args: argparse.Namespace) -> int:
    ok = run.status is RunStatus.SUCCEEDED
    if args.format == "json":
        output.print_json(output.run_dict(run))
    else:
        con = output.console()
        line = output.run_status_text(run.status)
        line.append(visible(f"  {run.job_name}  attempt {run.attempt}"))
        if run.execution_time_ms is not None:
            line.append(f"  {duration(run.execution_time_ms)}")
        tokens = run_tokens(run.details)
        if tokens is not None:
            line.append(f"  {tokens[0]} in / {tokens[1]} out tokens, {cost_text(run.details)}")
        con.print(line)
        if run.output:
            say(run.output, end="" if run.output.endswith("\n") else "\n")
    if not ok:
        if run.error_message:
            say(f"symbi: run {run.id} {run.status.value}: {run.error_message}", file=sys.stderr)
        await _after_failure(backend, run)
    return EXIT_OK if ok else EXIT_FAILED


async def _after_failure(backend: Backend, run: JobRun) -> None:
    """Say what happens next: a queued retry, or the dead-letter queue."""
    try:
        job = await backend.get_job(run.job_id)
        recent = await backend.history(run.job_id, limit=5)
    except SchedulerError:
        return
    retry = next((r for r in recent if r.details.get("retry_of") == run.id), None)
    if retry is not None:
        _note(f"retry (attempt {retry.attempt}) queued for {_when(retry.due_at)}")
    if job.status is JobStatus.DEAD_LETTER:
        _note(f"{job.name} is now dead_letter; after fixing it: symbi cron reset {job.name}")


async def _history(conn: Connection, args: argparse.Namespace) -> int:
    status = RunStatus(args.status) if args.status else None
    runs = await conn.backend.history(args.job, limit=args.limit, status=status)
    _print_runs(runs, args.format, empty="No runs" + (" match." if status else "."))
    return EXIT_OK


def _print_runs(runs: list[JobRun], fmt: str, *, empty: str, with_job: bool = False) -> None:
    if fmt == "json":
        output.print_json([output.run_dict(r) for r in runs])
    elif fmt == "csv":
        output.print_csv("runs", runs)
    elif not runs:
        say(empty)
    else:
        output.show(output.runs_table(runs, with_job=with_job))


async def _nodes(conn: Connection, args: argparse.Namespace) -> int:
    health = await conn.backend.health()
    if args.format == "json":
        output.print_json(health.to_dict()["nodes"])
    elif not health.nodes:
        say("No scheduler is running on this store.")
    else:
        output.show(output.nodes_table(health.nodes))
    return EXIT_OK


async def _iterations(conn: Connection, args: argparse.Namespace) -> int:
    iterations = await conn.backend.iterations(args.run)
    if args.format == "json":
        output.print_json([wire.iteration_to_dict(i) for i in iterations])
    elif not iterations:
        say("No iterations: not a heartbeat run, or none has started yet.")
    else:
        output.show(output.iterations_table(iterations))
    return EXIT_OK


async def _approvals(conn: Connection, args: argparse.Namespace) -> int:
    runs = await conn.backend.pending_approvals()
    _print_runs(runs, args.format, empty="No runs are awaiting approval.", with_job=True)
    return EXIT_OK


async def _decide(conn: Connection, args: argparse.Namespace) -> int:
    backend = conn.backend
    call = backend.approve if args.cmd == "approve" else backend.deny
    try:
        run = await call(args.run, reason=args.reason)
    except RunNotFound:
        # the tables show 12-character ids: accept a unique prefix of a waiting run's id
        if len(args.run) < 4:
            raise
        matches = [r for r in await backend.pending_approvals() if r.id.startswith(args.run)]
        if len(matches) > 1:
            ids = ", ".join(r.id for r in matches)
            raise ValidationError(
                f"{args.run!r} matches several runs: {ids}", field="run"
            ) from None
        if not matches:
            raise
        run = await call(matches[0].id, reason=args.reason)
    if args.format == "json":
        output.print_json(output.run_dict(run))
    elif args.cmd == "approve":
        say(f"approved run {run.id} of {run.job_name}: {run.status.value}")
    else:
        because = f": {args.reason}" if args.reason else ""
        say(f"denied run {run.id} of {run.job_name}{because}")
    return EXIT_OK


async def _cancel(conn: Connection, args: argparse.Namespace) -> int:
    run = await conn.backend.cancel_run(args.run)
    if args.format == "json":
        output.print_json(output.run_dict(run))
    elif run.status is RunStatus.CANCELLED:
        say(f"cancelled run {run.id} of {run.job_name}")
    else:
        say(
            f"asked the scheduler running run {run.id} of {run.job_name} to cancel it: it "
            "stops the agent and records the run cancelled (symbi cron history "
            f"{run.job_name} shows it)"
        )
    return EXIT_OK


async def _audit(conn: Connection, args: argparse.Namespace) -> int:
    events = await conn.backend.audit(
        type=args.type, since=args.since, job=args.job, limit=args.limit
    )
    if args.format == "json":
        output.print_json([output.audit_dict(e) for e in events])
    elif args.format == "csv":
        output.print_csv("audit", events)
    elif not events:
        say("No audit events match.")
    else:
        output.show(output.audit_table(events))
    return EXIT_OK


_Handler = Callable[[Connection, argparse.Namespace], Awaitable[int]]
_HANDLERS: dict[tuple[str, str | None], _Handler] = {
    ("cron", "list"): _list,
    ("cron", "add"): _add,
    ("cron", "export"): _export,
    ("cron", "remove"): _remove,
    ("cron", "pause"): _transition,
    ("cron", "resume"): _transition,
    ("cron", "reset"): _transition,
    ("cron", "status"): _status,
    ("cron", "run"): _run,
    ("cron", "backfill"): backfill_command,
    ("cron", "history"): _history,
    ("cron", "iterations"): _iterations,
    ("cron", "approvals"): _approvals,
    ("nodes", None): _nodes,
    ("cron", "approve"): _decide,
    ("cron", "deny"): _decide,
    ("cron", "cancel"): _cancel,
    ("audit", "query"): _audit,
}
