"""The PostgreSQL schema, as numbered migrations (the ``schema_version`` row: the last applied).

The same tables as the SQLite schema (``store/sqlite/schema.py``), with instants as
``timestamptz``, identities and sortable text in the byte-order ``"C"`` collation (so ordering and
prefix look-ups behave as in SQLite whatever the database's locale), and JSON kept as text
(byte-for-byte what SQLite stores: ``jsonb`` would reject NaN and ``\\u0000``, which agents'
memories may hold). Added for several nodes: ``runs.owner`` (the node that claimed or started a
run), the ``nodes`` table, and the ``store_version`` counter.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "SCHEMA_VERSION"]

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
)

SCHEMA_VERSION = len(MIGRATIONS)
