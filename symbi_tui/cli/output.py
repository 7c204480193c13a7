"""What ``symbi`` prints: rich tables for people, JSON and CSV for programs.

Tables fit the terminal (piped, they get a wide page so ``grep`` sees whole lines); every status
is a glyph and a word, coloured on a terminal and still readable without colour (``NO_COLOR``).
Text from agents, errors and names is shown with its control characters as visible escapes
(``\\x1b``: :func:`scheduler_core.textsafe.visible`), so it never drives the terminal; JSON
keeps the exact strings. JSON shapes are the HTTP API's (docs/cli.md lists them): a job is
:func:`scheduler_core.jobspec.job_to_dict` (secrets masked), a run and an audit event are what
``scheduler_core.wire`` makes of them. CSV is RFC 4180: a header row, CRLF line ends,
fields quoted when they hold a comma, a quote or a line break.
"""

from __future__ import annotations

__all__ = [
    "AUDIT_CSV_FIELDS",
    "JOB_CSV_FIELDS",
    "RUN_CSV_FIELDS",
    "StatusData",
    "audit_dict",
    "audit_table",
    "console",
    "cost_words",
    "iso",
    "job_status_text",
    "jobs_table",
    "policy_lines",
    "print_csv",
    "print_json",
    "run_dict",
    "run_status_text",
    "runs_table",
    "say",
    "show",
    "status_view",
]

import csv
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from scheduler_core import wire
from scheduler_core.clock import format_instant
from scheduler_core.llm_cost import CostReport, cost_text, run_cost, run_tokens, usd
from scheduler_core.model import (
    AuditEvent,
    HeartbeatIteration,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
)
from scheduler_core.store.base import NodeInfo
from scheduler_core.textsafe import json_safe, visible

from ..format import (
    JOB_STATUS_TONES,
    RUN_STATUS_TONES,
    Tone,
    countdown,
    duration,
    excerpt,
    heartbeat_iterations,
    heartbeat_mark,
    job_status_label,
    run_status_label,
    short_ids,
)

#: the console's tones as terminal colours (the CLI has no Textual theme)
_TONE_STYLES: dict[Tone, str] = {
    Tone.SUCCESS: "green",
    Tone.WARNING: "yellow",
    Tone.ERROR: "bold red",
    Tone.ACCENT: "cyan",
    Tone.MUTED: "dim",
}
#: width of a page when stdout is not a terminal and COLUMNS is unset
_PIPE_WIDTH = 200
#: the least of an id shown in tables (a prefix is accepted wherever an id is); ids made in the
#: same millisecond (jobs added together, runs started together) share their first 12
#: characters, so a table shows as many more as tell its rows apart (``short_ids``)
_ID = 12


