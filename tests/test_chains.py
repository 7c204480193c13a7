"""Chains: a job with ``after: "other-job"`` runs each time other-job's run succeeds, with that
run's output as its input.

Through the paths a user takes: DSL files (forward references, loops at file:line:col), the HTTP
API (201, 422 naming ``after``, 409 naming the followers), the scheduler loop with a fake clock
and real command agents (the output arrives as ``SYMBI_INPUT`` and on stdin), and a process that
dies right after the leader's finish is committed. Every test on the shared harness runs on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from scheduler_core.clock import FakeClock
from scheduler_core.dsl import load_dsl_files
from scheduler_core.engine import Engine
from scheduler_core.errors import ConflictError, DslError, ValidationError
from scheduler_core.model import (
    AgentDefinition,
    JobStatus,
    RunnerKind,
    RunStatus,
    RunTrigger,
)
from scheduler_core.runtime.agents import AgentExecutor

from .conftest import START, Harness, finished_run, make_config
from .test_api import serving
from .test_cli_daemon import daemon
from .test_cli_symbi import make_cli

PY = sys.executable
ROOT = str(Path(__file__).resolve().parents[1])

#: the leader: prints a line of its own and what it was given
LEADER = "import sys; print('report from leader: 42 rows')"
#: the follower: records what it received on stdin and in SYMBI_INPUT
REPORTER = """
import json, os, sys
data = sys.stdin.read()
json.dump({"stdin": data, "env": os.environ.get("SYMBI_INPUT")}, open(os.environ["REPORT"], "w"))
print("summarised", len(data), "characters")
"""


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


# --- definitions ----------------------------------------------------------------------------------


def test_a_file_may_name_a_later_schedule_and_loops_are_refused_where_written(
    tmp_path: Path,
) -> None:
    good = _write(
        tmp_path,
        "pipeline.symbi",
        """\
        schedule summarise {
          agent: "writer"
          after: "extract"
        }
        schedule extract {
          agent: "reader"
          cron: "0 6 * * *"
        }
        """,
    )
    bundle = load_dsl_files([good], env={})
    assert {j.name: j.after for j in bundle.jobs} == {"summarise": "extract", "extract": None}
    assert bundle.job("summarise") is not None
    assert bundle.job("summarise").cron is None  # type: ignore[union-attr]

    loop = _write(
        tmp_path,
        "loop.symbi",
        """\
        schedule a {
          agent: "x"
          after: "b"
        }
        schedule b {
          agent: "x"
          after: "a"
        }
        schedule self {
          agent: "x"
          after: "self"
        }
        schedule both {
          agent: "x"
          cron: "0 9 * * *"
          after: "a"
        }
        """,
    )
    with pytest.raises(DslError) as info:
        load_dsl_files([loop], env={})
    assert [str(i) for i in info.value.issues] == [
        f'{loop}:3:10: schedule "a": after: makes a loop: a after b after a',
        f'{loop}:7:10: schedule "b": after: makes a loop: b after a after b',
        f'{loop}:11:10: schedule "self": after: a job cannot come after itself',
        f'{loop}:16:3: schedule "both" has both cron and after: give only one of cron, at and '
        "after",
    ]


async def test_the_service_checks_names_and_loops_against_the_store(
    harness: Harness, tmp_path: Path
) -> None:
    service = harness.service
    await service.add_job({"name": "extract", "agent": "a", "cron": "0 6 * * *"})
    follower = await service.add_job({"name": "summarise", "agent": "a", "after": "extract"})
    assert follower.after == "extract" and follower.next_run_at is None
    assert follower.schedule_text == "after extract"

    with pytest.raises(ValidationError) as refused:
        await service.add_job({"name": "x", "agent": "a", "after": "extrakt"})
    assert refused.value.field == "after"
    assert "no job named 'extrakt'" in refused.value.reason and "'extract'" in refused.value.reason
    with pytest.raises(ValidationError) as refused:
        await service.update_job("extract", {"after": "summarise"})
    assert refused.value.field == "after"
    assert refused.value.reason == "makes a loop: extract after summarise after extract"
    with pytest.raises(ValidationError) as refused:
        await service.add_job({"name": "y", "agent": "a", "cron": "0 9 * * *", "after": "extract"})
    assert "give only one of cron, at and after" in str(refused.value)

    # a job others come after is neither removed nor renamed under them
    with pytest.raises(ConflictError) as conflict:
        await service.remove_job("extract")
    assert "summarise" in conflict.value.message
    with pytest.raises(ConflictError):
        await service.update_job("extract", {"name": "extract-v2"})
    assert [j.name for j in await service.followers("extract")] == ["summarise"]

    # a follower switched to cron is no longer chained; then the leader may go
    moved = await service.update_job("summarise", {"cron": "30 6 * * *"})
    assert moved.after is None and moved.next_run_at is not None
    await service.remove_job("extract")

    # a file closing a loop through a stored job: refused at its after, file:line:col
    await service.add_job({"name": "stored", "agent": "a", "after": "summarise"})
    path = _write(
        tmp_path,
        "close.symbi",
        """\
        schedule summarise {
          agent: "a"
          after: "stored"
        }
        """,
    )
    with pytest.raises(DslError) as info:
        await service.load_dsl([path])
    assert [str(i) for i in info.value.issues] == [
        f'{path}:3:10: schedule "summarise": after: makes a loop: summarise after stored after '
        "summarise"
    ]
    unknown = _write(tmp_path, "unknown.symbi", 'schedule z {\n  agent: "a"\n  after: "nope"\n}\n')
    with pytest.raises(DslError) as info:
        await service.load_dsl([unknown])
    assert (
        str(info.value.issues[0]) == f"{unknown}:3:10: schedule \"z\": after: no job named 'nope'"
    )


async def test_the_api_creates_chains_and_refuses_unknown_names_and_loops(
    harness: Harness,
) -> None:
    async with serving(harness) as api:
        c = api.client
        leader = {"name": "extract", "agent_id": "a", "cron_expr": "0 6 * * *"}
        assert (await c.post("/api/v1/schedule", json=leader)).status_code == 201
        created = await c.post(
            "/api/v1/schedule", json={"name": "summarise", "agent_id": "a", "after": "extract"}
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["after"] == "extract" and body["next_run_at"] is None

        unknown = await c.post(
            "/api/v1/schedule", json={"name": "z", "agent_id": "a", "after": "missing"}
        )
        assert unknown.status_code == 422 and unknown.json()["field"] == "after", unknown.text
        loop = await c.put("/api/v1/schedule/extract", json={"after": "summarise"})
        assert loop.status_code == 422 and loop.json()["field"] == "after", loop.text
        assert "makes a loop" in loop.json()["error"]
        self_loop = await c.put("/api/v1/schedule/summarise", json={"after": "summarise"})
        assert self_loop.status_code == 422 and self_loop.json()["field"] == "after"

        chain = (await c.get("/api/v1/schedule/extract/chain")).json()
        assert chain["after"] is None and chain["followers"] == ["summarise"]
        chain = (await c.get("/api/v1/schedule/summarise/chain")).json()
        assert chain["after"] == "extract" and chain["followers"] == []
        gone = await c.delete("/api/v1/schedule/extract")
        assert gone.status_code == 409 and "summarise" in gone.json()["error"], gone.text

        # jobs applied together may name each other in any order; a loop among them is refused
        applied = await c.post(
            "/api/v1/apply",
            json={
                "jobs": [
                    {"name": "publish", "agent": "a", "after": "render"},
                    {"name": "render", "agent": "a", "after": "summarise"},
                ]
            },
        )
        assert applied.status_code == 200, applied.text
        assert sorted(applied.json()["created"]) == ["publish", "render"]
        looped = await c.post(
            "/api/v1/apply",
            json={
                "jobs": [
                    {"name": "p", "agent": "a", "after": "q"},
                    {"name": "q", "agent": "a", "after": "p"},
                ]
            },
        )
        assert looped.status_code == 422, looped.text
        fields = [e["field"] for e in looped.json()["details"]["errors"]]
        assert fields == ["jobs[0].after", "jobs[1].after"], looped.text

        # the SDK's body still makes a job, as before
        sdk = await c.post(
            "/api/v1/schedules",
            json={"name": "sdk-job", "agent_name": "a", "cron_expression": "0 7 * * *"},
        )
        assert sdk.status_code in (200, 201), sdk.text


# --- running --------------------------------------------------------------------------------------


def _command_engine(db_path: str, tmp_path: Path) -> Engine:
    agents = {
        "leader": AgentDefinition(
            name="leader", runner=RunnerKind.COMMAND, command=(PY, "-c", LEADER)
        ),
        "reporter": AgentDefinition(
            name="reporter",
            runner=RunnerKind.COMMAND,
            command=(PY, "-c", REPORTER),
            env={"REPORT": str(tmp_path / "report.json")},
        ),
        "failer": AgentDefinition(
            name="failer", runner=RunnerKind.COMMAND, command=(PY, "-c", "raise SystemExit(3)")
        ),
    }
    clock = FakeClock(START)
    return Engine(
        make_config(db_path, default_max_retries=0), executor=AgentExecutor(agents), clock=clock
    )


async def test_a_success_runs_the_follower_with_its_output_as_input(
    db_path: str, tmp_path: Path
) -> None:
    engine = _command_engine(db_path, tmp_path)
    await engine.start()
    try:
        service = engine.service
        assert service is not None
        await service.add_job({"name": "extract", "agent": "leader", "cron": "0 9 * * *"})
        await service.add_job({"name": "summarise", "agent": "reporter", "after": "extract"})
        await service.add_job({"name": "broken", "agent": "failer", "cron": "0 10 * * *"})
        await service.add_job({"name": "never", "agent": "reporter", "after": "broken"})

        engine.clock.set("2026-03-02T09:00:00Z")  # type: ignore[attr-defined]
        engine.scheduler.notify()  # type: ignore[union-attr]
        leader_run = await finished_run(engine, "extract")
        assert leader_run.status is RunStatus.SUCCEEDED, leader_run
        follower_run = await finished_run(engine, "summarise")
        assert follower_run.status is RunStatus.SUCCEEDED, follower_run
        assert follower_run.trigger is RunTrigger.CHAIN
        assert follower_run.details["after_run"] == leader_run.id
        assert follower_run.details["after_job"] == "extract"
        assert follower_run.input == leader_run.output
        assert "report from leader: 42 rows" in (leader_run.output or "")
        report = json.loads((tmp_path / "report.json").read_text())
        assert report == {"stdin": leader_run.output, "env": leader_run.output}

        # a failure runs nothing after it
        engine.clock.set("2026-03-02T10:00:00Z")  # type: ignore[attr-defined]
        engine.scheduler.notify()  # type: ignore[union-attr]
        failed = await finished_run(engine, "broken")
        assert failed.status is RunStatus.FAILED
        await engine.scheduler.wait_idle()  # type: ignore[union-attr]
        assert await service.history("never") == []
        audit = await service.audit(job="summarise")
        assert any(e.details.get("after_run") == leader_run.id for e in audit)
    finally:
        await engine.stop()


async def test_a_paused_follower_records_a_skipped_run(harness: Harness) -> None:
    service = harness.service
    await service.add_job({"name": "extract", "agent": "a", "cron": "0 9 * * *"})
    await service.add_job({"name": "summarise", "agent": "b", "after": "extract"})
    await service.add_job({"name": "denied", "agent": "b", "after": "extract"})
    await service.pause_job("summarise")
    await harness.to("2026-03-02T09:00:00Z")
    await harness.settle()
    (skipped,) = await service.history("summarise")
    assert skipped.status is RunStatus.SKIPPED and skipped.trigger is RunTrigger.CHAIN
    assert skipped.error_message == "not run after extract: the job is paused"
    # an active follower ran, with the leader's output (a python agent's return value)
    (ran,) = await service.history("denied")
    assert ran.status is RunStatus.SUCCEEDED and ran.input == "ok extract"
    assert harness.agents.names() == ["extract", "denied"]
    assert (await service.get_job("summarise")).status is JobStatus.PAUSED


async def test_a_failed_or_manual_leader_follows_the_same_rule(harness: Harness) -> None:
    service = harness.service
    await service.add_job({"name": "extract", "agent": "a", "cron": "0 9 * * *", "max_retries": 0})
    await service.add_job({"name": "summarise", "agent": "b", "after": "extract"})
    harness.agents.fail("a")
    await harness.to("2026-03-02T09:00:00Z")
    await harness.settle()
    assert await service.history("summarise") == []
    harness.agents.behaviour.pop("a")
    await service.reset_job("extract")
    await service.run_now("extract")
    await harness.settle()
    await harness.settle()
    (ran,) = await service.history("summarise")
    assert ran.status is RunStatus.SUCCEEDED and ran.trigger is RunTrigger.CHAIN

    # a run its policy denies is no success either
    await service.add_job(
        {
            "name": "gated",
            "agent": "a",
            "cron": "0 11 * * *",
            "policy": {"require_capabilities": ["deploy"]},
        }
    )
    await service.add_job({"name": "after-gated", "agent": "b", "after": "gated"})
    await harness.to("2026-03-02T11:00:00Z")
    await harness.settle()
    (denied,) = await service.history("gated")
    assert denied.status is RunStatus.DENIED, denied
    assert await service.history("after-gated") == []


#: finishes one running run of ``extract`` through the scheduler's own writer, then dies at once
#: (no close, no shutdown): what a crash right after the commit leaves behind
_CRASH = """
import asyncio, os, sys
from dataclasses import replace
from scheduler_core.clock import FakeClock
from scheduler_core.events import EventBus
from scheduler_core.model import RunStatus
from scheduler_core.scheduling import FinishWriter
from scheduler_core.settings import SchedulerSettings
from scheduler_core.store import open_store
from scheduler_core.store.base import FinishItem

