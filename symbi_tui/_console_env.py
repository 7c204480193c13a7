"""Textual's settings for this console, given before Textual is first imported.

Every console module that imports Textual imports this module first (``app``, ``palette`` and
the ``screens`` and ``widgets`` packages), so the daemon and the CLI, which never import Textual,
leave the environment alone.
"""

from __future__ import annotations

import os

__all__: list[str] = []

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
