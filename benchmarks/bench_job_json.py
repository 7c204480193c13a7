"""The jobs list's cost per job: a stored row to the bytes GET /api/v1/schedule sends.

    .venv/bin/python benchmarks/bench_job_json.py                 # 20,000 rows of 100,000 jobs
    .venv/bin/python benchmarks/bench_job_json.py --rows 50000 --jobs 1000000

Rows are read once from ``_scale.py``'s cached store (built if missing), then turned into the
job's JSON bytes two ways, each timed in CPU (``time.process_time``, best of ``--rounds``):

* ``built``: ``job_from_row`` -> ``job_out`` -> encoded (what the list did before it wrote
  pages from rows, and what it still does for a job with secrets, policies, a heartbeat...);
* ``from row``: ``JobJson.row`` with nothing kept between rows (``direct_json`` for a plain job).

Both must give the same bytes (checked). Shown: microseconds per job and per page of 100.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, os.environ.get("SYMBI_BENCH_SRC") or str(Path(__file__).resolve().parent.parent))

from _scale import scale_store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000, help="the cached store's size")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from scheduler_core.api.job_json import JobJson, _encoder, job_out
    from scheduler_core.store._rows import JOB_COLUMNS, job_from_row
    from scheduler_core.store.sqlite._sql import instant

    path = scale_store(args.jobs)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        rows = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs LIMIT ?", (args.rows,)).fetchall()
    encode = _encoder()
    fresh = JobJson(keep=1)  # nothing kept from one row to the next

    def built(row: tuple[object, ...]) -> bytes:
        return encode(job_out(job_from_row(row, instant))).encode()

    def from_row(row: tuple[object, ...]) -> bytes:
        return fresh.row(row, instant)

    if [built(r) for r in rows] != [from_row(r) for r in rows]:
        print("FAIL: the two paths give different bytes")
        return 1
    print(f"{len(rows):,} rows of a {args.jobs:,}-job store; CPU, best of {args.rounds}")
    for name, fn in (("built", built), ("from row", from_row)):
        best = min(_timed(fn, rows) for _ in range(args.rounds))
        per_job = best * 1e6 / len(rows)
        print(f"  {name:9s} {per_job:6.2f} us a job, {per_job * 100 / 1000:5.2f} ms a page of 100")
    return 0


def _timed(fn: Callable[[tuple[object, ...]], bytes], rows: list[tuple[object, ...]]) -> float:
    started = time.process_time()
    for row in rows:
        fn(row)
    return time.process_time() - started


if __name__ == "__main__":
    sys.exit(main())
