"""The console's widgets, one module each."""

from __future__ import annotations

from .. import _console_env  # noqa: F401  (before Textual is imported)
from .filter_bar import FilterBar
from .health_bar import HealthBar
from .jobs_table import JobsTable
from .keyed_table import Column, KeyedCell, KeyedTable
from .run_history import RunHistory
from .steady_footer import SteadyFooter

__all__ = [
    "Column",
    "FilterBar",
    "HealthBar",
    "JobsTable",
    "KeyedCell",
    "KeyedTable",
    "RunHistory",
    "SteadyFooter",
]
