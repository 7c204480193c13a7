"""schemathesis against /openapi.json: no 500, and every answer as the document describes it.

The API runs in this test's event loop (a fake-clock engine behind it); schemathesis's command
line runs as a subprocess against it. Left out: ``positive_data_acceptance`` (job bodies are
checked beyond what JSON Schema can say: cron syntax, IANA zones, unique names) and the event
stream, which never ends by itself (tests/test_api.py reads it).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests.conftest import Harness
from tests.test_api import KEY, serving

pytest.importorskip("schemathesis")


@pytest.mark.slow
async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    harness: Harness, tmp_path: Path
) -> None:
    async with serving(harness) as api:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{api.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {KEY}",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--exclude-path",
            "/api/v1/events",
            "--phases",
            "coverage,fuzzing,stateful",
            "--max-examples",
            "3",
            "--seed",
            "1",
            "--no-shrink",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            cwd=tmp_path,  # its caches stay out of the work tree
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(proc.communicate(), 300)
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text[-6000:]
    assert "passed" in text
