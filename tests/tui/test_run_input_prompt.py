"""The console's "run with input" prompt goes through the service's checks: an input no agent
could receive (a NUL pasted in) is refused with a message naming the field, and never queued."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Input

from scheduler_core.service import SchedulerService
from symbi_tui.app import SymbiApp
from symbi_tui.screens.prompt import PromptScreen

from .conftest import until
from .test_main_screen import SIZE, loaded, select


async def test_run_with_input_refuses_a_nul_and_queues_nothing(
    make_app: Callable[..., SymbiApp], service: SchedulerService
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(app)
        await select(app, "daily-report")
        await pilot.press("R")
        await until(lambda: isinstance(app.screen, PromptScreen))
        app.screen.query_one(Input).value = "pasted\x00binary"
        await pilot.press("enter")

        def refused() -> bool:
            return any(
                "input" in str(n.message) and "NUL" in str(n.message) for n in app._notifications
            )

        await until(refused)
        assert [n.severity for n in app._notifications] == ["error"]
        assert await service.history("daily-report", limit=5) == []
