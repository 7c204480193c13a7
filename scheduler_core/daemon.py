"""The headless daemon (``symbi-tui --daemon``): scheduler, HTTP API and metrics on one loop.

It takes the store lease (or waits as a standby and takes over when the lease lapses), serves the
API with uvicorn inside the same event loop, and logs one structured line per event to stderr
and to a rotated file (logfmt, or JSON with ``[log] format = "json"``; every secret the daemon
knows is masked; :mod:`scheduler_core.logfile` writes and reads them). Signals are its own:
SIGHUP reloads the DSL files; SIGTERM and SIGINT stop firing, wait up to
``shutdown_timeout_seconds`` for in-flight runs, record the rest ``interrupted`` and return 0 (a
second signal interrupts them at once). An interrupted run is audited ``CronRunInterrupted``, is
not counted toward its job's ``max_retries`` (a shutdown never dead-letters a job) and is retried
per policy on the next start.

A store fault while it runs (a full disk, a locked or read-only file, a database out of reach) is
an episode, not an exit: the scheduler backs off, finished runs wait in memory, health says
``degraded`` and the API answers 503, until the store recovers. At start, though, a store that is
corrupt (``quick_check``), read-only, or locked past 10 s ends the daemon with one line that names
the file and what to do.

Exit status: 0 stopped by a signal, 1 the API server failed, 2 the configuration, the DSL files or
the listen address cannot be used, 3 the store cannot be used (corrupt, read-only, locked, out of
reach).
"""

from __future__ import annotations

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_STORE",
    "EXIT_USAGE",
    "EventLogger",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "run",
    "serve",
]

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import IO, Any

from .errors import DslError, SchedulerError, StoreUnavailable
from .events import (
    AuditRecorded,
    Dropped,
    Event,
    IterationRecorded,
    JobChanged,
    RunChanged,
    SchedulerState,
    Subscription,
)
from .jobspec import _mask_mapping
from .logfile import (
    LEVELS,
    JsonFormatter,
    PrivateRotatingFileHandler,
    TextFormatter,
    attach_file,
    formatter,
    mask_secrets,
)
from .model import AuditEventType, RunStatus
from .settings import SchedulerConfig

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_STORE = 0, 1, 2, 3

log = logging.getLogger("symbi.daemon")
_events_log = logging.getLogger("symbi.events")

_WARN_RUNS = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED})
_WARN_AUDIT = frozenset(
    {
        AuditEventType.CRON_JOB_FAILED,
        AuditEventType.CRON_JOB_DEAD_LETTERED,
        AuditEventType.AGENT_PIN_VERIFICATION_FAILED,
        AuditEventType.POLICY_DENIED,
    }
)
_ERROR_CHARS = 300


# --- log lines ------------------------------------------------------------------------------------


def configure_logging(
    log_format: str = "text", *, stream: IO[str] | None = None, level: int = logging.INFO
) -> logging.Handler:
    """Send every log record (the scheduler's, the API's, uvicorn's warnings) to ``stream``,
    known secrets masked (:func:`scheduler_core.logfile.mask_secrets`)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if isinstance(old, PrivateRotatingFileHandler):
            old.close()
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("uvicorn", "uvicorn.error", "uvicorn.access", "aiosqlite", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


def _log_to_file(config: SchedulerConfig, log_format: str) -> Path | None:
    """Also write the log to ``config.log_path()`` (``symbi logs`` reads it); None if it is off
    or cannot be opened (then stderr alone has the log, and a warning says why)."""
    if not config.log.file:
        return None
    path = config.log_path()
    try:
        attach_file(
            path,
            log_format=log_format,
            max_bytes=config.log.max_bytes,
            backup_count=config.log.backup_count,
        )
    except OSError as exc:
        log.warning(
            "cannot write the log file %s: %s; logging to stderr only",
            path,
            exc.strerror or exc,
            extra={"event": "log.file_failed", "fields": {"key": "log.path"}},
        )
        return None
    return path


def _known_secrets(config: SchedulerConfig) -> list[str | None]:
    """Values no log line may hold: API keys, delivery credentials, secret-named agent env,
    and what ``[secrets]`` lets a job's ``${VAR}`` send."""
    from .config._schema import _SECRET_NAME, SECRET_KEYS

    delivery = config.scheduler.delivery
    values: list[str | None] = [*config.api.api_keys]
    values.extend(spec.key for spec in config.api.keys.values())
    values.extend(config.telemetry.headers.values())  # the collector's auth
    for key in SECRET_KEYS:
        if key.startswith("scheduler.delivery."):
            values.append(getattr(delivery, key.rpartition(".")[2], None))
    for agent in config.agents.values():
        values.extend(v for k, v in agent.env.items() if _SECRET_NAME.search(k))
        if agent.api_key_env:
            values.append(os.environ.get(agent.api_key_env))
    from .secrets import SecretPolicy  # what a job's ${VAR} may send: masked like the rest

    values.extend(SecretPolicy.of(config.secrets).environment().values())
    return values


