"""Bad input, fuzzed (issue 9): the DSL, the JSON job body, the TOML config and the cron parser.

Each parser meets 10,000 generated inputs (deterministic: ``derandomize=True``), random text and
near-valid input built from what the parser really reads. The contract checked everywhere: the
documented error type, carrying where the problem is (a DSL ``file:line:col`` inside the text, a
job field, a config key and line, a cron field), or a valid result; never another exception.

Then, through a real SchedulerService over a SQLite file: a batch add or a DSL load with one bad
item writes nothing. Last, hostile values: path traversal, control characters, ANSI escapes and
huge inputs in names, cron expressions, DSL text and config text.

The four 10,000-example runs (about 35 s together on two cores) and the 1 MiB junk test are
marked ``slow``; the rest of the module takes a few seconds.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import sqlite3
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler_core.clock import FakeClock
from scheduler_core.config import (
    ENV_OVERRIDES,
    ConfigErrors,
    SchedulerConfig,
    config_to_toml,
    load_config_text,
)
from scheduler_core.cron import MACROS, CronSchedule, validate_cron
from scheduler_core.delivery.log_file import safe_filename
from scheduler_core.dsl import DslDocument, load_dsl_files, parse_dsl
from scheduler_core.dsl._loader import MAX_SOURCE_CHARS
from scheduler_core.dsl.agents import agent_from_mapping
from scheduler_core.engine import Engine
from scheduler_core.errors import (
    ConfigError,
    ConflictError,
    CronError,
    DslError,
    SchedulerError,
    ValidationError,
)
from scheduler_core.jobspec import (
    JOB_FIELDS,
    MAX_DURATION_SECONDS,
    NAME_PATTERN,
    job_from_mapping,
    job_to_dict,
    spec_from_json,
    spec_to_json,
    validate_name,
)
from scheduler_core.model import JobDefinition

from .conftest import Agents, make_config

FUZZ = settings(
    max_examples=10_000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
STORE_FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def seeded(make: Any) -> st.SearchStrategy[Any]:
    """Inputs built by ``make(rng)`` from one drawn seed.

    Structured inputs are built with ``random.Random`` rather than composed strategies: drawing
    dozens of choices per example cost hypothesis 1-2 ms, which made 10,000 examples per parser
    take minutes. One choice per example keeps each parser's run to seconds; the built value is
    what a failure reports, so it is reproduced as easily.
    """
    return st.integers(0, 2**32 - 1).map(lambda seed: make(random.Random(seed)))


def _rand_text(rng: random.Random, size: int) -> str:
    """Mostly ASCII, some of any code point (surrogates and controls included)."""
    out = []
    for _ in range(rng.randint(0, size)):
        r = rng.random()
        if r < 0.7:
            out.append(chr(rng.randrange(0x20, 0x7F)))
        elif r < 0.8:
            out.append(chr(rng.randrange(0x20)))
        else:
            out.append(chr(rng.randrange(0x110000)))
    return "".join(out)


GUIDE_DIR = Path(__file__).parent / "dsl_cases" / "guide"
GUIDE_FILES = sorted(GUIDE_DIR.glob("*.symbi"))
GUIDE_TEXTS = [p.read_text(encoding="utf-8") for p in GUIDE_FILES]
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ENV = {"METRICS_API_KEY": "k", "AGENT_PIN_JWT": "a.b.c", "SET": "value", "EMPTY": ""}

# hostile pieces that every generator below mixes in
CONTROL = ["\x00", "\x01", "\x07", "\x08", "\x1b", "\x1b[31m", "\x1b]0;pwned\x07", "\x7f", "\x9b"]
UNICODE = [
    "é",
    "日本語",
    "🙂",
    "\u202e",
    "\u2028",
    "\u2029",
    "\u0085",
    "\ufeff",
    "\ud800",
    "\u200b",
]
HUGE = ["9" * 41, "9" * 400, "9" * 5000, "1" + "0" * 308 + "m", "1e999", "-0", "0x10", "1_000"]
NESTING = ["{" * 40, "[" * 40, "{a:" * 40, "[{" * 20, "}" * 40, "]" * 40]
HOSTILE_NAMES = [
    "../../etc/passwd",
    "..",
    ".",
    "/etc/passwd",
    "/tmp/x",
    "a/b",
    "a\\b",
    "C:\\Windows\\win.ini",
    "name\x00tail",
    "name\n",
    "line\nbreak",
    "tab\there",
    "cr\rhere",
    "\x1b[31mred\x1b[0m",
    "red\x1b[2J",
    "\u202egnp.exe",
    "a" * 129,
    "a" * 10_240,
    "",
    " ",
    " leading",
    "trailing ",
    "-dash",
    ".hidden",
    "semi;colon",
    "quote'd",
    'dq"uote',
    "$(reboot)",
    "`id`",
    "name with space",
    "ünïcode",
    "\ud800",
]


# ---------------------------------------------------------------------------------------------
# DSL
# ---------------------------------------------------------------------------------------------

_DSL_TOKEN = re.compile(
    r'"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|[A-Za-z_][\w\-.@]*|[0-9]+|[ \t]+|\n|#[^\n]*|.'
)
GUIDE_TOKENS = [_DSL_TOKEN.findall(text) for text in GUIDE_TEXTS]
assert all("".join(toks) == text for toks, text in zip(GUIDE_TOKENS, GUIDE_TEXTS, strict=True))
ALL_GUIDE_TOKENS = sorted({t for toks in GUIDE_TOKENS for t in toks})
DSL_PIECES = [
    *CONTROL,
    *UNICODE,
    *HUGE,
    *NESTING,
    "schedule",
    "agent",
    "schedule {",
    "agent x {",
    "policy",
    "heartbeat",
    "{",
    "}",
    "[",
    "]",
    ":",
    "=",
    ",",
    ";",
    "\n",
    '"',
    '"""',
    "'",
    "\\",
    '"\\u12"',
    '"\\q"',
    '"${UNSET}"',
    '"${SET:-d}"',
    '"$${x}"',
    '"${',
    "/*",
    "*/",
    "//",
    "#",
    "+",
    "*",
    "@",
    "true",
    "null",
    "5m",
    "0ms",
    "-1",
    "1.5",
    "30s",
    '"0 9 * * *"',
    '"61 * * * *"',
    '"@bogus"',
    '"2020-01-01T00:00:00Z"',
    '"9999-12-31T23:59:59-01:00"',
    '"America"',
    '"../../etc/passwd"',
    '"\\u0000"',
    '"\\u001b[31m"',
    "\r",
    "\r\n",
    "\t",
    "\x0b",
    "\x0c",
]


