"""The console's wording: countdowns, durations, status labels."""

from __future__ import annotations

import dataclasses

import pytest
from rich.text import Text

from scheduler_core.clock import parse_instant
from scheduler_core.model import JobDefinition, JobRun, JobStatus, RunStatus, RunTrigger
from scheduler_core.service import Health, StoreFault
from scheduler_core.store.base import NodeInfo, RunStats
from symbi_tui.format import (
    countdown,
    duration,
    excerpt,
    fit,
    job_status_label,
    newest_first,
    run_status_label,
    run_tally,
    short_ids,
    short_instant,
    shorten,
    trigger_label,
)
from symbi_tui.widgets.health_bar import health_markup, nodes_markup, store_markup
from symbi_tui.widgets.keyed_table import Column, fit_cell, plan_columns

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


def test_shorten_cuts_at_the_end_of_a_word_when_one_is_near() -> None:
    assert shorten("upstream returned 503 from the gateway", 24) == "upstream returned 503…"
    assert shorten("upstream returned 503", 21) == "upstream returned 503"
    assert shorten("nightly-warehouse-export-to-s3", 12) == "nightly-war…"  # one long word
    assert shorten("ab cd, ef gh", 8) == "ab cd…"  # not "ab cd,…"
    assert excerpt("line one\n  line two and three", 14) == "line one line…"


def test_fit_cell_keeps_the_styles_of_what_it_keeps() -> None:
    text = Text.assemble(("✖ failed", "bold red"), " upstream returned 503 from the gateway")
    fitted = fit_cell(text, 24)
    assert fitted.plain == "✖ failed upstream…"
    assert fitted.spans[0].style == "bold red" and fitted.spans[0].end == 8
    assert fit_cell(text, 200) is text


def test_columns_by_priority_fit_the_width() -> None:
    columns = [
        Column("name", "Name", 10, flex=True, most=30),
        Column("agent", "Agent", 16, priority=2),
        Column("status", "Status", 13),
        Column("next", "Next run", 10, priority=1),
    ]
    # (each column takes 2 more for its padding; one cell is the scrollbar's)
    assert plan_columns(columns, 80, 2) == ((0, 30), (1, 16), (2, 13), (3, 10))
    assert plan_columns(columns, 50, 2) == ((0, 20), (2, 13), (3, 10))
    assert plan_columns(columns, 30, 2) == ((0, 12), (2, 13))
    assert plan_columns(columns, 10, 2) == ((0, 10), (2, 13))  # too narrow: what must stay


def _run(run_id: str, **fields: object) -> JobRun:
    values: dict[str, object] = {
        "job_id": "j",
        "agent_id": "a",
        "scheduled_for": parse_instant("2026-03-02T09:00:00Z"),
    }
    values.update(fields)
    return JobRun(id=run_id, **values)  # type: ignore[arg-type]


def test_retries_are_numbered_from_one() -> None:
    assert trigger_label(RunTrigger.SCHEDULE, 1) == "schedule"
    assert trigger_label(RunTrigger.RETRY, 2) == "retry #1"
    assert trigger_label(RunTrigger.RETRY, 4) == "retry #3"
    assert trigger_label(RunTrigger.MANUAL, 1) == "manual"


def test_runs_are_ordered_by_when_they_started_then_created() -> None:
    at = parse_instant
    parked = _run("0001", started_at=at("2026-03-02T09:06:00Z"))  # approved late
    later = _run("0002", scheduled_for=at("2026-03-02T09:05:00Z"))  # awaiting, created after
    retry = _run("0003", due_at=at("2026-03-02T09:00:10Z"), attempt=2)  # waiting for backoff
    twin = _run("0004", started_at=at("2026-03-02T09:06:00Z"))
    assert [r.id for r in newest_first([parked, later, retry, twin])] == [
        "0004",
        "0001",
        "0002",
        "0003",
    ]


def test_short_ids_take_what_tells_them_apart() -> None:
    together = ["019cadc206a0" + "0" * 19 + str(n) for n in (1, 2)]
    apart = "019cadc30000" + "f" * 20
    short = short_ids([*together, apart, together[0]])
    assert short[apart] == apart[:32] and len(set(short.values())) == 3
    assert short[together[0]] == together[0]  # they differ only in their last character
    assert short_ids([apart, "019cadc40000" + "0" * 20]) == {
        apart: apart[:12],
        "019cadc40000" + "0" * 20: "019cadc40000",
    }


def test_run_tally_counts_the_job_and_what_is_in_flight() -> None:
    job = JobDefinition(id="j", name="n", agent="a", cron="* * * * *", run_count=3)
    assert run_tally(job) == "3 runs"
    running = _run("1", status=RunStatus.RUNNING)
    assert run_tally(job, [running, _run("2", status=RunStatus.SUCCEEDED)]) == (
        "3 runs · 1 in flight"
    )
    assert run_tally(dataclasses.replace(job, run_count=1)) == "1 run"
