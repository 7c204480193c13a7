"""What every secondary screen shares: a backend, the injected clock, live refresh, feedback.

Data flow (the main screen's, in small):

* a worker follows ``backend.subscribe()`` and asks :meth:`ConsoleScreen.wants` whether an event
  makes this screen stale; ``Dropped`` always does;
* a timer every ``refresh_interval`` seconds fetches again when stale (the debounce) and, stale or
  not, re-renders, so countdowns and elapsed times follow the clock;
* an operator's own action refreshes at once.

Mutating actions are listed in ``MUTATING_ACTIONS``: ``check_action`` hides them in read-only mode,
dims those the console's API key may not do (``ACTION_ROLES``: a viewer key's ``p`` says which
role it needs), and :meth:`ConsoleScreen.act` runs one and reports the result or the error in a
notification.

The main screen derives from this base too: it keeps the same hooks but marks *what* is stale
(a job, the health line, the selected job's runs) instead of the whole screen, so it overrides
``note_event``, ``kick`` and ``after_action``.

Screens never build one another: :meth:`ConsoleScreen.open_view` posts an :class:`OpenView`
message and the app makes the screen (``SymbiApp.make_view``), so a screen imports only what it
draws.
"""

from __future__ import annotations

__all__ = ["ConsoleScreen", "OpenView", "show"]

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, TypeVar

from textual import events, on, work
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, WorkerState

from scheduler_core.access import Principal, Role
from scheduler_core.clock import Clock
from scheduler_core.errors import NotFoundError, SchedulerError
from scheduler_core.events import Dropped, Event, SchedulerState
from scheduler_core.textsafe import visible
from scheduler_core.wire import Disconnected

from ..backend import Backend
from ..palette import Palette
from ..widgets.screen_header import ScreenHeader

log = logging.getLogger(__name__)


def show(widget: Static, content: str) -> None:
    """Update ``widget`` only when ``content`` changed: live screens re-render every tick, and
    an unchanged pane should cost nothing (no repaint, nothing sent over SSH).

    What a pane shows comes from agents and operators: a control character in it is shown as
    an escape (``\\x1b``), whatever the caller escaped already.
    """
    content = visible(content)
    if widget.content != content:
        widget.update(content)


#: the role each mutating action needs (as the API's routes do); an action not listed: admin
ACTION_ROLES: dict[str, Role] = {
    "toggle_pause": Role.OPERATOR,
    "run_now": Role.OPERATOR,
    "run_with_input": Role.OPERATOR,
    "backfill": Role.OPERATOR,
    "reset": Role.OPERATOR,
    "approve": Role.OPERATOR,
    "deny": Role.OPERATOR,
    "cancel_run": Role.OPERATOR,
}

ResultT = TypeVar("ResultT")
T = TypeVar("T")


class OpenView(Message):
    """Show ``view`` (``watch``, ``runs``, ``run``, ``dlq``, ``hb``, ``approvals``, ``audit``,
    ``timeline``, ``add``, ``edit``) for ``target`` (a job, or a run id for ``run``) over the
    current screen; ``on_result`` gets what the new screen is dismissed with."""

    def __init__(
        self,
        view: str,
        target: str | None = None,
        *,
        on_result: Callable[[Any], None] | None = None,
    ) -> None:
        super().__init__()
        self.view = view
        self.target = target
        self.on_result = on_result


