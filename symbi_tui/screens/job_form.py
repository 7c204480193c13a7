"""Add or edit a job: a form that checks itself as you type, or load a DSL file instead.

The cron expression is read as you type: its English reading and the next five fire times (in the
job's time zone, DST included) or the error naming the bad field and value. Every other field is
checked by the same ``job_from_mapping`` the service uses, and its error is shown under the field.
Saving calls ``backend.add_job`` (or ``update_job``); the screen dismisses with the saved job.
"""

from __future__ import annotations

__all__ = ["FIELDS", "FormField", "JobFormScreen", "form_key"]

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Input, Label, Static

from scheduler_core.clock import Clock, parse_instant
from scheduler_core.cron import CronSchedule
from scheduler_core.errors import ConflictError, JobNotFound, SchedulerError, ValidationError
from scheduler_core.jobspec import job_from_mapping
from scheduler_core.model import JobDefinition, PolicySpec, SessionMode

from ..backend import Backend
from ..format import countdown
from ..legibility import error_style
from ..markup import escape
from ..widgets.screen_header import ScreenHeader
from ..widgets.steady_footer import SteadyFooter
from ._markup import muted
from .base import ConsoleScreen, show
from .confirm import ConfirmScreen
from .prompt import PromptScreen

_PREVIEW = 5


@dataclass(frozen=True, slots=True)
class FormField:
    key: str  #: the mapping key sent to the backend (the guide's spelling where it has one)
    label: str
    placeholder: str = ""
    #: text | list | int | check | alert (a list; empty: the config's default, "none": [])
    kind: str = "text"


FIELDS: tuple[FormField, ...] = (
    FormField("name", "Name", "e.g. daily-report"),
    FormField("agent", "Agent", "e.g. reporter-agent"),
    FormField("cron", "Cron", "e.g. 0 9 * * *  (or leave empty and give At)"),
    FormField("at", "At", "e.g. 2026-02-15T14:30:00Z  (a one-shot job)"),
    FormField("after", "After", "a job's name: run when its run succeeds"),
    FormField("timezone", "Timezone", "UTC, or an IANA name such as Europe/London"),
    FormField("input", "Input", "text the agent receives on each run"),
    FormField("session_mode", "Session mode", "ephemeral_with_summary (default)"),
    FormField("delivery", "Delivery", "e.g. stdout, log_file, webhook, slack, email", "list"),
    FormField("webhook_url", "Webhook URL", "e.g. https://ops.example.com/hooks/x"),
    FormField("slack_channel", "Slack channel", "e.g. #ops-alerts"),
    FormField("email_recipients", "Email to", "e.g. ops@example.com, dev@example.com", "list"),
    FormField(
        "on_failure", "On failure", "alert: config default; e.g. slack, email; none", "alert"
    ),
    FormField(
        "on_dead_letter", "On dead letter", "alert: config default; e.g. email; none", "alert"
    ),
    FormField("max_retries", "Max retries", "default from the config", "int"),
    FormField("max_concurrent", "Max concurrent", "1 (default)", "int"),
    FormField("jitter", "Jitter", "default from the config, e.g. 30s"),
    FormField("max_runtime", "Max runtime", "no limit, e.g. 30m"),
    FormField("require_approval", "Approval", "ask an approver before each run", "check"),
    FormField("approvers", "Approvers", "e.g. alice, ops-lead", "list"),
)
_BY_KEY = {f.key: f for f in FIELDS}
#: exactly one is given; an edit sends the one filled in, which replaces the others
_SCHEDULE_KEYS = ("cron", "at", "after")
_POLICY_KEYS = ("max_runtime", "require_approval", "approvers")
#: error field spellings (aliases, nested policy keys) -> the form field that shows them
_ERROR_KEYS = {
    "agent_id": "agent",
    "cron_expr": "cron",
    "jitter_seconds": "jitter",
    "max_runtime_seconds": "max_runtime",
}


