"""Definitions registered in the store (agents, named policies): the one rule both follow when a
process reads them, whatever their kind.

The config and the daemon's DSL paths are read at start and win: a registered definition never
replaces one of theirs under the same name (it is reported as shadowed when it differs). A row
that no longer passes the checks of its kind is reported and skipped, never fatal.
"""

from __future__ import annotations

__all__ = ["take_stored"]

from collections.abc import Callable, Sequence
from typing import TypeVar

from .errors import ValidationError
from .store.base import StoredDefinition

T = TypeVar("T")


def take_stored(
    stored: Sequence[StoredDefinition],
    known: dict[str, T],
    registered: set[str],
    *,
    noun: str,
    parse: Callable[[StoredDefinition], T],
    same: Callable[[T, T], bool],
    origin: Callable[[T], str | None],
) -> list[str]:
    """Add the ``stored`` definitions to ``known`` (those not registered there win) and their
    names to ``registered``; what was wrong with any, as warnings naming it as a ``noun``."""
    warnings: list[str] = []
    for row in stored:
        try:
            item = parse(row)
        except ValidationError as exc:
            warnings.append(f"registered {noun} {row.name!r} is not usable: {exc}")
            continue
        current = known.get(row.name)
        if current is not None and row.name not in registered:
            if not same(current, item):
                warnings.append(
                    f"registered {noun} {row.name!r} ({row.source}) is shadowed by the one in "
                    f"{origin(current) or 'the config'}"
                )
            continue
        known[row.name] = item
        registered.add(row.name)
    return warnings
