"""The operations scene for the screen tests: it lives in :mod:`symbi_tui.ops_scene` (the
screenshot script draws from it too) and is re-exported here so the tests import it as before."""

from __future__ import annotations

__all__ = [
    "OPS_JOBS",
    "OPS_NOW",
    "OpsScene",
    "ScreenApp",
    "build_ops_scene",
    "stable_ids",
]

from symbi_tui.ops_scene import (
    OPS_JOBS,
    OPS_NOW,
    OpsScene,
    ScreenApp,
    build_ops_scene,
    stable_ids,
)
