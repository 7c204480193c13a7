"""One run in full: how it ended and why, what it said, where it was delivered, what the gate said.

Live while the run is open: its own ``RunChanged`` and ``IterationRecorded`` events refresh it, so
an operator can open a running heartbeat and watch it end here.
"""

from __future__ import annotations

__all__ = ["RunDetailScreen"]

from collections.abc import Mapping, Sequence
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from scheduler_core.clock import Clock
from scheduler_core.errors import JobNotFound, RunNotFound
from scheduler_core.events import Event, IterationRecorded, RunChanged
from scheduler_core.llm_cost import cost_text, run_tokens
from scheduler_core.model import HeartbeatIteration, JobDefinition, JobRun, RunStatus

from ..backend import Backend
from ..format import Tone, duration, trigger_label
from ..markup import escape
from ..palette import TONE_VARIABLES
from ..widgets.screen_header import ScreenHeader
from ..widgets.steady_footer import SteadyFooter
from . import job_actions
from ._markup import (
    ITERATION_OUTCOMES,
    elapsed,
    instant_pair,
    iteration_label,
    kv_block,
    muted,
    run_status_markup,
    toned,
)
from .base import ConsoleScreen, show

#: details keys drawn in their own sections (the rest are listed under "Details")
_KNOWN_DETAILS = frozenset(
    {
        "seq",
        "delivery",
        "alerts",
        "policy",
        "approval",
        "heartbeat",
        "requested_by",
        "stderr",
        "iteration",
        "tokens",  # (shown as the run's Cost)
        "cost_usd",
    }
)


