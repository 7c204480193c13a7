"""The console's screens, one module each."""

from __future__ import annotations

from .. import _console_env  # noqa: F401  (before Textual is imported)
from .confirm import ConfirmScreen
from .help import HelpScreen
from .main import MainScreen

__all__ = ["ConfirmScreen", "HelpScreen", "MainScreen"]
