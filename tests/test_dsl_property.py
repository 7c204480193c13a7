"""Property: whatever the input, parse_dsl returns a document or raises DslError, nothing else.

Two generators: arbitrary text, and a "token soup" of DSL fragments that reaches deep into the
parser and the validators (keys the schema knows, values of every type, broken brackets).
The normal run tries a few hundred inputs each; the ``slow`` variants try ten thousand.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler_core.dsl import DslDocument, parse_dsl
from scheduler_core.errors import DslError

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ENV = {"SET": "value", "EMPTY": ""}

KEYS = [
    "name",
    "agent",
    "cron",
    "at",
    "timezone",
    "session_mode",
    "delivery",
    "webhook_url",
    "webhook_headers",
    "slack_channel",
    "email_recipients",
    "delivery_config",
    "policy",
    "heartbeat",
    "max_concurrent",
    "max_retries",
    "jitter",
    "catch_up",
    "agent_pin_jwt",
    "input",
    "require_approval",
    "max_runtime",
    "allowed_hours",
    "start",
    "end",
    "enabled",
    "context_mode",
    "max_iterations",
    "model",
    "command",
    "handler",
    "runner",
    "env",
    "system_prompt",
    "provider",
    "base_url",
    "temperature",
    "max_tokens",
    "timeout",
    "capabilities",
    "crn",
    '"Content-Type"',
]
VALUES = [
    '"0 9 * * *"',
    '"*/5 * * * *"',
    '"60 9 * * *"',
    '"@daily"',
    '"@bogus"',
    '"0 0 1 * * *"',
    '"2026-02-15T14:30:00Z"',
    '"9999-12-31T23:59:59-01:00"',
    '"0001-01-01T00:00:00+01:00"',
    '"America"',
    '"Europe/Berlin"',
    '"ephemeral_with_summary"',
    '"00:00"',
    '"25:00"',
    '"5m"',
    "5m",
    "30s",
    "1d",
    "0",
    "-1",
    "2",
    "1.5",
    "99999999999999999999999",
    "true",
    "false",
    "null",
    "bare-word",
    '"${SET}"',
    '"${UNSET}"',
    '"${EMPTY:-x}"',
    '"\\u00e9\\n"',
    '"""\n  multi\n  line\n"""',
    '["stdout", "log_file"]',
    '["a" 1 true]',
    "[]",
    '{ "k": "v" }',
    '{ start: "00:00" end: "04:00" }',
    "{}",
    '"pkg.mod:fn"',
    '"http://localhost:11434/v1"',
]
PUNCT = [
    "{",
    "}",
    "[",
    "]",
    ":",
    "=",
    ",",
    ";",
    "\n",
    " ",
    "#",
    "//",
    "/*",
    "*/",
    '"',
    '"""',
    "+",
    "'",
]
HEADS = ["schedule {", "schedule name {", 'schedule "q" {', "agent a {", "agent {", "agent b-c {"]


def _fragment() -> st.SearchStrategy[str]:
    entry = st.builds(lambda k, v: f"{k}: {v}\n", st.sampled_from(KEYS), st.sampled_from(VALUES))
    block = st.builds(lambda k: f"{k} {{\n", st.sampled_from(KEYS))
    return st.one_of(
        entry,
        entry,
        entry,
        block,
        st.sampled_from(HEADS),
        st.sampled_from(PUNCT),
        st.sampled_from(VALUES),
        st.sampled_from(KEYS),
    )


token_soup = st.lists(_fragment(), max_size=40).map("".join)
anything = st.text(max_size=300)
dsl_alphabet = st.text(
    alphabet=st.sampled_from(list("{}[]:=,;\"#/*\\$ \n\tabc019-.@+'")), max_size=200
)


def check(text: str) -> None:
    try:
        result = parse_dsl(text, "prop.symbi", env=ENV, now=NOW)
    except DslError as exc:
        assert exc.issues, "a DslError always carries at least one issue"
        for issue in exc.issues:
            assert issue.line >= 1 and issue.col >= 1
            assert issue.message
    else:
        assert isinstance(result, DslDocument)


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(anything)
def test_random_text_raises_only_dsl_errors(text: str) -> None:
    check(text)


@FAST
@given(dsl_alphabet)
def test_random_dsl_characters_raise_only_dsl_errors(text: str) -> None:
    check(text)


@FAST
@given(token_soup)
def test_token_soup_raises_only_dsl_errors(text: str) -> None:
    check(text)


@FAST
@given(st.lists(st.tuples(st.sampled_from(KEYS), st.sampled_from(VALUES)), max_size=12))
def test_well_formed_blocks_raise_only_dsl_errors(entries: list[tuple[str, str]]) -> None:
    body = "\n".join(f"  {k}: {v}" for k, v in entries)
    check(f"schedule {{\n{body}\n}}\nagent x {{\n{body}\n}}\n")


@pytest.mark.slow
@SLOW
@given(anything)
def test_random_text_heavy(text: str) -> None:
    check(text)


@pytest.mark.slow
@SLOW
@given(token_soup)
def test_token_soup_heavy(text: str) -> None:
    check(text)


def test_huge_numbers_are_errors_not_crashes() -> None:
    with pytest.raises(DslError, match="number too long"):
        parse_dsl(
            'schedule { name: "n" agent: "a" cron: "@daily" max_retries: ' + "9" * 5000 + " }"
        )


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    for opener in ("[", "{", "{a:"):
        text = 'schedule { name: "n" agent: "a" cron: "@daily" x: ' + opener * 5000
        with pytest.raises(DslError):
            parse_dsl(text)
