"""The symbi operations console: a Textual app over a :class:`~symbi_tui.backend.Backend`.

The app never builds a scheduler itself: whoever starts it (the ``symbi-tui`` entry point, a test,
the screenshot script) hands it a backend and the clock that backend runs on, so tests and
snapshots run the real screens on a fake clock and a real SQLite file.
"""

from __future__ import annotations

from . import _console_env  # noqa: F401  (before Textual is imported)

__all__ = ["SymbiApp"]

import asyncio
import os
import select
import signal
import sys
from collections.abc import Iterable, Mapping
from functools import partial
from types import FrameType
from typing import Any

from textual import events, work
from textual.app import SystemCommand
from textual.binding import ActiveBinding, Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen

from scheduler_core.clock import Clock
from scheduler_core.errors import JobNotFound, SchedulerError
from scheduler_core.textsafe import visible

from .backend import Backend
from .idle_gc import IdleCollector
from .legibility import LegibleColours
from .screens.base import ConsoleScreen, OpenView
from .screens.confirm import QuitScreen
from .screens.help import HelpScreen, help_rows
from .screens.main import MainScreen
from .screens.views import make_view


class SymbiApp(LegibleColours):
    """Jobs, runs and scheduler health, live, for operators at a terminal."""

    CSS_PATH = "app.tcss"
    TITLE = "symbi"
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="help", key_display="?"),
        Binding("colon", "command", "Command", id="command", key_display=":", show=False),
        Binding("q", "quit", "Quit", id="quit"),
        # (Textual's own ctrl+c only says to press ctrl+q; a terminal user expects it to quit)
        Binding("ctrl+c", "quit", "Quit", id="quit-ctrl-c", show=False),
        # (Textual adds this one without an id, which [tui.keymap] could not name)
        Binding(
            "ctrl+p",
            "command_palette",
            "Command palette: every action, searched by name",
            id="command-palette",
            show=False,
            priority=True,
        ),
    ]

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock,
        readonly: bool = False,
        refresh_interval: float = 1.0,
        keymap: Mapping[str, str] | None = None,
        theme: str | None = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.clock = clock
        self.readonly = readonly
        self.refresh_interval = refresh_interval
        self._theme_name = theme
        self.idle_gc = IdleCollector(busy=self._answering)
        self.command_history: list[str] = []  #: the ``:`` commands entered this session
        if keymap:
            self.set_keymap(dict(keymap))

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Textual's notification, with control characters in the message and title (an
        agent's error, a job's name) shown as escapes: a toast never drives the terminal."""
        super().notify(
            visible(message),
            title=visible(title),
            severity=severity,
            timeout=timeout,
            markup=markup,
        )

    def on_mount(self) -> None:
        self._watch_the_terminal()
        self.sub_title = self.backend.mode_label
        self.idle_gc.install()
        self.set_interval(0.2, self.idle_gc.tick, name="idle-gc")
        if self._theme_name:
            if self._theme_name in self.available_themes:
                self.theme = self._theme_name
            else:  # a typo in the config should not keep an operator out of the console
                choices = ", ".join(sorted(self.available_themes))
                self.notify(
                    f"unknown theme {self._theme_name!r}; choose one of: {choices}",
                    title="[tui] theme",
                    severity="warning",
                )
        self.push_screen(
            MainScreen(
                self.backend,
                clock=self.clock,
                readonly=self.readonly,
                refresh_interval=self.refresh_interval,
            )
        )

    def on_unmount(self) -> None:
        self.idle_gc.uninstall()
        loop = asyncio.get_running_loop()
        for signum in self._signals:
            loop.remove_signal_handler(signum)

    # --- losing the terminal ----------------------------------------------------------------------

    _signals: tuple[signal.Signals, ...] = ()
    _tty: select.poll

    def _watch_the_terminal(self) -> None:
        """End the console cleanly (``exit``: whoever started it stops its engine) when its
        terminal goes away: SIGHUP (a dropped SSH connection, a closed tmux pane), SIGTERM, or
        a hung-up terminal while SIGHUP is ignored (``nohup``, ``trap "" HUP``), where Textual's
        input thread would otherwise read end-of-file in a loop, at full speed, forever."""
        if self.is_headless:
            return
        loop = asyncio.get_running_loop()
        signals = [signal.SIGTERM]
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            signals.append(signal.SIGHUP)
        for signum in signals:
            loop.add_signal_handler(signum, self._hang_up, signum)
        self._signals = tuple(signals)
        try:
            self._tty = select.poll()
            self._tty.register(sys.stdin.fileno(), select.POLLIN)
        except (OSError, ValueError):
            return
        self.set_interval(0.5, self._check_the_terminal, name="terminal-watch")
        # A hang-up comes with SIGCONT, on which Textual's driver resumes as after ctrl+z: it
        # starts a second output thread, whose first write to the dead terminal fails, and the
        # writes queued for it block the way out for ever. Resume only on a live terminal.
        resume = signal.getsignal(signal.SIGCONT)

        def on_sigcont(signum: int, frame: FrameType | None) -> None:
            if self._terminal_hung_up():
                loop.call_soon_threadsafe(self._hang_up, signal.SIGHUP)
            elif callable(resume):
                resume(signum, frame)

        signal.signal(signal.SIGCONT, on_sigcont)

    def _terminal_hung_up(self) -> bool:
        hung_up = select.POLLHUP | select.POLLERR | select.POLLNVAL
        return any(mask & hung_up for _, mask in self._tty.poll(0))

    def _check_the_terminal(self) -> None:
        if self._terminal_hung_up():
            self._hang_up(signal.SIGHUP)

    def _hang_up(self, signum: int) -> None:
        """Leave now, with the shell's status for the signal (129 for SIGHUP, 143 for SIGTERM).

        On a hang-up the terminal is gone: what is still written to it (the frame under way,
        Textual's closing sequences) goes to /dev/null instead, where a write can neither fail
        nor block the way out (on a hung-up terminal the output thread stops, and the writes
        queued behind it would wait forever).
        """
        if signum == signal.SIGHUP:
            devnull = os.open(os.devnull, os.O_WRONLY)
            for fd in (1, 2):
                os.dup2(devnull, fd)
            os.close(devnull)
        self.exit(return_code=128 + signum)

    def _answering(self) -> bool:
        """Whether the screen on top is still answering a key: opened and not yet showing its
        data, or fetching what a key asked for (no moment for a full collection)."""
        screen = self.screen
        return isinstance(screen, ConsoleScreen) and (screen._refreshing or not screen.loaded)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            self.idle_gc.note_input()
        await super().on_event(event)

    # --- quitting -------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        """q and ctrl+c: quit at once, unless something would be lost (see :meth:`_losses`);
        then ask first (where the same key again says yes)."""
        self._quit_when_safe()

    @work(group="quit", exclusive=True, exit_on_error=False)
    async def _quit_when_safe(self) -> None:
        losses = await self._losses()
        if not losses:
            self.exit()
            return
        lines = [f"Quitting now would {'; '.join(losses)}."]
        if self.backend.embedded:
            lines.append("(The scheduler runs in this console: it stops with it.)")
        if await self.push_screen_wait(QuitScreen("Quit?", "\n".join(lines), confirm_label="Quit")):
            self.exit()

    async def _losses(self) -> list[str]:
        """What quitting would lose: a form's unsaved input; with the scheduler in this process,
        the runs it would interrupt (in flight, queued) or leave waiting (for approval)."""
        losses: list[str] = []
        for screen in self.screen_stack:
            unsaved = getattr(screen, "unsaved", None)
            if isinstance(unsaved, str) and unsaved:
                losses.append(f"throw away {unsaved}")
        if not self.backend.embedded:
            return losses  # (a daemon's runs go on without this console)
        try:
            health = await self.backend.health()
        except SchedulerError:
            return losses  # (a failing store: nothing more is known, and quitting stops it)
        running = [
            _count(health.in_flight_jobs, "run", "in flight"),
            _count(health.queued_runs, "queued run"),
        ]
        if any(running):
            losses.append("interrupt " + " and ".join(part for part in running if part))
        if health.awaiting_approval:
            waiting = _count(health.awaiting_approval, "run", "awaiting approval")
            losses.append(f"leave {waiting} undecided until the scheduler runs again")
        return losses

    # --- the command palette ----------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """ctrl+p lists what the keys of ``screen`` do (each with its key, as remapped), then
        the ``:`` views, then Textual's own (theme, keys, screenshot). An action runs as its key
        would: on the row under the cursor when it is chosen, or it says why it cannot."""
        seen: dict[str, list[str]] = {}
        actions: dict[str, ActiveBinding] = {}
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.id or not binding.description or binding.id.startswith("table."):
                continue
            seen.setdefault(binding.id, []).append(self.get_key_display(binding))
            actions.setdefault(binding.id, active)
        for binding_id, active in actions.items():
            keys = " ".join(dict.fromkeys(seen[binding_id]))
            yield SystemCommand(
                f"{active.binding.description} ({keys})",
                f"{_palette_help(active)} · [tui.keymap] {binding_id}",
                partial(self._run_binding, screen, binding_id),
            )
        from .screens.command import PALETTE_TITLES

        for command, title in PALETTE_TITLES.items():
            yield SystemCommand(
                f"{title} (:{command})",
                f"the :{command} command",
                partial(self.run_console_command, command),
            )
        for system in super().get_system_commands(screen):
            if system.title != "Quit":  # (q's own is above: it asks when runs would be lost)
                yield system

    async def _run_binding(self, screen: Screen[Any], binding_id: str) -> None:
        """Run the action bound to ``binding_id`` on ``screen`` as its key would run it now."""
        for active in screen.active_bindings.values():
            if active.binding.id != binding_id:
                continue
            if active.enabled:
                await self.run_action(active.binding.action, active.node)
            elif isinstance(screen, ConsoleScreen):
                screen.explain(active.binding)
            return
        self.notify(
            f"{binding_id} does not apply here now", title="Command palette", severity="warning"
        )

    # --- navigation ----------------------------------------------------------------------------

    @property
    def main_screen(self) -> MainScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)

    def selected_job_name(self) -> str | None:
        main = self.main_screen
        job = main.selected_job if main is not None else None
        return job.name if job is not None else None

    @work(group="command", exclusive=True)
    async def action_command(self) -> None:
        from .screens.command import CommandScreen

        text = await self.push_screen_wait(
            CommandScreen(
                self._job_names, history=self.command_history, selected=self.selected_job_name()
            )
        )
        if text:
            self.run_console_command(text)

    async def _job_names(self, prefix: str) -> list[str]:
        """Names of jobs matching ``prefix`` (first by name), for the ``:`` prompt's Tab."""
        page = await self.backend.list_jobs(text=prefix or None, limit=200, order="name")
        return [job.name for job in page.jobs]

    def run_console_command(self, text: str) -> None:
        """Carry out a ``:`` command: switch to its screen (on top of the jobs pane). A job it
        names must exist: an unknown one is said, and no empty screen opens."""
        from .screens.command import JOB_COMMANDS, parse_command

        try:
            command, argument = parse_command(text)
        except ValueError as exc:
            self.notify(str(exc), title="Command", severity="error", markup=False)
            return
        if command == "q":
            self._quit_when_safe()
            return
        if command == "help":
            self.action_help()
            return
        target = argument or self.selected_job_name()
        if command in ("watch", "runs", "edit") and not target:
            self.notify(f":{command} needs a job name", title="Command", severity="warning")
            return
        if command in JOB_COMMANDS and argument:
            self._open_for_job(command, argument)
            return
        self.open_view(command, target)

    @work(group="command-job", exclusive=True, exit_on_error=False)
    async def _open_for_job(self, command: str, name: str) -> None:
        try:
            job = await self.backend.get_job(name)
        except JobNotFound as exc:
            hint = f" (did you mean {exc.suggestion}?)" if exc.suggestion else ""
            self.notify(
                f"no job named {name!r}{hint}",
                title=f":{command}",
                severity="error",
                markup=False,
            )
            return
        except SchedulerError as exc:
            self.notify(exc.message, title=f":{command}", severity="error", markup=False)
            return
        self.open_view(command, job.name)

    def open_view(self, view: str, job: str | None = None) -> None:
        """Show ``view`` (jobs, watch, runs, dlq, hb, approvals, audit, timeline, add, edit)
        over the jobs pane; ``jobs`` goes back to it."""
        while len(self.screen_stack) > 1 and not isinstance(self.screen, MainScreen):
            self.pop_screen()
        if view == "jobs":
            return
        self.push_screen(self.make_view(view, job))

    def on_open_view(self, message: OpenView) -> None:
        """A screen asked to show another over it (a drill-down: Enter on a job, a run...)."""
        self.push_screen(self.make_view(message.view, message.target), message.on_result)

    def make_view(self, view: str, job: str | None = None) -> Screen[Any]:
        """The screen for ``view``; ``job`` is the job it is about (a run id for ``run``)."""
        main = self.main_screen
        return make_view(
            view,
            job,
            backend=self.backend,
            clock=self.clock,
            readonly=self.readonly,
            refresh_interval=self.refresh_interval,
            text=(main.filter_text or None) if main is not None else None,
            status=main.status_filter if main is not None else None,
        )

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        rows = help_rows(self, self.screen.active_bindings.values())
        self.push_screen(HelpScreen(rows, readonly=self.readonly))


def _count(count: int, noun: str, after: str = "") -> str:
    """``2 runs in flight``; "" for none."""
    if not count:
        return ""
    return f"{count} {noun}{'s' if count != 1 else ''}" + (f" {after}" if after else "")


def _palette_help(active: ActiveBinding) -> str:
    """The line under an action in the palette: what it acts on, or that it cannot now."""
    node = active.node
    if not active.enabled and isinstance(node, ConsoleScreen):
        return f"not now: {node.why_not(active.binding.action)}"
    return f"key {active.binding.key}"
