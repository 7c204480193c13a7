"""What every delivery channel shares: the router protocol, results, context and secret masking.

A channel is a :class:`DeliveryRouter`, the guide's ``DeliveryRouter`` trait in Python::

    class MyChannel:
        async def route(self, channel: str, job: JobDefinition, run: JobRun, output: str) -> None:
            ...  # deliver; raise (ideally DeliveryError) on failure

``route`` may also return a :class:`Delivered` to report how many attempts it took and details
(an HTTP status, a Slack ``ts``); returning ``None`` means one successful attempt. Failures are
raised; :class:`DeliveryFailure` (a :class:`~scheduler_core.errors.DeliveryError`) carries the
attempt count and details too. The dispatcher turns every outcome into a :class:`DeliveryResult`.
"""

from __future__ import annotations

__all__ = [
    "MASK",
    "RUN_FINISHED",
    "Delivered",
    "DeliveryContext",
    "DeliveryFailure",
    "DeliveryResult",
    "DeliveryRouter",
    "SecretMasker",
    "SleepFn",
    "delivery_event",
    "expand_env",
    "format_duration",
    "job_document",
    "output_excerpt",
    "real_sleep",
    "redact_url",
    "run_document",
    "run_duration_ms",
    "url_secrets",
]

import asyncio
import re
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO, runtime_checkable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from ..envvars import expand_vars as expand_env
from ..errors import DeliveryError
from ..model import JobDefinition, JobRun
from ..records import record
from ..settings import DeliveryConfig

if TYPE_CHECKING:  # httpx is imported on first use: importing it pulls in rich (its CLI)
    import httpx

#: What a secret looks like in any delivery error, detail or log line.
MASK = "***"

#: the event of a run's own delivery (its output, to the job's channels)
RUN_FINISHED = "cron.run.finished"
#: what is being delivered: :data:`RUN_FINISHED`, or a failure alert's event
#: (``cron.run.failed``, ``cron.job.dead_lettered``: see :mod:`scheduler_core.alerting`), set
#: around the dispatcher's ``deliver`` so that a channel that says which (the webhook's ``event``
#: and ``Idempotency-Key``, the log file's ``event``) can, with the guide's ``route`` signature
delivery_event: ContextVar[str] = ContextVar("delivery_event", default=RUN_FINISHED)

SleepFn = Callable[[float], Awaitable[None]]


@runtime_checkable
class DeliveryRouter(Protocol):
    """A delivery channel: sends one run's output somewhere, raising on failure."""

    async def route(
        self, channel: str, job: JobDefinition, run: JobRun, output: str
    ) -> Delivered | None:
        """Deliver ``output`` of ``run`` of ``job`` on ``channel`` (the name as the job wrote it).

        Raise on failure (preferably :class:`DeliveryFailure` or ``DeliveryError``); return
        ``None`` or a :class:`Delivered` on success.
        """
        ...


@record(kw_only=True)
class Delivered:
    """A successful delivery's particulars, optionally returned by :meth:`DeliveryRouter.route`."""

    attempts: int = 1
    detail: Mapping[str, Any] = field(default_factory=dict)


class DeliveryFailure(DeliveryError):
    """A channel failed; ``attempts`` made and ``detail`` (e.g. the last HTTP status) known."""

    def __init__(
        self,
        message: str,
        *,
        attempts: int = 1,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.detail: dict[str, Any] = dict(detail or {})

    def details(self) -> dict[str, object]:
        return {"attempts": self.attempts, **self.detail}


@record(kw_only=True)
class DeliveryResult:
    """The outcome of one channel for one run; stored in ``JobRun.details["delivery"]``."""

    channel: str  #: the channel name as the job wrote it
    ok: bool
    attempts: int = 0  #: 0 when nothing was attempted (unknown channel, missing setting)
    error: str | None = None  #: what went wrong, secrets masked
    duration_ms: int = 0
    detail: Mapping[str, Any] = field(default_factory=dict)  #: e.g. {"status_code": 200}

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "ok": self.ok,
            "attempts": self.attempts,
            "error": self.error,
            "duration_ms": self.duration_ms,
            "detail": dict(self.detail),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeliveryResult:
        error = data.get("error")
        detail = data.get("detail")
        return cls(
            channel=str(data["channel"]),
            ok=bool(data["ok"]),
            attempts=int(data.get("attempts") or 0),
            error=None if error is None else str(error),
            duration_ms=int(data.get("duration_ms") or 0),
            detail=dict(detail) if isinstance(detail, Mapping) else {},
        )


_SHORT_SECRET = 6


def _secret_pattern(secret: str) -> str:
    # a short secret is masked only where it stands alone, so that a password "x" does not
    # turn "extension" into "e***tension"
    if len(secret) < _SHORT_SECRET:
        return rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])"
    return re.escape(secret)


