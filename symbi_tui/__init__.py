"""symbi-tui: the front ends of the symbi scheduler (the Textual console, the daemon and the CLI).

Importing this package must not import Textual, nor change anything: the headless daemon shares
the entry point, so the console is imported lazily by :mod:`symbi_tui.cli.main` only when it is
about to start (and :mod:`symbi_tui._console_env` sets Textual's defaults then).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("symbi-tui")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
