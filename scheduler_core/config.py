"""Configuration: the guide's [scheduler] and [scheduler.delivery] tables and what the design adds.

The dataclasses below are the contract the engine reads; loading them from TOML (tomlkit) with
``SYMBI_*`` environment overrides is done by :func:`load_config`.

Loading rules (why: a typo in a config file must never silently fall back to a default):

* every key is checked against these dataclasses; an unknown key or a wrong type is a
  :class:`~scheduler_core.errors.ConfigError` naming the dotted key and its line, with the
  nearest valid key suggested; all problems are collected (:class:`ConfigErrors`);
* ``${VAR}`` (``${VAR:-default}``; ``$${`` for a literal) is expanded in every string. An unset
  variable is an error naming the key and the variable, except in an optional string setting
  (one whose default is "not set", such as the guide's ``slack_api_token = "${SLACK_API_TOKEN}"``
  or ``smtp_password = "${SMTP_PASS}"``): that setting stays unset and a warning is recorded in
  :attr:`SchedulerConfig.warnings`, so the guide's example loads on a machine without Slack or
  SMTP credentials and the channel fails, when used, with a message naming the setting;
* the guide's environment variables then override the file (:data:`ENV_OVERRIDES`);
* ``[agents.NAME]`` tables take the same keys as DSL ``agent NAME { ... }`` blocks and go through
  the same validator (:func:`scheduler_core.dsl.agents.agent_from_mapping`);
* relative ``dsl_paths`` are taken relative to the config file's directory.
"""

from __future__ import annotations

__all__ = [
    "ENV_OVERRIDES",
    "SECRET_KEYS",
    "AgentPinConfig",
    "ApiConfig",
    "ConfigErrors",
    "DeliveryConfig",
    "SchedulerConfig",
    "SchedulerSettings",
    "StoreConfig",
    "TuiConfig",
    "config_keys",
    "config_to_toml",
    "default_config_path",
    "default_data_dir",
    "find_config_path",
    "load_config",
    "load_config_text",
    "set_config_value",
    "validate_config_file",
]

import dataclasses
import difflib
import math
import os
import re
import tempfile
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError, ValidationError
from .model import AgentDefinition