async def main():
    store = await open_store(sys.argv[1])
    clock = FakeClock("2026-03-02T09:00:05Z")
    job = await store.get_job_by_name("extract")
    run = await store.get_run(sys.argv[2])
    done = replace(run, status=RunStatus.SUCCEEDED, output="rows: 7", finished_at=clock.now())
    writer = FinishWriter(store, settings=SchedulerSettings(), clock=clock, bus=EventBus(),
                          on_retry=lambda: None)
    await writer.write([FinishItem(run=done, job=job)])
    os._exit(9)

asyncio.run(main())
"""


async def test_the_follower_run_is_committed_with_the_leaders_success(
    harness: Harness,
) -> None:
    service = harness.service
    await service.add_job({"name": "extract", "agent": "a", "cron": "0 9 * * *"})
    await service.add_job({"name": "summarise", "agent": "b", "after": "extract"})
    gate = harness.agents.block("a")  # the leader's run stays running while we stop
    await harness.clock_step("2026-03-02T09:00:00Z")
    (running,) = await service.history("extract")
    assert running.status is RunStatus.RUNNING
    url = harness.engine.config.store.url
    # another process records its end and is killed right after the commit
    proc = await asyncio.create_subprocess_exec(
        PY,
        "-c",
        _CRASH,
        url,
        running.id,
        env={**os.environ, "PYTHONPATH": ROOT},
        stderr=subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 9, err.decode()
    (chained,) = await harness.store.list_runs(job_id=(await service.get_job("summarise")).id)
    assert chained.trigger is RunTrigger.CHAIN and chained.input == "rows: 7"
    assert chained.details["after_run"] == running.id
    gate.set()
    # the late result of the first process's agent is fenced off: no second follower run
    await harness.settle()
    runs = await service.history("summarise")
    assert len([r for r in runs if r.details.get("after_run") == running.id]) == 1


# --- the command line, against a daemon ----------------------------------------------------------


def test_a_chain_added_with_the_cli_runs_on_a_daemon(tmp_path: Path) -> None:
    cli = make_cli(tmp_path / "machine")
    pipeline = tmp_path / "pipeline.symbi"
    pipeline.write_text(
        'schedule digest {\n  agent: "echo-agent"\n  after: "summarise"\n}\n'
        'schedule summarise {\n  agent: "reporter-agent"\n  after: "extract"\n}\n'
    )
    # checked without loading: a loop in a file is found where it is written
    loop = tmp_path / "loop.symbi"
    loop.write_text(
        'schedule a {\n  agent: "echo-agent"\n  after: "b"\n}\n'
        'schedule b {\n  agent: "echo-agent"\n  after: "a"\n}\n'
    )
    checked = cli("cron", "validate", str(loop))
    assert checked.returncode == 1, checked
    assert f'{loop}:3:10: schedule "a": after: makes a loop: a after b after a' in (
        checked.stdout + checked.stderr
    )
    assert cli("cron", "validate", str(pipeline)).returncode == 0

    with daemon(cli) as address:
        extract = {
            "name": "extract",
            "agent_id": "echo-agent",
            "cron_expr": "0 9 1 1 *",
            "input": "rows: 7",
        }
        assert cli.ok("--connect", address, "cron", "add", "--json", json.dumps(extract))
        # a file whose first schedule comes after its second
        added = cli.ok("--connect", address, "cron", "add", "--file", str(pipeline))
        assert "created digest" in added and "created summarise" in added
        refused = cli(
            "--connect",
            address,
            "cron",
            "add",
            "--json",
            json.dumps({"name": "x", "agent_id": "echo-agent", "after": "extrakt"}),
        )
        assert refused.returncode == 1, refused
        assert "after" in refused.stderr and "no job named 'extrakt'" in refused.stderr
        loop = cli(
            "--connect",
            address,
            "cron",
            "add",
            "--json",
            json.dumps({"name": "extract", "agent_id": "echo-agent", "after": "digest"}),
        )
        assert loop.returncode == 1, loop

        # a file naming a job the daemon does not have: refused where the file names it
        orphan = tmp_path / "orphan.symbi"
        orphan.write_text('schedule lonely {\n  agent: "echo-agent"\n  after: "nobody"\n}\n')
        refused = cli("--connect", address, "cron", "add", "--file", str(orphan))
        assert refused.returncode == 1, refused
        assert f"{orphan}:3:10: " in refused.stderr and "no job named 'nobody'" in refused.stderr

        listed = cli.ok("--connect", address, "cron", "list")
        rows = {line.split()[1]: line for line in listed.splitlines()[1:] if line.strip()}
        summarise_line = rows["summarise"]
        assert summarise_line.count("after extract") == 2, listed  # schedule and next run

        run = cli.ok("--connect", address, "cron", "run", "extract", "--wait")
        assert "succeeded" in run, run
        runs: list[Any] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            runs = cli.json("--connect", address, "cron", "history", "digest")
            if runs and runs[0]["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.2)
        assert runs and runs[0]["status"] == "succeeded", runs
        assert runs[0]["trigger"] == "chain"
        # extract echoed its input; summarise reported that; digest echoed the report
        assert runs[0]["output"].strip() == "echo: report: echo: rows: 7"

        status = cli.ok("--connect", address, "cron", "status", "summarise")
        assert "after extract succeeds" in status and "followers" in status and "digest" in status
        shown = cli.json("--connect", address, "cron", "status", "extract")
        assert shown["followers"] == ["summarise"] and shown["job"].get("after") is None
        removed = cli("--connect", address, "cron", "remove", "extract", "--force")
        assert removed.returncode == 1 and "summarise" in removed.stderr, removed
        # resumed, a chained job has no next instant: it says what starts it
        cli.ok("--connect", address, "cron", "pause", "summarise")
        resumed = cli.ok("--connect", address, "cron", "resume", "summarise")
        assert resumed == "resumed summarise: active, next run after extract succeeds\n", resumed


async def test_followers_are_found_through_an_index(harness: Harness, db_path: str) -> None:
    """The finish transaction looks a job's followers up by its name: an index search, whatever
    the number of jobs (each back end's own plan for the store's own query)."""
    await harness.service.add_job({"name": "extract", "agent": "a", "cron": "0 6 * * *"})
    await harness.service.add_job({"name": "summarise", "agent": "a", "after": "extract"})
    assert [j.name for j in await harness.store.followers("extract")] == ["summarise"]
    if db_path.startswith("postgres"):
        import asyncpg

        from scheduler_core.store.postgres._sql import DIALECT

        conn = await asyncpg.connect(db_path)
        try:
            await conn.execute("SET enable_seqscan = off")
            rows = await conn.fetch(
                f"EXPLAIN SELECT id FROM jobs WHERE {DIALECT.after_key} = ANY($1::text[])",
                ["extract"],
            )
        finally:
            await conn.close()
        plan = "\n".join(r[0] for r in rows)
    else:
        import sqlite3

        from scheduler_core.store.sqlite._sql import AFTER_KEY

        with contextlib.closing(sqlite3.connect(db_path)) as conn:
            rows = conn.execute(
                f"EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE {AFTER_KEY} = ? ORDER BY name",
                ("extract",),
            ).fetchall()
        plan = "\n".join(str(r[-1]) for r in rows)
    assert "jobs_after" in plan, plan
