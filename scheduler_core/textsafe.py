"""Text from agents, errors and names, made safe to show on a terminal.

An agent's output, an error message or a job's name is data: written raw to a terminal, an
escape sequence in it would act (OSC sets the window title or, with OSC 52, the clipboard; CSI
clears the screen or moves the cursor; BEL rings). Every human-readable output (the ``symbi``
tables and lines, ``symbi logs``, the console's panes and notifications, the daemon's log) shows
such characters as visible escapes instead (``\\x1b``, ``\\x07``, ``\\u202e``), with
:func:`visible`. JSON output keeps the exact string: :func:`json_safe` only writes the few
characters JSON would leave raw (DEL, C1 controls, direction overrides) as ``\\uXXXX``, which
decode to the same string.
"""

from __future__ import annotations

__all__ = ["UNSAFE", "json_safe", "visible"]

import re

#: what a terminal may act on: C0 controls but tab and newline, DEL, C1 controls (0x9b is CSI
#: on many terminals), and the Unicode marks that reorder or break what is shown around them
UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[{UNSAFE}]")
_UNSAFE_LINE = re.compile(f"[\t\n{UNSAFE}]")  # one line: tab and newline shown too
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _shown(match: re.Match[str]) -> str:
    ch = match.group()
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, one_line: bool = False) -> str:
    """``text`` with every character a terminal could act on written as a visible escape
    (ESC as ``\\x1b``, CR as ``\\r``); tab and newline are kept unless ``one_line``."""
    pattern = _UNSAFE_LINE if one_line else _UNSAFE
    if pattern.search(text) is None:  # the common case: nothing to do, no copy
        return text
    return pattern.sub(_shown, text)


def _unicode_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_safe(document: str) -> str:
    """A JSON text (from ``json.dumps(..., ensure_ascii=False)``, which already escapes C0
    controls) with the characters it left raw written as ``\\uXXXX``: the same values once
    parsed, nothing a terminal acts on when printed."""
    if _UNSAFE.search(document) is None:
        return document
    return _UNSAFE.sub(_unicode_escape, document)
