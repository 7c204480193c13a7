"""The daemon's log, written and read back: ``symbi logs`` and ``GET /api/v1/logs``.

The daemon writes one line per record to stderr and to a rotated file (``[log] path``, default
``<data dir>/daemon.log``; ``[log] max_bytes`` and ``backup_count``), in logfmt or JSON
(``[log] format``), from ``[log] level`` up, with every secret it knows masked. The pieces:
``_format`` (the two line formats and the secret mask), ``_handler`` (the private, rotated file),
``_query`` (which lines a reader wants: component, level, since) and ``_read`` (the last lines
wanted, or those after a cursor, across rotations).
"""

from __future__ import annotations

__all__ = [
    "COMPONENTS",
    "LEVELS",
    "START",
    "JsonFormatter",
    "LogLine",
    "LogPage",
    "LogQuery",
    "PrivateRotatingFileHandler",
    "SecretMask",
    "TextFormatter",
    "attach_file",
    "component_matches",
    "format_time",
    "formatter",
    "is_cursor",
    "log_files",
    "mask_secrets",
    "parse_component",
    "parse_level",
    "parse_since",
    "read_log",
]

from ._format import (
    JsonFormatter,
    SecretMask,
    TextFormatter,
    format_time,
    formatter,
    mask_secrets,
)
from ._handler import PrivateRotatingFileHandler, attach_file
from ._query import (
    COMPONENTS,
    LEVELS,
    LogQuery,
    component_matches,
    parse_component,
    parse_level,
    parse_since,
)
from ._read import START, LogLine, LogPage, is_cursor, log_files, read_log
