"""Prometheus metrics with the guide's names.

Counters and the duration histogram follow the event bus (each finished run is counted once, by
run id); gauges are computed at scrape time from the service, so they are right whichever process
changed the store. Each :class:`Metrics` has its own registry (never prometheus_client's global
one), so tests and several engines in one process do not mix their numbers.

Labels stay low-cardinality: ``job_name`` where the guide uses it, otherwise bounded sets
(run status, job status, delivery channel, the cause of a store fault).
"""

from __future__ import annotations

__all__ = ["CONTENT_TYPE", "Metrics"]

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .errors import STORE_CAUSES
from .events import AuditRecorded, Event, EventBus, RunChanged
from .llm_cost import run_cost, run_tokens
from .model import AuditEventType, JobRun, JobStatus, RunStatus

if TYPE_CHECKING:
    from .service import SchedulerService

log = logging.getLogger("symbi.metrics")

#: the exposition format's content type
CONTENT_TYPE: str = CONTENT_TYPE_LATEST

#: seconds; agent runs go from milliseconds (a probe) to an hour (a heartbeat session)
DURATION_BUCKETS: tuple[float, ...] = (
    0.01,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
    900,
    3600,
)
_SEEN_LIMIT = 50_000
#: final states of a run whose agent started: only these have an execution time to observe
#: (a denied or skipped run never ran; a cancelled one may not have)
_AGENT_STARTED = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.INTERRUPTED}
)


