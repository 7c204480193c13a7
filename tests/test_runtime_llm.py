"""The llm runner against a real fake provider on 127.0.0.1 (see tests/llm_server.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from scheduler_core.errors import ExecutionError
from scheduler_core.model import AgentDefinition, RunnerKind
from scheduler_core.runtime.base import ExecutionResult
from scheduler_core.runtime.llm import (
    DEFAULT_USER_MESSAGE,
    LlmError,
    LlmReply,
    LlmRunner,
    _retry_after,
    build_messages,
    summarize,
)
from tests.llm_server import FakeLlmServer, Reply, closed_port, error_body

KEY = "sk-test-0123456789abcdef"
WRONG_KEY = "sk-wrong-fedcba9876543210"
ENV = {"OPENAI_API_KEY": KEY, "ANTHROPIC_API_KEY": KEY, "MY_LLM_KEY": KEY}


class Sleeps(list[float]):
    """An injected sleep: records the delays, never waits."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def server() -> Iterator[FakeLlmServer]:
    with FakeLlmServer(api_key=KEY) as fake:
        yield fake


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def runner(sleeps: Sleeps) -> AsyncIterator[LlmRunner]:
    llm = LlmRunner(env=ENV, sleep=sleeps)
    yield llm
    await llm.aclose()


def openai_agent(server: FakeLlmServer, **changes: Any) -> AgentDefinition:
    agent = AgentDefinition(
        name="writer",
        runner=RunnerKind.LLM,
        provider="openai",
        model="gpt-test",
        base_url=server.openai_url,
        api_key_env="OPENAI_API_KEY",
        system_prompt="You are terse.",
    )
    return replace(agent, **changes)


def anthropic_agent(server: FakeLlmServer, **changes: Any) -> AgentDefinition:
    agent = AgentDefinition(
        name="critic",
        runner=RunnerKind.LLM,
        provider="anthropic",
        model="claude-test",
        base_url=server.anthropic_url,
        api_key_env="ANTHROPIC_API_KEY",
        system_prompt="You review code.",
    )
    return replace(agent, **changes)


USER = [{"role": "user", "content": "Say hello"}]


