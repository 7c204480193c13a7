"""The ``webhook`` channel: an HTTP POST of a JSON document to the job's ``webhook_url``.

The body (``Content-Type: application/json`` unless the job's headers say otherwise)::

    {"event": "cron.run.finished",   (a failure alert: "cron.run.failed", "cron.job.dead_lettered")
     "job": {"id", "name", "agent_id", "cron_expr", "at", "timezone", "session_mode", "delivery"},
     "run": {"id", "job_id", "status", "trigger", "attempt", "scheduled_for", "started_at",
             "finished_at", "execution_time_ms", "error_message", "summary"},
     "output": "...", "delivered_at": "2026-03-02T09:00:01Z"}

Headers: the job's ``webhook_headers`` with ``${VAR}`` expanded from the environment (an unset
variable without a default fails the delivery rather than sending a broken credential); an
``Authorization`` from ``[scheduler.delivery] webhook_auth_header`` (``SYMBI_WEBHOOK_AUTH_HEADER``)
when the job sets none; ``Idempotency-Key: <run id>`` so a receiver can drop a retried duplicate
(an alert's: ``<run id>/<event>``, so that it is not taken for a duplicate of the run's delivery).
``${VAR}`` is expanded in ``webhook_url`` too. Each attempt is bounded by
``webhook_timeout_seconds``; see :mod:`._http` for the retry policy.
"""

from __future__ import annotations

__all__ = ["WebhookRouter", "expand_headers"]

import json
from collections.abc import Mapping
from typing import Any

from ..model import JobDefinition, JobRun
from ._http import post_with_retries, retry_bound_seconds
from .base import (
    RUN_FINISHED,
    Delivered,
    DeliveryContext,
    DeliveryFailure,
    delivery_event,
    expand_env,
    job_document,
    redact_url,
    run_document,
)

USER_AGENT = "symbi-tui-delivery/1"


def expand_headers(headers: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with ``${VAR}`` expanded; DeliveryFailure naming any unset variable."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        text, missing = expand_env(str(value), env)
        if missing:
            names = ", ".join(f"${{{m}}}" for m in dict.fromkeys(missing))
            raise DeliveryFailure(
                f"webhook header {name!r} uses {names}, which is not set or not allowed "
                "by [secrets]",
                attempts=0,
            )
        if "\r" in text or "\n" in text:
            raise DeliveryFailure(f"webhook header {name!r} contains a line break", attempts=0)
        out[str(name)] = text
    return out


class WebhookRouter:
    """POSTs the run as JSON to ``job.webhook_url``, retrying transient failures."""

    def __init__(self, context: DeliveryContext) -> None:
        self.context = context

    @property
    def timeout_seconds(self) -> float:
        cfg = self.context.config
        return retry_bound_seconds(
            self.context, cfg.webhook_timeout_seconds, max(0, cfg.webhook_retry_attempts)
        )

    def payload(self, job: JobDefinition, run: JobRun, output: str) -> dict[str, Any]:
        return {
            "event": delivery_event.get(),
            "job": job_document(job),
            "run": run_document(run),
            "output": output,
            "delivered_at": self.context.now().isoformat().replace("+00:00", "Z"),
        }

    async def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> Delivered:
        ctx = self.context
        cfg = ctx.config
        if not job.webhook_url:
            raise DeliveryFailure("the job has no webhook_url", attempts=0)
        url, missing = expand_env(job.webhook_url, ctx.env)
        if missing:
            names = ", ".join(f"${{{m}}}" for m in dict.fromkeys(missing))
            raise DeliveryFailure(
                f"webhook_url uses {names}, which is not set or not allowed by [secrets]",
                attempts=0,
            )
        event = delivery_event.get()
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "Idempotency-Key": run.id if event == RUN_FINISHED else f"{run.id}/{event}",
        }
        job_headers = expand_headers(job.webhook_headers, ctx.env)
        lower = {k.lower() for k in job_headers}
        for key in list(headers):
            if key.lower() in lower:
                del headers[key]
        headers.update(job_headers)
        if cfg.webhook_auth_header and "authorization" not in lower:
            headers["Authorization"] = cfg.webhook_auth_header
        body = json.dumps(self.payload(job, run, output), ensure_ascii=False).encode("utf-8")
        _, attempts, detail = await post_with_retries(
            ctx,
            url=url,
            shown_url=redact_url(url),
            content=body,
            headers=headers,
            timeout_seconds=cfg.webhook_timeout_seconds,
            retries=max(0, cfg.webhook_retry_attempts),
        )
        return Delivered(attempts=attempts, detail=detail)
