"""The SQLite schema, as numbered migrations (``PRAGMA user_version`` records the last applied),
and ``migrate``, which applies those a store has not had yet."""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]

import sqlite3

from ...errors import StoreError

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE jobs (
        id              TEXT PRIMARY KEY,
        name            TEXT NOT NULL UNIQUE,
        agent           TEXT NOT NULL,
        status          TEXT NOT NULL,
        schedule        TEXT NOT NULL,
        timezone        TEXT NOT NULL,
        definition      TEXT NOT NULL,
        next_run_at     TEXT,
        last_run_at     TEXT,
        last_run_status TEXT,
        last_error      TEXT,
        run_count       INTEGER NOT NULL DEFAULT 0,
        failure_count   INTEGER NOT NULL DEFAULT 0,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        source          TEXT
    );
    -- due selection: only active jobs are indexed, ordered by their next instant
    CREATE INDEX jobs_due ON jobs(next_run_at) WHERE status = 'active';
    CREATE INDEX jobs_status ON jobs(status, name);
    CREATE INDEX jobs_agent ON jobs(agent, name);

    CREATE TABLE runs (
        seq               INTEGER PRIMARY KEY,
        id                TEXT NOT NULL UNIQUE,
        job_id            TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        job_name          TEXT NOT NULL,
        agent_id          TEXT NOT NULL,
        trigger           TEXT NOT NULL,
        scheduled_for     TEXT NOT NULL,
        due_at            TEXT,
        started_at        TEXT,
        finished_at       TEXT,
        status            TEXT NOT NULL,
        attempt           INTEGER NOT NULL,
        input             TEXT,
        output            TEXT,
        error_message     TEXT,
        summary           TEXT,
        execution_time_ms INTEGER,
        details           TEXT
    );
    -- no instant fires twice: one row per (job, instant, attempt), manual runs aside
    CREATE UNIQUE INDEX runs_instant ON runs(job_id, scheduled_for, attempt)
        WHERE trigger != 'manual';
    CREATE INDEX runs_job ON runs(job_id, seq);
    CREATE INDEX runs_job_status ON runs(job_id, status, seq);
    CREATE INDEX runs_open ON runs(status, due_at)
        WHERE status IN ('queued', 'running', 'awaiting_approval');

    CREATE TABLE heartbeat_iterations (
        run_id          TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        idx             INTEGER NOT NULL,
        started_at      TEXT NOT NULL,
        finished_at     TEXT,
        outcome         TEXT NOT NULL,
        assessment      TEXT,
        action          TEXT,
        summary         TEXT,
        output_excerpt  TEXT,
        PRIMARY KEY (run_id, idx)
    ) WITHOUT ROWID;

    CREATE TABLE agent_contexts (
        job_id      TEXT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
        mode        TEXT NOT NULL,
        summary     TEXT,
        memory      TEXT NOT NULL,
        size        INTEGER NOT NULL,
        updated_at  TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE approvals (
        run_id       TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        job_id       TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        expires_at   TEXT,
        approvers    TEXT NOT NULL,
        decision     TEXT,
        decided_by   TEXT,
        decided_at   TEXT,
        reason       TEXT
    ) WITHOUT ROWID;
    CREATE INDEX approvals_open ON approvals(expires_at) WHERE decision IS NULL;

    CREATE TABLE audit_events (
        seq      INTEGER PRIMARY KEY,
        at       TEXT NOT NULL,
        type     TEXT NOT NULL,
        actor    TEXT NOT NULL,
        job_id   TEXT,
        run_id   TEXT,
        details  TEXT
    );
    CREATE INDEX audit_at ON audit_events(at);
    CREATE INDEX audit_type ON audit_events(type, at);
    CREATE INDEX audit_job ON audit_events(job_id, at);

    CREATE TABLE lease (
        name         TEXT PRIMARY KEY,
        owner        TEXT NOT NULL,
        pid          INTEGER NOT NULL,
        host         TEXT NOT NULL,
        api_address  TEXT,
        acquired_at  TEXT NOT NULL,
        renewed_at   TEXT NOT NULL,
        expires_at   TEXT NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE run_stats (
        id                 INTEGER PRIMARY KEY CHECK (id = 1),
        runs_total         INTEGER NOT NULL,
        runs_succeeded     INTEGER NOT NULL,
        runs_failed        INTEGER NOT NULL,
        execution_ms_total INTEGER NOT NULL,
        executions         INTEGER NOT NULL
    );
    INSERT INTO run_stats VALUES (1, 0, 0, 0, 0, 0);
    """,
    # 2: SQLite cannot use a partial index on "status IN (...)" for "status = 'queued'", so the
    # queued-run selection scanned every run: replace it with a plain (status, due_at) index
    """
    DROP INDEX IF EXISTS runs_open;
    CREATE INDEX IF NOT EXISTS runs_status ON runs(status, due_at);
    """,
    # 3: every scheduler process announces itself (the lease holder and its standbys), and a run
    # records the process that claimed or started it: recovery asks whose runs belong to the dead
    """
    ALTER TABLE runs ADD COLUMN owner TEXT;
    CREATE TABLE nodes (
        owner        TEXT PRIMARY KEY,
        host         TEXT NOT NULL,
        pid          INTEGER NOT NULL,
        api_address  TEXT,
        role         TEXT NOT NULL,
        started_at   TEXT NOT NULL,
        heartbeat    TEXT NOT NULL,
        expires_at   TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 4: the console sorts 100,000 jobs by next run, last run or failures and reads a page of 100
    # from an index instead of sorting the table (list_jobs orders nullable columns NULLs last)
    """
    CREATE INDEX jobs_next_order ON jobs(next_run_at IS NULL, next_run_at, name);
    CREATE INDEX jobs_last_order ON jobs(last_run_at IS NULL, last_run_at, name);
    CREATE INDEX jobs_failures ON jobs(failure_count, name);
    """,
    # 5: the console's filter finds jobs by name or agent in memory (store/text_index.py); the
    # log tells every process's copy which jobs were added, removed, renamed or re-agented since
    # it last looked, and keeps the latest 100,000 entries
    """
    CREATE TABLE job_text_log (
        seq     INTEGER PRIMARY KEY,
        job_id  TEXT NOT NULL
    );
    CREATE TRIGGER jobs_text_insert AFTER INSERT ON jobs
    BEGIN
        INSERT INTO job_text_log (job_id) VALUES (new.id);
    END;
    CREATE TRIGGER jobs_text_delete AFTER DELETE ON jobs
    BEGIN
        INSERT INTO job_text_log (job_id) VALUES (old.id);
    END;
    CREATE TRIGGER jobs_text_update AFTER UPDATE OF id, name, agent ON jobs
    WHEN old.id IS NOT new.id OR old.name IS NOT new.name OR old.agent IS NOT new.agent
    BEGIN
        INSERT INTO job_text_log (job_id) VALUES (old.id);
        INSERT INTO job_text_log (job_id) VALUES (new.id);
    END;
    CREATE TRIGGER job_text_log_prune AFTER INSERT ON job_text_log WHEN new.seq % 10000 = 0
    BEGIN
        DELETE FROM job_text_log WHERE seq <= new.seq - 100000;
    END;
    """,
    # 6: a new job is logged by the store itself, in one statement per batch (the only two places
    # that insert jobs: SqliteJobStore.insert_jobs and upsert_jobs); the trigger cost 24 us a row,
    # two thirds of the insert of a bulk add. Removals, renames and agent changes keep theirs.
    """
    DROP TRIGGER jobs_text_insert;
    """,
    # 7: the lease records its holder's machine (kernel boot and pid namespace), so a dead holder
    # is told from a live one the same way on every store (scheduler_core/liveness.py)
    """
    ALTER TABLE lease ADD COLUMN machine TEXT;
    """,
    # 8: retention. Pruning walks runs by when they finished, iterations by when they started
    # (audit events have audit_at); entries a shared_persistent context's size cap drops are
    # archived (context_archive = true) and pruned with the runs
    """
    CREATE INDEX IF NOT EXISTS runs_finished ON runs(finished_at) WHERE finished_at IS NOT NULL;
    CREATE INDEX IF NOT EXISTS iterations_started ON heartbeat_iterations(started_at);
    CREATE TABLE IF NOT EXISTS context_archive (
        seq          INTEGER PRIMARY KEY,
        job_id       TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        run_id       TEXT,
        archived_at  TEXT NOT NULL,
        entry        TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS context_archive_job ON context_archive(job_id, seq);
    CREATE INDEX IF NOT EXISTS context_archive_at ON context_archive(archived_at);
    """,
    # 9: definitions registered with their schedules (``symbi cron add --file`` of a file with
    # agent blocks, locally or through a daemon), so every scheduler on the store knows them;
    # ``kind`` is "agent" (named policies will be "policy")
    """
    CREATE TABLE IF NOT EXISTS definitions (
        kind        TEXT NOT NULL,
        name        TEXT NOT NULL,
        definition  TEXT NOT NULL,
        source      TEXT,
        updated_at  TEXT NOT NULL,
        PRIMARY KEY (kind, name)
    );
    """,
    # 10: LLM cost per job and day (the day in the job's zone at the run's end): what its LLM runs'
    # tokens and cost add up to, added to in the finish transaction, so a job's budget check
    # before a run reads one row; and the same cost by when those days end (every job whose day
    # ends at that instant), so the global check reads a row per zone in use, not per job. Both
    # pruned by ends_at with the runs (no foreign key: a deleted job's spending counts today)
    """
    CREATE TABLE IF NOT EXISTS llm_cost_days (
        seq            INTEGER PRIMARY KEY,
        job_id         TEXT NOT NULL,
        day            TEXT NOT NULL,
        ends_at        TEXT NOT NULL,
        runs           INTEGER NOT NULL DEFAULT 0,
        input_tokens   INTEGER NOT NULL DEFAULT 0,
        output_tokens  INTEGER NOT NULL DEFAULT 0,
        cost_usd       REAL NOT NULL DEFAULT 0,
        unpriced_runs  INTEGER NOT NULL DEFAULT 0,
        UNIQUE (job_id, day)
    );
    CREATE INDEX IF NOT EXISTS llm_cost_days_ends ON llm_cost_days(ends_at);
    CREATE TABLE IF NOT EXISTS llm_cost_day_ends (
        seq       INTEGER PRIMARY KEY,
        ends_at   TEXT NOT NULL UNIQUE,
        runs      INTEGER NOT NULL DEFAULT 0,
        cost_usd  REAL NOT NULL DEFAULT 0
    );
    """,
    # 11: chains. ``jobs_after`` finds the jobs that come after a job (its followers) from the
    # ``after`` in their definitions, without a scan, inside the transaction that finishes the
    # job's run; a chained run is made once, by that fenced transaction, and stands for no
    # instant, so like a manual run it is left out of the one-run-per-instant rule (two runs of
    # the job it follows may succeed at the same instant)
    """
    CREATE INDEX IF NOT EXISTS jobs_after ON jobs(json_extract(definition, '$.after'))
        WHERE json_extract(definition, '$.after') IS NOT NULL;
    DROP INDEX IF EXISTS runs_instant;
    CREATE UNIQUE INDEX runs_instant ON runs(job_id, scheduled_for, attempt)
        WHERE trigger NOT IN ('manual', 'chain');
    """,
    # 12: the jobs per status, kept by triggers in the transaction that adds, removes or moves a
    # job (by this process or any other), so the console's counts and totals read a few rows
    # instead of counting a million jobs again after every commit (56-166 ms at 1,000,000 jobs).
    # The insert trigger adds 3-4 us to a row of a bulk add. A status that has no job keeps its
    # row at 0
    """
    CREATE TABLE IF NOT EXISTS job_counts (
        status  TEXT PRIMARY KEY,
        jobs    INTEGER NOT NULL
    ) WITHOUT ROWID;
    DELETE FROM job_counts;
    INSERT INTO job_counts (status, jobs) SELECT status, count(*) FROM jobs GROUP BY status;
    DROP TRIGGER IF EXISTS jobs_count_insert;
    CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs
    BEGIN
        INSERT INTO job_counts (status, jobs) VALUES (new.status, 1)
            ON CONFLICT (status) DO UPDATE SET jobs = jobs + 1;
    END;
    DROP TRIGGER IF EXISTS jobs_count_delete;
    CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs
    BEGIN
        UPDATE job_counts SET jobs = jobs - 1 WHERE status = old.status;
    END;
    DROP TRIGGER IF EXISTS jobs_count_update;
    CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs
    WHEN old.status IS NOT new.status
    BEGIN
        UPDATE job_counts SET jobs = jobs - 1 WHERE status = old.status;
        INSERT INTO job_counts (status, jobs) VALUES (new.status, 1)
            ON CONFLICT (status) DO UPDATE SET jobs = jobs + 1;
    END;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the database up to ``SCHEMA_VERSION``, one transaction per migration; refuse a
    database a newer program has migrated further."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store's schema version {version} is newer than this program's "
            f"({SCHEMA_VERSION}); upgrade symbi-tui"
        )
    for number in range(version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[number]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # (a full disk may have rolled it back already)
                conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    """The SQL statements of ``script``, split where SQLite says one ends (not at each ``;``,
    which a trigger's body holds too)."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
