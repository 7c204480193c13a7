"""Loading DSL files: every error reported, nothing loaded on error, checks across files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler_core.dsl import (
    DslBundle,
    ValidationReport,
    expand_paths,
    load_dsl_files,
    parse_dsl,
    validate_paths,
)
from scheduler_core.errors import DslError, SchedulerError
from scheduler_core.model import RunnerKind

NOW = datetime(2026, 1, 1, tzinfo=UTC)

GOOD = """\
agent reporter-agent {
  command: ["echo", "report"]
}

schedule {
  name: "daily-report"
  agent: "reporter-agent"
  cron: "0 9 * * *"
}
"""

MANY_ERRORS = """\
schedule {
  name: "one"
  agent: "a"
  crn: "0 9 * * *"
}

schedule {
  name: "two"
  agent: "a"
  cron: "0 9 * * * *"
  policy { max_runtime: "forever" }
}

schedule {
  name: "three"
  cron "0 9 * * *"
  agent: "a"
  delivery: ["stdout" 'x']
}

agent broken {
  modle: "gpt"
}

schedule {
  name: "fine"
  agent: "a"
  cron: "0 9 * * *"
}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_every_error_in_a_file_is_reported_in_order() -> None:
    with pytest.raises(DslError) as info:
        parse_dsl(MANY_ERRORS, "many.symbi", env={})
    got = [(i.line, i.col, i.message) for i in info.value.issues]
    assert [(line, col) for line, col, _ in got] == [
        (4, 3),
        (10, 9),
        (11, 25),
        (16, 8),
        (18, 23),
        (21, 1),
        (22, 3),
    ]
    messages = "\n".join(m for _, _, m in got)
    assert "unknown key 'crn' in schedule (did you mean 'cron'?)" in messages
    assert "cron: expected 5 fields" in messages
    assert "policy.max_runtime: 'forever' is not a duration" in messages
    assert "expected ':' after key 'cron'" in messages
    assert "strings use double quotes" in messages
    assert 'agent "broken": needs command' in messages
    assert "unknown key 'modle' in agent (did you mean 'model'?)" in messages
    assert str(info.value).splitlines()[0] == (
        "many.symbi:4:3: unknown key 'crn' in schedule (did you mean 'cron'?)"
    )


def test_a_file_with_any_error_loads_nothing(tmp_path: Path) -> None:
    good = write(tmp_path, "a.symbi", GOOD)
    bad = write(tmp_path, "b.symbi", MANY_ERRORS)
    with pytest.raises(DslError) as info:
        load_dsl_files([good, bad], env={})
    assert {i.path for i in info.value.issues} == {str(bad)}
    assert isinstance(info.value, SchedulerError)
    assert info.value.details()["issues"][0]["line"] == 4  # type: ignore[index]


def test_errors_from_all_files_are_collected(tmp_path: Path) -> None:
    one = write(tmp_path, "one.symbi", 'schedule { name: "x" agent: "a" }\n')
    two = write(tmp_path, "two.symbi", 'agent { command: "true" }\n')
    with pytest.raises(DslError) as info:
        load_dsl_files([one, two], env={})
    assert [str(i) for i in info.value.issues] == [
        f'{one}:1:1: schedule "x" needs either cron or at (cron: "0 9 * * *" or at: ISO 8601), '
        'or after: "a job\'s name"',
        f"{two}:1:1: agent block needs a name: agent NAME {{ ... }}",
    ]


def test_directories_are_searched_for_symbi_files_sorted(tmp_path: Path) -> None:
    write(tmp_path / "dsl", "b.symbi", 'schedule { name: "b" agent: "x" cron: "* * * * *" }\n')
    write(tmp_path / "dsl", "a.symbi", 'schedule { name: "a" agent: "x" cron: "* * * * *" }\n')
    write(tmp_path / "dsl", "notes.txt", "not DSL at all {")
    write(tmp_path / "dsl" / "sub", "c.symbi", "also { not read")
    bundle = load_dsl_files([tmp_path / "dsl"], env={})
    assert isinstance(bundle, DslBundle)
    assert [j.name for j in bundle.jobs] == ["a", "b"]
    assert bundle.paths == (str(tmp_path / "dsl" / "a.symbi"), str(tmp_path / "dsl" / "b.symbi"))
    assert bundle.job("b") is not None and bundle.job("b").source == (  # type: ignore[union-attr]
        f"dsl:{tmp_path / 'dsl' / 'b.symbi'}"
    )
    assert bundle.location("schedule:a") == (str(tmp_path / "dsl" / "a.symbi"), 1, 1)
    assert bundle.location("schedule:zzz") is None


def test_a_file_named_twice_loads_once(tmp_path: Path) -> None:
    path = write(tmp_path, "a.symbi", GOOD)
    bundle = load_dsl_files([path, tmp_path, str(path)], env={})
    assert [j.name for j in bundle.jobs] == ["daily-report"]


def test_duplicate_schedule_names_across_files(tmp_path: Path) -> None:
    one = write(tmp_path, "1.symbi", 'schedule { name: "same" agent: "a" cron: "* * * * *" }\n')
    two = write(
        tmp_path, "2.symbi", '\n\nschedule {\n  name: "same"\n  agent: "a"\n  cron: "@daily"\n}\n'
    )
    with pytest.raises(DslError) as info:
        load_dsl_files([one, two], env={})
    (issue,) = info.value.issues
    assert (issue.path, issue.line, issue.col) == (str(two), 3, 1)
    assert issue.message == f'duplicate schedule name "same" (first defined at {one}:1:1)'


