"""Failure alerts: which channels hear about a failed run or a dead-lettered job, and what they say.

A job names ``on_failure`` and ``on_dead_letter`` channels (``None``: the config's
``[scheduler.delivery] on_failure`` / ``on_dead_letter``; ``[]``: none). When a run ends
``failed`` or ``timed_out``, the ``on_failure`` channels get an alert; when a run's end moves the
job to ``dead_letter``, the ``on_dead_letter`` channels get one too. An ``interrupted`` run is not
alerted: a shutdown or a crash of the scheduler is not the agent's failure (it never counts
toward ``max_retries`` either). Alerts go through the job's delivery dispatcher with the job's own
channel settings (``webhook_url``, ``slack_channel``, ``email_recipients``...), so retries,
deadlines and secret masking are those of a delivery; their results are kept in the run's
``details["alerts"]``, each with its ``event``.

This module is pure (no delivery package import): the executor asks it what to send, then hands
the sending to :func:`send_alerts` once the dispatcher exists.
"""

from __future__ import annotations

__all__ = [
    "ALERTED_STATUSES",
    "ALERT_EVENTS",
    "ALERT_WIRE_EVENTS",
    "Alert",
    "AlertDefaults",
    "alert_channels",
    "alert_message",
    "plan_alerts",
    "send_alerts",
]

import shlex
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from .model import JobDefinition, JobRun, RunStatus
from .records import record
from .settings import DeliveryConfig
from .textsafe import visible

if TYPE_CHECKING:
    from .delivery import Deliverer

#: the job fields that name alert channels, and the config keys of their defaults
ALERT_EVENTS: tuple[Literal["on_failure"], Literal["on_dead_letter"]] = (
    "on_failure",
    "on_dead_letter",
)
AlertEvent = Literal["on_failure", "on_dead_letter"]
#: runs whose end is an ``on_failure`` alert (not ``interrupted``: not the agent's failure)
ALERTED_STATUSES = frozenset({RunStatus.FAILED, RunStatus.TIMED_OUT})
#: the event each alert is delivered as (the webhook's ``event``, the log file's)
ALERT_WIRE_EVENTS: dict[AlertEvent, str] = {
    "on_failure": "cron.run.failed",
    "on_dead_letter": "cron.job.dead_lettered",
}
#: longest error text an alert quotes
_ERROR_CHARS = 2000


@record
class AlertDefaults:
    """The config's alert channels, for jobs that name none."""

    on_failure: tuple[str, ...] = ()
    on_dead_letter: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: DeliveryConfig) -> AlertDefaults:
        return cls(on_failure=tuple(config.on_failure), on_dead_letter=tuple(config.on_dead_letter))

    def channels(self, event: AlertEvent) -> tuple[str, ...]:
        return self.on_failure if event == "on_failure" else self.on_dead_letter


@record
class Alert:
    """One alert to send: its event and the channels it goes to."""

    event: AlertEvent
    channels: tuple[str, ...]


def alert_channels(
    job: JobDefinition, event: AlertEvent, defaults: AlertDefaults
) -> tuple[str, ...]:
    """The channels ``job`` alerts on ``event``: its own list, else the config's."""
    own: tuple[str, ...] | None = getattr(job, event)
    return own if own is not None else defaults.channels(event)


def plan_alerts(
    job: JobDefinition, run: JobRun, *, dead_lettered: bool, defaults: AlertDefaults
) -> list[Alert]:
    """What the end of ``run`` alerts: ``on_failure`` for a failed or timed-out run, and
    ``on_dead_letter`` when that end moved the job to the dead-letter queue."""
    alerts: list[Alert] = []
    if run.status in ALERTED_STATUSES and (channels := alert_channels(job, "on_failure", defaults)):
        alerts.append(Alert("on_failure", channels))
    if dead_lettered and (channels := alert_channels(job, "on_dead_letter", defaults)):
        alerts.append(Alert("on_dead_letter", channels))
    return alerts


def alert_message(
    job: JobDefinition,
    run: JobRun,
    event: AlertEvent,
    *,
    failure_count: int,
    max_retries: int,
) -> str:
    """The alert's text: the job, the run, its status and error, the failure count and the
    command that resets the job. Text from the agent is shown with its control characters
    escaped (an alert is read on a terminal or in a mail client)."""
    reset = f"symbi cron reset {shlex.quote(job.name)}"
    if event == "on_dead_letter":
        head = f"symbi: job {job.name} moved to the dead-letter queue"
        tail = f"It will not run again until reset: {reset}"
    else:
        head = f"symbi: job {job.name}: run {run.status.value}"
        tail = f"If it reaches the dead-letter queue, reset it with: {reset}"
    error = visible(run.error_message or "(no error message)")
    if len(error) > _ERROR_CHARS:
        error = error[: _ERROR_CHARS - 3] + "..."
    lines = [
        head,
        "",
        f"job:      {job.name} ({job.id})",
        f"agent:    {job.agent}",
        f"run:      {run.id} (attempt {run.attempt}, {run.trigger.value})",
        f"status:   {run.status.value}",
        f"failures: {failure_count} in a row (max_retries {max_retries})",
        f"error:    {error}",
        f"reset:    {reset}",
        "",
        tail,
    ]
    return "\n".join(lines) + "\n"


async def send_alerts(
    deliverer: Deliverer,
    job: JobDefinition,
    run: JobRun,
    alerts: list[Alert],
    *,
    failure_count: int,
    max_retries: int,
) -> list[dict[str, Any]]:
    """Send every alert through ``deliverer`` (the job's channel settings, the dispatcher's
    retries, deadlines and masking); one result per channel and event, each with ``event``.
    Never raises, except when cancelled."""
    from .delivery.base import delivery_event

    out: list[dict[str, Any]] = []
    for alert in alerts:
        message = alert_message(
            job, run, alert.event, failure_count=failure_count, max_retries=max_retries
        )
        alerting = replace(job, delivery=alert.channels)
        token = delivery_event.set(ALERT_WIRE_EVENTS[alert.event])
        try:
            results = await deliverer.deliver(alerting, run, output=message)
        finally:
            delivery_event.reset(token)
        out += [{"event": alert.event, **result.to_dict()} for result in results]
    return out
