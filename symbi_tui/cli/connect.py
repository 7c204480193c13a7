"""Which scheduler a ``symbi`` command talks to: the lease holder's API, or the store itself.

The rule (``symbi --help`` and docs/cli.md say the same):

1. ``--connect URL`` names a daemon: its API, always.
2. Otherwise the store is opened and its lease read. A live holder (lease not expired, and, on this
   host, its process still there) that serves an API is used through that API, with the key from
   ``SYMBI_API_KEY``, else ``[api] api_keys``, else ``<data dir>/api-key`` (the file the daemon
   writes). If that API cannot be reached or refuses the key, the command falls back to the store
   with a warning: the holder sees store writes within one tick.
3. Otherwise (no live holder, or one without an API) commands use the store directly through a
   ``SchedulerService`` that does not fire jobs. ``run`` then executes in this process only when
   nobody holds the lease (:mod:`symbi_tui.cli.oneshot`); under a holder it is queued for it.
"""

from __future__ import annotations

__all__ = ["Connection", "connect", "holder_is_live", "local_agents"]

import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from scheduler_core.api.auth import local_api_key
from scheduler_core.config import SchedulerConfig
from scheduler_core.errors import DslError
from scheduler_core.liveness import process_alive
from scheduler_core.model import AgentDefinition
from scheduler_core.store import JobStore, LeaseInfo
from scheduler_core.textsafe import visible

from ..backend import Backend


@dataclass(slots=True, kw_only=True)
class Connection:
    """What a command talks to, and how it got there."""

    backend: Backend
    via: str  #: "api" or "store"
    address: str  #: the API URL, or the store's URL
    config: SchedulerConfig
    #: the live lease holder (None: nobody fires jobs from this store right now)
    holder: LeaseInfo | None = None
    #: the open store, on the store path
    store: JobStore | None = None


def holder_is_live(lease: LeaseInfo | None, now: datetime | None = None) -> bool:
    """A lease that has not expired, held by a process that (on this host) still exists."""
    if lease is None or not lease.is_live(now or datetime.now(UTC)):
        return False
    return process_alive(lease.pid, lease.host, lease.machine)


def local_agents(config: SchedulerConfig, *, warn: bool = True) -> dict[str, AgentDefinition]:
    """The agents this machine's scheduler would know: the config's plus its DSL files'."""
    agents = dict(config.agents)
    if config.dsl_paths:
        from scheduler_core.dsl import load_dsl_files

        try:
            bundle = load_dsl_files(list(config.dsl_paths), known_agents=set(agents) or None)
        except DslError as exc:
            if warn:
                print(
                    f"symbi: warning: the configured dsl_paths have errors; their agents are "
                    f"not loaded ({exc.first or exc})",
                    file=sys.stderr,
                )
        else:
            for agent in bundle.agents:
                agents[agent.name] = agent
    return agents


def _warn(message: str) -> None:
    print(visible(f"symbi: warning: {message}"), file=sys.stderr)


@contextlib.asynccontextmanager
async def connect(
    config: SchedulerConfig, *, store_url: str, api_url: str | None = None
) -> AsyncIterator[Connection]:
    """Open what the command should talk to (see the module docstring); close it afterwards."""
    if api_url is not None:
        from ..remote import RemoteBackend

        remote = RemoteBackend(api_url, api_key=local_api_key(config))
        try:
            yield Connection(backend=remote, via="api", address=remote.url, config=config)
        finally:
            await remote.aclose()
        return

    from scheduler_core.store import open_store

    store = await open_store(store_url)
    try:
        lease = await store.get_lease()
        holder = lease if holder_is_live(lease) else None
        if holder is not None and holder.api_address:
            from ..remote import Disconnected, RemoteBackend, Unauthorized

            remote = RemoteBackend(holder.api_address, api_key=local_api_key(config))
            try:
                await remote.list_jobs(limit=1)  # reachable, and the key is accepted
            except (Disconnected, Unauthorized) as exc:
                await remote.aclose()
                _warn(f"{exc}; using the store {store_url} directly")
            else:
                try:
                    yield Connection(
                        backend=remote,
                        via="api",
                        address=remote.url,
                        config=config,
                        holder=holder,
                    )
                finally:
                    await remote.aclose()
                return
        async with _store_backend(config, store) as backend:
            yield Connection(
                backend=backend,
                via="store",
                address=store_url,
                config=config,
                holder=holder,
                store=store,
            )
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def _store_backend(config: SchedulerConfig, store: JobStore) -> AsyncIterator[Backend]:
    from scheduler_core.service import SchedulerService

    from ..backend import LocalBackend

    # the service checks job agents against these, as the daemon would
    service = SchedulerService(store, config=config, agents=local_agents(config))
    yield LocalBackend(service, service.bus, actor="cli")
