"""Export as DSL: every job field written, and parse(export(job)) == job for nasty strings."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler_core.dsl import parse_dsl
from scheduler_core.export import FIELD_WRITERS, Export, export_dsl, export_json
from scheduler_core.jobspec import JOB_FIELDS, job_from_mapping
from scheduler_core.model import (
    AgentDefinition,
    AllowedHours,
    CatchUp,
    HeartbeatSpec,
    JobDefinition,
    PolicySpec,
    RunnerKind,
    SessionMode,
)
from scheduler_core.named_policies import NamedPolicy

NASTY = [
    "",
    'say "hi"',
    "back\\slash\\",
    "two\nlines\r\nand\ttab",
    "unicode é ü 漢字 🙂",
    "${NOT_A_VAR} stays text",
    "$${double}",
    "$$${triple}",
    "\\${escaped}",
    "$ alone and {braces}",
    "\x01\x1b[31m\x7f\u2028\u202e\U000e0001",
    '"""triple quotes"""',
    "# not a comment // nor this",
    "trailing $",
]


def _definition(job: JobDefinition) -> dict[str, Any]:
    return {f: getattr(job, f) for f in JOB_FIELDS}


def _round_trip(job: JobDefinition, agents: list[AgentDefinition] | None = None) -> None:
    agents = agents or [AgentDefinition(name=job.agent, runner=RunnerKind.COMMAND, command="true")]
    text = export_dsl(Export(jobs=[job], agents=agents))
    doc = parse_dsl(text, "export.symbi", env={})
    (back,) = doc.jobs
    assert _definition(back) == _definition(job), text
    assert [replace(a, source=None) for a in doc.agents] == [
        replace(a, source=None) for a in agents
    ], text
    again = export_dsl(Export(jobs=doc.jobs, agents=doc.agents))
    assert again == text


def every_field_job() -> JobDefinition:
    """A job with every user field away from its default."""
    return job_from_mapping(
        {
            "name": "every-field",
            "agent": "reporter",
            "cron": "*/5 9-17 * * 1-5",
            "timezone": "Europe/Paris",
            "session_mode": "shared_persistent",
            "delivery": ["webhook", "slack", "email", "log_file"],
            "webhook_url": "https://hooks.example.com/x?token=${HOOK_TOKEN}",
            "webhook_headers": {"Authorization": "Bearer ${HOOK_TOKEN}", "X-Team": "ops"},
            "slack_channel": "#ops",
            "email_recipients": ["ops@example.com"],
            "delivery_config": {"slack": {"username": "bot"}, "pager": {"level": 2, "on": True}},
            "on_failure": ["email"],
            "on_dead_letter": [],
            "policy": {
                "require_approval": True,
                "approvers": ["alice", "role:admin"],
                "approval_timeout": "1h",
                "max_runtime": "5m",
                "require_capabilities": ["deploy"],
                "allowed_hours": {"start": "22:00", "end": "06:00", "timezone": "job"},
                "allowed_environments": ["prod"],
                "require_agent_pin": True,
                "max_cost_per_day": 2.5,
            },
            "policies": ["business-hours"],
            "heartbeat": {"enabled": True, "context_mode": "fully_ephemeral", "max_iterations": 7},
            "max_concurrent": 3,
            "max_retries": 0,
            "jitter_seconds": 2.5,
            "catch_up": "skip",
            "misfire_grace_seconds": 600,
            "agent_pin_jwt": "${PIN_JWT}",
            "input": 'quote " and ${x}\nnext',
        }
    )


def test_every_job_field_has_a_writer() -> None:
    """Fails when JobDefinition gains a field the exporter does not write (add it to
    FIELD_WRITERS, and to every_field_job below)."""
    assert set(FIELD_WRITERS) == set(JOB_FIELDS)
    job = every_field_job()
    defaults = JobDefinition(name="x", agent="y")
    unset = [
        f
        for f in JOB_FIELDS
        if f not in ("name", "agent", "at", "after")  # a cron job: a one-shot and a chained
        and getattr(job, f) == getattr(defaults, f)  # job round-trip in tests of their own
    ]
    assert unset == [], "every_field_job leaves these at their default"


def test_a_job_with_every_field_round_trips() -> None:
    _round_trip(every_field_job())


def test_a_one_shot_job_round_trips() -> None:
    job = job_from_mapping(
        {"name": "once", "agent": "a", "at": "2031-01-02T03:04:05.123456Z", "on_failure": None}
    )
    assert job.at == datetime(2031, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    _round_trip(job)


def test_a_chained_job_round_trips() -> None:
    job = job_from_mapping({"name": "summarise", "agent": "a", "after": "extract"})
    assert job.after == "extract" and job.cron is None
    _round_trip(job)


@pytest.mark.parametrize("text", NASTY)
def test_nasty_strings_round_trip_in_every_kind_of_field(text: str) -> None:
    job = replace(
        every_field_job(),
        input=text,
        slack_channel=text or None,
        webhook_headers={"X-Note": text.replace("\r", "").replace("\n", "") or "x"}
        if "\x01" not in text and "\x1b" not in text and "\x7f" not in text
        else {},
        delivery_config={"custom": {"note": text, "list": [text, 1.25, None]}},
    )
    agent = AgentDefinition(
        name="reporter",
        runner=RunnerKind.COMMAND,
        command=("echo", text or "x"),
        env={"NOTE": text},
        description=text or None,
    )
    _round_trip(job, [agent])


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
    | st.sampled_from("$\\{}\"'\n"),
    max_size=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_text, number=st.floats(0, 1e6, allow_nan=False).map(lambda f: round(f, 6)))
def test_parse_of_export_is_the_job(text: str, number: float) -> None:
    job = replace(
        every_field_job(),
        input=text,
        jitter_seconds=number,
        delivery_config={"custom": {text: text}},
    )
    agent = AgentDefinition(
        name="reporter",
        runner=RunnerKind.LLM,
        model="gpt-4o",
        provider="openai",
        system_prompt=text,
        temperature=0.5,
    )
    _round_trip(job, [agent])


def test_json_export_holds_what_cron_add_json_reads() -> None:
    import json

    job = every_field_job()
    agent = AgentDefinition(name="reporter", runner=RunnerKind.COMMAND, command=("a", "b"))
    body = json.loads(export_json(Export(jobs=[job], agents=[agent])))
    (spec,) = body["jobs"]
    assert _definition(job_from_mapping(spec)) == _definition(job)
    assert body["agents"] == {"reporter": {"runner": "command", "command": ["a", "b"]}}


def test_named_policies_are_written_as_policy_blocks() -> None:
    named = NamedPolicy(
        name="business-hours",
        spec=PolicySpec(allowed_hours=AllowedHours(start="09:00", end="17:00")),
    )
    job = replace(every_field_job(), policies=("business-hours",))
    text = export_dsl(Export(jobs=[job], policies=[named]))
    assert 'policy "business-hours" {' in text and '"start": "09:00"' in text
    parse_dsl(text, "export.symbi", env={})


def test_heartbeat_and_enums_keep_their_values() -> None:
    job = replace(
        every_field_job(),
        heartbeat=HeartbeatSpec(enabled=False, context_mode=SessionMode.SHARED_PERSISTENT),
        catch_up=CatchUp.ONCE,
        session_mode=SessionMode.FULLY_EPHEMERAL,
    )
    _round_trip(job)
    assert {f.name for f in fields(JobDefinition)} >= set(FIELD_WRITERS)


@pytest.mark.parametrize(
    ("seconds", "written"),
    [
        (120, '"2m"'),
        (1800, '"30m"'),
        (5400, '"90m"'),
        (3600, '"1h"'),
        (86400, '"1d"'),
        (90, '"90s"'),
        (0.5, '"500ms"'),
        (2.0000001, "2.0000001"),  # no unit says it exactly: seconds, as a number
    ],
)
def test_durations_are_written_as_the_guide_writes_them(seconds: float, written: str) -> None:
    """``max_runtime: "2m"`` (the guide's key and spelling), not ``max_runtime_seconds: 120``;
    whatever is written reads back to the same seconds."""
    job = job_from_mapping(
        {
            "name": "timed",
            "agent": "a",
            "cron": "0 * * * *",
            "policy": {"max_runtime": seconds, "approval_timeout": seconds},
        }
    )
    text = export_dsl(Export(jobs=[job]))
    assert f"    max_runtime: {written}\n" in text, text
    assert f"    approval_timeout: {written}\n" in text, text
    assert "_seconds" not in text, text
    _round_trip(job)


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0.001, max_value=100 * 365 * 86400))
def test_any_duration_reads_back_exactly(seconds: float) -> None:
    job = job_from_mapping(
        {"name": "timed", "agent": "a", "cron": "0 * * * *", "policy": {"max_runtime": seconds}}
    )
    _round_trip(job)


def test_an_export_without_a_followers_leader_says_so() -> None:
    """``symbi cron export summarise`` alone: the text still validates, but applies only where
    ``extract`` exists, and a comment says so (as it does of an agent defined nowhere)."""
    agents = [AgentDefinition(name="a", runner=RunnerKind.COMMAND, command="true")]
    leader = job_from_mapping({"name": "extract", "agent": "a", "cron": "0 6 * * *"})
    follower = job_from_mapping({"name": "summarise", "agent": "a", "after": "extract"})
    alone = export_dsl(Export(jobs=[follower], agents=agents))
    note = "# schedule summarise runs after extract, which this export does not hold"
    assert note in alone, alone
    (back,) = parse_dsl(alone, "export.symbi", env={}).jobs
    assert back.after == "extract"
    both = export_dsl(Export(jobs=[leader, follower], agents=agents))
    assert "# schedule" not in both, both
