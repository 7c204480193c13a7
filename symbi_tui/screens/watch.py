"""Watch one job live (the guide's ``symbi cron status <job> --watch``).

Definition and its English reading, policy, delivery channels with their secrets masked, the next
fire times, the run in flight with its elapsed time (from the injected clock) and the output of the
last run once it ends, the failure count, and a sparkline of recent run durations.
"""

from __future__ import annotations

__all__ = ["WatchScreen"]

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Sparkline, Static

from scheduler_core.clock import Clock
from scheduler_core.errors import JobNotFound
from scheduler_core.events import Event, IterationRecorded, JobChanged, RunChanged
from scheduler_core.jobspec import job_to_dict
from scheduler_core.llm_cost import CostReport, usd
from scheduler_core.model import HeartbeatIteration, JobDefinition, JobRun, JobStatus, RunStatus

from ..backend import Backend
from ..format import countdown, duration, newest_first, next_run_text, run_tally, short_instant
from ..legibility import error_style
from ..markup import escape
from ..widgets.screen_header import ScreenHeader
from ..widgets.steady_footer import SteadyFooter
from . import job_actions
from ._markup import (
    elapsed,
    instant_pair,
    job_status_markup,
    kv_block,
    muted,
    run_status_markup,
    schedule_reading,
)
from .base import ConsoleScreen, show

_HISTORY = 40  #: runs read for the in-flight run, the last output and the sparkline
_NEXT = 5
_OUTPUT_LINES = 40


