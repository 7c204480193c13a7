"""What keys a config file may hold: the tables, their fields and types, ranges, secrets."""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Mapping
from datetime import date, datetime, time
from functools import cache
from typing import Any, Union, get_args, get_origin, get_type_hints

from ..errors import ConfigError
from ..records import record
from ..settings import (
    AgentPinConfig,
    ApiConfig,
    DeliveryConfig,
    LlmConfig,
    LogConfig,
    SchedulerConfig,
    SchedulerSettings,
    SecretsConfig,
    StoreConfig,
    TelemetryConfig,
    TuiConfig,
)

#: environment variable -> (dotted key, kind); the guide's variables plus SYMBI_DB/SYMBI_DATA_DIR
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "SYMBI_SCHEDULER_MAX_JITTER": ("scheduler.max_jitter_seconds", "float"),
    "SYMBI_SCHEDULER_MAX_CONCURRENT": ("scheduler.max_concurrent_jobs", "int"),
    "SYMBI_SLACK_TOKEN": ("scheduler.delivery.slack_api_token", "str"),
    "SYMBI_WEBHOOK_AUTH_HEADER": ("scheduler.delivery.webhook_auth_header", "str"),
    "SYMBI_AGENTPIN_REQUIRED": ("agentpin.required", "bool"),
    "SYMBI_AGENTPIN_DOMAIN": ("agentpin.domain", "str"),
    "SYMBI_DB": ("store.url", "str"),
    "SYMBI_DATA_DIR": ("data_dir", "str"),
    "SYMBI_API_KEY": ("api.api_keys", "append"),
    "SYMBI_LOG_LEVEL": ("log.level", "str"),
}

#: settings shown as ``****`` by ``symbi config show``
SECRET_KEYS: frozenset[str] = frozenset(
    {
        "scheduler.delivery.slack_api_token",
        "scheduler.delivery.slack_webhook_url",
        "scheduler.delivery.smtp_password",
        "scheduler.delivery.webhook_auth_header",
        "api.api_keys",
        "secrets.values",
        "telemetry.headers",
    }
)

_TABLES: dict[str, type] = {
    "": SchedulerConfig,
    "scheduler": SchedulerSettings,
    "scheduler.delivery": DeliveryConfig,
    "store": StoreConfig,
    "api": ApiConfig,
    "agentpin": AgentPinConfig,
    "tui": TuiConfig,
    "log": LogConfig,
    "secrets": SecretsConfig,
    "llm": LlmConfig,
    "telemetry": TelemetryConfig,
}
_NOT_SETTABLE = {"path", "warnings"}
#: (minimum, maximum, minimum is exclusive); numbers not listed must be >= 0
_RANGES: dict[str, tuple[float, float | None, bool]] = {
    "scheduler.tick_interval_seconds": (0, 3600, True),
    "scheduler.max_concurrent_jobs": (1, 100_000, False),
    "scheduler.default_max_retries": (0, 1000, False),
    "scheduler.lease_ttl_seconds": (0, None, True),
    "scheduler.idle_lease_ttl_seconds": (0, None, False),
    "scheduler.store_retry_max_seconds": (0, 3600, True),
    "scheduler.idle_poll_seconds": (0, 3600, True),
    "scheduler.claim_batch_size": (1, None, False),
    "scheduler.claim_ahead_seconds": (0, 60, False),
    "scheduler.context_max_bytes": (1024, None, False),
    "scheduler.max_backfill_runs": (1, 1_000_000, False),
    "store.run_retention_days": (0, 36_500, False),
    "store.iteration_retention_days": (0, 36_500, False),
    "store.audit_retention_days": (0, 36_500, False),
    "store.keep_runs_per_job": (0, 1_000_000, False),
    "store.prune_interval_seconds": (1, 7 * 86400, False),
    "scheduler.delivery.webhook_timeout_seconds": (0, None, True),
    "scheduler.delivery.smtp_timeout_seconds": (0, None, True),
    "scheduler.delivery.smtp_port": (1, 65535, False),
    "api.port": (0, 65535, False),
    "tui.refresh_interval_seconds": (0, None, True),
    "log.max_bytes": (4096, None, False),
    "log.backup_count": (1, 1000, False),
    "scheduler.max_llm_cost_per_day": (0, None, True),
    "telemetry.export_timeout_seconds": (0, 600, True),
}
#: string settings that take one of a few words
CHOICES: dict[str, tuple[str, ...]] = {
    "log.level": ("debug", "info", "warning", "error", "critical"),
    "log.format": ("text", "json"),
    "api.agent_definitions": ("llm", "any", "none"),
}
#: longest config text read (a config file is a few kilobytes)
MAX_CONFIG_CHARS = 1 << 20
#: longest time in any ``*_seconds`` setting without its own bound (100 years)
MAX_SECONDS = 100 * 365 * 86400
_SECRET_NAME = re.compile(r"(?i)(token|secret|password|passwd|key|auth|credential)")


class ConfigErrors(ConfigError):
    """Several problems in one config file; ``errors`` lists each (the first sets key/line)."""

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__("config errors")
        # one line per problem, each already "path:line key: message"
        self.message = "\n".join(e.message for e in errors)
        self.args = (self.message,)
        self.key, self.path, self.line = first.key, first.path, first.line
        self.errors = list(errors)

    def details(self) -> dict[str, object]:
        return {
            "errors": [
                {"key": e.key, "path": e.path, "line": e.line, "message": e.message}
                for e in self.errors
            ]
        }


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, datetime | date | time):
        return "a date/time"
    return type(value).__name__


@record
class _Field:
    """One settable key: its dotted name, type and default."""

    key: str
    type: Any
    default: Any


@cache
def _hints(cls: type) -> dict[str, Any]:
    """The dataclass's resolved annotations (cached: resolving them cost ~10 ms per load)."""
    return get_type_hints(cls)


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return (args[0] if len(args) == 1 else tp), True
    return tp, False


def _table_fields(table: str) -> dict[str, _Field]:
    cls = _TABLES[table]
    out: dict[str, _Field] = {}
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if table == "" and f.name in _NOT_SETTABLE:
            continue
        default: Any = f.default
        factory: Any = f.default_factory
        if default is dataclasses.MISSING and factory is not dataclasses.MISSING:
            default = factory()
        key = f"{table}.{f.name}" if table else f.name
        out[f.name] = _Field(key, hints[f.name], default)
    return out


def config_keys() -> list[str]:
    """Every settable dotted key (tables excluded; ``agents`` and free-form maps as their
    table name), for ``symbi config set`` completion and the example-file test."""
    keys: list[str] = []
    for table in _TABLES:
        for name, f in _table_fields(table).items():
            child = f"{table}.{name}" if table else name
            if child in _TABLES or name in ("agents", "policies"):
                continue
            keys.append(f.key)
    return keys


def _is_table_type(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp)


def _is_map_type(tp: Any) -> bool:
    return get_origin(tp) in (Mapping, dict)


def _suggest(key: str, choices: list[str]) -> str:
    import difflib  # at first use: not on the scheduler's start path

    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    for table in _TABLES:
        if table and key in _table_fields(table):
            return f" (it belongs in [{table}])"
    return ""
