"""The ``llm`` runner: one chat completion over HTTP, OpenAI-compatible or Anthropic.

``provider = "openai"`` speaks ``POST {base_url}/chat/completions`` (OpenAI, Ollama, vLLM,
llama.cpp, ...), ``provider = "anthropic"`` speaks ``POST {base_url}/v1/messages``. Requests time
out after the agent's ``timeout_seconds``; 429, 5xx and connection errors are retried with
exponential backoff (honouring ``Retry-After``) up to ``max_attempts``. Every failure is an
:class:`LlmError` (an :class:`ExecutionError`) whose message names the agent, the provider and
the endpoint. The API key is never put in a message, a log line or a result.

This module is the runner loop (prepare, send, retry, report); the providers' request and reply
shapes are in :mod:`.llm_providers`, the conversation and summary in :mod:`.llm_messages`.
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
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..errors import ExecutionError
from ..model import AgentDefinition
from ..records import record
from ..telemetry import llm_replied, llm_span, trace_headers
from .base import ExecutionResult
from .llm_messages import DEFAULT_USER_MESSAGE, build_messages, chat_turns, summarize
from .llm_providers import (
    ANTHROPIC_VERSION,
    DEFAULT_BASE_URLS,
    DEFAULT_KEY_ENV,
    DEFAULT_MAX_TOKENS,
    Malformed,
    endpoint_for,
    error_code,
    error_message,
    excerpt,
    parse_reply,
    provider_of,
    request_for,
    retryable,
)
from .llm_providers import retry_after as _retry_after

if TYPE_CHECKING:  # httpx is imported on first use: importing it pulls in rich (its CLI)
    import httpx

log = logging.getLogger("symbi.llm")

DEFAULT_TIMEOUT_SECONDS = 120.0

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


@record
class LlmReply:
    """What a completion returned: the text, the model that answered and the token usage."""

    text: str
    model: str
    usage: Mapping[str, int] = field(default_factory=dict)
    attempts: int = 1
    finish_reason: str | None = None


@record
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

    def failure(self, response: httpx.Response, attempts: int) -> LlmError:
        """What a non-retryable HTTP error means: bad key, unknown model or endpoint, rejected."""
        status = response.status_code
        message = error_message(response)
        code, kind = error_code(response)
        if status in (401, 403):
            if self.key is None:
                hint = (
                    f"no API key was sent: set {self.key_env}"
                    if self.key_env
                    else "no API key was sent: set api_key_env to the variable holding it"
                )
            else:
                hint = f"check the API key in {self.key_env}"
            return self.error(
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
                return self.error(
                    f"unknown model {self.model!r} (HTTP {status}: {message})",
                    kind="unknown_model",
                    status=status,
                    attempts=attempts,
                )
            return self.error(
                f"endpoint not found (HTTP {status}): check base_url ({message})",
                kind="not_found",
                status=status,
                attempts=attempts,
            )
        return self.error(
            f"request rejected (HTTP {status}): {message}",
            kind="rejected",
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
        with llm_span(provider_of(agent), agent.model) as traced:
            reply = await self.complete(agent, messages)
            llm_replied(traced, reply.model, reply.usage, reply.attempts)
        details: dict[str, Any] = {
            "model": reply.model,
            "provider": provider_of(agent),
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
                        headers={**call.headers, **trace_headers()},
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
                if not retryable(status):
                    raise call.failure(response, attempt)
                last_status = status
                last = f"HTTP {status}: {error_message(response)}"
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
        provider = provider_of(agent)
        env = self._env if self._env is not None else os.environ
        # the operator may move a provider's default (as its own SDKs allow): a proxy, a gateway
        default = env.get(f"{provider.upper()}_BASE_URL") or DEFAULT_BASE_URLS.get(provider, "")
        base_url = (agent.base_url or default).strip().rstrip("/")
        endpoint = endpoint_for(provider, base_url)
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
        headers, body = request_for(agent, provider, chat_turns(messages), key)
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
                f"malformed reply: not JSON ({excerpt(response.text)!r})",
                kind="malformed",
                status=response.status_code,
                attempts=attempts,
            ) from None
        try:
            text, finish, usage = parse_reply(call.provider, data)
        except Malformed as exc:
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


# --- messages in errors and logs ------------------------------------------------------------------


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    if not text and exc.__context__ is not None:
        text = str(exc.__context__).strip()
    return text or type(exc).__name__


def _redact(text: str, key: str | None) -> str:
    return text.replace(key, "[redacted]") if key else text


def _s(count: int) -> str:
    return "" if count == 1 else "s"
