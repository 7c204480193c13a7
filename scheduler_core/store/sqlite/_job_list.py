"""The jobs list on SQLite: a page of jobs, filtered and sorted, and their total.

The page is read through the index its order has; a filter that matches few jobs fetches and
sorts them instead; the text filter is answered from the names held in memory
(:class:`~scheduler_core.store.text_index.JobTextIndex`). Totals, and the jobs per status, are
counted again only after a commit (the operator pages and sorts while the scheduler is idle);
a total without a status filter only once jobs were added, removed, renamed or re-agented.
A cursor (``JobQuery.after``) is answered from the order's index range, at any depth.
"""

from __future__ import annotations

__all__ = ["JobListing"]

import json
import sqlite3
from typing import Any

from ...model import JobDefinition
from .._queries import JOB_ORDERS, Params, job_filters, job_segments, page_cursor, where_clause
from .._rows import JOB_COLUMNS
from ..base import JobPage, JobQuery
from ..text_index import JobTextIndex
from ._sql import instant, job_of

#: at most this many matches are found first and sorted
_FEW = 2000
#: jobs kept built from their rows (a page shown again, polled, or walked by two clients)
_KEEP = 2048


def _version(conn: sqlite3.Connection) -> tuple[int, int]:
    """Where the store is at: data_version moves with other connections' commits (the writer's
    included), total_changes with this one's (the reader is the writer for ``:memory:``)."""
    return conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes


