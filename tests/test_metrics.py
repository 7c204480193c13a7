"""Prometheus metrics: the guide's names, fed by the event bus, gauges read at scrape time."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families

from scheduler_core.events import AuditRecorded, RunChanged
from scheduler_core.metrics import Metrics
from scheduler_core.model import AuditEvent, AuditEventType, JobRun, RunStatus
from tests.conftest import Harness

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def run(status: RunStatus, *, run_id: str = "r1", **fields: object) -> JobRun:
    return JobRun(
        id=run_id,
        job_id="j1",
        job_name="daily-report",
        agent_id="reporter",
        scheduled_for=AT,
        status=status,
        **fields,  # type: ignore[arg-type]
    )


def test_guide_metric_names_and_labels() -> None:
    m = Metrics()
    running = run(RunStatus.RUNNING, started_at=AT)
    done = replace(running, status=RunStatus.SUCCEEDED, execution_time_ms=1234)
    for event in (running, done, done):  # a final run seen twice is counted once
        m.observe(RunChanged(event))
    m.observe(RunChanged(run(RunStatus.FAILED, run_id="r2", started_at=AT, execution_time_ms=5)))
    m.observe(
        AuditRecorded(
            AuditEvent(
                at=AT,
                type=AuditEventType.CRON_JOB_DEAD_LETTERED,
                job_id="j9",
                details={"job_name": "flaky-job"},
            )
        )
    )
    s = samples(m)
    assert (
        s[("symbiont_cron_runs_total", (("job_name", "daily-report"), ("status", "succeeded")))]
        == 1
    )
    assert (
        s[("symbiont_cron_runs_total", (("job_name", "daily-report"), ("status", "failed")))] == 1
    )
    assert s[("symbiont_cron_dead_letter_total", (("job_name", "flaky-job"),))] == 1
    hist = ("symbiont_cron_execution_duration_seconds_sum", (("job_name", "daily-report"),))
    assert abs(s[hist] - 1.239) < 1e-9
    count = ("symbiont_cron_execution_duration_seconds_count", (("job_name", "daily-report"),))
    assert s[count] == 2
    assert ("symbiont_cron_in_flight_jobs", ()) in s


def test_denials_and_delivery_failures() -> None:
    m = Metrics()
    m.observe(RunChanged(run(RunStatus.DENIED, error_message="outside allowed_hours")))
    delivery = [
        {"channel": "slack", "ok": False, "attempts": 3, "error": "503"},
        {"channel": "stdout", "ok": True, "attempts": 1, "error": None},
        {"channel": "webhook", "ok": False, "attempts": 4, "error": "timeout"},
    ]
    m.observe(RunChanged(run(RunStatus.SUCCEEDED, run_id="r2", details={"delivery": delivery})))
    m.observe(RunChanged(run(RunStatus.SUCCEEDED, run_id="r3", details={"delivery": "junk"})))
    m.observe(AuditRecorded(AuditEvent(at=AT, type=AuditEventType.AGENT_PIN_VERIFICATION_FAILED)))
    s = samples(m)
    assert s[("symbiont_cron_policy_denials_total", ())] == 1
    assert s[("symbiont_cron_delivery_failures_total", (("channel", "slack"),))] == 1
    assert s[("symbiont_cron_delivery_failures_total", (("channel", "webhook"),))] == 1
    assert ("symbiont_cron_delivery_failures_total", (("channel", "stdout"),)) not in s
    assert s[("symbiont_cron_agentpin_failures_total", ())] == 1
    # no run id, error text or other high-cardinality label anywhere
    labels = {name for (_, pairs) in s for name, _ in pairs}
    assert labels <= {"job_name", "status", "channel", "le", "cause"}


def test_each_metrics_has_its_own_registry() -> None:
    a, b = Metrics(), Metrics()
    a.observe(RunChanged(run(RunStatus.SUCCEEDED)))
    assert b"daily-report" in a.render() and b"daily-report" not in b.render()


async def test_metrics_follow_a_real_scheduler(harness: Harness) -> None:
    m = Metrics()
    m.start(harness.engine.bus)
    try:
        harness.agents.fail("unreliable")
        await harness.service.add_job(
            {"name": "flaky-job", "agent": "unreliable", "cron": "0 * * * *", "max_retries": 2}
        )
        await harness.service.add_job({"name": "report", "agent": "ok", "cron": "0 9 * * *"})
        await harness.to("2026-03-02T09:00:00Z")
        await harness.advance(3600)  # the retry after backoff, then the next hourly instant
        await harness.service.pause_job("report")
        await asyncio.sleep(0)
        await m.refresh(harness.service)
        s = samples(m)
    finally:
        await m.stop()
    runs = ("symbiont_cron_runs_total", (("job_name", "report"), ("status", "succeeded")))
    assert s[runs] == 1
    failed = s[("symbiont_cron_runs_total", (("job_name", "flaky-job"), ("status", "failed")))]
    assert failed == 2
    assert s[("symbiont_cron_dead_letter_total", (("job_name", "flaky-job"),))] == 1
    assert s[("symbiont_cron_jobs", (("status", "dead_letter"),))] == 1
    assert s[("symbiont_cron_jobs", (("status", "paused"),))] == 1
    assert s[("symbiont_cron_jobs", (("status", "active"),))] == 0
    assert s[("symbiont_cron_in_flight_jobs", ())] == 0
    assert s[("symbiont_cron_scheduler_leader", ())] == 1
