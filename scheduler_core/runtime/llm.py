"""The ``llm`` runner: one chat completion over HTTP, OpenAI-compatible or Anthropic.

``provider = "openai"`` speaks ``POST {base_url}/chat/completions`` (OpenAI, Ollama, vLLM,
llama.cpp, ...), ``provider = "anthropic"`` speaks ``POST {base_url}/v1/messages``. Requests time
out after the agent's ``timeout_seconds``; 429, 5xx and connection errors are retried with
exponential backoff (honouring ``Retry-After``) up to ``max_attempts``. Every failure is an
:class:`LlmError` (an :class:`ExecutionError`) whose message names the agent, the provider and
the endpoint. The API key is never put in a message, a log line or a result.
"""

from __future__ import annotations

__all__ = [
    "ANTHROPIC_VERSION",
    "DEFAULT_BASE_URLS",
    "DEFAULT_KEY_ENV",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_TIMEOUT_SECONDS",
    "DEFAULT_USER_MESSAGE",
    "LlmError",
    "LlmReply",
    "LlmRunner",
    "build_messages",
    "summarize",
]

import asyncio
import email.utils
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ExecutionError
from ..model import AgentDefinition
from .base import ExecutionResult

if TYPE_CHECKING:  # httpx is imported on first use: importing it pulls in rich (its CLI)
    import httpx

log = logging.getLogger("symbi.llm")

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
DEFAULT_TIMEOUT_SECONDS = 120.0
DEFAULT_MAX_TOKENS = 1024  #: anthropic requires max_tokens; used when the agent sets none
DEFAULT_USER_MESSAGE = "Run your scheduled task."
SUMMARY_CHARS = 200

_RETRY_STATUSES = frozenset({408, 409, 429})  # plus every 5xx
_SUMMARY_LINE = re.compile(r"^[\s>#*_`-]*summary[\s*_`]*:[\s*_`]*(.*)$", re.IGNORECASE)
_USER_AGENT = "symbi-tui-llm/0.1"

Sleep = Callable[[float], Awaitable[None]]


