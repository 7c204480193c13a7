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
