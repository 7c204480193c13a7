"""The ``slack`` channel: a Block Kit message through an incoming webhook or ``chat.postMessage``.

Which way, first match wins:

1. the job's own incoming webhook: ``delivery_config: { slack: { webhook_url: "..." } }``;
2. ``[scheduler.delivery] slack_api_token`` set (``SYMBI_SLACK_TOKEN``): ``POST
   {slack_api_url}/chat.postMessage`` with ``Authorization: Bearer <token>`` to the job's
   ``slack_channel``, else ``slack_default_channel``;
3. ``[scheduler.delivery] slack_webhook_url``: that incoming webhook (it posts to the channel it
   was created for; ``slack_channel`` cannot redirect it).

The Web API answers HTTP 200 with ``{"ok": false, "error": "channel_not_found"}`` when it refuses
a message: that is a failure, not retried. HTTP 429 and 5xx and connection errors are retried as
for webhooks (``webhook_retry_attempts``, ``webhook_timeout_seconds``). The message has a header
(status emoji, job, status), fields (job, agent, status, duration, attempt, trigger), the error
of a failed run and an excerpt of the output in a code block, plus a plain ``text`` fallback for
notifications and clients without Block Kit. Incoming-webhook URLs are secrets: errors never
show them.
"""

from __future__ import annotations

__all__ = ["SlackRouter", "slack_message"]

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..model import JobDefinition, JobRun, RunStatus
from ._http import post_with_retries, retry_bound_seconds
from .base import (
    Delivered,
    DeliveryContext,
    DeliveryFailure,
    expand_env,
    format_duration,
    output_excerpt,
    redact_url,
    run_duration_ms,
)

if TYPE_CHECKING:  # httpx is imported on first use: importing it pulls in rich (its CLI)
    import httpx

_EMOJI = {
    RunStatus.SUCCEEDED: ":white_check_mark:",
    RunStatus.FAILED: ":x:",
    RunStatus.TIMED_OUT: ":hourglass:",
    RunStatus.INTERRUPTED: ":warning:",
    RunStatus.DENIED: ":no_entry:",
    RunStatus.SKIPPED: ":fast_forward:",
    RunStatus.CANCELLED: ":heavy_multiplication_x:",
}
_SECTION_LIMIT = 3000  # Slack's limit for a section's text
_HEADER_LIMIT = 150  # Slack's limit for a header's plain text
_FALLBACK_EXCERPT = 1000


