"""``symbi cron run`` with no scheduler anywhere: run that one run in this process.

Why this way. The run must go through exactly what a daemon would do with it: the policy gate
(deny, approval, AgentPin), the session modes and heartbeat loop, ``max_runtime``, the finish
bookkeeping (retries, dead letter, audit, statistics) and delivery. All of that is
:class:`~scheduler_core.scheduling.CronScheduler`, so we run a real one, built by a real
:class:`~scheduler_core.engine.Engine` (same gate, executor and deliverer wiring as the daemon),
over a store *view* that narrows what this scheduler may touch:

* ``claim_due`` claims nothing: other jobs' due instants are left to the next real scheduler
  (which fires or catches them up by their own ``catch_up`` rules);
* ``start_queued`` starts only our run: other queued runs (retries, approved runs) stay queued;
* ``expired_approvals`` expires nothing, and ``next_wakeup`` reports nothing due.

The scheduler takes the store lease like any other, so a daemon started meanwhile waits as a
standby instead of firing beside us, and runs left ``running`` by a dead process are recovered as
``interrupted``, as a daemon would on start. The view is built on the public ``JobStore`` protocol
and the public ``Engine``/``CronScheduler`` constructors; nothing private is touched.

The caller has checked that no live lease exists; if another process takes the lease in the
meantime, this scheduler stays a standby and the run is left queued for the holder.
"""

from __future__ import annotations

__all__ = ["LocalRun", "OneRunStore"]

import os
import socket
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from scheduler_core.config import SchedulerConfig
from scheduler_core.engine import Engine
from scheduler_core.model import JobDefinition, JobRun, new_id
from scheduler_core.runtime.agents import AgentExecutor
from scheduler_core.service import SchedulerService
from scheduler_core.store import JobStore, StartPlan
from scheduler_core.store.base import ClaimPlan

from .connect import local_agents


class OneRunStore:
    """A ``JobStore`` that lets its scheduler start one run (``only``) and fire nothing else.

    Every other call goes to the real store. ``close`` does nothing: the caller owns the store.
    """

    def __init__(self, store: JobStore) -> None:
        self._store = store
        #: the one run the scheduler may start (None: none yet)
        self.only: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def close(self) -> None:
        return None

    async def claim_due(
        self, now: datetime, limit: int, owner: str, planner: Any, *, until: datetime | None = None
    ) -> list[ClaimPlan] | None:
        return []

    async def next_wakeup(self, now: datetime, ahead: float = 0.0) -> datetime | None:
        return None

    async def expired_approvals(self, now: datetime) -> list[str]:
        return []

    async def start_queued(
        self, now: datetime, limit: int, owner: str, planner: Any
    ) -> list[StartPlan] | None:
        only = self.only

        def narrowed(
            pairs: Sequence[tuple[JobRun, JobDefinition]], others: Mapping[str, int]
        ) -> list[StartPlan]:
            mine = [(run, job) for run, job in pairs if run.id == only]
            return planner(mine, others) if mine else []

        return await self._store.start_queued(now, limit, owner, narrowed)


class LocalRun:
    """An engine that executes the runs it is given, and nothing else, while it is open."""

    def __init__(self, config: SchedulerConfig, store: JobStore) -> None:
        self.view = OneRunStore(store)
        executor = AgentExecutor(local_agents(config, warn=False))
        owner = f"symbi-cli@{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"
        self.engine = Engine(config, executor=executor, store=self.view, owner=owner)
        self.service: SchedulerService | None = None
        self._stopped = False

    async def start(self) -> bool:
        """Start the engine; False if another scheduler holds the lease (it will run the run)."""
        self.service = await self.engine.start()
        scheduler = self.engine.scheduler
        return scheduler is not None and scheduler.is_leader

    def allow(self, run_id: str) -> None:
        """Let the scheduler start ``run_id`` (queued by :attr:`service`), now."""
        self.view.only = run_id
        if self.engine.scheduler is not None:
            self.engine.scheduler.notify()

    async def stop(self, *, interrupt: bool = False) -> None:
        """Stop (once): wait for deliveries; with ``interrupt``, cancel the run
        (``interrupted``) instead of waiting for it."""
        if self._stopped:
            return
        self._stopped = True
        scheduler = self.engine.scheduler
        if scheduler is not None and interrupt:
            await scheduler.stop(grace=0)
        await self.engine.stop()
