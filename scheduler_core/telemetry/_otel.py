"""The OpenTelemetry side of :mod:`scheduler_core.telemetry`: the only module that imports it.

Each :class:`OtelTelemetry` has its own ``TracerProvider`` (the process-wide one is left
alone: an embedding program keeps its own), exporting over OTLP/HTTP in batches.
"""

from __future__ import annotations

__all__ = ["OtelTelemetry"]

import asyncio

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..settings import TelemetryConfig
from . import Attributes

_PROPAGATOR = TraceContextTextMapPropagator()
TRACES_PATH = "/v1/traces"


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a collector's base URL (kept if it already ends so)."""
    base = endpoint.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


class OtelSpan:
    """A started OpenTelemetry span."""

    __slots__ = ("_span", "_tracer")

    def __init__(self, tracer: trace.Tracer, span: trace.Span) -> None:
        self._tracer = tracer
        self._span = span

    def set(self, attributes: Attributes) -> None:
        self._span.set_attributes(dict(attributes))

    def fail(self, reason: str) -> None:
        self._span.set_status(Status(StatusCode.ERROR, reason))

    def child(self, name: str, attributes: Attributes, *, client: bool = False) -> OtelSpan:
        started = self._tracer.start_span(
            name,
            context=trace.set_span_in_context(self._span),
            kind=SpanKind.CLIENT if client else SpanKind.INTERNAL,
            attributes=dict(attributes),
        )
        return OtelSpan(self._tracer, started)

    def headers(self) -> dict[str, str]:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(self._span))
        return carrier

    def end(self) -> None:
        self._span.end()

    @property
    def otel(self) -> trace.Span:
        """The OpenTelemetry span itself (its context: trace and span ids)."""
        return self._span


class OtelTelemetry:
    """Run spans from ``provider`` (its processors decide where they go)."""

    enabled = True

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("symbi-tui")

    @classmethod
    def exporting(cls, config: TelemetryConfig) -> OtelTelemetry:
        """Spans batched and exported over OTLP/HTTP to ``config.otlp_endpoint``."""
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        assert config.otlp_endpoint is not None
        provider = TracerProvider(resource=Resource.create({"service.name": config.service_name}))
        exporter = OTLPSpanExporter(
            endpoint=traces_url(config.otlp_endpoint),
            headers=dict(config.headers),
            timeout=config.export_timeout_seconds,
        )
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    def start(self, name: str, attributes: Attributes) -> OtelSpan:
        started = self._tracer.start_span(
            name,
            context=trace.set_span_in_context(trace.INVALID_SPAN),  # a root, whatever is current
            attributes=dict(attributes),
        )
        return OtelSpan(self._tracer, started)

    async def shutdown(self) -> None:
        """Export what is buffered (a blocking call: run in a thread), then stop."""
        await asyncio.to_thread(self.provider.shutdown)
