"""OpenTelemetry traces of runs: the span tree, what it carries, the W3C traceparent sent on.

Runs go through a real engine (a SQLite file, a fake clock deciding when jobs fire) with real
agents: an LLM agent against the fake LLM server, command agents as subprocesses, a webhook
receiver; spans are caught by the SDK's in-memory exporter. The daemon's OTLP/HTTP export, and
the daemon without the ``otel`` extra, are in tests/test_telemetry_daemon.py.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from scheduler_core.clock import FakeClock
from scheduler_core.config import load_config, validate_config_file
from scheduler_core.config._write import config_to_toml
from scheduler_core.engine import Engine
from scheduler_core.errors import ConfigError
from scheduler_core.model import AgentDefinition, RunnerKind, RunStatus
from scheduler_core.runtime.agents import AgentExecutor
from scheduler_core.settings import (
    DeliveryConfig,
    SchedulerConfig,
    SchedulerSettings,
    StoreConfig,
    TelemetryConfig,
)
from scheduler_core.telemetry import NO_TELEMETRY, Telemetry, open_telemetry
from scheduler_core.telemetry._otel import OtelTelemetry, traces_url

from .conftest import finished_run
from .delivery_servers import ScriptedHTTPServer, running
from .llm_server import FakeLlmServer, Reply

KEY = "sk-test-telemetry-0123456789"
INPUT = "Summarize the incident report of db-7 (private)"
PY = sys.executable


@pytest.fixture
def llm() -> Iterator[FakeLlmServer]:
    with FakeLlmServer(api_key=KEY) as fake:
        yield fake


@pytest.fixture
def web() -> Iterator[ScriptedHTTPServer]:
    yield from running(ScriptedHTTPServer())


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def _telemetry(exporter: InMemorySpanExporter) -> OtelTelemetry:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return OtelTelemetry(provider)


async def _engine(
    tmp_path: Path, agents: Sequence[AgentDefinition], telemetry: Telemetry | None
) -> tuple[Engine, FakeClock]:
    clock = FakeClock("2026-03-02T08:59:00Z")
    config = SchedulerConfig(
        scheduler=SchedulerSettings(
            claim_ahead_seconds=0,
            shutdown_timeout_seconds=0.5,
            delivery=DeliveryConfig(webhook_retry_attempts=0),
        ),
        store=StoreConfig(url=str(tmp_path / "s.db")),
    )
    executor = AgentExecutor({a.name: a for a in agents}, env={"LLM_KEY": KEY})
    engine = Engine(config, executor=executor, clock=clock, telemetry=telemetry)
    await engine.start()
    return engine, clock


def _analyst(llm: FakeLlmServer) -> AgentDefinition:
    return AgentDefinition(
        name="analyst",
        runner=RunnerKind.LLM,
        provider="openai",
        model="gpt-test",
        base_url=llm.openai_url,
        api_key_env="LLM_KEY",
    )


def _command(name: str, script: str) -> AgentDefinition:
    return AgentDefinition(name=name, runner=RunnerKind.COMMAND, command=(PY, "-c", script))


async def _span_named(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    """The span once it has ended (a delivery ends after its run is recorded)."""
    for _ in range(500):
        found = [s for s in exporter.get_finished_spans() if s.name == name]
        if found:
            return found[-1]
        await asyncio.sleep(0.02)
    names = [s.name for s in exporter.get_finished_spans()]
    raise AssertionError(f"no {name} span; spans: {names}")


def _parse_traceparent(value: str) -> tuple[int, int]:
    """(trace id, parent span id) of a W3C traceparent ``00-<32 hex>-<16 hex>-<2 hex>``,
    sampled (flag bit 0; bit 1 says the trace id is random)."""
    version, trace_id, span_id, flags = value.split("-")
    assert (version, len(trace_id), len(span_id), len(flags)) == ("00", 32, 16, 2), value
    assert int(flags, 16) & 1, value
    return int(trace_id, 16), int(span_id, 16)


def _values(found: Sequence[ReadableSpan]) -> str:
    """Every attribute value and status description of ``found``, as one text."""
    parts: list[str] = []
    for s in found:
        parts.extend(str(v) for v in (s.attributes or {}).values())
        parts.append(str(s.status.description))
    return json.dumps(parts)


async def test_a_heartbeat_run_is_one_trace_of_iterations_llm_calls_and_deliveries(
    tmp_path: Path, llm: FakeLlmServer, web: ScriptedHTTPServer, spans: InMemorySpanExporter
) -> None:
    engine, clock = await _engine(tmp_path, [_analyst(llm)], _telemetry(spans))
    try:
        assert engine.service is not None
        job = await engine.service.add_job(
            {
                "name": "watch",
                "agent": "analyst",
                "cron": "0 9 * * *",
                "input": INPUT,
                "heartbeat": {"enabled": True, "max_iterations": 3},
                "delivery": ["webhook"],
                "webhook_url": f"{web.url}/hooks/watch",
                "webhook_headers": {"X-Hook-Token": "hook-secret-55aa"},
            }
        )
        llm.enqueue(Reply(text="CPU high on db-7, restarting the worker"))
        llm.enqueue(Reply(text='{"action": "sleep", "assessment": "calm again"}'))
        clock.set("2026-03-02T09:00:00Z")
        run = await finished_run(engine, "watch")
        assert run.status is RunStatus.SUCCEEDED, run.error_message
        delivery = await _span_named(spans, "cron.delivery")
    finally:
        await engine.stop()

    found = spans.get_finished_spans()
    (root,) = [s for s in found if s.name == "cron.run"]
    assert root.parent is None and root.context is not None
    trace_id = root.context.trace_id
    assert {s.context.trace_id for s in found if s.context} == {trace_id}
    assert dict(root.attributes or {}) == {
        "symbi.job.id": job.id,
        "symbi.job.name": "watch",
        "symbi.run.id": run.id,
        "symbi.run.trigger": "schedule",
        "symbi.run.attempt": 1,
        "symbi.agent": "analyst",
        "symbi.run.status": "succeeded",
    }
    assert root.status.status_code is StatusCode.UNSET

    iterations = sorted(
        (s for s in found if s.name == "cron.heartbeat.iteration"),
        key=lambda s: (s.attributes or {})["symbi.iteration"],
    )
    assert [dict(s.attributes or {}) for s in iterations] == [
        {"symbi.iteration": 1, "symbi.iteration.outcome": "continue"},
        {"symbi.iteration": 2, "symbi.iteration.outcome": "sleep"},
    ]
    assert all(s.parent and s.parent.span_id == root.context.span_id for s in iterations)

    calls = [s for s in found if s.name == "llm.call"]
    assert len(calls) == 2
    for call, iteration in zip(
        sorted(calls, key=lambda s: s.start_time or 0), iterations, strict=True
    ):
        assert iteration.context is not None and call.parent is not None
        assert call.parent.span_id == iteration.context.span_id
        assert call.kind is SpanKind.CLIENT
        assert dict(call.attributes or {}) == {
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-test",
            "gen_ai.response.model": "gpt-test",
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 7,
            "gen_ai.usage.total_tokens": 19,
            "symbi.llm.attempts": 1,
        }
    # each LLM request carried its call's context
    for request, call in zip(
        llm.requests, sorted(calls, key=lambda s: s.start_time or 0), strict=True
    ):
        assert call.context is not None
        assert _parse_traceparent(request.headers["traceparent"]) == (
            trace_id,
            call.context.span_id,
        )

    assert delivery.parent is not None and delivery.parent.span_id == root.context.span_id
    assert delivery.kind is SpanKind.CLIENT
    assert dict(delivery.attributes or {}) == {
        "symbi.delivery.channel": "webhook",
        "symbi.run.id": run.id,
        "symbi.delivery.outcome": "delivered",
        "symbi.delivery.attempts": 1,
    }
    (hook,) = web.requests
    assert delivery.context is not None
    assert _parse_traceparent(hook.headers["traceparent"]) == (trace_id, delivery.context.span_id)

    # nothing a run says, and no secret, is in a span
    shown = _values(found)
    for private in (INPUT, "db-7", "calm again", KEY, "hook-secret-55aa", web.url, llm.url):
        assert private not in shown


async def test_failed_and_timed_out_runs_are_error_spans_and_agents_get_traceparent(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    agents = [
        _command("says-trace", "import os; print(os.environ.get('TRACEPARENT', 'none'))"),
        _command("fails", "import sys; sys.exit('the backup disk is full')"),
        _command("hangs", "import time; time.sleep(30)"),
    ]
    engine, clock = await _engine(tmp_path, agents, _telemetry(spans))
    try:
        assert engine.service is not None
        await engine.service.add_job(
            {"name": "says-trace", "agent": "says-trace", "cron": "0 9 * * *"}
        )
        await engine.service.add_job(
            {"name": "fails", "agent": "fails", "cron": "0 9 * * *", "max_retries": 0}
        )
        await engine.service.add_job(
            {
                "name": "hangs",
                "agent": "hangs",
                "cron": "0 9 * * *",
                "max_retries": 0,
                "policy": {"max_runtime": "1s"},
            }
        )
        clock.set("2026-03-02T09:00:00Z")
        said = await finished_run(engine, "says-trace")
        failed = await finished_run(engine, "fails")
        timed_out = await finished_run(engine, "hangs")
    finally:
        await engine.stop()
    assert (said.status, failed.status, timed_out.status) == (
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.TIMED_OUT,
    )
    roots = {
        (s.attributes or {})["symbi.job.name"]: s
        for s in spans.get_finished_spans()
        if s.name == "cron.run"
    }
    ok, bad, late = roots["says-trace"], roots["fails"], roots["hangs"]
    assert ok.context is not None
    # the command agent's TRACEPARENT is its run's span
    assert _parse_traceparent(said.output.strip()) == (ok.context.trace_id, ok.context.span_id)
    assert ok.status.status_code is StatusCode.UNSET
    assert (bad.status.status_code, bad.status.description) == (StatusCode.ERROR, "failed")
    assert (bad.attributes or {})["symbi.run.status"] == "failed"
    assert (late.status.status_code, late.status.description) == (StatusCode.ERROR, "timed_out")
    assert (late.attributes or {})["symbi.run.status"] == "timed_out"
    # the error's text (the agent's stderr) is the run's, not the span's
    assert "backup disk" in (failed.error_message or "")
    assert "backup disk" not in _values(list(roots.values()))


async def test_with_telemetry_off_nothing_carries_a_traceparent(
    tmp_path: Path, llm: FakeLlmServer, web: ScriptedHTTPServer
) -> None:
    agents = [
        _analyst(llm),
        _command("says-trace", "import os; print(os.environ.get('TRACEPARENT', 'none'))"),
    ]
    engine, clock = await _engine(tmp_path, agents, None)  # [telemetry] unset: off
    try:
        assert engine.service is not None and engine.telemetry is NO_TELEMETRY
        await engine.service.add_job(
            {
                "name": "report",
                "agent": "analyst",
                "cron": "0 9 * * *",
                "delivery": ["webhook"],
                "webhook_url": f"{web.url}/hooks/report",
            }
        )
        await engine.service.add_job(
            {"name": "says-trace", "agent": "says-trace", "cron": "0 9 * * *"}
        )
        clock.set("2026-03-02T09:00:00Z")
        run = await finished_run(engine, "report")
        said = await finished_run(engine, "says-trace")
        for _ in range(500):
            if web.requests:
                break
            await asyncio.sleep(0.02)
    finally:
        await engine.stop()
    assert run.status is RunStatus.SUCCEEDED, run.error_message
    assert said.output.strip() == "none"
    assert "traceparent" not in llm.last.headers
    (hook,) = web.requests
    assert "traceparent" not in hook.headers


# --- [telemetry] in the config ------------------------------------------------------------------


def test_telemetry_config_loads_is_checked_by_key_and_hides_its_headers(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        """
[telemetry]
otlp_endpoint = "http://127.0.0.1:4318"
service_name = "symbi-prod"