class EventLogger:
    """Turns bus events into log records: one line per event, secrets masked.

    Scheduler state is logged when it changes (a standby re-announces itself on every lease
    check); ``job.state`` changes, which follow every finished run, are logged at debug level.
    """

    def __init__(self, logger: logging.Logger = _events_log) -> None:
        self.logger = logger
        self._state: str | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunChanged):
            self._run(event)
        elif isinstance(event, AuditRecorded):
            self._audit(event)
        elif isinstance(event, JobChanged):
            level = logging.DEBUG if event.change == "state" else logging.INFO
            self._emit(level, f"job.{event.change}", f"job {event.change}", job_id=event.job_id)
        elif isinstance(event, IterationRecorded):
            it = event.iteration
            self._emit(
                logging.INFO,
                "iteration",
                f"heartbeat iteration {it.index}: {it.outcome}",
                run=it.run_id,
                index=it.index,
                outcome=it.outcome,
            )
        elif isinstance(event, SchedulerState):
            self._scheduler(event)
        elif isinstance(event, Dropped) and event.count:
            # count 0 is another process's write (every lease renewal a standby sees): nothing
            # this log missed
            self._emit(logging.WARNING, "log.dropped", "event log fell behind", count=event.count)

    def _emit(self, level: int, name: str, message: str, **fields: Any) -> None:
        self.logger.log(level, "%s", message, extra={"event": name, "fields": fields})

    def _run(self, event: RunChanged) -> None:
        run = event.run
        level = logging.WARNING if run.status in _WARN_RUNS else logging.INFO
        fields: dict[str, Any] = {
            "job": run.job_name,
            "run": run.id,
            "trigger": run.trigger.value,
            "attempt": run.attempt,
        }
        if run.execution_time_ms is not None:
            fields["duration_ms"] = run.execution_time_ms
        if run.error_message:
            fields["error"] = run.error_message[:_ERROR_CHARS]
        self._emit(level, f"run.{run.status.value}", f"run {run.status.value}", **fields)

    def _audit(self, event: AuditRecorded) -> None:
        audit = event.event
        details = dict(_mask_mapping(audit.details))
        name = details.pop("job_name", None)
        level = logging.WARNING if audit.type in _WARN_AUDIT else logging.INFO
        self._emit(
            level,
            f"audit.{audit.type.value}",
            audit.type.value,
            actor=audit.actor,
            job=name,
            job_id=audit.job_id,
            run=audit.run_id,
            details=details or None,
        )

    def _scheduler(self, event: SchedulerState) -> None:
        if event.state == self._state:
            return
        self._state = event.state
        if event.state == "leader":
            message = "holding the store lease: firing jobs"
        elif event.state == "standby":
            message = (
                "standby: another scheduler holds the store lease; "
                "this daemon takes over when it lapses"
            )
        else:
            message = f"scheduler {event.state}"
        self._emit(logging.INFO, f"scheduler.{event.state}", message, detail=event.detail or None)


async def _follow(subscription: Subscription, sink: EventLogger) -> None:
    while True:
        event = await subscription.get()
        try:
            sink(event)
        except Exception:  # a log line must never take the daemon down
            log.exception("cannot log event %r", event)


def _drain(subscription: Subscription, sink: EventLogger) -> None:
    while (event := subscription.get_nowait()) is not None:
        with contextlib.suppress(Exception):
            sink(event)


# --- the daemon -----------------------------------------------------------------------------------


