"""RemoteBackend: the :class:`~symbi_tui.backend.Backend` protocol over a daemon's HTTP API.

Every method is one request to ``/api/v1`` with ``Authorization: Bearer KEY``; answers are turned
back into ``scheduler_core.model`` records, and error answers back into the
``scheduler_core.errors`` exceptions the service raised on the daemon (``JobNotFound`` with its
suggestion, ``ValidationError`` with its field, ``ConflictError``, ``RunNotFound``...), so a front
end cannot tell a remote scheduler from an embedded one. Live events come from the server-sent
event stream (``GET /api/v1/events``), which :meth:`RemoteBackend.subscribe` reconnects with
exponential backoff; :attr:`RemoteBackend.connected` says whether the daemon is reachable.

The JSON shapes, and the errors only a remote backend can meet (:class:`RemoteError`,
:class:`Unauthorized`, :class:`Disconnected`), are :mod:`scheduler_core.wire`'s.
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
import json
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from scheduler_core.access import Principal, Role
from scheduler_core.backfill import Backfill, backfill_from_dict
from scheduler_core.clock import format_instant, parse_instant
from scheduler_core.errors import (
    DslError,
    DslIssue,
    JobNotFound,
    RunNotFound,
    SchedulerError,
    ValidationError,
)
from scheduler_core.events import (
    Dropped,
    Event,
    SchedulerState,
)
from scheduler_core.jobspec import spec_to_json
from scheduler_core.llm_cost import CostReport
from scheduler_core.logfile import LogPage, LogQuery
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
from scheduler_core.store.base import JobPage
from scheduler_core.store.retention import PruneReport, StoreStats
from scheduler_core.wire import (
    Disconnected,
    RemoteError,
    Unauthorized,
    audit_from_dict,
    error_from_answer,
    event_from_wire,
    health_from_dict,
    iteration_from_dict,
    job_from_dict,
    log_page_from_dict,
    run_from_dict,
)

from .backend import CONNECTED, FINAL_RUN_STATUSES, Connection

if TYPE_CHECKING:
    from scheduler_core.dsl import DslBundle

_PREFIX = "/api/v1"
#: how many recent runs of a job are looked at to find its last finished one
_LAST_RESULT_WINDOW = 20


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
        self.embedded = False
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
        self._connection = Connection("connecting")
        self._whoami: Principal | None = None

    @property
    def connected(self) -> bool:
        """Whether the last request (or the event stream) reached the daemon (which may still
        have refused the key)."""
        return self._connection.state in ("connected", "unauthorized")

    @property
    def connection(self) -> Connection:
        return self._connection

    def _reached(self, status: int) -> None:
        if status == 401:
            return  # (the error raised says so: see _refused; a 403 is a known key's refusal)
        if self._connection.state != "connected":
            self._connection = CONNECTED

    def _refused(self, error: Exception) -> None:
        self._connection = Connection("unauthorized", str(error))

    def _lost(self, reason: str, retry_in: float | None = None) -> None:
        current = self._connection
        retry_at = time.monotonic() + retry_in if retry_in is not None else None
        if retry_at is None and current.state == "disconnected":
            retry_at = current.retry_at  # the event stream's next attempt still stands
        self._connection = Connection("disconnected", reason, retry_at)

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
        wait: bool = False,
    ) -> httpx.Response:
        """``wait``: no time limit (a request that works as long as it must, like pruning)."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        extra: dict[str, Any] = {"timeout": None} if wait else {}
        try:
            response = await self._client.request(
                method,
                path,
                params=query or None,
                json=body if body is not None else None,
                **extra,
            )
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            self._lost(reason)
            raise Disconnected(f"cannot reach the scheduler at {self.url}: {reason}") from None
        self._reached(response.status_code)
        if response.status_code >= 400:
            try:
                answer = response.json()
            except ValueError:
                answer = {"error": response.text[:200] or response.reason_phrase}
            error = error_from_answer(response.status_code, answer, job=job, run=run)
            if isinstance(error, Unauthorized):
                self._refused(error)
            raise error
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

    async def whoami(self) -> Principal:
        """The key's name and role, as the daemon knows them (``GET /api/v1/whoami``; asked
        once: a key's role does not change while the daemon runs)."""
        if self._whoami is not None:
            return self._whoami
        answer = await self._json("GET", "/whoami")
        try:
            self._whoami = Principal(str(answer["key"]), Role(str(answer["role"])))
        except (KeyError, TypeError, ValueError):
            raise RemoteError(
                f"the scheduler at {self.url} did not say which key this is", status=200
            ) from None
        return self._whoami

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
        after: str | None = None,
    ) -> JobPage:
        params = {
            "status": status.value if status is not None else None,
            "agent_id": agent or None,
            "q": text or None,
            "limit": limit,
            "offset": offset,
            "order": order,
            "desc": "true" if descending else None,
            "after": after,
        }
        response = await self._call("GET", "/schedule", params=params)
        jobs = [job_from_dict(d) for d in response.json()]
        try:
            total = int(response.headers.get("X-Total-Count", ""))
        except ValueError:
            total = offset + len(jobs)
        # a daemon before cursors sends none: the caller pages by offset then
        cursor = response.headers.get("X-Next-Cursor") or None
        return JobPage(jobs=jobs, total=total, next_cursor=cursor)

    async def get_job(self, ref: str) -> JobDefinition:
        return job_from_dict(await self._json("GET", self._job_path(ref), job=ref))

    async def add_job(self, spec: Mapping[str, Any]) -> JobDefinition:
        return job_from_dict(await self._json("POST", "/schedule", body=dict(spec)))

    async def update_job(self, ref: str, changes: Mapping[str, Any]) -> JobDefinition:
        return job_from_dict(await self._json("PUT", self._job_path(ref), body=dict(changes)))

    async def export_jobs(self, refs: Sequence[str] = (), *, format: str = "symbi") -> str:
        """The daemon's export (its agents, its config's policies); jobs holding a secret
        written literally need an admin key (403 otherwise)."""
        params: dict[str, Any] = {"format": format, "name": list(refs) or None}
        job = refs[0] if len(refs) == 1 else None
        return (await self._call("GET", "/export", params=params, job=job)).text

    async def apply_dsl(self, paths: Sequence[str], *, schedule: str | None = None) -> ApplyResult:
        """Files are read (and their errors reported, file:line:col) here; their schedules,
        with the agent blocks they name, are sent in one request and applied all or nothing,
        keyed by name (the daemon registers the agents in its store, within what its ``[api]
        agent_definitions`` allows).
        """
        from scheduler_core.dsl import load_dsl_files
        from scheduler_core.dsl.agents import agent_to_mapping
        from scheduler_core.jobspec import policy_to_mapping

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
        named = {job.agent for job in jobs}
        agents = {
            a.name: agent_to_mapping(a)
            for a in bundle.agents
            if schedule is None or a.name in named
        }
        listed = {name for job in jobs for name in job.policies}
        policies = {
            p.name: policy_to_mapping(p.spec)
            for p in bundle.policies
            if schedule is None or p.name in listed
        }
        body: dict[str, Any] = {"jobs": specs}
        if agents:
            body["agents"] = agents
        if policies:
            body["policies"] = policies
        try:
            answer = await self._json("POST", "/apply", body=body)
        except ValidationError as exc:
            raise _in_files(exc, jobs, bundle) from None
        return ApplyResult(
            created=list(answer.get("created") or []),
            updated=list(answer.get("updated") or []),
            unchanged=list(answer.get("unchanged") or []),
            agents=list(answer.get("agents") or []),
            policies=list(answer.get("policies") or []),
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

    async def job_cost(self, ref: str, days: int = 7) -> CostReport:
        answer = await self._json(
            "GET", self._job_path(ref, "cost"), params={"days": days}, job=ref
        )
        return CostReport.from_dict(answer)

    async def followers(self, ref: str) -> list[str]:
        answer = await self._json("GET", self._job_path(ref, "chain"), job=ref)
        return [str(name) for name in answer.get("followers") or []]

    async def effective_policy(self, ref: str) -> dict[str, Any]:
        answer = await self._json("GET", self._job_path(ref, "policy"), job=ref)
        return dict(answer)

    # --- runs -------------------------------------------------------------------------------------

    async def run_now(self, ref: str, *, input: str | None = None) -> JobRun:
        body = {"input": input} if input is not None else None
        answer = await self._json("POST", self._job_path(ref, "run"), body=body, job=ref)
        return run_from_dict(answer)

    async def backfill(
        self,
        ref: str,
        *,
        start: str | datetime,
        end: str | datetime | None = None,
        dry_run: bool = False,
    ) -> Backfill:
        body: dict[str, Any] = {"from": _instant_text(start), "dry_run": dry_run}
        if end is not None:
            body["to"] = _instant_text(end)
        answer = await self._json("POST", self._job_path(ref, "backfill"), body=body, job=ref)
        return backfill_from_dict(answer)

    async def get_run(self, run_id: str) -> JobRun:
        answer = await self._json("GET", self._run_path(run_id), run=run_id)
        return run_from_dict(answer)

    async def iterations(self, run_id: str) -> list[HeartbeatIteration]:
        answer = await self._json("GET", self._run_path(run_id, "iterations"), run=run_id)
        return [iteration_from_dict(i) for i in answer]

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
        runs = [run_from_dict(r) for r in answer]
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
        return [run_from_dict(r) for r in await self._json("GET", "/approvals")]

    async def _decide(self, run_id: str, action: str, reason: str | None) -> JobRun:
        body = {"reason": reason} if reason is not None else None
        answer = await self._json("POST", self._run_path(run_id, action), body=body, run=run_id)
        return run_from_dict(answer)

    async def approve(self, run_id: str, *, reason: str | None = None) -> JobRun:
        return await self._decide(run_id, "approve", reason)

    async def deny(self, run_id: str, *, reason: str | None = None) -> JobRun:
        return await self._decide(run_id, "deny", reason)

    async def cancel_run(self, run_id: str) -> JobRun:
        answer = await self._json("POST", self._run_path(run_id, "cancel"), run=run_id)
        return run_from_dict(answer)

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
        return [audit_from_dict(e) for e in answer]

    async def logs(self, query: LogQuery, *, cursor: str | None = None) -> LogPage:
        """The daemon's log lines (``GET /api/v1/logs``): the last ones wanted, or, after
        ``cursor``, those written since (``symbi logs --follow``)."""
        params = {
            "component": query.component,
            "level": query.level,
            "since": format_instant(query.since) if query.since is not None else None,
            "limit": query.limit,
            "cursor": cursor,
        }
        return log_page_from_dict(await self._json("GET", "/logs", params=params))

    # --- the store ------------------------------------------------------------------------------

    async def store_stats(self) -> StoreStats:
        return StoreStats.from_dict(await self._json("GET", "/store/stats", wait=True))

    async def prune_store(self, *, dry_run: bool = False) -> PruneReport:
        answer = await self._json("POST", "/store/prune", body={"dry_run": dry_run}, wait=True)
        return PruneReport.from_dict(answer)

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
                        if isinstance(error, Unauthorized):
                            self._refused(error)
                        if response.status_code < 500:
                            raise error
                        reason = str(error)
                    else:
                        self._reached(response.status_code)
                        delay = self.retry_initial
                        if lost:
                            lost = False
                            yield SchedulerState("connected", self.url)
                            yield Dropped(0)
                        async for event in _read_events(response):
                            yield event
            except httpx.TransportError as exc:
                reason = str(exc) or type(exc).__name__
            self._lost(reason, retry_in=delay)
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
                event = event_from_wire(kind or "message", "\n".join(data))
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


_APPLY_FIELD = re.compile(r"^jobs\[(\d+)\](?:\.(.+))?$")


def _in_files(
    error: ValidationError, jobs: Sequence[JobDefinition], bundle: DslBundle
) -> SchedulerError:
    """The daemon's refusal of schedules it was sent (``jobs[1].webhook_url: ...``, what its
    own channels and ``[secrets]`` allow, the agents and policies it knows) at the place of each
    schedule in its file (of the name, for an agent, policy or ``after`` it does not know)."""
    issues: list[DslIssue] = []
    for err in error.errors:
        m = _APPLY_FIELD.match(err.field or "")
        if m is None or int(m[1]) >= len(jobs):
            return error
        job = jobs[int(m[1])]
        place = bundle.ref_location(job.name, m[2] or "")  # the name it refused, if one
        path, line, col = place or (bundle.paths[0], 1, 1)
        where = f"{m[2]}: " if m[2] else ""
        message = f'schedule "{job.name}": {where}{err.reason} (refused by the scheduler)'
        issues.append(DslIssue(path, line, col, message))
    return DslError(issues) if issues else error


def _instant_text(value: str | datetime) -> str:
    """An instant for the API as given: text as typed (a naive one is the job's wall time,
    which only the daemon knows), a datetime with its offset."""
    return value if isinstance(value, str) else value.isoformat()