def form_key(field: str | None) -> str | None:
    """The form field an error's ``field`` (``policy.approvers[0]``, ``cron``) belongs to."""
    if not field:
        return None
    head = field.split("[", 1)[0]
    parts = head.split(".")
    if parts[0] == "policy" and len(parts) > 1:
        key = _ERROR_KEYS.get(parts[1], parts[1])
        return key if key in _POLICY_KEYS else "max_runtime"
    key = _ERROR_KEYS.get(parts[0], parts[0])
    return key if key in _BY_KEY else None


def _split(text: str) -> list[str]:
    return [item for item in (part.strip() for part in text.replace("\n", ",").split(",")) if item]


def _seconds(value: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{int(value // size)}{unit}"
    return f"{value:g}s"


def _policy_rest(policy: PolicySpec) -> dict[str, Any]:
    """The policy settings the form does not edit, kept as they are on save."""
    rest: dict[str, Any] = {}
    if policy.approval_timeout_seconds is not None:
        rest["approval_timeout"] = policy.approval_timeout_seconds
    if policy.require_capabilities:
        rest["require_capabilities"] = list(policy.require_capabilities)
    if policy.allowed_hours is not None:
        hours = policy.allowed_hours
        rest["allowed_hours"] = {"start": hours.start, "end": hours.end}
        if hours.timezone is not None:
            rest["allowed_hours"]["timezone"] = hours.timezone
    if policy.allowed_environments:
        rest["allowed_environments"] = list(policy.allowed_environments)
    if policy.require_agent_pin:
        rest["require_agent_pin"] = True
    if policy.max_cost_per_day is not None:
        rest["max_cost_per_day"] = policy.max_cost_per_day
    return rest


def job_values(job: JobDefinition) -> dict[str, str | bool]:
    """What the form shows for an existing job."""
    return {
        "name": job.name,
        "agent": job.agent,
        "cron": job.cron or "",
        "at": job.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if job.at else "",
        "after": job.after or "",
        "timezone": job.timezone,
        "input": job.input or "",
        "session_mode": job.session_mode.value,
        "delivery": ", ".join(job.delivery),
        "webhook_url": job.webhook_url or "",
        "slack_channel": job.slack_channel or "",
        "email_recipients": ", ".join(job.email_recipients),
        "on_failure": _alert_text(job.on_failure),
        "on_dead_letter": _alert_text(job.on_dead_letter),
        "max_retries": "" if job.max_retries is None else str(job.max_retries),
        "max_concurrent": str(job.max_concurrent),
        "jitter": "" if job.jitter_seconds is None else _seconds(job.jitter_seconds),
        "max_runtime": _seconds(job.policy.max_runtime_seconds)
        if job.policy.max_runtime_seconds
        else "",
        "require_approval": job.policy.require_approval,
        "approvers": ", ".join(job.policy.approvers),
    }


def _alert_text(channels: tuple[str, ...] | None) -> str:
    if channels is None:
        return ""
    return ", ".join(channels) or "none"


def build_mapping(values: Mapping[str, str | bool], base: JobDefinition | None) -> dict[str, Any]:
    """The backend's job mapping from the form's values.

    A new job gets only what was filled in; an edit sends every field the form shows (an emptied
    field goes back to its default) and keeps what the form does not show.
    """
    editing = base is not None
    out: dict[str, Any] = {}
    policy: dict[str, Any] = _policy_rest(base.policy) if base is not None else {}
    for spec in FIELDS:
        raw = values.get(spec.key, "")
        if spec.kind == "check":
            value: Any = bool(raw)
            if spec.key == "require_approval" and (value or editing):
                policy["require_approval"] = value
            continue
        text = str(raw).strip()
        if spec.kind == "alert":
            if text or editing:
                out[spec.key] = None if not text else [] if text == "none" else _split(text)
            continue
        if spec.kind == "list":
            value = _split(text)
            if not value and not editing:
                continue
        elif spec.kind == "int":
            if not text:
                if not editing:
                    continue
                value = None if spec.key == "max_retries" else 1
            else:
                try:
                    value = int(text)
                except ValueError:
                    value = text  # reported by the validation, in its words
        else:
            if not text:
                if not editing or spec.key in _SCHEDULE_KEYS:
                    continue
                value = {
                    "timezone": "UTC",
                    "session_mode": SessionMode.EPHEMERAL_WITH_SUMMARY.value,
                }.get(spec.key)
            else:
                value = text
        if spec.key in _POLICY_KEYS:
            if value is not None and value != []:
                policy[spec.key] = value
            continue
        out[spec.key] = value
    if policy or editing:
        out["policy"] = policy
    return out


class JobFormScreen(ConsoleScreen[JobDefinition | None]):
    """A new job, or ``job`` (id or name) to edit; dismisses with the saved job or None."""

    DEFAULT_CSS = """
    JobFormScreen #form-body {
        height: 1fr;
    }
    JobFormScreen #form-fields {
        width: 1fr;
        border: round $border-blurred;
        border-title-color: $foreground;
        border-subtitle-color: $foreground-muted;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    JobFormScreen .form-row {
        height: 1;
    }
    JobFormScreen .form-label {
        width: 16;
        height: 1;
        color: $foreground-muted;
    }
    JobFormScreen .form-row.-invalid .form-label {
        color: $error;
    }
    JobFormScreen .form-row Input {
        width: 1fr;
        height: 1;
        border: none;
        padding: 0 1;
        background: $boost;
    }
    JobFormScreen .form-row Input:focus {
        background: $primary-background;
    }
    JobFormScreen .form-row Checkbox {
        width: 1fr;
        height: 1;
        border: none;
        padding: 0;
        background: transparent;
    }
    JobFormScreen .form-error {
        height: auto;
        margin-left: 16;
        color: $error;
        display: none;
    }
    JobFormScreen .form-error.-shown {
        display: block;
    }
    JobFormScreen #form-side {
        width: 52;
    }
    JobFormScreen #form-preview {
        height: auto;
        min-height: 10;
        border: round $border-blurred;
        border-title-color: $foreground;
        padding: 0 1;
    }
    JobFormScreen #form-status {
        height: auto;
        border: round $border-blurred;
        border-title-color: $foreground;
        padding: 0 1;
    }
    JobFormScreen #form-buttons {
        height: 3;
        align-horizontal: right;
    }
    JobFormScreen #form-buttons Button {
        margin-left: 2;
    }
    /* under 100 columns the schedule and the check go under the fields, which keep the width
       (and scroll: Save is at their end, ctrl+s from anywhere) */
    JobFormScreen.-narrow #form-body {
        layout: vertical;
    }
    JobFormScreen.-narrow #form-fields {
        height: 1fr;
    }
    JobFormScreen.-narrow #form-side {
        width: 100%;
        height: auto;
    }
    JobFormScreen.-narrow #form-preview {
        min-height: 3;
        max-height: 6;
    }
    """

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="form-save", priority=True),
        Binding("ctrl+o", "load_file", "Load DSL file", id="form-load-file"),
        # Tab and shift+Tab move between fields as they arrive: left to the app's own bindings,
        # they would bubble up from the field through each container, while the keys typed
        # after them in the same burst (a paste, a fast typist) went on into the field they left
        Binding("tab", "app.focus_next", "Next field", id="form-next", show=False, priority=True),
        Binding(
            "shift+tab",
            "app.focus_previous",
            "Previous field",
            id="form-previous",
            show=False,
            priority=True,
        ),
    ]
    MUTATING_ACTIONS = frozenset({"save", "load_file"})

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock,
        readonly: bool = False,
        job: str | None = None,
        values: Mapping[str, str | bool] | None = None,
        refresh_interval: float = 1.0,
    ) -> None:
        """``job`` edits that job; ``values`` pre-fills a new one (e.g. a copy)."""
        super().__init__(backend, clock=clock, readonly=readonly, refresh_interval=refresh_interval)
        self.job_ref = job
        self.base: JobDefinition | None = None
        self._initial = dict(values or {})
        self.errors: dict[str, str] = {}  #: form key -> what is wrong with it
        self.general_error = ""
        self.load_error = ""  #: the job to edit could not be read
        self._touched: set[str] = set()
        self._show_all = False  #: after a save attempt every error is shown, touched or not
        self._filled = job is None
        self._saving = False
        self._pristine: dict[str, str | bool] | None = None  #: the values as first shown

    @property
    def editing(self) -> bool:
        return self.job_ref is not None

    @property
    def crumbs(self) -> Sequence[str]:
        if self.editing:
            return ("symbi", self.base.name if self.base else str(self.job_ref), "edit")
        return ("symbi", "jobs", "new job")

    # --- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield ScreenHeader()
        with Horizontal(id="form-body"):
            with VerticalScroll(id="form-fields"):
                for spec in FIELDS:
                    with Horizontal(classes="form-row", id=f"row-{spec.key}"):
                        yield Label(spec.label, classes="form-label")
                        if spec.kind == "check":
                            yield Checkbox(spec.placeholder, id=f"field-{spec.key}")
                        else:
                            suggester = None
                            if spec.key == "session_mode":
                                suggester = SuggestFromList([m.value for m in SessionMode])
                            yield Input(
                                placeholder=spec.placeholder,
                                id=f"field-{spec.key}",
                                suggester=suggester,
                                select_on_focus=False,
                            )
                    yield Static(id=f"error-{spec.key}", classes="form-error", markup=False)
                with Horizontal(id="form-buttons"):
                    yield Button("Cancel", id="form-cancel")
                    yield Button("Save", id="form-save", variant="primary")
            with Vertical(id="form-side"):
                yield Static(id="form-preview")
                yield Static(id="form-status")
        yield SteadyFooter(show_command_palette=False)

    def on_mount(self) -> None:
        super().on_mount()
        fields = self.query_one("#form-fields")
        fields.border_title = "Edit job" if self.editing else "New job"
        fields.border_subtitle = "ctrl+s save · ctrl+o load a DSL file · esc cancel"
        self.query_one("#form-preview").border_title = "Schedule"
        self.query_one("#form-status").border_title = "Check"
        if not self.editing:
            self._fill(self._initial)
            self._pristine = self.values
        # values handed in are the operator's (a copy, a retry): check them at once
        self._touched.update(key for key in self._initial if key in _BY_KEY)
        self.query_one("#field-name", Input).focus()
        self._validate()

    # --- data -----------------------------------------------------------------------------------

    async def fetch(self) -> None:
        if self.job_ref is not None and self.base is None:
            try:
                self.base = await self.backend.get_job(self.job_ref)
            except JobNotFound as exc:
                self.load_error = exc.message
                self._render_errors()

    def render_data(self) -> None:
        if self.base is not None and not self._filled:
            self._filled = True
            self._fill({**job_values(self.base), **self._initial})
            self._pristine = self.values
            self._validate()
        else:
            self._render_preview()  # the next fire times count down on the clock

    def _fill(self, values: Mapping[str, str | bool]) -> None:
        for key, value in values.items():
            spec = _BY_KEY.get(key)
            if spec is None:
                continue
            if spec.kind == "check":
                self.query_one(f"#field-{key}", Checkbox).value = bool(value)
            else:
                self.query_one(f"#field-{key}", Input).value = str(value)

    @property
    def unsaved(self) -> str:
        """What leaving now would throw away ("" when the form is as it was shown): the app
        asks before quitting over it, Esc before closing it."""
        if self._pristine is None or self.values == self._pristine:
            return ""
        if self.editing:
            name = self.base.name if self.base else str(self.job_ref)
            return f"the unsaved changes to {name}"
        return "the new job's unsaved input"

    @property
    def values(self) -> dict[str, str | bool]:
        out: dict[str, str | bool] = {}
        for spec in FIELDS:
            if spec.kind == "check":
                out[spec.key] = self.query_one(f"#field-{spec.key}", Checkbox).value
            else:
                out[spec.key] = self.query_one(f"#field-{spec.key}", Input).value
        return out

    # --- validation -----------------------------------------------------------------------------

    @on(Input.Changed)
    @on(Checkbox.Changed)
    def _changed(self, event: Input.Changed | Checkbox.Changed) -> None:
        widget_id = event.control.id or ""
        if widget_id.startswith("field-") and self._filled and event.control.has_focus:
            self._touched.add(widget_id.removeprefix("field-"))
        self._validate()

    def _validate(self) -> dict[str, Any] | None:
        """Check the form as the service will; show errors; return the mapping when valid."""
        values = self.values
        mapping = build_mapping(values, self.base)
        errors: dict[str, str] = {}
        general = ""
        if not any(str(values[key]).strip() for key in _SCHEDULE_KEYS):
            errors["cron"] = "give a cron expression (5 fields), an at instant or an after job"
        try:
            job_from_mapping(mapping, base=self.base)
        except ValidationError as exc:
            for error in exc.errors:
                key = form_key(error.field)
                if key is None:
                    general = general or str(error)
                else:
                    errors.setdefault(key, error.reason)
        at_text = str(values["at"]).strip()
        if at_text and "at" not in errors:
            try:
                at = parse_instant(at_text)
            except ValueError:
                pass
            else:
                unchanged = self.base is not None and self.base.at == at
                if at <= self.clock.now() and not unchanged:
                    errors["at"] = f"{at_text} is in the past"
        self.errors = errors
        self.general_error = general
        self._render_errors()
        self._render_preview()
        return None if errors or general else mapping

    def _render_errors(self) -> None:
        for spec in FIELDS:
            message = self.errors.get(spec.key, "")
            shown = bool(message) and (self._show_all or spec.key in self._touched)
            error = self.query_one(f"#error-{spec.key}", Static)
            show(error, message if shown else "")
            error.set_class(shown, "-shown")
            self.query_one(f"#row-{spec.key}").set_class(shown, "-invalid")
        status = self.query_one("#form-status", Static)
        lines = []
        if self.readonly:
            lines.append("[$warning]read-only: saving is switched off[/]")
        for problem in (self.load_error, self.general_error):
            if problem:
                lines.append(f"[{error_style()}]{escape(problem)}[/]")
        if self.errors:
            names = ", ".join(spec.label.lower() for spec in FIELDS if spec.key in self.errors)
            count = len(self.errors)
            lines.append(
                f"[{error_style()}]✖ {count} problem{'s' * (count != 1)}[/]: {escape(names)}"
            )
        elif not self.general_error:
            lines.append("[$success]✔ ready to save[/] " + muted("(ctrl+s)"))
        show(status, "\n".join(lines))

    def _render_preview(self) -> None:
        preview = self.query_one("#form-preview", Static)
        values = self.values
        cron = str(values["cron"]).strip()
        at_text = str(values["at"]).strip()
        tz = str(values["timezone"]).strip() or "UTC"
        now = self.clock.now()
        if cron:
            try:
                schedule = CronSchedule(cron, tz)
            except ValidationError as exc:
                if exc.field == "timezone":
                    schedule = None
                    reason = exc.reason
                else:
                    show(preview, f"[{error_style()}]✖ {escape(exc.message)}[/]")
                    return
            else:
                reason = ""
            if schedule is None:
                show(preview, f"[{error_style()}]✖ timezone: {escape(reason)}[/]")
                return
            reading = escape(schedule.describe())
            if self.narrow:  # (four lines: the reading beside the cron, the first runs)
                lines = [f"[b]{escape(cron)}[/b]  {reading}"]
            else:
                lines = [f"[b]{escape(cron)}[/b]", reading, ""]
            lines.append(f"[b]Next {_PREVIEW} runs[/b] " + muted(f"({tz})"))
            try:
                fires = schedule.next_n(now, _PREVIEW)
            except SchedulerError as exc:
                lines.append(f"[{error_style()}]{escape(exc.message)}[/]")
            else:
                zone = ZoneInfo(schedule.timezone)
                for fire in fires:
                    local = fire.astimezone(zone)
                    text = f"{fire:%a %Y-%m-%d %H:%M} UTC"
                    if schedule.timezone != "UTC":
                        text += f" · {local:%H:%M} {local.tzname()}"
                    lines.append(escape(text) + "  " + muted(countdown(fire, now)))
            show(preview, "\n".join(lines))
            return
        if at_text:
            try:
                at = parse_instant(at_text)
            except ValueError:
                show(preview, f"[{error_style()}]✖ {escape(at_text)} is not an ISO 8601 instant[/]")
                return
            show(
                preview,
                f"[b]once[/b] at {at.astimezone(UTC):%a %Y-%m-%d %H:%M:%S} UTC\n"
                + muted(countdown(at, now)),
            )
            return
        after = str(values["after"]).strip()
        if after:
            show(
                preview,
                f"[b]after[/b] {escape(after)}\n"
                + muted(f"runs each time {escape(after)} succeeds, its output as input"),
            )
            return
        show(preview, muted("type a cron expression to see its next runs"))

    # --- actions ----------------------------------------------------------------------------------

    def on_resize(self) -> None:
        self._render_preview()  # narrow or wide

    def can(self, action: str) -> bool | None:
        if action == "save" and self.editing and self.base is None:
            return None
        return True

    @on(Button.Pressed, "#form-save")
    def _save_pressed(self) -> None:
        if self.check_action("save", ()):
            self.action_save()

    @on(Button.Pressed, "#form-cancel")
    def _cancel_pressed(self) -> None:
        self.action_back()

    def action_back(self) -> None:
        """Esc (or Cancel): close the form; with input typed into it, once confirmed."""
        if len(self.app.screen_stack) <= 1 or self.app.screen is not self:
            return
        if not self.unsaved:
            self.dismiss(None)
            return
        self.run_action_worker(self._discard_if_confirmed)

    async def _discard_if_confirmed(self) -> None:
        unsaved = self.unsaved
        confirmed = await self.app.push_screen_wait(
            ConfirmScreen(
                "Discard?",
                f"Closing the form throws away {unsaved}.",
                confirm_label="Discard",
            )
        )
        if confirmed and self.is_attached:
            self.dismiss(None)

    @work(group="actions", exclusive=True, exit_on_error=False)
    async def action_save(self) -> None:
        if self._saving:
            return
        self._show_all = True
        mapping = self._validate()
        if mapping is None:
            count = len(self.errors) + bool(self.general_error)
            self.notify(
                f"{count} problem{'s' * (count != 1)}: see the fields marked in red",
                title="Not saved",
                severity="error",
            )
            self._focus_first_error()
            return
        self._saving = True
        try:
            if self.base is not None:
                base = self.base
                saved = await self._call(lambda: self.backend.update_job(base.id, mapping))
            else:
                saved = await self._call(lambda: self.backend.add_job(mapping))
        finally:
            self._saving = False
        if saved is None:
            return
        verb = "updated" if self.editing else "created"
        when = (
            f"after {saved.after}"
            if saved.after
            else countdown(saved.next_run_at, self.clock.now())
        )
        self.notify(f"{saved.name} {verb} · next run {when}", title=f"Job {verb}")
        self.dismiss(saved)

    async def _call(self, call: Callable[[], Awaitable[JobDefinition]]) -> JobDefinition | None:
        try:
            return await call()
        except ValidationError as exc:
            for error in exc.errors:
                key = form_key(error.field)
                if key is not None:
                    self.errors[key] = error.reason
                else:
                    self.general_error = str(error)
            self._render_errors()
            self._focus_first_error()
            self.notify(exc.message, title="Not saved", severity="error")
        except ConflictError as exc:
            self.errors["name"] = exc.message
            self._render_errors()
            self.notify(exc.message, title="Not saved", severity="error")
        except SchedulerError as exc:
            self.general_error = exc.message
            self._render_errors()
            self.notify(exc.message, title="Not saved", severity="error")
        return None

    def _focus_first_error(self) -> None:
        for spec in FIELDS:
            if spec.key in self.errors:
                self.query_one(f"#field-{spec.key}").focus()
                return

    @work(group="actions", exit_on_error=False)
    async def action_load_file(self) -> None:
        path = await self.app.push_screen_wait(
            PromptScreen(
                "Load a DSL file",
                "Create or update the schedules of a .symbi file (keyed by name).",
                confirm_label="Load",
                placeholder="path/to/agent.symbi",
                required=True,
            )
        )
        if not path:
            return
        result = await self.act(
            "load " + path,
            lambda: self.backend.apply_dsl([path]),
            lambda r: _applied(r),
        )
        if result is not None:
            self.dismiss(None)


def _applied(result: Any) -> str:
    parts = []
    for label in ("created", "updated", "unchanged"):
        names = list(getattr(result, label, []) or [])
        if names:
            parts.append(f"{label} {', '.join(names)}")
    return "; ".join(parts) or "no schedules in the file"
