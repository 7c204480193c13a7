"""The ``log_file`` channel: one append-only JSON Lines file per job, rotated by size.

Where: ``[scheduler.delivery] log_dir`` (default ``<data dir>/logs``), created ``0700``; files
are created ``0600`` (agent output may be sensitive).

File name: the job's name made safe (:func:`safe_filename`) + ``.jsonl``. Letters, digits,
``.``, ``_`` and ``-`` are kept, every other run of characters (``/``, ``\\``, NUL, control
characters, spaces, non-ASCII) becomes ``_``, runs of dots and underscores become one ``_`` (no
``..``), leading and trailing ``.``/``_``/``-`` are dropped (no hidden files), the length is
capped; when anything was changed, 8 hex digits of the name's
SHA-256 are appended (also to a name that already ends like that) so two different names never
share a file. The resolved path must lie
directly in the log directory (a symlink pointing elsewhere is refused, and the file is opened
with ``O_NOFOLLOW``), so no job name can write outside it.

Format, decided: JSON Lines, one object per delivered run, so a record can never be forged or
split by what the agent printed and ``jq`` reads it (``jq -r .output daily-report.jsonl``)::

    {"ts": "...Z", "job_id": "...", "job_name": "daily-report", "agent_id": "...",
     "run_id": "...", "status": "succeeded", "trigger": "schedule", "attempt": 1,
     "scheduled_for": "...Z", "started_at": "...Z", "finished_at": "...Z",
     "execution_time_ms": 850, "error_message": null, "summary": null, "output": "..."}

A failure alert's record also has ``"event"`` (``"cron.run.failed"``, ``"cron.job.dead_lettered"``)
and the alert's text as its ``output``.

Non-ASCII text is kept readable; the characters some readers treat as line breaks (U+0085,
U+2028, U+2029) are escaped so that every record is exactly one line.

Rotation (like ``logging.handlers.RotatingFileHandler``): before a record would take the file
past ``log_max_bytes``, ``name.jsonl`` becomes ``name.jsonl.1`` (``.1`` -> ``.2`` ...), keeping
``log_backup_count`` backups; with 0 backups the file is started afresh. A record larger than
``log_max_bytes`` on its own is still written, alone in a fresh file. ``log_max_bytes = 0``
disables rotation.
"""

from __future__ import annotations

__all__ = ["LogFileRouter", "safe_filename"]

import asyncio
import hashlib
import json
import os
import re
import threading
import unicodedata
from pathlib import Path
from typing import Any

from ..model import JobDefinition, JobRun
from .base import (
    RUN_FINISHED,
    Delivered,
    DeliveryContext,
    DeliveryFailure,
    delivery_event,
    run_document,
)

SUFFIX = ".jsonl"
_MAX_STEM = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_HASHED = re.compile(r"-[0-9a-f]{8}$")  # looks like a changed name's stem: hash it too
_SEPARATORS = re.compile(r"[._]{2,}")  # "..", "_._" ...: one "_"
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)
_LINE_BREAKS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def safe_filename(name: str) -> str:
    """A file stem for job ``name`` that is one plain path component, unique per name."""
    text = unicodedata.normalize("NFKC", name)
    stem = _UNSAFE.sub("_", text)
    stem = _SEPARATORS.sub("_", stem).strip("._-")[:_MAX_STEM].strip("._-")
    if not stem or stem.split(".")[0].lower() in _RESERVED:
        stem = f"job_{stem}" if stem else "job"
    if stem != name or _HASHED.search(stem):
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        stem = f"{stem}-{digest}"
    return stem


def _record_line(record: dict[str, Any]) -> bytes:
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in _LINE_BREAKS.items():
        text = text.replace(raw, escaped)
    return (text + "\n").encode("utf-8", "surrogatepass")


def _rotate(path: Path, backups: int) -> None:
    if backups <= 0:
        path.unlink(missing_ok=True)
        return
    for i in range(backups - 1, 0, -1):
        src = path.with_name(f"{path.name}.{i}")
        if src.exists() or src.is_symlink():
            os.replace(src, path.with_name(f"{path.name}.{i + 1}"))
    os.replace(path, path.with_name(f"{path.name}.1"))


def _append(path: Path, data: bytes, max_bytes: int, backups: int) -> bool:
    """Append ``data`` to ``path``, rotating first if needed; whether it rotated."""
    rotated = False
    if max_bytes > 0:
        try:
            size = os.lstat(path).st_size
        except FileNotFoundError:
            size = 0
        if size > 0 and size + len(data) > max_bytes:
            _rotate(path, backups)
            rotated = True
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)
    return rotated


class LogFileRouter:
    """Appends each run to its job's JSON Lines file under the log directory."""

    timeout_seconds = 60.0

    def __init__(self, context: DeliveryContext) -> None:
        self.context = context
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()

    def path_for(self, job: JobDefinition) -> Path:
        """The job's log file; DeliveryFailure if it would not lie inside the log directory."""
        directory = self.context.log_dir
        root = directory.resolve()
        path = root / f"{safe_filename(job.name)}{SUFFIX}"
        resolved = path.resolve()
        if resolved.parent != root or path.parent != root:
            raise DeliveryFailure(
                f"the log file for job {job.name!r} would lie outside {root}", attempts=0
            )
        return path

    def _lock(self, path: Path) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(path, threading.Lock())

    def _write(self, job: JobDefinition, record: dict[str, Any]) -> dict[str, Any]:
        directory = self.context.log_dir
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.path_for(job)
        data = _record_line(record)
        cfg = self.context.config
        with self._lock(path):
            rotated = _append(path, data, cfg.log_max_bytes, cfg.log_backup_count)
        return {"path": str(path), "bytes": len(data), "rotated": rotated}

    async def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> Delivered:
        run_doc = run_document(run)
        record: dict[str, Any] = {
            "ts": self.context.now().isoformat().replace("+00:00", "Z"),
            "job_id": job.id,
            "job_name": job.name,
            "agent_id": run.agent_id or job.agent,
            "run_id": run_doc.pop("id"),
        }
        run_doc.pop("job_id")
        record.update(run_doc)
        record["output"] = output
        if (event := delivery_event.get()) != RUN_FINISHED:
            record["event"] = event  # a failure alert, not the run's own output
        try:
            detail = await asyncio.to_thread(self._write, job, record)
        except DeliveryFailure:
            raise
        except OSError as exc:
            reason = exc.strerror or str(exc)
            where = f" ({exc.filename})" if exc.filename else ""
            raise DeliveryFailure(f"could not write the job's log file: {reason}{where}") from None
        return Delivered(attempts=1, detail=detail)
