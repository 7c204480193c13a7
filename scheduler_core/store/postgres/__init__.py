"""The PostgreSQL store (asyncpg), for several scheduler nodes: its SQL, its connections, its
schema. Importing it needs asyncpg (an optional dependency)."""

from __future__ import annotations

__all__ = ["NOTIFY_CHANNEL", "NodeInfo", "PostgresJobStore"]

from .store import NOTIFY_CHANNEL, NodeInfo, PostgresJobStore
