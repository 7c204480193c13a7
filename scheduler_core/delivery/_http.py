"""HTTP POST with the webhook retry policy, shared by the webhook and Slack channels.

Retried (``webhook_retry_attempts`` extra attempts, exponential backoff through the injected
sleep): connection errors, timeouts, HTTP 429 and 5xx. A ``Retry-After`` header lengthens the
pause (up to the backoff ceiling). Not retried: any other 4xx, 3xx, an invalid URL, or a
response the caller's ``check`` rejects (e.g. Slack's ``{"ok": false}``).
"""

from __future__ import annotations

__all__ = ["post_with_retries", "retry_bound_seconds"]

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..telemetry import trace_headers
from .base import DeliveryContext, DeliveryFailure

if TYPE_CHECKING:  # httpx is imported on first use: importing it pulls in rich (its CLI)
    import httpx

_BODY_EXCERPT = 200


def retry_bound_seconds(ctx: DeliveryContext, timeout: float, retries: int) -> float:
    """The longest the retry loop can take: every attempt timing out, every pause at its cap."""
    return (retries + 1) * timeout + retries * ctx.backoff_max_seconds + 5.0


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: fall back to the exponential pause
    return seconds if seconds >= 0 else None


def _body_excerpt(response: httpx.Response) -> str:
    try:
        text = response.text
    except Exception:  # undecodable body
        return ""
    text = " ".join(text.split())
    if len(text) > _BODY_EXCERPT:
        text = text[:_BODY_EXCERPT] + "..."
    return text


async def post_with_retries(
    ctx: DeliveryContext,
    *,
    url: str,
    shown_url: str,
    content: bytes,
    headers: Mapping[str, str],
    timeout_seconds: float,
    retries: int,
    check: Callable[[httpx.Response], str | None] | None = None,
) -> tuple[httpx.Response, int, dict[str, Any]]:
    """POST ``content`` until it is accepted; (response, attempts, detail) or DeliveryFailure.

    ``shown_url`` is how the target appears in error messages (already redacted).
    """
    import httpx

    client = ctx.http_client()
    given = {name.lower() for name in headers}
    traced = {k: v for k, v in trace_headers().items() if k not in given}
    if traced:  # the run's trace goes on to the receiver (W3C traceparent), telemetry on
        headers = {**headers, **traced}
    attempt = 0
    pauses: list[float] = []
    while True:
        attempt += 1
        status: int | None = None
        retry_after: float | None = None
        try:
            async with asyncio.timeout(timeout_seconds):
                response = await client.post(
                    url, content=content, headers=dict(headers), timeout=timeout_seconds
                )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL, ValueError) as exc:
            raise DeliveryFailure(
                f"invalid URL {shown_url}: {exc}", attempts=attempt, detail=_detail(None, pauses)
            ) from None
        except (httpx.TimeoutException, TimeoutError):
            error = f"no response from {shown_url} within {timeout_seconds:g}s"
            retryable = True
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            error = f"could not reach {shown_url}: {type(exc).__name__}: {reason}"
            retryable = True
        else:
            status = response.status_code
            if 200 <= status < 300:
                problem = check(response) if check is not None else None
                if problem is None:
                    return response, attempt, _detail(status, pauses)
                raise DeliveryFailure(problem, attempts=attempt, detail=_detail(status, pauses))
            retryable = status == 429 or status >= 500
            retry_after = _retry_after(response) if retryable else None
            body = _body_excerpt(response)
            error = f"HTTP {status} {response.reason_phrase} from {shown_url}".rstrip()
            if body:
                error += f": {body}"
        if not retryable or attempt > retries:
            if retryable and retries:
                error += f" (gave up after {attempt} attempts)"
            raise DeliveryFailure(error, attempts=attempt, detail=_detail(status, pauses))
        pause = ctx.backoff(attempt)
        if retry_after is not None:
            pause = min(max(pause, retry_after), ctx.backoff_max_seconds)
        pauses.append(pause)
        await ctx.sleep(pause)


def _detail(status: int | None, pauses: list[float]) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if status is not None:
        detail["status_code"] = status
    if pauses:
        detail["backoff_seconds"] = list(pauses)
    return detail
