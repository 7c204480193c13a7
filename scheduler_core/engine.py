"""Engine: the store, event bus, scheduler and service wired together, as one async context.

Front ends (console, daemon, CLI, tests) build an Engine instead of wiring the parts themselves.
"""

from __future__ import annotations

__all__ = ["Engine"]

import logging
import random
import sys
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from .clock import Clock, SystemClock
from .errors import AgentPinError
from .events import AuditRecorded, EventBus
from .model import AuditEventType, JobDefinition, JobRun, job_event
from .named_policies import KIND as POLICY_KIND
from .named_policies import take_registered_policies
from .policy import PolicyGate
from .runtime.base import Executor
from .scheduling import CronScheduler
from .service import SchedulerService
from .settings import SchedulerConfig
from .store import JobStore, open_store
from .store.retention import RetentionPolicy
from .telemetry import NO_TELEMETRY, Telemetry, open_telemetry

log = logging.getLogger("symbi.scheduler")

if TYPE_CHECKING:
    from .agentpin import AgentPinVerifier
    from .delivery import ChannelRegistry, Deliverer
    from .runtime.agents import AgentExecutor
    from .runtime.ledger import AgentLedger


def _agent_executor(executor: Executor | None) -> AgentExecutor | None:
    """``executor`` if it is an :class:`~scheduler_core.runtime.agents.AgentExecutor`. Only a
    process that made one has imported that module (and its runners), so a process that has not
    does not import it just to ask."""
    module = sys.modules.get("scheduler_core.runtime.agents")
    if module is not None and isinstance(executor, module.AgentExecutor):
        found: AgentExecutor = executor
        return found
    return None