class WatchScreen(ConsoleScreen[None]):
    """One job by id or name, refreshed live; single letters act on it."""

    DEFAULT_CSS = """
    WatchScreen .watch-pane {
        border: round $border-blurred;
        border-title-color: $foreground;
        border-subtitle-color: $foreground-muted;
        padding: 0 1;
    }
    WatchScreen #watch-top {
        height: auto;
    }
    WatchScreen #watch-definition {
        width: 1fr;
        height: auto;
    }
    WatchScreen #watch-policy {
        width: 50;
        height: auto;
    }
    WatchScreen #watch-middle {
        height: 1fr;
    }
    WatchScreen #watch-next {
        width: 44;
        height: 100%;
    }
    WatchScreen #watch-run {
        width: 1fr;
        height: 100%;
        scrollbar-size-vertical: 1;
    }
    WatchScreen #watch-run:focus {
        border: round $border;
    }
    WatchScreen #watch-run Static {
        height: auto;
    }
    WatchScreen #watch-durations {
        height: 5;
    }
    WatchScreen Sparkline {
        height: 3;
    }
    WatchScreen #watch-durations.-none {
        height: 3;
    }
    WatchScreen #watch-durations-none {
        display: none;
    }
    WatchScreen #watch-durations.-none Sparkline {
        display: none;
    }
    WatchScreen #watch-durations.-none #watch-durations-none {
        display: block;
    }
    /* under 100 columns: the definition takes the whole width with the policy in one of its
       lines, the run in flight the whole middle (the definition's Next line says when the
       next run is), the durations one line */
    WatchScreen.-narrow #watch-policy, WatchScreen.-narrow #watch-next {
        display: none;
    }
    WatchScreen.-narrow #watch-middle {
        min-height: 6;
    }
    WatchScreen.-narrow #watch-durations {
        height: 3;
    }
    WatchScreen.-narrow Sparkline {
        height: 1;
    }
    """

    BINDINGS = [
        Binding("p", "toggle_pause", "Pause/Resume", id="watch-pause"),
        Binding("r", "run_now", "Run now", id="watch-run"),
        # (R and e off the footer, as on the jobs pane, so ? and q fit at 80 columns; ? lists them)
        Binding("R", "run_with_input", "Run with input", id="watch-run-input", show=False),
        Binding("B", "backfill", "Backfill", id="watch-backfill", show=False),
        Binding("ctrl+r", "reset", "Reset", id="watch-reset"),
        Binding("e", "edit", "Edit", id="watch-edit", show=False),
        Binding("h", "history", "History", id="watch-history"),
        Binding("i", "heartbeat", "Iterations", id="watch-heartbeat"),
        # (off the footer too, for ? and q at 80 columns: the In flight pane says c cancels)
        Binding("c", "cancel_run", "Cancel run", id="watch-cancel", show=False),
    ]
    MUTATING_ACTIONS = frozenset(
        {"toggle_pause", "run_now", "run_with_input", "backfill", "reset", "edit", "cancel_run"}
    )

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock,
        readonly: bool = False,
        job: str,
        refresh_interval: float = 1.0,
    ) -> None:
        super().__init__(backend, clock=clock, readonly=readonly, refresh_interval=refresh_interval)
        self.job_ref = job
        self.job: JobDefinition | None = None
        self.runs: list[JobRun] = []
        self.next_runs: list[datetime] = []
        self.followers: list[str] = []  #: the jobs that come after this one
        self.iterations: list[HeartbeatIteration] = []  #: of the heartbeat run in flight
        self.cost: CostReport | None = None  #: the job's LLM cost today, and its budgets
        self.policy: Mapping[str, Any] = {}  #: Backend.effective_policy
        self.missing = False
        #: the job's status and the run ``c`` would cancel, as the footer was last drawn
        self._binding_state: tuple[JobStatus, str | None] | None = None

    @property
    def crumbs(self) -> Sequence[str]:
        return ("symbi", self.job.name if self.job else self.job_ref, "watch")

    def compose(self) -> ComposeResult:
        yield ScreenHeader()
        with Horizontal(id="watch-top"):
            yield Static(id="watch-definition", classes="watch-pane")
            yield Static(id="watch-policy", classes="watch-pane")
        with Horizontal(id="watch-middle"):
            yield Static(id="watch-next", classes="watch-pane")
            with VerticalScroll(id="watch-run", classes="watch-pane"):
                yield Static(id="watch-run-text")
        with Vertical(id="watch-durations", classes="watch-pane -none"):
            yield Sparkline([], id="watch-sparkline")
            yield Static(id="watch-durations-none")
        yield SteadyFooter(show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#watch-definition").border_title = escape(self.job_ref)
        self.query_one("#watch-policy").border_title = "Policy · delivery"
        self.query_one("#watch-next").border_title = "Next runs"
        self.query_one("#watch-run").border_title = "Runs"
        self.query_one("#watch-durations").border_title = "Durations"
        self.query_one("#watch-run").focus()

    # --- data -----------------------------------------------------------------------------------

    def wants(self, event: Event) -> bool:
        job_id = self.job.id if self.job else None
        if isinstance(event, JobChanged):
            return event.job_id == job_id
        if isinstance(event, RunChanged):
            return event.run.job_id == job_id
        if isinstance(event, IterationRecorded):
            return any(run.id == event.iteration.run_id for run in self.in_flight)
        return False

    async def fetch(self) -> None:
        try:
            self.job = job = await self.backend.get_job(self.job_ref)
            self.runs = newest_first(await self.backend.history(job.id, limit=_HISTORY))
            self.next_runs = await self.backend.next_runs(job.id, _NEXT)
            self.cost = await self.backend.job_cost(job.id, 1)
            self.followers = await self.backend.followers(job.id)
            self.policy = await self.backend.effective_policy(job.id)
        except JobNotFound:
            self.missing = True
            return
        self.missing = False
        running = [run for run in self.in_flight if run.status is RunStatus.RUNNING]
        if running and job.heartbeat_enabled:
            self.iterations = await self.backend.iterations(running[0].id)
        else:
            self.iterations = []

    @property
    def in_flight(self) -> list[JobRun]:
        """Runs not yet ended (running, queued, awaiting approval), oldest first."""
        return [run for run in reversed(self.runs) if not run.status.is_final]

    @property
    def run_to_cancel(self) -> JobRun | None:
        """The run in flight ``c`` cancels: the oldest running one, else the oldest waiting."""
        flight = self.in_flight
        running = [run for run in flight if run.status is RunStatus.RUNNING]
        first = running or flight
        return first[0] if first else None

    @property
    def last_finished(self) -> JobRun | None:
        return next((run for run in self.runs if run.status.is_final), None)

    # --- rendering --------------------------------------------------------------------------------

    def render_data(self) -> None:
        job = self.job
        if job is None or self.missing:
            text = f"no job {self.job_ref!r} (it was removed)" if self.missing else "loading…"
            show(self.query_one("#watch-definition", Static), muted(text))
            return
        now = self.clock.now()
        self._render_definition(job, now)
        show(self.query_one("#watch-policy", Static), _policy_and_delivery(job, self.policy))
        self._render_next(job, now)
        self._render_runs(job, now)
        self._render_durations()
        flight = self.run_to_cancel
        state = (job.status, flight.id if flight else None)
        if state != self._binding_state:  # the footer is rebuilt only when it changes
            self._binding_state = state
            self.refresh_bindings()

    def on_resize(self) -> None:
        if self.loaded:
            self.render_data()  # narrow or wide

    def _render_definition(self, job: JobDefinition, now: datetime) -> None:
        pane = self.query_one("#watch-definition", Static)
        pane.border_title = f"[b]{escape(job.name)}[/b] {job_status_markup(job.status)}"
        pane.border_subtitle = escape(job.id[:12])
        schedule = f"[b]{escape(job.schedule_text)}[/b]  {escape(schedule_reading(job))}"
        heartbeat = muted("off")
        if job.heartbeat is not None:
            spec = job.heartbeat
            state = "on" if spec.enabled else "off"
            heartbeat = f"{state} · up to {spec.max_iterations} iterations"
            if spec.context_mode is not job.session_mode:
                heartbeat += f" · context {spec.context_mode.value}"
            heartbeat = escape(heartbeat)
        retries = "default" if job.max_retries is None else str(job.max_retries)
        runs = escape(run_tally(job, self.runs))
        failures = f"{job.failure_count} failure{'s' * (job.failure_count != 1)}"
        failures_markup = (
            f"[{error_style()}]{failures}[/]" if job.failure_count else muted(failures)
        )
        if job.status is JobStatus.ACTIVE:
            next_text = escape(next_run_text(job, now))
        else:
            next_text = muted("— (" + job.status.value + ")")
        limits = (
            f"concurrency {job.max_concurrent} · jitter "
            f"{'default' if job.jitter_seconds is None else f'{job.jitter_seconds:g}s'}"
            f" · catch-up {job.catch_up.value}"
        )
        if self.narrow:  # one line each, and the policy pane's gist in one of them
            rows = [
                ("Schedule", f"{schedule} · {escape(job.timezone)}"),
                ("Agent", f"{escape(job.agent)} · {escape(job.session_mode.value)}"),
                ("Heartbeat", heartbeat),
                ("Next", next_text),
                ("Runs", f"{runs} · {failures_markup} · max_retries {retries}"),
                ("Limits", escape(limits)),
                ("Policy", _policy_line(job, self.policy)),
            ]
        else:
            rows = [
                ("Schedule", schedule),
                ("Timezone", escape(job.timezone)),
                ("Agent", escape(job.agent)),
                ("Session", escape(job.session_mode.value)),
                ("Heartbeat", heartbeat),
                ("Next", next_text),
                ("Runs", f"{runs} · {failures_markup} · max_retries {retries}"),
                ("Limits", escape(limits)),
            ]
        cost = _cost_line(self.cost)
        if cost:
            rows.append(("LLM cost", cost))
        rows[1:1] = self._chain_rows(job)
        if job.input:
            rows.append(("Input", escape(_one_line(job.input, 48))))
        if job.last_error:
            rows.append(
                ("Last error", f"[{error_style()}]{escape(_one_line(job.last_error, 46))}[/]")
            )
        if job.source:
            rows.append(("Source", muted(job.source)))
        show(pane, kv_block(rows, width=10))

    def _chain_rows(self, job: JobDefinition) -> list[tuple[str, str]]:
        """What comes before the job (its ``after``) and after it (its followers)."""
        rows = []
        if job.after is not None:
            rows.append(
                ("After", f"[b]{escape(job.after)}[/b] " + muted("(runs when it succeeds)"))
            )
        if self.followers:
            names = _one_line(", ".join(self.followers), 48)
            rows.append(("Followers", escape(names)))
        return rows

    def _render_next(self, job: JobDefinition, now: datetime) -> None:
        pane = self.query_one("#watch-next", Static)
        pane.border_subtitle = escape(job.timezone)
        if job.after is not None and job.status is JobStatus.ACTIVE:
            show(pane, f"after [b]{escape(job.after)}[/b]\n" + muted("each time its run succeeds"))
            return
        if not self.next_runs:
            reason = "not scheduled while " + job.status.value
            show(pane, muted(reason))
            return
        lines = []
        for instant in self.next_runs:
            lines.append(escape(instant_pair(instant, job.timezone)))
            lines.append("  " + muted(countdown(instant, now)))
        show(pane, "\n".join(lines))

    def _render_runs(self, job: JobDefinition, now: datetime) -> None:
        pane = self.query_one("#watch-run")
        blocks: list[str] = []
        in_flight = self.in_flight
        for run in in_flight:
            head = f"{run_status_markup(run.status)} · {escape(run.trigger.value)}"
            if run.status is RunStatus.RUNNING:
                since = elapsed(run.started_at, now)
                head += f" · started {run.started_at:%H:%M:%S} · elapsed [b]{since}[/b]"
                if self.iterations:
                    limit = job.heartbeat.max_iterations if job.heartbeat else "?"
                    head += f" · iteration {len(self.iterations)} / {limit}"
            elif run.status is RunStatus.QUEUED and run.due_at is not None:
                head += f" · due {escape(countdown(run.due_at, now))}"
            elif run.status is RunStatus.AWAITING_APPROVAL:
                approval = run.details.get("approval") or {}
                approvers = ", ".join(approval.get("approvers") or []) or "any operator"
                head += f" · approvers {escape(approvers)}"
            blocks.append(head)
            if run.input:
                blocks.append("  " + muted("input: " + _one_line(run.input, 70)))
            if run.status is RunStatus.RUNNING:
                blocks.append("  " + muted("output appears when the run ends"))
        pane.border_title = f"In flight · {len(in_flight)}" if in_flight else "In flight · none"
        pane.border_subtitle = (
            f"{self._cancel_key()} cancel" if in_flight and not self.readonly else ""
        )
        last = self.last_finished
        if last is not None:
            if blocks:
                blocks.append("")
            took = duration(last.execution_time_ms)
            when = last.finished_at or last.scheduled_for
            blocks.append(
                f"[b]Last run[/b] {run_status_markup(last.status)} · {escape(last.trigger.value)}"
                f" · {when:%m-%d %H:%M:%S} · {escape(took) or '—'}"
            )
            if last.error_message:
                blocks.append(f"[{error_style()}]{escape(last.error_message)}[/]")
            output = (last.output or "").splitlines()[-_OUTPUT_LINES:]
            if output:
                blocks.extend(escape(line) for line in output)
            elif not last.error_message:
                blocks.append(muted("(no output)"))
        elif not blocks:
            blocks.append(muted("no runs yet"))
        show(self.query_one("#watch-run-text", Static), "\n".join(blocks))

    def _render_durations(self) -> None:
        finished = [
            run.execution_time_ms
            for run in reversed(self.runs)
            if run.status.is_final and run.execution_time_ms is not None
        ]
        pane = self.query_one("#watch-durations")
        sparkline = self.query_one(Sparkline)
        # a chart needs two runs: with none the sparkline draws a solid block, with one a
        # solid bar, either read as something that happened
        pane.set_class(len(finished) < 2, "-none")
        if not finished:
            pane.border_title = "Durations"
            show(self.query_one("#watch-durations-none", Static), muted("no finished runs yet"))
            return
        if len(finished) == 1:
            pane.border_title = "Durations"
            show(
                self.query_one("#watch-durations-none", Static),
                escape(f"1 finished run, {duration(finished[0])}: a chart needs two"),
            )
            return
        values = [float(ms) for ms in finished]
        if list(sparkline.data or []) != values:
            sparkline.data = values
        average = round(sum(finished) / len(finished))
        pane.border_title = (
            f"Durations of the last {len(finished)} runs · min {duration(min(finished))}"
            f" · avg {duration(average)} · max {duration(max(finished))}"
        )

    # --- actions ----------------------------------------------------------------------------------

    def can(self, action: str) -> bool | None:
        job = self.job
        if job is None:
            return None
        if action == "toggle_pause":
            return True if job.status in (JobStatus.ACTIVE, JobStatus.PAUSED) else None
        if action == "reset":
            return True if job.status in (JobStatus.DEAD_LETTER, JobStatus.FAILED) else None
        if action == "backfill":
            return True if job_actions.backfill_refusal(job) is None else None
        if action == "cancel_run":
            return True if self.run_to_cancel is not None else None
        return True

    def why_not(self, action: str) -> str:
        if action == "backfill" and self.job is not None:
            return job_actions.backfill_refusal(self.job) or super().why_not(action)
        if action == "cancel_run" and self.job is not None:
            return f"{self.job.name} has no run in flight to cancel"
        return super().why_not(action)

    def _cancel_key(self) -> str:
        """The key that cancels the run in flight now (as remapped)."""
        for active in self.active_bindings.values():
            if active.binding.id == "watch-cancel":
                return self.app.get_key_display(active.binding)
        return "c"

    def action_cancel_run(self) -> None:
        run = self.run_to_cancel
        if run is not None:
            self.run_action_worker(lambda: job_actions.cancel_run(self, run))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "heartbeat":
            return True if self.job is not None and self.job.heartbeat_enabled else None
        return super().check_action(action, parameters)

    def action_toggle_pause(self) -> None:
        job = self.job
        if job is not None:
            self.run_action_worker(lambda: job_actions.toggle_pause(self, job))

    def action_run_now(self) -> None:
        job = self.job
        if job is not None:
            self.run_action_worker(lambda: job_actions.run_now(self, job))

    def action_run_with_input(self) -> None:
        job = self.job
        if job is not None:
            self.run_action_worker(lambda: job_actions.run_now(self, job, ask=True))

    def action_backfill(self) -> None:
        job = self.job
        if job is not None:
            self.run_action_worker(lambda: job_actions.backfill(self, job))

    def action_reset(self) -> None:
        job = self.job
        if job is not None:
            self.run_action_worker(lambda: job_actions.reset(self, job))

    def action_edit(self) -> None:
        if self.job is not None:
            self.open_view("edit", self.job.id, on_result=lambda _job: self.kick())

    def action_history(self) -> None:
        self.open_view("runs", self.job.id if self.job else self.job_ref)

    def action_heartbeat(self) -> None:
        if self.job is not None and self.job.heartbeat_enabled:
            self.open_view("hb", self.job.id)


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


#: how the watch screen names each rule of the effective policy
_RULE_LABELS = {
    "require_approval": "Approval",
    "approvers": "Approvers",
    "approval_timeout_seconds": "Expires",
    "max_runtime_seconds": "Max runtime",
    "allowed_hours": "Hours",
    "allowed_environments": "Environments",
    "require_capabilities": "Capabilities",
    "require_agent_pin": "AgentPin",
    "max_cost_per_day": "Cost/day",
}


def _cost_line(report: CostReport | None) -> str:
    """The job's LLM cost today against its budget (nothing for a job with neither)."""
    if report is None or not report.days:
        return ""
    today = report.days[-1]
    budget = report.max_cost_per_day
    if not today.runs and budget is None:
        return ""
    spent = escape(usd(today.cost_usd))
    if budget is not None and today.cost_usd >= budget:
        spent = f"[{error_style()}]{spent}[/]"  # reached: runs are denied until the day ends
    line = f"{spent} today"
    if budget is not None:
        line += escape(f" of {usd(budget)}/day")
    if today.runs:
        line += muted(f" · {today.runs} run{'s' * (today.runs != 1)}")
    line += muted(f" · resets {short_instant(report.resets_at)}")
    return line


def _rules(policy: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(rule["rule"]): rule for rule in policy.get("rules") or []}


def _policy_line(job: JobDefinition, policy: Mapping[str, Any]) -> str:
    """The policy pane in one line, for a narrow screen: the named policies, approval, max
    runtime, delivery."""
    rules = _rules(policy)
    parts = []
    if policy.get("error"):
        parts.append(f"[{error_style()}]✖ policies cannot merge: runs denied[/]")
    elif job.policies:
        parts.append(escape("policies " + ", ".join(job.policies)))
    if "require_approval" in rules:
        approvers = rules.get("approvers", {}).get("text") or "any operator"
        parts.append(f"[$warning]approval required[/] ({escape(str(approvers))})")
    else:
        parts.append(muted("no approval"))
    runtime = rules.get("max_runtime_seconds")
    parts.append(escape(f"max runtime {runtime['text']}") if runtime else muted("no max runtime"))
    channels = job_to_dict(job).get("delivery") or []
    parts.append(escape("delivery " + ", ".join(channels)) if channels else muted("no delivery"))
    if "require_agent_pin" in rules:
        parts.append("[$warning]AgentPin[/]")
    return " · ".join(parts)


def _policy_and_delivery(job: JobDefinition, policy: Mapping[str, Any]) -> str:
    """The effective policy, each rule with where it came from (``inline`` or ``policy
    NAME``), then the delivery channels with their secrets masked."""
    rows: list[tuple[str, str]] = []
    if policy.get("error"):
        rows.append(("Policy", f"[{error_style()}]✖ {escape(str(policy['error']))}[/]"))
        rows.append(("", f"[{error_style()}]its runs are denied until this is fixed[/]"))
    if job.policies:
        rows.append(("Policies", escape(", ".join(job.policies))))
    rules = _rules(policy)
    if "require_approval" not in rules:
        rows.append(("Approval", muted("not required")))
    for rule, label in _RULE_LABELS.items():
        if rule not in rules:
            if rule == "max_runtime_seconds":
                rows.append((label, muted("no limit")))
            continue
        shown_rule = rules[rule]
        text = str(shown_rule["text"])
        if rule == "require_approval":
            text = f"[$warning]{escape(text)}[/]"
        elif rule == "require_agent_pin":
            text = "[$warning]required[/]"
        elif rule == "approval_timeout_seconds":
            text = escape(f"after {text}")
        else:
            text = escape(text)
        origin = ", ".join(str(s) for s in shown_rule.get("from") or [])
        rows.append((label, f"{text} {muted('· ' + origin)}"))
    shown = job_to_dict(job)  # secrets masked
    channels = shown.get("delivery") or []
    rows.append(("Delivery", escape(", ".join(channels)) if channels else muted("none")))
    for label, key in (("On failure", "on_failure"), ("Dead letter", "on_dead_letter")):
        alerts: tuple[str, ...] | None = getattr(job, key)
        if alerts is not None:  # (the config's default is not known here: not shown)
            rows.append((label, escape(", ".join(alerts)) if alerts else muted("no alert")))
    for label, key in (
        ("Webhook", "webhook_url"),
        ("Slack", "slack_channel"),
    ):
        if shown.get(key):
            rows.append((label, escape(str(shown[key]))))
    if shown.get("webhook_headers"):
        headers = shown["webhook_headers"]
        rows.append(("Headers", escape(", ".join(f"{k}: {v}" for k, v in headers.items()))))
    if shown.get("email_recipients"):
        rows.append(("Email", escape(", ".join(shown["email_recipients"]))))
    if shown.get("delivery_config"):
        rows.append(("Channels", escape(_flat(shown["delivery_config"]))))
    if shown.get("agent_pin_jwt"):
        rows.append(("AgentPin JWT", escape(str(shown["agent_pin_jwt"]))))
    return kv_block(rows, width=12)


def _flat(value: Mapping[str, Any], prefix: str = "") -> str:
    parts = []
    for key, item in value.items():
        if isinstance(item, Mapping):
            parts.append(_flat(item, f"{prefix}{key}."))
        else:
            parts.append(f"{prefix}{key}={item}")
    return ", ".join(parts)