class JobListing:
    """``list_jobs`` and ``count_jobs``' reads, run on the reading connection, and what they
    keep between calls."""

    def __init__(self, index: JobTextIndex) -> None:
        self.index = index  #: names and agents, for the text filter
        #: list_jobs totals: (where, params) -> ((data version, changes), total)
        self._totals: dict[tuple[object, ...], tuple[tuple[int, int], int]] = {}
        #: jobs by their whole row: a row read again, unchanged in every column, is not built
        #: again (building is most of a page's cost); emptied when full
        self._built: dict[tuple[Any, ...], JobDefinition] = {}

    def status_rows(self, conn: sqlite3.Connection) -> list[Any]:
        """(status, count) rows of the jobs (health asks every tick), as the triggers of
        ``job_counts`` keep them: a few rows, whatever the number of jobs."""
        return conn.execute("SELECT status, jobs FROM job_counts WHERE jobs != 0").fetchall()

    def page(self, conn: sqlite3.Connection, query: JobQuery) -> JobPage:
        p = Params("?")
        where = job_filters(p, query)
        params = p.values
        others, other_params = list(where), list(params)  #: the filters besides the text
        if query.text:
            # LIKE folds ASCII case as lower() does, at half the cost of instr(lower(...))
            text = query.text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append("(name LIKE ? ESCAPE '\\' OR agent LIKE ? ESCAPE '\\')")
            params += [f"%{text}%", f"%{text}%"]
        clause = where_clause(where)
        column = JOB_ORDERS.get(query.order, "name")
        direction = "DESC" if query.descending else "ASC"
        # NULLs last going up and first going down (the exact reverse), as an index on
        # (column IS NULL, column, name) reads; NOT NULL columns have no NULL term, so their
        # (column, name) indexes serve the order and a page is read without sorting the table
        nullable = column in ("next_run_at", "last_run_at")
        terms = [f"{column} IS NULL", column] if nullable else [column]
        terms += ["name"] if column != "name" else []
        order = ", ".join(f"{term} {direction}" for term in terms)
        # the same order, which no index can serve: for a few matches, sorted once found
        sorted_order = ", ".join(f"+{term} {direction}" for term in terms)
        totals = self._totals
        key = (clause, *params)
        index = self.index

        after = query.after
        want = query.limit + 1  #: one more than a page: whether a next page exists

        def sorted_page(source: str, values: list[Any]) -> list[Any]:
            """A page of the few jobs ``source`` selects (by id), sorted once found."""
            if after is not None:
                return keyset_rows([source], values, unindexed=True)
            return conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE {source} "
                f"ORDER BY {sorted_order} LIMIT ? OFFSET ?",
                [*values, want, query.offset],
            ).fetchall()

        def keyset_rows(conditions: list[str], values: list[Any], *, unindexed: bool) -> list[Any]:
            """The jobs after the cursor: each run of the order read from its index range
            (or sorted, ``unindexed``) until a page and one more are found."""
            assert after is not None
            rows: list[Any] = []
            runs = job_segments(
                query, after, is_null=_is_null, value_in=_as_is, unindexed=unindexed
            )
            for run in runs:
                p = Params("?")
                p.values.extend(values)
                sql = run.sql(p, conditions, JOB_COLUMNS, want - len(rows))
                rows += conn.execute(sql, p.values).fetchall()
                if len(rows) >= want:
                    break
            return rows

        found: list[int] | None = None
        total: int | None = None
        if query.agent is None and not query.text:
            # every job, or one status: read from job_counts, which triggers keep in the
            # transaction of every change (a million jobs are not counted again after a commit)
            status = None if query.status is None else query.status.value
            total = _counted(conn, status)
            version: tuple[int, int] = (0, 0)
        else:
            # a total without a status filter changes only when jobs come, go, or change name
            # or agent, each of which job_text_log records: the scheduler's own commits
            # (claims, finished runs, lease renewals) leave it
            version = _version(conn) if query.status is not None else _log_version(conn)
            known = totals.get(key)
            total = known[1] if known is not None and known[0] == version else None
        #: the table as the count and rowid reads name it: while the names are read into
        #: memory apart, a text filter is answered by one pass over the (agent, name) index
        source_table = "jobs"
        if query.text and not index.refresh(conn):
            if query.status is None:
                source_table = "jobs INDEXED BY jobs_agent"
        elif query.text:
            # the text's matches from the names held in memory, not a scan of every job
            ids = index.search(query.text, _FEW)
            if ids is not None:
                source = "id IN (SELECT value FROM json_each(?))"
                source += "".join(f" AND {term}" for term in others)
                values = [json.dumps(ids), *other_params]
                if total is None:
                    total = (
                        conn.execute(
                            f"SELECT count(*) FROM jobs WHERE {source}", values
                        ).fetchone()[0]
                        if others
                        else len(ids)
                    )
                if len(totals) > 256:
                    totals.clear()
                totals[key] = (version, total)
                rows = sorted_page(source, values) if query.offset < total else []
                return self._page(query, rows, total)
            if total is None and not others:
                total = index.count(query.text)
        if total is None and where:
            # one pass over the filter's index: the matches' rowids if they are few, else
            # the proof that they are many, counted then
            rowids = conn.execute(
                f"SELECT rowid FROM {source_table} {clause} LIMIT {_FEW + 1}", params
            ).fetchall()
            if len(rowids) <= _FEW:
                found = [r[0] for r in rowids]
                total = len(found)
            else:
                count = conn.execute(f"SELECT count(*) FROM {source_table} {clause}", params)
                total = count.fetchone()[0]
        elif total is None:
            total = conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        if len(totals) > 256:
            totals.clear()
        totals[key] = (version, total)
        if query.offset >= total and after is None:
            rows = []
        elif where and total <= _FEW:
            # a few matches: fetch and sort them, rather than walk an order index past
            # all the jobs that do not match
            if found is None:
                rows = sorted_page(f"rowid IN (SELECT rowid FROM {source_table} {clause})", params)
            else:
                rows = sorted_page("rowid IN (SELECT value FROM json_each(?))", [json.dumps(found)])
        elif after is not None:
            rows = keyset_rows(where, params, unindexed=False)
        else:
            rows = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs {clause} ORDER BY {order} LIMIT ? OFFSET ?",
                [*params, want, query.offset],
            ).fetchall()
        return self._page(query, rows, total)

    def _page(self, query: JobQuery, rows: list[Any], total: int) -> JobPage:
        """The page of ``rows`` (up to one more than the limit: then a next page exists)."""
        if len(rows) > query.limit:
            del rows[query.limit :]
            cursor = page_cursor(query, rows[-1], str)
        else:
            cursor = None
        if query.encode is not None:
            encode = query.encode
            return JobPage(
                jobs=[], total=total, next_cursor=cursor, encoded=[encode(r, instant) for r in rows]
            )
        built = self._built
        if len(built) > _KEEP:
            built.clear()
        jobs = []
        for row in rows:
            job = built.get(row)
            if job is None:
                job = built[row] = job_of(row)
            jobs.append(job)
        return JobPage(jobs=jobs, total=total, next_cursor=cursor)


def _counted(conn: sqlite3.Connection, status: str | None) -> int:
    """The jobs of ``status`` (None: every job), from the triggers' ``job_counts``."""
    if status is None:
        return int(conn.execute("SELECT coalesce(sum(jobs), 0) FROM job_counts").fetchone()[0])
    row = conn.execute("SELECT jobs FROM job_counts WHERE status = ?", (status,)).fetchone()
    return int(row[0]) if row is not None else 0


def _log_version(conn: sqlite3.Connection) -> tuple[int, int]:
    """Where job_text_log is at (its newest entry; -1 in the second place tells it from a
    data version): it moves with every job added, removed, renamed or moved to another agent."""
    return conn.execute("SELECT max(seq) FROM job_text_log").fetchone()[0] or 0, -1


def _is_null(column: str, yes: bool) -> str:
    """A nullable order column's NULLs (``yes``) or values, as its index
    ``(column IS NULL, column, name)`` answers with a range."""
    return f"({column} IS NULL) = 1 AND {column} IS NULL" if yes else f"({column} IS NULL) = 0"


def _as_is(column: str, value: str | int) -> str | int:
    """A cursor value as SQLite compares it (instants are stored as the cursor's text)."""
    return value
