"""The lexer's tokens and positions against recorded expectations.

``dsl_cases/lexer_tokens.json`` was recorded from the character-by-character lexer that the
regex-driven one replaced (commit 4ae9067): every input's tokens (kind, text, value, line,
column, first on its line) and issues. The inputs cover strings with escapes and templates,
triple-quoted text, comments of each kind, unicode, CRLF, tabs, a byte-order mark, numbers and
durations, unreadable characters, the error limit and errors at the end of the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scheduler_core.dsl._lexer import MAX_ERRORS, TokenKind, tokenize

CASES = json.loads((Path(__file__).parent / "dsl_cases" / "lexer_tokens.json").read_text())


def _tokens(text: str) -> list[list[object]]:
    tokens, _issues = tokenize(text, "f.symbi")
    return [[t.kind.name, t.text, t.value, t.line, t.col, t.first_on_line] for t in tokens]


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_tokens_match_the_recording(case: dict[str, object]) -> None:
    tokens, issues = tokenize(str(case["text"]), "f.symbi")
    got = [[t.kind.name, t.text, t.value, t.line, t.col, t.first_on_line] for t in tokens]
    assert got == case["tokens"]
    assert [type(t.value) for t in tokens] == [type(v) for _k, _t, v, _l, _c, _f in case["tokens"]]
    assert [str(i) for i in issues] == case["issues"]


def test_the_recording_covers_what_it_claims() -> None:
    kinds = {tok[0] for case in CASES for tok in case["tokens"]}
    assert kinds == {kind.name for kind in TokenKind}
    texts = [str(case["text"]) for case in CASES]
    assert any("\r\n" in t for t in texts) and any("\t" in t for t in texts)
    assert any(not t.isascii() for t in texts)
    errors = [tok for case in CASES for tok in case["tokens"] if tok[0] == "ERROR"]
    assert any(str(tok[1]).startswith(f"too many errors ({MAX_ERRORS})") for tok in errors)
    assert any(tok[2] == "to end of file" for tok in errors)


def test_positions_follow_lines_and_columns() -> None:
    """Beyond the recording: many lines of every fast-path token, each at its line and column."""
    lines = []
    expected = []
    for i in range(300):
        indent = " " * (i % 7) + "\t" * (i % 2)
        lines.append(f'{indent}key{i}: "v{i}" # c\r')
        col = len(indent) + 1
        expected += [
            ["IDENT", f"key{i}", f"key{i}", i + 1, col, True],
            ["COLON", ":", ":", i + 1, col + len(f"key{i}"), False],
            ["STRING", f'"v{i}"', f"v{i}", i + 1, col + len(f"key{i}") + 2, False],
        ]
    expected.append(["EOF", "", None, 301, 1, True])
    assert _tokens("\n".join(lines) + "\n") == expected


PARSE_INPUTS = [
    'schedule a {\n  agent: "x"\n  cron: "0 9 * * *"\n}\n',
    'schedule "quoted name" { agent = "x", cron: "0 9 * * *"; timeout: 30s n: 5 }\n',
    'agent helper { runner: "cli" }\npolicy night { start: "22:00" }\n',
    'schedule a { agent: "x" agent: "y" }\n',  # a duplicate key
    "schedule a { agent: x }\n",  # a bare word
    'schedule a { nested: { k: "v" } list: [1, 2] }\n',
    'schedule a { agent: "x"\n',  # never closed
    "schedule a { agent",  # the file ends after a key
    "schedule a { agent:",
    'schedule a { agent: "x" "y" }\n',
    'schedule a { agent: "bad \\q" }\n',
    'schedule { agent: "x" }\n',
    "schedule a { }\nschedule b {}\n",
    'schedule a { agent: "x"\nschedule b { agent: "y" }\n',
    'policy { start: "x" }\n',
    "schedule a b c\n",
    '"key": "value"\n',
]


@pytest.mark.parametrize("text", PARSE_INPUTS)
def test_the_parsers_fast_path_reads_as_the_full_path(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A block the fast path reads is what the full path makes of it, issues included."""
    from scheduler_core.dsl import _parser

    tokens, _issues = tokenize(text, "f.symbi")
    fast = _parser.parse_blocks(tokens, "f.symbi")
    monkeypatch.setattr(_parser._Parser, "simple_block", lambda self: None)
    assert _parser.parse_blocks(tokens, "f.symbi") == fast


def test_the_fast_path_reads_the_common_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above is not vacuous: the common blocks go through the fast path."""
    from scheduler_core.dsl import _parser

    read: list[str] = []
    original = _parser._Parser.simple_block

    def counting(self: _parser._Parser) -> _parser.Block | None:
        block = original(self)
        if block is not None:
            read.append(f"{block.kind} {block.name}")
        return block

    monkeypatch.setattr(_parser._Parser, "simple_block", counting)
    for text in PARSE_INPUTS[:3]:
        _parser.parse_blocks(tokenize(text, "f.symbi")[0], "f.symbi")
    assert read == ["schedule a", "schedule quoted name", "agent helper", "policy night"]
