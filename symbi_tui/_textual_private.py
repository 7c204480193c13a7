"""Every private piece of Textual the console relies on, named in one place.

The console draws its tables, footer and filter prompt faster than Textual's public API alone
allows (see KeyedTable's docstring): it overrides or reads a few of Textual's private members
and imports two private widgets. Any Textual release may rename them.
``tests/tui/test_textual_private.py`` checks that Textual is in the series they were checked
against and that each name below still exists, and fails naming what to re-check; it also fails
when a console module imports a private Textual module anywhere but here, or when a listed name
is no longer used.

To move to a new Textual series: widen the range in pyproject.toml, run that test and the console
tests (snapshots included), re-read the overridden methods in Textual's new source, then set
:data:`TEXTUAL_SERIES`.
"""

from __future__ import annotations

from . import _console_env  # noqa: F401  (before Textual is imported)

__all__ = ["PRIVATE", "TEXTUAL_SERIES", "FooterKey", "Underline", "missing"]

import importlib
import inspect

from textual.widgets._footer import FooterKey
from textual.widgets._tabs import Underline

#: the Textual series every name below was checked against
TEXTUAL_SERIES = "8.2"

#: console module -> (Textual class, the private members of it that the module uses)
PRIVATE: dict[str, tuple[str, tuple[str, ...]]] = {
    "symbi_tui.widgets.keyed_table": (
        "textual.widgets.DataTable",
        (
            "_cell_render_cache",
            "_clear_caches",
            "_data",
            "_get_row_style",
            "_get_styles_to_render_cell",
            "_highlight_cursor",
            "_labelled_row_exists",
            "_line_cache",
            "_new_rows",
            "_offset_cache",
            "_ordered_row_cache",
            "_refresh_scrollbars",
            "_render_cell",
            "_render_line",
            "_render_line_in_row",
            "_require_update_dimensions",
            "_row_label_column_width",
            "_row_locations",
            "_row_render_cache",
            "_row_renderable_cache",
            "_scroll_update",
            "_show_hover_cursor",
            "_size_updated",
            "_update_column_widths",
            "_update_count",
            "_update_dimensions",
            "_updated_cells",
        ),
    ),
    "symbi_tui.widgets.keyed_table:cache": ("textual.cache.LRUCache", ("_cache",)),
    "symbi_tui.screens.base": (
        "textual.screen.Screen",
        ("_on_idle", "_on_timer_update", "_update_timer"),
    ),
    "symbi_tui.widgets.steady_footer": (
        "textual.widgets.Footer",
        ("_bindings_ready", "_size_updated"),
    ),
    "symbi_tui.widgets.steady_footer:keys": ("textual.widgets._footer.FooterKey", ("_disabled",)),
    "symbi_tui.widgets.filter_bar": (
        "textual.widgets.Input",
        ("_on_focus", "_on_key", "_watch_value"),
    ),
}


def _instance(path: str) -> object:
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    if name == "LRUCache":
        return cls(8)
    if name == "FooterKey":
        return cls("k", "k", "description", "action")
    return cls()


def _has(instance: object, name: str) -> bool:
    """Whether ``instance`` has ``name``, without running a property (Screen._update_timer
    starts a timer when read)."""
    try:
        inspect.getattr_static(instance, name)
    except AttributeError:
        return False
    return True


def missing() -> list[str]:
    """``Class.name`` for every listed member the installed Textual no longer has."""
    gone = []
    for path, names in PRIVATE.values():
        instance = _instance(path)
        gone += [f"{path}.{n}" for n in names if not _has(instance, n)]
    return gone