def console(*, stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr) fitted to the terminal, or wide when piped."""
    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty() and "COLUMNS" not in os.environ:
        width = _PIPE_WIDTH
    return Console(file=stream, width=width, highlight=False, markup=False, soft_wrap=False)


def show(renderable: RenderableType) -> None:
    """Print a table or view on stdout; piped, without the padding rich leaves at line ends."""
    con = console()
    if con.is_terminal:
        con.print(renderable)
        return
    with con.capture() as captured:
        con.print(renderable)
    text = "\n".join(line.rstrip() for line in captured.get().splitlines())
    con.file.write(text + "\n")


def say(
    *values: object, sep: str = " ", end: str = "\n", file: Any = None, flush: bool = False
) -> None:
    """``print`` for people: what it prints (names, agents' output, errors) shows control
    characters as visible escapes, never raw."""
    text = sep.join(str(v) for v in values)
    print(visible(text), end=end, file=file if file is not None else sys.stdout, flush=flush)


# --- words ----------------------------------------------------------------------------------------


def job_status_text(status: JobStatus) -> Text:
    return Text(job_status_label(status), style=_TONE_STYLES[JOB_STATUS_TONES[status]])


def run_status_text(status: RunStatus) -> Text:
    return Text(run_status_label(status), style=_TONE_STYLES[RUN_STATUS_TONES[status]])


def _when(instant: datetime | None) -> str:
    """``2026-03-02 09:00:05``, UTC (column headers say so)."""
    return instant.strftime("%Y-%m-%d %H:%M:%S") if instant is not None else "-"


def iso(instant: datetime | None) -> str:
    """An instant as the API writes it (``2026-03-02T09:00:00.000000Z``); empty for none."""
    return format_instant(instant) if instant is not None else ""


# --- JSON -----------------------------------------------------------------------------------------


def print_json(value: Any) -> None:
    """Indented, keys in the documented order, non-ASCII kept, one trailing newline."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(json_safe(text) + "\n")


def run_dict(run: JobRun) -> dict[str, Any]:
    """A run as the API shows it (``GET /api/v1/runs/{id}``)."""
    result: dict[str, Any] = wire.run_to_dict(run)
    return result


def audit_dict(event: AuditEvent) -> dict[str, Any]:
    """An audit event as the API shows it (``GET /api/v1/audit``)."""
    result: dict[str, Any] = wire.audit_to_dict(event)
    return result


# --- CSV ------------------------------------------------------------------------------------------

JOB_CSV_FIELDS = (
    "id",
    "name",
    "agent_id",
    "schedule",
    "timezone",
    "status",
    "next_run_at",
    "last_run_at",
    "last_run_status",
    "run_count",
    "failure_count",
    "last_error",
)
RUN_CSV_FIELDS = (
    "id",
    "job_id",
    "job_name",
    "agent_id",
    "status",
    "trigger",
    "attempt",
    "scheduled_for",
    "started_at",
    "finished_at",
    "execution_time_ms",
    "error_message",
    "summary",
    "output",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "heartbeat_iterations",
)
AUDIT_CSV_FIELDS = ("id", "at", "type", "actor", "job_id", "job_name", "run_id", "details")


def _job_row(job: JobDefinition) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "agent_id": job.agent,
        "schedule": job.schedule_text,
        "timezone": job.timezone,
        "status": job.status.value,
        "next_run_at": iso(job.next_run_at),
        "last_run_at": iso(job.last_run_at),
        "last_run_status": job.last_run_status.value if job.last_run_status else "",
        "run_count": job.run_count,
        "failure_count": job.failure_count,
        "last_error": job.last_error or "",
    }


def _run_row(run: JobRun) -> dict[str, Any]:
    tokens, cost = run_tokens(run.details), run_cost(run.details)
    beats = heartbeat_iterations(run)
    return {
        "id": run.id,
        "job_id": run.job_id,
        "job_name": run.job_name,
        "agent_id": run.agent_id,
        "status": run.status.value,
        "trigger": run.trigger.value,
        "attempt": run.attempt,
        "scheduled_for": iso(run.scheduled_for),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "execution_time_ms": "" if run.execution_time_ms is None else run.execution_time_ms,
        "error_message": run.error_message or "",
        "summary": run.summary or "",
        "output": run.output or "",
        "input_tokens": "" if tokens is None else tokens[0],
        "output_tokens": "" if tokens is None else tokens[1],
        "cost_usd": "" if cost is None else cost,
        "heartbeat_iterations": "" if beats is None else beats,
    }


def _audit_row(event: AuditEvent) -> dict[str, Any]:
    data = audit_dict(event)
    details = dict(data["details"])
    return {
        "id": "" if event.id is None else event.id,
        "at": data["at"],
        "type": data["type"],
        "actor": data["actor"],
        "job_id": data["job_id"] or "",
        "job_name": details.get("job_name") or "",
        "run_id": data["run_id"] or "",
        "details": json.dumps(details, sort_keys=True, ensure_ascii=False, default=str),
    }


def print_csv(kind: str, items: Iterable[Any]) -> None:
    """Jobs, runs or audit events (``kind``) as RFC 4180 CSV with a header row."""
    table: dict[str, tuple[tuple[str, ...], Callable[[Any], dict[str, Any]]]] = {
        "jobs": (JOB_CSV_FIELDS, _job_row),
        "runs": (RUN_CSV_FIELDS, _run_row),
        "audit": (AUDIT_CSV_FIELDS, _audit_row),
    }
    fields, row = table[kind]
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    for item in items:
        writer.writerow(row(item))
    sys.stdout.write(buffer.getvalue())


# --- tables ---------------------------------------------------------------------------------------