class Engine:
    """Opens the store; with ``run_scheduler`` it also runs (or stands by as) the scheduler."""

    def __init__(
        self,
        config: SchedulerConfig | None = None,
        *,
        executor: Executor | None = None,
        clock: Clock | None = None,
        store: JobStore | None = None,
        gate: PolicyGate | None = None,
        run_scheduler: bool = True,
        api_address: str | None = None,
        owner: str | None = None,
        rng: random.Random | None = None,
        deliverer: Deliverer | None = None,
        stdout: TextIO | None = None,
        fire_due: bool = True,
        keep_store: bool = False,
        telemetry: Telemetry | None = None,
    ) -> None:
        """``fire_due=False``: the scheduler fires nothing due and starts only the runs it is
        allowed (see :class:`~scheduler_core.scheduling.CronScheduler`). ``keep_store``: a
        ``store`` handed in stays open at :meth:`stop` (its owner closes it). ``telemetry``:
        where the scheduler's run spans go (default: what ``[telemetry]`` asks for, made at
        :meth:`start`); the engine shuts it down at :meth:`stop`."""
        self.config = config or SchedulerConfig()
        self.clock: Clock = clock or SystemClock()
        self.bus = EventBus()
        self._store = store
        self._executor = executor
        self._gate = gate
        self._run_scheduler = run_scheduler
        self._api_address = api_address
        self._owner = owner
        self._rng = rng
        self._deliverer = deliverer
        self._stdout = stdout  #: where the stdout delivery channel writes (the console: a file)
        self._fire_due = fire_due
        self._keep_store = keep_store
        self.telemetry: Telemetry = telemetry or NO_TELEMETRY
        self._telemetry_given = telemetry is not None
        self._stopped = False
        self.scheduler: CronScheduler | None = None
        #: the process groups of this scheduler's command agents (see runtime.ledger)
        self.ledger: AgentLedger | None = None
        self._verifier: AgentPinVerifier | None = None
        self._channels: ChannelRegistry | None = None
        self.service: SchedulerService | None = None

    @property
    def store(self) -> JobStore:
        if self._store is None:
            raise RuntimeError("the engine is not started")
        return self._store

    async def start(self) -> SchedulerService:
        from .delivery.checks import DeliveryRules
        from .llm_cost import Budgets, Pricing
        from .policy import SchedulePolicyGate

        if self._store is None:
            self._store = await open_store(self.config.store_url())
        agent_executor = _agent_executor(self._executor)
        # one agent registry for the executor, the policy gate and the service's checks
        agents = agent_executor.agents if agent_executor is not None else dict(self.config.agents)
        policies = dict(self.config.policies)  # one registry for the gate and the service's checks
        gate = self._gate or SchedulePolicyGate(
            agents=agents,
            policies=policies,
            environment=self.config.scheduler.environment,
            clock=self.clock,
            verify_pin=self._verify_pin,
            pin_required=self.config.agentpin.required,
            budgets=Budgets(self._store, global_limit=self.config.scheduler.max_llm_cost_per_day),
        )
        # the named policies registered in the store, known before the first run is gated
        registered_policies: set[str] = set()
        store = self._store

        async def refresh_policies() -> list[str]:
            stored = await store.list_definitions(POLICY_KIND)
            return take_registered_policies(stored, policies, registered_policies)

        for warning in await refresh_policies():
            log.warning("%s", warning)
        if isinstance(gate, SchedulePolicyGate):
            gate.refresh = refresh_policies
        if self._run_scheduler:
            if self._executor is None:
                raise ValueError("an executor is needed to run the scheduler")
            from .runtime.ledger import AgentLedger

            if not self._telemetry_given:
                self.telemetry = open_telemetry(self.config.telemetry)

            self.ledger = AgentLedger(self.config.resolved_data_dir() / "agents")
            if agent_executor is not None and agent_executor.ledger is None:
                agent_executor.ledger = self.ledger
            self.scheduler = CronScheduler(
                self._store,
                self._executor,
                settings=self.config.scheduler,
                clock=self.clock,
                bus=self.bus,
                gate=gate,
                owner=self._owner,
                api_address=self._api_address,
                rng=self._rng,
                deliverer=self._deliverer,
                make_deliverer=self._make_deliverer,
                fire_due=self._fire_due,
                ledger=self.ledger,
                retention=RetentionPolicy.of(self.config.store),
                prune_interval=self.config.store.prune_interval_seconds,
                pricing=Pricing(self.config.llm.prices),
                telemetry=self.telemetry,
            )
            await self.scheduler.start()
        self.service = SchedulerService(
            self._store,
            config=self.config,
            clock=self.clock,
            bus=self.bus,
            scheduler=self.scheduler,
            agents=agents if agent_executor is not None else None,
            rules=DeliveryRules.of(self.config, self._registry()),
            policies=policies,
        )
        self.service.registered_policies = registered_policies
        if agent_executor is not None:
            for warning in await self.service.load_registered_agents():
                log.warning("%s", warning)
            agent_executor.find_agent = self.service.find_agent
        return self.service

    def _make_deliverer(self) -> Deliverer:
        from .delivery import Deliverer, tls_context_from_ca_file
        from .secrets import SecretPolicy

        settings = self.config.scheduler.delivery
        tls = tls_context_from_ca_file(settings.smtp_ca_file) if settings.smtp_ca_file else None
        return Deliverer(
            settings,
            data_dir=self.config.resolved_data_dir(),
            secrets=SecretPolicy.of(self.config.secrets),
            registry=self._registry(),
            now=self.clock.now,
            smtp_tls_context=tls,
            stream=self._stdout,
        )

    def _registry(self) -> ChannelRegistry:
        """One channel registry for the deliveries and the service's checks of new jobs (an
        injected deliverer's, with the routers it was given)."""
        if self._channels is None:
            from .delivery import ChannelRegistry

            if self._deliverer is not None:
                self._channels = self._deliverer.registry
            else:
                self._channels = ChannelRegistry(self.config.scheduler.delivery.custom)
        return self._channels

    async def _verify_pin(self, job: JobDefinition, run: JobRun) -> None:
        """AgentPin verification for the policy gate; a failure is audited (with the run it
        denies), then denies."""
        from .agentpin import AgentPinVerifier

        try:
            if not job.agent_pin_jwt:
                raise AgentPinError("the job carries no agent_pin_jwt", check="token")
            token = job.agent_pin_jwt
            if "${" in token:  # expanded now, from what [secrets] allows (checked at creation)
                from .envvars import expand_vars
                from .secrets import SecretPolicy

                token, missing = expand_vars(
                    token, SecretPolicy.of(self.config.secrets).environment()
                )
                if missing:
                    names = ", ".join(f"${{{m}}}" for m in dict.fromkeys(missing))
                    raise AgentPinError(
                        f"agent_pin_jwt uses {names}, which is not set or not allowed by [secrets]",
                        check="token",
                    )
            if self._verifier is None:
                self._verifier = AgentPinVerifier(self.config.agentpin, clock=self.clock)
            await self._verifier.verify(token, job.agent)
        except AgentPinError as exc:
            event = job_event(
                AuditEventType.AGENT_PIN_VERIFICATION_FAILED,
                at=self.clock.now(),
                actor="scheduler",
                job=job,
                run=run,
                check=exc.check,
                reason=str(exc),
            )
            await self.store.record_audit([event])
            self.bus.publish(AuditRecorded(event))
            raise

    async def stop(self) -> None:
        """Stop the scheduler and close what the engine opened; a second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self.ledger is not None:
            self.ledger.close()
        close = getattr(self._executor, "aclose", None)
        if close is not None:
            await close()
        if self._verifier is not None:
            await self._verifier.aclose()
        made = self.scheduler.made_deliverer if self.scheduler is not None else None
        if made is not None:
            await made.aclose()
        await self.telemetry.shutdown()  # the last spans (deliveries included) are exported
        if self._store is not None and not self._keep_store:
            await self._store.close()

    async def __aenter__(self) -> SchedulerService:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