def test_unknown_agent_is_checked_when_known_agents_is_given(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "x.symbi",
        'agent local-agent { command: "true" }\n'
        'schedule {\n  name: "uses-local"\n  agent: "local-agent"\n  cron: "@hourly"\n}\n'
        'schedule {\n  name: "uses-config"\n  agent: "from-config"\n  cron: "@hourly"\n}\n'
        'schedule {\n  name: "typo"\n  agent: "lokal-agent"\n  cron: "@hourly"\n}\n',
    )
    with pytest.raises(DslError) as info:
        load_dsl_files([path], env={}, known_agents={"from-config"})
    (issue,) = info.value.issues
    assert (issue.line, issue.col) == (14, 10)
    assert (
        issue.message
        == 'schedule "typo": unknown agent "lokal-agent" (did you mean "local-agent"?)'
    )
    # None: the caller checks agents itself
    assert len(load_dsl_files([path], env={}, known_agents=None).jobs) == 3


def test_unknown_agent_without_a_close_match_says_how_to_define_it(tmp_path: Path) -> None:
    path = write(tmp_path, "x.symbi", 'schedule { name: "s" agent: "backup-agent" cron: "@daily" }')
    with pytest.raises(DslError) as info:
        load_dsl_files([path], env={}, known_agents=["unrelated"])
    assert info.value.issues[0].message == (
        'schedule "s": unknown agent "backup-agent" '
        "(define it with agent backup-agent { ... } or [agents.backup-agent])"
    )
    assert load_dsl_files([], env={}).jobs == ()


def test_agents_defined_in_another_file_count(tmp_path: Path) -> None:
    agents = write(tmp_path, "agents.symbi", 'agent shared { handler: "pkg.mod:run" }\n')
    jobs = write(tmp_path, "jobs.symbi", 'schedule { name: "j" agent: "shared" cron: "@daily" }\n')
    bundle = load_dsl_files([jobs, agents], env={}, known_agents=())
    shared = bundle.agent("shared")
    assert shared is not None
    assert shared.name == "shared"
    assert shared.runner is RunnerKind.PYTHON
    assert shared.handler == "pkg.mod:run"
    assert shared.command is None
    assert shared.source == f"dsl:{agents}:1"
    assert bundle.agent("j") is None  # a schedule's name is not an agent
    (job,) = bundle.jobs
    assert (job.name, job.agent, job.cron) == ("j", "shared", "@daily")
    assert job.source == f"dsl:{jobs}"


def test_at_in_the_past_relative_to_now(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "at.symbi",
        'schedule {\n  name: "once"\n  agent: "a"\n  at: "2025-12-31T23:59:59Z"\n}\n',
    )
    with pytest.raises(DslError) as info:
        load_dsl_files([path], env={}, now=NOW)
    assert (info.value.issues[0].line, info.value.issues[0].col) == (4, 7)
    assert "already past" in info.value.issues[0].message
    # without now, no clock check
    assert load_dsl_files([path], env={}).jobs[0].at == datetime(
        2025, 12, 31, 23, 59, 59, tzinfo=UTC
    )


def test_missing_file_is_an_error() -> None:
    with pytest.raises(DslError) as info:
        load_dsl_files(["/nonexistent/x.symbi"], env={})
    assert str(info.value) == "/nonexistent/x.symbi:1:1: no such file or directory"


def test_non_utf8_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bin.symbi"
    path.write_bytes(b"schedule { name: \xff }")
    with pytest.raises(DslError, match="not UTF-8"):
        load_dsl_files([path], env={})


def test_expand_paths_reports_missing_and_keeps_order(tmp_path: Path) -> None:
    a = write(tmp_path, "z.symbi", "")
    files, issues = expand_paths([a, tmp_path / "missing"])
    assert files == [(str(a), a)]
    assert [i.message for i in issues] == ["no such file or directory"]


def test_validate_paths_reports_each_file(tmp_path: Path) -> None:
    good = write(tmp_path, "agent.symbi", GOOD)
    bad = write(tmp_path, "bad.symbi", MANY_ERRORS)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    reports = validate_paths([good, bad, empty_dir], env={})
    assert all(isinstance(r, ValidationReport) for r in reports)
    first, second, third = reports
    assert first.ok and first.summary == f"{good}: OK, 1 schedule, 1 agent"
    assert (first.schedules, first.agents) == (1, 1)
    assert not second.ok
    assert second.summary == f"{bad}: 7 errors"
    assert str(second.issues[0]) == (
        f"{bad}:4:3: unknown key 'crn' in schedule (did you mean 'cron'?)"
    )
    assert third.ok and third.summary == f"{empty_dir}: no *.symbi files"


def test_validate_paths_checks_across_files(tmp_path: Path) -> None:
    one = write(tmp_path, "1.symbi", 'schedule { name: "s" agent: "nobody" cron: "@daily" }\n')
    two = write(tmp_path, "2.symbi", 'schedule { name: "s" agent: "nobody" cron: "@daily" }\n')
    reports = validate_paths([one, two], env={}, known_agents=[])
    assert [r.ok for r in reports] == [False, False]
    assert "unknown agent" in reports[0].issues[0].message
    assert [i.message.split(" (")[0] for i in reports[1].issues] == [
        'duplicate schedule name "s"',
        'schedule "s": unknown agent "nobody"',
    ]


def test_reloading_the_same_text_gives_equal_definitions() -> None:
    assert parse_dsl(GOOD, "a.symbi") == parse_dsl(GOOD, "a.symbi")
