"""Tokens of the schedule DSL, each with its 1-based line and column.

The lexer never raises: a character it cannot read becomes an ``ERROR`` token carrying the message,
so the parser reports it where it stands and recovers. Strings are templates: ``${VAR}`` is kept
as written and an escaped ``\\$`` before ``{`` becomes ``$${`` (the template's literal ``${``), so
that a schedule stores ``${VAR}`` literally and an agent block expands it (see :mod:`._build`).
"""

from __future__ import annotations

__all__ = ["TO_EOF", "Token", "TokenKind", "tokenize"]

import re
import textwrap
from enum import StrEnum
from typing import NamedTuple

from ..errors import DslIssue

TO_EOF = "to end of file"  #: value of an ERROR token that swallowed the rest of the file
#: after this many unreadable spots the rest of the file is not read (binary or junk input
#: would otherwise make one token, and one issue, per character)
MAX_ERRORS = 100


class TokenKind(StrEnum):
    IDENT = "identifier"
    STRING = "string"
    NUMBER = "number"
    DURATION = "duration"
    LBRACE = "'{'"
    RBRACE = "'}'"
    LBRACKET = "'['"
    RBRACKET = "']'"
    COLON = "':'"
    EQUALS = "'='"
    COMMA = "','"
    SEMICOLON = "';'"
    ERROR = "error"
    EOF = "end of file"


class Token(NamedTuple):
    """One token. A named tuple, made by the lexer with ``tuple.__new__`` (no Python-level
    constructor per token): a file of 10,000 schedules has 100,000 of them."""

    kind: TokenKind
    text: str  #: the source text (for ERROR: the message)
    value: object
    line: int
    col: int
    first_on_line: bool  #: nothing but blanks and comments precede it on its line

    def describe(self) -> str:
        """How the token reads in an error message."""
        if self.kind is TokenKind.EOF:
            return "end of file"
        if self.kind is TokenKind.STRING:
            shown = self.text if len(self.text) <= 40 else self.text[:37] + '..."'
            return f"string {shown}"
        if self.kind in (TokenKind.IDENT, TokenKind.NUMBER, TokenKind.DURATION):
            return f"{self.kind.value} {self.text!r}" if self.kind is TokenKind.IDENT else self.text
        return self.kind.value


_PUNCT = {
    "{": TokenKind.LBRACE,
    "}": TokenKind.RBRACE,
    "[": TokenKind.LBRACKET,
    "]": TokenKind.RBRACKET,
    ":": TokenKind.COLON,
    "=": TokenKind.EQUALS,
    ",": TokenKind.COMMA,
    ";": TokenKind.SEMICOLON,
}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_\-.@]*")
_DIGITS = frozenset("0123456789")
#: a one-line string with no escape: its value is its text (the common case, read at once)
_PLAIN_STRING = re.compile(r'"([^"\\\n]*)"')
_NUMBER = re.compile(r"[-+]?(?:[0-9][0-9_]*)(?:\.[0-9][0-9_]*)?(?![0-9_])")
_UNIT = re.compile(r"(ms|s|m|h|d|w)(?![A-Za-z0-9_])")
_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
    "0": "\0",
}


#: what most of a file is, one match per token with the blanks and newlines before it: a comment
#: to the end of the line, a one-line string with no escape (not the start of a triple-quoted
#: one), punctuation, an identifier. Anything else (numbers, durations, block comments, strings
#: with escapes or over several lines, unreadable characters) is read by the methods below, one
#: step at a time.
_MASTER = re.compile(
    r"[ \t\r\f\v\ufeff\n]*"
    r"(?:(?P<ident>[A-Za-z_][A-Za-z0-9_\-.@]*)"
    r"|(?P<punct>[{}\[\]:=,;])"
    r'|(?P<str>"(?!"")(?P<body>[^"\\\n]*)")'
    r"|(?P<comment>#[^\n]*|//[^\n]*))?"
)
_new_token = tuple.__new__


