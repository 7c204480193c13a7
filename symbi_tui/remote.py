"""RemoteBackend: the :class:`~symbi_tui.backend.Backend` protocol over a daemon's HTTP API.

Every method is one request to ``/api/v1`` with ``Authorization: Bearer KEY``; answers are turned
back into ``scheduler_core.model`` records, and error answers back into the
``scheduler_core.errors`` exceptions the service raised on the daemon (``JobNotFound`` with its
suggestion, ``ValidationError`` with its field, ``ConflictError``, ``RunNotFound``...), so a front
end cannot tell a remote scheduler from an embedded one. Live events come from the server-sent
event stream (``GET /api/v1/events``), which :meth:`RemoteBackend.subscribe` reconnects with
exponential backoff; :attr:`RemoteBackend.connected` says whether the daemon is reachable.

Errors only a remote backend can meet derive from :class:`RemoteError` (a ``SchedulerError``)::

    RemoteError            the daemon answered with an unexpected error
     +-- Unauthorized      the API key is missing or wrong (401)
     +-- Disconnected      the daemon cannot be reached (refused, reset, timed out)
"""

from __future__ import annotations

__all__ = [
    "Disconnected",
    "RemoteBackend",
    "RemoteError",
    "Unauthorized",
    "error_from_answer",
    "health_from_dict",
    "job_from_dict",
]

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import MISSING
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from scheduler_core.clock import format_instant, parse_instant
from scheduler_core.errors import (
    ConfigError,
    ConflictError,
    CronError,
    DslError,
    DslIssue,
    JobNotFound,
    LeaseError,
    NotFoundError,
    RunNotFound,
    SchedulerError,
    StoreError,
    ValidationError,
)
from scheduler_core.events import (
    AuditRecorded,
    Dropped,
    Event,
    IterationRecorded,
    JobChanged,
    RunChanged,
    SchedulerState,
)
from scheduler_core.jobspec import JOB_FIELDS, spec_from_json, spec_to_json
from scheduler_core.model import (
    AuditEvent,
    AuditEventType,
    HeartbeatIteration,
    JobDefinition,
    JobRun,
    JobStatus,
    RunStatus,
)
from scheduler_core.service import ApplyResult, Health
from scheduler_core.store.base import JobPage, NodeInfo, RunStats

from .backend import FINAL_RUN_STATUSES, serialization

_PREFIX = "/api/v1"
_NO_DEFAULT = object()
_FIELD_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(JobDefinition) if f.default is not MISSING
}
#: how many recent runs of a job are looked at to find its last finished one
_LAST_RESULT_WINDOW = 20


class RemoteError(SchedulerError):
    """The daemon answered with an error that has no closer ``SchedulerError`` counterpart."""

    code = "remote_error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    def details(self) -> dict[str, object]:
        return {"status": self.status}


class Unauthorized(RemoteError):
    """The API refused the key (missing or wrong)."""

    code = "unauthorized"


class Disconnected(RemoteError):
    """The daemon cannot be reached."""

    code = "disconnected"


# --- records from JSON ----------------------------------------------------------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _instant(value: Any) -> datetime | None:
    return parse_instant(value) if value else None


def job_from_dict(data: Mapping[str, Any]) -> JobDefinition:
    """A job as :func:`scheduler_core.jobspec.job_to_dict` shows it, rebuilt (secrets stay
    masked: a remote front end never holds them)."""
    # values equal to a field's default are left out, so the rebuilt job carries the default
    # itself and job_to_dict gives the same keys in the same order as for the original
    spec = {
        k: data[k]
        for k in JOB_FIELDS
        if data.get(k) is not None and data[k] != _FIELD_DEFAULTS.get(k, _NO_DEFAULT)
    }
    last = data.get("last_run_status")
    return spec_from_json(
        json.dumps(spec),
        id=data["id"],
        status=JobStatus(data["status"]),
        next_run_at=_instant(data.get("next_run_at")),
        last_run_at=_instant(data.get("last_run_at")),
        last_run_status=RunStatus(last) if last else None,
        last_error=data.get("last_error"),
        run_count=data.get("run_count") or 0,
        failure_count=data.get("failure_count") or 0,
        created_at=_instant(data.get("created_at")),
        updated_at=_instant(data.get("updated_at")),
        source=data.get("source"),
    )


