"""Persistent state: the JobStore protocol and its implementations."""

from __future__ import annotations

__all__ = [
    "ClaimPlan",
    "FinishItem",
    "FinishPlan",
    "JobPage",
    "JobQuery",
    "JobStore",
    "LeaseInfo",
    "RunStats",
    "SqliteJobStore",
    "StartPlan",
    "open_store",
]

from .base import (
    ClaimPlan,
    FinishItem,
    FinishPlan,
    JobPage,
    JobQuery,
    JobStore,
    LeaseInfo,
    RunStats,
    StartPlan,
)
from .sqlite import SqliteJobStore


async def open_store(url: str) -> JobStore:
    """Open the store a URL names (a path or sqlite:/// URL today)."""
    if url.startswith(("postgres://", "postgresql://")):
        from ..errors import StoreError

        raise StoreError("PostgreSQL stores are not available in this version")
    store = SqliteJobStore(url)
    await store.open()
    return store
