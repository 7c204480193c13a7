"""A fake LLM provider: a real HTTP server on 127.0.0.1 speaking OpenAI and Anthropic.

``POST /v1/chat/completions`` answers like OpenAI (and Ollama, vLLM...), ``POST /v1/messages``
like Anthropic; any other path gets a plain-text 404. Out of the box it behaves like the real
services: it checks the API key (``Authorization: Bearer`` or ``x-api-key``), the
``anthropic-version`` header and the model, answering 401/400/404 with provider-shaped error
JSON, and otherwise replies ``reply_text``.

Tests script it with :meth:`FakeLlmServer.enqueue`: each queued :class:`Reply` answers one request
(whatever it is), in order, before the default behaviour resumes. Every request is recorded in
:attr:`FakeLlmServer.requests`. Use it as a context manager or through the ``llm_server`` fixture::

    with FakeLlmServer(api_key="sk-test") as server:
        server.enqueue(Reply(429, headers={"Retry-After": "3"}))
        ...  # base_url=server.openai_url or server.anthropic_url
"""

from __future__ import annotations

__all__ = [
    "ANTHROPIC_MODELS",
    "OPENAI_MODELS",
    "FakeLlmServer",
    "RecordedRequest",
    "Reply",
    "closed_port",
    "error_body",
    "llm_server",
]

import contextlib
import json
import socket
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

OPENAI_MODELS: tuple[str, ...] = ("gpt-test", "llama3.2")
ANTHROPIC_MODELS: tuple[str, ...] = ("claude-test",)

_ERROR_TYPES = {  # Anthropic's error types by status
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer.

    ``body``: a dict/list (sent as JSON), a str or bytes (sent as is), or None: for a 2xx a
    provider-shaped completion of ``text``, otherwise a provider-shaped error of ``message``.
    ``delay``: seconds to wait before answering (cut short when the server stops).
    """

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    text: str | None = None
    message: str | None = None
    usage: tuple[int, int] | None = None  #: (input, output) tokens; None: the server's


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]  #: names lower-cased
    body: bytes
    json: Any  #: the parsed body, or None when it is not JSON

    @property
    def provider(self) -> str | None:
        return _provider_of(self.path)


def error_body(provider: str, status: int, message: str, *, code: str | None = None) -> Any:
    """An error body shaped like the provider's."""
    if provider == "anthropic":
        kind = _ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    kind = "invalid_request_error" if 400 <= status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def completion_body(provider: str, model: str, text: str, usage: tuple[int, int] = (12, 7)) -> Any:
    """A successful reply shaped like the provider's; ``usage``: its (input, output) tokens."""
    prompt, completion = usage
    if provider == "anthropic":
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": prompt, "output_tokens": completion},
        }
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_772_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


OPENAI_PATH = "/v1/chat/completions"
ANTHROPIC_PATH = "/v1/messages"


def _provider_of(path: str) -> str | None:
    """Which API a path belongs to; like the real services, only their exact paths."""
    path = path.split("?", 1)[0].rstrip("/")
    return {OPENAI_PATH: "openai", ANTHROPIC_PATH: "anthropic"}.get(path)