class RunDetailScreen(ConsoleScreen[None]):
    """A run by id: status, timings, output (scrollable), error, delivery, policy, iterations."""

    DEFAULT_CSS = """
    RunDetailScreen #run-top {
        height: auto;
        border: round $border-blurred;
        border-title-color: $foreground;
        border-subtitle-color: $foreground-muted;
        padding: 0 1;
    }
    RunDetailScreen #run-top Static {
        width: 1fr;
        height: auto;
    }
    RunDetailScreen #run-body {
        height: 1fr;
    }
    RunDetailScreen #run-output {
        width: 1fr;
        border: round $border-blurred;
        border-title-color: $foreground;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    RunDetailScreen #run-output:focus {
        border: round $border;
    }
    RunDetailScreen #run-facts {
        width: 56;
        scrollbar-size-vertical: 1;
    }
    RunDetailScreen #run-facts > Static {
        height: auto;
        border: round $border-blurred;
        border-title-color: $foreground;
        padding: 0 1;
    }
    RunDetailScreen #run-facts > Static.-empty {
        display: none;
    }
    /* under 100 columns the output and the facts (the error first) share the width */
    RunDetailScreen.-narrow #run-facts {
        width: 1fr;
    }
    """

    BINDINGS = [Binding("c", "cancel_run", "Cancel run", id="run-cancel")]
    MUTATING_ACTIONS = frozenset({"cancel_run"})

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock,
        readonly: bool = False,
        run_id: str,
        refresh_interval: float = 1.0,
    ) -> None:
        super().__init__(backend, clock=clock, readonly=readonly, refresh_interval=refresh_interval)
        self.run_id = run_id
        self.run: JobRun | None = None
        self.job: JobDefinition | None = None
        self.iterations: list[HeartbeatIteration] = []
        self.missing = False
        self._binding_state: RunStatus | None = None  #: the run's status the footer shows

    @property
    def crumbs(self) -> Sequence[str]:
        name = self.run.job_name if self.run and self.run.job_name else "run"
        return ("symbi", name, "runs", self.run_id)

    def compose(self) -> ComposeResult:
        yield ScreenHeader()
        with Horizontal(id="run-top"):
            yield Static(id="run-when")
            yield Static(id="run-what")
        with Horizontal(id="run-body"):
            with VerticalScroll(id="run-output") as output:
                output.border_title = "Output"
                yield Static(id="run-output-text", markup=False)
            with VerticalScroll(id="run-facts"):
                yield Static(id="run-error", classes="-empty")
                yield Static(id="run-summary", classes="-empty")
                yield Static(id="run-policy", classes="-empty")
                yield Static(id="run-delivery", classes="-empty")
                yield Static(id="run-alerts", classes="-empty")
                yield Static(id="run-iterations", classes="-empty")
                yield Static(id="run-extra", classes="-empty")
        yield SteadyFooter(show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#run-output").focus()

    # --- data -----------------------------------------------------------------------------------

    def wants(self, event: Event) -> bool:
        if isinstance(event, RunChanged):
            return event.run.id == self.run_id
        if isinstance(event, IterationRecorded):
            return event.iteration.run_id == self.run_id
        return False

    async def fetch(self) -> None:
        try:
            self.run = await self.backend.get_run(self.run_id)
        except RunNotFound:
            self.run, self.missing = None, True
            return
        if self.job is None or self.job.id != self.run.job_id:
            try:
                self.job = await self.backend.get_job(self.run.job_id)
            except JobNotFound:
                self.job = None  # removed since; the run keeps its job's name
        if self.run.details.get("heartbeat") or (self.job and self.job.heartbeat_enabled):
            self.iterations = await self.backend.iterations(self.run_id)

    # --- rendering --------------------------------------------------------------------------------

    def render_data(self) -> None:
        top = self.query_one("#run-top")
        run = self.run
        status = run.status if run is not None else None
        if status is not self._binding_state:  # ``c`` applies until the run ends
            self._binding_state = status
            self.refresh_bindings()
        if run is None:
            top.border_title = f"Run {escape(self.run_id)}"
            message = "no such run (it was removed)" if self.missing else "loading…"
            show(self.query_one("#run-when", Static), muted(message))
            return
        now = self.clock.now()
        tz = self.job.timezone if self.job else "UTC"
        # the whole id: runs started together share its first characters
        top.border_title = (
            f"Run [b]{escape(run.id)}[/b] of [b]{escape(run.job_name or run.job_id)}[/b]"
        )
        took = duration(run.execution_time_ms)
        if run.status is RunStatus.RUNNING and run.started_at is not None:
            took = f"running for {elapsed(run.started_at, now)}"
        trigger = trigger_label(run.trigger, run.attempt)
        if run.attempt > 1:
            trigger += f" · attempt {run.attempt}"
        when = [
            ("Status", run_status_markup(run.status)),
            ("Trigger", escape(trigger)),
            ("Agent", escape(run.agent_id)),
            ("Duration", escape(took) or muted("—")),
        ]
        tokens = run_tokens(run.details)
        if tokens is not None:  # an LLM run: its tokens, summed over its calls, and its cost
            spent = escape(cost_text(run.details))
            when.append(("Cost", f"{spent} · {tokens[0]} in / {tokens[1]} out tokens"))
        show(self.query_one("#run-when", Static), kv_block(when, width=9))
        show(
            self.query_one("#run-what", Static),
            kv_block(
                [
                    ("Scheduled", escape(instant_pair(run.scheduled_for, tz))),
                    ("Started", escape(instant_pair(run.started_at, tz))),
                    ("Finished", escape(instant_pair(run.finished_at, tz))),
                    ("Input", escape(_one_line(run.input, 60)) if run.input else muted("—")),
                ],
                width=9,
            ),
        )
        self._render_output(run)
        self._section("#run-error", "Error", escape(run.error_message or ""), Tone.ERROR)
        self._section("#run-summary", "Summary", escape(run.summary or ""))
        self._section("#run-policy", "Policy decision", _policy_markup(run.details))
        self._section("#run-delivery", "Delivery", _delivery_markup(run.details.get("delivery")))
        self._section("#run-alerts", "Alerts", _delivery_markup(run.details.get("alerts")))
        self._section("#run-iterations", *self._iterations_markup(run))
        extra = {k: v for k, v in run.details.items() if k not in _KNOWN_DETAILS}
        self._section(
            "#run-extra",
            "Details",
            "\n".join(
                f"{escape(str(k))}: {escape(_one_line(str(v), 80))}" for k, v in extra.items()
            ),
        )

    # --- actions ----------------------------------------------------------------------------------

    def can(self, action: str) -> bool | None:
        if action == "cancel_run":
            return True if self.run is not None and not self.run.status.is_final else None
        return True

    def why_not(self, action: str) -> str:
        if action == "cancel_run" and self.run is not None:
            return f"this run has ended ({self.run.status.value}): nothing to cancel"
        return super().why_not(action)

    def action_cancel_run(self) -> None:
        run = self.run
        if run is not None and not run.status.is_final:
            self.run_action_worker(lambda: job_actions.cancel_run(self, run))

    def _render_output(self, run: JobRun) -> None:
        text = run.output or ""
        stderr = run.details.get("stderr")
        if stderr:
            text = f"{text}\n── stderr ──\n{stderr}" if text else f"── stderr ──\n{stderr}"
        if not text:
            if run.status is RunStatus.RUNNING:
                text = "(the output appears when the run ends)"
            elif run.status.is_final:
                text = "(no output)"
            else:
                text = f"(not started: {run.status.value})"
        show(self.query_one("#run-output-text", Static), text)
        lines = text.count("\n") + 1
        self.query_one("#run-output").border_title = f"Output · {lines} line{'s' * (lines != 1)}"

    def _section(self, selector: str, title: str, body: str, tone: Tone | None = None) -> None:
        widget = self.query_one(selector, Static)
        widget.set_class(not body, "-empty")
        widget.border_title = title
        if tone is not None and body:
            body = f"[${TONE_VARIABLES[tone]}]{body}[/]"
        show(widget, body)

    def _iterations_markup(self, run: JobRun) -> tuple[str, str]:
        if not self.iterations:
            return "Heartbeat", ""
        info = run.details.get("heartbeat") or {}
        limit = info.get("max_iterations") or (
            self.job.heartbeat.max_iterations if self.job and self.job.heartbeat else "?"
        )
        lines = []
        for it in self.iterations:
            _, tone = ITERATION_OUTCOMES.get(it.outcome, ("?", Tone.MUTED))
            said = it.action if it.action and it.action != "continue" else it.summary or ""
            lines.append(
                f"{it.index:>3} {toned(iteration_label(it.outcome), tone)} "
                f"{escape(_one_line(said or it.assessment or '', 34))}"
            )
        title = f"Heartbeat · iteration {len(self.iterations)} / {limit}"
        if info.get("stopped"):
            title += f" · stopped: {info['stopped']}"
        return title, "\n".join(lines)


def _one_line(text: str | None, width: int) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _policy_markup(details: Mapping[str, Any]) -> str:
    policy = details.get("policy") or {}
    approval = details.get("approval") or {}
    rows: list[tuple[str, str]] = []
    decision = policy.get("decision")
    if decision:
        tone = {"allow": Tone.SUCCESS, "approved": Tone.SUCCESS, "deny": Tone.ERROR}.get(
            decision, Tone.WARNING
        )
        rows.append(("Decision", toned(decision, tone)))
    if policy.get("reason"):
        rows.append(("Reason", escape(str(policy["reason"]))))
    approvers = policy.get("approvers") or approval.get("approvers")
    if approvers:
        rows.append(("Approvers", escape(", ".join(map(str, approvers)))))
    if approval:
        for label, key in (
            ("Requested", "requested_at"),
            ("Expires", "expires_at"),
            ("Approval", "decision"),
            ("By", "decided_by"),
            ("At", "decided_at"),
            ("Because", "reason"),
        ):
            value = approval.get(key)
            if value:
                rows.append((label, escape(_short_iso(str(value)))))
    if policy.get("by") and not approval.get("decided_by"):
        rows.append(("By", escape(str(policy["by"]))))
    return kv_block(rows, width=9) if rows else ""


def _short_iso(value: str) -> str:
    """``2026-03-02T08:55:00+00:00`` -> ``2026-03-02 08:55:00``: enough for a person."""
    if len(value) >= 19 and value[10] == "T":
        return value[:10] + " " + value[11:19]
    return value


def _delivery_markup(results: object) -> str:
    if not isinstance(results, list) or not results:
        return ""
    lines = []
    for item in results:
        if not isinstance(item, Mapping):
            continue
        ok = bool(item.get("ok"))
        attempts = int(item.get("attempts") or 0)
        event = f" ({item['event']})" if item.get("event") else ""  # an alert's on_failure...
        head = toned(
            f"{'✔' if ok else '✖'} {item.get('channel', '?')}{event}",
            Tone.SUCCESS if ok else Tone.ERROR,
        )
        took = duration(int(item.get("duration_ms") or 0))
        facts = f"{attempts} attempt{'s' * (attempts != 1)} · {took}"
        lines.append(f"{head} {muted(facts)}")
        if item.get("error"):
            lines.append(f"  {escape(str(item['error']))}")
        detail = item.get("detail") or {}
        if isinstance(detail, Mapping) and detail:
            lines.append("  " + muted(", ".join(f"{k}={v}" for k, v in detail.items())))
    return "\n".join(lines)