def _escape(text: str) -> str:
    """Slack mrkdwn control characters as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code_block(text: str, limit: int) -> str:
    """``text`` as a mrkdwn code block of at most ``limit`` characters."""
    budget = limit - 8
    while True:
        body = _escape(output_excerpt(text, budget)).replace("```", "``\u200b`")
        if len(body) + 8 <= limit or budget <= 16:
            return f"```\n{body[: limit - 8]}\n```"
        budget //= 2


def _plain(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def slack_message(job: JobDefinition, run: JobRun, output: str) -> dict[str, Any]:
    """The ``text`` + ``blocks`` of the message for ``run`` of ``job``."""
    emoji = _EMOJI.get(run.status, ":information_source:")
    status = run.status.value.replace("_", " ")
    duration = format_duration(run_duration_ms(run))
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _plain(f"{emoji} {job.name}: {status}", _HEADER_LIMIT),
                "emoji": True,
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Job*\n{_escape(_plain(job.name, 500))}"},
                {"type": "mrkdwn", "text": f"*Agent*\n{_escape(_plain(job.agent, 500))}"},
                {"type": "mrkdwn", "text": f"*Status*\n{status}"},
                {"type": "mrkdwn", "text": f"*Duration*\n{duration}"},
                {"type": "mrkdwn", "text": f"*Attempt*\n{run.attempt}"},
                {"type": "mrkdwn", "text": f"*Trigger*\n{run.trigger.value}"},
            ],
        },
    ]
    if run.error_message:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*Error*\n" + _code_block(run.error_message, _SECTION_LIMIT - 8),
                },
            }
        )
    blocks.append(
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "*Output*\n" + _code_block(output or "(no output)", _SECTION_LIMIT - 9),
            },
        }
    )
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"run `{run.id}` \u00b7 job `{job.id}`"}],
        }
    )
    text = f"{job.name}: {status} in {duration}"
    if run.error_message:
        text += f"\nError: {output_excerpt(run.error_message, 300)}"
    if output:
        text += "\n" + output_excerpt(output, _FALLBACK_EXCERPT)
    return {"text": _escape(text), "blocks": blocks}


def _api_check(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return "Slack chat.postMessage answered with a body that is not JSON"
    if not isinstance(data, Mapping):
        return "Slack chat.postMessage answered with unexpected JSON"
    if data.get("ok") is True:
        return None
    return f"Slack chat.postMessage refused the message: {data.get('error') or 'unknown error'}"


class SlackRouter:
    """Posts a run summary to Slack (incoming webhook or Web API)."""

    def __init__(self, context: DeliveryContext) -> None:
        self.context = context

    @property
    def timeout_seconds(self) -> float:
        cfg = self.context.config
        return retry_bound_seconds(
            self.context, cfg.webhook_timeout_seconds, max(0, cfg.webhook_retry_attempts)
        )

    def _job_webhook(self, job: JobDefinition) -> str | None:
        own = job.delivery_config.get("slack")
        if isinstance(own, Mapping):
            url = own.get("webhook_url")
            if isinstance(url, str) and url.strip():
                return url.strip()
        return None

    async def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> Delivered:
        ctx = self.context
        cfg = ctx.config
        message = slack_message(job, run, output)
        headers = {"Content-Type": "application/json; charset=utf-8"}
        webhook = self._job_webhook(job)
        if webhook is None and not cfg.slack_api_token:
            webhook = cfg.slack_webhook_url
        if webhook is not None:
            url, missing = expand_env(webhook, ctx.env)
            if missing:
                names = ", ".join(f"${{{m}}}" for m in dict.fromkeys(missing))
                raise DeliveryFailure(
                    f"slack webhook_url uses {names}, which is not set or not allowed by [secrets]",
                    attempts=0,
                )
            host = urlsplit(url).hostname or "?"
            _, attempts, detail = await post_with_retries(
                ctx,
                url=url,
                shown_url=f"the Slack incoming webhook at {host}",
                content=json.dumps(message, ensure_ascii=False).encode("utf-8"),
                headers=headers,
                timeout_seconds=cfg.webhook_timeout_seconds,
                retries=max(0, cfg.webhook_retry_attempts),
            )
            return Delivered(attempts=attempts, detail={"mode": "incoming_webhook", **detail})
        if not cfg.slack_api_token:
            raise DeliveryFailure(
                "Slack is not configured: set slack_api_token (SYMBI_SLACK_TOKEN) or "
                "slack_webhook_url in [scheduler.delivery]",
                attempts=0,
            )
        target = job.slack_channel or cfg.slack_default_channel
        if not target:
            raise DeliveryFailure(
                "no Slack channel: set slack_channel on the job or slack_default_channel "
                "in [scheduler.delivery]",
                attempts=0,
            )
        url = cfg.slack_api_url.rstrip("/") + "/chat.postMessage"
        body = {"channel": target, "unfurl_links": False, "unfurl_media": False, **message}
        headers["Authorization"] = f"Bearer {cfg.slack_api_token}"
        response, attempts, detail = await post_with_retries(
            ctx,
            url=url,
            shown_url=redact_url(url),
            content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers=headers,
            timeout_seconds=cfg.webhook_timeout_seconds,
            retries=max(0, cfg.webhook_retry_attempts),
            check=_api_check,
        )
        data = response.json()
        extra = {k: data[k] for k in ("channel", "ts") if isinstance(data.get(k), str)}
        return Delivered(
            attempts=attempts, detail={"mode": "api", "target": target, **detail, **extra}
        )