class ConsoleScreen(Screen[ResultT]):
    """A full screen over a :class:`~symbi_tui.backend.Backend`; subclasses fill in the hooks."""

    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        Binding("escape", "back", "Back", id="back"),
    ]

    #: below 100 columns a screen has the class ``-narrow`` (``-wide`` from 100): its panes
    #: stack or drop what an 80x24 terminal has no room for, never what an operator needs
    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"),
        (100, "-wide"),
    ]

    #: actions that change the scheduler's state: hidden in read-only mode
    MUTATING_ACTIONS: ClassVar[frozenset[str]] = frozenset()
    #: the screen shows times relative to now (countdowns, elapsed): re-render on every tick
    CLOCK_DRIVEN: ClassVar[bool] = True

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Clock,
        readonly: bool = False,
        refresh_interval: float = 1.0,
    ) -> None:
        super().__init__()
        self.backend = backend
        self.clock = clock
        self.readonly = readonly
        self.refresh_interval = refresh_interval
        self.loaded = False  #: the first fetch has completed
        self._palette: Palette | None = None
        self._stale = True
        self._refreshing = False
        self._again = False
        self._polling = False
        self._last_error: str | None = None
        self._held: Timer | None = None  #: frames are held: see hold_frames
        self._started = False  #: on_mount has run (the refresh timer and the events' follower)
        #: who the console acts as (its API key's name and role); None until known
        self.access: Principal | None = None
        self._access_asked = False  #: the scheduler answered (or could not say): ask no more

    # --- hooks ----------------------------------------------------------------------------------

    @property
    def crumbs(self) -> Sequence[str]:
        """The breadcrumb in the header, e.g. ``("symbi", "flaky-job", "runs")``."""
        return ("symbi",)

    async def fetch(self) -> None:
        """Load what the screen shows from the backend (runs in a worker)."""

    def render_data(self) -> None:
        """Push the loaded data into the widgets; called after each fetch and on every tick."""

    def wants(self, event: Event) -> bool:
        """Whether ``event`` makes what this screen shows stale."""
        return False

    def can(self, action: str) -> bool | None:
        """For a mutating action outside read-only mode: True, None (dimmed) or False."""
        return True

    @property
    def narrow(self) -> bool:
        """The screen is under 100 columns wide (an 80x24 terminal): draw the compact way."""
        return 0 < self.size.width < 100

    def _announce(self, event: SchedulerState) -> None:
        """Losing and finding the scheduler again, said at once (by the screen on top)."""
        self._show_header()
        if self.app.screen is not self:
            return
        if event.state == "disconnected":
            self.notify(
                f"{event.detail}; retrying",
                title="Lost the scheduler",
                severity="error",
                markup=False,
            )
        elif event.state == "connected":
            self.notify(f"reconnected to {event.detail}", title="Connected", markup=False)

    def note_event(self, event: Event) -> None:
        """Mark what ``event`` made stale (here: the whole screen); the next tick fetches it."""
        if isinstance(event, Dropped | SchedulerState) or self.wants(event):
            self._stale = True

    def theme_changed(self) -> None:
        """The colours changed: draw again with the new palette."""
        if self.loaded:
            self.render_data()

    def after_action(self, job_id: str | None, *, gone: bool = False) -> None:
        """An action of the operator's ended (``gone``: the job it named no longer exists, or
        the list it was in changed): show the result at once."""
        self.kick()

    # --- lifecycle --------------------------------------------------------------------------------

    def on_resize(self) -> None:
        """Under 100 columns the footer's keys sit closer, so ``?`` and ``q`` stay on it."""
        for footer in self.query(Footer):
            footer.compact = self.narrow

    def on_mount(self) -> None:
        # Textual calls the on_mount of every class of the screen that defines one, and a
        # screen's own calls this one too: start the timer, the events' follower and the first
        # fetch once (twice, every screen followed the events twice and ticked twice a second)
        if self._started:
            return
        self._started = True
        self._show_header()
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self.set_interval(self.refresh_interval, self._tick, name="refresh")
        self._follow_events()
        self.kick()

    @property
    def palette(self) -> Palette:
        if self._palette is None:
            self._palette = Palette(self.app.theme_variables, no_color=self.app.no_color)
        return self._palette

    def _on_theme_changed(self, _theme: object) -> None:
        self._palette = None
        self.theme_changed()

    def _show_header(self) -> None:
        self.query_one(ScreenHeader).show(
            self.crumbs,
            mode=self.backend.mode_label,
            readonly=self.readonly,
            now=self.clock.now(),
            connection=self.backend.connection,
        )

    def _tick(self) -> None:
        self._show_header()  # the connection's state, even while fetches fail
        if self._stale or self._polling:
            self.kick()
        elif self.loaded:
            self._show_header()
            if self.CLOCK_DRIVEN:
                self.render_data()

    def mark_stale(self) -> None:
        """Fetch again at the next tick."""
        self._stale = True

    def kick(self, *, urgent: bool = False) -> None:
        """Fetch now; if a fetch is running, another follows when it ends. (``urgent``: an
        operator waits for the result; this screen fetches everything at once anyway.)"""
        self._stale = True
        if self._refreshing:
            self._again = True
            return
        self._refreshing = True
        self._refresh()

    @work(group="refresh", exit_on_error=False)
    async def _refresh(self) -> None:
        self._stale = False
        try:
            if not self._access_asked:
                await self._learn_access()
            await self.fetch()
        except BaseException:
            self._stale = True  # the next tick tries again
            raise
        finally:
            self._refreshing = False
        if not self.is_attached:
            return  # closed while fetching (e.g. a quick switch with ":"): nothing to draw
        if not self.loaded and self.MUTATING_ACTIONS:
            self.refresh_bindings()  # keys dimmed for want of data (no job yet) light up now
        self.loaded = True
        self._last_error = None
        self._show_header()
        self.render_data()
        if self._again:
            self._again = False
            self.call_later(self.kick)

    async def _learn_access(self) -> None:
        """Ask once who the console acts as, so keys its role may not use are dimmed and say
        why (a daemon that cannot say leaves every key on: it refuses what it must)."""
        try:
            self.access = await self.backend.whoami()
        except Disconnected:
            return  # asked again at the next refresh
        except SchedulerError:
            self._access_asked = True
            return
        self._access_asked = True
        if self.is_attached and self.MUTATING_ACTIONS:
            self.refresh_bindings()

    def role_refusal(self, action: str) -> str | None:
        """Why the console's key may not do ``action`` (its role is too low), or None."""
        access = self.access
        if access is None or action not in self.MUTATING_ACTIONS:
            return None
        needed = ACTION_ROLES.get(action, Role.ADMIN)
        if access.role.allows(needed):
            return None
        higher = " or admin" if needed is Role.OPERATOR else ""
        return (
            f"the API key {access.name!r} has the {access.role.value} role; this needs the "
            f"{needed.value}{higher} role (ask the daemon's operator for such a key: "
            "[api.keys.NAME] with role, then --api-key)"
        )

    @work(group="events", exit_on_error=False)
    async def _follow_events(self) -> None:
        try:
            async for event in self.backend.subscribe():
                if isinstance(event, SchedulerState):
                    self._announce(event)
                self.note_event(event)
        finally:
            self._polling = True  # without events, every tick fetches again

    # --- actions ----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide what read-only forbids; ask the screen whether the rest applies now."""
        if action not in self.MUTATING_ACTIONS:
            return True
        if self.readonly:
            return False
        if self.role_refusal(action) is not None:
            return None  # dimmed: its key says why
        return self.can(action)

    def why_not(self, action: str) -> str:
        """Why ``action``'s key does nothing now (its ``can`` said no)."""
        return "it does not apply to what is selected"

    def on_key(self, event: events.Key) -> None:
        """A key whose action does not apply now (dimmed in the footer) says why, rather than
        nothing. (Keys a widget or a binding used never get here.)"""
        active = self.active_bindings.get(event.key)
        if active is None or active.enabled or active.node is not self:
            return
        self.explain(active.binding)

    def explain(self, binding: Binding) -> None:
        """Say why ``binding``'s action does not apply now (its key, or the palette)."""
        self.notify(
            self.role_refusal(binding.action) or self.why_not(binding.action),
            title=f"{binding.description or binding.action}: not now",
            severity="warning",
            markup=False,
        )

    def action_back(self) -> None:
        """Esc: back to the screen underneath (nothing, when this is the only screen)."""
        if len(self.app.screen_stack) > 1 and self.app.screen is self:
            self.dismiss()

    async def act(
        self,
        title: str,
        call: Callable[[], Awaitable[T]],
        describe: Callable[[T], str],
        *,
        job_id: str | None = None,
        gone: bool = False,
    ) -> T | None:
        """Run one mutation and tell the operator how it went, in words; refresh after it
        (``job_id``: the job it acts on; ``gone``: the action removes it)."""
        try:
            result = await call()
        except SchedulerError as exc:
            self.notify(exc.message, title=f"Could not {title}", severity="error", markup=False)
            if isinstance(exc, NotFoundError):  # gone behind our back: show what is there now
                self.after_action(job_id, gone=True)
            return None
        self.notify(describe(result), title=title[:1].upper() + title[1:], markup=False)
        self.after_action(job_id, gone=gone)
        return result

    def run_action_worker(self, coroutine: Callable[[], Awaitable[Any]]) -> None:
        """Run ``coroutine`` in the screen's action worker group (modal dialogs wait in it)."""
        self.run_worker(coroutine(), group="actions", exit_on_error=False)

    # --- navigation -------------------------------------------------------------------------------

    def open_view(
        self,
        view: str,
        target: str | None = None,
        *,
        on_result: Callable[[Any], None] | None = None,
    ) -> None:
        """Ask the app to show ``view`` over this screen (see :class:`OpenView`)."""
        self.app.post_message(OpenView(view, target, on_result=on_result))

    # --- the ``/`` prompt -------------------------------------------------------------------------

    def take_burst_key(self, event: events.Key, prompt: Input) -> None:
        """Keep keys typed in one burst with ``/`` (a paste, a fast typist over SSH) with the
        ``/`` prompt; for a screen's ``on_key``.

        Such keys are already queued for the table when the ``/`` binding would run, so ``/`` is
        handled here, as it bubbles up, and focus moves synchronously; the keys behind it that
        still reach this screen while the prompt has focus are handed to the prompt.
        """
        if self.focused is prompt:  # (prompt.has_focus lags: it waits for the Focus event)
            # the prompt consumes what it types, so a printable key here was sent elsewhere
            if event.is_printable and event.character:
                prompt.insert_text_at_cursor(event.character)
                event.stop()
                event.prevent_default()
            return
        active = self.active_bindings.get(event.key)
        if active is not None and active.binding.action == "filter" and active.enabled:
            event.stop()
            event.prevent_default()
            prompt.display = True
            self.set_focus(prompt)

    # --- frames held for a key -----------------------------------------------------------------

    def hold_frames(self, seconds: float) -> None:
        """Hold this screen's frames until :meth:`release_frames` (the refresh an operator's key
        started is drawn), for at most ``seconds``.

        The key's own echo (the cursor, the typed letter, the tab, the footer's keys) and the
        rows it asked for then appear in one frame, drawn once, rather than the echo first and
        the rows in a second frame, which waited for the first to be drawn and for the next
        frame slot. A slow scheduler (a remote one) shows the echo when the hold ends. What
        waits for a frame (``call_after_refresh``) waits too, and sees the layout it is drawn
        with. (Overrides two of Textual's private handlers: see ``_textual_private``.)
        """
        if self._held is None:
            self._held = self.app.set_timer(seconds, self.release_frames, name="hold")

    def release_frames(self) -> None:
        """Draw what was held, now."""
        held, self._held = self._held, None
        if held is not None:
            held.stop()
            self.check_idle()  # (idle again: what was held is drawn)

    async def _on_idle(self, event: events.Idle) -> None:
        if self._held is not None:
            event.prevent_default()  # held: nothing drawn, nothing waiting for a frame run
            return
        await super()._on_idle(event)

    def _on_timer_update(self) -> None:
        if self._held is not None:
            self._update_timer.pause()  # (resumed once idle after the hold)
            return
        super()._on_timer_update()

    # --- failures ---------------------------------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """Unexpected worker errors end up here: logged and shown once, never fatal."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        text = (
            error.message
            if isinstance(error, SchedulerError)
            else f"{type(error).__name__}: {error}"
        )
        log.error("%s failed: %s", event.worker.name, text, exc_info=error)
        if text != self._last_error:  # a broken store must not toast once per tick
            self._last_error = text
            self.notify(text, title=f"{event.worker.group} failed", severity="error", markup=False)
