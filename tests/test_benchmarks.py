"""The benchmark scripts still run (tiny sizes; the figures themselves are not checked here:
benchmarks are measured by hand, see benchmarks/README.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def bench(script: str, *args: str, results: Path, timeout: float = 240) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYMBI_")}
    env["SYMBI_BENCH_RESULTS"] = str(results)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_bench_api_runs(tmp_path: Path) -> None:
    out = bench(
        "bench_api.py", "--jobs", "200", "--seconds", "1", "--clients", "2", results=tmp_path
    )
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["list"] > 0 and figures["run"] > 0
    assert list(tmp_path.glob("api-*.json"))


def test_bench_multinode_runs(tmp_path: Path, pg_cluster: object) -> None:
    out = bench(
        "bench_multinode.py", "--nodes", "1,2", "--fire", "20", "--runs", "100", results=tmp_path
    )
    assert "2 node(s)" in out
    saved = json.loads((tmp_path / "multinode-latest.json").read_text())
    for n in ("1", "2"):
        result = saved["results"][n]
        assert result["fire_lag"]["all_succeeded"] and result["throughput"]["all_succeeded"]
        assert sum(result["throughput"]["runs_per_node"]) == 100


def test_bench_retention_runs(tmp_path: Path) -> None:
    out = bench(
        "bench_retention.py",
        *("--jobs", "50", "--expired", "3000", "--kept", "500", "--rounds", "1"),
        *("--lead", "1.5", "--gap", "0.2", "--no-baseline", "--cache", str(tmp_path / "cache")),
        results=tmp_path,
    )
    assert "file after pruning / what it keeps" in out
    saved = json.loads((tmp_path / "retention-latest.json").read_text())
    assert saved["sections"]["pruning"]["report"]["removed"]["runs"] == 3000
    assert saved["sections"]["pruning"]["calls"] == 50


def test_bench_faults_runs(tmp_path: Path) -> None:
    out = bench("bench_faults.py", "--seconds", "3", results=tmp_path)
    saved = json.loads((tmp_path / "faults-latest.json").read_text())
    fault = saved["sections"]["fault"]
    assert fault["health_status"] == "degraded" and fault["store_fault"]["cause"] == "disk_full"
    assert fault["finished_run"] == ["succeeded"] and fault["agent_runs"] == 1
    assert fault["exit"] == 0 and "store.unavailable" in out


def test_bench_telemetry_runs(tmp_path: Path) -> None:
    out = bench("bench_telemetry.py", "--runs", "20", "--rounds", "1", results=tmp_path)
    assert "spans received by the collector: 20 of 20" in out
    saved = json.loads((tmp_path / "telemetry-latest.json").read_text())
    assert set(saved["per_run"]) == {"off", "on"}


def test_bench_adds_runs(tmp_path: Path) -> None:
    bench(
        "bench_adds.py",
        *("--jobs", "300", "--one", "20", "--batch", "100", "--per-file", "120"),
        results=tmp_path,
    )
    saved = json.loads((tmp_path / "adds-latest.json").read_text())
    assert not saved["errors"], saved["errors"]
    for scenario, n in (("add_jobs", 300), ("api_apply", 300), ("dsl_dir", 300), ("add_job", 20)):
        result = saved["sections"][scenario]
        assert result["stored"] == result["created_events"] == n, result
    assert saved["sections"]["dsl_dir"]["files"] == 3
