"""The DSL's syntax tree: every key and value keeps its line and column.

Positions are what make an error useful (``file:line:col``), so the tree is kept until the
definitions built from it have been validated, and any field a validator names can be traced
back to the text that set it. The nodes are named tuples: immutable, and several times cheaper
to make than frozen dataclasses (a file of 10,000 schedules makes 60,000 of them).
"""

from __future__ import annotations

__all__ = ["Block", "Entry", "ListNode", "MapNode", "Node", "Scalar", "to_plain"]

from typing import Any, NamedTuple


class Scalar(NamedTuple):
    """A string, number, duration, boolean, null or bare word."""

    value: str | int | float | bool | None
    kind: str  #: string | number | duration | bool | null | word
    line: int
    col: int


class ListNode(NamedTuple):
    items: tuple[Node, ...]
    line: int
    col: int


class Entry(NamedTuple):
    key: str
    line: int
    col: int
    value: Node


class MapNode(NamedTuple):
    """``{ key: value ... }``; ``line``/``col`` are those of the opening brace."""

    entries: tuple[Entry, ...]
    line: int
    col: int

    def get(self, key: str) -> Entry | None:
        for entry in self.entries:
            if entry.key == key:
                return entry
        return None


Node = Scalar | ListNode | MapNode


class Block(NamedTuple):
    """A top-level ``schedule [NAME] {...}``, ``agent NAME {...}`` or ``policy NAME {...}``."""

    kind: str  #: "schedule" | "agent" | "policy"
    name: str | None  #: the name after the keyword, if any
    name_line: int
    name_col: int
    line: int  #: of the keyword
    col: int
    body: MapNode
    complete: bool  #: parsed without a syntax error


def to_plain(node: Node) -> Any:
    """The node as plain Python data (dict, list, str, int, float, bool, None)."""
    if isinstance(node, Scalar):
        return node.value
    if isinstance(node, ListNode):
        return [to_plain(item) for item in node.items]
    return {entry.key: to_plain(entry.value) for entry in node.entries}
