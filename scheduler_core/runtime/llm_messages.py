"""The conversation an ``llm`` agent is sent and the summary read from its reply.

Provider-neutral: plain ``{"role", "content"}`` turns. How a provider wants them (a system
message, alternating turns) is decided in :mod:`scheduler_core.runtime.llm_providers`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_USER_MESSAGE = "Run your scheduled task."
SUMMARY_CHARS = 200

_SUMMARY_LINE = re.compile(r"^[\s>#*_`-]*summary[\s*_`]*:[\s*_`]*(.*)$", re.IGNORECASE)


def build_messages(
    *,
    input: str | None,
    previous_summary: str | None = None,
    memory: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, str]]:
    """The conversation for one run: earlier turns, the previous summary, then the input."""
    messages = chat_turns(memory)
    if previous_summary and previous_summary.strip():
        messages.append(
            {
                "role": "user",
                "content": f"Summary of your previous run: {previous_summary.strip()}",
            }
        )
    text = input if input is not None and input.strip() else DEFAULT_USER_MESSAGE
    messages.append({"role": "user", "content": text})
    return messages


def summarize(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The text after a ``SUMMARY:`` line if the reply has one, else its first ``limit`` chars."""
    lines = text.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        match = _SUMMARY_LINE.match(lines[index])
        if match:
            rest = " ".join([match.group(1), *lines[index + 1 :]])
            found = " ".join(rest.split()).strip("*_` ")
            if found:
                return cut(found, limit * 4)
    return cut(" ".join(text.split()), limit)


def cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def chat_turns(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """User and assistant turns with text content; anything else is dropped."""
    turns: list[dict[str, str]] = []
    for message in messages:
        role = message.get("role")
        content = message.get("content")
        if role in ("user", "assistant") and isinstance(content, str) and content:
            turns.append({"role": role, "content": content})
    return turns