def health_from_dict(data: Mapping[str, Any]) -> Health:
    """The API's health answer (the guide's shape plus counts) as a :class:`Health`."""
    metrics = data.get("metrics") or {}
    total = int(metrics.get("runs_total") or 0)
    average = int(metrics.get("avg_execution_time_ms") or 0)
    executions = max(total, 1) if average else 0
    queued = int(data.get("queued_runs") or 0)
    awaiting = int(data.get("awaiting_approval") or 0)
    in_flight = int(data.get("in_flight_jobs") or 0)
    stats = RunStats(
        runs_total=total,
        runs_succeeded=int(metrics.get("runs_succeeded") or 0),
        runs_failed=int(metrics.get("runs_failed") or 0),
        execution_ms_total=average * executions,
        executions=executions,
        by_status={
            RunStatus.QUEUED.value: queued,
            RunStatus.AWAITING_APPROVAL.value: awaiting,
            RunStatus.RUNNING.value: in_flight,
        },
    )
    return Health(
        status=str(data.get("status") or "unknown"),
        active_jobs=int(data.get("active_jobs") or 0),
        paused_jobs=int(data.get("paused_jobs") or 0),
        in_flight_jobs=in_flight,
        dead_letter_jobs=int(data.get("dead_letter_jobs") or 0),
        completed_jobs=int(data.get("completed_jobs") or 0),
        failed_jobs=int(data.get("failed_jobs") or 0),
        queued_runs=queued,
        awaiting_approval=awaiting,
        stats=stats,
        role=str(data.get("role") or "remote"),
        lease_owner=data.get("lease_owner"),
        lease_address=data.get("lease_address"),
        nodes=tuple(_node(n) for n in data.get("nodes") or () if isinstance(n, Mapping)),
        node=data.get("node"),
    )


def _node(data: Mapping[str, Any]) -> NodeInfo:
    return NodeInfo(
        owner=str(data.get("owner") or "?"),
        host=str(data.get("host") or "?"),
        pid=int(data.get("pid") or 0),
        api_address=data.get("api_address"),
        role=str(data.get("role") or "?"),
        started_at=_instant(data.get("started_at")) or _EPOCH,
        heartbeat=_instant(data.get("heartbeat")) or _EPOCH,
        expires_at=_instant(data.get("expires_at")) or _EPOCH,
        running=int(data.get("running") or 0),
    )


def _serialize() -> Any:
    return serialization()


# --- errors from JSON -----------------------------------------------------------------------------


def error_from_answer(
    status: int,
    body: Any,
    *,
    job: str | None = None,
    run: str | None = None,
) -> SchedulerError:
    """The ``SchedulerError`` an API error answer (``{error, code, field, details}``) stands for.

    ``job``/``run``: what the request was about, for a bare 404 (an unroutable path).
    """
    if not isinstance(body, Mapping):
        body = {}
    message = str(body.get("error") or f"the scheduler answered HTTP {status}")
    code = body.get("code")
    field = body.get("field")
    details = body.get("details")
    if not isinstance(details, Mapping):
        details = {}
    if status == 401 or code == "unauthorized":
        return Unauthorized(
            f"the scheduler refused the API key ({message}); set SYMBI_API_KEY or [api] api_keys",
            status=status,
        )
    if status == 404 or code == "not_found":
        if "job" in details:
            return JobNotFound(str(details["job"]), suggestion=details.get("suggestion"))
        if "run" in details:
            return RunNotFound(str(details["run"]))
        if job is not None:
            return JobNotFound(job)
        if run is not None:
            return RunNotFound(run)
        return NotFoundError(message)
    if code == "invalid_cron":
        return CronError(
            message,
            expression=str(details.get("expression") or ""),
            cron_field=details.get("cron_field"),
            value=details.get("value"),
        )
    if code == "invalid_dsl":
        issues = [
            DslIssue(str(i.get("path")), int(i.get("line", 0)), int(i.get("col", 0)), i["message"])
            for i in details.get("issues") or []
            if isinstance(i, Mapping) and "message" in i
        ]
        return DslError(issues) if issues else SchedulerError(message)
    if code == "invalid_config":
        return ConfigError(message)
    if status in (400, 422) or code in ("validation_error", "invalid_json"):
        errors = details.get("errors")
        if isinstance(errors, list) and len(errors) > 1:
            return ValidationError.collect(
                [
                    ValidationError(str(e.get("message")), field=e.get("field"))
                    for e in errors
                    if isinstance(e, Mapping)
                ]
            )
        reason = message
        if field and message.startswith(f"{field}: "):
            reason = message[len(field) + 2 :]
        return ValidationError(reason, field=field)
    if code == "lease_held":
        return LeaseError(message)
    if status == 409 or code == "conflict":
        return ConflictError(message)
    if status == 503 or code == "store_error":
        return StoreError(message)
    return RemoteError(message, status=status)