class FakeLlmServer:
    """See the module docstring. ``api_key=None`` accepts any request (a local Ollama)."""

    def __init__(
        self,
        *,
        api_key: str | None = "sk-test-0123456789abcdef",
        openai_models: tuple[str, ...] = OPENAI_MODELS,
        anthropic_models: tuple[str, ...] = ANTHROPIC_MODELS,
        reply_text: str = "Hello from the fake model.",
        usage: tuple[int, int] = (12, 7),
    ) -> None:
        self.api_key = api_key
        self.openai_models = openai_models
        self.anthropic_models = anthropic_models
        self.reply_text = reply_text
        self.usage = usage  #: the (input, output) tokens a completion reports
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeLlmServer:
        handler = type("_Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-llm-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FakeLlmServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_url(self) -> str:
        """A base_url for provider openai (like ``https://api.openai.com/v1``)."""
        return f"{self.url}/v1"

    @property
    def anthropic_url(self) -> str:
        """A base_url for provider anthropic (like ``https://api.anthropic.com``)."""
        return self.url

    # --- scripting --------------------------------------------------------------------------

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    @property
    def last(self) -> RecordedRequest:
        assert self.requests, "no request was received"
        return self.requests[-1]

    # --- answering --------------------------------------------------------------------------

    def _answer(self, request: RecordedRequest) -> tuple[Reply, str | None]:
        with self._lock:
            self.requests.append(request)
            scripted = self._queue.popleft() if self._queue else None
        provider = request.provider
        if scripted is not None:
            return scripted, provider
        return self._default(request, provider), provider

    def _default(self, request: RecordedRequest, provider: str | None) -> Reply:
        if request.method != "POST" or provider is None:
            return Reply(404, body="404 page not found", headers={"content-type": "text/plain"})
        if not isinstance(request.json, dict):
            return Reply(400, message="the request body is not a JSON object")
        headers = request.headers
        if provider == "anthropic":
            if self.api_key is not None:
                sent = headers.get("x-api-key")
                if not sent:
                    return Reply(401, message="x-api-key header is required")
                if sent != self.api_key:
                    return Reply(401, message="invalid x-api-key")
            if "anthropic-version" not in headers:
                return Reply(400, message="anthropic-version: header is required")
            if not isinstance(request.json.get("max_tokens"), int):
                return Reply(400, message="max_tokens: Field required")
            models = self.anthropic_models
        else:
            if self.api_key is not None:
                auth = headers.get("authorization", "")
                if not auth.startswith("Bearer ") or not auth[7:]:
                    return Reply(
                        401,
                        body=error_body(
                            "openai",
                            401,
                            "You didn't provide an API key. You need to provide your API key "
                            "in an Authorization header using Bearer auth.",
                        ),
                    )
                if auth[7:] != self.api_key:
                    sent = auth[7:]
                    masked = f"{sent[:3]}***{sent[-4:]}" if len(sent) > 8 else "***"
                    return Reply(
                        401,
                        body=error_body(
                            "openai",
                            401,
                            f"Incorrect API key provided: {masked}. You can find your API key "
                            "at https://platform.openai.com/account/api-keys.",
                            code="invalid_api_key",
                        ),
                    )
            models = self.openai_models
        model = request.json.get("model")
        if model not in models:
            if provider == "anthropic":
                return Reply(404, message=f"model: {model}")
            return Reply(
                404,
                body=error_body(
                    "openai",
                    404,
                    f"The model `{model}` does not exist or you do not have access to it.",
                    code="model_not_found",
                ),
            )
        return Reply(200, text=self.reply_text)

    def _render(
        self, reply: Reply, provider: str | None, request: RecordedRequest
    ) -> tuple[bytes, dict[str, str]]:
        headers = {k.lower(): v for k, v in reply.headers.items()}
        body = reply.body
        kind = provider or "openai"
        if body is None:
            if 200 <= reply.status < 300:
                model = request.json.get("model") if isinstance(request.json, dict) else None
                body = completion_body(
                    kind, str(model), reply.text or self.reply_text, reply.usage or self.usage
                )
            else:
                body = error_body(kind, reply.status, reply.message or f"error {reply.status}")
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
            headers.setdefault("content-type", "application/json")
        headers.setdefault("content-type", "text/plain; charset=utf-8")
        return data, headers


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLlmServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=raw,
            json=parsed,
        )
        reply, provider = self.fake._answer(request)
        if reply.delay and self.fake._stopping.wait(reply.delay):
            self.close_connection = True
            return
        data, headers = self.fake._render(reply, provider, request)
        try:
            self.send_response(reply.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            self.close_connection = True

    do_POST = _handle
    do_GET = _handle


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses every connection, for the ``with`` block: held bound but
    not listening, so no other process can start listening on it meanwhile (a port bound, then
    released and handed on, could be)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture
def llm_server() -> Iterator[FakeLlmServer]:
    """A started :class:`FakeLlmServer`, stopped after the test."""
    with FakeLlmServer() as server:
        yield server
