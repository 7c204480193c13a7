"""Job names and agents held in memory, for the substring filter of ``list_jobs``.

``name LIKE '%text%' OR agent LIKE '%text%'`` cannot use an index: SQLite reads every job to
find the few that match, 10-30 ms over 100,000 jobs, on every key typed into the console's
filter. Held here as one lowered ``"name\\tagent"`` string per job, the same question is a C loop
over a list of short strings (2-3 ms), and the matches' ids come with it.

The index follows the store through ``job_text_log``, which triggers fill with the id of every
job inserted, deleted, renamed or given another agent, in the transaction that does it (by this
process or any other). Before each search the index reads the log past the last entry it saw and
reads those jobs again; if the log was pruned past that entry (it keeps the latest 100,000), it
reads every job again.
"""

from __future__ import annotations

__all__ = ["JobTextIndex"]

import itertools
import operator
import sqlite3
import threading
from itertools import repeat

#: jobs read per statement by the build apart (the event loop's thread gets the GIL between)
_CHUNK = 20_000


class JobTextIndex:
    """Job id -> ``"name\\tagent"`` (lowered), in step with the ``jobs`` table.

    ``path``: the store's file, from which :meth:`start` reads every job on a thread of its own
    with a connection of its own (2-5 s at 1,000,000 jobs), so the reading connection the
    console's keys wait on is never held by it; until it is done :meth:`refresh` says the index
    is not ready and the caller searches another way. Without ``path`` (``:memory:``), or
    without :meth:`start`, the first :meth:`refresh` reads every job itself.
    """

    def __init__(self, path: str | None = None) -> None:
        self._texts: dict[str, str] = {}
        self._seq: int | None = None  #: the last log entry applied (None: never built)
        self._path = path
        self._thread: threading.Thread | None = None  #: the build apart, while it runs
        self._lock = threading.Lock()
        #: what the build apart read: (texts, the last log entry they include)
        self._handed: tuple[dict[str, str], int] | None = None
        self._stop = threading.Event()

    def __len__(self) -> int:
        return len(self._texts)

    @property
    def building(self) -> bool:
        """Whether the build apart is under way (its result not taken yet)."""
        thread = self._thread
        return self._seq is None and thread is not None and thread.is_alive()

    def start(self) -> threading.Thread | None:
        """Read every job on a thread of its own (once; nothing without a file); the thread
        (None if there is none to wait for)."""
        if self._path is None or self._seq is not None:
            return None
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._build_apart, args=(self._path,), name="symbi-text-index", daemon=True
            )
            self._thread.start()
        return self._thread

    def stop(self) -> None:
        """Let the build apart end early (the store is closing)."""
        self._stop.set()

    def _build_apart(self, path: str) -> None:
        try:
            conn = sqlite3.connect(path, check_same_thread=False)
        except sqlite3.Error:
            return  # the first refresh reads every job itself
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA query_only = ON")
            conn.execute("BEGIN")  # one snapshot: the jobs as of the log's last entry
            last = conn.execute("SELECT max(seq) FROM job_text_log").fetchone()[0] or 0
            texts: dict[str, str] = {}
            rowid = None
            while not self._stop.is_set():
                # a chunk as three strings, not 20,000 rows: no tuple for the cycle collector
                # to follow while the console runs (its full collections paused keys)
                after = "" if rowid is None else f"WHERE rowid > {int(rowid)}"
                count, ids, lines, rowid = conn.execute(
                    "SELECT count(*), group_concat(id, char(10)), "
                    "group_concat(name || char(9) || agent, char(10)), max(rowid) FROM "
                    f"(SELECT rowid, id, name, agent FROM jobs {after} ORDER BY rowid LIMIT ?)",
                    (_CHUNK,),
                ).fetchone()
                if not count:
                    with self._lock:
                        self._handed = (texts, last)
                    break
                keys, values = ids.split("\n"), lines.lower().split("\n")
                if len(keys) == len(values) == count:
                    texts.update(zip(keys, values, strict=True))
                else:  # a newline in an id, name or agent: row by row
                    for job_id, name, agent in conn.execute(
                        f"SELECT id, name, agent FROM jobs {after} ORDER BY rowid LIMIT ?",
                        (_CHUNK,),
                    ):
                        texts[job_id] = f"{name}\t{agent}".lower()
            conn.execute("COMMIT")
        except sqlite3.Error:
            pass  # the first refresh after it reads every job itself
        finally:
            conn.close()

    def refresh(self, conn: sqlite3.Connection) -> bool:
        """Apply what the log recorded since the last refresh, or read every job again;
        False (nothing done) while the build apart is under way."""
        if self._seq is None and self._thread is not None:
            with self._lock:
                handed, self._handed = self._handed, None
            if handed is not None:
                self._texts, self._seq = handed
                self._thread = None
            elif self._thread.is_alive():
                return False
            else:
                self._thread = None  # it failed: read every job here
        first, last = conn.execute("SELECT min(seq), max(seq) FROM job_text_log").fetchone()
        seen = self._seq
        if seen is not None and (last or 0) == seen:
            return True  # nothing changed (the usual case: one indexed read)
        if seen is None or (first is not None and first > seen + 1) or seen > (last or 0):
            self._rebuild(conn, last or 0)
            return True
        changed = [
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT job_id FROM job_text_log WHERE seq > ? AND seq <= ?", (seen, last)
            )
        ]
        texts = self._texts
        for job_id in changed:
            texts.pop(job_id, None)
        for start in range(0, len(changed), 500):
            chunk = changed[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for job_id, name, agent in conn.execute(
                f"SELECT id, name, agent FROM jobs WHERE id IN ({marks})", chunk
            ):
                texts[job_id] = f"{name}\t{agent}".lower()
        self._seq = last
        return True

    def _rebuild(self, conn: sqlite3.Connection, last: int) -> None:
        self._texts = {
            job_id: f"{name}\t{agent}".lower()
            for job_id, name, agent in conn.execute("SELECT id, name, agent FROM jobs")
        }
        self._seq = last

    def search(self, text: str, limit: int | None = None) -> list[str] | None:
        """Ids of the jobs whose name or agent contains ``text``, ignoring ASCII case (as
        SQLite's LIKE does: names and agents are ASCII), in no particular order; None if more
        than ``limit`` do (found without listing them all: a list of a million ids held while
        the console allocates made its cycle collections follow every one, 50-90 ms a key)."""
        needle = text.lower()
        if "\t" in needle or "\n" in needle:
            return []  # names and agents hold neither, and a tab would join the two
        texts = self._texts
        hits = itertools.compress(texts, map(operator.contains, texts.values(), repeat(needle)))
        if limit is None:
            return list(hits)
        found = list(itertools.islice(hits, limit + 1))
        return found if len(found) <= limit else None

    def count(self, text: str) -> int:
        """How many jobs :meth:`search` finds (one pass, nothing listed)."""
        needle = text.lower()
        if "\t" in needle or "\n" in needle:
            return 0
        return sum(map(operator.contains, self._texts.values(), repeat(needle)))
