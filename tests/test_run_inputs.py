"""A run's input: checked where it enters, and delivered to the agent whatever its size.

An input with a NUL byte, or one larger than an environment variable can hold (128 KiB on Linux),
used to be accepted and then fail the same way on every retry until the job was dead-lettered.
Now an input that no agent could receive is refused where it enters (the API, the CLI, the
console, job definitions) naming the field; a large one reaches a command agent on stdin and in
``SYMBI_INPUT_FILE`` (a private file, removed after the run), up to 1 MiB.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from scheduler_core.model import AgentDefinition, RunnerKind, RunStatus
from scheduler_core.runtime.agents import AgentExecutor

from .conftest import Harness, finished_run, real_engine
from .test_api import GUIDE_JOB, serving
from .test_cli_daemon import daemon
from .test_cli_symbi import Cli, make_cli

LIMIT = 1024 * 1024  #: the documented largest input, in bytes of UTF-8
PY = sys.executable

#: a command agent that reports what it received: stdin, SYMBI_INPUT, SYMBI_INPUT_FILE
REPORTER = """
import json, os, stat, sys
data = sys.stdin.buffer.read().decode()
path = os.environ.get("SYMBI_INPUT_FILE")
report = {"stdin": data, "env": os.environ.get("SYMBI_INPUT"), "file": path}
if path:
    report["file_text"] = open(path, encoding="utf-8").read()
    report["file_mode"] = stat.S_IMODE(os.stat(path).st_mode)
    report["dir_mode"] = stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode)
