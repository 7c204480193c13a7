"""Recursive-descent parser: tokens to :class:`Block` trees, recovering after each error.

Grammar (newlines are not significant; ``,`` and ``;`` between entries are optional)::

    file   := block*
    block  := ("schedule" [NAME] | "agent" NAME | "policy" NAME) map
    map    := "{" entry* "}"
    entry  := KEY (":" | "=") value | KEY map          # ``policy { ... }`` needs no colon
    value  := STRING | NUMBER | DURATION | true | false | null | WORD | list | map
    list   := "[" (value [","])* "]"

After a syntax error the parser skips to the next line that starts an entry (or to the block's
closing brace, or to the next top-level block), so one file reports all of its mistakes.
"""

from __future__ import annotations

__all__ = ["MAX_DEPTH", "parse_blocks"]

import difflib

from ..errors import DslIssue
from ._ast import Block, Entry, ListNode, MapNode, Node, Scalar
from ._lexer import TO_EOF, Token, TokenKind

MAX_DEPTH = 32  #: deepest nesting of maps and lists
_BLOCK_KEYWORDS = ("schedule", "agent", "policy")
_KEY_KINDS = (TokenKind.IDENT, TokenKind.STRING)
_IDENT, _STRING, _EOF = TokenKind.IDENT, TokenKind.STRING, TokenKind.EOF
_LBRACE, _RBRACE, _COLON, _EQUALS = (
    TokenKind.LBRACE,
    TokenKind.RBRACE,
    TokenKind.COLON,
    TokenKind.EQUALS,
)
#: how a value token's kind reads as a Scalar's kind (the values that need no look-ahead)
_SCALAR_KINDS = {
    TokenKind.STRING: "string",
    TokenKind.NUMBER: "number",
    TokenKind.DURATION: "duration",
}
_WORDS: dict[str, tuple[object, str]] = {
    "true": (True, "bool"),
    "false": (False, "bool"),
    "null": (None, "null"),
}


class _Syntax(Exception):
    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


class _Unclosed(Exception):
    """A ``{`` or ``[`` whose block never ends: reported once, at the innermost opening."""

    def __init__(self, opening: Token, message: str) -> None:
        super().__init__(message)
        self.opening = opening
        self.message = message


