"""The PostgreSQL store (asyncpg), for several scheduler nodes: its SQL, its connections, its
schema. The store itself needs asyncpg (an optional dependency), so it is imported on first use:
the schema (``schema.py``) can be read without it."""

from __future__ import annotations

__all__ = ["NOTIFY_CHANNEL", "NodeInfo", "PostgresJobStore"]

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import NOTIFY_CHANNEL, NodeInfo, PostgresJobStore


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