_DSL_OPS = ("delete", "duplicate", "replace", "insert", "swap", "cut")


def _mutate_guide(picks: list[int], ops: list[tuple[str, int, str, int]]) -> str:
    """Guide examples (one to three files) with tokens deleted, duplicated, replaced, swapped."""
    tokens = [t for i in picks for t in GUIDE_TOKENS[i]]
    for op, i, piece, j in ops:
        if not tokens:
            tokens.append(piece)
            continue
        i %= len(tokens)
        if op == "delete":
            del tokens[i]
        elif op == "duplicate":
            tokens.insert(i, tokens[i])
        elif op == "replace":
            tokens[i] = piece
        elif op == "insert":
            tokens.insert(i, piece)
        elif op == "swap":
            j %= len(tokens)
            tokens[i], tokens[j] = tokens[j], tokens[i]
        else:  # the file ends early
            del tokens[i:]
    return "".join(tokens)


DSL_ALPHABET = "{}[]:=,;\"#/*\\$ \n\tabc019-.@+'\x1b"


def gen_dsl(rng: random.Random) -> str:
    if rng.random() < 0.15:  # DSL characters in any order
        return "".join(rng.choice(DSL_ALPHABET) for _ in range(rng.randint(0, 200)))
    picks = [rng.randrange(len(GUIDE_TOKENS)) for _ in range(rng.randint(1, 3))]
    ops = [
        (
            rng.choice(_DSL_OPS),
            rng.randrange(10**6),
            rng.choice(DSL_PIECES) if rng.random() < 0.6 else rng.choice(ALL_GUIDE_TOKENS),
            rng.randrange(10**6),
        )
        for _ in range(rng.randint(1, 6))
    ]
    return _mutate_guide(picks, ops)


dsl_inputs = st.one_of(seeded(gen_dsl), seeded(gen_dsl), seeded(gen_dsl), st.text(max_size=300))


def _dsl_lines(text: str) -> list[str]:
    """The lines the DSL numbers (a leading BOM dropped, CRLF read as LF)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").split("\n")


def check_dsl(text: str) -> None:
    try:
        doc = parse_dsl(text, "fuzz.symbi", env=ENV, now=NOW)
    except DslError as exc:
        assert exc.issues, "a DslError lists at least one issue"
        lines = _dsl_lines(text)
        for issue in exc.issues:
            assert issue.path == "fuzz.symbi"
            assert 1 <= issue.line <= len(lines), (issue, len(lines))
            assert 1 <= issue.col <= len(lines[issue.line - 1]) + 1, (issue, lines[issue.line - 1])
            assert issue.message.strip()
            # messages are shown in the console and by `symbi cron validate`: no raw control
            # characters (an ESC from the file would drive the terminal), one line each
            assert issue.message.isprintable(), repr(issue.message)
            assert len(issue.message) <= 400
        assert str(exc).startswith("fuzz.symbi:")
    else:
        assert isinstance(doc, DslDocument)
        for job in doc.jobs:
            assert NAME_PATTERN.fullmatch(job.name) and NAME_PATTERN.fullmatch(job.agent)
            assert (job.cron is None) != (job.at is None)
            if job.cron is not None:
                CronSchedule(job.cron, job.timezone)
            assert job.at is None or job.at > NOW
        for agent in doc.agents:
            assert NAME_PATTERN.fullmatch(agent.name)


@pytest.mark.slow
@FUZZ
@given(dsl_inputs)
def test_dsl_fuzz(text: str) -> None:
    """Random text, DSL characters, and the guide's examples mutated token by token."""
    check_dsl(text)


def test_dsl_guide_examples_parse_unmutated() -> None:
    """The mutation base is valid, so mutations start from real, accepted DSL."""
    # an empty glob (a moved directory) would leave nothing to check and nothing to mutate
    assert GUIDE_FILES, f"no *.symbi files under {GUIDE_DIR}"
    assert len(GUIDE_TEXTS) == len(GUIDE_FILES) >= 10, GUIDE_FILES
    for path, text in zip(GUIDE_FILES, GUIDE_TEXTS, strict=True):
        assert text.strip(), path
        doc = parse_dsl(text, env=ENV, now=NOW)
        assert doc
        assert doc.jobs or doc.agents, path  # each example defines something


# ---------------------------------------------------------------------------------------------
# The JSON job body
# ---------------------------------------------------------------------------------------------

SPECIAL_NUMBERS: list[Any] = [10**400, -(10**400), 2**63, 2**70, 0, -1, 1, 1e308, -0.0, 0.5]
SPECIAL_NUMBERS += [float("inf"), float("-inf"), float("nan"), 5e-324]
SPECIAL_STRINGS = CONTROL + UNICODE + HOSTILE_NAMES[:20]


def gen_json_scalar(rng: random.Random) -> Any:
    kind = rng.randrange(8)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.randint(-(2**70), 2**70) if rng.random() < 0.3 else rng.randint(-3, 100)
    if kind == 2:
        return rng.choice(SPECIAL_NUMBERS)
    if kind == 3:
        return rng.uniform(-1e6, 1e6)
    if kind == 4:
        return rng.choice(SPECIAL_STRINGS)
    return _rand_text(rng, 12)


