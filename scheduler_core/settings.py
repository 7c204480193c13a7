"""The settings the engine reads: frozen dataclasses, one per table of the config file.

Loading them from TOML (with ``SYMBI_*`` overrides, line numbers in errors) is
:mod:`scheduler_core.config`'s; the engine imports only this module.
"""

from __future__ import annotations

__all__ = [
    "AgentPinConfig",
    "ApiConfig",
    "DeliveryConfig",
    "LogConfig",
    "SchedulerConfig",
    "SchedulerSettings",
    "SecretsConfig",
    "StoreConfig",
    "TelemetryConfig",
    "TuiConfig",
    "default_data_dir",
]

import os
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path

from .access import Role
from .model import AgentDefinition
from .named_policies import NamedPolicy
from .records import record


def default_data_dir() -> Path:
    """$SYMBI_DATA_DIR, else the user's XDG data directory."""
    env = os.environ.get("SYMBI_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("symbi", appauthor=False))


@record(kw_only=True)
class DeliveryConfig:
    webhook_timeout_seconds: float = 30
    webhook_retry_attempts: int = 3
    webhook_auth_header: str | None = None  #: SYMBI_WEBHOOK_AUTH_HEADER: default Authorization
    slack_api_token: str | None = None
    slack_default_channel: str | None = None
    slack_webhook_url: str | None = None
    slack_api_url: str = "https://slack.com/api"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = 30
    smtp_ca_file: str | None = None  #: CA bundle trusted for the SMTP server's certificate
    email_from: str | None = None
    log_dir: str | None = None  #: None: <data dir>/logs
    log_max_bytes: int = 10 * 1024 * 1024
    log_backup_count: int = 5
    custom: Mapping[str, str] = field(default_factory=dict)  #: channel -> "module:Class"
    #: channels alerted when a run of a job that names none ends failed or timed out
    on_failure: tuple[str, ...] = ()
    #: channels alerted when a job that names none moves to the dead-letter queue
    on_dead_letter: tuple[str, ...] = ()


@record(kw_only=True)
class SchedulerSettings:
    tick_interval_seconds: float = 1
    max_jitter_seconds: float = 0
    max_concurrent_jobs: int = 10
    enable_metrics: bool = True
    default_max_retries: int = 3
    shutdown_timeout_seconds: float = 30
    retry_backoff_seconds: float = 10  #: first retry delay; doubles per attempt
    retry_backoff_max_seconds: float = 3600
    misfire_threshold_seconds: float = 60  #: later than this is a misfire, handled by catch_up
    misfire_grace_seconds: float = (
        3600  #: catch_up=once runs only if the missed instant is this recent
    )
    lease_ttl_seconds: float = 30
    #: a scheduler idle on a SQLite store (nothing running or queued, nothing due within a third
    #: of this) renews its lease for this long, at a third of it: one wake-up a minute instead of
    #: six. A holder that dies on this machine is replaced at once whatever the TTL (its pid is
    #: checked); a standby on another machine waits up to this long for a holder that hung while
    #: idle. 0 (or not above lease_ttl_seconds): always lease_ttl_seconds
    idle_lease_ttl_seconds: float = 180
    #: while the store fails, what failed is tried again after the tick, then twice as long
    #: each time, up to this (finished runs wait in memory meanwhile)
    store_retry_max_seconds: float = 30
    #: when idle, the loop still looks at the store this often (outside writes wake it at once)
    idle_poll_seconds: float = 30
    approval_timeout_seconds: float = 3600
    timezone: str = "UTC"  #: default zone of jobs that name none
    environment: str | None = None  #: checked by policy.allowed_environments
    claim_batch_size: int = 512
    #: due jobs are claimed this long before their instant and started on it (fire lag)
    claim_ahead_seconds: float = 1.0
    #: cap on a shared_persistent agent context (oldest entries are dropped beyond it)
    context_max_bytes: int = 256 * 1024
    #: entries the cap drops are kept in the store's context archive (pruned with the runs,
    #: [store] run_retention_days) instead of being lost
    context_archive: bool = False
    #: most runs one backfill may create: a range holding more instants is refused whole
    max_backfill_runs: int = 1000
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    #: USD: every job's runs are denied once all jobs' LLM cost today reaches this (each job's
    #: day in its own zone; see scheduler_core/llm_cost.py)
    max_llm_cost_per_day: float | None = None


@record(kw_only=True)
class ModelPrice:
    """What a model costs, in US dollars per million tokens."""

    input: float
    output: float


@record(kw_only=True)
class LlmConfig:
    #: [llm.prices."MODEL"]: model name (as the provider reports it, or as the agent names
    #: it) -> its price; a run of a model not listed records its tokens and no cost
    prices: Mapping[str, ModelPrice] = field(default_factory=dict)


@record(kw_only=True)
class StoreConfig:
    """Where the store is, and how long it keeps history (0 days: for ever, the default: an
    upgrade never deletes what an operator has not chosen to let go; see README, Retention)."""

    url: str | None = None  #: sqlite path or URL; None: <data dir>/symbi.db (SYMBI_DB overrides)
    #: runs that finished more than this many days ago are pruned (0: kept for ever)
    run_retention_days: float = 0
    #: heartbeat iterations older than this are pruned (0: kept as long as their run)
    iteration_retention_days: float = 0
    #: audit events older than this are pruned (0: kept for ever)
    audit_retention_days: float = 0
    #: each job's newest runs (and their iterations) are kept whatever their age
    keep_runs_per_job: int = 100
    #: every run of a job in the dead-letter queue is kept, whatever its age
    keep_dead_letter_runs: bool = True
    #: how often the scheduler holding the lease prunes (its first pass: 5 minutes after start)
    prune_interval_seconds: float = 3600


@record(kw_only=True)
class ApiKeySpec:
    """A named API key (``[api.keys.NAME]``): its value and what it may do."""

    key: str  #: at least MIN_API_KEY_CHARS characters; never logged nor shown
    role: Role  #: viewer, operator or admin (see scheduler_core.access)


#: the shortest API key accepted (``config validate`` and the daemon refuse shorter ones)
MIN_API_KEY_CHARS = 16


@record(kw_only=True)
class ApiConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    #: admin keys, named key-1, key-2... in the audit log; SYMBI_API_KEY adds one; with no key
    #: at all, one is generated on first start
    api_keys: tuple[str, ...] = ()
    auth_exempt: tuple[str, ...] = ("/api/v1/health/scheduler", "/metrics")
    #: named keys with a role: [api.keys.NAME] key = "...", role = "operator"
    keys: Mapping[str, ApiKeySpec] = field(default_factory=dict)
    #: agents /apply may register: "llm" (an LLM agent that names its model and provider, no
    #: base_url, key variable, env or program), "any", or "none" (see registered_agents)
    agent_definitions: str = "llm"


@record(kw_only=True)
class AgentPinConfig:
    required: bool = False  #: SYMBI_AGENTPIN_REQUIRED: every job must verify
    domain: str | None = None  #: SYMBI_AGENTPIN_DOMAIN: the expected issuer
    trust_bundle: str | None = None
    discovery: bool = True
    max_lifetime_seconds: float = 86400
    clock_skew_seconds: float = 60


@record(kw_only=True)
class LogConfig:
    """The daemon's log: one line per event on stderr and, rotated, in a file (``symbi logs``)."""

    level: str = "info"  #: debug, info, warning, error, critical (SYMBI_LOG_LEVEL)
    format: str = "text"  #: text (logfmt) or json; ``symbi-tui --daemon --log-format`` wins
    file: bool = True  #: also write the log to ``path``
    path: str | None = None  #: None: <data dir>/daemon.log
    max_bytes: int = 10 * 1024 * 1024  #: the file is rotated before it grows past this
    backup_count: int = 5  #: rotated files kept (daemon.log.1 ... daemon.log.N)


@record(kw_only=True)
class TuiConfig:
    refresh_interval_seconds: float = 1.0
    keymap: Mapping[str, str] = field(default_factory=dict)  #: binding id -> keys
    theme: str | None = None


@record(kw_only=True)
class SecretsConfig:
    """What a job's ``${VAR}`` may name (``[secrets]``): nothing unless the operator says so,
    because whoever can create a job must not be able to read the daemon's environment."""

    env: tuple[str, ...] = ()  #: environment variable names or globs (``SLACK_*``)
    values: Mapping[str, str] = field(default_factory=dict)  #: named values, in the config


@record(kw_only=True)
class TelemetryConfig:
    """OpenTelemetry traces of runs (``[telemetry]``), exported over OTLP/HTTP when an endpoint
    is set; they need the ``otel`` extra (``pip install symbi-tui[otel]``)."""

    #: the collector's OTLP/HTTP base URL (``/v1/traces`` is added); None: no telemetry
    otlp_endpoint: str | None = None
    service_name: str = "symbi-tui"  #: the ``service.name`` of the exported spans
    #: sent with every export (a collector's auth); secrets: never logged nor shown
    headers: Mapping[str, str] = field(default_factory=dict)
    export_timeout_seconds: float = 10  #: one export request's limit


@record(kw_only=True)
class SchedulerConfig:
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    store: StoreConfig = field(default_factory=StoreConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    agentpin: AgentPinConfig = field(default_factory=AgentPinConfig)
    tui: TuiConfig = field(default_factory=TuiConfig)
    log: LogConfig = field(default_factory=LogConfig)
    secrets: SecretsConfig = field(default_factory=SecretsConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    agents: Mapping[str, AgentDefinition] = field(default_factory=dict)
    #: [policies.NAME]: policies schedules name (scheduler_core.named_policies)
    policies: Mapping[str, NamedPolicy] = field(default_factory=dict)
    dsl_paths: tuple[str, ...] = ()  #: files or directories of .symbi files loaded at start
    data_dir: str | None = None  #: None: default_data_dir()
    path: str | None = None  #: the file this was loaded from
    warnings: tuple[str, ...] = ()  #: e.g. optional settings left unset by an unset ${VAR}

    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else default_data_dir()

    def log_path(self) -> Path:
        """The daemon's log file: ``[log] path``, else ``<data dir>/daemon.log``."""
        return (
            Path(self.log.path).expanduser()
            if self.log.path
            else (self.resolved_data_dir() / "daemon.log")
        )

    def store_url(self) -> str:
        """SYMBI_DB, else [store] url, else the database in the data directory."""
        return (
            os.environ.get("SYMBI_DB")
            or self.store.url
            or str(self.resolved_data_dir() / "symbi.db")
        )
