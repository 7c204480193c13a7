"""The console's wording: countdowns, durations, status labels."""

from __future__ import annotations

import dataclasses

import pytest

from scheduler_core.clock import parse_instant
from scheduler_core.model import JobStatus, RunStatus
from scheduler_core.service import Health, StoreFault
from scheduler_core.store.base import NodeInfo, RunStats
from symbi_tui.format import (
    countdown,
    duration,
    excerpt,
    fit,
    job_status_label,
    run_status_label,
    short_instant,
)
from symbi_tui.widgets.health_bar import health_markup, nodes_markup, store_markup

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


def _health(nodes: tuple[NodeInfo, ...], node: str | None, role: str = "active") -> Health:
    return Health(
        status="healthy",
        active_jobs=1,
        paused_jobs=0,
        in_flight_jobs=3,
        dead_letter_jobs=0,
        completed_jobs=0,
        failed_jobs=0,
        queued_runs=0,
        awaiting_approval=0,
        stats=RunStats(),
        role=role,
        lease_owner=None,
        lease_address=None,
        nodes=nodes,
        node=node,
    )


def _node(owner: str, host: str, pid: int, running: int, role: str = "active") -> NodeInfo:
    return NodeInfo(
        owner=owner,
        host=host,
        pid=pid,
        api_address=None,
        role=role,
        started_at=NOW,
        heartbeat=NOW,
        expires_at=NOW,
        running=running,
    )


def test_the_header_lists_the_nodes_and_the_runs_each_holds() -> None:
    nodes = tuple(_node(f"n{i}", f"web-{i}", 100 + i, 10 * i) for i in range(1, 6))
    text = nodes_markup(_health(nodes, "n2"))
    assert text.startswith("nodes 5: web-1:101 [b]10[/] · ▸web-2:102 [b]20[/]")
    assert text.endswith("· +1")  # four shown
    header = health_markup(_health(nodes, "n2"), readonly=False)
    assert "(active)" not in header and "nodes 5:" in header
    # one embedded leader alone: nothing to add; a leader with a standby: both, roles named
    alone = (_node("a", "host", 1, 0, "leader"),)
    assert nodes_markup(_health(alone, "a", "leader")) == ""
    pair = (*alone, _node("b", "host", 2, 0, "standby"))
    assert nodes_markup(_health(pair, "a", "leader")) == (
        "nodes 2: ▸host:1 [b]0[/] · host:2 standby [b]0[/]"
    )


def test_the_header_says_the_store_fails_since_when_and_what_waits() -> None:
    fault = StoreFault(
        error="the store /srv/[symbi].db is full: database or disk is full",
        since=NOW,
        cause="disk_full",
        failures=12,
        waiting=2,
    )
    health = dataclasses.replace(_health((), None, "leader"), status="degraded", store=fault)
    header = health_markup(health, readonly=False)
    assert "✖ degraded" in header
    assert "✖ store is full[/] since 08:59:30 UTC" in header
    assert "2 finished run(s) waiting" in header
    assert "/srv/\\[symbi].db" in header  # text from the store is escaped, not markup
    unknown = dataclasses.replace(fault, cause=None, waiting=0)
    text = store_markup(unknown)
    assert text.startswith("[b $error]✖ store fails[/]") and "waiting" not in text
    assert "store" not in health_markup(_health((), None, "leader"), readonly=False)