def gen_json(rng: random.Random, depth: int = 2) -> Any:
    """Any JSON value (plus what json.loads also gives: NaN, Infinity, huge integers)."""
    r = rng.random()
    if depth == 0 or r < 0.6:
        return gen_json_scalar(rng)
    if r < 0.8:
        return [gen_json(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {_rand_text(rng, 8): gen_json(rng, depth - 1) for _ in range(rng.randint(0, 3))}


DURATIONS = ["5m", "30s", "2h", "1d", "1w", "250ms", " 5 m ", "5x", "", "-5m", "1e3s", 0, 30, 1.5]
DURATIONS += [-1, 10**400, 1e308, float("inf"), float("nan"), True, "9" * 400 + "d"]
POLICY_VALUES: dict[str, list[Any]] = {
    "require_approval": [True, False, "yes", 1, None],
    "require_agent_pin": [True, False, "true"],
    "approvers": [["ops"], "ops", [], [1], ["a", None], [""]],
    "require_capabilities": [["deployment"], []],
    "allowed_environments": [["staging", "production"], "prod"],
    "max_runtime": DURATIONS,
    "max_runtime_seconds": DURATIONS,
    "approval_timeout": DURATIONS,
    "allowed_hours": [
        {"start": "00:00", "end": "04:00"},
        {"start": "22:00", "end": "02:00", "timezone": "job"},
        {"start": "9:00", "end": "24:00", "timezone": "Europe/Berlin"},
        {"start": "25:00", "end": "04:00"},
        {"start": "00:00"},
        {"start": 0, "end": None, "zone": "UTC"},
        {"start": "00:00", "end": "04:00", "timezone": "America"},
        "00:00-04:00",
        [],
    ],
}
HEARTBEAT_VALUES = [
    True,
    False,
    None,
    {"enabled": True, "context_mode": "shared_persistent", "max_iterations": 50},
    {"enabled": "yes"},
    {"max_iterations": 0},
    {"max_iterations": 10**400},
    {"max_iterations": 1e308},
    {"max_iterations": float("nan")},
    {"context_mode": "bogus"},
    {"interval": 5},
    [],
]
FIELD_VALUES: dict[str, list[Any]] = {
    "name": ["daily-report", "a", "x.y:z@w-1_2", *HOSTILE_NAMES],
    "agent": ["reporter-agent", "a", *HOSTILE_NAMES[:12]],
    "cron": [
        "0 9 * * *",
        "*/5 * * * *",
        "@daily",
        "0 0 31 2 *",
        "61 * * * *",
        "* * * *",
        "0 0 * * * *",
        "@reboot",
        "L * * * *",
        "9" * 5000 + " * * * *",
        "*/" + "9" * 5000 + " * * * *",
        "",
        " ",
    ],
    "at": [
        "2030-01-01T00:00:00Z",
        "2030-01-01T00:00:00+02:00",
        "2030-01-01",
        "2030-13-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "tomorrow",
        "",
    ],
    "timezone": [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "America",
        "Etc",
        "../../etc/passwd",
        "/etc/localtime",
        "a" * 300,
        "UTC/",
        " UTC",
        "",
        "Mars/Olympus",
    ],
    "session_mode": ["ephemeral_with_summary", "SHARED-PERSISTENT", "fully_ephemeral", "nope"],
    "catch_up": ["once", "skip", "SKIP", "never"],
    "delivery": [["stdout", "log_file"], "stdout", [], [None], ["", "x"], [["nested"]]],
    "email_recipients": [["ops@example.com"], "ops@example.com"],
    "webhook_headers": [{"Authorization": "Bearer x"}, {"X": 1}, {"": ""}, ["h"], {"a\x00": "b"}],
    "delivery_config": [{"pagerduty": {"key": "x"}}, {}, "x", [1]],
    "webhook_url": ["https://example.com/hook", "", None, 5],
    "slack_channel": ["#ops", None, ""],
    "agent_pin_jwt": ["a.b.c", None],
    "input": ["hello", "", None, "a\x00b", "\x1b[31m"],
    "policy": [None, {}, "strict", []],
    "heartbeat": HEARTBEAT_VALUES,
    "max_concurrent": [1, 2, 0, -1, 10_000, 10_001, 1.0, 1.5, "2", 10**400, float("inf")],
    "max_retries": [0, 3, None, 1000, 1001, -1, 3.0, "3", 10**400],
    "jitter": DURATIONS,
    "jitter_seconds": DURATIONS,
    "misfire_grace": DURATIONS,
    "misfire_grace_seconds": DURATIONS,
}
ALIAS_KEYS = ["agent_id", "agent_name", "cron_expr", "cron_expression", "agentpin_jwt"]
STATE_KEYS = ["id", "status", "next_run_at", "run_count", "policy_ids", "one_shot", "paused"]
BODY_KEYS = sorted({*JOB_FIELDS, *FIELD_VALUES, *ALIAS_KEYS, *STATE_KEYS})


_POLICY_KEYS = [*POLICY_VALUES, "bogus", "max_runtme"]
_BASES = [
    {"name": "job-1", "agent": "agent-1", "cron": "0 9 * * *"},
    {"name": "job-1", "agent_id": "agent-1", "at": "2030-01-01T00:00:00Z"},
]


def _pool_or_any(rng: random.Random, pool: list[Any] | None) -> Any:
    return rng.choice(pool) if pool and rng.random() < 0.7 else gen_json(rng)


def gen_job_body(rng: random.Random) -> Any:
    """Mostly a valid body with fields set to near-valid or random values, extra keys added and
    required keys dropped; sometimes any JSON value at all."""
    if rng.random() < 0.1:
        return gen_json(rng)
    body: dict[str, Any] = dict(rng.choice(_BASES)) if rng.random() < 0.8 else {}
    for key in rng.sample(BODY_KEYS, rng.randint(0, 6)):
        if key == "policy" and rng.random() < 0.6:
            keys = rng.sample(_POLICY_KEYS, rng.randint(0, 4))
            body[key] = {k: _pool_or_any(rng, POLICY_VALUES.get(k)) for k in keys}
        else:
            body[key] = _pool_or_any(rng, FIELD_VALUES.get(key))
    for _ in range(rng.choice([0, 0, 0, 1, 2])):
        body[_rand_text(rng, 10)] = gen_json(rng)
    for key in rng.sample(["name", "agent", "agent_id", "cron", "at"], rng.choice([0, 0, 0, 1])):
        body.pop(key, None)  # required fields go missing too
    return body


def _top_key(field: str) -> str:
    return re.split(r"[.\[]", field, maxsplit=1)[0]


def check_job_body(body: Any) -> None:
    try:
        job = job_from_mapping(body)
    except ValidationError as exc:
        assert exc.errors and str(exc)
        for err in exc.errors:
            if not isinstance(body, dict):  # the body itself is wrong: no field to name
                assert err.field is None and "expected a JSON object" in str(err)
                continue
            assert isinstance(err.field, str), f"no field named: {err}"
            top = _top_key(err.field)
            assert err.field in body or top in body or top in ("name", "agent", "cron"), (
                err.field,
                sorted(body),
            )
        json.dumps(exc.to_dict())  # the API sends it as JSON
    else:
        assert isinstance(job, JobDefinition)
        assert NAME_PATTERN.fullmatch(job.name) and NAME_PATTERN.fullmatch(job.agent)
        assert (job.cron is None) != (job.at is None)
        if job.cron is not None:
            CronSchedule(job.cron, job.timezone)
        for value in (job.jitter_seconds, job.misfire_grace_seconds):
            assert value is None or (math.isfinite(value) and value >= 0)
        # what the store keeps reads back as the same job
        stored = spec_to_json(job)
        assert spec_to_json(spec_from_json(stored)) == stored
        json.dumps(job_to_dict(job))


@pytest.mark.slow
@FUZZ
@given(seeded(gen_job_body))
def test_job_body_fuzz(body: Any) -> None:
    """Near-valid bodies (every field, random JSON values, extra keys, missing keys) and any
    JSON value at all."""
    check_job_body(body)


# ---------------------------------------------------------------------------------------------
# The TOML config
# ---------------------------------------------------------------------------------------------


def _config_fields() -> dict[str, dict[str, Any]]:
    from scheduler_core.config._schema import _TABLES, _table_fields

    return {table: _table_fields(table) for table in _TABLES}


CONFIG_FIELDS = _config_fields()
AGENT_KEYS = [
    "runner",
    "command",
    "handler",
    "model",
    "system_prompt",
    "provider",
    "base_url",
    "api_key_env",
    "capabilities",
    "env",
    "working_dir",
    "timeout_seconds",
    "timeout",
    "max_tokens",
    "temperature",
    "description",
    "name",
    "cmd",
]
TOML_STRINGS = [
    "${SET}",
    "${UNSET}",
    "${UNSET:-fallback}",
    "$${literal}",
    "Europe/Berlin",
    "America",
    "../../etc/passwd",
    "module:Class",
    "sh -c true",
    "http://localhost:11434/v1",
    "openai",
    "~nobody-here/jobs",
    *CONTROL[:4],
    *UNICODE[:4],
]
TOML_SPECIALS: list[Any] = [0, 1, -1, 2**63 - 1, -(2**63), 65536, 3600, 100_000, 1024, 0.5, 1.0]
TOML_SPECIALS += [1e-9, 1e308, float("inf"), float("nan"), True, False]
TOML_SPECIALS += [
    datetime(1979, 5, 27, 7, 32),
    datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
    datetime(2026, 1, 1).date(),
    datetime(2026, 1, 1, 12, 30).time(),
]


def gen_toml_scalar(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.3:
        return rng.choice(TOML_SPECIALS)
    if r < 0.5:
        return (
            rng.randint(-100, 100_000) if rng.random() < 0.8 else rng.randint(-(2**63), 2**63 - 1)
        )
    if r < 0.6:
        return rng.uniform(-10, 1e5)
    if r < 0.8:
        return rng.choice(TOML_STRINGS)
    return _rand_text(rng, 10)


def gen_toml(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.75:
        return gen_toml_scalar(rng)
    if r < 0.9:
        return [gen_toml_scalar(rng) for _ in range(rng.randint(0, 3))]
    keys = ["a", "b", "PATH", "x-y", "k"]
    return {rng.choice(keys): gen_toml_scalar(rng) for _ in range(rng.randint(0, 3))}


TABLE_KEYS = {
    table: [
        n
        for n in CONFIG_FIELDS[table]
        if n != "agents" and f"{table}.{n}".lstrip(".") not in CONFIG_FIELDS  # sub-tables apart
    ]
    + ["bogus_key", "tick_interval"]
    for table in sorted(CONFIG_FIELDS)
}


def _make_config_doc(
    tables: list[tuple[str, list[tuple[str, Any]]]], agents: Any
) -> dict[str, Any]:
    """Known tables and keys (some misspelt or misplaced) with random values."""
    doc: dict[str, Any] = {}
    for table, entries in tables:
        target = doc
        for part in table.split(".") if table else []:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                child = target[part] = {}
            target = child
        target.update(entries)
    if agents is not None:
        doc["agents"] = agents
    return doc


def gen_config(rng: random.Random) -> str:
    """A document of known tables and keys (some misspelt or misplaced) with random values,
    written by tomlkit; or the documented example file mutated line by line."""
    if rng.random() < 0.3:
        ops = [
            (
                rng.choice(["delete", "duplicate", "replace", "insert"]),
                rng.randrange(10**6),
                rng.choice(CONFIG_JUNK),
            )
            for _ in range(rng.randint(1, 4))
        ]
        return _mutate_config(ops)
    tables = [
        (table, [(rng.choice(TABLE_KEYS[table]), gen_toml(rng)) for _ in range(rng.randint(0, 5))])
        for table in rng.sample(sorted(TABLE_KEYS), rng.randint(0, 4))
    ]
    agents: Any = None
    if rng.random() < 0.25:
        agents = {
            rng.choice(["a", "b-c", "d.e", "../x"]): {
                rng.choice(AGENT_KEYS): gen_toml(rng) for _ in range(rng.randint(0, 4))
            }
            for _ in range(rng.randint(0, 2))
        }
        if rng.random() < 0.15:
            agents = gen_toml_scalar(rng)
    try:
        return tomlkit.dumps(_make_config_doc(tables, agents))
    except Exception:  # a value tomlkit cannot write: the loader never sees it
        return ""


ENV_VALUES = ["", "1", "0", "yes", "true", "2.5", "x", "-3", "nan", "1e999", "1e300"]


def gen_config_case(rng: random.Random) -> tuple[str, dict[str, str]]:
    """A config text and an environment (random SYMBI_* overrides half the time)."""
    env = {"SET": "value"}
    if rng.random() < 0.5:
        for var in rng.sample(sorted(ENV_OVERRIDES), rng.randint(1, 3)):
            env[var] = rng.choice(ENV_VALUES)
    return gen_config(rng), env


def check_config(text: str, env: dict[str, str]) -> SchedulerConfig | None:
    try:
        cfg = load_config_text(text, "fuzz.toml", env=env)
    except ConfigError as exc:
        errors = exc.errors if isinstance(exc, ConfigErrors) else [exc]
        lines = text.splitlines()
        for err in errors:
            assert err.message.strip()
            # a key or a line; only a document tomlkit cannot read at all may have neither
            assert err.key or err.line is not None or "invalid TOML" in err.message, err
            if err.line is not None:
                assert 1 <= err.line <= len(lines) + 1, (err, len(lines))
        json.dumps(exc.to_dict(), default=str)
        return None
    assert isinstance(cfg, SchedulerConfig)
    return cfg


EXAMPLE_LINES = [
    line
    for line in (Path(__file__).parent.parent / "config.example.toml").read_text().splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]

CONFIG_JUNK = [
    "[scheduler",
    "x = ",
    'x = "unterminated',
    "[[agents]]",
    "tick_interval_seconds = -1",
    "max_concurrent_jobs = 1.5",
    "port = 99999",
    "timezone = 'America'",
    'api_keys = "k"',
    "[agents.z]",
    "command = []",
    "temperature = " + "9" * 400,
    "smtp_port = 0x" + "f" * 4000,
    "enable_metrics = 1",
    "\x00",
    "\x1b[31m = 1",
    "dsl_paths = [1]",
    "[scheduler.delivery.custom]",
    'ch = "mod:Class"',
    "max_jitter_seconds = 1e300",
]


def _mutate_config(ops: list[tuple[str, int, str]]) -> str:
    """The documented example file with lines deleted, duplicated, replaced or inserted."""
    lines = EXAMPLE_LINES.copy()
    for op, i, junk in ops:
        i %= len(lines)
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "replace":
            lines[i] = junk
        else:
            lines.insert(i, junk)
    return "\n".join(lines)


@pytest.mark.slow
@FUZZ
@given(
    st.one_of(
        seeded(gen_config_case),
        seeded(gen_config_case),
        st.tuples(st.text(max_size=200), st.just({"SET": "value"})),
    )
)
def test_config_fuzz(case: tuple[str, dict[str, str]]) -> None:
    """Documents of the known tables and keys with random values, the documented example file
    mutated line by line, random text; random SYMBI_* overrides."""
    text, env = case
    cfg = check_config(text, env)
    overridden = any(v for k, v in env.items() if k.startswith("SYMBI_"))
    if cfg is not None and not overridden and zlib.crc32(text.encode("utf-8", "replace")) % 3 == 0:
        # a valid config shown by `symbi config show` loads back as the same config (checked
        # for a third of them: config_to_toml costs ~10 ms)
        again = load_config_text(config_to_toml(cfg, mask_secrets=False), "fuzz.toml", env=env)
        assert again.scheduler == cfg.scheduler and again.api == cfg.api


# ---------------------------------------------------------------------------------------------
# Cron
# ---------------------------------------------------------------------------------------------

_CRON_FIELDS = [(0, 59, None), (0, 23, None), (1, 31, None), (1, 12, "JAN"), (0, 7, "SUN")]
BAD_ATOMS = ["?", "L", "W", "#", "5L", "LW", "L-3", "15W", "1#2", "", "~", "H", "*5", "**", "-"]
BAD_ATOMS += [
    "9" * 5000,
    "1-" + "9" * 5000,
    "*/" + "9" * 5000,
    "\u0663",
    "\uff15",
    "0x1",
    "+5",
    "1.5",
]
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Etc/GMT+5",
    "Pacific/Chatham",
    "America/Sao_Paulo",
]


MONTH_WORDS = ["JAN", "feb", "Dec", "JUNE", "XYZ"]
DOW_WORDS = ["SUN", "mon", "Sat", "SUNDAY", "XYZ"]


def gen_cron_atom(rng: random.Random, field: int) -> str:
    low, high, names = _CRON_FIELDS[field]

    def inside() -> int:
        return rng.randint(low, high)

    def number() -> str:
        r = rng.random()
        if names and r < 0.15:
            return rng.choice(MONTH_WORDS if names == "JAN" else DOW_WORDS)
        return str(inside() if r < 0.7 else rng.randint(low - 2, high + 2))

    def step() -> str:
        return str(rng.randint(1, high)) if rng.random() < 0.9 else rng.choice(["0", "99"])

    form = rng.randrange(11)
    if form < 2:
        return "*"
    if form == 2:
        return f"*/{step()}"
    if form < 5:
        return str(inside())
    a, b = sorted((inside(), inside()))
    if form == 5:
        return f"{a}-{b}"
    if form == 6:
        return f"{a}-{b}/{step()}"
    if form == 7:
        return f"{number()}/{step()}"
    if form == 8:
        return f"{number()}-{number()}"  # maybe reversed or out of range
    if form == 9:
        return number()
    return rng.choice(BAD_ATOMS)


def gen_cron(rng: random.Random) -> str:
    """Five fields (sometimes another count) of valid and invalid atoms, or a macro."""
    if rng.random() < 0.06:
        macro = rng.choice([*MACROS, "@reboot", "@DAILY", "@every", "@"])
        return macro + rng.choice(["", " ", " 5"])
    count = rng.choice([5] * 12 + [0, 1, 4, 6, 7])
    fields = [
        ",".join(gen_cron_atom(rng, i % 5) for _ in range(rng.choice([1, 1, 1, 2])))
        for i in range(count)
    ]
    sep = rng.choice([" ", " ", "  ", "\t", " \t "])
    return rng.choice(["", "", " "]) + sep.join(fields) + rng.choice(["", "", "\n"])


def check_cron(expr: str, zone: str, instant: datetime) -> None:
    try:
        validate_cron(expr)
    except CronError as exc:
        assert exc.cron_field and exc.message
        json.dumps(exc.to_dict())
        with pytest.raises(CronError):  # both entry points agree
            CronSchedule(expr, zone)
        return
    schedule = CronSchedule(expr, zone)
    schedule.describe()
    try:
        nxt = schedule.next_after(instant)
    except CronError:  # no run before the year 10000 (e.g. Feb 29 on a Friday, late enough)
        return
    assert nxt > instant and nxt.tzinfo is not None
    assert nxt.second == 0 and nxt.microsecond == 0
    if schedule.matches(nxt):
        return
    # only cronie's spring-forward rule may fire off the fields: a fixed-time job whose local
    # minute was skipped runs once, at the instant the gap ends
    before = (nxt - timedelta(seconds=1)).astimezone(schedule.tz).utcoffset()
    after = nxt.astimezone(schedule.tz).utcoffset()
    assert not schedule.is_wildcard and before is not None and after is not None
    assert after > before, (expr, zone, instant, nxt)


CRON_CHARS = "0123456789*/,-? LW#@abcJANSUNmon\t"


def gen_cron_case(rng: random.Random) -> tuple[str, str, datetime]:
    if rng.random() < 0.1:
        expr = "".join(rng.choice(CRON_CHARS) for _ in range(rng.randint(0, 30)))
    else:
        expr = gen_cron(rng)
    instant = datetime(1971, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(3_800_000_000))
    return expr, rng.choice(ZONES), instant


cron_inputs = st.one_of(
    seeded(gen_cron_case),
    seeded(gen_cron_case),
    seeded(gen_cron_case),
    st.tuples(st.text(max_size=40), st.sampled_from(ZONES), st.just(NOW)),
)


@pytest.mark.slow
@FUZZ
@given(cron_inputs)
def test_cron_fuzz(case: tuple[str, str, datetime]) -> None:
    """Five fields from a grammar of valid and invalid atoms, random cron characters, random
    text; for a valid expression, next_after in several zones (DST ones included)."""
    check_cron(*case)


def test_cron_grammar_reaches_valid_expressions() -> None:
    """The grammar is not all noise: a fair share of what it makes is valid."""
    valid = 0
    rng = random.Random(1)
    for _ in range(1000):
        try:
            validate_cron(gen_cron(rng))
            valid += 1
        except CronError:
            pass
    assert 150 < valid < 900, valid


# ---------------------------------------------------------------------------------------------
# No partial write: a real SchedulerService over a SQLite file
# ---------------------------------------------------------------------------------------------


class StoreRig:
    """An engine over a SQLite file on its own event loop, for hypothesis to drive."""

    def __init__(self, tmp_path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.path = str(tmp_path / "fuzz.db")
        self.tmp = tmp_path
        self.clock = FakeClock("2026-03-02T08:59:30Z")
        self.engine = Engine(
            make_config(self.path),
            executor=Agents().executor(),
            clock=self.clock,
            rng=random.Random(7),
        )
        self.run(self.engine.start())

    @property
    def service(self) -> Any:
        return self.engine.service

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def snapshot(self) -> tuple[Any, ...]:
        """Every row a mutation could touch."""
        with sqlite3.connect(self.path) as conn:
            return (
                conn.execute("SELECT * FROM jobs ORDER BY id").fetchall(),
                conn.execute("SELECT count(*) FROM runs").fetchone(),
                conn.execute("SELECT count(*) FROM audit_events").fetchone(),
            )

    def close(self) -> None:
        self.run(self.engine.stop())
        self.loop.close()


@pytest.fixture
def rig(tmp_path: Path) -> Any:
    r = StoreRig(tmp_path)
    yield r
    r.close()


VALID_ITEM = {"name": "ok", "agent": "a", "cron": "*/5 * * * *"}
BAD_ITEMS: list[dict[str, Any]] = [
    {"name": "bad", "agent": "a", "cron": "61 * * * *"},
    {"name": "../../etc/passwd", "agent": "a", "cron": "@daily"},
    {"name": "bad", "agent": "a"},
    {"name": "bad", "cron": "@daily"},
    {"name": "bad", "agent": "a", "cron": "@daily", "bogus": 1},
    {"name": "bad", "agent": "a", "at": "2020-01-01T00:00:00Z"},  # in the past
    {"name": "bad", "agent": "a", "cron": "@daily", "timezone": "America"},
    {"name": "bad", "agent": "a", "cron": "@daily", "max_concurrent": 0},
    {"name": "bad", "agent": "a", "cron": "@daily", "jitter": 10**400},
    {"name": "bad", "agent": "a", "cron": "@daily", "policy": {"max_runtime": "forever"}},
    {"name": "seed-0", "agent": "a", "cron": "@daily"},  # taken by a stored job
    {"name": "dup", "agent": "a", "cron": "@daily"},  # given twice in the batch
]


@st.composite
def batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    size = draw(st.integers(2, 12))
    items: list[dict[str, Any]] = [
        {**VALID_ITEM, "name": f"b{draw(st.integers(0, 10**9))}-{i}"} for i in range(size)
    ]
    bad = draw(st.sampled_from(BAD_ITEMS))
    where = draw(st.integers(1, size - 1))
    items.insert(where, dict(bad))
    if bad["name"] == "dup":
        items.insert(draw(st.integers(0, len(items))), dict(bad))
    return items


def test_batch_add_with_one_bad_item_writes_nothing(rig: StoreRig) -> None:
    rig.run(rig.service.add_jobs([{**VALID_ITEM, "name": f"seed-{i}"} for i in range(3)]))
    before = rig.snapshot()
    assert len(before[0]) == 3

    @STORE_FUZZ
    @given(batches())
    def prop(items: list[dict[str, Any]]) -> None:
        with pytest.raises((ValidationError, ConflictError)) as err:
            rig.run(rig.service.add_jobs(items))
        if isinstance(err.value, ValidationError):
            assert all(e.field and e.field.startswith("[") for e in err.value.errors)
        assert rig.snapshot() == before

    prop()
    # and the same batch without its bad item is written whole
    good = [{**VALID_ITEM, "name": f"g{i}"} for i in range(5)]
    rig.run(rig.service.add_jobs(good))
    assert len(rig.snapshot()[0]) == 8


DSL_GOOD = """\
agent fuzz-agent {{ command: ["true"] }}
schedule alpha {{
  agent: "fuzz-agent"
  cron: "{cron}"
}}
schedule beta {{
  agent: "fuzz-agent"
  cron: "0 9 * * *"
  max_retries: {retries}
}}
schedule gamma {{
  agent: "fuzz-agent"
  at: "2030-01-01T00:00:00Z"
}}
"""
DSL_ERRORS = [
    'schedule delta { agent: "fuzz-agent" cron: "61 * * * *" }',
    'schedule delta { agent: "fuzz-agent" cron: "@daily" bogus: 1 }',
    'schedule delta { agent: "fuzz-agent" at: "2020-01-01T00:00:00Z" }',
    'schedule delta { agent: "fuzz-agent" cron: "@daily"',
    'schedule delta { agent: "fuzz-agent" cron: "@daily }',
    'schedule "../../etc" { agent: "fuzz-agent" cron: "@daily" }',
    'schedule alpha { agent: "fuzz-agent" cron: "@daily" }',  # a duplicate name
    'schedule delta { agent: "nobody" cron: "@daily" }',  # an unknown agent
    'schedule delta { agent: "fuzz-agent" cron: "@daily" timezone: "America" }',
    'schedule delta { agent: "fuzz-agent" cron: "@daily" max_retries: ' + "9" * 50 + " }",
    "\x1b[31m",
    "}",
]


def test_dsl_load_with_an_error_writes_nothing(rig: StoreRig) -> None:
    first = rig.tmp / "a.symbi"
    first.write_text(DSL_GOOD.format(cron="*/5 * * * *", retries=3))
    result = rig.run(rig.service.load_dsl([str(first)]))
    assert sorted(result.created) == ["alpha", "beta", "gamma"]
    before = rig.snapshot()
    agents_before = dict(rig.service.agents)

    @STORE_FUZZ
    @given(
        st.sampled_from(["*/5 * * * *", "*/7 * * * *", "0 * * * *"]),
        st.integers(0, 9),
        st.sampled_from(DSL_ERRORS),
        st.sampled_from(["same file", "second file", "directory"]),
    )
    def prop(cron: str, retries: int, error: str, layout: str) -> None:
        good = DSL_GOOD.format(cron=cron, retries=retries)
        other = rig.tmp / "b.symbi"
        if layout == "same file":
            first.write_text(good + error + "\n")
            paths = [str(first)]
        else:
            first.write_text(good)
            other.write_text(error + "\n")
            paths = [str(first), str(other)]
            if layout == "directory":
                paths = [str(rig.tmp)]
        try:
            with pytest.raises(DslError):
                rig.run(rig.service.load_dsl(paths))
        finally:
            other.unlink(missing_ok=True)
        # nothing written, not even the changed alpha and beta of the good part
        assert rig.snapshot() == before
        assert rig.service.agents == agents_before

    prop()


# ---------------------------------------------------------------------------------------------
# Hostile values
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=lambda n: repr(n[:20]))
def test_hostile_names_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError) as err:
        validate_name(name)
    assert err.value.field == "name"
    assert len(str(err.value)) < 300  # a 10 KB name is not echoed back whole
    with pytest.raises(ValidationError):
        job_from_mapping({"name": name, "agent": "a", "cron": "@daily"})
    with pytest.raises(ValidationError):
        job_from_mapping({"name": "ok", "agent": name, "cron": "@daily"})
    with pytest.raises(ValidationError):
        agent_from_mapping({"command": ["true"]}, name=name)


def test_hostile_names_in_the_dsl_are_reported_not_loaded() -> None:
    for name in HOSTILE_NAMES:
        escaped = json.dumps(name)  # a DSL string holding the name, escapes and all
        text = f'schedule {{ name: {escaped} agent: "a" cron: "@daily" }}'
        with pytest.raises(DslError) as err:
            parse_dsl(text, "hostile.symbi", env={})
        for issue in err.value.issues:
            assert issue.message.isprintable(), repr(issue.message)


@settings(max_examples=2_000, deadline=None, derandomize=True)
@given(st.text(max_size=200) | st.sampled_from(HOSTILE_NAMES))
def test_log_file_names_are_one_plain_path_component(name: str) -> None:
    """Whatever a name holds, its log file stays inside the log directory."""
    stem = safe_filename(name)
    assert stem and stem not in (".", "..")
    assert "/" not in stem and "\\" not in stem and "\x00" not in stem
    assert re.fullmatch(r"[A-Za-z0-9._-]+", stem), stem  # nothing a terminal interprets
    assert len(stem.encode("utf-8", "surrogatepass")) < 255


MB10 = 10 * 1024 * 1024


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    try:
        result: Any = fn(*args, **kwargs)
    except SchedulerError as exc:
        result = exc
    return result, time.perf_counter() - start


@pytest.mark.slow  # ~5 s: junk just under the 1 MiB cap is tokenised whole
def test_10mb_dsl_is_refused_at_once_and_junk_under_the_cap_is_bounded(tmp_path: Path) -> None:
    # over the cap (MAX_SOURCE_CHARS, 1 MiB): one clear issue, nothing tokenised
    for text in ('schedule { name: "' + "x" * MB10, "\x01" * MB10, "{" * MB10, "a" * MB10):
        err, seconds = _timed(parse_dsl, text, "big.symbi", env={})
        assert isinstance(err, DslError) and len(err.issues) == 1
        assert "file too large" in str(err) and seconds < 1
    big = tmp_path / "big.symbi"
    big.write_bytes(b"\x01" * (5 * MAX_SOURCE_CHARS))  # not even read from disk
    err, seconds = _timed(load_dsl_files, [big], env={})
    assert isinstance(err, DslError) and "file too large" in str(err) and seconds < 1
    # just under the cap: valid text is parsed; junk yields a bounded list of short issues
    block = 'schedule s{i} {{ agent: "a" cron: "@daily" }}  # ' + "x" * 200 + "\n"
    text = "".join(block.format(i=i) for i in range(MAX_SOURCE_CHARS // 270))
    doc, seconds = _timed(parse_dsl, text, "big.symbi", env={})
    assert isinstance(doc, DslDocument) and len(doc.jobs) > 3_000 and seconds < 10
    under = MAX_SOURCE_CHARS - 10
    for junk in ("\x01" * under, "\x01\x02é;" * (under // 4), "{" * under, "a" * under):
        err, seconds = _timed(parse_dsl, junk, "junk.symbi", env={})
        assert isinstance(err, DslError), type(err)
        assert len(err.issues) <= 201 and len(str(err)) < 100_000
        assert all(len(i.message) <= 400 for i in err.issues)
        assert seconds < 20


def test_10mb_values_in_a_job_body() -> None:
    huge = "x" * MB10
    for body in (
        {"name": huge, "agent": "a", "cron": "@daily"},
        {"name": "j", "agent": "a", "cron": huge},
        {"name": "j", "agent": "a", "cron": "* " * (MB10 // 2)},
        {"name": "j", "agent": "a", "at": huge},
        {"name": "j", "agent": "a", "cron": "@daily", "timezone": huge},
        {"name": "j", "agent": "a", "cron": "@daily", "jitter": "9" * MB10},
        {"name": "j", "agent": "a", "cron": "@daily", "session_mode": huge},
        # input is copied into every run of the job: 10 MB used to be accepted, and an
        # every-minute job then wrote 10 MB per run into the store
        {"name": "j", "agent": "a", "cron": "@daily", "input": huge},
        {"name": "j", "agent": "a", "cron": "@daily", "webhook_headers": {"X": huge}},
    ):
        err, seconds = _timed(job_from_mapping, body)
        assert isinstance(err, ValidationError), type(err)
        assert len(str(err)) < 1000, "the message does not echo 10 MB back"
        assert seconds < 5
    ok = job_from_mapping({"name": "j", "agent": "a", "cron": "@daily", "input": "x" * 100_000})
    assert ok.input is not None and len(ok.input) == 100_000


def test_10mb_cron_expression() -> None:
    for expr in ("x" * MB10, "1," * (MB10 // 2) + "1 * * * *", "*/" + "9" * MB10 + " * * * *"):
        err, seconds = _timed(validate_cron, expr)
        assert isinstance(err, CronError) and "too long" in str(err), type(err)
        assert len(str(err)) < 1000 and seconds < 1
    # the longest sensible expression, every value listed, is well under the cap
    every = " ".join(",".join(map(str, range(lo, hi + 1))) for lo, hi, _ in _CRON_FIELDS)
    validate_cron(every)


def test_10mb_config_text() -> None:
    # over the cap (MAX_CONFIG_CHARS, 1 MiB): refused at once (tomlkit reads ~2 MB/s)
    text = "[scheduler]\ntick_interval_seconds = 1\n" + "# " + "x" * MB10 + "\n"
    for big in (text, "x = " + "9" * MB10, 'x = "' + "y" * MB10 + '"', "x = " + "[" * MB10):
        err, seconds = _timed(load_config_text, big, "big.toml", env={})
        assert isinstance(err, ConfigError) and "too large" in str(err) and seconds < 1
        assert err.path == "big.toml" and len(str(err)) < 200
    # under it, read as usual
    text = "[scheduler]\ntick_interval_seconds = 1\n" + "# " + "x" * 1_000_000 + "\n"
    cfg, seconds = _timed(load_config_text, text, "big.toml", env={})
    assert isinstance(cfg, SchedulerConfig) and seconds < 10
    for big in ("x = " + "9" * 1_000_000, "x = " + "[" * 1_000_000):
        err, seconds = _timed(load_config_text, big, "big.toml", env={})
        assert isinstance(err, ConfigError) and len(str(err)) < 1000 and seconds < 10


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        # a duplicate key: its full dotted key and the line of the repeat, on every tomlkit
        (
            "[scheduler]\ntick_interval_seconds = 1\n"
            "max_jitter_seconds = 0\nmax_jitter_seconds = 0",
            "scheduler.max_jitter_seconds",
            4,
        ),
        ("data_dir = 'a'\n\ndata_dir = 'b'", "data_dir", 3),
        ("[scheduler]\ntick_interval_seconds = 1\n[api]\n[scheduler]", "scheduler", 4),
        ("[agents.a]\nmodel = 'm'\n[agents.b]\nmodel = 'm'\nmodel = 'n'", "agents.b.model", 5),
        # numbers past str()'s 4300-digit limit used to crash the error message (ValueError)
        ("[scheduler]\nmax_concurrent_jobs = 0x" + "f" * 4000, "scheduler.max_concurrent_jobs", 2),
        ("[agents.a]\nmodel = 'm'\nmax_tokens = 0x" + "f" * 4000, "agents.a.max_tokens", 3),
        # and floats past float range (OverflowError)
        ("[agents.a]\nmodel = 'm'\ntemperature = " + "9" * 400, "agents.a.temperature", 3),
        ("[scheduler]\nmax_concurrent_jobs = " + "9" * 400, "scheduler.max_concurrent_jobs", 2),
        # times added to instants must stay inside datetime's range
        ("[scheduler]\nmax_jitter_seconds = 1e300", "scheduler.max_jitter_seconds", 2),
        ("[scheduler]\nlease_ttl_seconds = 1e15", "scheduler.lease_ttl_seconds", 2),
        ("[scheduler]\nretry_backoff_seconds = 1e15", "scheduler.retry_backoff_seconds", 2),
        ("[scheduler]\ntimezone = 'America'", "scheduler.timezone", 2),
        ("a = " + "[" * 200 + "]" * 200, None, 1),
        # Path.expanduser raises RuntimeError for an unknown user: it used to escape the loader
        ('dsl_paths = ["~nobody-here/jobs"]', "dsl_paths", 1),
        ('data_dir = "~nobody-here/data"', "data_dir", 1),
    ],
)
def test_hostile_config_values(text: str, key: str | None, line: int) -> None:
    with pytest.raises(ConfigError) as err:
        load_config_text(text, "hostile.toml", env={})
    assert err.value.key == key and err.value.line == line, str(err.value)
    assert len(str(err.value)) < 500


def test_duplicate_key_message_names_key_and_line() -> None:
    text = "[scheduler]\nmax_jitter_seconds = 0\n\nmax_jitter_seconds = 0\n"
    with pytest.raises(ConfigError) as err:
        load_config_text(text, "hostile.toml", env={})
    assert str(err.value) == "hostile.toml:4 scheduler.max_jitter_seconds: duplicate key"


def test_duplicate_key_as_older_tomlkit_reports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """tomlkit before 0.14 raised KeyAlreadyPresent, with no position, instead of a ParseError."""
    import tomlkit
    from tomlkit.exceptions import KeyAlreadyPresent

    def parse(_text: str) -> None:
        raise KeyAlreadyPresent("max_jitter_seconds")

    monkeypatch.setattr(tomlkit, "parse", parse)
    text = "[scheduler]\nmax_jitter_seconds = 0\nmax_jitter_seconds = 0\n"
    with pytest.raises(ConfigError) as err:
        load_config_text(text, "hostile.toml", env={})
    assert str(err.value) == "hostile.toml:3 scheduler.max_jitter_seconds: duplicate key"


def test_repeated_array_of_tables_is_not_a_duplicate() -> None:
    from scheduler_core.config._lines import _first_duplicate

    assert _first_duplicate("[[a]]\nx = 1\n[[a]]\nx = 2\n") is None
    assert _first_duplicate("[[a]]\nx = 1\nx = 2\n") == ("a.x", 3)


@pytest.mark.parametrize("seconds", [1e12, 1e15, 10**400, "99999999999d"])
@pytest.mark.parametrize("field", ["jitter", "misfire_grace", "policy.max_runtime"])
def test_durations_that_overflow_an_instant_are_rejected(field: str, seconds: Any) -> None:
    """A jitter of 1e15 s used to be accepted; planning its run then overflowed datetime inside
    the claim transaction, which rolled back every due job of the batch, on every tick: one
    job stopped the whole scheduler. Durations are now capped at 100 years."""
    body: dict[str, Any] = {"name": "j", "agent": "a", "cron": "@daily"}
    if field.startswith("policy."):
        body["policy"] = {field.split(".")[1]: seconds}
    else:
        body[field] = seconds
    with pytest.raises(ValidationError) as err:
        job_from_mapping(body)
    assert err.value.field == field and "duration" in str(err.value)
    body = {"name": "j", "agent": "a", "cron": "@daily", "jitter": MAX_DURATION_SECONDS}
    assert job_from_mapping(body).jitter_seconds == MAX_DURATION_SECONDS
