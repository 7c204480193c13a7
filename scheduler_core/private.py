"""The daemon's files are its owner's alone: 0700 directories, 0600 files.

Why: the store holds job definitions (webhook headers, AgentPin tokens), run output and audit
events; the log, the API key file and shared contexts are no less private. A process that
writes them sets a umask of 077 when it starts (:func:`private_umask`), each file we create is
made 0600 whatever the umask, and start-up reports existing files others can read or write,
with the command that fixes each (:func:`loose_files`). Files are never chmod-ed behind the
operator's back: a mode someone chose is theirs to change.

Agents do not inherit the 077: they run with the umask the process had before
(:func:`agent_umask`), so what they write for others stays readable.
"""

from __future__ import annotations

__all__ = [
    "PRIVATE_UMASK",
    "LooseFile",
    "agent_umask",
    "create_private_file",
    "loose_files",
    "private_umask",
]

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from .records import record
from .settings import SchedulerConfig

PRIVATE_UMASK = 0o077
_original: int | None = None


def private_umask() -> int:
    """Set the process's umask to 077 (once); returns the umask it had before."""
    global _original
    previous = os.umask(PRIVATE_UMASK)
    if _original is None:
        _original = previous
    return _original


def agent_umask() -> int | None:
    """The umask an agent's process gets: the one before :func:`private_umask`, or None (the
    process's own, when it was never changed)."""
    return _original


def create_private_file(path: str | Path) -> bool:
    """Create ``path`` empty with mode 0600 if it does not exist (so that what opens it next,
    SQLite for one, keeps that mode); True if it was created here."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return False
    os.close(fd)
    return True


@record
class LooseFile:
    """A file or directory of ours that others may read or write."""

    path: Path
    mode: int
    directory: bool

    @property
    def fix(self) -> str:
        return f"chmod {'700' if self.directory else '600'} {self.path}"

    def __str__(self) -> str:
        kind = "directory" if self.directory else "file"
        return (
            f"{self.path}: this {kind} is open to other users (mode {self.mode:04o}); "
            f"fix it with: {self.fix}"
        )


def _check(path: Path) -> LooseFile | None:
    try:
        st = path.lstat()
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return None  # what a link points to is checked where it is named itself
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077 and st.st_uid == os.getuid():
        return LooseFile(path, mode, stat.S_ISDIR(st.st_mode))
    return None


def _sqlite_files(url: str) -> list[Path]:
    if url == ":memory:" or "://" in url or url.startswith("file:"):
        return []
    db = Path(url).expanduser()
    return [db, Path(f"{db}-wal"), Path(f"{db}-shm")]


def loose_files(config: SchedulerConfig, store_url: str | None = None) -> list[LooseFile]:
    """Our files that others may read or write: the data directory and what is in it (the
    store, its -wal and -shm, the log and its rotations, the API key, the agents' records)."""
    data = config.resolved_data_dir()
    log = config.log_path()
    candidates: list[Path] = [
        data,
        data / "agents",
        data / "api-key",
        data / "console-stdout.log",
        *_sqlite_files(store_url or config.store_url()),
    ]
    if config.log.file:
        candidates.append(log)
        candidates.extend(Path(f"{log}.{i}") for i in range(1, config.log.backup_count + 1))
    found: list[LooseFile] = []
    for path in _unique(candidates):
        loose = _check(path)
        if loose is not None:
            found.append(loose)
    return found


def _unique(paths: Iterable[Path]) -> list[Path]:
    seen: set[Path] = set()
    out: list[Path] = []
    for p in paths:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out
