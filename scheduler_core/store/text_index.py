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

A search reads blocks: the texts of up to 20,000 jobs joined by newlines in one string, with
their ids in the same order, so a text that few jobs match is found by ``str.find`` running over
each block in C (12-17 ms for 1,000,000 jobs, against 30-35 ms to test each job's text), a
match's id found by counting the newlines before it. Jobs changed since the blocks were made (and
the rare text holding a newline) are searched apart, their place in the blocks skipped, until
there are many of them.
"""

from __future__ import annotations

__all__ = ["JobTextIndex"]

import itertools
import operator
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from itertools import repeat

#: jobs read per statement by the build apart (the event loop's thread gets the GIL between),
#: and jobs per block searched
_CHUNK = 20_000
#: jobs changed since the blocks were made, searched apart, before the blocks are made again
_CHANGED = 20_000

#: (the ids of a block's jobs, their texts joined by newlines, in the same order)
_Block = tuple[tuple[str, ...], str]


def _add_block(
    blocks: list[_Block], apart: dict[str, str | None], ids: Sequence[str], values: Sequence[str]
) -> None:
    """The texts ``values`` of the jobs ``ids`` as one block; a text holding a newline (it
    would be two lines) is kept in ``apart`` instead."""
    joined = "\n".join(values)
    if joined.count("\n") != len(values) - 1:
        pairs = list(zip(ids, values, strict=True))
        apart.update((job_id, text) for job_id, text in pairs if "\n" in text)
        ids = [job_id for job_id, text in pairs if "\n" not in text]
        joined = "\n".join(text for _, text in pairs if "\n" not in text)
    if ids:
        blocks.append((tuple(ids), joined))


def _blocks_of(texts: dict[str, str]) -> tuple[list[_Block], dict[str, str | None]]:
    """``texts`` as blocks, and the texts searched apart."""
    blocks: list[_Block] = []
    apart: dict[str, str | None] = {}
    items = iter(texts.items())
    while chunk := list(itertools.islice(items, _CHUNK)):
        _add_block(blocks, apart, [i for i, _ in chunk], [t for _, t in chunk])
    return blocks, apart


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
        #: the texts as blocks (None: to be made at the next search), and the jobs searched
        #: apart from them (changed since, or holding a newline): id -> text (None: gone)
        self._blocks: list[_Block] | None = None
        self._apart: dict[str, str | None] = {}
        self._seq: int | None = None  #: the last log entry applied (None: never built)
        self._path = path
        self._thread: threading.Thread | None = None  #: the build apart, while it runs
        self._lock = threading.Lock()
        #: what the build apart read: (texts, the last log entry they include, their blocks,
        #: the texts apart from the blocks)
        self._handed: tuple[dict[str, str], int, list[_Block], dict[str, str | None]] | None = None
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
            blocks: list[_Block] = []
            apart: dict[str, str | None] = {}
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
                        self._handed = (texts, last, blocks, apart)
                    break
                lowered = lines.lower()
                keys, values = ids.split("\n"), lowered.split("\n")
                if len(keys) == len(values) == count:
                    texts.update(zip(keys, values, strict=True))
                    blocks.append((tuple(keys), lowered))  # (the block, as read)
                else:  # a newline in an id, name or agent: row by row
                    keys, values = [], []
                    for job_id, name, agent in conn.execute(
                        f"SELECT id, name, agent FROM jobs {after} ORDER BY rowid LIMIT ?",
                        (_CHUNK,),
                    ):
                        keys.append(job_id)
                        values.append(texts.setdefault(job_id, f"{name}\t{agent}".lower()))
                    _add_block(blocks, apart, keys, values)
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
                self._texts, self._seq, self._blocks, self._apart = handed
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
        apart = self._apart
        for start in range(0, len(changed), 500):
            chunk = changed[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for job_id, name, agent in conn.execute(
                f"SELECT id, name, agent FROM jobs WHERE id IN ({marks})", chunk
            ):
                texts[job_id] = f"{name}\t{agent}".lower()
        if self._blocks is not None:
            # searched apart (their old texts in the blocks skipped) until they are many
            apart.update((job_id, texts.get(job_id)) for job_id in changed)
            if len(apart) > _CHANGED:
                self._blocks = None
        self._seq = last
        return True

    def _rebuild(self, conn: sqlite3.Connection, last: int) -> None:
        self._texts = {
            job_id: f"{name}\t{agent}".lower()
            for job_id, name, agent in conn.execute("SELECT id, name, agent FROM jobs")
        }
        self._blocks = None
        self._seq = last

    def search(self, text: str, limit: int | None = None) -> list[str] | None:
        """Ids of the jobs whose name or agent contains ``text``, ignoring ASCII case (as
        SQLite's LIKE does: names and agents are ASCII), in no particular order; None if more
        than ``limit`` do (found without listing them all: a list of a million ids held while
        the console allocates made its cycle collections follow every one, 50-90 ms a key)."""
        needle = text.lower()
        if "\t" in needle or "\n" in needle:
            return []  # names and agents hold neither, and a tab would join the two
        if not needle:
            texts = self._texts
            return list(texts) if limit is None or len(texts) <= limit else None
        if self._blocks is None:
            self._blocks, self._apart = _blocks_of(self._texts)
        found = list(itertools.islice(self._hits(needle), None if limit is None else limit + 1))
        return found if limit is None or len(found) <= limit else None

    def _hits(self, needle: str) -> Iterator[str]:
        """The ids of the jobs whose text holds ``needle`` (not empty): the blocks' (each job
        searched apart skipped there), then those apart."""
        assert self._blocks is not None
        apart = self._apart
        for ids, joined in self._blocks:
            find, newlines = joined.find, joined.count
            at = find(needle)
            line = 0
            start = 0  #: where line ``line`` starts
            while at >= 0:
                line += newlines("\n", start, at)
                job_id = ids[line]
                if not apart or job_id not in apart:
                    yield job_id
                end = find("\n", at)
                if end < 0:
                    break
                start = end + 1
                line += 1
                at = find(needle, start)
        for job_id, text in apart.items():
            if text is not None and needle in text:
                yield job_id

    def count(self, text: str) -> int:
        """How many jobs :meth:`search` finds (one pass, nothing listed)."""
        needle = text.lower()
        if "\t" in needle or "\n" in needle:
            return 0
        return sum(map(operator.contains, self._texts.values(), repeat(needle)))
