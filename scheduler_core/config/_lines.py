"""Where a key is in the text: tomlkit keeps no line numbers, so the text is scanned."""

from __future__ import annotations

import re
from collections.abc import Iterator

_KEY_PART = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)\s*')


def _split_key(text: str) -> list[str] | None:
    """``a."b.c".d`` -> ["a", "b.c", "d"]; None if ``text`` is not a TOML key."""
    parts: list[str] = []
    pos = 0
    while True:
        m = _KEY_PART.match(text, pos)
        if not m:
            return None
        part = m.group(1)
        if part[0] == '"':
            part = part[1:-1].encode("utf-8").decode("unicode_escape", errors="replace")
        elif part[0] == "'":
            part = part[1:-1]
        parts.append(part)
        pos = m.end()
        if pos == len(text):
            return parts
        if text[pos] != ".":
            return None
        pos += 1


def _scan_keys(text: str) -> Iterator[tuple[str, int, str]]:
    """Each dotted key the text sets, in order, with its 1-based line and kind (key, table, array).

    tomlkit keeps no line numbers, so the text is scanned: headers (``[x]`` a table, ``[[x]]`` an
    array of tables), ``key = value`` lines, and the keys of one-line inline tables; multi-line
    strings and arrays are skipped.
    """
    table: list[str] = []
    depth = 0
    in_string: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw
        if in_string is not None:
            end = line.find(in_string)
            if end < 0:
                continue
            line = line[end + 3 :]
            in_string = None
        stripped = line.strip()
        if depth == 0 and in_string is None and stripped.startswith("["):
            header = stripped.lstrip("[").split("]")[0]
            parts = _split_key(header.strip())
            if parts is not None:
                table = parts
                yield ".".join(table), number, "array" if stripped.startswith("[[") else "table"
            continue
        if depth == 0 and "=" in line and line == raw:
            key_text = line.split("=", 1)[0]
            parts = _split_key(key_text.strip()) if key_text.strip() else None
            if parts is not None:
                full = ".".join([*table, *parts])
                yield full, number, "key"
                rest = line.split("=", 1)[1]
                for m in re.finditer(r"[{,]\s*([A-Za-z0-9_\"'.-]+)\s*=", rest):
                    sub = _split_key(m.group(1))
                    if sub:
                        yield ".".join([full, *sub]), number, "key"
        depth, in_string = _scan_brackets(line, depth)


def _key_lines(text: str) -> dict[str, int]:
    """Dotted key -> 1-based line where it is first set (tables: their header line)."""
    lines: dict[str, int] = {}
    for key, number, _kind in _scan_keys(text):
        lines.setdefault(key, number)
    return lines


def _first_duplicate(text: str) -> tuple[str, int] | None:
    """The first dotted key set twice (or table opened twice), and the line of the repeat.

    tomlkit reports a duplicate differently from one release to the next (``KeyAlreadyPresent``
    without a position before 0.14, a ``ParseError`` at the repeat since), so the key and its
    line are found here, the same way on every release.
    """
    seen: set[tuple[str, str]] = set()
    for key, number, kind in _scan_keys(text):
        if kind == "array":  # a new element: what the previous one set may be set again
            seen = {(k, t) for k, t in seen if not k.startswith(key + ".")}
            continue
        if (key, kind) in seen:
            return key, number
        seen.add((key, kind))
    return None


def _scan_brackets(line: str, depth: int) -> tuple[int, str | None]:
    """Bracket depth after ``line`` (strings and comments skipped), and an open multi-line
    string's delimiter."""
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if ch == "#":
            break
        if line.startswith('"""', i) or line.startswith("'''", i):
            delim = line[i : i + 3]
            end = line.find(delim, i + 3)
            if end < 0:
                return depth, delim
            i = end + 3
            continue
        if ch in "\"'":
            j = i + 1
            while j < n and line[j] != ch:
                j += 2 if ch == '"' and line[j] == "\\" else 1
            i = j + 1
            continue
        if ch in "[{":
            depth += 1
        elif ch in "]}" and depth > 0:
            depth -= 1
        i += 1
    return depth, None