class Metrics:
    """The scheduler's collectors, fed by :meth:`observe` (or :meth:`start` on a bus)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "symbiont_cron_runs",
            "Finished runs, by job and final status",
            ["job_name", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "symbiont_cron_execution_duration_seconds",
            "Execution time of runs that started their agent",
            ["job_name"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "symbiont_cron_in_flight_jobs", "Runs executing now in this scheduler", registry=r
        )
        self.dead_letter = Counter(
            "symbiont_cron_dead_letter",
            "Jobs moved to the dead-letter queue after max_retries failures",
            ["job_name"],
            registry=r,
        )
        self.delivery_failures = Counter(
            "symbiont_cron_delivery_failures",
            "Deliveries of run output that failed after their retries, by channel",
            ["channel"],
            registry=r,
        )
        self.policy_denials = Counter(
            "symbiont_cron_policy_denials",
            "Runs denied by the policy gate or an approver (or whose approval timed out)",
            registry=r,
        )
        self.agentpin_failures = Counter(
            "symbiont_cron_agentpin_failures",
            "Failed AgentPin verifications",
            registry=r,
        )
        self.llm_tokens = Counter(
            "symbiont_cron_llm_tokens",
            "Tokens of finished LLM runs, by job and kind (input: the prompts, output: the "
            "completions), summed over each run's calls",
            ["job_name", "kind"],
            registry=r,
        )
        self.llm_cost = Counter(
            "symbiont_cron_llm_cost",
            "Cost in USD of finished LLM runs, by job, priced from [llm.prices] (runs of a "
            "model with no price add their tokens only)",
            ["job_name"],
            registry=r,
        )
        self.jobs = Gauge("symbiont_cron_jobs", "Jobs by status", ["status"], registry=r)
        self.queued = Gauge(
            "symbiont_cron_queued_runs", "Runs waiting for their time or a free slot", registry=r
        )
        self.awaiting_approval = Gauge(
            "symbiont_cron_awaiting_approval_runs", "Runs parked until approved", registry=r
        )
        self.store_errors = Counter(
            "symbiont_cron_store_errors",
            "Operations on the store that failed for a fault of the store (a full disk, a "
            "read-only or locked file, an I/O error, corruption, a database out of reach), "
            "by cause",
            ["cause"],
            registry=r,
        )
        for cause in STORE_CAUSES:  # every cause shows, at 0 until it happens
            self.store_errors.labels(cause=cause)
        self._store_seen: dict[str, int] = {}
        self.leader = Gauge(
            "symbiont_cron_scheduler_leader",
            "1 while this process fires jobs (holds the lease, or is a shared store's node)",
            registry=r,
        )
        self._seen: OrderedDict[str, None] = OrderedDict()  #: final runs counted
        self._delivered: OrderedDict[str, None] = OrderedDict()  #: runs whose delivery is counted
        self._task: asyncio.Task[None] | None = None

    # --- from the event bus -----------------------------------------------------------------------

    def observe(self, event: Event) -> None:
        if isinstance(event, RunChanged):
            self._run(event.run)
        elif isinstance(event, AuditRecorded):
            kind = event.event.type
            if kind is AuditEventType.CRON_JOB_DEAD_LETTERED:
                name = str(event.event.details.get("job_name") or event.event.job_id or "")
                self.dead_letter.labels(job_name=name).inc()
            elif kind is AuditEventType.AGENT_PIN_VERIFICATION_FAILED:
                self.agentpin_failures.inc()

    def _run(self, run: JobRun) -> None:
        if not run.status.is_final:
            return
        if run.id not in self._seen:
            _remember(self._seen, run.id)
            self.runs.labels(job_name=run.job_name, status=run.status.value).inc()
            if run.status in _AGENT_STARTED and run.execution_time_ms is not None:
                self.duration.labels(job_name=run.job_name).observe(run.execution_time_ms / 1000)
            if run.status is RunStatus.DENIED:
                self.policy_denials.inc()
            tokens = run_tokens(run.details)
            if tokens is not None:
                self.llm_tokens.labels(job_name=run.job_name, kind="input").inc(tokens[0])
                self.llm_tokens.labels(job_name=run.job_name, kind="output").inc(tokens[1])
                cost = run_cost(run.details)
                self.llm_cost.labels(job_name=run.job_name).inc(cost or 0.0)
        # a run's delivery results come after it is final (it is recorded before any channel is
        # tried), in a change of their own: counted once, when they come
        results = _delivery_results(run.details)
        if results and run.id not in self._delivered:
            _remember(self._delivered, run.id)
            for result in results:
                if not result.get("ok", True):
                    channel = str(result.get("channel", "unknown"))
                    self.delivery_failures.labels(channel=channel).inc()

    def start(self, bus: EventBus) -> None:
        """Follow ``bus`` in a background task until :meth:`stop`."""
        if self._task is None:
            subscription = bus.subscribe()
            self._task = asyncio.create_task(self._follow(subscription), name="symbi-metrics")

    async def _follow(self, subscription: Any) -> None:
        with subscription:
            while True:
                event = await subscription.get()
                try:
                    self.observe(event)
                except Exception:  # a metric must never take the daemon down
                    log.exception("metrics: cannot count %r", event)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # --- at scrape time ---------------------------------------------------------------------------

    async def refresh(self, service: SchedulerService) -> None:
        """Set the gauges from the store and the scheduler."""
        health = await service.health()
        counts = {
            JobStatus.ACTIVE: health.active_jobs,
            JobStatus.PAUSED: health.paused_jobs,
            JobStatus.COMPLETED: health.completed_jobs,
            JobStatus.MISSED: health.missed_jobs,
            JobStatus.FAILED: health.failed_jobs,
            JobStatus.DEAD_LETTER: health.dead_letter_jobs,
        }
        for status, count in counts.items():
            self.jobs.labels(status=status.value).set(count)
        self.in_flight.set(health.in_flight_jobs)
        self.queued.set(health.queued_runs)
        self.awaiting_approval.set(health.awaiting_approval)
        self.leader.set(1 if health.role in ("leader", "active") else 0)
        self.count_store_errors(service.store.fault_counts)

    def count_store_errors(self, counts: Mapping[str, int]) -> None:
        """Bring the store errors counter up to ``counts`` (the store's own, by cause)."""
        for cause, count in counts.items():
            new = count - self._store_seen.get(cause, 0)
            if new > 0:
                self.store_errors.labels(cause=cause).inc(new)
                self._store_seen[cause] = count

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _remember(seen: OrderedDict[str, None], run_id: str) -> None:
    seen[run_id] = None
    if len(seen) > _SEEN_LIMIT:
        seen.popitem(last=False)


def _delivery_results(details: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    results = details.get("delivery")
    if not isinstance(results, list | tuple):
        return ()
    return [r for r in results if isinstance(r, Mapping)]
