"""``?``: the keys that work on the screen underneath, read from its live bindings.

Built from the bindings themselves (after keymap overrides and ``check_action``), so the help can
never disagree with what the keys do, in read-only mode or after a user remaps a key.
"""

from __future__ import annotations

__all__ = ["HelpRow", "HelpScreen", "help_rows"]

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import ActiveBinding, Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

#: keys that belong to the table widgets rather than to our bindings
NAVIGATION: tuple[tuple[str, str], ...] = (
    ("↑ ↓ PgUp PgDn", "move the selection"),
    ("enter", "open the selected row (a job: watch it live; a run: its detail)"),
    ("tab", "switch pane"),
)


@dataclass(frozen=True, slots=True)
class HelpRow:
    key: str
    description: str
    binding_id: str = ""


def help_rows(app: App[Any], bindings: Iterable[ActiveBinding]) -> list[HelpRow]:
    """Our bindings (the ones with an id), as the footer would show their keys."""
    rows: list[HelpRow] = []
    seen: set[str] = set()
    for active in bindings:
        binding: Binding = active.binding
        if not binding.id or not binding.description or binding.id in seen:
            continue
        seen.add(binding.id)
        rows.append(HelpRow(app.get_key_display(binding), binding.description, binding.id))
    return rows


def _commands() -> Table:
    """The ``:`` commands, from the command screen's own table."""
    from .command import COMMANDS

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for name, (argument, description) in COMMANDS.items():
        table.add_row(f":{name}" + (f" {argument}" if argument else ""), description)
    return table


class HelpScreen(ModalScreen[None]):
    """A modal list of keys; any of Escape, ``?`` or ``q`` closes it."""

    BINDINGS = [
        Binding("escape,question_mark,q", "close", "Close", id="help.close"),
    ]

    def __init__(self, rows: Iterable[HelpRow], *, readonly: bool = False) -> None:
        super().__init__()
        self._rows = list(rows)
        self._readonly = readonly

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        table.add_column(style="dim")
        for row in self._rows:
            table.add_row(row.key, row.description, row.binding_id)
        for key, description in NAVIGATION:
            table.add_row(key, description, "")
        with VerticalScroll(id="help-dialog") as dialog:
            dialog.border_title = "Keys"
            dialog.border_subtitle = "esc to close"
            yield Static(table, id="help-keys")
            yield Static(_commands(), id="help-commands")
            if self._readonly:
                yield Static(
                    Text("read-only: actions that change jobs are switched off"),
                    id="help-readonly",
                )
            yield Static(
                Text('Remap a key in the config: [tui.keymap] <binding id> = "<keys>"'),
                id="help-keymap",
            )

    def action_close(self) -> None:
        self.dismiss(None)
