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
    "PostgresJobStore",
    "RunStats",
    "SqliteJobStore",
    "StartPlan",
    "is_postgres_url",
    "open_store",
]

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from .postgres import PostgresJobStore


def __getattr__(name: str) -> Any:
    if name == "PostgresJobStore":  # imported on demand: asyncpg is needed only for PostgreSQL
        from .postgres import PostgresJobStore

        return PostgresJobStore
    raise AttributeError(name)


def is_postgres_url(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL store (``postgresql://`` or ``postgres://``)."""
    return url.startswith(("postgres://", "postgresql://"))


async def open_store(url: str, *, preflight: bool = False) -> JobStore:
    """Open the store a URL names: a path or ``sqlite:///`` URL (SQLite, the embedded default), or
    a ``postgresql://`` / ``postgres://`` URL (PostgreSQL, for several nodes). ``preflight``: a
    scheduler is about to start on it; a store that is corrupt, read-only or locked raises
    ``StoreUnavailable`` (see ``JobStore.open``)."""
    store: JobStore
    if is_postgres_url(url):
        try:
            from .postgres import PostgresJobStore
        except ImportError as exc:  # asyncpg is an optional dependency
            from ..errors import StoreError

            raise StoreError(
                f"a PostgreSQL store needs the asyncpg package ({exc}); pip install asyncpg"
            ) from exc
        store = PostgresJobStore(url)
    else:
        store = SqliteJobStore(url)
    await store.open(preflight=preflight)
    return store
