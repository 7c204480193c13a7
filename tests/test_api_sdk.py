"""The official Python SDK (symbiont-sdk 1.16, ``client.schedules.*``), unchanged, against the API.

The SDK is synchronous (requests): its calls run in a worker thread while the server runs in the
test's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from scheduler_core.model import PolicySpec
from scheduler_core.named_policies import NamedPolicy
from tests.conftest import Harness
from tests.test_api import KEY, serving

symbiont = pytest.importorskip("symbiont")
schedules = pytest.importorskip("symbiont.schedules")

T = TypeVar("T")


async def call(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(fn, *args)


def sdk_client(url: str, key: str = KEY) -> Any:
    """The SDK's client with an API key (its JWT helper insists on a secret, unused here)."""
    from symbiont.config import AuthConfig, ClientConfig

    auth = AuthConfig(jwt_secret_key="unused-by-api-key-auth", enable_refresh_tokens=False)
    config = ClientConfig(api_key=key, base_url=f"{url}/api/v1", auth=auth)
    return symbiont.Client(config=config)


async def test_sdk_schedule_lifecycle(harness: Harness) -> None:
    async with serving(harness) as api:
        sdk = sdk_client(api.url).schedules
        assert await call(sdk.list_schedules) == []

        created = await call(
            sdk.create_schedule,
            schedules.CreateScheduleRequest(
                name="nightly", cron_expression="0 2 * * *", agent_name="backup-agent"
            ),
        )
        assert created.status == "created"
        assert created.next_run == "2026-03-03T02:00:00.000000Z"
        job_id = created.job_id

        (summary,) = await call(sdk.list_schedules)
        assert (summary.job_id, summary.name, summary.cron_expression) == (
            job_id,
            "nightly",
            "0 2 * * *",
        )
        assert summary.enabled and summary.status == "active" and summary.run_count == 0

        detail = await call(sdk.get_schedule, job_id)
        assert (detail.timezone, detail.one_shot, detail.failure_count) == ("UTC", False, 0)
        assert detail.created_at.startswith("2026-03-02T08:59:30")

        # policy_ids names the operator's named policies ([policies.p1] in the config)
        harness.service.policies["p1"] = NamedPolicy(name="p1", spec=PolicySpec(), source="config")
        updated = await call(
            sdk.update_schedule,
            job_id,
            schedules.UpdateScheduleRequest(
                cron_expression="30 3 * * *", timezone="Europe/Berlin", policy_ids=["p1"]
            ),
        )
        assert (updated.cron_expression, updated.timezone) == ("30 3 * * *", "Europe/Berlin")
        assert (await harness.service.get_job(job_id)).policies == ("p1",)
        assert updated.next_run == "2026-03-03T02:30:00.000000Z"  # 03:30 in Berlin (CET)

        paused = await call(sdk.pause_schedule, job_id)
        assert (paused.job_id, paused.action, paused.status) == (job_id, "pause", "paused")
        resumed = await call(sdk.resume_schedule, job_id)
        assert (resumed.action, resumed.status) == ("resume", "active")

        triggered = await call(sdk.trigger_schedule, job_id)
        assert (triggered.action, triggered.status) == ("trigger", "triggered")
        await harness.settle()
        history = await call(sdk.get_schedule_history, job_id, 10)
        assert history.job_id == job_id
        (entry,) = history.history
        assert entry.status == "succeeded" and entry.error is None
        assert entry.execution_time_ms is not None and entry.completed_at is not None

        nxt = await call(sdk.get_schedule_next_runs, job_id, 3)
        assert nxt.next_runs == [
            "2026-03-03T02:30:00.000000Z",
            "2026-03-04T02:30:00.000000Z",
            "2026-03-05T02:30:00.000000Z",
        ]

        one_shot = await call(
            sdk.create_schedule,
            schedules.CreateScheduleRequest(
                name="once", cron_expression="0 12 * * *", agent_name="a", one_shot=True
            ),
        )
        assert one_shot.next_run == "2026-03-02T12:00:00.000000Z"
        once = await call(sdk.get_schedule, one_shot.job_id)
        assert once.one_shot and once.cron_expression == ""

        deleted = await call(sdk.delete_schedule, job_id)
        assert (deleted.job_id, deleted.deleted) == (job_id, True)
        assert [s.name for s in await call(sdk.list_schedules)] == ["once"]


async def test_sdk_sees_api_errors(harness: Harness) -> None:
    from symbiont.exceptions import APIError, AuthenticationError, NotFoundError

    async with serving(harness) as api:
        sdk = sdk_client(api.url).schedules
        with pytest.raises(NotFoundError):
            await call(sdk.get_schedule, "no-such-job")
        with pytest.raises(APIError) as bad:
            await call(
                sdk.create_schedule,
                schedules.CreateScheduleRequest(
                    name="bad", cron_expression="0 25 * * *", agent_name="a"
                ),
            )
        assert bad.value.status_code == 422 and "hour" in (bad.value.response_text or "")
        stranger = sdk_client(api.url, "wrong").schedules
        with pytest.raises(AuthenticationError):
            await call(stranger.list_schedules)


async def test_sdk_update_one_shot_is_applied_or_refused_never_ignored(harness: Harness) -> None:
    from symbiont.exceptions import APIError

    async with serving(harness) as api:
        sdk = sdk_client(api.url).schedules
        created = await call(
            sdk.create_schedule,
            schedules.CreateScheduleRequest(
                name="hourly", cron_expression="0 * * * *", agent_name="a"
            ),
        )
        # one_shot: true turns the job into one run at its schedule's next instant, as create does
        once = await call(
            sdk.update_schedule, created.job_id, schedules.UpdateScheduleRequest(one_shot=True)
        )
        assert (once.one_shot, once.cron_expression) == (True, "")
        assert once.next_run == "2026-03-02T09:00:00.000000Z"
        job = await harness.service.get_job("hourly")
        assert job.cron is None and job.at is not None and job.is_one_shot
        # with a new expression in the same request: that expression's next instant
        again = await call(
            sdk.update_schedule,
            created.job_id,
            schedules.UpdateScheduleRequest(cron_expression="30 12 * * *", one_shot=True),
        )
        assert (again.one_shot, again.next_run) == (True, "2026-03-02T12:30:00.000000Z")
        # one_shot: false on a one-shot job without an expression to recur on: refused
        with pytest.raises(APIError) as refused:
            await call(
                sdk.update_schedule, created.job_id, schedules.UpdateScheduleRequest(one_shot=False)
            )
        assert refused.value.status_code == 422
        assert "one_shot" in (refused.value.response_text or "")
        # ... and with one it recurs again
        back = await call(
            sdk.update_schedule,
            created.job_id,
            schedules.UpdateScheduleRequest(cron_expression="0 * * * *", one_shot=False),
        )
        assert (back.one_shot, back.cron_expression) == (False, "0 * * * *")
        # anything but true or false is refused, naming the field
        answer = await api.client.put(f"/api/v1/schedules/{created.job_id}", json={"one_shot": 1})
        assert answer.status_code == 422 and answer.json()["field"] == "one_shot", answer.text
        assert (await harness.service.get_job("hourly")).cron == "0 * * * *"
