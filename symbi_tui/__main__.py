"""``python -m symbi_tui``: the same as the ``symbi-tui`` command."""

from __future__ import annotations

from symbi_tui.cli.main import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