class LlmError(ExecutionError):
    """An LLM call failed. ``kind`` says how; the message names agent, provider and endpoint.

    Kinds: ``config`` (the agent cannot be called as defined), ``missing_key``, ``auth``,
    ``unknown_model``, ``not_found`` (endpoint), ``rejected`` (other 4xx), ``unreachable``,
    ``timeout``, ``exhausted`` (retries used up), ``malformed`` (unreadable reply).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        agent: str,
        provider: str,
        endpoint: str,
        status: int | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.agent = agent
        self.provider = provider
        self.endpoint = endpoint
        self.status = status
        self.attempts = attempts

    def details(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "agent": self.agent,
            "provider": self.provider,
            "endpoint": self.endpoint,
            "status": self.status,
            "attempts": self.attempts,
        }


@dataclass(frozen=True, slots=True)
class LlmReply:
    """What a completion returned: the text, the model that answered and the token usage."""

    text: str
    model: str
    usage: Mapping[str, int] = field(default_factory=dict)
    attempts: int = 1
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class _Call:
    """One resolved request: where it goes and what it says (the key only in ``headers``)."""

    agent: str
    provider: str
    model: str
    endpoint: str
    headers: Mapping[str, str]
    body: Mapping[str, Any]
    timeout: float
    key: str | None
    key_env: str | None

    def error(
        self, what: str, *, kind: str, status: int | None = None, attempts: int = 0
    ) -> LlmError:
        message = f"agent {self.agent!r} ({self.provider}, POST {self.endpoint}): {what}"
        return LlmError(
            _redact(message, self.key),
            kind=kind,
            agent=self.agent,
            provider=self.provider,
            endpoint=_redact(self.endpoint, self.key),
            status=status,
            attempts=attempts,
        )


class LlmRunner:
    """Runs ``llm`` agents: builds the conversation, calls the provider, retries, reports.

    ``client``: an httpx client to use (not closed by :meth:`aclose`); by default one is made
    on first use. ``env``: where API keys are looked up (default: ``os.environ``, read at call
    time). ``sleep``: awaited between attempts (tests inject a recorder).
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        env: Mapping[str, str] | None = None,
        sleep: Sleep = asyncio.sleep,
        max_attempts: int = 4,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 30.0,
        max_retry_after_seconds: float = 60.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._client = client
        self._owns_client = client is None
        self._env = env
        self._sleep = sleep
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.max_retry_after_seconds = max_retry_after_seconds

    async def aclose(self) -> None:
        """Close the client this runner made (a client passed in is left to its owner)."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> LlmRunner:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- the agent runner -------------------------------------------------------------------

    async def run(
        self,
        agent: AgentDefinition,
        *,
        input: str | None,
        previous_summary: str | None = None,
        memory: Sequence[Mapping[str, Any]] = (),
        iteration: int = 0,
    ) -> ExecutionResult:
        """One run of ``agent``: the reply is the output, its summary the run's summary."""
        messages = build_messages(input=input, previous_summary=previous_summary, memory=memory)
        reply = await self.complete(agent, messages)
        details: dict[str, Any] = {
            "model": reply.model,
            "provider": _provider(agent),
            "usage": dict(reply.usage),
            "attempts": reply.attempts,
            "finish_reason": reply.finish_reason,
        }
        if iteration:
            details["iteration"] = iteration
        return ExecutionResult(output=reply.text, summary=summarize(reply.text), details=details)

    # --- one completion ---------------------------------------------------------------------

    async def complete(
        self, agent: AgentDefinition, messages: Sequence[Mapping[str, Any]]
    ) -> LlmReply:
        """Send ``messages`` (user/assistant turns; the system prompt comes from the agent)."""
        import httpx

        call = self._prepare(agent, messages)
        client = self._client_for_use()
        last: str = ""
        last_status: int | None = None
        attempt = 0
        while True:
            attempt += 1
            try:
                async with asyncio.timeout(call.timeout):
                    response = await client.post(
                        call.endpoint,
                        headers=dict(call.headers),
                        json=call.body,
                        timeout=call.timeout,
                    )
            except (TimeoutError, httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):
                raise call.error(
                    f"no reply within {call.timeout:g}s (timeout_seconds)",
                    kind="timeout",
                    attempts=attempt,
                ) from None
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise call.error(
                    f"invalid base_url: {_redact(str(exc), call.key)}",
                    kind="config",
                    attempts=attempt,
                ) from None
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last_status = None
                last = f"cannot reach {call.endpoint} ({_reason(exc)})"
                retry_after = None
            except httpx.TransportError as exc:
                last_status = None
                last = f"connection to {call.endpoint} failed ({_reason(exc)})"
                retry_after = None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return self._reply(call, response, attempt)
                if not _retryable(status):
                    raise self._failure(call, response, attempt)
                last_status = status
                last = f"HTTP {status}: {_error_message(response)}"
                retry_after = _retry_after(response.headers)
            if attempt >= self.max_attempts:
                if last_status is None:
                    raise call.error(
                        f"{last}; gave up after {attempt} attempt{_s(attempt)}",
                        kind="unreachable",
                        attempts=attempt,
                    )
                raise call.error(
                    f"gave up after {attempt} attempt{_s(attempt)}, last {last}",
                    kind="exhausted",
                    status=last_status,
                    attempts=attempt,
                )
            delay = self._delay(attempt, retry_after)
            log.warning(
                "%s",
                _redact(
                    f"agent {call.agent!r} ({call.provider}): attempt {attempt} failed: {last}; "
                    f"retrying in {delay:g}s",
                    call.key,
                ),
            )
            await self._sleep(delay)

    # --- helpers ----------------------------------------------------------------------------

    def _client_for_use(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(follow_redirects=False)
            self._owns_client = True
        return self._client

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_seconds)
        return min(self.backoff_seconds * float(2 ** (attempt - 1)), self.max_backoff_seconds)

    def _prepare(self, agent: AgentDefinition, messages: Sequence[Mapping[str, Any]]) -> _Call:
        provider = _provider(agent)
        base_url = (agent.base_url or DEFAULT_BASE_URLS.get(provider, "")).strip().rstrip("/")
        if provider == "anthropic":
            endpoint = base_url + ("/messages" if base_url.endswith("/v1") else "/v1/messages")
        else:
            endpoint = base_url + "/chat/completions"
        timeout = agent.timeout_seconds if agent.timeout_seconds else DEFAULT_TIMEOUT_SECONDS
        # Where the key comes from: the agent's api_key_env, else the provider's usual variable
        # (not for a custom OpenAI-compatible server: a local Ollama must not get an OpenAI key).
        custom_server = (
            provider == "openai"
            and agent.base_url is not None
            and (base_url != DEFAULT_BASE_URLS["openai"])
        )
        key_env = agent.api_key_env
        if key_env is None and not custom_server:
            key_env = DEFAULT_KEY_ENV.get(provider)
        env = self._env if self._env is not None else os.environ
        key = ((env.get(key_env) or "").strip() or None) if key_env else None
        draft = _Call(
            agent=agent.name,
            provider=provider,
            model=agent.model or "",
            endpoint=endpoint,
            headers={},
            body={},
            timeout=timeout,
            key=key,
            key_env=key_env,
        )
        if provider not in DEFAULT_BASE_URLS:
            raise draft.error(
                f"unknown provider {provider!r} (use openai or anthropic)", kind="config"
            )
        if not agent.model:
            raise draft.error("no model set (e.g. model: gpt-4o-mini)", kind="config")
        if key is None and not custom_server:
            raise draft.error(
                f"no API key: the environment variable {key_env} is not set"
                + ("" if agent.api_key_env else " (or set api_key_env to the one holding it)"),
                kind="missing_key",
            )
        turns = _turns(messages)
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
        return _Call(
            agent=agent.name,
            provider=provider,
            model=agent.model,
            endpoint=endpoint,
            headers=headers,
            body=body,
            timeout=timeout,
            key=key,
            key_env=key_env,
        )

    def _reply(self, call: _Call, response: httpx.Response, attempts: int) -> LlmReply:
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise call.error(
                f"malformed reply: not JSON ({_excerpt(response.text)!r})",
                kind="malformed",
                status=response.status_code,
                attempts=attempts,
            ) from None
        try:
            if call.provider == "anthropic":
                text, finish, usage = _parse_anthropic(data)
            else:
                text, finish, usage = _parse_openai(data)
        except _Malformed as exc:
            raise call.error(
                f"malformed reply: {exc}",
                kind="malformed",
                status=response.status_code,
                attempts=attempts,
            ) from None
        model = data.get("model") if isinstance(data.get("model"), str) else call.model
        log.info(
            "agent %r (%s): %s replied after %d attempt%s",
            call.agent,
            call.provider,
            model,
            attempts,
            _s(attempts),
        )
        return LlmReply(
            text=text, model=model, usage=usage, attempts=attempts, finish_reason=finish
        )

    def _failure(self, call: _Call, response: httpx.Response, attempts: int) -> LlmError:
        status = response.status_code
        message = _error_message(response)
        code, kind = _error_code(response)
        if status in (401, 403):
            if call.key is None:
                hint = (
                    f"no API key was sent: set {call.key_env}"
                    if call.key_env
                    else "no API key was sent: set api_key_env to the variable holding it"
                )
            else:
                hint = f"check the API key in {call.key_env}"
            return call.error(
                f"authentication failed (HTTP {status}): {hint} ({message})",
                kind="auth",
                status=status,
                attempts=attempts,
            )
        if status == 404 or code == "model_not_found":
            about_model = (
                code == "model_not_found" or kind == "not_found_error" or "model" in message.lower()
            )
            if about_model:
                return call.error(
                    f"unknown model {call.model!r} (HTTP {status}: {message})",
                    kind="unknown_model",
                    status=status,
                    attempts=attempts,
                )
            return call.error(
                f"endpoint not found (HTTP {status}): check base_url ({message})",
                kind="not_found",
                status=status,
                attempts=attempts,
            )
        return call.error(
            f"request rejected (HTTP {status}): {message}",
            kind="rejected",
            status=status,
            attempts=attempts,
        )


