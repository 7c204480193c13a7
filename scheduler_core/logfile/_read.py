"""Reading the daemon's log file and its rotated predecessors: the last lines wanted, or (to
follow it) the lines written after a cursor.

Files: ``daemon.log`` and ``daemon.log.1`` ... ``daemon.log.N`` (older as N grows), as
``logging.handlers.RotatingFileHandler`` leaves them. A cursor is ``INODE:OFFSET``: the file is
known by its inode, which a rotation (a rename) keeps, so a reader that follows the log across a
rotation finishes the old file before it starts the new one and loses no line. Only whole lines
are read; a line still being written waits for the next read. A text record's traceback lines
belong to the record before them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import records
from ..clock import parse_instant
from ._query import LogQuery

_Q = r'"(?:[^"\\]|\\.)*"|\S+'
_TEXT_HEAD = re.compile(
    rf"time=(\S+) level=({_Q})(?: logger=({_Q}))? event=({_Q})",
)
_S = r'(?:[^"\\]|\\.)*'
_JSON_HEAD = re.compile(rf'\{{"time":"({_S})","level":"({_S})","logger":"({_S})","event":"({_S})"')
_PAIR = re.compile(r'([A-Za-z0-9_.-]+)=("(?:[^"\\]|\\.)*"|\S*)')
_CURSOR = re.compile(r"^(\d+):(\d+)$")
#: the cursor of a log that has no file yet: reading after it starts at the beginning
START = "0:0"

_Head = tuple[str | None, str, str, str]  #: time (as written), level, logger, event


@records.record(kw_only=True)
class LogLine:
    """One record of the log: its head, its message and fields, and its text as written (a text
    record's traceback included)."""

    time: datetime | None
    level: str
    logger: str
    event: str
    message: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    text: str


@records.record(kw_only=True)
class LogPage:
    """Lines, oldest first; ``cursor`` is where the next read (to follow the log) starts;
    ``level`` is the lowest level the log records."""

    lines: tuple[LogLine, ...]
    cursor: str
    level: str


@dataclass(slots=True)
class _Record:
    head: _Head | None
    lines: list[str]
    end: int  #: offset in its file just past the record


def is_cursor(text: str) -> bool:
    return _CURSOR.match(text) is not None


def log_files(path: Path) -> list[Path]:
    """The log's files, oldest first: ``path.N`` ... ``path.1``, ``path`` (those that exist)."""
    rotated: list[tuple[int, Path]] = []
    with contextlib.suppress(OSError):
        for entry in path.parent.iterdir():
            suffix = entry.name[len(path.name) + 1 :]
            if entry.name.startswith(path.name + ".") and suffix.isdigit():
                rotated.append((int(suffix), entry))
    files = [p for _, p in sorted(rotated, reverse=True)]
    if path.exists():
        files.append(path)
    return files


def read_log(
    path: Path, query: LogQuery, *, cursor: str | None = None, level: str = "info"
) -> LogPage:
    """Without ``cursor``: the last ``query.limit`` lines wanted. With one: the lines written
    after it (at most ``query.limit``, the cursor then stops after the last one)."""
    wanted = _wanted(query)
    if cursor is None:
        return _tail(path, query.limit, wanted, level)
    match = _CURSOR.match(cursor)
    inode, offset = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    files = log_files(path)
    first = 0
    for i, file in enumerate(files):
        with contextlib.suppress(OSError):
            if os.stat(file).st_ino == inode:
                first = i
                break
    else:
        offset = 0  # the cursor's file is gone (or there was none): read all that is left
    picked: list[_Record] = []
    here = cursor if match else START
    for i, file in enumerate(files[first:]):
        try:
            ino, start, data = _read(file, offset if i == 0 else 0)
        except OSError:
            continue
        for record in _records(data, start):
            if wanted(record):
                picked.append(record)
            here = f"{ino}:{record.end}"
            if len(picked) >= query.limit:
                return LogPage(lines=_lines(picked), cursor=here, level=level)
        here = f"{ino}:{start + len(data)}"
    return LogPage(lines=_lines(picked), cursor=here, level=level)


def _tail(path: Path, limit: int, wanted: Callable[[_Record], bool], level: str) -> LogPage:
    picked: list[_Record] = []  # newest first
    cursor: str | None = None
    for file in reversed(log_files(path)):
        try:
            ino, start, data = _read(file, 0)
        except OSError:
            continue
        if cursor is None:
            cursor = f"{ino}:{start + len(data)}"
        for record in reversed(_records(data, start)):
            if wanted(record):
                picked.append(record)
                if len(picked) >= limit:
                    break
        if len(picked) >= limit:
            break
    return LogPage(lines=_lines(list(reversed(picked))), cursor=cursor or START, level=level)


def _wanted(query: LogQuery) -> Callable[[_Record], bool]:
    wants = query.matcher()
    unfiltered = query.component is None and query.level is None and query.since is None

    def wanted(record: _Record) -> bool:
        return wants(*record.head) if record.head is not None else unfiltered

    return wanted


def _read(file: Path, offset: int) -> tuple[int, int, bytes]:
    """(inode, offset read from, the whole lines from there on)."""
    with file.open("rb") as f:
        stat = os.fstat(f.fileno())
        if offset > stat.st_size:  # not the file the cursor was made in: start again
            offset = 0
        f.seek(offset)
        data = f.read()
    return stat.st_ino, offset, data[: data.rfind(b"\n") + 1]


def _records(data: bytes, start: int) -> list[_Record]:
    records: list[_Record] = []
    pos = start
    for raw in data.split(b"\n")[:-1]:
        pos += len(raw) + 1
        line = raw.decode("utf-8", "replace")
        head = _head(line)
        if head is None and records and records[-1].head is not None and line:
            records[-1].lines.append(line)  # a traceback's line
            records[-1].end = pos
            continue
        if line or head is not None:
            records.append(_Record(head, [line], pos))
    return records


def _unquote(value: str) -> str:
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        with contextlib.suppress(ValueError):
            return str(json.loads(value))
    return value


def _json_string(value: str) -> str:
    return _unquote(f'"{value}"') if "\\" in value else value


def _head(line: str) -> _Head | None:
    if line.startswith("time="):
        m = _TEXT_HEAD.match(line)
        if m is None:
            return None
        return m.group(1), _unquote(m.group(2)), _unquote(m.group(3) or ""), _unquote(m.group(4))
    if line.startswith("{"):
        m = _JSON_HEAD.match(line)
        if m is not None:
            time, level, logger, event = (_json_string(g) for g in m.groups())
            return time, level, logger, event
        obj = _json(line)
        if obj is None:
            return None
        written = obj.get("time")
        return (
            str(written) if written is not None else None,
            str(obj.get("level", "")),
            str(obj.get("logger", "")),
            str(obj.get("event", "")),
        )
    return None


def _json(line: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _lines(records: list[_Record]) -> tuple[LogLine, ...]:
    return tuple(_line(r) for r in records)


def _line(record: _Record) -> LogLine:
    text = "\n".join(record.lines)
    head = record.lines[0]
    values: dict[str, Any] = {}
    if record.head is None:
        pass
    elif head.startswith("{"):
        values = _json(head) or {}
    else:
        values = {key: _unquote(value) for key, value in _PAIR.findall(head)}
    if record.head is not None and len(record.lines) > 1:
        values["exception"] = "\n".join(record.lines[1:])
    time = values.pop("time", None)
    instant = None
    if isinstance(time, str):
        with contextlib.suppress(ValueError, OverflowError):
            instant = parse_instant(time)
    return LogLine(
        time=instant,
        level=str(values.pop("level", "")),
        logger=str(values.pop("logger", "")),
        event=str(values.pop("event", "")),
        message=str(values.pop("msg", "") if record.head is not None else head),
        fields=values,
        text=text,
    )
