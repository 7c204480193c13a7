"""The console's uses of Textual's private names: all listed in symbi_tui/_textual_private.py,
all still there, on the Textual series they were checked against."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import symbi_tui
from symbi_tui import _textual_private
from symbi_tui._textual_private import PRIVATE, TEXTUAL_SERIES, missing

PACKAGE = Path(symbi_tui.__file__).parent


def test_textual_is_the_series_the_private_names_were_checked_on() -> None:
    installed = version("textual")
    assert installed == TEXTUAL_SERIES or installed.startswith(TEXTUAL_SERIES + "."), (
        f"Textual {installed} is installed, but the console's private uses of Textual were "
        f"checked against {TEXTUAL_SERIES}.x: re-check every name in "
        "symbi_tui/_textual_private.py (and the methods KeyedTable overrides) against the new "
        "source, run the console tests, then update TEXTUAL_SERIES"
    )


def test_every_private_name_still_exists() -> None:
    gone = missing()
    assert not gone, (
        f"Textual {version('textual')} no longer has {', '.join(gone)}: the console modules in "
        "symbi_tui/_textual_private.py that use them must be changed"
    )


def test_every_listed_name_is_used_where_it_is_listed() -> None:
    """A stale entry would hide nothing but mislead the next reader."""
    for user, (_cls, names) in PRIVATE.items():
        module = user.split(":")[0]
        source = (PACKAGE.parent / Path(*module.split("."))).with_suffix(".py").read_text()
        unused = [n for n in names if not re.search(rf"\b{n}\b", source)]
        assert not unused, f"{module} no longer uses {unused}: drop them from PRIVATE"


def test_private_textual_modules_are_imported_only_through_the_fence() -> None:
    fence = Path(_textual_private.__file__)
    pattern = re.compile(r"^\s*(from|import)\s+textual(\.\w+)*\._\w+", re.MULTILINE)
    offenders = [
        str(path.relative_to(PACKAGE.parent))
        for path in PACKAGE.rglob("*.py")
        if path != fence and pattern.search(path.read_text())
    ]
    assert not offenders, f"import Textual's private modules through {fence.name}: {offenders}"
