"""The console's wording: countdowns, durations, status labels."""

from __future__ import annotations

import pytest

from scheduler_core.clock import parse_instant
from scheduler_core.model import JobStatus, RunStatus
from symbi_tui.format import (
    countdown,
    duration,
    excerpt,
    fit,
    job_status_label,
    run_status_label,
    short_instant,
)

NOW = parse_instant("2026-03-02T08:59:30Z")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("2026-03-02T08:59:30Z", "due now"),
        ("2026-03-02T08:59:00Z", "due now"),
        ("2026-03-02T08:59:31Z", "in 1s"),
        ("2026-03-02T09:03:40Z", "in 4m 10s"),
        ("2026-03-02T11:04:30Z", "in 2h 05m"),
        ("2026-03-05T12:59:30Z", "in 3d 4h"),
    ],
)
def test_countdown(target: str, expected: str) -> None:
    assert countdown(parse_instant(target), NOW) == expected


def test_countdown_without_a_next_run() -> None:
    assert countdown(None, NOW) == "—"


@pytest.mark.parametrize(
    ("ms", "expected"),
    [(None, ""), (0, "0 ms"), (212, "212 ms"), (1234, "1.2 s"), (123_000, "2m 03s")],
)
def test_duration(ms: int | None, expected: str) -> None:
    assert duration(ms) == expected


def test_every_status_has_a_glyph_and_a_word() -> None:
    for job_status in JobStatus:
        glyph, word = job_status_label(job_status).split(" ")
        assert glyph and word == job_status.value
    for run_status in RunStatus:
        glyph, word = run_status_label(run_status).split(" ")
        assert glyph and word == run_status.value


def test_excerpt_and_fit() -> None:
    assert excerpt("line one\n  line two", 40) == "line one line two"
    assert excerpt(None, 10) == ""
    assert fit("abcdefgh", 5) == "abcd…"
    assert fit("abc", 5) == "abc"
    assert short_instant(NOW) == "03-02 08:59:30"