def no_network() -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    """A client that records and refuses every request (for checks that must not send one)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise AssertionError(f"unexpected request to {request.url}")

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), seen


# --- success --------------------------------------------------------------------------------------


async def test_openai_success_request_and_reply(server: FakeLlmServer, runner: LlmRunner) -> None:
    server.reply_text = "Hello there."
    agent = openai_agent(server, max_tokens=256, temperature=0.3)
    reply = await runner.complete(agent, USER)

    assert reply == LlmReply(
        text="Hello there.",
        model="gpt-test",
        usage={"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
        attempts=1,
        finish_reason="stop",
    )
    request = server.last
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert "x-api-key" not in request.headers
    assert request.json == {
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Say hello"},
        ],
        "max_tokens": 256,
        "temperature": 0.3,
    }


async def test_openai_without_system_prompt_or_limits(
    server: FakeLlmServer, runner: LlmRunner
) -> None:
    await runner.complete(openai_agent(server, system_prompt=None), USER)
    assert server.last.json == {"model": "gpt-test", "messages": USER}


async def test_anthropic_success_request_and_reply(
    server: FakeLlmServer, runner: LlmRunner
) -> None:
    server.reply_text = "Looks fine."
    reply = await runner.complete(anthropic_agent(server, temperature=0.0), USER)

    assert reply.text == "Looks fine."
    assert reply.model == "claude-test"
    assert reply.usage == {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19}
    assert reply.finish_reason == "end_turn"
    assert reply.attempts == 1
    request = server.last
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == KEY
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert request.json == {
        "model": "claude-test",
        "max_tokens": 1024,
        "system": "You review code.",
        "messages": [{"role": "user", "content": "Say hello"}],
        "temperature": 0.0,
    }


async def test_anthropic_max_tokens_and_v1_base_url(
    server: FakeLlmServer, runner: LlmRunner
) -> None:
    agent = anthropic_agent(server, base_url=f"{server.url}/v1/", max_tokens=50)
    await runner.complete(agent, USER)
    assert server.last.path == "/v1/messages"
    assert server.last.json["max_tokens"] == 50


async def test_anthropic_reply_joins_text_blocks_only(
    server: FakeLlmServer, runner: LlmRunner
) -> None:
    body = {
        "model": "claude-test-2026",
        "content": [
            {"type": "thinking", "thinking": "hmm"},
            {"type": "text", "text": "Part one. "},
            {"type": "tool_use", "id": "t1", "name": "x", "input": {}},
            {"type": "text", "text": "Part two."},
        ],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 3, "output_tokens": 4},
    }
    server.enqueue(Reply(200, body=body))
    reply = await runner.complete(anthropic_agent(server), USER)
    assert reply.text == "Part one. Part two."
    assert reply.model == "claude-test-2026"
    assert reply.finish_reason == "max_tokens"


async def test_openai_content_parts_are_joined(server: FakeLlmServer, runner: LlmRunner) -> None:
    body = {
        "choices": [
            {
                "message": {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                }
            }
        ]
    }
    server.enqueue(Reply(200, body=body))
    reply = await runner.complete(openai_agent(server), USER)
    assert reply.text == "ab"
    assert reply.model == "gpt-test"  # the reply named none: the agent's
    assert reply.usage == {}
    assert reply.finish_reason is None


# --- retries --------------------------------------------------------------------------------------


async def test_429_then_200_honours_retry_after(
    server: FakeLlmServer, runner: LlmRunner, sleeps: Sleeps
) -> None:
    server.enqueue(Reply(429, headers={"Retry-After": "3"}, message="Rate limit reached"))
    reply = await runner.complete(openai_agent(server), USER)
    assert reply.attempts == 2
    assert sleeps == [3.0]
    assert len(server.requests) == 2
    assert server.requests[0].json == server.requests[1].json


async def test_retry_after_ms_and_cap(server: FakeLlmServer, sleeps: Sleeps) -> None:
    server.enqueue(
        Reply(429, headers={"retry-after-ms": "1500"}),
        Reply(529, headers={"Retry-After": "3600"}),  # capped
    )
    async with LlmRunner(env=ENV, sleep=sleeps, max_retry_after_seconds=20) as runner:
        reply = await runner.complete(anthropic_agent(server), USER)
    assert reply.attempts == 3
    assert sleeps == [1.5, 20.0]


async def test_5xx_then_success_backs_off_exponentially(
    server: FakeLlmServer, runner: LlmRunner, sleeps: Sleeps
) -> None:
    server.enqueue(Reply(500), Reply(502, body="Bad Gateway"), Reply(503))
    reply = await runner.complete(openai_agent(server), USER)
    assert reply.text == server.reply_text
    assert reply.attempts == 4
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(server.requests) == 4


async def test_retries_exhausted(server: FakeLlmServer, runner: LlmRunner, sleeps: Sleeps) -> None:
    server.enqueue(*[Reply(503, message="The server is overloaded")] * 5)
    with pytest.raises(LlmError) as caught:
        await runner.complete(openai_agent(server), USER)
    error = caught.value
    assert isinstance(error, ExecutionError)
    assert error.kind == "exhausted"
    assert error.attempts == 4
    assert error.status == 503
    message = str(error)
    assert "'writer'" in message
    assert "openai" in message
    assert f"{server.openai_url}/chat/completions" in message
    assert "gave up after 4 attempts" in message
    assert "HTTP 503" in message
    assert "The server is overloaded" in message
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(server.requests) == 4
    assert server.pending == 1


async def test_max_attempts_one_means_no_retry(server: FakeLlmServer, sleeps: Sleeps) -> None:
    server.enqueue(Reply(429))
    async with LlmRunner(env=ENV, sleep=sleeps, max_attempts=1) as runner:
        with pytest.raises(LlmError, match="gave up after 1 attempt, last HTTP 429"):
            await runner.complete(openai_agent(server), USER)
    assert sleeps == []


async def test_backoff_is_capped(server: FakeLlmServer, sleeps: Sleeps) -> None:
    server.enqueue(*[Reply(500)] * 5)
    async with LlmRunner(
        env=ENV, sleep=sleeps, max_attempts=6, backoff_seconds=2, max_backoff_seconds=10
    ) as runner:
        await runner.complete(openai_agent(server), USER)
    assert sleeps == [2.0, 4.0, 8.0, 10.0, 10.0]


async def test_connection_error_is_retried(sleeps: Sleeps) -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("Connection refused", request=request)
        return httpx.Response(
            200, json={"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
        )

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    agent = AgentDefinition(
        name="local",
        runner=RunnerKind.LLM,
        model="llama3.2",
        base_url="http://127.0.0.1:9/v1",
    )
    runner = LlmRunner(client=client, env={}, sleep=sleeps)
    reply = await runner.complete(agent, USER)
    assert (reply.text, reply.attempts, sleeps) == ("ok", 2, [1.0])
    await runner.aclose()
    assert not client.is_closed  # a client passed in belongs to the caller
    await client.aclose()


# --- failures -------------------------------------------------------------------------------------


async def test_401_names_the_env_var_and_hides_the_key(
    server: FakeLlmServer, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env = {"MY_LLM_KEY": WRONG_KEY}
    async with LlmRunner(env=env, sleep=sleeps) as runner:
        with pytest.raises(LlmError) as caught:
            await runner.complete(openai_agent(server, api_key_env="MY_LLM_KEY"), USER)
    error = caught.value
    message = str(error)
    assert error.kind == "auth"
    assert error.status == 401
    assert "authentication failed (HTTP 401)" in message
    assert "MY_LLM_KEY" in message
    assert "'writer'" in message and "openai" in message and server.openai_url in message
    assert "Incorrect API key provided" in message  # the provider's words...
    assert WRONG_KEY not in message  # ...but never the key
    assert WRONG_KEY not in repr(error.to_dict())
    assert WRONG_KEY not in caplog.text
    assert len(server.requests) == 1  # not retried
    assert sleeps == []


async def test_401_anthropic(server: FakeLlmServer, sleeps: Sleeps) -> None:
    async with LlmRunner(env={"ANTHROPIC_API_KEY": WRONG_KEY}, sleep=sleeps) as runner:
        with pytest.raises(LlmError) as caught:
            await runner.complete(anthropic_agent(server), USER)
    message = str(caught.value)
    assert caught.value.kind == "auth"
    assert "check the API key in ANTHROPIC_API_KEY" in message
    assert "invalid x-api-key" in message
    assert "anthropic" in message and "/v1/messages" in message
    assert WRONG_KEY not in message


async def test_key_echoed_by_a_server_is_redacted(
    server: FakeLlmServer, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server.enqueue(
        Reply(500, message=f"upstream rejected {KEY}"),
        Reply(403, body=error_body("openai", 403, f"key {KEY} is not allowed here")),
    )
    async with LlmRunner(env=ENV, sleep=sleeps) as runner:
        with pytest.raises(LlmError) as caught:
            await runner.complete(openai_agent(server), USER)
    assert caught.value.kind == "auth"
    assert "[redacted]" in str(caught.value)
    assert KEY not in str(caught.value)
    assert "attempt 1 failed" in caplog.text
    assert KEY not in caplog.text


async def test_401_from_a_keyless_server_says_no_key_was_sent(
    server: FakeLlmServer, runner: LlmRunner
) -> None:
    agent = openai_agent(server, api_key_env="UNSET_KEY")
    with pytest.raises(LlmError, match=r"no API key was sent: set UNSET_KEY"):
        await runner.complete(agent, USER)
    assert "authorization" not in server.last.headers


async def test_unknown_model_openai(server: FakeLlmServer, runner: LlmRunner) -> None:
    with pytest.raises(LlmError) as caught:
        await runner.complete(openai_agent(server, model="gpt-nope"), USER)
    assert caught.value.kind == "unknown_model"
    assert "unknown model 'gpt-nope'" in str(caught.value)
    assert "'writer'" in str(caught.value)
    assert len(server.requests) == 1


async def test_unknown_model_anthropic(server: FakeLlmServer, runner: LlmRunner) -> None:
    with pytest.raises(LlmError, match="unknown model 'claude-nope'") as caught:
        await runner.complete(anthropic_agent(server, model="claude-nope"), USER)
    assert caught.value.status == 404


async def test_unknown_model_ollama_style(server: FakeLlmServer, runner: LlmRunner) -> None:
    server.enqueue(
        Reply(404, body={"error": {"message": 'model "qwen9" not found, try pulling it first'}})
    )
    with pytest.raises(LlmError, match="unknown model 'qwen9'"):
        await runner.complete(openai_agent(server, model="qwen9"), USER)


async def test_wrong_base_url_is_endpoint_not_found(
    server: FakeLlmServer, runner: LlmRunner
) -> None:
    agent = openai_agent(server, base_url=f"{server.url}/api")
    with pytest.raises(LlmError) as caught:
        await runner.complete(agent, USER)
    assert caught.value.kind == "not_found"
    assert "endpoint not found (HTTP 404): check base_url" in str(caught.value)
    assert f"{server.url}/api/chat/completions" in str(caught.value)


async def test_bad_request_is_not_retried(
    server: FakeLlmServer, runner: LlmRunner, sleeps: Sleeps
) -> None:
    server.enqueue(Reply(400, message="messages: too long"))
    with pytest.raises(LlmError, match=r"request rejected \(HTTP 400\): messages: too long"):
        await runner.complete(anthropic_agent(server), USER)
    assert sleeps == []
    assert len(server.requests) == 1


async def test_unreachable_endpoint(runner: LlmRunner, sleeps: Sleeps) -> None:
    with closed_port() as port:
        agent = AgentDefinition(
            name="offline",
            runner=RunnerKind.LLM,
            provider="openai",
            model="llama3.2",
            base_url=f"http://127.0.0.1:{port}/v1",
        )
        with pytest.raises(LlmError) as caught:
            await runner.complete(agent, USER)
    error = caught.value
    assert error.kind == "unreachable"
    assert error.attempts == 4
    assert f"cannot reach http://127.0.0.1:{port}/v1/chat/completions" in str(error)
    assert "'offline'" in str(error)
    assert "gave up after 4 attempts" in str(error)
    assert sleeps == [1.0, 2.0, 4.0]


async def test_timeout(server: FakeLlmServer, runner: LlmRunner, sleeps: Sleeps) -> None:
    server.enqueue(Reply(200, delay=5))
    started = time.monotonic()
    with pytest.raises(LlmError) as caught:
        await runner.complete(openai_agent(server, timeout_seconds=0.2), USER)
    assert time.monotonic() - started < 2
    error = caught.value
    assert error.kind == "timeout"
    assert "no reply within 0.2s" in str(error)
    assert "'writer'" in str(error) and server.openai_url in str(error)
    assert len(server.requests) == 1  # a timeout is not retried
    assert sleeps == []


@pytest.mark.parametrize(
    ("provider", "variable"), [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")]
)
async def test_missing_key_with_default_endpoint_fails_before_any_request(
    provider: str, variable: str
) -> None:
    client, seen = no_network()
    agent = AgentDefinition(name="cloud", runner=RunnerKind.LLM, provider=provider, model="m")
    async with LlmRunner(client=client, env={"OTHER": "x"}) as runner:
        with pytest.raises(LlmError) as caught:
            await runner.complete(agent, USER)
    assert caught.value.kind == "missing_key"
    assert f"the environment variable {variable} is not set" in str(caught.value)
    assert "'cloud'" in str(caught.value)
    assert seen == []
    await client.aclose()


async def test_missing_named_key_for_anthropic_custom_url(server: FakeLlmServer) -> None:
    agent = anthropic_agent(server, api_key_env="CLAUDE_KEY")
    async with LlmRunner(env={"CLAUDE_KEY": "  "}) as runner:  # blank counts as unset
        with pytest.raises(LlmError, match="environment variable CLAUDE_KEY is not set"):
            await runner.complete(agent, USER)
    assert server.requests == []


async def test_custom_base_url_without_key_sends_no_authorization(sleeps: Sleeps) -> None:
    with FakeLlmServer(api_key=None) as ollama:
        agent = AgentDefinition(
            name="local",
            runner=RunnerKind.LLM,
            provider="openai",
            model="llama3.2",
            base_url=ollama.openai_url,
        )
        # an OpenAI key in the environment must not be sent to a local server
        async with LlmRunner(env={"OPENAI_API_KEY": KEY}, sleep=sleeps) as runner:
            reply = await runner.complete(agent, USER)
            named = replace(agent, api_key_env="OLLAMA_KEY")  # named but unset: still fine
            await runner.complete(named, USER)
    assert reply.text == ollama.reply_text
    assert [r.headers.get("authorization") for r in ollama.requests] == [None, None]


async def test_provider_defaults_to_openai(server: FakeLlmServer, runner: LlmRunner) -> None:
    await runner.complete(openai_agent(server, provider=None), USER)
    assert server.last.path == "/v1/chat/completions"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("<html>oops</html>", "not JSON"),
        ({"choices": []}, "no choices"),
        ({"choices": [{"message": {"content": None}}]}, "no text content"),
        ([1, 2], "expected a JSON object"),
    ],
)
async def test_malformed_openai_reply(
    server: FakeLlmServer, runner: LlmRunner, body: Any, why: str
) -> None:
    server.enqueue(Reply(200, body=body))
    with pytest.raises(LlmError, match=f"malformed reply: .*{why}") as caught:
        await runner.complete(openai_agent(server), USER)
    assert caught.value.kind == "malformed"
    assert len(server.requests) == 1


async def test_malformed_anthropic_reply(server: FakeLlmServer, runner: LlmRunner) -> None:
    server.enqueue(Reply(200, body={"type": "message", "content": "hi"}))
    with pytest.raises(LlmError, match="malformed reply: no content blocks"):
        await runner.complete(anthropic_agent(server), USER)


async def test_config_errors(runner: LlmRunner) -> None:
    agent = AgentDefinition(name="x", runner=RunnerKind.LLM, provider="gemini", model="g")
    with pytest.raises(LlmError, match="unknown provider 'gemini'"):
        await runner.complete(agent, USER)
    agent = AgentDefinition(name="x", runner=RunnerKind.LLM, base_url="http://127.0.0.1:9/v1")
    with pytest.raises(LlmError, match="no model set"):
        await runner.complete(agent, USER)


# --- run: messages, summary, details --------------------------------------------------------------


async def test_run_places_memory_and_previous_summary(
    server: FakeLlmServer, runner: LlmRunner
) -> None:
    memory = [
        {"role": "user", "content": "Check the backups"},
        {"role": "assistant", "content": "Backups are fine."},
        {"role": "system", "content": "ignored"},
        {"role": "tool", "content": "ignored"},
    ]
    await runner.run(
        openai_agent(server),
        input="Check again",
        previous_summary="Backups fine on Monday",
        memory=memory,
    )
    assert server.last.json["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Check the backups"},
        {"role": "assistant", "content": "Backups are fine."},
        {"role": "user", "content": "Summary of your previous run: Backups fine on Monday"},
        {"role": "user", "content": "Check again"},
    ]


async def test_run_anthropic_merges_consecutive_user_turns(
    server: FakeLlmServer, runner: LlmRunner
) -> None:
    memory = [
        {"role": "assistant", "content": "Earlier reply"},
        {"role": "user", "content": "Then this"},
    ]
    await runner.run(anthropic_agent(server), input="Now", previous_summary="S", memory=memory)
    body = server.last.json
    assert body["system"] == "You review code."
    assert body["messages"] == [
        {"role": "user", "content": "(earlier conversation)"},
        {"role": "assistant", "content": "Earlier reply"},
        {"role": "user", "content": "Then this\n\nSummary of your previous run: S\n\nNow"},
    ]


async def test_run_without_input_uses_the_default_message(
    server: FakeLlmServer, runner: LlmRunner
) -> None:
    await runner.run(openai_agent(server, system_prompt=None), input=None)
    assert server.last.json["messages"] == [{"role": "user", "content": DEFAULT_USER_MESSAGE}]
    await runner.run(openai_agent(server, system_prompt=None), input="   ")
    assert server.last.json["messages"][-1]["content"] == DEFAULT_USER_MESSAGE


async def test_run_result_with_summary_line(server: FakeLlmServer, runner: LlmRunner) -> None:
    server.reply_text = "Checked 3 hosts.\nAll good.\n\nSUMMARY: 3 hosts healthy"
    result = await runner.run(openai_agent(server), input="check", iteration=2)
    assert isinstance(result, ExecutionResult)
    assert result.output == server.reply_text
    assert result.summary == "3 hosts healthy"
    assert result.details == {
        "model": "gpt-test",
        "provider": "openai",
        "usage": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
        "attempts": 1,
        "finish_reason": "stop",
        "iteration": 2,
    }
    assert KEY not in repr(result)


async def test_run_result_summary_is_the_start_of_the_reply(
    server: FakeLlmServer, runner: LlmRunner
) -> None:
    server.reply_text = "word " * 100
    result = await runner.run(anthropic_agent(server), input="go")
    assert result.summary is not None
    assert len(result.summary) == 200
    assert result.summary.endswith("…")
    assert result.details["provider"] == "anthropic"
    assert result.details["attempts"] == 1


async def test_runner_owned_client_is_closed(server: FakeLlmServer) -> None:
    runner = LlmRunner(env=ENV)
    await runner.complete(openai_agent(server), USER)
    client = runner._client
    assert client is not None
    await runner.aclose()
    assert client.is_closed
    await runner.aclose()  # idempotent


# --- helpers --------------------------------------------------------------------------------------


def test_summarize() -> None:
    assert summarize("short reply") == "short reply"
    assert summarize("a\n  b\n") == "a b"
    assert summarize("Body\n**Summary:** all done\nand more") == "all done and more"
    assert summarize("Body\nSUMMARY:\nnext line") == "next line"
    assert summarize("x" * 300, limit=10) == "x" * 9 + "…"
    assert summarize("") == ""


def test_build_messages() -> None:
    assert build_messages(input="hi") == [{"role": "user", "content": "hi"}]
    assert build_messages(input=None, previous_summary="  ") == [
        {"role": "user", "content": DEFAULT_USER_MESSAGE}
    ]


def test_retry_after_parsing() -> None:
    assert _retry_after(httpx.Headers({"retry-after": "7"})) == 7.0
    assert _retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert _retry_after(httpx.Headers({})) is None
    future = _retry_after(httpx.Headers({"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"}))
    assert future is not None and future > 0
    assert _retry_after(httpx.Headers({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
