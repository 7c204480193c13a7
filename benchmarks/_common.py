"""Shared helpers for the benchmark scripts: targets, tables, percentiles, child runs, results.

Nothing here imports ``scheduler_core`` at module level, so a child process can time its own
imports and measure its resident memory without paying for anything it does not use.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
#: where results are saved ($SYMBI_BENCH_RESULTS: elsewhere, as the smoke tests do)
RESULTS_DIR = Path(os.environ.get("SYMBI_BENCH_RESULTS") or BENCH_DIR / "results")

#: an argument a script passes to itself to run one scenario in a fresh process
CHILD_FLAG = "--child"


# --- figures --------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100), nearest-rank on sorted values; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(p / 100 * len(ordered)), 1)
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p99 / max / min of durations given in seconds, in milliseconds."""
    if not seconds:
        return {"count": 0, "min": math.nan, "p50": math.nan, "p99": math.nan, "max": math.nan}
    return {
        "count": len(seconds),
        "min": min(seconds) * 1000,
        "p50": percentile(seconds, 50) * 1000,
        "p99": percentile(seconds, 99) * 1000,
        "max": max(seconds) * 1000,
    }


@dataclass
class Target:
    """One target of the issue: ``value`` compared with ``limit`` by ``op`` ("<=" or ">=")."""

    name: str
    value: float
    limit: float
    unit: str
    op: str = "<="
    note: str = ""

    @property
    def passed(self) -> bool:
        if self.value is None or math.isnan(self.value):
            return False
        return self.value <= self.limit if self.op == "<=" else self.value >= self.limit

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "limit": self.limit,
            "unit": self.unit,
            "op": self.op,
            "passed": self.passed,
            "note": self.note,
        }


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.1f}"
        return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(
    title: str,
    rows: Sequence[Sequence[Any]],
    header: Sequence[str],
    right: Sequence[int] = (),
) -> None:
    """A plain-text table: text cells left-aligned, figures (and columns in ``right``) right."""
    cells = [[str(h) for h in header]] + [[fmt(c) for c in row] for row in rows]
    left = [[True] * len(header)] + [
        [isinstance(c, str) and i not in right for i, c in enumerate(row)] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n== {title} ==")
    for i, (row, align) in enumerate(zip(cells, left, strict=True)):
        print(
            " | ".join(
                c.ljust(w) if is_left else c.rjust(w)
                for c, w, is_left in zip(row, widths, align, strict=True)
            ).rstrip()
        )
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    sys.stdout.flush()


def print_targets(targets: Sequence[Target]) -> None:
    rows = [
        (
            t.name,
            f"{fmt(t.value)} {t.unit}",
            f"{t.op} {fmt(t.limit)} {t.unit}",
            "PASS" if t.passed else "FAIL",
            t.note,
        )
        for t in targets
    ]
    print_table("targets", rows, ("target", "measured", "goal", "result", "note"), right=(1, 2))


# --- environment, results -------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "sqlite": _sqlite_version(),
        "source_tree": source_tree(),
    }
    with contextlib.suppress(OSError, AttributeError):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def save_results(name: str, payload: dict[str, Any]) -> Path:
    """Write ``results/<name>-<utc stamp>.json`` and ``results/<name>-latest.json``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    body = {"benchmark": name, "at": stamp, "machine": machine_info(), **payload}
    text = json.dumps(body, indent=2, default=str, allow_nan=True)
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    path.write_text(text)
    (RESULTS_DIR / f"{name}-latest.json").write_text(text)
    return path


@contextlib.contextmanager
def temp_dir(prefix: str = "symbi-bench-") -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --- child processes ------------------------------------------------------------------------


class ChildError(RuntimeError):
    pass


def source_tree() -> str:
    """The tree whose ``scheduler_core`` the children import: $SYMBI_BENCH_SRC, else this repo.

    Pointing it at a patched private copy measures a proposed change without touching the repo.
    """
    return os.environ.get("SYMBI_BENCH_SRC") or str(ROOT)


def run_child(script: Path, scenario: str, args: dict[str, Any], timeout: float = 300) -> Any:
    """Run ``script --child scenario JSON`` in a fresh interpreter; return its last stdout line.

    The child prints one JSON document as its last line; its stderr is passed through on failure.
    """
    cmd = [sys.executable, str(script), CHILD_FLAG, scenario, json.dumps(args)]
    env = {**os.environ, "PYTHONPATH": source_tree(), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, cwd=str(ROOT), env=env
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if proc.returncode != 0 or not lines:
        raise ChildError(
            f"child {scenario} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    return json.loads(lines[-1])


def child_main(scenarios: dict[str, Any]) -> bool:
    """If this process was started by :func:`run_child`, run the scenario and return True."""
    if len(sys.argv) < 4 or sys.argv[1] != CHILD_FLAG:
        return False
    name, args = sys.argv[2], json.loads(sys.argv[3])
    result = scenarios[name](**args)
    print(json.dumps(result, default=str, allow_nan=True))
    sys.stdout.flush()
    return True


def wall_seconds(started: float) -> float:
    return time.perf_counter() - started


@dataclass
class Report:
    """What a script accumulates and saves: per-section figures and the targets."""

    sections: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sections": self.sections,
            "targets": [t.to_dict() for t in self.targets],
            "errors": self.errors,
        }