class _Signals:
    """SIGTERM/SIGINT request a stop (a second one interrupts in-flight runs); SIGHUP a reload."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.reload = asyncio.Event()
        self.count = 0
        self.name: str | None = None
        self.urgent = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._installed: list[signal.Signals] = []

    def install(self) -> None:
        """Take the signals (only possible on the main thread; elsewhere the host stops us)."""
        handlers: list[tuple[signal.Signals, Any, tuple[Any, ...]]] = [
            (signal.SIGTERM, self._on_stop, (signal.SIGTERM,)),
            (signal.SIGINT, self._on_stop, (signal.SIGINT,)),
        ]
        if hasattr(signal, "SIGHUP"):
            handlers.append((signal.SIGHUP, self.reload.set, ()))
        for sig, handler, args in handlers:
            try:
                self._loop.add_signal_handler(sig, handler, *args)
            except (ValueError, RuntimeError, NotImplementedError):
                log.debug("cannot handle %s here", sig.name)
                continue
            self._installed.append(sig)

    def _on_stop(self, sig: signal.Signals) -> None:
        self.count += 1
        if self.count == 1:
            self.name = sig.name
            self.stop.set()
        else:
            self.urgent.set()

    def remove(self) -> None:
        for sig in self._installed:
            with contextlib.suppress(Exception):
                self._loop.remove_signal_handler(sig)
        self._installed.clear()


def _listen_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def serve(
    config: SchedulerConfig,
    *,
    store_url: str | None = None,
    stop: asyncio.Event | None = None,
    log_file: Path | None = None,
) -> int:
    """Run the daemon until SIGTERM/SIGINT (or ``stop`` is set); returns the exit status.

    ``log_file``: the file this daemon's log goes to, served by ``GET /api/v1/logs``."""
    from .api import ApiServer, bind_socket, create_app, resolve_api_keys
    from .engine import Engine
    from .metrics import Metrics
    from .runtime.agents import AgentExecutor
    from .store import open_store
    from .telemetry import open_telemetry

    api = config.api
    keys = None
    sock = None
    url: str | None = None
    try:
        if api.enabled:
            keys = resolve_api_keys(config)
            if keys.generated is not None:
                with contextlib.suppress(OSError):
                    mask_secrets([keys.generated.read_text(encoding="utf-8").strip()])
            try:
                sock = bind_socket(api.host, api.port)
            except OSError as exc:
                log.error(
                    "cannot listen on %s:%s: %s",
                    api.host,
                    api.port,
                    exc.strerror or exc,
                    extra={"event": "daemon.failed", "fields": {"key": "api.port"}},
                )
                return EXIT_USAGE
            host, port = sock.getsockname()[:2]
            url = _listen_url(str(host), int(port))
        # an endpoint without the otel extra is refused now, in one line naming the key
        telemetry = open_telemetry(config.telemetry)
        # corrupt, read-only, locked: said now, in one line, not at the first write
        store = await open_store(store_url or config.store_url(), preflight=True)
    except SchedulerError as exc:
        _log_error(exc)
        if sock is not None:
            sock.close()
        return EXIT_STORE if isinstance(exc, StoreUnavailable) else EXIT_USAGE

    engine = Engine(
        config,
        executor=AgentExecutor(dict(config.agents)),
        store=store,
        api_address=url,
        telemetry=telemetry,
    )
    sink = EventLogger()
    subscription = engine.bus.subscribe()
    follower = asyncio.create_task(_follow(subscription, sink), name="symbi-event-log")
    scan: asyncio.Task[None] | None = None
    signals = _Signals()
    signals.install()
    metrics: Metrics | None = None
    server: ApiServer | None = None
    status = EXIT_OK
    try:
        log.info(
            "starting",
            extra={
                "event": "daemon.starting",
                "fields": {"config": config.path, "store": store.url, "api": url},
            },
        )
        try:
            service = await engine.start()
        except SchedulerError as exc:
            _log_error(exc)
            status = EXIT_STORE if isinstance(exc, StoreUnavailable) else EXIT_FAILED
            return status
        # beside the start, not before it: reading every job of a large store takes seconds
        scan = asyncio.create_task(_warn_written_out(engine.store, config), name="symbi-scan")
        if config.dsl_paths:
            try:
                result = await service.load_dsl(list(config.dsl_paths), actor="dsl")
            except SchedulerError as exc:
                _log_error(exc)
                status = EXIT_STORE if isinstance(exc, StoreUnavailable) else EXIT_USAGE
                return status
            _log_load(result, config.dsl_paths, "dsl.loaded")
        if config.scheduler.enable_metrics:
            metrics = Metrics()
            metrics.start(engine.bus)
        if api.enabled and sock is not None and keys is not None:
            app = create_app(
                service,
                config=config,
                bus=engine.bus,
                metrics=metrics,
                keys=keys,
                log_file=log_file,
            )
            server = ApiServer(app, sock=sock)
            sock = None  # the server owns it now
            await server.start()
            key_source = (
                f"API key in {keys.generated} (mode 0600)"
                if keys.generated
                else f"{len(keys.entries)} configured API key(s): "
                + ", ".join(f"{p.name} ({p.role.value})" for _, p in keys.entries)
            )
            log.info(
                "API listening on %s; %s",
                url,
                key_source,
                extra={
                    "event": "api.listening",
                    "fields": {"url": url, "key_file": str(keys.generated or "") or None},
                },
            )
        status = await _wait(signals, stop, server, service, config)
    finally:
        if scan is not None:  # done before the store closes under it
            scan.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scan
        await _shutdown(engine, server, metrics, signals, config)
        if sock is not None:
            sock.close()
        _drain(subscription, sink)
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        subscription.close()
        signals.remove()
        log.info("stopped", extra={"event": "daemon.stopped", "fields": {"exit": status}})
    return status


