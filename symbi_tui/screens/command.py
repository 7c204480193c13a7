"""``:`` command mode (k9s style): a one-line prompt that switches screens.

Tab completes the command and then the job it names (the shown suggestion, or the completion
worked out at once when keys come faster than suggestions); ↑ and ↓ walk the commands entered
this session. Job names come from the backend (any page, any filter), not from the rows shown.
"""

from __future__ import annotations

__all__ = [
    "COMMANDS",
    "JOB_COMMANDS",
    "PALETTE_TITLES",
    "CommandScreen",
    "complete",
    "parse_command",
]

from collections.abc import Awaitable, Callable, MutableSequence, Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Label

#: command -> (argument, what it shows); the first word may be abbreviated to a unique prefix
COMMANDS: dict[str, tuple[str, str]] = {
    "jobs": ("", "the jobs pane (the main screen)"),
    "watch": ("NAME", "one job, live"),
    "runs": ("NAME", "a job's run history"),
    "dlq": ("", "the dead-letter queue"),
    "hb": ("[NAME]", "heartbeat iterations"),
    "approvals": ("", "runs awaiting approval"),
    "audit": ("[NAME]", "the audit log"),
    "timeline": ("", "the next 24 hours of fires"),
    "add": ("", "a new job"),
    "edit": ("NAME", "edit a job"),
    "help": ("", "the keys of this screen"),
    "q": ("", "quit"),
}
_ALIASES = {"quit": "q", "deadletter": "dlq", "heartbeat": "hb", "history": "runs"}
#: how the command palette (ctrl+p) lists the commands (those naming a job: the selected one)
PALETTE_TITLES: dict[str, str] = {
    "jobs": "Jobs pane",
    "watch": "Watch the selected job live",
    "runs": "Run history of the selected job",
    "dlq": "Dead-letter queue",
    "hb": "Heartbeat iterations of the selected job",
    "approvals": "Runs awaiting approval",
    "audit": "Audit log of the selected job",
    "timeline": "Timeline of the next 24 hours",
    "add": "Add a job",
    "edit": "Edit the selected job",
}
#: commands whose argument is a job (required for watch, runs and edit)
JOB_COMMANDS = ("watch", "runs", "hb", "audit", "edit")

#: job names starting with a prefix (from the backend: every job, not only the rows shown)
FindJobs = Callable[[str], Awaitable[Sequence[str]]]


def parse_command(text: str) -> tuple[str, str]:
    """``(command, argument)`` from what was typed; ValueError names an unknown command."""
    word, _, rest = text.strip().lstrip(":").partition(" ")
    word = word.lower()
    word = _ALIASES.get(word, word)
    if word not in COMMANDS:
        matches = [c for c in COMMANDS if c.startswith(word)] if word else []
        if len(matches) != 1:
            known = ", ".join(f":{c}" for c in COMMANDS)
            raise ValueError(f"unknown command {text.strip()!r}; try one of {known}")
        word = matches[0]
    return word, rest.strip()


async def complete(text: str, find_jobs: FindJobs, *, selected: str | None = None) -> str | None:
    """What Tab makes of ``text``: the first command it begins (with a space when the command
    takes an argument), or after a job command, the first job name the rest begins (``selected``
    when nothing is typed yet); None when nothing fits."""
    word, space, rest = text.lstrip(":").partition(" ")
    lead = text[: len(text) - len(text.lstrip(":"))]
    if not space:
        if not word:
            return None
        lowered = word.lower()
        for command, (argument, _) in COMMANDS.items():
            if command.startswith(lowered):
                wants = argument and not argument.startswith("[")
                return f"{lead}{command}{' ' if wants else ''}"
        alias = next((a for a in _ALIASES if a.startswith(lowered)), None)
        return f"{lead}{alias}" if alias else None
    try:
        command, _ = parse_command(word)
    except ValueError:
        return None
    if command not in JOB_COMMANDS:
        return None
    typed = rest.lstrip()
    if not typed and selected:
        return f"{text}{selected}"
    names = await find_jobs(typed)
    match = next((n for n in names if n.startswith(typed)), None)
    if match is None:
        match = next((n for n in names if n.lower().startswith(typed.lower())), None)
    if match is None or match == typed:
        return None
    return f"{text[: len(text) - len(typed)]}{match}"


