"""symbi-tui: the front ends of the symbi scheduler (the Textual console, later the daemon and CLI).

Importing this package must not import Textual: the headless daemon shares the entry point, so the
console is imported lazily by :mod:`symbi_tui.cli.main` only when it is about to start.
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

# Textual reads these once, when first imported (by the console, after this package). It draws at
# most TEXTUAL_FPS frames a second, and a key's result waits for the next frame slot (Textual's
# frame timer can make the second frame after an idle spell wait up to two slots): 240 instead of
# 60 answers keys up to 25 ms sooner; a frame is only sent when something changed, so an idle
# console over SSH costs the same. An operator's own TEXTUAL_FPS wins.
os.environ.setdefault("TEXTUAL_FPS", "240")
# No animations (the status tabs' sliding underline, smooth scrolling): over SSH each of their
# frames is sent, and their 300 ms of frames compete with the keys typed behind. An operator's own
# TEXTUAL_ANIMATIONS (full, basic) wins.
os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

try:
    __version__ = version("symbi-tui")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
