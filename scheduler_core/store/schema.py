"""The SQLite schema's import path; the migrations live in ``store/sqlite/schema.py``."""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

from .sqlite.schema import MIGRATIONS, SCHEMA_VERSION