class SecretMasker:
    """Replaces every known secret value in a text with :data:`MASK`.

    Longer secrets are replaced first, so a secret containing another is masked whole. A
    header value such as ``Bearer abc123`` also registers its credential part (``abc123``).
    Secrets shorter than 6 characters are masked only where no letter or digit touches them.
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        for secret in secrets:
            if not secret or not isinstance(secret, str):
                continue
            secret = secret.strip()
            if not secret:
                continue
            self._secrets.add(secret)
            parts = secret.split()
            if len(parts) > 1 and len(parts[-1]) >= 4:
                self._secrets.add(parts[-1])  # "Bearer <token>": the token alone
        self._pattern = None

    def __call__(self, text: str) -> str:
        if not self._secrets or not text:
            return text
        if self._pattern is None:
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(_secret_pattern(s) for s in ordered))
        return self._pattern.sub(MASK, text)

    def mask_value(self, value: Any) -> Any:
        """``value`` with secrets masked in every string inside it (mappings, lists)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {str(k): self.mask_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.mask_value(v) for v in value]
        return value

    def __len__(self) -> int:
        return len(self._secrets)


def redact_url(url: str) -> str:
    """``url`` fit to show: no user info, and the query string hidden (tokens live there)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if parts.username or parts.password:
        host = f"{MASK}@{host}"
    query = MASK if parts.query else ""
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


_SECRET_PARAM = re.compile(r"(?i)(token|secret|password|passwd|key|auth|credential|sig)")


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that may be credentials: user info, the query string and its values
    (those under secret-looking names, and any of 6 characters or more)."""
    try:
        parts = urlsplit(url)
        params = parse_qsl(parts.query, keep_blank_values=False)
    except ValueError:
        return [url]
    found = [p for p in (parts.username, parts.password, parts.query) if p]
    for name, value in params:
        if len(value) >= 6 or _SECRET_PARAM.search(name):
            found.append(value)
    return found


def _now() -> datetime:
    return datetime.now(UTC)


class DeliveryContext:
    """Shared resources handed to every channel router when it is created.

    A custom channel class whose constructor takes one argument receives this object; one whose
    constructor takes none is created without it.
    """

    def __init__(
        self,
        config: DeliveryConfig,
        *,
        data_dir: Path,
        env: Mapping[str, str],
        http_client: Callable[[], httpx.AsyncClient],
        sleep: SleepFn,
        now: Callable[[], datetime] = _now,
        smtp_tls_context: ssl.SSLContext | None = None,
        stream: TextIO | None = None,
        backoff_base_seconds: float = 1.0,
        backoff_max_seconds: float = 30.0,
    ) -> None:
        self.config = config
        self.data_dir = data_dir
        self.env = env
        self._http_client = http_client
        self.sleep = sleep
        self.now = now
        self.smtp_tls_context = smtp_tls_context
        self.stream = stream
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_max_seconds = backoff_max_seconds

    def http_client(self) -> httpx.AsyncClient:
        """The shared HTTP client (created on first use by the dispatcher, or injected)."""
        return self._http_client()

    @property
    def log_dir(self) -> Path:
        """``[scheduler.delivery] log_dir``, else ``<data dir>/logs``."""
        if self.config.log_dir:
            return Path(self.config.log_dir).expanduser()
        return self.data_dir / "logs"

    def backoff(self, retry: int) -> float:
        """The pause before retry number ``retry`` (1-based): base, 2x base, 4x base, ..."""
        return min(self.backoff_base_seconds * float(2 ** (retry - 1)), self.backoff_max_seconds)


# --- views of a job and a run shared by the channels ------------------------------------------


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def job_document(job: JobDefinition) -> dict[str, Any]:
    """What a delivery tells about the job: identity and schedule, never a secret."""
    return {
        "id": job.id,
        "name": job.name,
        "agent_id": job.agent,
        "cron_expr": job.cron,
        "at": _iso(job.at),
        "timezone": job.timezone,
        "session_mode": job.session_mode.value,
        "delivery": list(job.delivery),
    }


def run_duration_ms(run: JobRun) -> int | None:
    """The run's execution time: recorded, else finished minus started, else unknown."""
    if run.execution_time_ms is not None:
        return run.execution_time_ms
    if run.started_at is not None and run.finished_at is not None:
        return max(0, int((run.finished_at - run.started_at).total_seconds() * 1000))
    return None


def run_document(run: JobRun) -> dict[str, Any]:
    """What a delivery tells about the run (output travels beside it)."""
    return {
        "id": run.id,
        "job_id": run.job_id,
        "status": run.status.value,
        "trigger": run.trigger.value,
        "attempt": run.attempt,
        "scheduled_for": _iso(run.scheduled_for),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "execution_time_ms": run_duration_ms(run),
        "error_message": run.error_message,
        "summary": run.summary,
    }


def format_duration(ms: int | None) -> str:
    """``850ms``, ``12.3s``, ``4m 05s``, ``2h 03m``; ``-`` when unknown."""
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def output_excerpt(output: str, limit: int) -> str:
    """The head of ``output``, at most ``limit`` characters, saying how much was left out."""
    if len(output) <= limit:
        return output
    # the note's length is bounded by the widest count it can show, so the total fits
    keep = max(0, limit - len(f"\n... ({len(output)} more characters)"))
    return output[:keep] + f"\n... ({len(output) - keep} more characters)"


async def real_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)