def _table(*columns: tuple[str, dict[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold", show_edge=False)
    for title, options in columns:
        table.add_column(title, **options)
    return table


_FIXED: dict[str, Any] = {"no_wrap": True}
_FOLD: dict[str, Any] = {"overflow": "fold"}
#: a long text column (a run's detail, an audit event's details): it gives way first when a
#: table is wider than the page (rich narrows only the columns that may wrap; with none, it
#: cuts every column alike, run ids and costs included), and its cells, made by ``_cut``, stay
#: on one line cut with an ellipsis
_CUT: dict[str, Any] = {"overflow": "ellipsis", "min_width": 8}


def _cut(text: str) -> Text:
    """A cell of a ``_CUT`` column: one line, cut with an ellipsis where the column ends."""
    return Text(text, no_wrap=True, overflow="ellipsis")


def jobs_table(jobs: Sequence[JobDefinition], last: Mapping[str, JobRun] | None = None) -> Table:
    table = _table(
        ("ID", _FIXED),
        ("NAME", _FOLD),
        ("AGENT", _FOLD),
        ("SCHEDULE", _FOLD),
        ("STATUS", _FIXED),
        ("NEXT RUN (UTC)", _FIXED),
        ("LAST RUN", _FIXED),
    )
    short = short_ids((job.id for job in jobs), _ID)
    for job in jobs:
        status = job.last_run_status
        table.add_row(
            short[job.id],
            _v(job.name),
            _v(job.agent),
            _v(job.schedule_text),
            job_status_text(job.status),
            _v(f"after {job.after}") if job.after else _when(job.next_run_at),
            run_status_text(status) if status is not None else Text("-"),
        )
    return table


#: what a runs table leaves out first, in this order, when the page cannot hold every column
#: and ``_DETAIL_MIN`` of the detail (an 80-column terminal with an LLM run's COST); the run's
#: id, status, start and cost stay, and JSON and CSV keep everything
_RUNS_LEFT_OUT_FIRST = ("ATTEMPT", "TRIGGER", "BEATS", "DURATION")
_DETAIL_MIN = 12


def runs_table(runs: Sequence[JobRun], *, with_job: bool = False) -> RenderableType:
    """The runs, one a line, newest first, fitted to the page it is printed on."""
    columns: list[tuple[str, dict[str, Any]]] = [("RUN", _FIXED)]
    if with_job:
        columns.append(("JOB", _FOLD))
    columns += [
        ("STATUS", _FIXED),
        ("TRIGGER", _FIXED),
        ("ATTEMPT", {"no_wrap": True, "justify": "right"}),
        ("STARTED (UTC)", _FIXED),
        ("DURATION", {"no_wrap": True, "justify": "right"}),
    ]
    beats = any(heartbeat_mark(run) for run in runs)
    if beats:  # heartbeat runs: how many iterations (symbi cron iterations RUN shows them)
        columns.append(("BEATS", _FIXED))
    costs = any(run_tokens(run.details) is not None for run in runs)
    if costs:  # LLM runs: what each cost ([llm.prices])
        columns.append(("COST", {"no_wrap": True, "justify": "right"}))
    short = short_ids((run.id for run in runs), _ID)
    rows: list[dict[str, RenderableType]] = []
    for run in runs:
        detail = run.error_message or run.summary or run.output or ""
        row: dict[str, RenderableType] = {"RUN": short[run.id]}
        if with_job:
            row["JOB"] = _v(run.job_name)
        row.update(
            {
                "STATUS": run_status_text(run.status),
                "TRIGGER": run.trigger.value,
                "ATTEMPT": str(run.attempt),
                "STARTED (UTC)": _when(run.started_at or run.scheduled_for),
                "DURATION": duration(run.execution_time_ms) or "-",
            }
        )
        if beats:
            row["BEATS"] = heartbeat_mark(run) or "-"
        if costs:
            row["COST"] = cost_text(run.details)
        row["DETAIL"] = _cut(excerpt(detail, 500))
        rows.append(row)
    return _FittedTable(columns, ("DETAIL", _CUT), rows, _RUNS_LEFT_OUT_FIRST)


class _FittedTable:
    """A table whose last column is a long text: drawn with every column when the page holds
    them and ``_DETAIL_MIN`` of that text, else without the ``optional`` columns, in order,
    until it does (rich would otherwise cut every column alike, ids and costs included)."""

    def __init__(
        self,
        columns: Sequence[tuple[str, dict[str, Any]]],
        last: tuple[str, dict[str, Any]],
        rows: Sequence[Mapping[str, RenderableType]],
        optional: Sequence[str],
    ) -> None:
        self.columns = list(columns)
        self.last = last
        self.rows = rows
        self.optional = [name for name in optional if any(c[0] == name for c in columns)]

    def _table(self, left_out: set[str], *, last: bool = True) -> Table:
        shown = [c for c in self.columns if c[0] not in left_out]
        if last:
            shown.append(self.last)
        table = _table(*shown)
        for row in self.rows:
            table.add_row(*(row[name] for name, _ in shown))
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        left_out: set[str] = set()
        wide = options.update_width(1 << 16)
        for name in self.optional:
            without_last = Measurement.get(console, wide, self._table(left_out, last=False))
            if without_last.maximum + 2 + _DETAIL_MIN <= options.max_width:
                break
            left_out.add(name)
        yield self._table(left_out)


def iterations_table(iterations: Sequence[HeartbeatIteration]) -> Table:
    table = _table(
        ("#", {"no_wrap": True, "justify": "right"}),
        ("STARTED (UTC)", _FIXED),
        ("DURATION", {"no_wrap": True, "justify": "right"}),
        ("OUTCOME", _FIXED),
        ("ASSESSMENT", _CUT),
        ("ACTION", _CUT),
        ("SUMMARY", _CUT),
    )
    for it in iterations:
        took = None
        if it.finished_at is not None:
            took = int((it.finished_at - it.started_at).total_seconds() * 1000)
        table.add_row(
            str(it.index),
            _when(it.started_at),
            duration(took) or "-",
            _v(it.outcome),
            _cut(excerpt(it.assessment or "", 200)),
            _cut(excerpt(it.action or "", 200)),
            _cut(excerpt(it.summary or it.output_excerpt or "", 300)),
        )
    return table


def audit_table(events: Sequence[AuditEvent]) -> Table:
    table = _table(
        ("AT (UTC)", _FIXED),
        ("TYPE", _FIXED),
        ("ACTOR", _FOLD),
        ("JOB", _FOLD),
        ("RUN", _FIXED),
        ("DETAILS", _CUT),
    )
    short = short_ids((event.run_id for event in events if event.run_id), _ID)
    for event in events:
        details = audit_dict(event)["details"]
        job = details.pop("job_name", None) or (event.job_id or "")[:_ID] or "-"
        text = ", ".join(f"{k}={_short(v)}" for k, v in details.items() if v not in (None, ""))
        bad = event.type.value.endswith(("Failed", "DeadLettered", "Denied"))
        style = "bold red" if bad else ""
        table.add_row(
            _when(event.at),
            Text(event.type.value, style=style),
            _v(event.actor),
            _v(job),
            short.get(event.run_id or "", "-"),
            _cut(text),
        )
    return table


def nodes_table(nodes: Sequence[NodeInfo]) -> Table:
    table = _table(
        ("NODE", _FOLD),
        ("ROLE", _FIXED),
        ("HOST", _FOLD),
        ("PID", {"no_wrap": True, "justify": "right"}),
        ("API", _FOLD),
        ("SINCE (UTC)", _FIXED),
        ("HEARTBEAT (UTC)", _FIXED),
        ("RUNNING", {"no_wrap": True, "justify": "right"}),
    )
    for node in nodes:
        table.add_row(
            _v(node.owner),
            _v(node.role),
            _v(node.host),
            str(node.pid),
            _v(node.api_address or "-"),
            _when(node.started_at),
            _when(node.heartbeat),
            str(node.running),
        )
    return table


def _v(text: str) -> str:
    """A name or value as a table shows it: on one line, control characters visible."""
    return visible(text, one_line=True)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return excerpt(text, 120)


def policy_lines(policy: Mapping[str, Any]) -> list[Text]:
    """The effective policy (``Backend.effective_policy``) as lines: each rule, its merged value
    and where it came from; first, why the listed policies cannot be merged, if they cannot."""
    lines: list[Text] = []
    if policy.get("error"):
        lines.append(Text(_v(f"✖ {policy['error']}: its runs are denied"), style="bold red"))
    for rule in policy.get("rules") or []:
        line = Text(_v(f"{rule['label']} {rule['text']}"))
        line.append(f"  ({_v(', '.join(rule['from']))})", style="dim")
        lines.append(line)
    return lines or [Text("-")]


def _reading(job: JobDefinition) -> str:
    if job.cron is None:
        return ""
    try:
        from scheduler_core.scheduling.rules import schedule_for

        return schedule_for(job.cron, job.timezone).describe()
    except Exception:  # a reading is a nicety: never fail the view for it
        return ""


def cost_words(report: CostReport) -> str:
    """A job's LLM cost as ``symbi cron status`` and the watch screen say it: today's, against
    its budgets, and over the days shown."""
    today = report.days[-1] if report.days else None
    words = f"{usd(report.spent_today)} today"
    if today is not None and today.runs:
        words += f" ({today.runs} run(s), {today.input_tokens} in / {today.output_tokens} out"
        words += f", {today.unpriced_runs} without a price)" if today.unpriced_runs else ")"
    if report.max_cost_per_day is not None:
        words += f" of max_cost_per_day {usd(report.max_cost_per_day)}"
    if report.global_max_cost_per_day is not None:
        words += (
            f"; all jobs {usd(report.global_spent_today)} of {usd(report.global_max_cost_per_day)}"
        )
    words += f"; the day ends {_when(report.resets_at)} UTC ({report.timezone})"
    if len(report.days) > 1:
        words += f"; {len(report.days)} days {usd(report.total_cost_usd)}"
    return words


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusData:
    """What ``symbi cron status`` shows of a job."""

    job: JobDefinition
    upcoming: Sequence[datetime]
    runs: Sequence[JobRun] | None
    policy: Mapping[str, Any]  #: Backend.effective_policy
    cost: CostReport | None = None  #: Backend.job_cost: its LLM cost of the last days
    followers: Sequence[str] = ()  #: the jobs that come after it (Backend.followers)


def status_view(data: StatusData, now: datetime) -> RenderableType:
    """``symbi cron status``: the job's details, its next instants, the job it comes after and
    those that come after it (chains), the policy that gates its runs (each rule with where it
    came from) and (optionally) its runs."""
    job, upcoming, runs, followers = data.job, data.upcoming, data.runs, data.followers
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    title = Text.assemble((_v(job.name), "bold"), "  ", job_status_text(job.status))
    reading = _reading(job)
    schedule = f"{job.schedule_text}  ({job.timezone})" + (f": {reading}" if reading else "")
    grid.add_row("id", _v(job.id))
    grid.add_row("agent", _v(job.agent))
    grid.add_row("schedule", _v(job.schedule_text if job.after else schedule))
    nxt = job.next_run_at if job.status is JobStatus.ACTIVE else None
    if job.after and job.status is JobStatus.ACTIVE:
        grid.add_row("next run", _v(f"after {job.after} succeeds"))
    else:
        grid.add_row("next run", f"{_when(nxt)} UTC ({countdown(nxt, now)})" if nxt else "-")
    if job.after:
        grid.add_row("after", _v(job.after))
    if followers:
        grid.add_row("followers", _v(", ".join(followers)))
    if len(upcoming) > 1:
        grid.add_row("then", ", ".join(_when(t) for t in upcoming[1:]))
    last = Text(_when(job.last_run_at))
    if job.last_run_status is not None:
        last.append("  ")
        last.append_text(run_status_text(job.last_run_status))
    grid.add_row("last run", last if job.last_run_at else "-")
    failures = f", {job.failure_count} consecutive failure(s)" if job.failure_count else ""
    grid.add_row("runs", f"{job.run_count}{failures}")
    if job.last_error:
        grid.add_row("last error", Text(excerpt(job.last_error, 400), style="red"))
    grid.add_row("session", job.session_mode.value)
    if job.heartbeat is not None and job.heartbeat.enabled:
        hb = job.heartbeat
        grid.add_row(
            "heartbeat", f"{hb.context_mode.value}, at most {hb.max_iterations} iteration(s)"
        )
    grid.add_row("delivery", _v(", ".join(job.delivery)) or "-")
    if job.policies:
        grid.add_row("policies", _v(", ".join(job.policies)))
    for event in ("on_failure", "on_dead_letter"):
        channels: tuple[str, ...] | None = getattr(job, event)
        grid.add_row(
            event, "config default" if channels is None else _v(", ".join(channels)) or "-"
        )
    grid.add_row("policy", Text("\n").join(policy_lines(data.policy)))
    cost = data.cost
    if cost is not None and (any(d.runs for d in cost.days) or cost.max_cost_per_day):
        grid.add_row("LLM cost", cost_words(cost))
    retries = "default" if job.max_retries is None else str(job.max_retries)
    grid.add_row("limits", f"max_concurrent {job.max_concurrent}, max_retries {retries}")
    if job.source:
        grid.add_row("source", _v(job.source))
    parts: list[RenderableType] = [title, grid]
    if runs is not None:
        parts.append(Text(""))
        parts.append(Text(f"Last {len(runs)} run(s)", style="bold") if runs else Text("No runs."))
        if runs:
            parts.append(runs_table(runs))
    return Group(*parts)
