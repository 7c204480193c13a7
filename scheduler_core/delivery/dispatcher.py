"""The dispatcher: a run's output to every channel its job lists, concurrently and in isolation.

::

    async with Deliverer(cfg.scheduler.delivery, data_dir=cfg.resolved_data_dir()) as deliverer:
        results = await deliverer.deliver(job, run)          # never raises
        run = replace(run, details={**run.details, "delivery": delivery_details(results)})

Every channel runs in its own task; an exception in one becomes that channel's failed
:class:`DeliveryResult` and never touches the others; each is bounded by a deadline (the
router's ``timeout_seconds`` attribute, else ``default_timeout_seconds``), so a hung channel
ends as ``timed out``. Secrets (webhook header values and the variables they reference,
``webhook_auth_header``, ``slack_api_token``, ``smtp_password``, Slack webhook URLs, credentials
in URLs, ``delivery_config`` values under key names like token/secret/password/key/auth) are
replaced by ``***`` in every error, detail and log line. Only a cancellation of ``deliver``
itself propagates (after cancelling the channels).
"""

from __future__ import annotations

__all__ = ["DELIVERABLE_STATUSES", "Deliverer", "delivery_details"]

import asyncio
import inspect
import logging
import math
import os
import re
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from ..errors import DeliveryError
from ..model import JobDefinition, JobRun, RunStatus
from ..secrets import SecretPolicy
from ..settings import DeliveryConfig, default_data_dir
from ..telemetry import span
from .base import (
    Delivered,
    DeliveryContext,
    DeliveryFailure,
    DeliveryResult,
    DeliveryRouter,
    SecretMasker,
    SleepFn,
    expand_env,
    real_sleep,
    url_secrets,
)
from .registry import ChannelRegistry

if TYPE_CHECKING:  # httpx is imported on first use: importing it pulls in rich (its CLI)
    import httpx

log = logging.getLogger("scheduler_core.delivery")

#: Runs whose output is worth delivering: the agent ran (successfully or not).
DELIVERABLE_STATUSES: frozenset[RunStatus] = frozenset(
    {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT}
)

_SECRET_KEY = re.compile(r"(?i)(token|secret|password|passwd|key|auth|credential|signature)")
#: header values that are never credentials, so not masked
_PLAIN_HEADERS = frozenset(
    {"content-type", "accept", "accept-encoding", "accept-language", "content-encoding"}
)
_VAR_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def delivery_details(results: Iterable[DeliveryResult]) -> list[dict[str, Any]]:
    """``results`` as JSON-ready dicts, for ``JobRun.details["delivery"]``."""
    return [r.to_dict() for r in results]


def _now() -> datetime:
    return datetime.now(UTC)


def _delivery_env(env: Mapping[str, str] | None, secrets: SecretPolicy | None) -> Mapping[str, str]:
    """What ``${VAR}`` may read at delivery (see :class:`Deliverer`)."""
    if secrets is not None:
        return secrets.environment(os.environ if env is None else env)
    if env is not None:
        return env
    return SecretPolicy().environment(os.environ)


