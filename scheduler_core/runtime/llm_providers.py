"""The wire formats of the chat APIs an ``llm`` agent speaks, with no I/O.

``provider = "openai"`` speaks ``POST {base_url}/chat/completions`` (OpenAI, Ollama, vLLM,
llama.cpp, ...), ``provider = "anthropic"`` speaks ``POST {base_url}/v1/messages``. Here: where a
request goes, its headers and body, how a reply and an error body read, which statuses are worth
retrying and what ``Retry-After`` asks for. Sending, retrying and reporting are
:class:`scheduler_core.runtime.llm.LlmRunner`'s.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..model import AgentDefinition
from .llm_messages import cut

if TYPE_CHECKING:  # httpx is imported on first use: importing it pulls in rich (its CLI)
    import httpx

DEFAULT_BASE_URLS: Mapping[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}
#: the variable read when an agent names no ``api_key_env`` (and its provider needs a key)
DEFAULT_KEY_ENV: Mapping[str, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
}
ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024  #: anthropic requires max_tokens; used when the agent sets none

_RETRY_STATUSES = frozenset({408, 409, 429})  # plus every 5xx
_USER_AGENT = "symbi-tui-llm/0.1"


def provider_of(agent: AgentDefinition) -> str:
    """The agent's provider, normalised (``openai`` when it names none)."""
    return (agent.provider or "openai").strip().lower()


def endpoint_for(provider: str, base_url: str) -> str:
    """The URL a completion is posted to, from the provider and its base URL (no trailing /)."""
    if provider == "anthropic":
        return base_url + ("/messages" if base_url.endswith("/v1") else "/v1/messages")
    return base_url + "/chat/completions"


def request_for(
    agent: AgentDefinition, provider: str, turns: list[dict[str, str]], key: str | None
) -> tuple[dict[str, str], dict[str, Any]]:
    """The headers and JSON body of one completion request (the key only in the headers)."""
    headers = {"content-type": "application/json", "user-agent": _USER_AGENT}
    body: dict[str, Any] = {"model": agent.model}
    if provider == "anthropic":
        headers["anthropic-version"] = ANTHROPIC_VERSION
        if key is not None:
            headers["x-api-key"] = key
        body["max_tokens"] = agent.max_tokens or DEFAULT_MAX_TOKENS
        if agent.system_prompt:
            body["system"] = agent.system_prompt
        body["messages"] = _alternate(turns)
    else:
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        system = [{"role": "system", "content": agent.system_prompt}]
        body["messages"] = (system if agent.system_prompt else []) + turns
        if agent.max_tokens is not None:
            body["max_tokens"] = agent.max_tokens
    if agent.temperature is not None:
        body["temperature"] = agent.temperature
    return headers, body


def _alternate(turns: list[dict[str, str]]) -> list[dict[str, str]]:
    """Anthropic wants user/assistant turns alternating, starting with the user: merge runs."""
    merged: list[dict[str, str]] = []
    for turn in turns:
        if merged and merged[-1]["role"] == turn["role"]:
            merged[-1] = {
                "role": turn["role"],
                "content": f"{merged[-1]['content']}\n\n{turn['content']}",
            }
        else:
            merged.append(dict(turn))
    if merged and merged[0]["role"] != "user":
        merged.insert(0, {"role": "user", "content": "(earlier conversation)"})
    return merged


class Malformed(Exception):
    """A reply that is JSON but not the shape its provider sends."""


def _parse_openai(data: Any) -> tuple[str, str | None, dict[str, int]]:
    if not isinstance(data, Mapping):
        raise Malformed(f"expected a JSON object, got {type(data).__name__}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise Malformed("no choices in the reply")
    message = choices[0].get("message")
    if not isinstance(message, Mapping):
        raise Malformed("choices[0] has no message")
    content = message.get("content")
    if isinstance(content, list):  # some servers send content parts
        content = "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    if not isinstance(content, str):
        raise Malformed("choices[0].message has no text content")
    finish = choices[0].get("finish_reason")
    usage = _usage(data.get("usage"), "prompt_tokens", "completion_tokens")
    return content, finish if isinstance(finish, str) else None, usage


def _parse_anthropic(data: Any) -> tuple[str, str | None, dict[str, int]]:
    if not isinstance(data, Mapping):
        raise Malformed(f"expected a JSON object, got {type(data).__name__}")
    content = data.get("content")
    if not isinstance(content, list):
        raise Malformed("no content blocks in the reply")
    text = "".join(
        block["text"]
        for block in content
        if isinstance(block, Mapping)
        and block.get("type") == "text"
        and isinstance(block.get("text"), str)
    )
    finish = data.get("stop_reason")
    usage = _usage(data.get("usage"), "input_tokens", "output_tokens")
    return text, finish if isinstance(finish, str) else None, usage


def _usage(raw: Any, input_key: str, output_key: str) -> dict[str, int]:
    """Token counts as ``input_tokens``/``output_tokens``/``total_tokens`` (whatever is known)."""
    if not isinstance(raw, Mapping):
        return {}
    usage: dict[str, int] = {}
    for source, target in ((input_key, "input_tokens"), (output_key, "output_tokens")):
        value = raw.get(source)
        if isinstance(value, int) and not isinstance(value, bool):
            usage[target] = value
    total = raw.get("total_tokens")
    if isinstance(total, int) and not isinstance(total, bool):
        usage["total_tokens"] = total
    elif "input_tokens" in usage and "output_tokens" in usage:
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
    return usage


def parse_reply(provider: str, data: Any) -> tuple[str, str | None, dict[str, int]]:
    """(text, finish reason, token usage) of a provider's reply; raises :class:`Malformed`."""
    if provider == "anthropic":
        return _parse_anthropic(data)
    return _parse_openai(data)


def retryable(status: int) -> bool:
    """Whether a failed attempt with this HTTP status is worth another (408, 409, 429, 5xx)."""
    return status in _RETRY_STATUSES or 500 <= status <= 599


def _error_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def error_code(response: httpx.Response) -> tuple[str | None, str | None]:
    """(``error.code``, ``error.type``) of a provider-shaped error body, if any."""
    body = _error_body(response)
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None, None
    code, kind = error.get("code"), error.get("type")
    return (code if isinstance(code, str) else None, kind if isinstance(kind, str) else None)


def error_message(response: httpx.Response) -> str:
    """The provider's own words: ``error.message`` (OpenAI, Anthropic, Ollama) or the body."""
    body = _error_body(response)
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return excerpt(error["message"])
        if isinstance(error, str):
            return excerpt(error)
        if isinstance(body.get("message"), str):
            return excerpt(body["message"])
    text = response.text.strip()
    return excerpt(text) if text else response.reason_phrase or "no details"


def excerpt(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut short for a message."""
    return cut(" ".join(text.split()), limit)


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()