class _Completion(Suggester):
    """The grey suggestion as you type: what Tab would complete to."""

    def __init__(self, find_jobs: FindJobs, selected: str | None) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self._find_jobs = find_jobs
        self._selected = selected

    async def get_suggestion(self, value: str) -> str | None:
        suggestion = await complete(value, self._find_jobs, selected=self._selected)
        # (the input shows only a suggestion that extends what was typed, as typed)
        return suggestion if suggestion and suggestion.startswith(value) else None


_HINT = "  ".join(f":{c}" + (f" {arg}" if arg else "") for c, (arg, _) in COMMANDS.items())
_HINT += "   (tab completes, ↑ ↓ history)"


class CommandScreen(ModalScreen[str | None]):
    """The ``:`` prompt; dismisses with the typed command, or None on Escape."""

    AUTO_FOCUS = "#command-input"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="command.cancel"),
        # (a priority binding: the app's tab would move the focus out of the prompt)
        Binding("tab", "complete", "Complete", id="command.complete", priority=True),
        Binding("up", "history(-1)", "Previous command", id="command.history-back"),
        Binding("down", "history(1)", "Next command", id="command.history-forward"),
    ]
    DEFAULT_CSS = """
    CommandScreen {
        align: center top;
        background: $background 40%;
    }
    CommandScreen #command-box {
        width: 80%;
        height: auto;
        margin-top: 1;
        border: round $accent;
        background: $surface;
        padding: 0 1;
    }
    CommandScreen #command-input {
        border: none;
        height: 1;
        padding: 0;
    }
    CommandScreen #command-hint {
        color: $foreground-muted;
        height: auto;
    }
    """

    def __init__(
        self,
        find_jobs: FindJobs,
        *,
        history: MutableSequence[str] | None = None,
        selected: str | None = None,
    ) -> None:
        """``history``: the commands entered this session, oldest first (this screen adds the
        one entered); ``selected``: the job Tab offers after a job command."""
        super().__init__()
        self._find_jobs = find_jobs
        self._selected = selected
        self.history: MutableSequence[str] = history if history is not None else []
        self._place = len(self.history)  #: where ↑/↓ are in the history (its end: the draft)
        self._draft = ""

    def compose(self) -> ComposeResult:
        from textual.containers import Vertical

        with Vertical(id="command-box") as box:
            box.border_title = "command"
            yield Input(
                placeholder="jobs, watch NAME, runs NAME, dlq, hb, approvals, audit, timeline, q",
                suggester=_Completion(self._find_jobs, self._selected),
                id="command-input",
            )
            yield Label(_HINT, id="command-hint", markup=False)

    @on(Input.Changed, "#command-input")
    def _typed(self) -> None:
        show_hint = self.query_one("#command-hint", Label)
        if show_hint.content != _HINT:  # (a word about the last key is over)
            show_hint.update(_HINT)

    @on(Input.Submitted, "#command-input")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self.dismiss(text or None)

    async def action_complete(self) -> None:
        """Tab: take the completion (the suggestion shown, or the one it would be)."""
        prompt = self.query_one("#command-input", Input)
        done = await complete(prompt.value, self._find_jobs, selected=self._selected)
        hint = self.query_one("#command-hint", Label)
        if done is None:
            hint.update(f"nothing to complete: no command or job begins {prompt.value!r}")
            return
        prompt.value = done
        prompt.cursor_position = len(done)

    def action_history(self, step: int) -> None:
        """↑ an older command entered this session, ↓ a newer one (past the newest: what was
        being typed)."""
        prompt = self.query_one("#command-input", Input)
        place = self._place + step
        if place < 0 or place > len(self.history):
            which = "first" if step < 0 else "last"
            self.query_one("#command-hint", Label).update(
                f"no {'older' if step < 0 else 'newer'} command: this is the {which}"
                if self.history
                else "no command entered yet this session"
            )
            return
        if self._place == len(self.history):
            self._draft = prompt.value
        self._place = place
        prompt.value = self.history[place] if place < len(self.history) else self._draft
        prompt.cursor_position = len(prompt.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