def default_data_dir() -> Path:
    """$SYMBI_DATA_DIR, else the user's XDG data directory."""
    env = os.environ.get("SYMBI_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("symbi", appauthor=False))


@dataclass(frozen=True, slots=True, kw_only=True)
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


@dataclass(frozen=True, slots=True, kw_only=True)
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
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    url: str | None = None  #: sqlite path or URL; None: <data dir>/symbi.db (SYMBI_DB overrides)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    api_keys: tuple[str, ...] = ()  #: SYMBI_API_KEY adds one; none: generated on first start
    auth_exempt: tuple[str, ...] = ("/api/v1/health/scheduler", "/metrics")


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentPinConfig:
    required: bool = False  #: SYMBI_AGENTPIN_REQUIRED: every job must verify
    domain: str | None = None  #: SYMBI_AGENTPIN_DOMAIN: the expected issuer
    trust_bundle: str | None = None
    discovery: bool = True
    max_lifetime_seconds: float = 86400
    clock_skew_seconds: float = 60


@dataclass(frozen=True, slots=True, kw_only=True)
class TuiConfig:
    refresh_interval_seconds: float = 1.0
    keymap: Mapping[str, str] = field(default_factory=dict)  #: binding id -> keys
    theme: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulerConfig:
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    store: StoreConfig = field(default_factory=StoreConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    agentpin: AgentPinConfig = field(default_factory=AgentPinConfig)
    tui: TuiConfig = field(default_factory=TuiConfig)
    agents: Mapping[str, AgentDefinition] = field(default_factory=dict)
    dsl_paths: tuple[str, ...] = ()  #: files or directories of .symbi files loaded at start
    data_dir: str | None = None  #: None: default_data_dir()
    path: str | None = None  #: the file this was loaded from
    warnings: tuple[str, ...] = ()  #: e.g. optional settings left unset by an unset ${VAR}

    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else default_data_dir()

    def store_url(self) -> str:
        """SYMBI_DB, else [store] url, else the database in the data directory."""
        return (
            os.environ.get("SYMBI_DB")
            or self.store.url
            or str(self.resolved_data_dir() / "symbi.db")
        )


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------

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
}

#: settings shown as ``****`` by ``symbi config show``
SECRET_KEYS: frozenset[str] = frozenset(
    {
        "scheduler.delivery.slack_api_token",
        "scheduler.delivery.slack_webhook_url",
        "scheduler.delivery.smtp_password",
        "scheduler.delivery.webhook_auth_header",
        "api.api_keys",
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
}
_NOT_SETTABLE = {"path", "warnings"}
#: (minimum, maximum, minimum is exclusive); numbers not listed must be >= 0
_RANGES: dict[str, tuple[float, float | None, bool]] = {
    "scheduler.tick_interval_seconds": (0, 3600, True),
    "scheduler.max_concurrent_jobs": (1, 100_000, False),
    "scheduler.default_max_retries": (0, 1000, False),
    "scheduler.lease_ttl_seconds": (0, None, True),
    "scheduler.idle_poll_seconds": (0, 3600, True),
    "scheduler.claim_batch_size": (1, None, False),
    "scheduler.claim_ahead_seconds": (0, 60, False),
    "scheduler.context_max_bytes": (1024, None, False),
    "scheduler.delivery.webhook_timeout_seconds": (0, None, True),
    "scheduler.delivery.smtp_timeout_seconds": (0, None, True),
    "scheduler.delivery.smtp_port": (1, 65535, False),
    "api.port": (0, 65535, False),
    "tui.refresh_interval_seconds": (0, None, True),
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


@dataclass(frozen=True, slots=True)
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
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
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
            if child in _TABLES or name == "agents":
                continue
            keys.append(f.key)
    return keys


def _is_table_type(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp)


def _is_map_type(tp: Any) -> bool:
    return get_origin(tp) in (Mapping, dict)


def _suggest(key: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    for table in _TABLES:
        if table and key in _table_fields(table):
            return f" (it belongs in [{table}])"
    return ""


# --- line numbers -----------------------------------------------------------------------------

_KEY_PART = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)\s*')


def _split_key(text: str) -> list[str] | None:
    """``a."b.c".d`` -> ["a", "b.c", "d"]; None if ``text`` is not a TOML key."""
    parts: list[str] = []
    pos = 0
    while True:
        m = _KEY_PART.match(text, pos)
        if not m:
            return None
        part = m.group(1)
        if part[0] == '"':
            part = part[1:-1].encode("utf-8").decode("unicode_escape", errors="replace")
        elif part[0] == "'":
            part = part[1:-1]
        parts.append(part)
        pos = m.end()
        if pos == len(text):
            return parts
        if text[pos] != ".":
            return None
        pos += 1


def _scan_keys(text: str) -> Iterator[tuple[str, int, str]]:
    """Each dotted key the text sets, in order, with its 1-based line and kind (key, table, array).

    tomlkit keeps no line numbers, so the text is scanned: headers (``[x]`` a table, ``[[x]]`` an
    array of tables), ``key = value`` lines, and the keys of one-line inline tables; multi-line
    strings and arrays are skipped.
    """
    table: list[str] = []
    depth = 0
    in_string: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw
        if in_string is not None:
            end = line.find(in_string)
            if end < 0:
                continue
            line = line[end + 3 :]
            in_string = None
        stripped = line.strip()
        if depth == 0 and in_string is None and stripped.startswith("["):
            header = stripped.lstrip("[").split("]")[0]
            parts = _split_key(header.strip())
            if parts is not None:
                table = parts
                yield ".".join(table), number, "array" if stripped.startswith("[[") else "table"
            continue
        if depth == 0 and "=" in line and line == raw:
            key_text = line.split("=", 1)[0]
            parts = _split_key(key_text.strip()) if key_text.strip() else None
            if parts is not None:
                full = ".".join([*table, *parts])
                yield full, number, "key"
                rest = line.split("=", 1)[1]
                for m in re.finditer(r"[{,]\s*([A-Za-z0-9_\"'.-]+)\s*=", rest):
                    sub = _split_key(m.group(1))
                    if sub:
                        yield ".".join([full, *sub]), number, "key"
        depth, in_string = _scan_brackets(line, depth)


def _key_lines(text: str) -> dict[str, int]:
    """Dotted key -> 1-based line where it is first set (tables: their header line)."""
    lines: dict[str, int] = {}
    for key, number, _kind in _scan_keys(text):
        lines.setdefault(key, number)
    return lines


def _first_duplicate(text: str) -> tuple[str, int] | None:
    """The first dotted key set twice (or table opened twice), and the line of the repeat.

    tomlkit reports a duplicate differently from one release to the next (``KeyAlreadyPresent``
    without a position before 0.14, a ``ParseError`` at the repeat since), so the key and its
    line are found here, the same way on every release.
    """
    seen: set[tuple[str, str]] = set()
    for key, number, kind in _scan_keys(text):
        if kind == "array":  # a new element: what the previous one set may be set again
            seen = {(k, t) for k, t in seen if not k.startswith(key + ".")}
            continue
        if (key, kind) in seen:
            return key, number
        seen.add((key, kind))
    return None


def _scan_brackets(line: str, depth: int) -> tuple[int, str | None]:
    """Bracket depth after ``line`` (strings and comments skipped), and an open multi-line
    string's delimiter."""
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if ch == "#":
            break
        if line.startswith('"""', i) or line.startswith("'''", i):
            delim = line[i : i + 3]
            end = line.find(delim, i + 3)
            if end < 0:
                return depth, delim
            i = end + 3
            continue
        if ch in "\"'":
            j = i + 1
            while j < n and line[j] != ch:
                j += 2 if ch == '"' and line[j] == "\\" else 1
            i = j + 1
            continue
        if ch in "[{":
            depth += 1
        elif ch in "]}" and depth > 0:
            depth -= 1
        i += 1
    return depth, None


class _Loader:
    """One load: collects errors and warnings, and knows where each key was written."""

    def __init__(self, text: str, path: str | None, env: Mapping[str, str]) -> None:
        self.text = text
        self.path = path
        self.env = env
        self.errors: list[ConfigError] = []
        self.warnings: list[str] = []
        self.lines: dict[str, int] = {}
        self.from_env: dict[str, str] = {}  #: dotted key -> the SYMBI_* variable that set it

    def line_of(self, key: str) -> int | None:
        probe: str | None = key
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe.rpartition(".")[0] or None
        # a table only implied by a sub-table ([agents.x.env] without [agents.x]): its first line
        children = [n for k, n in self.lines.items() if k.startswith(f"{key}.")]
        return min(children) if children else None

    def error(self, message: str, key: str | None) -> None:
        var = self.from_env.get(key) if key else None
        if var is not None:  # the value came from the environment, not from the file
            self.errors.append(ConfigError(f"{message} (from ${var})", key=key))
            return
        line = self.line_of(key) if key else None
        self.errors.append(ConfigError(message, key=key, path=self.path, line=line))

    # --- reading --------------------------------------------------------------------------
    def parse(self) -> dict[str, Any] | None:
        import tomlkit
        from tomlkit.exceptions import KeyAlreadyPresent, ParseError, TOMLKitError

        try:
            doc = tomlkit.parse(self.text)
        except (ParseError, KeyAlreadyPresent) as exc:
            duplicate = _first_duplicate(self.text) if "already exists" in str(exc) else None
            if duplicate is not None:
                key, line = duplicate
                self.errors.append(ConfigError("duplicate key", key=key, path=self.path, line=line))
            elif isinstance(exc, ParseError):
                message = str(exc).split(" at line ")[0]
                self.errors.append(
                    ConfigError(
                        f"invalid TOML: {message} (column {exc.col})",
                        path=self.path,
                        line=exc.line,
                    )
                )
            else:
                self.errors.append(ConfigError(f"invalid TOML: {exc}", path=self.path))
            return None
        except (TOMLKitError, ValueError) as exc:  # e.g. a hex number past int()'s digit limit
            self.errors.append(ConfigError(f"invalid TOML: {exc}", path=self.path))
            return None
        self.lines = _key_lines(self.text)
        data: dict[str, Any] = doc.unwrap()
        return data

    # --- ${VAR} ---------------------------------------------------------------------------
    def expand(self, value: Any, key: str, optional: bool) -> Any:
        """Expand variables; returns ``_UNSET`` for an optional string left unset."""
        from .envvars import expand_vars

        if isinstance(value, str):
            text, missing = expand_vars(value, self.env)
            if not missing:
                return text
            names = ", ".join(f"${{{m}}}" for m in dict.fromkeys(missing))
            if optional:
                self.warnings.append(f"{key}: {names} is not set, so this setting is left unset")
                return _UNSET
            self.error(f"{names} is not set (export it, or write ${{VAR:-default}})", key)
            return text
        if isinstance(value, list):
            return [self.expand(item, f"{key}[{i}]", False) for i, item in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.expand(v, f"{key}.{k}", False) for k, v in value.items()}
        return value

    # --- conversion -----------------------------------------------------------------------
    def table(self, table: str, data: Any) -> dict[str, Any]:
        """Keyword arguments for the table's dataclass; every problem recorded."""
        where = f"[{table}]" if table else "the top level"
        if not isinstance(data, Mapping):
            self.error(f"expected a table, got {_kind(data)}", table or None)
            return {}
        fields_ = _table_fields(table)
        out: dict[str, Any] = {}
        for name, raw in data.items():
            key = f"{table}.{name}" if table else name
            f = fields_.get(name)
            if f is None:
                hint = _suggest(name, list(fields_))
                self.error(f"unknown key {name!r} in {where}{hint}", key)
                continue
            if key in _TABLES:
                out[name] = _TABLES[key](**self.table(key, raw))
                continue
            if table == "" and name == "agents":
                out[name] = self.agents(raw)
                continue
            tp, optional = _strip_optional(f.type)
            value = self.expand(raw, key, optional and tp is str)
            if value is _UNSET:
                continue
            converted = self.convert(tp, value, key)
            if converted is not _UNSET:
                out[name] = converted
        return out

    def convert(self, tp: Any, value: Any, key: str) -> Any:
        try:
            return _convert(tp, value, key)
        except ValidationError as exc:
            self.error(exc.reason, exc.field or key)
            return _UNSET

    def agents(self, data: Any) -> dict[str, AgentDefinition]:
        from .dsl.agents import agent_from_mapping

        if not isinstance(data, Mapping):
            self.error(f"expected [agents.NAME] tables, got {_kind(data)}", "agents")
            return {}
        out: dict[str, AgentDefinition] = {}
        for name, raw in data.items():
            key = f"agents.{name}"
            if not isinstance(raw, Mapping):
                self.error(
                    f"expected a table [agents.{name}] with command, handler or model, "
                    f"got {_kind(raw)}",
                    key,
                )
                continue
            values = self.expand(dict(raw), key, False)
            try:
                out[name] = agent_from_mapping(
                    values, name=name, source=f"config:{self.path}" if self.path else "config"
                )
            except ValidationError as exc:
                for err in exc.errors:
                    field_key = f"{key}.{err.field}" if err.field else key
                    reason = err.reason
                    m = re.match(r"^unknown field (\S+)(.*)$", reason)
                    if m:
                        reason = f"unknown key {m.group(1)} in [{key}]{m.group(2)}"
                    self.error(reason, field_key)
        return out

    # --- environment ----------------------------------------------------------------------
    def override(self, data: dict[str, Any]) -> None:
        """The guide's SYMBI_* variables win over the file."""
        for var, (key, kind) in ENV_OVERRIDES.items():
            raw = self.env.get(var)
            if raw is None or raw == "":
                continue
            value: Any
            try:
                value = _env_value(raw, kind)
            except ValueError as exc:
                self.errors.append(ConfigError(f"{exc} (from the environment)", key=var))
                continue
            if kind != "append":
                self.from_env[key] = var
            *parents, leaf = key.split(".")
            node = data
            for part in parents:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
            if kind == "append":
                existing = node.get(leaf)
                items = list(existing) if isinstance(existing, list) else []
                if raw not in items:
                    items.append(raw)
                node[leaf] = items
            else:
                node[leaf] = value

    def run(self, data: dict[str, Any]) -> SchedulerConfig:
        self.override(data)
        kwargs = self.table("", data)
        if self.path and "dsl_paths" in kwargs:
            base = Path(self.path).expanduser().parent
            paths: list[str] = []
            for i, d in enumerate(kwargs["dsl_paths"]):
                try:
                    p = Path(d).expanduser()
                except RuntimeError:  # "~nobody/x": no such user (used to escape the loader)
                    self.error(f"item {i}: cannot expand {d[:80]!r}: no such user", "dsl_paths")
                    continue
                paths.append(str(p if p.is_absolute() else base / p))
            kwargs["dsl_paths"] = tuple(paths)
        if isinstance(kwargs.get("data_dir"), str):
            try:
                Path(kwargs["data_dir"]).expanduser()  # resolved_data_dir() expands it later
            except RuntimeError:
                self.error(f"cannot expand {kwargs['data_dir'][:80]!r}: no such user", "data_dir")
        return SchedulerConfig(**kwargs, path=self.path, warnings=tuple(self.warnings))


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()


def _env_value(raw: str, kind: str) -> Any:
    text = raw.strip()
    if kind == "float":
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected a number of seconds, got {raw!r}") from None
        return int(value) if value.is_integer() else value
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
    if kind == "bool":
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {raw!r}")
    return raw


def _number(value: int | float) -> str:
    """A number as text for a message (an int past str()'s 4300-digit limit cannot be)."""
    try:
        text = str(value)
    except ValueError:
        return "a number too large to show"
    return text if len(text) <= 80 else f"{text[:40]}... ({len(text)} digits)"


def _convert(tp: Any, value: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and the key's range rules."""
    tp, _ = _strip_optional(tp)
    if tp is bool:
        if not isinstance(value, bool):
            raise ValidationError(f"expected true or false, got {_kind(value)}", field=key)
        return value
    if tp in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            quoted = (
                " (write the number without quotes)"
                if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", value)
                else ""
            )
            raise ValidationError(f"expected a number, got {_kind(value)}{quoted}", field=key)
        if tp is int and isinstance(value, float) and not value.is_integer():
            raise ValidationError(f"expected a whole number, got {_number(value)}", field=key)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError(f"expected a finite number, got {_number(value)}", field=key)
        low, high, exclusive = _RANGES.get(key, (0, None, False))
        if (value <= low if exclusive else value < low) or (high is not None and value > high):
            if exclusive:
                span = f"> {low}" + (f" and <= {high}" if high is not None else "")
            else:
                span = f"between {low} and {high}" if high is not None else f">= {low}"
            raise ValidationError(f"must be {span}, got {_number(value)}", field=key)
        if high is None and key.endswith("_seconds") and value > MAX_SECONDS:
            # a time added to an instant must not overflow datetime (1e15 s did, in the loop)
            raise ValidationError(
                f"must be at most {MAX_SECONDS} (100 years), got {_number(value)}", field=key
            )
        return int(value) if tp is int else value
    if tp is str:
        if not isinstance(value, str):
            raise ValidationError(f"expected a string, got {_kind(value)}", field=key)
        if key == "scheduler.timezone":
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                raise ValidationError(
                    f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)",
                    field=key,
                ) from None
        return value
    origin = get_origin(tp)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ValidationError(f"expected an array of strings, got {_kind(value)}", field=key)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise ValidationError(
                    f"expected an array of strings, item {i} is {_kind(item)}", field=key
                )
        return tuple(value)
    if _is_map_type(tp):
        if not isinstance(value, Mapping):
            raise ValidationError(f"expected a table, got {_kind(value)}", field=key)
        out: dict[str, str] = {}
        for k, v in value.items():
            if not isinstance(v, str):
                raise ValidationError(f"expected a string, got {_kind(v)}", field=f"{key}.{k}")
            out[str(k)] = v
        return out
    raise ValidationError(f"cannot read a value of type {tp!r}", field=key)  # pragma: no cover


def default_config_path() -> Path:
    """``config.toml`` in the user's config directory (e.g. ~/.config/symbi/config.toml)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("symbi", appauthor=False)) / "config.toml"


def find_config_path(
    path: str | Path | None = None, *, env: Mapping[str, str] | None = None
) -> Path | None:
    """``--config``, then $SYMBI_CONFIG, then the user's config file if it exists, else None.

    A file named explicitly (by argument or variable) must exist.
    """
    env = os.environ if env is None else env
    explicit = path if path is not None else (env.get("SYMBI_CONFIG") or None)
    if explicit is not None:
        p = Path(explicit).expanduser()
        if not p.is_file():
            source = "--config" if path is not None else "SYMBI_CONFIG"
            raise ConfigError(f"config file not found (from {source})", path=str(explicit))
        return p
    candidate = default_config_path()
    return candidate if candidate.is_file() else None


def load_config_text(
    text: str, path: str | None = None, *, env: Mapping[str, str] | None = None
) -> SchedulerConfig:
    """Load configuration from TOML text; raise ConfigError (ConfigErrors if several)."""
    if len(text) > MAX_CONFIG_CHARS:  # tomlkit reads ~2 MB/s: refuse huge text outright
        raise ConfigError(
            f"config file too large: {len(text)} characters (at most {MAX_CONFIG_CHARS})",
            path=path,
        )
    loader = _Loader(text, path, os.environ if env is None else env)
    data = loader.parse()
    config = loader.run(data) if data is not None else None
    if loader.errors:
        raise loader.errors[0] if len(loader.errors) == 1 else ConfigErrors(loader.errors)
    assert config is not None
    return config


def load_config(
    path: str | Path | None = None, *, env: Mapping[str, str] | None = None
) -> SchedulerConfig:
    """The effective configuration: file (see :func:`find_config_path`), then environment.

    With no file, the defaults apply (the environment still overrides them).
    """
    env = os.environ if env is None else env
    found = find_config_path(path, env=env)
    if found is None:
        return load_config_text("", None, env=env)
    try:
        text = found.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", path=str(found)) from None
    return load_config_text(text, str(found), env=env)


def validate_config_file(
    path: str | Path, *, env: Mapping[str, str] | None = None
) -> list[ConfigError]:
    """Every problem in a config file (empty: it is valid), for ``symbi config validate``."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [ConfigError("config file not found", path=str(path))]
    except (OSError, UnicodeDecodeError) as exc:
        return [ConfigError(f"cannot read config file: {exc}", path=str(path))]
    try:
        load_config_text(text, str(path), env=env)
    except ConfigErrors as exc:
        return list(exc.errors)
    except ConfigError as exc:
        return [exc]
    return []


# --------------------------------------------------------------------------------------------
# Showing and editing
# --------------------------------------------------------------------------------------------


def _mask(key: str, value: Any) -> Any:
    from .jobspec import mask_secret

    if isinstance(value, tuple | list):
        return [mask_secret(v) for v in value]
    return mask_secret(value)


def _toml_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    if hasattr(value, "value") and isinstance(value.value, str):  # str enums
        return value.value
    return value


def config_to_toml(cfg: SchedulerConfig, *, mask_secrets: bool = True) -> str:
    """The effective configuration as TOML (``symbi config show``); secrets as ``****``.

    Unset settings appear as comments, so every key is listed.
    """
    import tomlkit

    doc = tomlkit.document()
    doc.add(tomlkit.comment("symbi effective configuration"))
    doc.add(tomlkit.comment(f"loaded from: {cfg.path or '(no file: defaults)'}"))
    for warning in cfg.warnings:
        doc.add(tomlkit.comment(f"warning: {warning}"))
    doc.add("data_dir", str(cfg.resolved_data_dir()))
    doc.add("dsl_paths", list(cfg.dsl_paths))

    def fill(container: Any, table: str, obj: Any) -> None:
        maps: list[tuple[str, Any]] = []
        for name, f in _table_fields(table).items():
            key = f.key
            value = getattr(obj, name)
            if key in _TABLES or (table == "" and name in ("agents", "data_dir", "dsl_paths")):
                continue
            if key == "store.url":
                value = cfg.store_url()
            if value is None:
                container.add(tomlkit.comment(f"{name} = (not set)"))
                continue
            if mask_secrets and key in SECRET_KEYS:
                value = _mask(key, value)
            if _is_map_type(_strip_optional(f.type)[0]):
                maps.append((name, value))  # sub-tables go after the plain keys
                continue
            container.add(name, _toml_value(value))
        for name, value in maps:
            sub = tomlkit.table()
            for k, v in dict(value).items():
                sub.add(k, v)
            container.add(name, sub)

    for table in _TABLES:
        if not table or "." in table:
            continue
        t = tomlkit.table()
        obj = getattr(cfg, table)
        fill(t, table, obj)
        if table == "scheduler":
            d = tomlkit.table()
            fill(d, "scheduler.delivery", obj.delivery)
            t.add("delivery", d)
        doc.add(table, t)
    if cfg.agents:
        agents = tomlkit.table(is_super_table=True)
        for name, agent in cfg.agents.items():
            t = tomlkit.table()
            t.add("runner", agent.runner.value)
            for f in dataclasses.fields(AgentDefinition):
                if f.name in ("name", "runner", "source"):
                    continue
                value = getattr(agent, f.name)
                if value is None or value == () or value == {}:
                    continue
                if f.name == "env" and mask_secrets:
                    value = {k: ("****" if _SECRET_NAME.search(k) else v) for k, v in value.items()}
                t.add(f.name, _toml_value(value))
            agents.add(name, t)
        doc.add("agents", agents)
    return doc.as_string()


def _field_for(parts: list[str]) -> tuple[str, Any]:
    """The dotted key's kind: ("field", type) | ("map", None) | ("agent", None); or raise."""
    dotted = ".".join(parts)
    if parts[0] == "agents":
        from .dsl.agents import AGENT_FIELDS

        if len(parts) != 3:
            raise ConfigError(
                "agent settings are agents.NAME.KEY (e.g. agents.backup-agent.command)",
                key=dotted,
            )
        if parts[2] not in AGENT_FIELDS or parts[2] == "name":
            choices = [f for f in AGENT_FIELDS if f != "name"]
            raise ConfigError(
                f"unknown key {parts[2]!r} in [agents.{parts[1]}]{_suggest(parts[2], choices)}",
                key=dotted,
            )
        return "agent", None
    table = ""
    for i, part in enumerate(parts):
        fields_ = _table_fields(table)
        f = fields_.get(part)
        where = f"[{table}]" if table else "the top level"
        if f is None:
            raise ConfigError(
                f"unknown key {part!r} in {where}{_suggest(part, list(fields_))}", key=dotted
            )
        child = f"{table}.{part}" if table else part
        last = i == len(parts) - 1
        if child in _TABLES:
            if last:
                raise ConfigError(f"[{child}] is a table: set one of its keys", key=dotted)
            table = child
            continue
        tp, _ = _strip_optional(f.type)
        if _is_map_type(tp):
            if len(parts) == i + 2:
                return "map", str
            raise ConfigError(f"{child} is a table of strings: set {child}.NAME", key=dotted)
        if not last:
            raise ConfigError(f"{child} is not a table", key=dotted)
        return "field", tp
    raise ConfigError("empty key", key=dotted)  # pragma: no cover


def _parse_raw(raw: str, tp: Any) -> Any:
    """``raw`` as a TOML literal when it is one (number, boolean, array, inline table, quoted
    string), else as text; a string setting always takes the text."""
    import tomlkit
    from tomlkit.exceptions import ParseError

    literal: Any = _UNSET
    try:
        literal = tomlkit.parse(f"v = {raw}\n").unwrap()["v"]
    except (ParseError, KeyError, ValueError):
        literal = _UNSET
    quoted = raw.strip()[:1] in ("'", '"')
    if tp is str:
        return literal if quoted and isinstance(literal, str) else raw
    if tp is bool and literal is _UNSET:
        try:
            return _env_value(raw, "bool")
        except ValueError:
            return raw
    if get_origin(tp) is tuple and literal is _UNSET:
        return [item.strip() for item in raw.split(",") if item.strip()]
    if literal is _UNSET or isinstance(literal, datetime | date | time):
        return raw
    return literal


def set_config_value(path: str | Path, dotted_key: str, raw_value: str) -> None:
    """Set one key in the file in place (tomlkit: comments and layout kept).

    The edited text is loaded before it is written; if it is invalid, or the key is unknown,
    ConfigError is raised and the file is left unchanged. A missing file is created.
    """
    import tomlkit
    from tomlkit.exceptions import ParseError

    p = Path(path).expanduser()
    parts = _split_key(dotted_key.strip()) if dotted_key.strip() else None
    if not parts:
        raise ConfigError(f"{dotted_key!r} is not a key (use e.g. scheduler.max_jitter_seconds)")
    kind, tp = _field_for(parts)
    text = p.read_text(encoding="utf-8") if p.exists() else ""
    try:
        doc = tomlkit.parse(text)
    except ParseError as exc:
        raise ConfigError(f"invalid TOML: {exc}", path=str(p), line=exc.line) from None
    value = _parse_raw(raw_value, tp if kind == "field" else (str if kind == "map" else None))
    container: Any = doc
    for i, part in enumerate(parts[:-1]):
        if part not in container:
            super_table = i == 0 and parts[0] == "agents"
            container.add(part, tomlkit.table(is_super_table=super_table or None))
        container = container[part]
        if not isinstance(container, Mapping):
            raise ConfigError(f"{'.'.join(parts[: i + 1])} is not a table", key=dotted_key)
    container[parts[-1]] = value
    new_text = doc.as_string()
    errors = _validate_text(new_text, str(p))
    if errors:
        raise errors[0] if len(errors) == 1 else ConfigErrors(errors)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new_text)
        if p.exists():
            os.chmod(tmp, p.stat().st_mode & 0o7777)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _validate_text(text: str, path: str) -> list[ConfigError]:
    """Errors in ``text`` as a config file; unset ${VAR} references are not errors here (the
    variable may be set where the scheduler runs)."""
    env = _PermissiveEnv(os.environ)
    try:
        load_config_text(text, path, env=env)
    except ConfigErrors as exc:
        return list(exc.errors)
    except ConfigError as exc:
        return [exc]
    return []


class _PermissiveEnv(Mapping[str, str]):
    """Every variable reads as set (to a placeholder), so only the file's own shape is checked.

    SYMBI_* overrides are hidden: ``config set`` checks what is written to the file.
    """

    def __init__(self, base: Mapping[str, str]) -> None:
        self.base = base

    def __getitem__(self, key: str) -> str:
        if key in ENV_OVERRIDES or key == "SYMBI_CONFIG":
            raise KeyError(key)
        return self.base.get(key, "set")

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key not in ENV_OVERRIDES and key != "SYMBI_CONFIG"

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __iter__(self) -> Any:
        return iter(self.base)

    def __len__(self) -> int:
        return len(self.base)
