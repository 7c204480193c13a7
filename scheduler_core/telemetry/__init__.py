"""Traces of runs: the seam the engine calls, and no OpenTelemetry import.

The engine asks a :class:`Telemetry` for one span per run (:func:`run_span`); code that runs
inside that run (heartbeat iterations, LLM calls, deliveries) opens child spans with
:func:`span` and asks :func:`trace_headers` for the W3C ``traceparent`` of what it sends. Both
find the run through a context variable (asyncio tasks copy it), so nothing is passed down the
call chain, and with telemetry off (:data:`NO_TELEMETRY`, the default) they do nothing.

:func:`open_telemetry` makes the real one from ``[telemetry]``: only then is
:mod:`scheduler_core.telemetry._otel`, the one module that imports ``opentelemetry``,
imported. Without the ``otel`` extra installed, an ``otlp_endpoint`` is refused with a
:class:`~scheduler_core.errors.ConfigError` naming ``pip install 'symbi-tui[otel]'``.

What spans carry (every attribute is listed in the README, "OpenTelemetry"): ids, names, the
trigger, the attempt, statuses and outcomes, the iteration number, the delivery channel, the
LLM's model, provider and token counts. Never a run's input or output, an agent's message, an
error's text, a URL or a header.
"""

from __future__ import annotations

__all__ = [
    "NO_TELEMETRY",
    "Attributes",
    "Span",
    "Telemetry",
    "TelemetryUnavailable",
    "check_extra",
    "check_telemetry_config",
    "current_span",
    "llm_replied",
    "llm_span",
    "open_telemetry",
    "run_span",
    "span",
    "trace_headers",
]

import re
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..settings import TelemetryConfig

if TYPE_CHECKING:
    from ..model import JobDefinition, JobRun

#: what a span may carry: names to plain values (never text from an agent or a secret)
Attributes = Mapping[str, str | int | float | bool]

INSTALL_HINT = "pip install 'symbi-tui[otel]'"


class Span(Protocol):
    """One span, started; :meth:`end` once."""

    def set(self, attributes: Attributes) -> None:
        """Add ``attributes``."""

    def fail(self, reason: str) -> None:
        """Mark the span's status an error; ``reason`` is a word or a type name, never text
        from an agent."""

    def child(self, name: str, attributes: Attributes, *, client: bool = False) -> Span:
        """A span under this one, started now (``client``: it calls out over the network)."""

    def headers(self) -> dict[str, str]:
        """The W3C trace context of this span (``traceparent``, ``tracestate`` if any)."""

    def end(self) -> None:
        """End the span (it is exported after this)."""


class Telemetry(Protocol):
    """Where run spans come from."""

    @property
    def enabled(self) -> bool:
        """False for the no-op telemetry."""

    def start(self, name: str, attributes: Attributes) -> Span:
        """A root span, started now."""

    async def shutdown(self) -> None:
        """Export what is buffered, then stop; later spans are dropped."""


class _NoTelemetry:
    """Telemetry off: no spans, no headers."""

    enabled = False

    def start(self, name: str, attributes: Attributes) -> Span:
        raise RuntimeError("telemetry is off")  # run_span never asks it

    async def shutdown(self) -> None:
        return None


NO_TELEMETRY: Telemetry = _NoTelemetry()

_current: ContextVar[Span | None] = ContextVar("symbi_span", default=None)


def current_span() -> Span | None:
    """The innermost span open in this task (None: telemetry off, or outside a run)."""
    return _current.get()


@contextmanager
def _activated(opened: Span) -> Iterator[Span]:
    """``opened`` is the current span inside the block; an exception marks it failed (by its
    type's name); it ends on leaving."""
    token = _current.set(opened)
    try:
        yield opened
    except BaseException as exc:
        opened.fail(type(exc).__name__)
        raise
    finally:
        _current.reset(token)
        opened.end()


@contextmanager
def run_span(telemetry: Telemetry, job: JobDefinition, run: JobRun) -> Iterator[Span | None]:
    """The span of one run (``cron.run``), current in the block; None with telemetry off."""
    if not telemetry.enabled:
        yield None
        return
    attributes: dict[str, str | int | float | bool] = {
        "symbi.job.id": job.id,
        "symbi.job.name": job.name,
        "symbi.run.id": run.id,
        "symbi.run.trigger": str(run.trigger.value),
        "symbi.run.attempt": run.attempt,
        "symbi.agent": run.agent_id or job.agent,
    }
    with _activated(telemetry.start("cron.run", attributes)) as opened:
        yield opened


