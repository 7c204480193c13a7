"""The daemon's log file: rotated by size, private to its owner, quiet when it cannot be written.

The size is the file's on disk, and a rotation made by another process (a standby daemon on the
same data dir) is followed rather than repeated, so lines stay in order across the files. A
write that fails (a full disk, a read-only mount) says so once on stderr, not once per line
with a traceback as ``logging`` would (a log that grows while the disk is full makes things
worse), and once more when writing works again.
"""

from __future__ import annotations

import contextlib
import io
import logging
import logging.handlers
import os
import sys
from pathlib import Path

from ._format import formatter


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A :class:`~logging.handlers.RotatingFileHandler` whose files are ``0600`` in a ``0700``
    directory (they may hold agents' error messages), reporting write failures once."""

    def __init__(self, path: Path, *, max_bytes: int, backup_count: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._failing: BaseException | None = None
        self._error: BaseException | None = None
        super().__init__(
            path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8", delay=False
        )

    def _open(self) -> io.TextIOWrapper:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.baseFilename, flags | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            os.fchmod(fd, 0o600)  # a file left by an older version may be wider
        except OSError:
            pass
        return io.TextIOWrapper(os.fdopen(fd, "ab"), encoding=self.encoding, errors=self.errors)

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        """By the file's size on disk, after following a rotation another process made (a
        standby daemon on the same data dir writes the same file): its lines stay in order."""
        if self.maxBytes <= 0:
            return False
        try:
            if self.stream is None:
                self.stream = self._open()
            disk = os.stat(self.baseFilename)
            mine = os.fstat(self.stream.fileno())
            if (disk.st_ino, disk.st_dev) != (mine.st_ino, mine.st_dev):
                self.stream.close()
                self.stream = self._open()
        except OSError:
            return False
        size = len((self.format(record) + "\n").encode(self.encoding or "utf-8", "replace"))
        return disk.st_size > 0 and disk.st_size + size > self.maxBytes

    def emit(self, record: logging.LogRecord) -> None:
        self._error = None
        super().emit(record)
        if self._error is None and self._failing is not None:
            self._failing = None
            _say(f"the log file {self.baseFilename} can be written again")

    def handleError(self, record: logging.LogRecord) -> None:
        self._error = sys.exc_info()[1] or RuntimeError("unknown error")
        # drop what is buffered (it would be retried, and pile up, on every write); the next
        # record opens the file afresh
        stream, self.stream = self.stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        if self._failing is None:
            self._failing = self._error
            reason = getattr(self._error, "strerror", None) or self._error
            _say(
                f"cannot write the log file {self.baseFilename}: {reason}; its lines are lost "
                "until it can be written again (stderr still has them)"
            )


def _say(message: str) -> None:
    try:
        sys.stderr.write(f"symbi: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def attach_file(
    path: Path, *, log_format: str, max_bytes: int, backup_count: int
) -> PrivateRotatingFileHandler:
    """Send every record the root logger passes on to ``path`` too (OSError if it cannot be
    opened)."""
    handler = PrivateRotatingFileHandler(path, max_bytes=max_bytes, backup_count=backup_count)
    handler.setFormatter(formatter(log_format))
    logging.getLogger().addHandler(handler)
    return handler
