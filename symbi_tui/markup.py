"""Text for Textual markup: what the console shows of agents, errors and names.

:func:`escape` is Textual's (brackets cannot open a tag) after
:func:`scheduler_core.textsafe.visible` (an escape sequence in an agent's output cannot reach
the operator's terminal: Textual passes ESC through as it is). Screens and widgets import it
from here, never from ``textual.markup``.
"""

from __future__ import annotations

__all__ = ["escape"]

from textual.markup import escape as _escape_markup

from scheduler_core.textsafe import visible


def escape(text: str) -> str:
    """``text`` for markup: control characters shown as escapes, brackets escaped."""
    return _escape_markup(visible(text))
