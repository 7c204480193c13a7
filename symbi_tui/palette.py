"""Tones resolved against the running theme, for cells that Rich (not Textual CSS) renders.

DataTable cells are Rich renderables, which cannot reference ``$success`` the way ``.tcss`` and
Textual markup can. So a :class:`Palette` reads the same theme variables from the app when the
theme is (re)applied: switching theme recolours the tables, and no colour is ever hard-coded.
"""

from __future__ import annotations

from . import _console_env  # noqa: F401  (before Textual is imported)

__all__ = ["TONE_VARIABLES", "Palette"]

from collections.abc import Mapping

from rich.style import Style
from textual.color import Color, ColorParseError

from .format import Tone

#: the theme variable behind each tone (also usable as ``$name`` in Textual markup)
TONE_VARIABLES: dict[Tone, str] = {
    Tone.SUCCESS: "success",
    Tone.WARNING: "warning",
    Tone.ERROR: "error",
    Tone.ACCENT: "accent",
    Tone.MUTED: "foreground-muted",
}


class Palette:
    """Rich styles for each :class:`~symbi_tui.format.Tone` under one theme.

    With ``no_color`` (NO_COLOR), errors are bold and reversed rather than a colour: Textual
    turns the theme's red into a dark grey there, dimmer than normal text.
    """

    def __init__(self, variables: Mapping[str, str], *, no_color: bool = False) -> None:
        background = _parse(variables.get("background"))
        self._styles: dict[Tone, Style] = {}
        for tone, name in TONE_VARIABLES.items():
            if no_color and tone is Tone.ERROR:
                self._styles[tone] = Style(bold=True, reverse=True)
                continue
            color = _parse(variables.get(name))
            if color is None:
                self._styles[tone] = Style.null()
                continue
            if background is not None and color.a < 1:
                color = background + color  # flatten translucent variables such as *-muted
            self._styles[tone] = Style(color=color.rich_color, bold=tone is Tone.ERROR)

    def __getitem__(self, tone: Tone) -> Style:
        return self._styles[tone]


def _parse(value: str | None) -> Color | None:
    if not value:
        return None
    try:
        return Color.parse(value)
    except ColorParseError:
        return None
