"""The PostgreSQL schema's import path; the migrations live in ``store/postgres/schema.py``."""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

from .postgres.schema import MIGRATIONS, SCHEMA_VERSION
