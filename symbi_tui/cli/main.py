"""``symbi-tui``: the operations console, with the scheduler embedded in its event loop.

This module must not import Textual at import time: ``--daemon`` runs the scheduler headless from
this same entry point, on servers without a terminal (:mod:`scheduler_core.daemon`). The console
(and so Textual) is imported inside :func:`_run_console`, only once we know we are going to draw
on a terminal.
"""

from __future__ import annotations

__all__ = ["build_parser", "load_settings", "main"]

import argparse
import asyncio
import contextlib
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from scheduler_core import config as config_module
from scheduler_core.config import SchedulerConfig
from scheduler_core.demo import DEMO_EXTRA_JOBS, DEMO_JOBS, demo_executor
from scheduler_core.engine import Engine
from scheduler_core.errors import ConfigError, SchedulerError
from scheduler_core.runtime.agents import AgentExecutor
from scheduler_core.service import SchedulerService
from scheduler_core.store import open_store
from scheduler_core.textsafe import visible

#: a demo should quit promptly; in-flight demo runs are recorded as interrupted
_DEMO_SHUTDOWN_SECONDS = 2.0
#: demo jobs run once at start-up, so the history pane has something to show at once
_DEMO_WARM_UP = ("daily-report", "flaky-job", "queue-monitor", "prod-deploy")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symbi-tui",
        description="Cron for AI agents: an operations console with the scheduler embedded.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    store = parser.add_mutually_exclusive_group()
    store.add_argument(
        "--demo",
        action="store_true",
        help="start on a temporary store with demo jobs and agents (nothing is kept)",
    )
    store.add_argument(
        "--db",
        metavar="PATH",
        help="SQLite store to use (overrides the config file and SYMBI_DB)",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file")
    parser.add_argument(
        "--daemon",
        action="store_true",
        help="run headless: the scheduler, the HTTP API and /metrics, logging to stderr and "
        "<data dir>/daemon.log (SIGHUP reloads DSL files, SIGTERM stops gracefully)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=None,
        help="with --daemon: one logfmt (text) or JSON line per event (default: [log] format, "
        "text); also the format of the log file `symbi logs` reads",
    )
    parser.add_argument(
        "--connect",
        metavar="URL",
        help="the console over a remote daemon's API (e.g. http://10.0.0.5:8080)",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="API key for --connect (default: SYMBI_API_KEY, [api] api_keys, the local key file)",
    )
    parser.add_argument(
        "--readonly",
        action="store_true",
        help="look, do not touch: hide pause/resume, run and reset",
    )
    parser.add_argument(
        "--no-mouse",
        action="store_true",
        help="leave the mouse to the terminal, so text can be selected and copied",
    )
    return parser


def _version() -> str:
    # from the installed metadata, not symbi_tui.__version__: an editable install made before
    # symbi_tui/__init__.py existed resolves symbi_tui as a namespace package without it
    try:
        return version("symbi-tui")
    except PackageNotFoundError:
        return "unknown"


def load_settings(path: str | None) -> SchedulerConfig:
    """``--config``, else $SYMBI_CONFIG, else the user's config file, else the defaults; the
    ``SYMBI_*`` environment applies on top (all decided by ``scheduler_core.config.load_config``).
    """
    loader = getattr(config_module, "load_config", None)
    if loader is None:  # a scheduler_core without config files: defaults only
        if path is None:
            return SchedulerConfig()
        raise ConfigError(
            "this build cannot read configuration files "
            "(scheduler_core.config.load_config is missing)",
            path=path,
        )
    config: SchedulerConfig = loader(path)
    return config


def _report(error: SchedulerError) -> None:
    """Every problem an error stands for, one line each (a config file can have several)."""
    errors = getattr(error, "errors", None)
    lines = [str(e) for e in errors] if isinstance(errors, list) and len(errors) > 1 else []
    for line in lines or [str(error)]:
        print(visible(f"symbi-tui: {line}"), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the console (or, with ``--daemon``, the headless daemon); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.daemon and args.demo:
        parser.error("--demo is for the console; give --daemon a --config or --db")
    if args.connect and (args.daemon or args.demo):
        parser.error("--connect opens the console on a remote daemon: no --daemon or --demo")
    try:
        config = load_settings(args.config)
    except SchedulerError as exc:
        _report(exc)
        return 2
    if args.daemon:
        from scheduler_core.daemon import run as run_daemon  # no Textual on this path

        return run_daemon(config, store_url=args.db, log_format=args.log_format)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(
            "symbi-tui: the console needs a terminal (for SSH use `ssh -t`)",
            file=sys.stderr,
        )
        return 2
    try:
        if args.demo:
            with tempfile.TemporaryDirectory(prefix="symbi-demo-") as tmp:
                settings = replace(
                    config.scheduler,
                    shutdown_timeout_seconds=min(
                        config.scheduler.shutdown_timeout_seconds, _DEMO_SHUTDOWN_SECONDS
                    ),
                )
                return asyncio.run(
                    _run_console(
                        # everything the demo writes (logs, delivery files) stays in tmp
                        replace(config, scheduler=settings, data_dir=tmp),
                        store_url=str(Path(tmp) / "symbi.db"),
                        demo=True,
                        readonly=args.readonly,
                        mouse=not args.no_mouse,
                    )
                )
        if args.connect:
            return asyncio.run(
                _run_remote(
                    config,
                    url=args.connect,
                    api_key=args.api_key,
                    readonly=args.readonly,
                    mouse=not args.no_mouse,
                )
            )
        return asyncio.run(
            _run_console(
                config,
                store_url=args.db or config.store_url(),
                demo=False,
                readonly=args.readonly,
                mouse=not args.no_mouse,
            )
        )
    except SchedulerError as exc:
        _report(exc)
        return 1
    except KeyboardInterrupt:
        return 130


async def _run_console(
    config: SchedulerConfig, *, store_url: str, demo: bool, readonly: bool, mouse: bool
) -> int:
    """Start the engine and the console on one event loop; stop the engine when the app exits."""
    from scheduler_core.private import loose_files, private_umask

    from ..app import SymbiApp  # Textual is imported here, and only here
    from ..backend import LocalBackend

    private_umask()  # the store, its log and contexts are the operator's alone
    if not demo:
        for loose in loose_files(config, store_url):
            print(f"symbi-tui: warning: {loose}", file=sys.stderr)
    store = await open_store(store_url)
    if not demo:
        # never two schedulers on one store: a live daemon holding the lease is attached to
        from .connect import holder_is_live

        lease = await store.get_lease()
        if holder_is_live(lease) and lease is not None and lease.api_address:
            await store.close()
            return await _run_remote(
                config, url=lease.api_address, api_key=None, readonly=readonly, mouse=mouse
            )
    # the demo's own command agents with --demo; otherwise the agents the config and DSL define
    executor = demo_executor() if demo else AgentExecutor(dict(config.agents))
    # the stdout delivery channel must not write over the screen: it goes to a file instead
    stdout_path = Path(store_url).with_name("console-stdout.log") if demo else None
    if stdout_path is None:
        stdout_path = config.resolved_data_dir() / "console-stdout.log"
    stdout_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    stdout = stdout_path.open("a", encoding="utf-8")
    engine = Engine(config, executor=executor, store=store, stdout=stdout)
    app: SymbiApp | None = None
    try:
        service = await engine.start()
        if demo:
            await _seed_demo(service)
        if config.dsl_paths:
            await service.load_dsl(list(config.dsl_paths))
        app = SymbiApp(
            LocalBackend(service, engine.bus),
            clock=engine.clock,
            readonly=readonly,
            refresh_interval=config.tui.refresh_interval_seconds,
            keymap=config.tui.keymap,
            theme=config.tui.theme,
        )
        await app.run_async(mouse=mouse)
    finally:
        in_flight = engine.scheduler.in_flight if engine.scheduler else 0
        if in_flight:
            wait = config.scheduler.shutdown_timeout_seconds
            with contextlib.suppress(OSError):  # (the terminal may be gone: a hang-up)
                print(
                    f"symbi-tui: waiting up to {wait:g}s for {in_flight} in-flight run(s)",
                    file=sys.stderr,
                )
        await engine.stop()
        stdout.close()
    return (app.return_code if app is not None else None) or 0


async def _run_remote(
    config: SchedulerConfig, *, url: str, api_key: str | None, readonly: bool, mouse: bool
) -> int:
    """The console over a daemon's API: the same screens, a RemoteBackend under them."""
    from scheduler_core.api.auth import local_api_key
    from scheduler_core.clock import SystemClock

    from ..app import SymbiApp
    from ..remote import RemoteBackend

    backend = RemoteBackend(url, api_key=api_key or local_api_key(config))
    try:
        app = SymbiApp(
            backend,
            clock=SystemClock(),
            readonly=readonly,
            refresh_interval=config.tui.refresh_interval_seconds,
            keymap=config.tui.keymap,
            theme=config.tui.theme,
        )
        await app.run_async(mouse=mouse)
    finally:
        await backend.aclose()
    return app.return_code or 0


async def _seed_demo(service: SchedulerService) -> None:
    await service.add_jobs([*DEMO_JOBS, *DEMO_EXTRA_JOBS], actor="demo")
    for name in _DEMO_WARM_UP:
        await service.run_now(name, actor="demo")
