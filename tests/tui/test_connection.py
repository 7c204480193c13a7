"""The console attached to a daemon over its API: the header never looks healthy while the
daemon is out of reach, keys say why they cannot act, a return is announced, and a refused API
key is a lasting banner that says how to give one (issue 20).

A real uvicorn server on 127.0.0.1 serves the API of the test's engine; stopping it is a daemon
that went away, starting it on the same port is the daemon back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from textual.widgets import Static

from scheduler_core.api import ApiKeys, ApiServer, bind_socket, create_app
from scheduler_core.clock import FakeClock
from scheduler_core.engine import Engine
from scheduler_core.model import JobStatus
from scheduler_core.service import SchedulerService
from symbi_tui.app import SymbiApp
from symbi_tui.remote import RemoteBackend

from .conftest import notified, until
from .test_main_screen import SIZE, loaded

KEY = "console-test-key-0123456789"


def _server(engine: Engine, service: SchedulerService, port: int = 0) -> ApiServer:
    app = create_app(
        service,
        config=service.config,
        bus=engine.bus,
        keys=ApiKeys.of([KEY]),
        heartbeat_seconds=0.2,
    )
    return ApiServer(app, sock=bind_socket("127.0.0.1", port))


@pytest.fixture
async def server(engine: Engine, service: SchedulerService) -> AsyncIterator[ApiServer]:
    server = _server(engine, service)
    await server.start()
    yield server
    await server.stop()


def header(app: SymbiApp) -> str:
    """The main screen's header as the terminal shows it (markup rendered, not raw)."""
    return str(app.screen.query_one("#health-summary", Static).render())


async def test_a_daemon_that_goes_away_is_never_shown_healthy(
    engine: Engine, service: SchedulerService, clock: FakeClock, server: ApiServer
) -> None:
    remote = RemoteBackend(server.url, api_key=KEY, retry_initial=0.05, retry_max=0.2)
    app = SymbiApp(remote, clock=clock, refresh_interval=0.05)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await loaded(app)
            await until(lambda: "healthy" in header(app))
            port = server.port
            await server.stop()
            # within 2 s: a symbol and a word, and when the next attempt is
            await until(lambda: "✖ disconnected" in header(app), seconds=2)
            assert "healthy" not in header(app)
            assert "retrying" in header(app)
            # a key says why it cannot act
            await pilot.press("p")
            await until(lambda: notified(app, "cannot reach the scheduler"))
            # the daemon is back: announced, and healthy again
            back = _server(engine, service, port)
            await back.start()
            try:
                await until(lambda: notified(app, "reconnected to"), seconds=5)
                await until(lambda: "● healthy" in header(app), seconds=5)
                await pilot.press("p")
                await until(lambda: notified(app, "daily-report paused"))
                assert (await service.get_job("daily-report")).status is JobStatus.PAUSED
            finally:
                await back.stop()
    finally:
        await remote.aclose()


async def test_a_refused_key_is_a_lasting_banner_saying_how_to_give_one(
    clock: FakeClock, server: ApiServer
) -> None:
    remote = RemoteBackend(server.url, api_key="wrong", retry_initial=0.05, retry_max=0.2)
    app = SymbiApp(remote, clock=clock, refresh_interval=0.05)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(lambda: "API key refused" in header(app), seconds=5)
            text = header(app)
            assert "connecting" not in text and "healthy" not in text
            # the brackets survive: "[api]" is text, not markup
            assert "--api-key, SYMBI_API_KEY or [api] api_keys" in text
            await until(lambda: notified(app, "or [api] api_keys"))
            await pilot.pause(0.3)  # several refreshes later it is still there
            assert "API key refused" in header(app)
    finally:
        await remote.aclose()
