"""Legible without colour: NO_COLOR and 16-colour terminals.

Under ``NO_COLOR`` Textual turns every colour to a grey of the same lightness, so the theme's red
for failures and errors became a dark grey, dimmer than normal text: the one thing an operator
must see read as the least important. Here failures and errors are drawn bold and reversed
instead (no colour of their own). On a 16-colour terminal (``TERM=xterm``, an SSH session without
``COLORTERM``) the theme's border for unfocused panes rounds to black, the background's colour:
the pane borders vanished. Here that border is a grey that stays a grey in 16 colours.
"""

from __future__ import annotations

from . import _console_env  # noqa: F401  (before Textual is imported)

__all__ = ["LegibleColours", "error_style", "legible_variables", "no_color"]

import os

from rich.color import ColorSystem
from rich.console import COLOR_SYSTEMS
from textual.app import App
from textual.color import Color, ColorParseError

#: what failures and errors are drawn with under NO_COLOR (a Rich/Textual style)
NO_COLOR_ERROR = "bold reverse"


def no_color() -> bool:
    """Whether ``NO_COLOR`` is set: what Textual itself reads when an app starts."""
    return "NO_COLOR" in os.environ


def error_style() -> str:
    """The style of a failure or an error in Textual markup: the theme's ``$error`` (bold),
    or bold reverse under NO_COLOR."""
    return NO_COLOR_ERROR if no_color() else "b $error"


def _few_colours(system: ColorSystem | None) -> bool:
    return system in (ColorSystem.STANDARD, ColorSystem.WINDOWS)


def legible_variables(variables: dict[str, str], system: ColorSystem | None) -> dict[str, str]:
    """``variables`` (the theme's) with ``border-blurred`` made a grey that a 16-colour
    terminal still draws apart from the background, when ``system`` is one."""
    if not _few_colours(system) or system is None:
        return variables
    try:
        background = Color.parse(variables["background"])
        foreground = Color.parse(variables["foreground"])
    except (KeyError, ColorParseError):
        return variables
    flat = background.rich_color.downgrade(system).number
    for share in (0.5, 0.65, 0.8, 1.0):
        grey = background.blend(foreground, share)
        if grey.rich_color.downgrade(system).number != flat:
            return {**variables, "border-blurred": grey.hex}
    return variables


class LegibleColours(App[None]):
    """An app drawn legibly without colour: ``border-blurred`` for 16 colours, and the class
    ``-no-color`` (NO_COLOR) for its stylesheet's errors."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.set_class(self.no_color, "-no-color")

    def _colour_system(self) -> ColorSystem | None:
        """The colours the terminal takes (``TERM``, ``COLORTERM``, ``TEXTUAL_COLOR_SYSTEM``)."""
        return COLOR_SYSTEMS.get(self.console.color_system or "")

    def get_css_variables(self) -> dict[str, str]:
        variables = legible_variables(super().get_css_variables(), self._colour_system())
        self.theme_variables = variables
        return variables
