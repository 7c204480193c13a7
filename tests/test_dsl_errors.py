"""Malformed DSL: each input reports exactly one error, at the exact line:col, with a hint.

Positions are 1-based. ``H`` opens a schedule with a name and an agent on lines 1-3, so the
line under test is line 4 unless the case says otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scheduler_core.dsl import parse_dsl
from scheduler_core.errors import DslError

NOW = datetime(2026, 1, 1, tzinfo=UTC)
H = 'schedule {\n  name: "a"\n  agent: "b"\n'

CASES = [
    pytest.param(
        H + '  crn: "0 9 * * *"\n}\n',
        4,
        3,
        "unknown key 'crn' in schedule (did you mean 'cron'?)",
        id="unknown_key",
    ),
    pytest.param(
        H + '  cron: "0 9 * * *"\n  frobnicate: 1\n}\n',
        5,
        3,
        "unknown key 'frobnicate' in schedule",
        id="unknown_key_no_hint",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n  policy {\n    max_runtim: "5m"\n  }\n}\n',
        6,
        5,
        "unknown key 'max_runtim' in policy (did you mean 'max_runtime'?)",
        id="unknown_policy_key",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n  heartbeat: { enabled: true, max_iteration: 5 }\n}\n',
        5,
        31,
        "unknown key 'max_iteration' in heartbeat (did you mean 'max_iterations'?)",
        id="unknown_heartbeat_key",
    ),
    pytest.param(
        H
        + (
            '  cron: "* * * * *"\n'
            '  policy { allowed_hours: { start: "00:00", end: "04:00", stop: "x" } }\n'
            "}\n"
        ),
        5,
        59,
        "unknown key 'stop' in allowed_hours",
        id="unknown_allowed_hours_key",
    ),
    pytest.param(
        H + '  cron: "60 9 * * *"\n}\n',
        4,
        9,
        "cron: minute value 60 out of range 0-59",
        id="cron_minute_range",
    ),
    pytest.param(
        H + '  cron: "0 9 * *"\n}\n',
        4,
        9,
        "cron: expected 5 fields",
        id="cron_field_count",
    ),
    pytest.param(
        H + '  cron: "0 9 ? * MON"\n}\n',
        4,
        9,
        "cron: day-of-month",
        id="cron_quartz",
    ),
    pytest.param(
        H + "  cron: 0 9 * * *\n}\n",
        4,
        11,
        "unexpected 9 after the value of 'cron' (quote values",
        id="cron_unquoted",
    ),
    pytest.param(
        H + "}\n",
        1,
        1,
        'schedule "a" needs either cron or at',
        id="neither_cron_nor_at",
    ),
    pytest.param(
        H + '  cron: "0 9 * * *"\n  at: "2030-01-01T00:00:00Z"\n}\n',
        5,
        3,
        'schedule "a" has both cron and at',
        id="both_cron_and_at",
    ),
    pytest.param(
        H + '  at: "next tuesday"\n}\n',
        4,
        7,
        "at: 'next tuesday' is not an ISO 8601 timestamp",
        id="at_not_iso",
    ),
    pytest.param(
        H + '  at: "2020-01-01T00:00:00Z"\n}\n',
        4,
        7,
        "at: 2020-01-01T00:00:00Z is already past",
        id="at_past",
    ),
    pytest.param(
        ('schedule {\n  agent: "b"\n  cron: "* * * * *"\n}\n'),
        1,
        1,
        "schedule block is missing required key 'name'",
        id="missing_name",
    ),
    pytest.param(
        ('schedule {\n  name: "a"\n  cron: "* * * * *"\n}\n'),
        1,
        1,
        "schedule \"a\" is missing required key 'agent'",
        id="missing_agent",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n  policy { require_approval: "yes" }\n}\n',
        5,
        30,
        "policy.require_approval: expected true or false, got a string",
        id="wrong_type_bool",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n  delivery: ["stdout", 42]\n}\n',
        5,
        24,
        "delivery[1]: expected a string, got a number",
        id="wrong_type_list_item",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n  max_concurrent: "two"\n}\n',
        5,
        19,
        "max_concurrent: expected a whole number, got a string",
        id="wrong_type_max_concurrent",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n  policy { max_runtime: "5 minutes" }\n}\n',
        5,
        25,
        "policy.max_runtime: '5 minutes' is not a duration",
        id="bad_duration",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n  session_mode: "sticky"\n}\n',
        5,
        17,
        "session_mode: 'sticky' is not one of",
        id="bad_session_mode",
    ),
    pytest.param(
        H
        + (
            '  cron: "* * * * *"\n'
            "  policy {\n"
            '    allowed_hours: { start: "25:00", end: "04:00" }\n'
            "  }\n"
            "}\n"
        ),
        6,
        29,
        "policy.allowed_hours.start: '25:00' is not a time of day",
        id="bad_allowed_hours",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n  timezone: "Mars/Olympus"\n}\n',
        5,
        13,
        "timezone: unknown time zone 'Mars/Olympus'",
        id="bad_timezone",
    ),
    pytest.param(
        ('schedule {\n  name: "has space"\n  agent: "b"\n  cron: "* * * * *"\n}\n'),
        2,
        9,
        "name: 'has space' is not a valid name",
        id="bad_name",
    ),
    pytest.param(
        'agent a {\n  command: "x"\n  env: { TOKEN: "Bearer ${METRICS_API_KEY}" }\n}\n',
        3,
        17,
        "${METRICS_API_KEY} is not set",
        id="unset_var_in_agent",
    ),
    pytest.param(
        H + '  cron: "0 9 * * *\n}\n',
        4,
        9,
        "unterminated string",
        id="unterminated_string",
    ),
    pytest.param(
        ('agent a {\n  model: "m"\n  system_prompt: """\n  never closed\n}\n'),
        3,
        18,
        'unterminated string: \'"""\' is never closed',
        id="unterminated_triple",
    ),
    pytest.param(
        H + '  cron: "* * * * *" @\n}\n',
        4,
        21,
        "unexpected character '@'",
        id="unexpected_char",
    ),
    pytest.param(
        H + "  cron: '* * * * *'\n}\n",
        4,
        9,
        "strings use double quotes",
        id="single_quotes",
    ),
    pytest.param(
        H + '  cron "* * * * *"\n}\n',
        4,
        8,
        "expected ':' after key 'cron'",
        id="missing_colon",
    ),
    pytest.param(
        H + "  cron:\n}\n",
        5,
        1,
        "expected a value for 'cron', got '}'",
        id="missing_value",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n',
        1,
        10,
        "'{' is never closed",
        id="unclosed_block_eof",
    ),
    pytest.param(
        H
        + (
            '  cron: "* * * * *"\n'
            "  policy {\n"
            "    require_approval: true\n"
            "schedule {\n"
            '  name: "c"\n'
            '  agent: "d"\n'
            '  cron: "* * * * *"\n'
            "}\n"
        ),
        5,
        10,
        "'{' is never closed: add the matching '}' before the next block at 7:1",
        id="unclosed_before_next_block",
    ),
    pytest.param(
        ('}\nschedule { name: "a" agent: "b" cron: "* * * * *" }\n'),
        1,
        1,
        "unexpected '}': no block is open",
        id="stray_close_brace",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n  delivery: ["stdout", "log_file"\n}\n',
        6,
        1,
        "'[' at 5:13 is never closed",
        id="unclosed_list",
    ),
    pytest.param(
        ('schedul {\n  name: "a"\n}\n'),
        1,
        1,
        "got identifier 'schedul' (did you mean 'schedule'?)",
        id="bad_top_level",
    ),
    pytest.param(
        'name: "a"\n',
        1,
        1,
        "keys belong inside a 'schedule { ... }'",
        id="key_outside_block",
    ),
    pytest.param(
        ('schedule\n  name: "a"\n}\n'),
        2,
        3,
        "expected '{' to open the schedule block",
        id="missing_open_brace",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n  cron: "0 * * * *"\n}\n',
        5,
        3,
        "duplicate key 'cron' (first given at 4:3)",
        id="duplicate_key",
    ),
    pytest.param(
        (
            'schedule { name: "a" agent: "b" cron: "* * * * *" }\n'
            'schedule { name: "a" agent: "b" cron: "* * * * *" }\n'
        ),
        2,
        18,
        'duplicate schedule name "a" (first defined at 1:1)',
        id="duplicate_schedule",
    ),
    pytest.param(
        ('agent x { command: "true" }\nagent x { command: "false" }\n'),
        2,
        7,
        'duplicate agent name "x" (first defined at 1:1)',
        id="duplicate_agent",
    ),
    pytest.param(
        ('schedule a {\n  name: "b"\n  agent: "c"\n  cron: "* * * * *"\n}\n'),
        2,
        9,
        "name 'b' does not match the name 'a'",
        id="name_mismatch",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n  input: "C:\\temp\\q"\n}\n',
        5,
        18,
        "invalid escape '\\q'",
        id="bad_escape",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n  max_concurrent: 5x\n}\n',
        5,
        19,
        "'5x' is neither a number nor a duration",
        id="bad_number_word",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n/* open\n}\n',
        5,
        1,
        "unterminated comment",
        id="unterminated_comment",
    ),
    pytest.param(
        ('agent {\n  command: "true"\n}\n'),
        1,
        1,
        "agent block needs a name",
        id="agent_without_name",
    ),
    pytest.param(
        ('agent idle {\n  description: "nothing to run"\n}\n'),
        1,
        1,
        'agent "idle": needs command (a program), handler (module:function) or model',
        id="agent_no_runner",
    ),
    pytest.param(
        ('agent both {\n  command: "true"\n  handler: "m:f"\n}\n'),
        1,
        1,
        'agent "both": cannot tell the runner from command and handler',
        id="agent_ambiguous_runner",
    ),
    pytest.param(
        ('agent x {\n  runner: "llm"\n  command: "true"\n}\n'),
        2,
        11,
        "runner: 'llm' needs 'model'",
        id="agent_runner_needs_field",
    ),
    pytest.param(
        ('agent x {\n  command: "true"\n  modle: "gpt"\n}\n'),
        3,
        3,
        "unknown key 'modle' in agent (did you mean 'model'?)",
        id="agent_unknown_key",
    ),
    pytest.param(
        ('agent x {\n  runner: "docker"\n  command: "true"\n}\n'),
        2,
        11,
        "runner: 'docker' is not one of: command, python, llm",
        id="agent_bad_runner",
    ),
    pytest.param(
        ('agent x {\n  handler: "not a handler"\n}\n'),
        2,
        12,
        "handler: 'not a handler' is not a handler",
        id="agent_bad_handler",
    ),
    pytest.param(
        ('agent x {\n  model: "m"\n  provider: "cohere"\n}\n'),
        3,
        13,
        "provider: 'cohere' is not one of: openai, anthropic",
        id="agent_bad_provider",
    ),
    pytest.param(
        ('agent x {\n  command: "true"\n  env: ["A=1"]\n}\n'),
        3,
        8,
        "env: expected an object of strings",
        id="agent_bad_env",
    ),
    pytest.param(
        ("agent x {\n  command: []\n}\n"),
        2,
        12,
        "command: must not be an empty list",
        id="agent_empty_command",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n  delivery: ["a": "b"]\n}\n',
        5,
        17,
        "unexpected ':' in a list",
        id="colon_in_list",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n  delivery_config: ' + "[" * 40 + "]" * 40 + "\n}\n",
        5,
        51,
        "nesting deeper than 32 levels",
        id="too_deep",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n  heartbeat: {\n    max_iterations: 0\n  }\n}\n',
        6,
        21,
        "heartbeat.max_iterations: must be between 1 and 10000, got 0",
        id="heartbeat_zero_iterations",
    ),
    pytest.param(
        H + '  cron: "* * * * *"\n  policy {\n    allowed_hours: { start: "00:00" }\n  }\n}\n',
        6,
        20,
        "allowed_hours is missing required key 'end'",
        id="allowed_hours_missing_end",
    ),
]


@pytest.mark.parametrize(("source", "line", "col", "fragment"), CASES)
def test_malformed_input_reports_position_and_message(
    source: str, line: int, col: int, fragment: str
) -> None:
    with pytest.raises(DslError) as info:
        parse_dsl(source, "x.symbi", env={}, now=NOW)
    issues = info.value.issues
    assert len(issues) == 1, [str(i) for i in issues]
    issue = issues[0]
    assert (issue.path, issue.line, issue.col) == ("x.symbi", line, col), str(issue)
    assert fragment in issue.message
    assert str(issue).startswith(f"x.symbi:{line}:{col}: ")


def test_there_are_at_least_thirty_malformed_cases() -> None:
    assert len(CASES) >= 30


def test_a_name_given_three_times_names_its_first_block_each_time() -> None:
    """Each later block of a name is a duplicate of the first (not of the one before it)."""
    block = 'schedule {{ name: "a" agent: "b" cron: "{} * * * *" }}\n'
    text = "".join(block.format(minute) for minute in (1, 2, 3))
    with pytest.raises(DslError) as caught:
        parse_dsl(text, "f.symbi")
    assert [str(issue) for issue in caught.value.issues] == [
        'f.symbi:2:18: duplicate schedule name "a" (first defined at 1:1)',
        'f.symbi:3:18: duplicate schedule name "a" (first defined at 1:1)',
    ]


def test_strings_read_whole_or_char_by_char_give_the_same_values() -> None:
    """A plain one-line string is read in one step; with an escape, character by character:
    the values are those the escapes spell, ``${VAR}`` kept as written either way."""
    text = (
        'schedule {\n  name: "plain"\n  agent:\t\t"a"\n  cron: "*/5 * * * *"\n'
        '  webhook_url: "https://x.example/${HOOK}"\n  input: "tab\\there \\"q\\" \\$x"\n}\n'
    )
    job = parse_dsl(text, "f.symbi").jobs[0]
    assert (job.name, job.agent, job.cron) == ("plain", "a", "*/5 * * * *")
    assert job.input == 'tab\there "q" $x'