class Deliverer:
    """Routes a finished run to its job's channels. Also a :class:`DeliveryRouter` itself.

    ``${VAR}`` in webhook headers and URLs reads only what ``secrets`` (the operator's
    ``[secrets]``) allows, from ``env`` (default ``os.environ``, read at delivery) and the
    policy's named values; without a policy nothing is allowed, unless ``env`` is given (then
    the caller has chosen what a delivery may read, and it is used as it is).
    ``http_client`` is used as given and never closed; without one a client is created on
    first use and closed by :meth:`aclose`. ``sleep`` takes the retry backoff pauses (tests
    pass a recorder). ``smtp_tls_context`` verifies the SMTP server (a private CA or a
    self-signed certificate; see :func:`.email.tls_context_from_ca_file`). ``stream`` is where
    the ``stdout`` channel writes (default ``sys.stdout`` at write time). ``registry`` replaces
    the default ``ChannelRegistry(config.custom)`` (then ``config.custom`` is not read).
    ``default_timeout_seconds`` bounds a router that declares no ``timeout_seconds``; the
    built-in routers declare theirs (webhook and Slack: every attempt timing out plus every
    pause at its cap; email: 4 x ``smtp_timeout_seconds`` + 5; stdout 30 s; log_file 60 s).
    Retry pauses are ``backoff_base_seconds`` doubled per retry, at most ``backoff_max_seconds``.
    ``now`` stamps deliveries (pass the scheduler clock's ``now``).
    """

    def __init__(
        self,
        config: DeliveryConfig | None = None,
        *,
        data_dir: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        secrets: SecretPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        sleep: SleepFn | None = None,
        now: Callable[[], datetime] | None = None,
        smtp_tls_context: ssl.SSLContext | None = None,
        stream: TextIO | None = None,
        registry: ChannelRegistry | None = None,
        default_timeout_seconds: float = 60.0,
        backoff_base_seconds: float = 1.0,
        backoff_max_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config if config is not None else DeliveryConfig()
        self.registry = registry or ChannelRegistry(self.config.custom)
        self.default_timeout_seconds = default_timeout_seconds
        self._monotonic = monotonic
        self._client = http_client
        self._owns_client = http_client is None
        self.context = DeliveryContext(
            self.config,
            data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
            env=_delivery_env(env, secrets),
            http_client=self._http_client,
            sleep=sleep or real_sleep,
            now=now or _now,
            smtp_tls_context=smtp_tls_context,
            stream=stream,
            backoff_base_seconds=backoff_base_seconds,
            backoff_max_seconds=backoff_max_seconds,
        )
        self._routers: dict[str, DeliveryRouter] = {}

    # --- lifecycle ---------------------------------------------------------------------------
    def _http_client(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(follow_redirects=False)
            self._owns_client = True
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client if this dispatcher created it."""
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def __aenter__(self) -> Deliverer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- secrets -------------------------------------------------------------------------------
    def masker(self, job: JobDefinition) -> SecretMasker:
        """Every secret that a delivery of ``job`` could reveal."""
        cfg = self.config
        env = self.context.env
        masker = SecretMasker([cfg.webhook_auth_header, cfg.slack_api_token, cfg.smtp_password])
        for name, raw in job.webhook_headers.items():
            if str(name).lower() not in _PLAIN_HEADERS:
                self._add_template(masker, str(raw), env)
        if job.webhook_url:
            expanded, _ = expand_env(job.webhook_url, env)
            masker.add(*url_secrets(job.webhook_url), *url_secrets(expanded))
            masker.add(*(env.get(n) for n in _VAR_NAME.findall(job.webhook_url)))
        self._add_slack_webhook(masker, cfg.slack_webhook_url)
        slack = job.delivery_config.get("slack")
        if isinstance(slack, Mapping) and isinstance(slack.get("webhook_url"), str):
            self._add_slack_webhook(masker, slack["webhook_url"])
        self._add_config_secrets(masker, job.delivery_config, env)
        return masker

    @staticmethod
    def _add_template(masker: SecretMasker, raw: str, env: Mapping[str, str]) -> None:
        expanded, _ = expand_env(raw, env)
        masker.add(raw if "${" not in raw else None, expanded)
        masker.add(*(env.get(n) for n in _VAR_NAME.findall(raw)))

    def _add_slack_webhook(self, masker: SecretMasker, url: str | None) -> None:
        if not url:
            return
        expanded, _ = expand_env(url, self.context.env)
        for u in {url, expanded}:
            masker.add(u, *url_secrets(u))
            path = urlsplit(u).path.strip("/")
            last = path.rpartition("/")[2]
            masker.add(path if len(path) >= 8 else None, last if len(last) >= 6 else None)

    def _add_config_secrets(self, masker: SecretMasker, value: Any, env: Mapping[str, str]) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                if isinstance(v, str):
                    if _SECRET_KEY.search(str(k)):
                        self._add_template(masker, v, env)
                    elif "://" in v:
                        masker.add(*url_secrets(v))
                else:
                    self._add_config_secrets(masker, v, env)
        elif isinstance(value, list | tuple):
            for v in value:
                self._add_config_secrets(masker, v, env)

    # --- routing -------------------------------------------------------------------------------
    def channels(self, job: JobDefinition) -> list[str]:
        """The job's channels in order, blanks and repeats (same channel, any spelling) dropped."""
        seen: set[str] = set()
        out: list[str] = []
        for name in job.delivery:
            clean = name.strip()
            if not clean:
                continue
            try:
                key = self.registry.resolve(clean)[0]
            except DeliveryFailure:
                key = f"unknown:{clean}"
            if key not in seen:
                seen.add(key)
                out.append(clean)
        return out

    def router(self, channel: str) -> DeliveryRouter:
        """The router for ``channel`` (built once, then reused); DeliveryFailure if none."""
        key = self.registry.resolve(channel)[0]
        router = self._routers.get(key)
        if router is None:
            router = self.registry.create(channel, self.context)[1]
            self._routers[key] = router
        return router

    def _limit(self, router: DeliveryRouter) -> float:
        value = getattr(router, "timeout_seconds", None)
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value > 0
        ):
            return float(value)
        return self.default_timeout_seconds

    async def deliver(
        self, job: JobDefinition, run: JobRun, output: str | None = None
    ) -> list[DeliveryResult]:
        """Deliver ``output`` (default ``run.output``) to every channel of ``job``, concurrently.

        One result per channel, in the job's order. Never raises, except when cancelled.
        """
        channels = self.channels(job)
        if not channels:
            return []
        text = output if output is not None else (run.output or "")
        masker = self.masker(job)
        return list(
            await asyncio.gather(*(self._traced(c, job, run, text, masker) for c in channels))
        )

    async def deliver_one(
        self, channel: str, job: JobDefinition, run: JobRun, output: str | None = None
    ) -> DeliveryResult:
        """Deliver to one channel; never raises, except when cancelled."""
        text = output if output is not None else (run.output or "")
        return await self._traced(channel, job, run, text, self.masker(job))

    async def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> Delivered:
        """The guide's ``DeliveryRouter.route``: one channel, raising DeliveryFailure on failure."""
        result = await self.deliver_one(channel, job, run, output)
        if not result.ok:
            raise DeliveryFailure(
                result.error or "delivery failed", attempts=result.attempts, detail=result.detail
            )
        return Delivered(attempts=result.attempts, detail=result.detail)

    async def _traced(
        self, channel: str, job: JobDefinition, run: JobRun, output: str, masker: SecretMasker
    ) -> DeliveryResult:
        """:meth:`_deliver` in a span of its own (under the run's, telemetry on)."""
        attributes = {"symbi.delivery.channel": channel, "symbi.run.id": run.id}
        with span("cron.delivery", attributes, client=True) as traced:
            result = await self._deliver(channel, job, run, output, masker)
            if traced is not None:
                outcome = "delivered" if result.ok else "failed"
                traced.set(
                    {"symbi.delivery.outcome": outcome, "symbi.delivery.attempts": result.attempts}
                )
                if not result.ok:
                    traced.fail("delivery failed")
            return result

    async def _deliver(
        self, channel: str, job: JobDefinition, run: JobRun, output: str, masker: SecretMasker
    ) -> DeliveryResult:
        started = self._monotonic()
        attempts = 1
        detail: Mapping[str, Any] = {}
        error: str | None = None
        try:
            router = self.router(channel)
            limit = self._limit(router)
            deadline = asyncio.timeout(limit)
            try:
                async with deadline:
                    outcome: Any = router.route(channel, job, run, output)
                    if inspect.isawaitable(outcome):
                        outcome = await outcome
            except TimeoutError:
                if not deadline.expired():
                    raise
                error = f"timed out after {limit:g}s"
            else:
                if isinstance(outcome, Delivered):
                    attempts, detail = outcome.attempts, outcome.detail
        except DeliveryFailure as exc:
            error, attempts, detail = exc.message, exc.attempts, exc.detail
        except DeliveryError as exc:
            error = exc.message
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # deliver() itself is being cancelled
            error = "the channel cancelled itself"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        duration_ms = max(0, int((self._monotonic() - started) * 1000))
        result = DeliveryResult(
            channel=channel,
            ok=error is None,
            attempts=attempts,
            error=None if error is None else masker(error),
            duration_ms=duration_ms,
            detail=masker.mask_value(dict(detail)),
        )
        if result.ok:
            log.debug(
                "delivered run %s of job %r to %s (%d attempt(s), %d ms)",
                run.id,
                job.name,
                channel,
                result.attempts,
                duration_ms,
            )
        else:
            log.warning(
                "delivery of run %s of job %r to %s failed: %s",
                run.id,
                job.name,
                channel,
                result.error,
            )
        return result
