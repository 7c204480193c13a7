"""The SQLite store (aiosqlite), the embedded default: its SQL, its connections, its schema."""

from __future__ import annotations

__all__ = ["SqliteJobStore"]

from .store import SqliteJobStore
