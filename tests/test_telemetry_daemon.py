"""The daemon and OpenTelemetry: spans exported over OTLP/HTTP to a collector on 127.0.0.1, and
the daemon (and the engine) without the ``otel`` extra installed.

The extra's absence is made with an import blocker on ``sys.meta_path`` in the subprocess:
``opentelemetry.sdk`` and ``opentelemetry.exporter`` are what the extra adds (the API itself
comes with FastAPI, which the daemon's HTTP API needs); the engine alone runs with every
``opentelemetry`` module blocked.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PY = json.dumps(sys.executable)
COLLECTOR_TOKEN = "Bearer collector-secret-4c3b2a19"
EXTRA = ("opentelemetry.sdk", "opentelemetry.exporter")

#: runs ``symbi-tui`` (its argv after -c) with the named modules unimportable; each import
#: tried is written to stderr, so a test sees whether anything reached for them
BLOCKED_MAIN = """
import runpy, sys
BLOCKED = {blocked!r}
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            print("blocked import: " + name, file=sys.stderr, flush=True)
            raise ModuleNotFoundError("No module named " + repr(name), name=name)
        return None
sys.meta_path.insert(0, Blocker())
sys.argv = ["symbi-tui", *sys.argv[1:]]
runpy.run_module("symbi_tui", run_name="__main__", alter_sys=True)
"""


@dataclass
class Export:
    path: str
    headers: dict[str, str]
    request: ExportTraceServiceRequest


class Collector:
    """A tiny OTLP/HTTP trace receiver: POST /v1/traces, protobuf bodies, decoded."""

    def __init__(self) -> None:
        self.exports: list[Export] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                headers = {k.lower(): v for k, v in self.headers.items()}
                collector.exports.append(Export(self.path, headers, request))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) of every span received."""
        out: list[tuple[dict[str, Any], Any]] = []
        for export in self.exports:
            for resource_spans in export.request.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope in resource_spans.scope_spans:
                    out.extend((resource, s) for s in scope.spans)
        return out


