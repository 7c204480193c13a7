"""Tests of the symbi console (symbi_tui)."""