class _Lexer:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.tokens: list[Token] = []
        self.issues: list[DslIssue] = []
        self.first_on_line = True
        self.errors = 0

    # --- helpers --------------------------------------------------------------------------
    def col(self, pos: int | None = None) -> int:
        return (self.pos if pos is None else pos) - self.line_start + 1

    def emit(self, kind: TokenKind, text: str, value: object, line: int, col: int) -> None:
        self.tokens.append(_new_token(Token, (kind, text, value, line, col, self.first_on_line)))
        self.first_on_line = False

    def error(self, message: str, line: int, col: int, *, to_eof: bool = False) -> None:
        """An ERROR token; ``to_eof`` marks one that swallowed the rest of the file."""
        self.errors += 1
        self.emit(TokenKind.ERROR, message, TO_EOF if to_eof else None, line, col)

    def newline(self) -> None:
        self.line += 1
        self.line_start = self.pos
        self.first_on_line = True

    # --- main loop ------------------------------------------------------------------------
    def run(self) -> tuple[list[Token], list[DslIssue]]:
        text = self.text
        n = len(text)
        append = self.tokens.append
        match = _MASTER.match
        ident, string, punct = TokenKind.IDENT, TokenKind.STRING, _PUNCT
        pos, line, line_start, first = 0, 1, 0, True
        while pos < n:
            m = match(text, pos)
            assert m is not None  # it always matches, if only the empty string
            group = m.lastgroup
            if group is not None:
                at = m.start(group)
                if at > pos and (lines := text.count("\n", pos, at)):
                    line += lines
                    line_start = text.rfind("\n", pos, at) + 1
                    first = True
                if group == "ident":
                    word = m.group(group)
                    append(_new_token(Token, (ident, word, word, line, at - line_start + 1, first)))
                    first = False
                elif group == "punct":
                    ch = text[at]
                    append(_new_token(Token, (punct[ch], ch, ch, line, at - line_start + 1, first)))
                    first = False
                elif group == "str":
                    value = m.group("body")
                    tok = (string, m.group(group), value, line, at - line_start + 1, first)
                    append(_new_token(Token, tok))
                    first = False
                pos = m.end()
                continue
            end = m.end()  # blanks before what the methods read, or the end of the text
            if end > pos and (lines := text.count("\n", pos, end)):
                line += lines
                line_start = text.rfind("\n", pos, end) + 1
                first = True
            pos = end
            if pos >= n:
                break
            # the rest, a step at a time (self.* carry the position to and from the methods)
            self.pos, self.line, self.line_start, self.first_on_line = pos, line, line_start, first
            self.slow(text[pos])
            pos, line, line_start, first = self.pos, self.line, self.line_start, self.first_on_line
            if self.errors >= MAX_ERRORS and pos < n:
                self.error(
                    f"too many errors ({self.errors}): the rest of the file was not read",
                    line,
                    pos - line_start + 1,
                    to_eof=True,
                )
                break
        self.pos, self.line, self.line_start, self.first_on_line = pos, line, line_start, first
        self.emit(TokenKind.EOF, "", None, self.line, self.col())
        return self.tokens, self.issues

    def slow(self, ch: str) -> None:
        """One token (or comment) that ``_MASTER`` does not read."""
        text = self.text
        if text.startswith("/*", self.pos):
            self.block_comment()
        elif ch == '"':
            if text.startswith('"""', self.pos):
                self.triple_string()
            else:
                self.string()
        elif ch in _DIGITS or (ch in "+-" and text[self.pos + 1 : self.pos + 2] in _DIGITS):
            self.number()
        else:
            self.unexpected(ch)

    def unexpected(self, ch: str) -> None:
        line, col = self.line, self.col()
        hint = ""
        if ch == "'":
            hint = " (strings use double quotes)"
        elif ch == "+" and self.first_on_line:
            hint = " (a diff marker? remove the leading '+')"
        elif ch == "*":
            hint = ' (quote cron expressions: cron: "*/5 * * * *")'
        shown = repr(ch) if ch.isprintable() else f"U+{ord(ch):04X}"
        self.error(f"unexpected character {shown}{hint}", line, col)
        self.pos += 1

    def block_comment(self) -> None:
        line, col = self.line, self.col()
        end = self.text.find("*/", self.pos + 2)
        stop = len(self.text) if end < 0 else end + 2
        while self.pos < stop:
            if self.text[self.pos] == "\n":
                self.pos += 1
                self.newline()
            else:
                self.pos += 1
        if end < 0:
            self.error(
                "unterminated comment: '/*' is never closed with '*/'", line, col, to_eof=True
            )

    def number(self) -> None:
        line, col = self.line, self.col()
        m = _NUMBER.match(self.text, self.pos)
        if m is None:  # a sign or digit run we cannot read: take it as one bad word
            self.unexpected(self.text[self.pos])
            return
        raw = m.group(0)
        end = m.end()
        unit = _UNIT.match(self.text, end)
        if unit is not None:
            text = raw + unit.group(1)
            self.emit(TokenKind.DURATION, text, text.lstrip("+"), line, col)
            self.pos = unit.end()
            return
        follow = _IDENT.match(self.text, end)
        if follow is not None:
            bad = raw + follow.group(0)
            self.error(
                f"{bad!r} is neither a number nor a duration "
                '(durations are a number and one of ms, s, m, h, d, w: "5m")',
                line,
                col,
            )
            self.pos = follow.end()
            return
        digits = raw.replace("_", "")
        if len(digits) > 40:  # also keeps int() clear of Python's digit limit
            self.error(f"number too long ({len(digits)} digits)", line, col)
            self.pos = end
            return
        value: int | float = float(digits) if "." in digits else int(digits)
        self.emit(TokenKind.NUMBER, raw, value, line, col)
        self.pos = end

    # --- strings --------------------------------------------------------------------------
    def string(self) -> None:
        line, col = self.line, self.col()
        start = self.pos
        plain = _PLAIN_STRING.match(self.text, start)
        if plain is not None:  # what the loop below makes of it, without a step per character
            self.pos = plain.end()
            self.emit(TokenKind.STRING, plain.group(0), plain.group(1), line, col)
            return
        self.pos += 1
        out: list[str | None] = []
        text = self.text
        n = len(text)
        while True:
            if self.pos >= n or text[self.pos] == "\n":
                self.error(
                    "unterminated string: add the closing '\"' on the same line "
                    '(use """...""" for text over several lines)',
                    line,
                    col,
                )
                return
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                break
            if ch == "\\":
                if not self.escape(out):
                    self.skip_string_rest()
                    return
                continue
            out.append(ch)
            self.pos += 1
        value = self.interpolate(out, line, col)
        self.emit(TokenKind.STRING, text[start : self.pos], value, line, col)

    def skip_string_rest(self) -> None:
        """After a bad escape, skip to the string's end so that one mistake is one error."""
        text = self.text
        while self.pos < len(text) and text[self.pos] != "\n":
            if text[self.pos] == "\\":
                self.pos += 2
                continue
            self.pos += 1
            if text[self.pos - 1] == '"':
                return

    def escape(self, out: list[str | None]) -> bool:
        text = self.text
        nxt = text[self.pos + 1 : self.pos + 2]
        if nxt == "$":
            out.append(None)
            self.pos += 2
            return True
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            self.pos += 2
            return True
        if nxt == "u":
            digits = text[self.pos + 2 : self.pos + 6]
            if re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                out.append(chr(int(digits, 16)))
                self.pos += 6
                return True
            self.error("invalid \\u escape: give 4 hex digits (\\u00e9)", self.line, self.col())
            return False
        shown = nxt if nxt and nxt.isprintable() else "end of line"
        self.error(
            f"invalid escape '\\{shown}' in string (use \\\" \\\\ \\n \\t \\r \\$ or \\uXXXX)",
            self.line,
            self.col(),
        )
        return False

    def triple_string(self) -> None:
        """Raw text over several lines: no escapes, only ``${VAR}`` (``$${`` for a literal)."""
        line, col = self.line, self.col()
        start = self.pos
        end = self.text.find('"""', self.pos + 3)
        if end < 0:
            self.error('unterminated string: \'"""\' is never closed', line, col, to_eof=True)
            end = len(self.text)
            stop = end
        else:
            while self.text.startswith('""""', end):  # """" ends at the last three quotes
                end += 1
            stop = end + 3
        body = self.text[self.pos + 3 : end]
        for i in range(self.pos, stop):
            if self.text[i] == "\n":
                self.pos = i + 1
                self.newline()
        self.pos = stop
        self.first_on_line = False
        if stop == end:  # unterminated: reported above
            return
        value = self.interpolate([_dedent_block(body)], line, col)
        self.emit(TokenKind.STRING, self.text[start:stop], value, line, col)

    def interpolate(self, pieces: list[str | None], line: int, col: int) -> str:
        """The string as a template: ``${VAR}`` kept as written, an escaped ``$`` before ``{``
        written ``$${`` (``None`` pieces are escaped literal ``$``). What a reference means is
        decided by the block it stands in (see :mod:`._build`), not here."""
        out: list[str] = []
        for i, piece in enumerate(pieces):
            if piece is not None:
                out.append(piece)
                continue
            nxt = next((p for p in pieces[i + 1 :] if p != ""), None)
            out.append("$$" if nxt is not None and nxt.startswith("{") else "$")
        return "".join(out)


def _dedent_block(body: str) -> str:
    """Triple-quoted text: drop the newline after the opening quotes, the common indentation and
    the blank last line before the closing quotes, so the text reads as it is laid out."""
    if body.startswith("\r\n"):
        body = body[2:]
    elif body.startswith("\n"):
        body = body[1:]
    head, sep, last = body.rpartition("\n")
    if not last.strip():
        body = head if sep else ""
    return textwrap.dedent(body)


def tokenize(text: str, path: str = "<string>") -> tuple[list[Token], list[DslIssue]]:
    """Split ``text`` into tokens (unreadable spots are ERROR tokens, the issues none yet)."""
    return _Lexer(text, path).run()