async def _wait(
    signals: _Signals,
    stop: asyncio.Event | None,
    server: Any,
    service: Any,
    config: SchedulerConfig,
) -> int:
    waits: dict[str, asyncio.Future[Any]] = {
        "signal": asyncio.ensure_future(signals.stop.wait()),
        "reload": asyncio.ensure_future(signals.reload.wait()),
    }
    if stop is not None:
        waits["stop"] = asyncio.ensure_future(stop.wait())
    if server is not None and server.task is not None:
        waits["server"] = server.task
    try:
        while True:
            done, _ = await asyncio.wait(waits.values(), return_when=asyncio.FIRST_COMPLETED)
            if waits["reload"] in done:
                signals.reload.clear()
                await _reload(service, config)
                waits["reload"] = asyncio.ensure_future(signals.reload.wait())
                continue
            if "server" in waits and waits["server"] in done:
                exc = waits["server"].exception()
                log.error(
                    "the API server stopped: %s",
                    exc or "no reason given",
                    extra={"event": "api.failed"},
                )
                return EXIT_FAILED
            return EXIT_OK
    finally:
        for name, future in waits.items():
            if name != "server" and not future.done():
                future.cancel()


async def _reload(service: Any, config: SchedulerConfig) -> None:
    if not config.dsl_paths:
        log.info("SIGHUP: no dsl_paths configured", extra={"event": "dsl.reload"})
        return
    try:
        result = await service.load_dsl(list(config.dsl_paths), actor="dsl")
    except SchedulerError as exc:
        _log_error(exc, event="dsl.reload_failed", note="; the loaded schedules are unchanged")
        return
    _log_load(result, config.dsl_paths, "dsl.reloaded")


async def _shutdown(
    engine: Any, server: Any, metrics: Any, signals: _Signals, config: SchedulerConfig
) -> None:
    scheduler = engine.scheduler
    in_flight = scheduler.in_flight if scheduler is not None else 0
    log.info(
        "stopping (%s): no new runs; waiting up to %gs for %d in-flight run(s)",
        signals.name or "requested",
        config.scheduler.shutdown_timeout_seconds,
        in_flight,
        extra={"event": "daemon.stopping", "fields": {"in_flight": in_flight}},
    )
    if server is not None:
        server.app.state.stopping.set()  # event streams end now
    if scheduler is not None:
        stopping = asyncio.create_task(scheduler.stop())
        urgent = asyncio.ensure_future(signals.urgent.wait())
        await asyncio.wait({stopping, urgent}, return_when=asyncio.FIRST_COMPLETED)
        if not stopping.done():
            log.warning(
                "second signal: interrupting %d in-flight run(s) now",
                scheduler.in_flight,
                extra={"event": "daemon.interrupting"},
            )
            for run_id in scheduler.in_flight_runs():
                scheduler.cancel_run(run_id, RunStatus.INTERRUPTED)
        await stopping
        urgent.cancel()
    if server is not None:
        await server.stop()
    if metrics is not None:
        await metrics.stop()
    await engine.stop()


