"""``symbi cron run`` with no scheduler anywhere: run that one run in this process.

Why this way. The run must go through exactly what a daemon would do with it: the policy gate
(deny, approval, AgentPin), the session modes and heartbeat loop, ``max_runtime``, the finish
bookkeeping (retries, dead letter, audit, statistics) and delivery. So this process runs a real
:class:`~scheduler_core.scheduling.CronScheduler`, built by a real
:class:`~scheduler_core.engine.Engine` (same gate, executor and deliverer wiring as the daemon),
with ``fire_due=False``: it claims no due job (other jobs' instants are left to the next real
scheduler, which fires or catches them up by their own ``catch_up`` rules), expires no approval,
and starts only the run it is allowed (other queued runs, retries among them, stay queued).

The scheduler takes the store lease like any other, so a daemon started meanwhile waits as a
standby instead of firing beside us, and runs left ``running`` by a dead process are recovered as
``interrupted``, as a daemon would on start.

The caller has checked that no live lease exists; if another process takes the lease in the
meantime, this scheduler stays a standby and the run is left queued for the holder.
"""

from __future__ import annotations

__all__ = ["LocalRun"]

import os
import socket

from scheduler_core.config import SchedulerConfig
from scheduler_core.engine import Engine
from scheduler_core.model import new_id
from scheduler_core.runtime.agents import AgentExecutor
from scheduler_core.service import SchedulerService
from scheduler_core.store import JobStore

from .connect import local_agents


class LocalRun:
    """An engine that executes the runs it is given, and nothing else, while it is open."""

    def __init__(self, config: SchedulerConfig, store: JobStore) -> None:
        executor = AgentExecutor(local_agents(config, warn=False))
        owner = f"symbi-cli@{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"
        self.engine = Engine(
            config, executor=executor, store=store, owner=owner, fire_due=False, keep_store=True
        )
        self.service: SchedulerService | None = None
        self._stopped = False

    async def start(self) -> bool:
        """Start the engine; False if another scheduler holds the lease (it will run the run)."""
        self.service = await self.engine.start()
        scheduler = self.engine.scheduler
        return scheduler is not None and scheduler.is_leader

    def allow(self, run_id: str) -> None:
        """Let the scheduler start ``run_id`` (queued by :attr:`service`), now."""
        if self.engine.scheduler is not None:
            self.engine.scheduler.allow_run(run_id)

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