json.dump(report, open(os.environ["REPORT"], "w"))
print("got", len(data.encode()), "bytes")
"""


# --- the API --------------------------------------------------------------------------------------


async def _refused(response: httpx.Response, field: str = "input") -> dict[str, Any]:
    assert response.status_code in (413, 422), response.text
    body = response.json()
    assert body["field"] == field, body
    return body


async def test_the_api_refuses_inputs_no_agent_could_receive(harness: Harness) -> None:
    async with serving(harness) as api:
        c = api.client
        assert (await c.post("/api/v1/schedule", json=GUIDE_JOB)).status_code == 201
        run_path = "/api/v1/schedule/hourly-report/run"

        body = await _refused(await c.post(run_path, json={"input": "before\x00after"}))
        assert "NUL" in body["error"] and body["code"] == "validation_error"
        # a lone surrogate is no text: it cannot be stored, nor encoded for the agent
        raw = b'{"input": "half a pair: \\ud800"}'
        headers = {"Content-Type": "application/json"}
        body = await _refused(await c.post(run_path, content=raw, headers=headers))
        assert "surrogate" in body["error"] or "unicode" in body["error"]
        # one byte over the limit (in UTF-8 bytes: "é" is two)
        body = await _refused(await c.post(run_path, json={"input": "é" * (LIMIT // 2) + "x"}))
        assert "1 MiB" in body["error"] or "1,048,576" in body["error"]
        # far beyond the body limit too: still named
        await _refused(await c.post(run_path, json={"input": "x" * (20 * LIMIT)}))

        # the limit itself is accepted, and so is everything under it
        accepted = await c.post(run_path, json={"input": "y" * LIMIT})
        assert accepted.status_code == 202, accepted.text
        runs = await harness.service.history("hourly-report", limit=10)
        assert [len(r.input or "") for r in runs] == [LIMIT], "no refused input was recorded"

        # a job's own input is held to the same rules, on create and on update
        job = {**GUIDE_JOB, "name": "with-input"}
        await _refused(await c.post("/api/v1/schedule", json={**job, "input": "a\x00b"}))
        await _refused(await c.post("/api/v1/schedule", json={**job, "input": "x" * (LIMIT + 1)}))
        raw = json.dumps({**job, "input": "PLACEHOLDER"}).replace("PLACEHOLDER", "\\udc80")
        await _refused(await c.post("/api/v1/schedule", content=raw.encode(), headers=headers))
        update = json.dumps({"input": "PLACEHOLDER"}).replace("PLACEHOLDER", "\\udc80")
        await _refused(
            await c.put("/api/v1/schedule/hourly-report", content=update, headers=headers)
        )
        created = await c.post("/api/v1/schedule", json={**job, "input": "z" * LIMIT})
        assert created.status_code == 201, created.text


# --- the agent ------------------------------------------------------------------------------------


def _reporter(tmp_path: Path) -> AgentDefinition:
    return AgentDefinition(
        name="reporter",
        runner=RunnerKind.COMMAND,
        command=(PY, "-c", REPORTER),
        env={"REPORT": str(tmp_path / "report.json")},
    )


async def test_a_large_input_reaches_a_command_agent_through_a_file_and_stdin(
    tmp_path: Path,
) -> None:
    engine, clock = await real_engine(tmp_path, AgentExecutor({"reporter": _reporter(tmp_path)}))
    service = engine.service
    assert service is not None
    report_path = tmp_path / "report.json"
    try:
        # a job's own input of 200 KB, fired by its schedule
        await service.add_job(
            {"name": "reader", "agent": "reporter", "cron": "0 9 * * *", "input": "d" * 200_000}
        )
        clock.set("2026-03-02T09:00:00Z")
        run = await finished_run(engine, "reader")
        assert run.status is RunStatus.SUCCEEDED, run.error_message
        assert json.loads(report_path.read_text())["file_text"] == "d" * 200_000

        # and inputs given to a manual run, small and large
        large = ("Grüße, " * 50_000)[:300_000]  # ~300 KB, not ASCII
        for text, by_file in (("hello", False), (large, True), ("w" * LIMIT, True)):
            await service.run_now("reader", input=text)
            run = await finished_run(engine, "reader")
            assert run.status is RunStatus.SUCCEEDED, run.error_message
            assert run.output == f"got {len(text.encode())} bytes\n"
            report = json.loads(report_path.read_text())
            assert report["stdin"] == text
            if not by_file:  # small inputs arrive as they always did
                assert report["env"] == text and report["file"] is None
                continue
            assert report["env"] is None
            assert report["file_text"] == text
            assert report["file_mode"] == 0o600 and report["dir_mode"] == 0o700
            left = Path(report["file"])
            assert not left.exists(), "the input file outlived its run"  # noqa: ASYNC240
            assert not left.parent.exists()
    finally:
        await engine.stop()


async def test_a_summary_with_a_nul_does_not_fail_the_next_run(tmp_path: Path) -> None:
    """The previous run's summary goes in SYMBI_PREVIOUS_SUMMARY; a NUL an agent printed in it
    used to fail every later run of the job ("embedded null byte") until it was dead-lettered."""
    script = (
        "import os, sys; "
        "print('previous:', ascii(os.environ['SYMBI_PREVIOUS_SUMMARY'])); "
        "sys.stdout.write('SUMMARY: half\\x00half\\n')"
    )
    agent = AgentDefinition(name="nul", runner=RunnerKind.COMMAND, command=(PY, "-c", script))
    engine, _ = await real_engine(tmp_path, AgentExecutor({"nul": agent}))
    service = engine.service
    assert service is not None
    try:
        await service.add_job({"name": "nul", "agent": "nul", "cron": "0 9 1 1 *"})
        for previous in ("''", "'half\\ufffdhalf'"):
            await service.run_now("nul")
            run = await finished_run(engine, "nul")
            assert run.status is RunStatus.SUCCEEDED, run.error_message
            assert f"previous: {previous}" in (run.output or "")
    finally:
        await engine.stop()


# --- the CLI, with and without a daemon -----------------------------------------------------------


def _cli(tmp_path: Path) -> Cli:
    cli = make_cli(tmp_path / "machine")
    report = tmp_path / "report.json"
    cli.config.write_text(
        cli.config.read_text()
        + f'[agents.reader-agent]\ncommand = [{json.dumps(PY)}, "-c", {json.dumps(REPORTER)}]\n'
        + f"env = {{ REPORT = {json.dumps(str(report))} }}\n"
    )
    cli.ok(
        "cron",
        "add",
        "--json",
        '{"name": "reader", "agent_id": "reader-agent", "cron_expr": "0 9 1 1 *"}',
    )
    return cli


def _cli_checks(cli: Cli, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("b" * 400_000)
    out = cli("cron", "run", "reader", "--input-file", str(big), "--wait")
    assert out.returncode == 0, out.stderr
    assert "got 400000 bytes" in out.stdout
    # from stdin, with "-"
    out = cli("cron", "run", "reader", "--input-file", "-", "--wait", stdin="from stdin")
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "report.json").read_text())["env"] == "from stdin"

    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"abc\x00def")
    out = cli("cron", "run", "reader", "--input-file", str(nul))
    assert out.returncode != 0
    assert "--input-file" in out.stderr and "NUL" in out.stderr
    binary = tmp_path / "binary.bin"
    binary.write_bytes(b"\xff\xfe not text")
    out = cli("cron", "run", "reader", "--input-file", str(binary))
    assert out.returncode != 0 and "--input-file" in out.stderr and "UTF-8" in out.stderr
    huge = tmp_path / "huge.txt"
    huge.write_text("h" * (LIMIT + 1))
    out = cli("cron", "run", "reader", "--input-file", str(huge))
    assert out.returncode != 0 and "--input-file" in out.stderr and "1 MiB" in out.stderr
    out = cli("cron", "run", "reader", "--input", "x", "--input-file", str(big))
    assert out.returncode == 2 and "--input-file" in out.stderr
    runs = json.loads(cli.ok("cron", "history", "reader", "--format", "json"))
    assert len(runs) == 2, "a refused input never became a run"


def test_cli_run_input_file_without_a_daemon(tmp_path: Path) -> None:
    cli = _cli(tmp_path)
    _cli_checks(cli, tmp_path)


@pytest.mark.slow
def test_cli_run_input_file_through_a_daemon(tmp_path: Path) -> None:
    cli = _cli(tmp_path)
    with daemon(cli):
        _cli_checks(cli, tmp_path)


def test_symbi_run_takes_an_input_file(tmp_path: Path) -> None:
    cli = _cli(tmp_path)
    big = tmp_path / "big.txt"
    big.write_text("r" * 300_000)
    out = cli("run", "reader-agent", "--input-file", str(big))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "got 300000 bytes\n"
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"\x00")
    out = cli("run", "reader-agent", "--input-file", str(nul))
    assert out.returncode != 0 and "--input-file" in out.stderr and "NUL" in out.stderr


def test_dsl_input_with_a_lone_surrogate_is_an_error_at_its_position(tmp_path: Path) -> None:
    cli = _cli(tmp_path)
    source = tmp_path / "bad.symbi"
    source.write_text(
        'schedule {\n  name: "s"\n  agent: "reader-agent"\n  cron: "0 9 * * *"\n'
        '  input: "half \\ud800 a pair"\n}\n'
    )
    out = cli("cron", "validate", str(source))
    assert out.returncode == 1
    assert f"{source}:5:" in out.stderr and "surrogate" in out.stderr
