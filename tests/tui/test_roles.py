"""The console attached with a key that may not act: its keys are dimmed and say which role
they need; an operator's key acts and the audit pane names it (its name, not its value).

A real uvicorn server on 127.0.0.1 serves the API of the test's engine, with named keys.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from scheduler_core.access import Role
from scheduler_core.api import ApiKeys, ApiServer, bind_socket, create_app
from scheduler_core.clock import FakeClock
from scheduler_core.engine import Engine
from scheduler_core.model import JobStatus
from scheduler_core.service import SchedulerService
from scheduler_core.settings import ApiKeySpec
from symbi_tui.app import SymbiApp
from symbi_tui.backend import LocalBackend
from symbi_tui.remote import RemoteBackend
from symbi_tui.screens.audit import AuditScreen, AuditTable
from tests.keys import OPERATOR_KEY, VIEWER_KEY

from .conftest import notified, table_rows, until
from .test_main_screen import SIZE, loaded, select


@pytest.fixture
async def server(engine: Engine, service: SchedulerService) -> AsyncIterator[ApiServer]:
    named = {
        "watcher": ApiKeySpec(key=VIEWER_KEY, role=Role.VIEWER),
        "ci": ApiKeySpec(key=OPERATOR_KEY, role=Role.OPERATOR),
    }
    app = create_app(service, config=service.config, bus=engine.bus, keys=ApiKeys.of(named=named))
    server = ApiServer(app, sock=bind_socket("127.0.0.1", 0))
    await server.start()
    yield server
    await server.stop()


async def test_a_viewer_key_s_actions_say_which_role_they_need(
    service: SchedulerService, clock: FakeClock, server: ApiServer
) -> None:
    async with RemoteBackend(server.url, api_key=VIEWER_KEY) as remote:
        app = SymbiApp(remote, clock=clock, refresh_interval=0.05)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(app)
            await select(app, "daily-report")
            await until(lambda: getattr(app.screen, "access", None) is not None)
            # dimmed before any request: the key says why (why_not), nothing is sent
            assert app.screen.check_action("toggle_pause", ()) is None
            await pilot.press("p")
            await until(lambda: notified(app, "the API key 'watcher' has the viewer role"))
            assert notified(app, "needs the operator or admin role")
            assert any(str(n.title).endswith("not now") for n in app._notifications)
            await pilot.press("d")
            await until(lambda: notified(app, "needs the admin role"))
            assert (await service.get_job("daily-report")).status is JobStatus.ACTIVE


async def test_an_operator_key_acts_and_the_audit_pane_names_it(
    service: SchedulerService, engine: Engine, clock: FakeClock, server: ApiServer
) -> None:
    async with RemoteBackend(server.url, api_key=OPERATOR_KEY) as remote:
        app = SymbiApp(remote, clock=clock, refresh_interval=0.05)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(app)
            await select(app, "daily-report")
            await until(lambda: getattr(app.screen, "access", None) is not None)
            await pilot.press("p")
            await until(lambda: notified(app, "daily-report paused"))
            await pilot.press("d")  # deleting a job is an admin's
            await until(lambda: notified(app, "the API key 'ci' has the operator role"))
            app.push_screen(AuditScreen(remote, clock=clock, refresh_interval=0.05))
            await until(lambda: isinstance(app.screen, AuditScreen) and app.screen.loaded)
            table = app.screen.query_one(AuditTable)
            rows = list(table_rows(table).values())
            paused = [r for r in rows if r[1] == "CronJobPaused"]
            assert [r[2] for r in paused] == ["ci"]
            assert all(OPERATOR_KEY not in " ".join(r) for r in rows)
    (event,) = await service.audit(type="CronJobPaused")
    assert event.actor == "ci"


async def test_the_embedded_console_is_the_local_operator(
    service: SchedulerService, engine: Engine, clock: FakeClock
) -> None:
    app = SymbiApp(LocalBackend(service, engine.bus), clock=clock, refresh_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await until(lambda: getattr(app.screen, "access", None) is not None)
        access = app.screen.access  # type: ignore[attr-defined]
        assert (access.name, access.role, access.local) == ("tui", Role.ADMIN, True)
        await select(app, "daily-report")
        await pilot.press("p")
        await until(lambda: notified(app, "daily-report paused"))
