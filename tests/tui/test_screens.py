"""The secondary screens driven by keys through Pilot, against the operations scene's store.

Each test builds the scene (a real engine on a SQLite file and a fake clock), shows one screen in
a host app with the console's styles, presses keys, and checks what changed in the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Input, Static

from scheduler_core.model import (
    AuditEventType,
    JobDefinition,
    JobStatus,
    RunStatus,
    RunTrigger,
)
from symbi_tui.screens.approvals import ApprovalsScreen
from symbi_tui.screens.audit import AuditScreen, AuditTable
from symbi_tui.screens.choice import ChoiceScreen
from symbi_tui.screens.confirm import ConfirmScreen
from symbi_tui.screens.dead_letter import DeadLetterScreen, DeadLetterTable
from symbi_tui.screens.heartbeat import HeartbeatScreen, IterationsTable
from symbi_tui.screens.job_form import JobFormScreen, build_mapping, form_key
from symbi_tui.screens.prompt import PromptScreen
from symbi_tui.screens.run_detail import RunDetailScreen
from symbi_tui.screens.run_history import RunHistoryScreen
from symbi_tui.screens.timeline import TimelineScreen, job_fires
from symbi_tui.screens.watch import WatchScreen
from symbi_tui.widgets.run_history import RunHistory
from symbi_tui.widgets.timeline import Timeline, column_counts

from .conftest import column_cells, table_rows, until
from .scenes import OpsScene, ScreenApp, build_ops_scene

SIZE = (120, 36)


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[OpsScene]:
    built = await build_ops_scene(tmp_path / "ops.db")
    yield built
    await built.close()


def host(screen: Callable[[], Screen[Any]]) -> ScreenApp:
    return ScreenApp(screen)


async def shown(app: ScreenApp, kind: type[Screen[Any]]) -> Any:
    """The screen once it shows ``kind`` and (for console screens) has loaded its data."""
    await until(
        lambda: isinstance(app.screen, kind) and getattr(app.screen, "loaded", True),
    )
    return app.screen


def text_of(screen: Screen[Any], selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def answer(app: ScreenApp, pilot: Pilot[None], text: str) -> None:
    """Fill the prompt's input (typing key by key is slow under Pilot) and press Enter."""
    prompt = app.screen.query_one("#prompt-input", Input)
    prompt.value = text
    await pilot.press("end", "enter")


async def fill(pilot: Pilot[None], field: Input, text: str) -> None:
    """Focus a form field and give it ``text``, as an operator who typed it would."""
    field.focus()
    await pilot.pause()
    field.value = text
    await pilot.pause()


def notified(app: ScreenApp, words: str) -> bool:
    return any(words in str(n.message) for n in app._notifications)


# --- approvals ------------------------------------------------------------------------------------


async def test_a_approves_with_a_reason_and_x_denies(scene: OpsScene) -> None:
    service = scene.service
    app = host(lambda: ApprovalsScreen(scene.backend, clock=scene.clock, refresh_interval=0.05))
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(app, ApprovalsScreen)
        rows = table_rows(screen.query_one("#approvals"))
        assert [cells[0] for cells in rows.values()] == ["production-deploy", "db-migration"]
        assert [cells[5] for cells in rows.values()] == ["alice, ops-lead", "dba"]
        deploy, migration = list(rows)

        await pilot.press("a")
        await until(lambda: isinstance(app.screen, PromptScreen))
        await answer(app, pilot, "change 4711 signed off")

        async def approved() -> bool:
            return (await service.get_run(deploy)).status is not RunStatus.AWAITING_APPROVAL

        await until(approved)
        run = await service.get_run(deploy)
        assert run.details["approval"]["decision"] == "approved"
        assert run.details["approval"]["reason"] == "change 4711 signed off"
        assert run.details["approval"]["decided_by"] == "tui"
        await until(lambda: list(table_rows(screen.query_one("#approvals"))) == [migration])
        assert notified(app, "production-deploy approved")

        await pilot.press("x")
        await until(lambda: isinstance(app.screen, PromptScreen))
        await answer(app, pilot, "not during the freeze")

        async def denied() -> bool:
            return (await service.get_run(migration)).status is RunStatus.DENIED

        await until(denied)
        run = await service.get_run(migration)
        assert run.error_message == "denied by tui: not during the freeze"
        await until(lambda: not table_rows(screen.query_one("#approvals")))
        events = await service.audit(type="CronRunDenied")
        assert [e.details.get("reason") for e in events] == ["not during the freeze"]


