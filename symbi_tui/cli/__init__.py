"""Entry points. Nothing here may import Textual at import time (``--daemon`` runs headless)."""

from __future__ import annotations

__all__: list[str] = []