# --- the backend ----------------------------------------------------------------------------------


class RemoteBackend:
    """A :class:`~symbi_tui.backend.Backend` over ``url`` (``http://HOST:PORT``)."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        stream_timeout: float = 60.0,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``stream_timeout``: silence after which the event stream counts as lost (the daemon
        sends a keep-alive every 15 s). ``retry_initial``/``retry_max``: the reconnect backoff."""
        self.url = url.rstrip("/").removesuffix(_PREFIX)
        try:
            parsed = httpx.URL(self.url)
        except httpx.InvalidURL:
            parsed = httpx.URL("invalid:")
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValidationError(f"{url!r} is not an http(s)://HOST:PORT address", field="url")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
        self.mode_label = f"attached to {host}:{port}"
        self.stream_timeout = stream_timeout
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        headers = {"Accept": "application/json", "User-Agent": "symbi"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.AsyncClient(
            base_url=self.url + _PREFIX,
            headers=headers,
            timeout=timeout,
            transport=transport,
            # plain http has no certificates to check: skip loading the CA bundle (0.1 s)
            verify=parsed.scheme == "https",
        )
        self._connected = False

    @property
    def connected(self) -> bool:
        """Whether the last request (or the event stream) reached the daemon."""
        return self._connected

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> RemoteBackend:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- plumbing ---------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        job: str | None = None,
        run: str | None = None,
    ) -> httpx.Response:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._client.request(
                method, path, params=query or None, json=body if body is not None else None
            )
        except httpx.TransportError as exc:
            self._connected = False
            reason = str(exc) or type(exc).__name__
            raise Disconnected(f"cannot reach the scheduler at {self.url}: {reason}") from None
        self._connected = True
        if response.status_code >= 400:
            try:
                answer = response.json()
            except ValueError:
                answer = {"error": response.text[:200] or response.reason_phrase}
            raise error_from_answer(response.status_code, answer, job=job, run=run)
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._call(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise RemoteError(
                f"the scheduler at {self.url} answered {path} with something other than JSON",
                status=response.status_code,
            ) from None

    @staticmethod
    def _job_path(ref: str, action: str = "") -> str:
        if not ref:
            raise JobNotFound(ref)
        return f"/schedule/{quote(ref, safe='')}" + (f"/{action}" if action else "")

    @staticmethod
    def _run_path(run_id: str, action: str = "") -> str:
        if not run_id:
            raise RunNotFound(run_id)
        return f"/runs/{quote(run_id, safe='')}" + (f"/{action}" if action else "")

    # --- health and jobs --------------------------------------------------------------------------

    async def health(self) -> Health:
        return health_from_dict(await self._json("GET", "/health/scheduler"))

    async def prepare_search(self) -> None:
        """Nothing to do here: the scheduler prepares its filter at its first query."""

    async def list_jobs(
        self,
        *,
        text: str | None = None,
        status: JobStatus | None = None,
        agent: str | None = None,
        limit: int = 500,
        offset: int = 0,
        order: str = "name",
        descending: bool = False,
    ) -> JobPage:
        params = {
            "status": status.value if status is not None else None,
            "agent_id": agent or None,
            "q": text or None,
            "limit": limit,
            "offset": offset,
            "order": order,
            "desc": "true" if descending else None,
        }
        response = await self._call("GET", "/schedule", params=params)
        jobs = [job_from_dict(d) for d in response.json()]
        try:
            total = int(response.headers.get("X-Total-Count", ""))
        except ValueError:
            total = offset + len(jobs)
        return JobPage(jobs=jobs, total=total)

    async def get_job(self, ref: str) -> JobDefinition:
        return job_from_dict(await self._json("GET", self._job_path(ref), job=ref))

    async def add_job(self, spec: Mapping[str, Any]) -> JobDefinition:
        return job_from_dict(await self._json("POST", "/schedule", body=dict(spec)))

    async def update_job(self, ref: str, changes: Mapping[str, Any]) -> JobDefinition:
        return job_from_dict(await self._json("PUT", self._job_path(ref), body=dict(changes)))

    async def apply_dsl(self, paths: Sequence[str], *, schedule: str | None = None) -> ApplyResult:
        """Files are read (and their errors reported, file:line:col) here; their schedules are
        sent in one request and applied all or nothing, keyed by name.

        The daemon checks every agent a schedule names against its own agents: an agent block in
        the file is not sent (the API has no way to define agents), so it must also be in the
        daemon's configuration or DSL paths.
        """
        from scheduler_core.dsl import load_dsl_files

        bundle = load_dsl_files(paths)
        jobs = list(bundle.jobs)
        if schedule is not None:
            jobs = [j for j in jobs if j.name == schedule]
            if not jobs:
                names = ", ".join(j.name for j in bundle.jobs) or "none"
                raise ValidationError(
                    f"no schedule {schedule!r} in {', '.join(paths)} (found: {names})",
                    field="schedule",
                )
        specs = [json.loads(spec_to_json(job)) for job in jobs]
        answer = await self._json("POST", "/apply", body={"jobs": specs})
        return ApplyResult(
            created=list(answer.get("created") or []),
            updated=list(answer.get("updated") or []),
            unchanged=list(answer.get("unchanged") or []),
        )

    async def remove_job(self, ref: str) -> JobDefinition:
        job = await self.get_job(ref)
        await self._call("DELETE", self._job_path(job.id), job=ref)
        return job

    async def _action(self, ref: str, action: str) -> JobDefinition:
        return job_from_dict(await self._json("POST", self._job_path(ref, action), job=ref))

    async def pause_job(self, ref: str) -> JobDefinition:
        return await self._action(ref, "pause")

    async def resume_job(self, ref: str) -> JobDefinition:
        return await self._action(ref, "resume")

    async def reset_job(self, ref: str) -> JobDefinition:
        return await self._action(ref, "reset")

    async def next_runs(self, ref: str, count: int = 5) -> list[datetime]:
        answer = await self._json(
            "GET", self._job_path(ref, "next_run"), params={"count": count}, job=ref
        )
        return [parse_instant(t) for t in answer.get("next_runs") or []]

    # --- runs -------------------------------------------------------------------------------------

    async def run_now(self, ref: str, *, input: str | None = None) -> JobRun:
        body = {"input": input} if input is not None else None
        answer = await self._json("POST", self._job_path(ref, "run"), body=body, job=ref)
        return _serialize().run_from_dict(answer)

    async def get_run(self, run_id: str) -> JobRun:
        answer = await self._json("GET", self._run_path(run_id), run=run_id)
        return _serialize().run_from_dict(answer)

    async def iterations(self, run_id: str) -> list[HeartbeatIteration]:
        answer = await self._json("GET", self._run_path(run_id, "iterations"), run=run_id)
        return [_serialize().iteration_from_dict(i) for i in answer]

    async def history(
        self,
        ref: str | None,
        *,
        limit: int = 50,
        status: RunStatus | None = None,
        before_seq: int | None = None,
    ) -> list[JobRun]:
        params = {
            "limit": limit,
            "status": status.value if status is not None else None,
            "before_seq": before_seq,
        }
        if ref is None:
            answer = await self._json("GET", "/runs", params=params)
        else:
            answer = await self._json("GET", self._job_path(ref, "history"), params=params, job=ref)
        runs = [_serialize().run_from_dict(r) for r in answer]
        if before_seq is not None:  # in case the daemon does not page by seq
            runs = [r for r in runs if int(r.details.get("seq", 0)) < before_seq]
        return runs

    async def last_results(self, job_ids: Sequence[str]) -> dict[str, JobRun]:
        results: dict[str, JobRun] = {}
        for job_id in job_ids:
            try:
                runs = await self.history(job_id, limit=_LAST_RESULT_WINDOW)
            except JobNotFound:
                continue
            final = next((r for r in runs if r.status in FINAL_RUN_STATUSES), None)
            if final is not None:
                results[job_id] = final
        return results

    async def pending_approvals(self) -> list[JobRun]:
        return [_serialize().run_from_dict(r) for r in await self._json("GET", "/approvals")]

    async def _decide(self, run_id: str, action: str, reason: str | None) -> JobRun:
        body = {"reason": reason} if reason is not None else None
        answer = await self._json("POST", self._run_path(run_id, action), body=body, run=run_id)
        return _serialize().run_from_dict(answer)

    async def approve(self, run_id: str, *, reason: str | None = None) -> JobRun:
        return await self._decide(run_id, "approve", reason)

    async def deny(self, run_id: str, *, reason: str | None = None) -> JobRun:
        return await self._decide(run_id, "deny", reason)

    # --- audit and events -------------------------------------------------------------------------

    async def audit(
        self,
        *,
        type: AuditEventType | str | None = None,
        since: datetime | None = None,
        job: str | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        params = {
            "type": type or None,
            "since": format_instant(since) if since is not None else None,
            "job": job or None,
            "limit": limit,
        }
        answer = await self._json("GET", "/audit", params=params)
        return [_serialize().audit_from_dict(e) for e in answer]

    async def subscribe(self) -> AsyncIterator[Event]:
        """Events from ``GET /api/v1/events``, reconnecting with exponential backoff.

        Losing the stream yields ``SchedulerState("disconnected", reason)`` once (and clears
        :attr:`connected`); getting it back yields ``SchedulerState("connected", url)`` and
        ``Dropped(0)``: events were missed, reload. A refused API key ends the iteration with
        :class:`Unauthorized`.
        """
        delay = self.retry_initial
        lost = False
        timeout = httpx.Timeout(self._client.timeout.connect, read=self.stream_timeout)
        while True:
            reason = "the event stream ended"
            try:
                async with self._client.stream(
                    "GET", "/events", headers={"Accept": "text/event-stream"}, timeout=timeout
                ) as response:
                    if response.status_code >= 400:
                        await response.aread()
                        try:
                            answer = response.json()
                        except ValueError:
                            answer = {}
                        error = error_from_answer(response.status_code, answer)
                        if response.status_code < 500:
                            raise error
                        reason = str(error)
                    else:
                        self._connected = True
                        delay = self.retry_initial
                        if lost:
                            lost = False
                            yield SchedulerState("connected", self.url)
                            yield Dropped(0)
                        async for event in _read_events(response):
                            yield event
            except httpx.TransportError as exc:
                reason = str(exc) or type(exc).__name__
            self._connected = False
            if not lost:
                lost = True
                yield SchedulerState("disconnected", reason)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max)


async def _read_events(response: httpx.Response) -> AsyncIterator[Event]:
    """Parse ``text/event-stream`` lines into events (unknown kinds are skipped)."""
    kind: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                event = _decode(kind or "message", "\n".join(data))
                if event is not None:
                    yield event
            kind, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            kind = value
        elif name == "data":
            data.append(value)


def _decode(kind: str, text: str) -> Event | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, Mapping):
        return None
    serialize = _serialize()
    try:
        if kind == "run":
            return RunChanged(serialize.run_from_dict(data))
        if kind == "job":
            return JobChanged(str(data["job_id"]), str(data.get("change") or "updated"))
        if kind == "iteration":
            return IterationRecorded(serialize.iteration_from_dict(data))
        if kind == "audit":
            return AuditRecorded(serialize.audit_from_dict(data))
        if kind == "scheduler":
            return SchedulerState(str(data.get("state") or ""), str(data.get("detail") or ""))
        if kind == "dropped":
            return Dropped(int(data.get("count") or 0))
    except (KeyError, TypeError, ValueError):
        return None  # a shape this client does not know: skip it rather than stop
    return None