async def test_escape_in_the_reason_dialog_decides_nothing(scene: OpsScene) -> None:
    app = host(lambda: ApprovalsScreen(scene.backend, clock=scene.clock, refresh_interval=0.05))
    async with app.run_test(size=SIZE) as pilot:
        await shown(app, ApprovalsScreen)
        await pilot.press("x")
        await until(lambda: isinstance(app.screen, PromptScreen))
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, ApprovalsScreen))
        await until(lambda: notified(app, "still awaiting approval"))
        assert len(await scene.service.pending_approvals()) == 2


async def test_readonly_hides_approve_and_deny(scene: OpsScene) -> None:
    app = host(lambda: ApprovalsScreen(scene.backend, clock=scene.clock, readonly=True))
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(app, ApprovalsScreen)
        assert {"a", "x"}.isdisjoint(screen.active_bindings)
        await pilot.press("a", "x")
        await pilot.pause()
        assert isinstance(app.screen, ApprovalsScreen)
        assert len(await scene.service.pending_approvals()) == 2


# --- dead letter ----------------------------------------------------------------------------------


async def test_ctrl_r_resets_from_the_dead_letter_queue_after_confirming(
    scene: OpsScene,
) -> None:
    service = scene.service
    app = host(lambda: DeadLetterScreen(scene.backend, clock=scene.clock, refresh_interval=0.05))
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(app, DeadLetterScreen)
        table = screen.query_one(DeadLetterTable)
        rows = list(column_cells(table).values())
        assert [(r["name"], r["fails"]) for r in rows] == [("flaky-job", "3")]
        assert rows[0]["error"] == "upstream returned 503"
        await until(lambda: screen.query_one(RunHistory).row_count == 3)

        await pilot.press("ctrl+r")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        assert app.focused is not None and app.focused.id == "cancel"
        await pilot.press("enter")  # Cancel
        await until(lambda: isinstance(app.screen, DeadLetterScreen))
        assert (await service.get_job("flaky-job")).status is JobStatus.DEAD_LETTER

        await pilot.press("ctrl+r")
        await until(lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("tab", "enter")

        async def reset() -> bool:
            return (await service.get_job("flaky-job")).status is JobStatus.ACTIVE

        await until(reset)
        job = await service.get_job("flaky-job")
        assert job.failure_count == 0
        await until(lambda: table.row_count == 0)
        await until(lambda: notified(app, "flaky-job is active again"))
        assert "empty" in str(table.border_title)


async def test_the_dead_letter_queue_shows_a_job_changed_while_it_is_open(
    scene: OpsScene,
) -> None:
    """Each job's cells are kept between fetches (every change to any job fetches the queue
    again): a job changed is drawn again, with what it is now."""
    app = host(lambda: DeadLetterScreen(scene.backend, clock=scene.clock, refresh_interval=0.05))
    async with app.run_test(size=SIZE):
        screen = await shown(app, DeadLetterScreen)
        table = screen.query_one(DeadLetterTable)
        assert [r["name"] for r in column_cells(table).values()] == ["flaky-job"]
        await scene.service.update_job("flaky-job", {"name": "flaky-renamed"})
        await until(lambda: [r["name"] for r in column_cells(table).values()] == ["flaky-renamed"])


async def test_readonly_hides_reset_in_the_dead_letter_queue(scene: OpsScene) -> None:
    app = host(lambda: DeadLetterScreen(scene.backend, clock=scene.clock, readonly=True))
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(app, DeadLetterScreen)
        assert "ctrl+r" not in screen.active_bindings
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert (await scene.service.get_job("flaky-job")).status is JobStatus.DEAD_LETTER


# --- job form -------------------------------------------------------------------------------------


async def test_add_job_shows_the_cron_error_then_creates_the_job(scene: OpsScene) -> None:
    service = scene.service
    results: list[JobDefinition | None] = []

    app = host(lambda: Screen())
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(JobFormScreen(scene.backend, clock=scene.clock), results.append)
        screen = await shown(app, JobFormScreen)
        await pilot.press(*"etl", "tab")  # typed: the name
        await fill(pilot, screen.query_one("#field-name", Input), "nightly-etl")
        await fill(pilot, screen.query_one("#field-agent", Input), "etl-agent")
        await fill(pilot, screen.query_one("#field-cron", Input), "61 2 * * ")
        await pilot.press("asterisk")  # the last key typed: the form checks as you type
        await until(lambda: "minute" in text_of(screen, "#error-cron"))
        error = text_of(screen, "#error-cron")
        assert "61" in error
        assert "minute" in text_of(screen, "#form-preview")

        await pilot.press("ctrl+s")
        await until(lambda: notified(app, "problem"))
        assert isinstance(app.screen, JobFormScreen)
        with pytest.raises(Exception, match="nightly-etl"):
            await service.get_job("nightly-etl")

        await fill(pilot, screen.query_one("#field-cron", Input), "30 2 * * *")
        await until(lambda: "Next 5 runs" in text_of(screen, "#form-preview"))
        preview = text_of(screen, "#form-preview")
        assert "At 02:30 every day" in preview
        assert "Tue 2026-03-03 02:30 UTC" in preview
        assert text_of(screen, "#error-cron") == ""

        screen.query_one("#field-max_retries", Input).value = "2"
        screen.query_one("#field-delivery", Input).value = "stdout, log_file"
        await pilot.press("ctrl+s")
        await until(lambda: results)
        job = await service.get_job("nightly-etl")
        assert (job.agent, job.cron, job.max_retries) == ("etl-agent", "30 2 * * *", 2)
        assert job.delivery == ("stdout", "log_file")
        assert results[0] is not None and results[0].id == job.id
        assert notified(app, "nightly-etl created")


async def test_form_errors_name_each_field_and_conflicts_come_back_inline(
    scene: OpsScene,
) -> None:
    app = host(lambda: JobFormScreen(scene.backend, clock=scene.clock))
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(app, JobFormScreen)
        values = {
            "name": "backup",  # taken
            "agent": "backup-agent",
            "cron": "0 3 * * *",
            "timezone": "Mars/Olympus",
            "max_concurrent": "many",
            "max_runtime": "soon",
        }
        for key, value in values.items():
            screen.query_one(f"#field-{key}", Input).value = value
        await pilot.press("ctrl+s")
        await until(lambda: "Olympus" in text_of(screen, "#error-timezone"))
        assert "whole number" in text_of(screen, "#error-max_concurrent")
        assert "duration" in text_of(screen, "#error-max_runtime")

        for key, value in {"timezone": "Europe/London", "max_concurrent": "2"}.items():
            screen.query_one(f"#field-{key}", Input).value = value
        screen.query_one("#field-max_runtime", Input).value = "30m"
        await pilot.press("ctrl+s")
        await until(lambda: "already exists" in text_of(screen, "#error-name"))
        assert isinstance(app.screen, JobFormScreen)


async def test_readonly_form_cannot_save(scene: OpsScene) -> None:
    app = host(lambda: JobFormScreen(scene.backend, clock=scene.clock, readonly=True))
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(app, JobFormScreen)
        for key, value in {"name": "x-job", "agent": "a", "cron": "0 1 * * *"}.items():
            screen.query_one(f"#field-{key}", Input).value = value
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "ctrl+s" not in screen.active_bindings
        assert (await scene.service.list_jobs(text="x-job")).total == 0


def test_build_mapping_sends_what_was_filled_in_or_everything_on_edit() -> None:
    values: dict[str, str | bool] = {
        "name": "a",
        "agent": "b",
        "cron": "0 1 * * *",
        "require_approval": True,
        "approvers": "alice, bob",
        "max_runtime": "30m",
    }
    assert build_mapping(values, None) == {
        "name": "a",
        "agent": "b",
        "cron": "0 1 * * *",
        "policy": {"require_approval": True, "approvers": ["alice", "bob"], "max_runtime": "30m"},
    }
    base = JobDefinition(name="a", agent="b", cron="0 1 * * *", webhook_url="https://x")
    edit = build_mapping({"name": "a", "agent": "b", "cron": "0 2 * * *"}, base)
    assert edit["cron"] == "0 2 * * *" and "at" not in edit
    assert edit["webhook_url"] is None and edit["delivery"] == [] and edit["max_retries"] is None
    assert edit["policy"] == {"require_approval": False}


def test_error_fields_map_to_form_fields() -> None:
    assert form_key("policy.approvers[1]") == "approvers"
    assert form_key("policy.max_runtime") == "max_runtime"
    assert form_key("cron_expr") == "cron"
    assert form_key("delivery[0]") == "delivery"
    assert form_key("heartbeat.max_iterations") is None
    assert form_key(None) is None


async def test_edit_form_updates_the_job(scene: OpsScene) -> None:
    # the form saves through it: a renamed method must fail here, not skip the test
    assert callable(getattr(scene.backend, "update_job", None)), type(scene.backend)
    results: list[JobDefinition | None] = []
    app = host(lambda: Screen())
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(
            JobFormScreen(scene.backend, clock=scene.clock, job="metrics-report"), results.append
        )
        screen = await shown(app, JobFormScreen)
        cron = screen.query_one("#field-cron", Input)
        await until(lambda: cron.value == "*/5 * * * *")
        assert screen.query_one("#field-timezone", Input).value == "Europe/London"
        assert screen.query_one("#field-delivery", Input).value == "stdout, email"
        cron.value = "*/10 * * * *"
        await pilot.press("ctrl+s")
        await until(lambda: results)
        job = await scene.service.get_job("metrics-report")
        assert job.cron == "*/10 * * * *"
        assert job.agent_pin_jwt == "eyJhbGciOiJFUzI1NiJ9.secret-token"  # not on the form: kept
        assert job.email_recipients == ("ops@example.com",)


# --- watch ----------------------------------------------------------------------------------------


async def test_watch_shows_the_job_live_and_its_keys_act_on_it(scene: OpsScene) -> None:
    service = scene.service
    app = host(
        lambda: WatchScreen(
            scene.backend, clock=scene.clock, job="system-monitor", refresh_interval=0.05
        )
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(app, WatchScreen)
        definition = text_of(screen, "#watch-definition")
        assert "*/5 * * * *  Every 5 minutes" in definition
        assert "heartbeat-agent" in definition and "up to 6 iterations" in definition
        runs = text_of(screen, "#watch-run-text")
        assert "▶ running · manual" in runs and "elapsed 20s" in runs
        assert "iteration 2 / 6" in runs
        assert "2026-03-02 09:00:00 UTC" in text_of(screen, "#watch-next")

        scene.clock.advance(5)  # the elapsed time follows the clock
        await until(lambda: "elapsed 25s" in text_of(screen, "#watch-run-text"))

        await pilot.press("p")

        async def paused() -> bool:
            return (await service.get_job("system-monitor")).status is JobStatus.PAUSED

        await until(paused)
        await until(lambda: "not scheduled while paused" in text_of(screen, "#watch-next"))
        await pilot.press("p")
        await until(lambda: notified(app, "system-monitor resumed"))

        scene.hold.set()  # the held run ends: its output shows
        await until(lambda: "In flight · none" in str(screen.query_one("#watch-run").border_title))
        assert "all nominal after the restart" in text_of(screen, "#watch-run-text")
        assert "Durations of the last 2 runs" in str(
            screen.query_one("#watch-durations").border_title
        )


async def test_watch_masks_secrets_and_runs_with_input(scene: OpsScene) -> None:
    app = host(lambda: WatchScreen(scene.backend, clock=scene.clock, job="metrics-report"))
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(app, WatchScreen)
        policy = text_of(screen, "#watch-policy")
        assert "AgentPin JWT ****" in policy
        assert "secret" not in policy
        assert "stdout, email" in policy
        assert "(09:00 GMT)" in text_of(screen, "#watch-next")

        await pilot.press("R")
        await until(lambda: isinstance(app.screen, PromptScreen))
        await answer(app, pilot, "only the EU region")

        async def manual() -> list[Any]:
            runs = await scene.service.history("metrics-report", limit=5)
            return [r for r in runs if r.trigger is RunTrigger.MANUAL]

        await until(manual)
        assert (await manual())[0].input == "only the EU region"


async def test_watch_readonly_hides_mutating_keys(scene: OpsScene) -> None:
    app = host(
        lambda: WatchScreen(scene.backend, clock=scene.clock, job="flaky-job", readonly=True)
    )
    async with app.run_test(size=SIZE):
        screen = await shown(app, WatchScreen)
        keys = set(screen.active_bindings)
        assert {"p", "r", "R", "ctrl+r", "e"}.isdisjoint(keys)
        assert {"h", "escape"} <= keys


# --- heartbeat ------------------------------------------------------------------------------------


async def test_heartbeat_iterations_appear_as_they_happen(scene: OpsScene) -> None:
    app = host(
        lambda: HeartbeatScreen(
            scene.backend, clock=scene.clock, job="system-monitor", refresh_interval=0.05
        )
    )
    async with app.run_test(size=SIZE):
        screen = await shown(app, HeartbeatScreen)
        table = screen.query_one(IterationsTable)
        await until(lambda: table.row_count == 2)
        rows = list(table_rows(table).values())
        assert rows[0][3] == "→ continue" and rows[1][3] == "▶ running"
        assert "iteration [b]2 / 6[/b]" in str(screen.query_one("#hb-summary").border_title)

        scene.hold.set()
        await until(lambda: table.row_count == 3)
        await until(lambda: "succeeded" in text_of(screen, "#hb-summary"))
        rows = list(table_rows(table).values())
        assert [r[3] for r in rows] == ["→ continue", "→ continue", "☾ sleep"]
        assert rows[2][4].startswith("cpu 31%")
        assert "iteration [b]3 / 6[/b]" in str(screen.query_one("#hb-summary").border_title)
        assert "stopped: sleep" in text_of(screen, "#hb-summary")


async def test_heartbeat_of_a_given_run_and_its_iteration_detail(scene: OpsScene) -> None:
    runs = await scene.service.history("system-monitor", limit=5)
    first = next(r for r in runs if r.trigger is RunTrigger.SCHEDULE)
    app = host(lambda: HeartbeatScreen(scene.backend, clock=scene.clock, run_id=first.id))
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(app, HeartbeatScreen)
        await until(lambda: screen.query_one(IterationsTable).row_count == 3)
        await pilot.press("down", "down")
        await until(lambda: "Iteration 3" in str(screen.query_one("#hb-detail").border_title))
        assert "all nominal after the restart" in text_of(screen, "#hb-detail-text")


async def test_history_marks_a_heartbeat_run_with_its_iteration_count(scene: OpsScene) -> None:
    app = host(lambda: RunHistoryScreen(scene.backend, clock=scene.clock, job="system-monitor"))
    async with app.run_test(size=SIZE):
        screen = await shown(app, RunHistoryScreen)
        table = screen.query_one(RunHistory)
        await until(lambda: table.row_count == 2)
        cells = column_cells(table)
        finished = next(r for r in screen.runs if r.trigger is RunTrigger.SCHEDULE)
        assert cells[finished.id]["output"].startswith("♥ 3 it. · "), cells[finished.id]
        # the run in flight has made no count yet: nothing is claimed for it
        held = next(r for r in screen.runs if r.id != finished.id)
        assert "♥" not in cells[held.id]["output"]


# --- history and run detail -----------------------------------------------------------------------


async def test_history_pages_filters_and_opens_a_run(scene: OpsScene) -> None:
    app = host(
        lambda: RunHistoryScreen(scene.backend, clock=scene.clock, job="flaky-job", page_size=2)
    )
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(app, RunHistoryScreen)
        table = screen.query_one(RunHistory)
        await until(lambda: table.row_count == 2)
        first_page = table.row_keys()
        await pilot.press("right_square_bracket")
        await until(lambda: screen.page == 2 and table.row_count == 1)
        assert table.row_keys()[0] not in first_page
        assert [c["trigger"] for c in column_cells(table).values()] == ["schedule"]
        await pilot.press("left_square_bracket")
        await until(lambda: screen.page == 1 and table.row_keys() == first_page)

        await pilot.press("f")
        await until(lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("down", "down", "down", "enter")  # all, queued, running, succeeded
        await until(lambda: screen.status is RunStatus.SUCCEEDED and screen.loaded)
        await until(lambda: table.row_count == 0)
        assert "no runs" in str(table.border_title)

        screen.status = None
        screen.kick()
        await until(lambda: table.row_count == 2)
        table.focus()
        await pilot.press("enter")
        detail = await shown(app, RunDetailScreen)
        assert detail.run_id == first_page[0]
        await until(lambda: "upstream returned 503" in text_of(detail, "#run-error"))
        await pilot.press("escape")
        await until(lambda: app.screen is screen)


async def test_run_detail_shows_delivery_results_and_the_policy_decision(
    scene: OpsScene,
) -> None:
    runs = await scene.service.history("metrics-report", limit=1)
    app = host(lambda: RunDetailScreen(scene.backend, clock=scene.clock, run_id=runs[0].id))
    async with app.run_test(size=SIZE):
        screen = await shown(app, RunDetailScreen)
        delivery = text_of(screen, "#run-delivery")
        assert "✔ stdout 1 attempt" in delivery
        assert "✖ email 0 attempts" in delivery
        assert "smtp_host is not set" in delivery
        assert "Decision  allow" in text_of(screen, "#run-policy")
        assert "report for 2026-03-02 08:55: 42 rows" in text_of(screen, "#run-output-text")
        assert "(08:55 GMT)" in text_of(screen, "#run-what")


async def test_run_detail_of_a_parked_run_shows_its_approval(scene: OpsScene) -> None:
    pending = await scene.service.pending_approvals()
    run = next(r for r in pending if r.job_name == "production-deploy")
    app = host(lambda: RunDetailScreen(scene.backend, clock=scene.clock, run_id=run.id))
    async with app.run_test(size=SIZE):
        screen = await shown(app, RunDetailScreen)
        policy = text_of(screen, "#run-policy")
        assert "require_approval" in policy and "alice, ops-lead" in policy
        assert "2026-03-02 09:55:00" in policy  # expires
        assert "not started: awaiting_approval" in text_of(screen, "#run-output-text")


# --- audit ----------------------------------------------------------------------------------------


async def test_audit_filters_by_type_and_text(scene: OpsScene) -> None:
    app = host(lambda: AuditScreen(scene.backend, clock=scene.clock, refresh_interval=0.05))
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(app, AuditScreen)
        table = screen.query_one(AuditTable)
        total = table.row_count
        assert total == len(await scene.service.audit(limit=500))

        await pilot.press("slash", *"fla", "k", "y")
        await until(lambda: 0 < table.row_count < total)
        assert all(cells[3] == "flaky-job" for cells in table_rows(table).values())
        assert '/ "flaky"' in str(table.border_title)
        await pilot.press("enter", "escape")  # keep the filter, then Esc drops it first
        await until(lambda: table.row_count == total)
        assert app.screen is screen

        screen.event_type = AuditEventType.CRON_JOB_DEAD_LETTERED
        screen.kick()
        await until(lambda: table.row_count == 1)
        row = next(iter(table_rows(table).values()))
        assert row[1] == "CronJobDeadLettered" and "failures=3" in row[4]

        await pilot.press("t")
        await until(lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.press("home", "enter")  # "all event types"
        await until(lambda: screen.event_type is None and table.row_count == total)


async def test_audit_shows_new_events_live(scene: OpsScene) -> None:
    app = host(lambda: AuditScreen(scene.backend, clock=scene.clock, refresh_interval=0.05))
    async with app.run_test(size=SIZE):
        screen = await shown(app, AuditScreen)
        table = screen.query_one(AuditTable)
        before = table.row_count
        await scene.service.pause_job("backup", actor="cli")
        await until(lambda: table.row_count == before + 1)
        newest = next(iter(table_rows(table).values()))
        assert newest[1:4] == ["CronJobPaused", "cli", "backup"]


# --- timeline -------------------------------------------------------------------------------------


async def test_timeline_rows_counts_and_zoom(scene: OpsScene) -> None:
    app = host(lambda: TimelineScreen(scene.backend, clock=scene.clock))
    async with app.run_test(size=SIZE) as pilot:
        screen = await shown(app, TimelineScreen)
        timeline = screen.query_one(Timeline)
        counts = {row.label: row.count for row in timeline.rows}
        assert counts["● health-probe"] == 24 * 60
        assert counts["● daily-report"] == 1
        assert counts["‖ quarter-hour"] == 0  # paused: it does not fire
        assert counts["✖ flaky-job"] == 0
        title = str(screen.query_one("#timeline-pane").border_title)
        assert "next [b]24h[/b]" in title and "10 jobs" in title

        await pilot.press("plus")
        await until(lambda: screen.window == timedelta(hours=6))
        await pilot.press("plus")
        await until(lambda: screen.window == timedelta(hours=1))
        counts = {row.label: row.count for row in timeline.rows}
        assert counts["● health-probe"] == 60 and counts["● backup"] == 30
        # at 1h a column is under a minute: 09:00 is the pile-up (every job due on the hour)
        assert timeline.peak_at is not None and f"{timeline.peak_at:%H:%M}" == "09:00"
        assert timeline.peak == 6
        await pilot.press("plus")
        await until(lambda: notified(app, "narrowest window is 1h"))
        await pilot.press("minus")
        await until(lambda: screen.window == timedelta(hours=6))


def test_job_fires_follow_the_job_time_zone_across_dst() -> None:
    job = JobDefinition(name="x", agent="a", cron="30 1 * * *", timezone="Europe/London", id="j1")
    start = datetime(2026, 3, 28, 0, 0, tzinfo=UTC)
    fires, capped = job_fires(job, start, start + timedelta(days=3))
    # 01:30 GMT, then 01:30 local is skipped on the 29th (fixed-time: runs at the jump), then BST
    assert [f"{f:%d %H:%M}" for f in fires] == ["28 01:30", "29 01:00", "30 00:30"]
    assert not capped
    every_minute = JobDefinition(name="y", agent="a", cron="* * * * *", id="j2")
    fires, capped = job_fires(every_minute, start, start + timedelta(days=1), cap=100)
    assert len(fires) == 100 and capped


def test_column_counts_bucket_fires() -> None:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    fires = [start + timedelta(minutes=m) for m in (0, 1, 14, 15, 59, 60)]
    assert column_counts(fires, start, timedelta(hours=1), 4) == [3, 1, 0, 1]


async def test_watch_shows_the_effective_policy_and_where_each_rule_came_from(
    scene: OpsScene,
) -> None:
    from scheduler_core.model import AllowedHours, PolicySpec
    from scheduler_core.named_policies import NamedPolicy

    service = scene.service
    service.policies["release"] = NamedPolicy(
        name="release",
        spec=PolicySpec(
            require_approval=True,
            max_runtime_seconds=600,
            allowed_hours=AllowedHours(start="22:00", end="06:00"),
        ),
        source="config:symbi.toml",
    )
    await service.update_job(
        "metrics-report", {"policies": ["release"], "policy": {"max_runtime": "30m"}}
    )
    app = host(lambda: WatchScreen(scene.backend, clock=scene.clock, job="metrics-report"))
    async with app.run_test(size=SIZE):
        screen = await shown(app, WatchScreen)
        pane = " ".join(text_of(screen, "#watch-policy").split())
        assert "Policies release" in pane
        assert "Approval required · policy release" in pane
        assert "Max runtime 10m · policy release" in pane  # the inline 30m does not hold
        assert "Hours 22:00-06:00 · policy release" in pane
        # a policy removed since: the pane says its runs are denied
        del service.policies["release"]
        screen.kick()
        await until(lambda: "runs are denied" in text_of(screen, "#watch-policy"))
        assert "unknown policy 'release'" in text_of(screen, "#watch-policy")