[telemetry.headers]
Authorization = "Bearer collector-secret-9f8e7d"
"""
    )
    assert validate_config_file(path, env={}) == []  # the extra is installed here
    cfg = load_config(path, env={})
    assert cfg.telemetry == TelemetryConfig(
        otlp_endpoint="http://127.0.0.1:4318",
        service_name="symbi-prod",
        headers={"Authorization": "Bearer collector-secret-9f8e7d"},
    )
    shown = config_to_toml(cfg)
    assert "collector-secret-9f8e7d" not in shown
    assert 'otlp_endpoint = "http://127.0.0.1:4318"' in shown and "[telemetry.headers]" in shown
    assert traces_url("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/traces"
    assert traces_url("https://otel.example/v1/traces/") == "https://otel.example/v1/traces"

    for bad, key, words in (
        ('otlp_endpoint = "127.0.0.1:4318"', "telemetry.otlp_endpoint", "http:// or https://"),
        ('otlp_endpoint = "http://[::1:4318"', "telemetry.otlp_endpoint", "http:// or https://"),
        ('otlp_endpoint = "http://otel:99999"', "telemetry.otlp_endpoint", "http:// or https://"),
        (
            'otlp_endpoint = "http://user:pw@127.0.0.1:4318"',
            "telemetry.otlp_endpoint",
            "[telemetry.headers]",
        ),
        ('service_name = " "', "telemetry.service_name", "must not be empty"),
        ('headers = { "Bad Name" = "x" }', "telemetry.headers", "not an HTTP header name"),
        ("export_timeout_seconds = 0", "telemetry.export_timeout_seconds", ""),
    ):
        path.write_text(f"[telemetry]\n{bad}\n")
        with pytest.raises(ConfigError) as caught:
            load_config(path, env={})
        assert key in str(caught.value) and words in str(caught.value), str(caught.value)
        assert "user:pw" not in str(caught.value)  # credentials are not repeated


def test_no_endpoint_is_no_telemetry() -> None:
    assert open_telemetry(TelemetryConfig()) is NO_TELEMETRY
    made = open_telemetry(TelemetryConfig(otlp_endpoint="http://127.0.0.1:4318"))
    assert isinstance(made, OtelTelemetry) and made.enabled
    asyncio.run(made.shutdown())  # nothing buffered: nothing sent


async def test_denied_parked_and_approved_runs_each_end_their_span(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    agents = [_command("echo", "print('ok')")]
    engine, clock = await _engine(tmp_path, agents, _telemetry(spans))
    try:
        assert engine.service is not None
        await engine.service.add_job(
            {
                "name": "guarded",
                "agent": "echo",
                "cron": "0 9 * * *",
                "policy": {"require_capabilities": ["deployment"]},
            }
        )
        await engine.service.add_job(
            {
                "name": "approved",
                "agent": "echo",
                "cron": "0 9 * * *",
                "policy": {"require_approval": True, "approvers": ["alice"]},
            }
        )
        clock.set("2026-03-02T09:00:00Z")
        denied = await finished_run(engine, "guarded")
        parked = await finished_run(engine, "approved")
        assert (denied.status, parked.status) == (RunStatus.DENIED, RunStatus.AWAITING_APPROVAL)
        await engine.service.approve(parked.id, actor="alice")
        done = await finished_run(engine, "approved")
        assert done.status is RunStatus.SUCCEEDED, done.error_message
    finally:
        await engine.stop()
    ended = [
        ((s.attributes or {})["symbi.job.name"], (s.attributes or {})["symbi.run.status"])
        for s in spans.get_finished_spans()
        if s.name == "cron.run"
    ]
    assert sorted(ended) == [
        ("approved", "awaiting_approval"),
        ("approved", "succeeded"),
        ("guarded", "denied"),
    ]
    assert all(
        s.status.status_code is StatusCode.UNSET
        for s in spans.get_finished_spans()
        if s.name == "cron.run"
    )  # a denial or a wait is not an error


def test_only_the_telemetry_seam_imports_opentelemetry() -> None:
    """The extra stays optional: one module imports it, and only open_telemetry imports that."""
    import ast

    root = Path(__file__).resolve().parent.parent
    importers: dict[str, set[str]] = {}
    for path in [*root.glob("scheduler_core/**/*.py"), *root.glob("symbi_tui/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
                if node.level and node.module == "_otel":
                    names = ["scheduler_core.telemetry._otel"]
            for name in names:
                if name.startswith(("opentelemetry", "scheduler_core.telemetry._otel")):
                    importers.setdefault(name.split(".")[0], set()).add(str(path.relative_to(root)))
    assert importers == {
        "opentelemetry": {"scheduler_core/telemetry/_otel.py"},
        "scheduler_core": {"scheduler_core/telemetry/__init__.py"},
    }
