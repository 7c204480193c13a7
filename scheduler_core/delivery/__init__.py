"""Delivery routing: a finished run's output to the channels its job lists.

Built-in channels (the guide's names): ``stdout``, ``log_file``, ``webhook``, ``slack``,
``email``; custom channels from ``[scheduler.delivery] custom`` (``name = "module:Class"``) or the
``symbi.delivery`` entry point group. The scheduler calls :meth:`Deliverer.deliver` after a run
and stores :func:`delivery_details` of the results in ``JobRun.details["delivery"]``.
"""

from __future__ import annotations

__all__ = [
    "BUILTIN_CHANNELS",
    "DELIVERABLE_STATUSES",
    "ENTRY_POINT_GROUP",
    "ChannelRegistry",
    "Delivered",
    "Deliverer",
    "DeliveryContext",
    "DeliveryFailure",
    "DeliveryResult",
    "DeliveryRouter",
    "EmailRouter",
    "LogFileRouter",
    "SecretMasker",
    "SlackRouter",
    "StdoutRouter",
    "WebhookRouter",
    "canonical_builtin",
    "delivery_details",
    "safe_filename",
    "tls_context_from_ca_file",
]

from typing import TYPE_CHECKING, Any

from .base import (
    Delivered,
    DeliveryContext,
    DeliveryFailure,
    DeliveryResult,
    DeliveryRouter,
    SecretMasker,
)
from .registry import BUILTIN_CHANNELS, ENTRY_POINT_GROUP, ChannelRegistry, canonical_builtin

if TYPE_CHECKING:
    from .dispatcher import DELIVERABLE_STATUSES, Deliverer, delivery_details
    from .email import EmailRouter, tls_context_from_ca_file
    from .log_file import LogFileRouter, safe_filename
    from .slack import SlackRouter
    from .stdout import StdoutRouter
    from .webhook import WebhookRouter

#: names imported at first use: a scheduler that has not delivered yet (the service's checks of
#: new jobs need only the registry) does not pay for the dispatcher, SMTP or HTTP clients
_LAZY = {
    "DELIVERABLE_STATUSES": "dispatcher",
    "Deliverer": "dispatcher",
    "delivery_details": "dispatcher",
    "EmailRouter": "email",
    "tls_context_from_ca_file": "email",
    "LogFileRouter": "log_file",
    "safe_filename": "log_file",
    "SlackRouter": "slack",
    "StdoutRouter": "stdout",
    "WebhookRouter": "webhook",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
