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


class JobTextIndex:
    """Job id -> ``"name\\tagent"`` (lowered), in step with the ``jobs`` table."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}
        self._seq: int | None = None  #: the last log entry applied (None: never built)

    def __len__(self) -> int:
        return len(self._texts)

    def refresh(self, conn: sqlite3.Connection) -> None:
        """Apply what the log recorded since the last refresh, or read every job again."""
        first, last = conn.execute("SELECT min(seq), max(seq) FROM job_text_log").fetchone()
        seen = self._seq
        if seen is not None and (last or 0) == seen:
            return  # nothing changed (the usual case: one indexed read)
        if seen is None or (first is not None and first > seen + 1) or seen > (last or 0):
            self._rebuild(conn, last or 0)
            return
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

    def _rebuild(self, conn: sqlite3.Connection, last: int) -> None:
        self._texts = {
            job_id: f"{name}\t{agent}".lower()
            for job_id, name, agent in conn.execute("SELECT id, name, agent FROM jobs")
        }
        self._seq = last

    def search(self, text: str) -> list[str]:
        """Ids of the jobs whose name or agent contains ``text``, ignoring ASCII case (as
        SQLite's LIKE does: names and agents are ASCII), in no particular order."""
        needle = text.lower()
        if "\t" in needle or "\n" in needle:
            return []  # names and agents hold neither, and a tab would join the two
        texts = self._texts
        hits = map(operator.contains, texts.values(), itertools.repeat(needle))
        return list(itertools.compress(texts, hits))
