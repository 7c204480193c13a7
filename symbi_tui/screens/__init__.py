"""The console's screens, one module each."""

from __future__ import annotations

from .confirm import ConfirmScreen
from .help import HelpScreen
from .main import MainScreen

__all__ = ["ConfirmScreen", "HelpScreen", "MainScreen"]