#: secrets written out reported one by one at start; the rest are counted in one line
WRITTEN_OUT_SHOWN = 20


async def _warn_written_out(store: Any, config: SchedulerConfig) -> None:
    """A warning per stored field holding a secret written out (an older version expanded
    ``${VAR}`` as DSL files loaded) or naming a variable ``[secrets]`` does not allow (made
    before the list existed), the first :data:`WRITTEN_OUT_SHOWN` of them, then one line
    counting the rest; nothing is rewritten, and a value is never shown."""
    from .secrets import SecretPolicy, scan_store

    try:
        found = await scan_store(store, SecretPolicy.of(config.secrets))
    except SchedulerError as exc:  # a store fault: the scheduler reports it as an episode
        log.debug("secrets scan skipped: %s", exc)
        return
    except Exception:  # a check must never take the daemon down
        log.exception("secrets scan failed", extra={"event": "secrets.scan_failed"})
        return
    for item in found[:WRITTEN_OUT_SHOWN]:
        log.warning(
            "%s",
            item,
            extra={
                "event": item.event,
                "fields": {"job": item.job, "field": item.field, "variable": item.variable},
            },
        )
    if len(found) > WRITTEN_OUT_SHOWN:
        more = len(found) - WRITTEN_OUT_SHOWN
        log.warning(
            "... and %d more stored field(s) holding a secret written out or naming one "
            "[secrets] does not allow (symbi config validate lists them all)",
            more,
            extra={"event": "secrets.written_out", "fields": {"more": more}},
        )


def _log_load(result: Any, paths: Any, event: str) -> None:
    log.info(
        "DSL loaded: %d created, %d updated, %d unchanged",
        len(result.created),
        len(result.updated),
        len(result.unchanged),
        extra={
            "event": event,
            "fields": {
                "paths": list(paths),
                "created": result.created or None,
                "updated": result.updated or None,
            },
        },
    )


def _log_error(exc: SchedulerError, *, event: str = "daemon.failed", note: str = "") -> None:
    if isinstance(exc, DslError) and exc.issues:
        for issue in exc.issues:
            log.error("%s%s", issue, note, extra={"event": event})
        return
    if isinstance(exc, StoreUnavailable):  # one line: what is wrong with which file, what to do
        fields = {"code": exc.code, "cause": exc.cause, "store": exc.store}
        log.error("%s; %s%s", exc, exc.hint, note, extra={"event": event, "fields": fields})
        return
    errors = getattr(exc, "errors", None)
    lines = [str(e) for e in errors] if isinstance(errors, list) and len(errors) > 1 else []
    for line in lines or [str(exc)]:
        log.error("%s%s", line, note, extra={"event": event, "fields": {"code": exc.code}})


def run(
    config: SchedulerConfig,
    *,
    store_url: str | None = None,
    log_format: str | None = None,
    stream: IO[str] | None = None,
) -> int:
    """``symbi-tui --daemon``: configure logging (to stderr, and to the log file), run
    :func:`serve` on a new loop. ``log_format``: None for ``[log] format``."""
    from .private import loose_files, private_umask

    private_umask()  # what the daemon creates is its owner's alone
    log_format = log_format or config.log.format
    mask_secrets(_known_secrets(config))
    configure_logging(log_format, stream=stream, level=LEVELS[config.log.level])
    for loose in loose_files(config, store_url):  # before the log file is opened (and fixed)
        log.warning(
            "%s",
            loose,
            extra={
                "event": "files.private",
                "fields": {"path": str(loose.path), "mode": f"{loose.mode:04o}", "fix": loose.fix},
            },
        )
    log_file = _log_to_file(config, log_format)
    for warning in config.warnings:
        log.warning("%s", warning, extra={"event": "config.warning"})
    try:
        return asyncio.run(serve(config, store_url=store_url, log_file=log_file))
    except KeyboardInterrupt:  # a SIGINT before the handlers were installed
        return 130
