"""How a log record is written: one logfmt (text) or JSON line, with every known secret masked.

Both formats start with the same keys in the same order (``time``, ``level``, ``logger``,
``event``), so :mod:`._read` can filter a line by its head without parsing the rest of it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ..textsafe import visible

#: a secret shorter than this is not masked (it would mask ordinary words)
MIN_SECRET_CHARS = 8
MASK = "****"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, Mapping) else {}


def format_time(instant: datetime) -> str:
    """``2026-03-02T09:00:00.123Z``: UTC, milliseconds, fixed width (so lines sort by text)."""
    instant = instant.astimezone(UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def _when(record: logging.LogRecord) -> str:
    return format_time(datetime.fromtimestamp(record.created, UTC))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, msg and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _when(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", record.name),
            "msg": record.getMessage(),
        }
        for key, value in _fields(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """logfmt: ``time=... level=info logger=symbi.events event=run.succeeded job=backup ...
    msg="..."``; a traceback follows on the next lines."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            f"time={_when(record)}",
            f"level={_logfmt(record.levelname.lower())}",
            f"logger={_logfmt(record.name)}",
            f"event={_logfmt(getattr(record, 'event', record.name))}",
        ]
        for key, value in _fields(record).items():
            if value is None:
                continue
            parts.append(f"{key}={_logfmt(value)}")
        parts.append(f"msg={_logfmt(record.getMessage())}")
        line = " ".join(parts)
        if record.exc_info:  # (an exception's message may hold an agent's text)
            line += "\n" + visible(self.formatException(record.exc_info))
        return line


def _logfmt(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text and text.isprintable() and not any(c in text for c in ' "=\\'):
        return text
    return json.dumps(text)  # (ASCII: a control character is written \u001b, never raw)


class SecretMask:
    """The secrets the daemon knows (API keys, delivery tokens): replaced by ``****`` in every
    line it writes, whatever put them there (an agent's error message, a traceback)."""

    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, values: Iterable[str | None]) -> None:
        forms = set(self._secrets)
        for value in values:
            if not value or len(value) < MIN_SECRET_CHARS:
                continue
            forms.add(value)
            forms.add(json.dumps(value)[1:-1])  # as a JSON or logfmt string writes it
        with self._lock:
            self._secrets = tuple(sorted(forms, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


#: the secrets every daemon log line is cleaned of (:func:`mask_secrets` adds to it)
SECRETS = SecretMask()


def mask_secrets(values: Iterable[str | None]) -> None:
    """Never write these in a log line (each at least 8 characters long)."""
    SECRETS.add(values)


class MaskingFormatter(logging.Formatter):
    """``inner``'s line with the known secrets masked."""

    def __init__(self, inner: logging.Formatter, mask: SecretMask = SECRETS) -> None:
        super().__init__()
        self.inner = inner
        self.mask = mask

    def format(self, record: logging.LogRecord) -> str:
        return self.mask(self.inner.format(record))


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``log_format`` ("text" or "json"), masking secrets."""
    if log_format not in ("text", "json"):
        raise ValueError(f"log format {log_format!r} is not text or json")
    return MaskingFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