# --- messages and summaries ---------------------------------------------------------------------


def build_messages(
    *,
    input: str | None,
    previous_summary: str | None = None,
    memory: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, str]]:
    """The conversation for one run: earlier turns, the previous summary, then the input."""
    messages = _turns(memory)
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
                return _cut(found, limit * 4)
    return _cut(" ".join(text.split()), limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _turns(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """User and assistant turns with text content; anything else is dropped."""
    turns: list[dict[str, str]] = []
    for message in messages:
        role = message.get("role")
        content = message.get("content")
        if role in ("user", "assistant") and isinstance(content, str) and content:
            turns.append({"role": role, "content": content})
    return turns


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


# --- replies --------------------------------------------------------------------------------------


class _Malformed(Exception):
    pass


def _parse_openai(data: Any) -> tuple[str, str | None, dict[str, int]]:
    if not isinstance(data, Mapping):
        raise _Malformed(f"expected a JSON object, got {type(data).__name__}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise _Malformed("no choices in the reply")
    message = choices[0].get("message")
    if not isinstance(message, Mapping):
        raise _Malformed("choices[0] has no message")
    content = message.get("content")
    if isinstance(content, list):  # some servers send content parts
        content = "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    if not isinstance(content, str):
        raise _Malformed("choices[0].message has no text content")
    finish = choices[0].get("finish_reason")
    usage = _usage(data.get("usage"), "prompt_tokens", "completion_tokens")
    return content, finish if isinstance(finish, str) else None, usage


def _parse_anthropic(data: Any) -> tuple[str, str | None, dict[str, int]]:
    if not isinstance(data, Mapping):
        raise _Malformed(f"expected a JSON object, got {type(data).__name__}")
    content = data.get("content")
    if not isinstance(content, list):
        raise _Malformed("no content blocks in the reply")
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


# --- errors ---------------------------------------------------------------------------------------


def _provider(agent: AgentDefinition) -> str:
    return (agent.provider or "openai").strip().lower()


def _retryable(status: int) -> bool:
    return status in _RETRY_STATUSES or 500 <= status <= 599


def _error_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _error_code(response: httpx.Response) -> tuple[str | None, str | None]:
    """(``error.code``, ``error.type``) of a provider-shaped error body, if any."""
    body = _error_body(response)
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None, None
    code, kind = error.get("code"), error.get("type")
    return (code if isinstance(code, str) else None, kind if isinstance(kind, str) else None)


def _error_message(response: httpx.Response) -> str:
    """The provider's own words: ``error.message`` (OpenAI, Anthropic, Ollama) or the body."""
    body = _error_body(response)
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return _excerpt(error["message"])
        if isinstance(error, str):
            return _excerpt(error)
        if isinstance(body.get("message"), str):
            return _excerpt(body["message"])
    text = response.text.strip()
    return _excerpt(text) if text else response.reason_phrase or "no details"


def _excerpt(text: str, limit: int = 300) -> str:
    return _cut(" ".join(text.split()), limit)


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    if not text and exc.__context__ is not None:
        text = str(exc.__context__).strip()
    return text or type(exc).__name__


def _retry_after(headers: httpx.Headers) -> float | None:
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


def _redact(text: str, key: str | None) -> str:
    return text.replace(key, "[redacted]") if key else text


def _s(count: int) -> str:
    return "" if count == 1 else "s"