def _attributes(values: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in values:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind else None
    return out


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    c._thread.start()
    try:
        yield c
    finally:
        c._server.shutdown()
        c._server.server_close()


def _config(tmp: Path, extra: str = "") -> Path:
    path = tmp / "config.toml"
    path.write_text(
        f"""
data_dir = {json.dumps(str(tmp / "data"))}
[scheduler]
shutdown_timeout_seconds = 0.5
idle_poll_seconds = 1
[store]
url = {json.dumps(str(tmp / "symbi.db"))}
[api]
host = "127.0.0.1"
port = 0
[agents.echo]
command = [{PY}, "-c", "import sys; print('echo:', sys.stdin.read())"]
{extra}
"""
    )
    return path


def _env(tmp: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SYMBI_", "OTEL_"))
    }  # the daemon's [telemetry] decides, not an OTEL_* variable of the test's
    env.update(XDG_CONFIG_HOME=str(tmp / "xdg"), XDG_DATA_HOME=str(tmp / "xdg"))
    return env


class Daemon:
    """``symbi-tui --daemon`` (with modules blocked, if any), its stderr collected."""

    def __init__(self, config: Path, blocked: tuple[str, ...] = ()) -> None:
        args = ["--daemon", "--config", str(config), "--log-format", "json"]
        command = (
            [sys.executable, "-c", BLOCKED_MAIN.format(blocked=blocked), *args]
            if blocked
            else [sys.executable, "-m", "symbi_tui", *args]
        )
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(config.parent),
            cwd=config.parent,
        )
        self.raw: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.raw.append(line)

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in list(self.raw):
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"event": "raw", "msg": line.rstrip("\n")})
        return out

    def event(self, name: str, timeout: float = 30) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((e for e in self.events() if e.get("event") == name), None)

        return _poll(found, timeout, lambda: "".join(self.raw))

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        self._reader.join(5)
        return code

    def wait(self) -> int:
        code = self.proc.wait(30)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _poll(fn: Callable[[], Any], timeout: float = 30, why: Callable[[], str] = str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting; {why()}")
        time.sleep(0.05)


def _run_once(daemon: Daemon, tmp: Path) -> dict[str, Any]:
    """Make a job over the API, run it now, and return its finished run."""
    url = str(daemon.event("api.listening")["url"])
    key = (tmp / "data" / "api-key").read_text().strip()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as c:
        created = c.post(
            "/api/v1/schedule",
            json={"name": "nightly", "agent_id": "echo", "cron_expr": "0 0 1 1 *"},
        )
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        assert c.post(f"/api/v1/schedule/{job_id}/run", json={"input": "hi"}).status_code == 202

        def finished() -> dict[str, Any] | None:
            runs = c.get(f"/api/v1/schedule/{job_id}/history").json()
            return runs[0] if runs and runs[0]["status"] == "succeeded" else None

        return dict(_poll(finished))


@pytest.mark.slow
def test_the_daemon_exports_its_run_spans_over_otlp_http(
    tmp_path: Path, collector: Collector
) -> None:
    config = _config(
        tmp_path,
        f"""
[telemetry]
otlp_endpoint = "{collector.url}"
service_name = "symbi-daemon-test"
[telemetry.headers]
Authorization = "{COLLECTOR_TOKEN}"
""",
    )
    daemon = Daemon(config)
    try:
        run = _run_once(daemon, tmp_path)
        assert daemon.stop() == 0  # a graceful stop exports what is still buffered
    finally:
        daemon.kill()
    assert collector.exports, "".join(daemon.raw)
    assert {e.path for e in collector.exports} == {"/v1/traces"}
    assert all(e.headers["authorization"] == COLLECTOR_TOKEN for e in collector.exports)
    assert all(e.headers["content-type"] == "application/x-protobuf" for e in collector.exports)
    runs = [(r, s) for r, s in collector.spans() if s.name == "cron.run"]
    assert len(runs) == 1
    resource, span = runs[0]
    assert resource["service.name"] == "symbi-daemon-test"
    attributes = _attributes(span.attributes)
    assert attributes["symbi.run.id"] == run["id"]
    assert attributes["symbi.job.name"] == "nightly"
    assert attributes["symbi.run.trigger"] == "manual"
    assert attributes["symbi.run.status"] == "succeeded"
    assert len(span.trace_id) == 16 and span.parent_span_id == b""
    assert COLLECTOR_TOKEN.split()[1] not in "".join(daemon.raw)  # the collector's auth: not logged


def test_without_the_extra_an_endpoint_stops_the_daemon_with_one_line(tmp_path: Path) -> None:
    config = _config(tmp_path, '[telemetry]\notlp_endpoint = "http://127.0.0.1:4318"\n')
    daemon = Daemon(config, blocked=EXTRA)
    try:
        assert daemon.wait() == 2
    finally:
        daemon.kill()
    failures = [e for e in daemon.events() if e.get("event") == "daemon.failed"]
    assert len(failures) == 1, daemon.raw
    message = failures[0]["msg"]
    assert message.startswith("telemetry.otlp_endpoint: is set, but OpenTelemetry is not installed")
    assert "pip install 'symbi-tui[otel]'" in message and "\n" not in message
    assert not (tmp_path / "symbi.db").exists()  # refused before anything was opened


def test_without_the_extra_and_no_endpoint_the_daemon_runs_and_never_reaches_for_it(
    tmp_path: Path,
) -> None:
    daemon = Daemon(_config(tmp_path), blocked=EXTRA)
    try:
        run = _run_once(daemon, tmp_path)
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert run["output"].strip() == "echo: hi"
    assert not [line for line in daemon.raw if line.startswith("blocked import")], daemon.raw


ENGINE_ALONE = """
import asyncio, sys
BLOCKED = ("opentelemetry",)
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ModuleNotFoundError("No module named " + repr(name), name=name)
        return None
sys.meta_path.insert(0, Blocker())

from scheduler_core.engine import Engine
from scheduler_core.errors import ConfigError
from scheduler_core.model import AgentDefinition, RunnerKind
from scheduler_core.runtime.agents import AgentExecutor
from scheduler_core.settings import SchedulerConfig, StoreConfig, TelemetryConfig
from scheduler_core.telemetry import open_telemetry
from scheduler_core.config import validate_config_file
from pathlib import Path

async def main():
    agent = AgentDefinition(
        name="echo", runner=RunnerKind.COMMAND,
        command=(sys.executable, "-c", "import os; print(os.environ.get('TRACEPARENT', 'none'))"),
    )
    config = SchedulerConfig(store=StoreConfig(url=sys.argv[1]))
    async with Engine(config, executor=AgentExecutor({"echo": agent})) as service:
        await service.add_job({"name": "j", "agent": "echo", "cron": "0 0 1 1 *"})
        run = await service.run_now("j")
        for _ in range(500):
            (run,) = await service.history("j")
            if run.status.value not in ("queued", "running"):
                break
            await asyncio.sleep(0.02)
        print("run", run.status.value, run.output.strip())
    try:
        open_telemetry(TelemetryConfig(otlp_endpoint="http://127.0.0.1:4318"))
    except ConfigError as exc:
        print("refused", exc.key)
    path = Path(sys.argv[1]).with_name("config.toml")
    path.write_text('[telemetry]\\notlp_endpoint = "http://127.0.0.1:4318"\\n')
    print("validate", [(e.key, "symbi-tui[otel]" in str(e)) for e in validate_config_file(path)])
    print("loaded", sorted(m for m in sys.modules if m.startswith("opentelemetry")))

asyncio.run(main())
"""


def test_the_engine_runs_with_no_opentelemetry_module_at_all(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", ENGINE_ALONE, str(tmp_path / "s.db")],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(tmp_path),
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "run succeeded none",
        "refused telemetry.otlp_endpoint",
        "validate [('telemetry.otlp_endpoint', True)]",
        "loaded []",
    ]


@pytest.mark.slow
def test_a_collector_out_of_reach_fails_no_run_and_holds_the_stop_only_its_timeout(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = _config(
        tmp_path,
        f'[telemetry]\notlp_endpoint = "http://127.0.0.1:{port}"\nexport_timeout_seconds = 2\n',
    )
    daemon = Daemon(config)
    try:
        run = _run_once(daemon, tmp_path)
        began = time.monotonic()
        assert daemon.stop() == 0
        stopping = time.monotonic() - began
    finally:
        daemon.kill()
    assert run["status"] == "succeeded"
    assert stopping < 2 + 5, stopping  # the export's timeout, and the rest of a graceful stop
    failed = [
        e
        for e in daemon.events()
        if e.get("logger", "").startswith("opentelemetry.exporter") and e.get("level") == "error"
    ]
    assert failed, "".join(daemon.raw)  # the operator is told the spans were not exported