@contextmanager
def span(name: str, attributes: Attributes, *, client: bool = False) -> Iterator[Span | None]:
    """A child of the current span, current in the block; None (and nothing done) when no
    span is open (telemetry off, or code running outside a run)."""
    parent = _current.get()
    if parent is None:
        yield None
        return
    with _activated(parent.child(name, attributes, client=client)) as opened:
        yield opened


def llm_span(provider: str, model: str | None) -> AbstractContextManager[Span | None]:
    """The span of one LLM completion (``llm.call``, all its attempts), with GenAI semantic
    convention names; its ``traceparent`` goes with the request."""
    attributes: dict[str, str | int | float | bool] = {"gen_ai.provider.name": provider}
    if model:
        attributes["gen_ai.request.model"] = model
    return span("llm.call", attributes, client=True)


def llm_replied(
    traced: Span | None, model: str | None, usage: Mapping[str, int], attempts: int
) -> None:
    """What the completion answered, on its span: the model and the token counts known."""
    if traced is None:
        return
    attributes: dict[str, str | int | float | bool] = {"symbi.llm.attempts": attempts}
    if model:
        attributes["gen_ai.response.model"] = model
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        if isinstance(usage.get(key), int):
            attributes[f"gen_ai.usage.{key}"] = usage[key]
    traced.set(attributes)


def trace_headers() -> dict[str, str]:
    """The ``traceparent`` (and ``tracestate``) of the current span, for a request it makes;
    empty when no span is open."""
    current = _current.get()
    return current.headers() if current is not None else {}


class TelemetryUnavailable(ConfigError):
    """``[telemetry] otlp_endpoint`` is set, but the ``otel`` extra is not installed."""

    code = "telemetry_unavailable"


def open_telemetry(config: TelemetryConfig) -> Telemetry:
    """The telemetry ``[telemetry]`` asks for: :data:`NO_TELEMETRY` without an endpoint, else
    spans exported over OTLP/HTTP (raises :class:`TelemetryUnavailable` without the extra)."""
    if not config.otlp_endpoint:
        return NO_TELEMETRY
    check_extra(config)
    from ._otel import OtelTelemetry

    return OtelTelemetry.exporting(config)


def check_extra(config: TelemetryConfig) -> None:
    """Raise :class:`TelemetryUnavailable` if ``config`` sets an endpoint and the ``otel``
    extra cannot be imported (``symbi config validate`` says so too)."""
    if not config.otlp_endpoint:
        return
    try:
        from . import _otel  # noqa: F401
    except ImportError as exc:
        raise TelemetryUnavailable(
            f"is set, but OpenTelemetry is not installed ({exc.name or 'opentelemetry'} is "
            f"missing): {INSTALL_HINT}, or remove the key",
            key="telemetry.otlp_endpoint",
        ) from None


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def check_telemetry_config(config: TelemetryConfig) -> list[tuple[str, str]]:
    """Problems in ``[telemetry]``, as (dotted key, message); header values are never quoted."""
    problems: list[tuple[str, str]] = []
    endpoint = config.otlp_endpoint
    if endpoint is not None:
        try:
            parts = urlsplit(endpoint)
            host = parts.hostname
            parts.port  # noqa: B018 (raises for a port out of range)
        except ValueError:  # an unclosed [IPv6 address, a port out of range
            parts, host = urlsplit(""), None
        if parts.scheme not in ("http", "https") or not host:
            shown = repr(endpoint[:80]) if "@" not in endpoint else "a value with credentials"
            problems.append(
                (
                    "telemetry.otlp_endpoint",
                    "expected the http:// or https:// URL of an OTLP/HTTP collector, a host "
                    f"and an optional port up to 65535 (e.g. http://127.0.0.1:4318), got {shown}",
                )
            )
        elif parts.username or parts.password:
            problems.append(
                (
                    "telemetry.otlp_endpoint",
                    "holds credentials: put them in [telemetry.headers] (kept secret) instead",
                )
            )
    if not config.service_name.strip():
        problems.append(("telemetry.service_name", "must not be empty"))
    for name, value in config.headers.items():
        if not _HEADER_NAME.match(name):
            problems.append(("telemetry.headers", f"{name[:80]!r} is not an HTTP header name"))
        elif "\n" in value or "\r" in value:
            problems.append(("telemetry.headers", f"the value of {name!r} spans lines"))
    return problems
