"""The PostgreSQL schema, as numbered migrations (the ``schema_version`` row: the last applied).

The same tables as the SQLite schema (``store/sqlite/schema.py``), with instants as
``timestamptz``, identities and sortable text in the byte-order ``"C"`` collation (so ordering and
prefix look-ups behave as in SQLite whatever the database's locale), and JSON kept as text
(byte-for-byte what SQLite stores: ``jsonb`` would reject NaN and ``\\u0000``, which agents'
memories may hold). Added for several nodes: ``runs.owner`` (the node that claimed or started a
run), the ``nodes`` table, and the ``store_version`` counters (one per writer, summed).

Beside the migrations: ``migrate`` applies those a database has not had yet, and
``integrity_problems`` checks a database against the schema.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "integrity_problems", "migrate", "schema_version"]

from typing import TYPE_CHECKING

from ...errors import StoreError
from ...model import JobStatus, RunStatus, RunTrigger

if TYPE_CHECKING:  # the migrations themselves are readable without asyncpg
    import asyncpg

#: pg_advisory_xact_lock key serialising migrations between nodes starting together
_MIGRATION_LOCK = 0x73796D6269  # "symbi"

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE jobs (
        id              text COLLATE "C" PRIMARY KEY,
        name            text COLLATE "C" NOT NULL UNIQUE,
        agent           text COLLATE "C" NOT NULL,
        status          text COLLATE "C" NOT NULL,
        schedule        text NOT NULL,
        timezone        text NOT NULL,
        definition      text NOT NULL,
        next_run_at     timestamptz,
        last_run_at     timestamptz,
        last_run_status text COLLATE "C",
        last_error      text,
        run_count       bigint NOT NULL DEFAULT 0,
        failure_count   integer NOT NULL DEFAULT 0,
        created_at      timestamptz NOT NULL,
        updated_at      timestamptz NOT NULL,
        source          text
    );
    -- due selection: only active jobs are indexed, ordered by their next instant
    CREATE INDEX jobs_due ON jobs(next_run_at) WHERE status = 'active';
    CREATE INDEX jobs_status ON jobs(status, name);
    CREATE INDEX jobs_agent ON jobs(agent, name);

    CREATE TABLE runs (
        seq               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id                text COLLATE "C" NOT NULL UNIQUE,
        job_id            text COLLATE "C" NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        job_name          text NOT NULL,
        agent_id          text NOT NULL,
        trigger           text COLLATE "C" NOT NULL,
        scheduled_for     timestamptz NOT NULL,
        due_at            timestamptz,
        started_at        timestamptz,
        finished_at       timestamptz,
        status            text COLLATE "C" NOT NULL,
        attempt           integer NOT NULL,
        input             text,
        output            text,
        error_message     text,
        summary           text,
        execution_time_ms bigint,
        details           text,
        owner             text  -- the node that claimed or started it
    );
    -- no instant fires twice: one row per (job, instant, attempt), manual runs aside
    CREATE UNIQUE INDEX runs_instant ON runs(job_id, scheduled_for, attempt)
        WHERE trigger <> 'manual';
    CREATE INDEX runs_job ON runs(job_id, seq);
    CREATE INDEX runs_job_status ON runs(job_id, status, seq);
    -- open runs only (PostgreSQL proves "status = 'queued'" implies the predicate)
    CREATE INDEX runs_open ON runs(status, due_at)
        WHERE status IN ('queued', 'running', 'awaiting_approval');
    CREATE INDEX runs_status ON runs(status, seq);

    CREATE TABLE heartbeat_iterations (
        run_id          text COLLATE "C" NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        idx             integer NOT NULL,
        started_at      timestamptz NOT NULL,
        finished_at     timestamptz,
        outcome         text NOT NULL,
        assessment      text,
        action          text,
        summary         text,
        output_excerpt  text,
        PRIMARY KEY (run_id, idx)
    );

    CREATE TABLE agent_contexts (
        job_id      text COLLATE "C" PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
        mode        text NOT NULL,
        summary     text,
        memory      text NOT NULL,
        size        integer NOT NULL,
        updated_at  timestamptz NOT NULL
    );

    CREATE TABLE approvals (
        run_id       text COLLATE "C" PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        job_id       text COLLATE "C" NOT NULL,
        requested_at timestamptz NOT NULL,
        expires_at   timestamptz,
        approvers    text NOT NULL,
        decision     text,
        decided_by   text,
        decided_at   timestamptz,
        reason       text
    );
    CREATE INDEX approvals_open ON approvals(expires_at) WHERE decision IS NULL;

    CREATE TABLE audit_events (
        seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at       timestamptz NOT NULL,
        type     text COLLATE "C" NOT NULL,
        actor    text NOT NULL,
        job_id   text COLLATE "C",
        run_id   text COLLATE "C",
        details  text
    );
    CREATE INDEX audit_at ON audit_events(at);
    CREATE INDEX audit_type ON audit_events(type, at);
    CREATE INDEX audit_job ON audit_events(job_id, at);

    CREATE TABLE lease (
        name         text COLLATE "C" PRIMARY KEY,
        owner        text NOT NULL,
        pid          integer NOT NULL,
        host         text NOT NULL,
        machine      text,  -- boot id + pid namespace: when equal, the pid can be checked
        api_address  text,
        acquired_at  timestamptz NOT NULL,
        renewed_at   timestamptz NOT NULL,
        expires_at   timestamptz NOT NULL
    );

    CREATE TABLE nodes (
        owner        text COLLATE "C" PRIMARY KEY,
        host         text NOT NULL,
        pid          integer NOT NULL,
        machine      text,
        api_address  text,
        started_at   timestamptz NOT NULL,
        heartbeat    timestamptz NOT NULL,
        expires_at   timestamptz NOT NULL
    );
    CREATE INDEX nodes_expires ON nodes(expires_at);

    CREATE TABLE run_stats (
        id                 integer PRIMARY KEY CHECK (id = 1),
        runs_total         bigint NOT NULL,
        runs_succeeded     bigint NOT NULL,
        runs_failed        bigint NOT NULL,
        execution_ms_total bigint NOT NULL,
        executions         bigint NOT NULL
    );
    INSERT INTO run_stats VALUES (1, 0, 0, 0, 0, 0);

    -- bumped by every write transaction, last, just before it commits: data_version()
    CREATE TABLE store_version (
        id       integer PRIMARY KEY CHECK (id = 1),
        version  bigint NOT NULL
    );
    INSERT INTO store_version VALUES (1, 0);
    """,
    # 2: several nodes: a node's role (every node of a shared store is "active"), and the runs
    # each node holds, for recovery after its death and for the health endpoint
    """
    ALTER TABLE nodes ADD COLUMN role text NOT NULL DEFAULT 'active';
    CREATE INDEX runs_owner ON runs(owner) WHERE status = 'running';
    """,
    # 3: retention. Pruning walks runs by when they finished, iterations by when they started
    # (audit events have audit_at); entries a shared_persistent context's size cap drops are
    # archived (context_archive = true) and pruned with the runs. Pruning deletes a little of
    # these tables all the time: autovacuum comes after 2 % of a table is dead (the default,
    # 20 %, would let them swell by a fifth between its visits)
    """
    CREATE INDEX IF NOT EXISTS runs_finished ON runs(finished_at, seq)
        WHERE finished_at IS NOT NULL;
    CREATE INDEX IF NOT EXISTS iterations_started
        ON heartbeat_iterations(started_at, run_id, idx);
    CREATE TABLE IF NOT EXISTS context_archive (
        seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id       text COLLATE "C" NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        run_id       text COLLATE "C",
        archived_at  timestamptz NOT NULL,
        entry        text NOT NULL
    );
    CREATE INDEX IF NOT EXISTS context_archive_job ON context_archive(job_id, seq);
    CREATE INDEX IF NOT EXISTS context_archive_at ON context_archive(archived_at);
    ALTER TABLE runs SET (autovacuum_vacuum_scale_factor = 0.02,
                          autovacuum_vacuum_threshold = 1000);
    ALTER TABLE heartbeat_iterations SET (autovacuum_vacuum_scale_factor = 0.02,
                                          autovacuum_vacuum_threshold = 1000);
    ALTER TABLE audit_events SET (autovacuum_vacuum_scale_factor = 0.02,
                                  autovacuum_vacuum_threshold = 1000);
    """,
    # 4: definitions registered with their schedules (``symbi cron add --file`` of a file with
    # agent blocks, locally or through a daemon), so every node knows them; ``kind`` is "agent"
    # (named policies will be "policy")
    """
    CREATE TABLE IF NOT EXISTS definitions (
        kind        text COLLATE "C" NOT NULL,
        name        text COLLATE "C" NOT NULL,
        definition  text NOT NULL,
        source      text,
        updated_at  text NOT NULL,
        PRIMARY KEY (kind, name)
    );
    """,
    # 5: LLM cost per job and day (the day in the job's zone at the run's end), added to in the
    # finish transaction: a job's budget check reads one row; and by when those days end, so the
    # global check reads a row per zone in use, not per job. Pruned by ends_at with the runs (no
    # foreign key: a deleted job's spending still counts today)
    """
    CREATE TABLE IF NOT EXISTS llm_cost_days (
        seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        job_id         text COLLATE "C" NOT NULL,
        day            date NOT NULL,
        ends_at        timestamptz NOT NULL,
        runs           bigint NOT NULL DEFAULT 0,
        input_tokens   bigint NOT NULL DEFAULT 0,
        output_tokens  bigint NOT NULL DEFAULT 0,
        cost_usd       double precision NOT NULL DEFAULT 0,
        unpriced_runs  bigint NOT NULL DEFAULT 0,
        UNIQUE (job_id, day)
    );
    CREATE INDEX IF NOT EXISTS llm_cost_days_ends ON llm_cost_days(ends_at);
    CREATE TABLE IF NOT EXISTS llm_cost_day_ends (
        seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        ends_at   timestamptz NOT NULL UNIQUE,
        runs      bigint NOT NULL DEFAULT 0,
        cost_usd  double precision NOT NULL DEFAULT 0
    );
    """,
    # 6: chains: ``jobs_after`` finds a job's followers (the ``after`` in their definitions)
    # without a scan; chained runs, like manual ones, stand for no instant (see the SQLite
    # store's migration 11)
    """
    CREATE INDEX IF NOT EXISTS jobs_after ON jobs(((definition::json ->> 'after')));
    DROP INDEX IF EXISTS runs_instant;
    CREATE UNIQUE INDEX runs_instant ON runs(job_id, scheduled_for, attempt)
        WHERE trigger NOT IN ('manual', 'chain');
    """,
    # 7: the store version without a row every write waits on: a counter per writer (store
    # object), summed; the existing count becomes the base row (writer ''), so the version goes
    # on from where it was (see ``_version.py``)
    """
    ALTER TABLE store_version DROP CONSTRAINT store_version_pkey;
    ALTER TABLE store_version DROP CONSTRAINT IF EXISTS store_version_id_check;
    ALTER TABLE store_version DROP COLUMN id;
    ALTER TABLE store_version ADD COLUMN writer text COLLATE "C" NOT NULL DEFAULT '';
    ALTER TABLE store_version ALTER COLUMN writer DROP DEFAULT;
    ALTER TABLE store_version ADD COLUMN bumped_at timestamptz NOT NULL DEFAULT now();
    ALTER TABLE store_version ADD PRIMARY KEY (writer);
    """,
    # 8: the run counters without a row every finish waits on. ``run_stats`` becomes a view of
    # the sums of ``run_stats_rows``, one row per server process that finished runs (one
    # transaction at a time each: no two finishes wait on one row), plus the base row (writer
    # 0, what the single row held). The finish transaction's ``UPDATE run_stats SET runs_total
    # = runs_total + $1 ...`` is unchanged: the view's INSTEAD OF trigger adds what the update
    # adds (NEW - OLD) to its own process's row. Rows of processes silent for an hour are folded
    # into the base row at a node's renewal (the sums stay; see ``_version.py``)
    """
    ALTER TABLE run_stats RENAME TO run_stats_rows;
    ALTER TABLE run_stats_rows DROP CONSTRAINT run_stats_pkey;
    ALTER TABLE run_stats_rows DROP CONSTRAINT IF EXISTS run_stats_id_check;
    ALTER TABLE run_stats_rows RENAME COLUMN id TO writer;
    UPDATE run_stats_rows SET writer = 0;
    ALTER TABLE run_stats_rows ADD PRIMARY KEY (writer);
    ALTER TABLE run_stats_rows ADD COLUMN bumped_at timestamptz NOT NULL DEFAULT now();
    CREATE VIEW run_stats AS
        SELECT 1 AS id, sum(runs_total)::bigint AS runs_total,
               sum(runs_succeeded)::bigint AS runs_succeeded,
               sum(runs_failed)::bigint AS runs_failed,
               sum(execution_ms_total)::bigint AS execution_ms_total,
               sum(executions)::bigint AS executions
        FROM run_stats_rows;
    CREATE FUNCTION run_stats_add() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        INSERT INTO run_stats_rows AS r (writer, runs_total, runs_succeeded, runs_failed,
                                         execution_ms_total, executions, bumped_at)
        VALUES (pg_backend_pid(), NEW.runs_total - OLD.runs_total,
                NEW.runs_succeeded - OLD.runs_succeeded, NEW.runs_failed - OLD.runs_failed,
                NEW.execution_ms_total - OLD.execution_ms_total,
                NEW.executions - OLD.executions, now())
        ON CONFLICT (writer) DO UPDATE SET
            runs_total = r.runs_total + EXCLUDED.runs_total,
            runs_succeeded = r.runs_succeeded + EXCLUDED.runs_succeeded,
            runs_failed = r.runs_failed + EXCLUDED.runs_failed,
            execution_ms_total = r.execution_ms_total + EXCLUDED.execution_ms_total,
            executions = r.executions + EXCLUDED.executions,
            bumped_at = now();
        RETURN NEW;
    END
    $fn$;
    CREATE TRIGGER run_stats_add INSTEAD OF UPDATE ON run_stats
        FOR EACH ROW EXECUTE FUNCTION run_stats_add();
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


async def schema_version(conn: asyncpg.Connection) -> int | None:
    """The last migration applied, None for a database that has none."""
    if await conn.fetchval("SELECT to_regclass('schema_version') IS NULL"):
        return None
    version = await conn.fetchval("SELECT version FROM schema_version WHERE id = 1")
    return int(version) if version is not None else None


async def migrate(conn: asyncpg.Connection) -> None:
    """Bring the database up to ``SCHEMA_VERSION`` in one transaction; refuse a database a newer
    program has migrated further."""
    version = await schema_version(conn)
    if version == SCHEMA_VERSION:
        return
    async with conn.transaction():
        # nodes starting together: one migrates, the others wait here and find it done
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL)"
        )
        await conn.execute("INSERT INTO schema_version VALUES (1, 0) ON CONFLICT DO NOTHING")
        version = await conn.fetchval("SELECT version FROM schema_version WHERE id = 1")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store's schema version {version} is newer than this program's "
                f"({SCHEMA_VERSION}); upgrade symbi-tui"
            )
        for number in range(version, SCHEMA_VERSION):
            await conn.execute(MIGRATIONS[number])
            await conn.execute("UPDATE schema_version SET version = $1 WHERE id = 1", number + 1)


async def integrity_problems(conn: asyncpg.Connection) -> list[str]:
    """What is wrong with the database: schema version, the one-row tables, invalid indexes or
    constraints, values no program writes. Run it in a read-only snapshot."""
    problems: list[str] = []
    if await conn.fetchval("SELECT 1") != 1:
        problems.append("the server does not answer queries")
    version = await schema_version(conn)
    if version != SCHEMA_VERSION:
        problems.append(f"schema version {version}, expected {SCHEMA_VERSION}")
        return problems
    if await conn.fetchval("SELECT count(*) FROM run_stats_rows WHERE writer = 0") != 1:
        problems.append("the run_stats base row is missing")
    if await conn.fetchval("SELECT count(*) FROM store_version WHERE writer = ''") != 1:
        problems.append("the store_version base row is missing")
    for (index,) in await conn.fetch(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_class t ON t.oid = i.indrelid "
        "WHERE t.relnamespace = current_schema()::regnamespace "
        "AND NOT (i.indisvalid AND i.indisready)"
    ):
        problems.append(f"index {index} is invalid")
    for (constraint,) in await conn.fetch(
        "SELECT conname FROM pg_constraint "
        "WHERE connamespace = current_schema()::regnamespace AND NOT convalidated"
    ):
        problems.append(f"constraint {constraint} is not validated")
    checks = (
        ("jobs", "status", [s.value for s in JobStatus]),
        ("runs", "status", [s.value for s in RunStatus]),
        ("runs", "trigger", [s.value for s in RunTrigger]),
    )
    for table, column, allowed in checks:
        bad = await conn.fetchval(
            f"SELECT count(*) FROM {table} WHERE NOT {column} = ANY($1::text[])", allowed
        )
        if bad:
            problems.append(f"{bad} row(s) of {table} have an unknown {column}")
    return problems