class _Parser:
    def __init__(self, tokens: list[Token], path: str) -> None:
        self.tokens = tokens
        self.n = len(tokens)
        self.path = path
        self.i = 0
        self.issues: list[DslIssue] = []
        self.block_failed = False
        self.last_value: tuple[str, Token] | None = None  #: key and first token of last value

    # --- token access ---------------------------------------------------------------------
    def peek(self, k: int = 0) -> Token:
        j = self.i + k
        return self.tokens[j] if j < self.n else self.tokens[-1]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is not TokenKind.EOF:
            self.i += 1
        return tok

    def report(self, message: str, line: int, col: int) -> None:
        self.issues.append(DslIssue(self.path, line, col, message))

    def block_start_at(self, k: int = 0) -> bool:
        """``schedule {``, ``schedule NAME {``, ``agent NAME {`` or ``policy NAME {`` starts at
        ``peek(k)``."""
        tok = self.peek(k)
        if tok.kind is not TokenKind.IDENT or tok.value not in _BLOCK_KEYWORDS:
            return False
        nxt = self.peek(k + 1)
        if nxt.kind is TokenKind.LBRACE:
            # inside a schedule, ``policy { ... }`` is its inline policy: only ``policy NAME {``
            # starts a block
            return tok.value != "policy"
        return nxt.kind in _KEY_KINDS and self.peek(k + 2).kind is TokenKind.LBRACE

    # --- top level ------------------------------------------------------------------------
    def parse(self) -> list[Block]:
        blocks: list[Block] = []
        while self.peek().kind is not TokenKind.EOF:
            tok = self.peek()
            if tok.kind is TokenKind.IDENT and tok.value in _BLOCK_KEYWORDS:
                simple = self.simple_block()
                if simple is not None:
                    blocks.append(simple)
                    continue
                try:
                    block = self.block()
                except _Syntax as exc:
                    self.report(exc.message, exc.line, exc.col)
                    self.skip_to_block()
                    continue
                except _Unclosed as exc:
                    if not self.swallowed():  # else the unterminated string says it all
                        self.report(exc.message, exc.opening.line, exc.opening.col)
                    if self.peek().kind is not TokenKind.EOF and not self.block_start_at():
                        self.skip_to_block()
                    continue
                blocks.append(block)
            elif tok.kind is TokenKind.RBRACE:
                self.report("unexpected '}': no block is open here", tok.line, tok.col)
                self.advance()
            elif tok.kind is TokenKind.ERROR:
                self.report(tok.text, tok.line, tok.col)
                self.advance()
            else:
                self.report(self.top_level_message(tok), tok.line, tok.col)
                self.advance()
                self.skip_to_block()
        return blocks

    def swallowed(self) -> bool:
        """The file ends inside an unterminated string or comment."""
        last = self.tokens[-2] if len(self.tokens) > 1 else None
        return last is not None and last.kind is TokenKind.ERROR and last.value == TO_EOF

    def top_level_message(self, tok: Token) -> str:
        hint = ""
        if tok.kind is TokenKind.IDENT:
            close = difflib.get_close_matches(str(tok.value), _BLOCK_KEYWORDS, n=1, cutoff=0.6)
            if close:
                hint = f" (did you mean {close[0]!r}?)"
            elif self.peek(1).kind in (TokenKind.COLON, TokenKind.EQUALS):
                hint = (
                    " (keys belong inside a 'schedule { ... }', 'agent NAME { ... }' or "
                    "'policy NAME { ... }' block)"
                )
        return f"expected a 'schedule', 'agent' or 'policy' block, got {tok.describe()}{hint}"

    def skip_to_block(self) -> None:
        """Skip tokens (and any errors among them) up to the next top-level block."""
        while self.peek().kind is not TokenKind.EOF:
            if self.block_start_at():
                return
            self.advance()

    def simple_block(self) -> Block | None:
        """The common shape, ``KEYWORD NAME { key: scalar ... }`` with no error, read at once;
        None (nothing consumed) for any other, which :meth:`block` reads. What it makes is what
        :meth:`block` makes of the same tokens."""
        tokens = self.tokens
        i = self.i
        if i + 3 >= self.n:
            return None
        kw, name_tok, opening = tokens[i], tokens[i + 1], tokens[i + 2]
        if name_tok.kind not in _KEY_KINDS or opening.kind is not _LBRACE:
            return None
        entries: list[Entry] = []
        seen: set[str] = set()
        last: tuple[str, Token] | None = None
        j = i + 3
        while True:
            tok = tokens[j]
            kind = tok.kind
            if kind is _RBRACE:
                break
            if kind is TokenKind.COMMA or kind is TokenKind.SEMICOLON:
                j += 1
                continue
            if kind not in _KEY_KINDS:  # EOF, an error, a stray token: the full path says it
                return None
            sep = tokens[j + 1]  # tok is not EOF: another token follows
            if sep.kind is not _COLON and sep.kind is not _EQUALS:
                return None
            val = tokens[j + 2]  # nor is sep
            scalar_kind = _SCALAR_KINDS.get(val.kind)
            key = str(tok.value)
            if scalar_kind is None or key in seen:
                return None
            seen.add(key)
            scalar = Scalar(val.value, scalar_kind, val.line, val.col)  # type: ignore[arg-type]
            entries.append(Entry(key, tok.line, tok.col, scalar))
            last = (key, val)
            j += 3
        self.i = j + 1
        self.block_failed = False
        self.last_value = last
        return Block(
            kind=str(kw.value),
            name=str(name_tok.value),
            name_line=name_tok.line,
            name_col=name_tok.col,
            line=kw.line,
            col=kw.col,
            body=MapNode(tuple(entries), opening.line, opening.col),
            complete=True,
        )

    def block(self) -> Block:
        kw = self.advance()
        name: str | None = None
        name_tok = kw
        if self.peek().kind in _KEY_KINDS and self.peek(1).kind is TokenKind.LBRACE:
            name_tok = self.advance()
            name = str(name_tok.value)
        opening = self.peek()
        if opening.kind is not TokenKind.LBRACE:
            form = "schedule { ... }" if kw.value == "schedule" else f"{kw.value} NAME {{ ... }}"
            raise _Syntax(
                f"expected '{{' to open the {kw.value} block, got {opening.describe()} "
                f"(write {form})",
                opening.line,
                opening.col,
            )
        self.advance()
        self.block_failed = False
        body = self.map_body(opening, depth=1)
        return Block(
            kind=str(kw.value),
            name=name,
            name_line=name_tok.line,
            name_col=name_tok.col,
            line=kw.line,
            col=kw.col,
            body=body,
            complete=not self.block_failed,
        )

    # --- maps, entries, values ------------------------------------------------------------
    def map_body(self, opening: Token, depth: int) -> MapNode:
        entries: list[Entry] = []
        seen: dict[str, Entry] = {}
        self.last_value = None
        tokens = self.tokens
        while True:
            tok = tokens[self.i]  # the last token is EOF, which is never advanced past
            kind = tok.kind
            if kind is _RBRACE:
                self.i += 1
                return MapNode(tuple(entries), opening.line, opening.col)
            if kind is _EOF:
                raise _Unclosed(
                    opening, "'{' is never closed: add the matching '}' (end of file reached)"
                )
            if (
                kind is _IDENT
                and tok.first_on_line
                and tok.value in _BLOCK_KEYWORDS
                and self.block_start_at()
            ):
                raise _Unclosed(
                    opening,
                    f"'{{' is never closed: add the matching '}}' before the next block "
                    f"at {tok.line}:{tok.col}",
                )
            if tok.kind in (TokenKind.COMMA, TokenKind.SEMICOLON):
                self.advance()
                continue
            start = self.i
            try:
                entry = self.entry(depth)
            except _Syntax as exc:
                self.report(exc.message, exc.line, exc.col)
                self.block_failed = True
                self.recover(start)
                self.last_value = None
                continue
            first = seen.get(entry.key)
            if first is not None:
                self.report(
                    f"duplicate key {entry.key!r} (first given at {first.line}:{first.col})",
                    entry.line,
                    entry.col,
                )
                continue
            seen[entry.key] = entry
            entries.append(entry)

    def entry(self, depth: int) -> Entry:
        i = self.i
        tokens = self.tokens
        tok = tokens[i]
        if tok.kind in _KEY_KINDS and i + 2 < self.n:
            # the common shape, ``key: "string"`` (or a number or duration): no look-ahead
            sep, val = tokens[i + 1], tokens[i + 2]
            scalar_kind = _SCALAR_KINDS.get(val.kind)
            if scalar_kind is not None and (sep.kind is _COLON or sep.kind is _EQUALS):
                self.i = i + 3
                key = str(tok.value)
                self.last_value = (key, val)
                scalar = Scalar(val.value, scalar_kind, val.line, val.col)  # type: ignore[arg-type]
                return Entry(key, tok.line, tok.col, scalar)
        tok = self.advance()
        if tok.kind is TokenKind.ERROR:
            raise _Syntax(tok.text, tok.line, tok.col)
        if tok.kind not in _KEY_KINDS:
            raise _Syntax(self.not_a_key(tok), tok.line, tok.col)
        key = str(tok.value)
        nxt = self.peek()
        if nxt.kind in (TokenKind.COLON, TokenKind.EQUALS):
            self.advance()
            value = self.value(depth, key)
        elif nxt.kind is TokenKind.LBRACE:
            value = self.value(depth, key)
        else:
            raise _Syntax(
                f"expected ':' after key {key!r}, got {nxt.describe()} (write {key}: value)",
                nxt.line,
                nxt.col,
            )
        self.last_value = (key, self.tokens[self.i - 1])
        return Entry(key, tok.line, tok.col, value)

    def not_a_key(self, tok: Token) -> str:
        last = self.last_value
        if last is not None and last[1].line == tok.line:
            return (
                f"unexpected {tok.describe()} after the value of {last[0]!r} "
                '(quote values that contain spaces: cron: "0 9 * * *")'
            )
        if tok.kind is TokenKind.LBRACE:
            return "expected a key before '{' (write name { ... } or name: { ... })"
        return f"expected a key, got {tok.describe()}"

    def value(self, depth: int, key: str) -> Node:
        tok = self.peek()
        kind = tok.kind
        if kind in (TokenKind.LBRACE, TokenKind.LBRACKET):
            if depth >= MAX_DEPTH:
                raise _Syntax(
                    f"nesting deeper than {MAX_DEPTH} levels of {{ }} and [ ]", tok.line, tok.col
                )
            self.advance()
            if kind is TokenKind.LBRACE:
                return self.map_body(tok, depth + 1)
            return self.list_body(tok, depth + 1, key)
        if kind is TokenKind.STRING:
            self.advance()
            return Scalar(tok.value, "string", tok.line, tok.col)  # type: ignore[arg-type]
        if kind is TokenKind.NUMBER:
            self.advance()
            return Scalar(tok.value, "number", tok.line, tok.col)  # type: ignore[arg-type]
        if kind is TokenKind.DURATION:
            self.advance()
            return Scalar(tok.value, "duration", tok.line, tok.col)  # type: ignore[arg-type]
        if kind is TokenKind.IDENT and not (
            tok.first_on_line
            and self.peek(1).kind
            in (
                TokenKind.COLON,
                TokenKind.EQUALS,
            )
        ):
            self.advance()
            value, word_kind = _WORDS.get(str(tok.value), (tok.value, "word"))
            return Scalar(value, word_kind, tok.line, tok.col)  # type: ignore[arg-type]
        if kind is TokenKind.ERROR:
            self.advance()
            raise _Syntax(tok.text, tok.line, tok.col)
        raise _Syntax(f"expected a value for {key!r}, got {tok.describe()}", tok.line, tok.col)

    def list_body(self, opening: Token, depth: int, key: str) -> ListNode:
        items: list[Node] = []
        while True:
            tok = self.peek()
            if tok.kind is TokenKind.RBRACKET:
                self.advance()
                return ListNode(tuple(items), opening.line, opening.col)
            if tok.kind is TokenKind.COMMA:
                self.advance()
                continue
            if tok.kind is TokenKind.EOF:
                raise _Unclosed(
                    opening, "'[' is never closed: add the matching ']' (end of file reached)"
                )
            if tok.kind is TokenKind.RBRACE or (tok.first_on_line and self.block_start_at()):
                raise _Syntax(
                    f"'[' at {opening.line}:{opening.col} is never closed: add the matching ']'",
                    tok.line,
                    tok.col,
                )
            if tok.kind is TokenKind.COLON and items:
                raise _Syntax(
                    "unexpected ':' in a list (use { } for key: value pairs)", tok.line, tok.col
                )
            items.append(self.value(depth, key))

    def recover(self, start: int) -> None:
        """Skip to the next line that starts an entry, the enclosing '}' or the next block."""
        if self.i == start:
            self.advance()
        nest = 0
        while True:
            tok = self.peek()
            if tok.kind is TokenKind.EOF:
                return
            if nest == 0:
                if tok.kind is TokenKind.RBRACE:
                    return
                if tok.first_on_line and (tok.kind in _KEY_KINDS or tok.kind is TokenKind.ERROR):
                    return
            if tok.kind in (TokenKind.LBRACE, TokenKind.LBRACKET):
                nest += 1
            elif tok.kind in (TokenKind.RBRACE, TokenKind.RBRACKET) and nest > 0:
                nest -= 1
            self.advance()


def parse_blocks(tokens: list[Token], path: str) -> tuple[list[Block], list[DslIssue]]:
    """The file's blocks and its syntax errors (a block with an error has ``complete=False``)."""
    parser = _Parser(tokens, path)
    blocks = parser.parse()
    return blocks, parser.issues
