"""What a job's delivery may name on this installation, checked when the job is made.

The channels a job lists must exist (built in, configured under ``[scheduler.delivery.custom]``,
registered in code or installed as entry points), and its ``${VAR}`` must be on the operator's
allow-list (:mod:`scheduler_core.secrets`). Why at creation: a job that can only fail at
delivery fails at 3 a.m.; and a reference the operator did not allow must never be stored.
"""

from __future__ import annotations

__all__ = ["DeliveryRules"]

from dataclasses import field

from ..alerting import ALERT_EVENTS, AlertDefaults
from ..errors import ValidationError
from ..model import JobDefinition
from ..records import record
from ..secrets import SecretPolicy, check_job_secrets
from ..settings import SchedulerConfig
from .base import DeliveryFailure
from .registry import ChannelRegistry


@record
class DeliveryRules:
    """The checks of a job that need the configuration. ``registry`` None: channels unchecked."""

    secrets: SecretPolicy = field(default_factory=SecretPolicy)
    registry: ChannelRegistry | None = None
    #: the config's ``[scheduler.delivery]`` alert channels, for jobs that name none
    alert_defaults: AlertDefaults = field(default_factory=AlertDefaults)

    @classmethod
    def of(cls, config: SchedulerConfig, registry: ChannelRegistry | None = None) -> DeliveryRules:
        """The rules of ``config``: its ``[secrets]`` and its channels (``registry``: the one the
        deliveries use, when it was given routers in code)."""
        return cls(
            secrets=SecretPolicy.of(config.secrets),
            registry=registry or ChannelRegistry(config.scheduler.delivery.custom),
            alert_defaults=AlertDefaults.of(config.scheduler.delivery),
        )

    def check(self, job: JobDefinition) -> list[ValidationError]:
        """Every problem, each naming its field (``delivery[1]``, ``webhook_headers.X``)."""
        errors: list[ValidationError] = []
        if self.registry is not None:
            for i, name in enumerate(job.delivery):
                if not name.strip():
                    continue
                try:
                    self.registry.resolve(name)
                except DeliveryFailure as exc:
                    errors.append(ValidationError(exc.message, field=f"delivery[{i}]"))
            for event in ALERT_EVENTS:
                own = getattr(job, event)
                names = own if own is not None else self.alert_defaults.channels(event)
                where = event if own is not None else f"{event} (the config's default)"
                for i, name in enumerate(names):
                    try:
                        self.registry.resolve(name)
                    except DeliveryFailure as exc:
                        errors.append(ValidationError(exc.message, field=f"{where}[{i}]"))
        errors.extend(check_job_secrets(job, self.secrets))
        return errors

    def enforce(self, job: JobDefinition, prefix: str = "") -> None:
        """Raise one ValidationError listing every problem (fields under ``prefix``)."""
        errors = self.check(job)
        if errors:
            if prefix:
                errors = [
                    ValidationError(e.reason, field=f"{prefix}.{e.field}" if e.field else prefix)
                    for e in errors
                ]
            raise ValidationError.collect(errors)
