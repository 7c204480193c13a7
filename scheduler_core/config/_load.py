"""Loading a config file: TOML, ``${VAR}``, ``SYMBI_*`` overrides, checks with line numbers."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..access import Role, valid_key_name
from ..errors import ConfigError, ValidationError
from ..model import AgentDefinition
from ..named_policies import NamedPolicy
from ..settings import (
    MIN_API_KEY_CHARS,
    ApiKeySpec,
    DeliveryConfig,
    ModelPrice,
    SchedulerConfig,
    SchedulerSettings,
)
from ._lines import _first_duplicate, _key_lines
from ._schema import (
    _RANGES,
    _TABLES,
    CHOICES,
    ENV_OVERRIDES,
    MAX_CONFIG_CHARS,
    MAX_SECONDS,
    ConfigErrors,
    _is_map_type,
    _kind,
    _strip_optional,
    _suggest,
    _table_fields,
)


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
            # unwrap() checks tables split around others ([a] [b] [a.c]) and can still refuse
            data: dict[str, Any] = tomlkit.parse(self.text).unwrap()
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
        return data

    # --- ${VAR} ---------------------------------------------------------------------------
    def expand(self, value: Any, key: str, optional: bool) -> Any:
        """Expand variables; returns ``_UNSET`` for an optional string left unset."""
        from ..envvars import expand_vars

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
            if table == "" and name == "policies":
                out[name] = self.policies(raw)
                continue
            if key == "api.keys":
                out[name] = self.named_keys(raw)
                continue
            if key == "llm.prices":
                out[name] = self.prices(raw)
                continue
            tp, optional = _strip_optional(f.type)
            value = self.expand(raw, key, optional and tp is str)
            if value is _UNSET:
                continue
            converted = self.convert(tp, value, key)
            if converted is not _UNSET:
                out[name] = converted
        if table == "api":
            self.check_api_keys(out)
        return out

    # --- API keys -------------------------------------------------------------------------
    def named_keys(self, data: Any) -> dict[str, ApiKeySpec]:
        """``[api.keys.NAME]`` tables: ``key`` and ``role`` (``viewer`` when not given), each
        name fit for the audit log."""
        if not isinstance(data, Mapping):
            self.error(
                f'expected [api.keys.NAME] tables (key = "...", role = "..."), got {_kind(data)}',
                "api.keys",
            )
            return {}
        roles = ", ".join(r.value for r in Role)
        out: dict[str, ApiKeySpec] = {}
        for name, raw in data.items():
            where = f"api.keys.{name}"
            why = valid_key_name(str(name))
            if why is not None:
                self.error(f"{name!r} cannot name a key: {why}", where)
                continue
            if not isinstance(raw, Mapping):
                self.error(
                    f'expected a table [{where}] with key = "..." and role = "...", '
                    f"got {_kind(raw)}",
                    where,
                )
                continue
            for field_name in raw:
                if field_name not in ("key", "role"):
                    hint = _suggest(str(field_name), ["key", "role"])
                    self.error(f"unknown key {field_name!r} in [{where}]{hint}", where)
            key, role = raw.get("key"), raw.get("role")
            if key is None:
                self.error(f'missing key = "..." in [{where}]', where)
            elif not isinstance(key, str):
                self.error(f"expected a string, got {_kind(key)}", f"{where}.key")
            if role is None:
                role = Role.VIEWER.value  # least privilege: a key reads unless told more
            if not isinstance(role, str) or role.strip().lower() not in set(Role):
                shown = repr(role) if isinstance(role, str) else _kind(role)
                self.error(f"{shown} is not one of {roles}", f"{where}.role")
            if not isinstance(key, str) or not isinstance(role, str):
                continue
            if role.strip().lower() not in set(Role):
                continue
            value = self.expand(key, f"{where}.key", False)
            out[str(name)] = ApiKeySpec(key=value, role=Role(role.strip().lower()))
        return out

    def prices(self, data: Any) -> dict[str, ModelPrice]:
        """``[llm.prices."MODEL"]`` tables: ``input`` and ``output``, USD per million tokens,
        each a number of zero or more."""
        if not isinstance(data, Mapping):
            self.error(
                f'expected [llm.prices."MODEL"] tables (input = ..., output = ...), '
                f"got {_kind(data)}",
                "llm.prices",
            )
            return {}
        out: dict[str, ModelPrice] = {}
        for model, raw in data.items():
            where = f"llm.prices.{model}"  # (as the line index spells it: unquoted)
            table = f'[llm.prices."{model}"]'
            if not str(model).strip():
                self.error("a model name cannot be empty", where)
                continue
            if not isinstance(raw, Mapping):
                self.error(
                    f"expected a table {table} with input = ... and output = ... "
                    f"(USD per million tokens), got {_kind(raw)}",
                    where,
                )
                continue
            for name in raw:
                if name not in ("input", "output"):
                    hint = _suggest(str(name), ["input", "output"])
                    self.error(f"unknown key {name!r} in {table}{hint}", f"{where}.{name}")
            prices: dict[str, float] = {}
            for name in ("input", "output"):
                value = raw.get(name)
                if value is None:
                    self.error(
                        f"missing {name} = ... (USD per million tokens) in {table}",
                        f"{where}.{name}",
                    )
                elif isinstance(value, bool) or not isinstance(value, int | float):
                    self.error(
                        f"expected a number of USD per million tokens, got {_kind(value)}",
                        f"{where}.{name}",
                    )
                elif not math.isfinite(value) or value < 0:
                    self.error(
                        f"must be a number of zero or more, got {value!r}", f"{where}.{name}"
                    )
                else:
                    prices[name] = float(value)
            if len(prices) == 2:
                out[str(model)] = ModelPrice(input=prices["input"], output=prices["output"])
        return out

    def check_api_keys(self, api: dict[str, Any]) -> None:
        """Every key long enough (an empty or short key protects nothing), each value under one
        name, and no named key taking a name ``api_keys`` gives (key-1, key-2...)."""
        seen: dict[str, str] = {}
        env_key = self.env.get("SYMBI_API_KEY") or None

        def check(value: str, key: str, label: str) -> None:
            source = " (from $SYMBI_API_KEY)" if env_key is not None and value == env_key else ""
            if len(value) < MIN_API_KEY_CHARS:
                size = "is empty" if not value.strip() else f"has {len(value)} characters"
                self.error(
                    f"{label}{source} {size}: an API key needs at least {MIN_API_KEY_CHARS} "
                    "characters (make one with: openssl rand -base64 32)",
                    key,
                )
            elif value in seen:
                self.error(f"{label}{source} is the same as {seen[value]}", key)
            else:
                seen[value] = key if label == "the key" else f"api_keys {label}"

        listed = api.get("api_keys") or ()
        named_values = {spec.key for spec in (api.get("keys") or {}).values()}
        if env_key is not None and env_key in named_values and env_key in listed:
            # SYMBI_API_KEY is one of the named keys (a client's environment): it keeps its
            # name and role rather than becoming another admin key
            listed = api["api_keys"] = tuple(k for k in listed if k != env_key)
        for index, value in enumerate(listed):
            check(value, "api.api_keys", f"item {index} (key-{index + 1})")
        for name, spec in (api.get("keys") or {}).items():
            auto = re.fullmatch(r"key-(\d+)", name)
            if auto and 1 <= int(auto.group(1)) <= len(listed):
                self.error(
                    f"{name!r} is already the name of api_keys item {int(auto.group(1)) - 1}: "
                    "choose another name",
                    f"api.keys.{name}",
                )
            check(spec.key, f"api.keys.{name}.key", "the key")

    def convert(self, tp: Any, value: Any, key: str) -> Any:
        try:
            return _convert(tp, value, key)
        except ValidationError as exc:
            self.error(exc.reason, exc.field or key)
            return _UNSET

    def agents(self, data: Any) -> dict[str, AgentDefinition]:
        from ..dsl.agents import agent_from_mapping

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

    def policies(self, data: Any) -> dict[str, NamedPolicy]:
        from ..jobspec import policy_from_mapping, validate_name

        if not isinstance(data, Mapping):
            self.error(f"expected [policies.NAME] tables, got {_kind(data)}", "policies")
            return {}
        out: dict[str, NamedPolicy] = {}
        source = f"config:{self.path}" if self.path else "config"
        for name, raw in data.items():
            key = f"policies.{name}"
            try:
                validate_name(name, key)
                spec = policy_from_mapping(self.expand(dict(raw), key, False), key)
            except (ValidationError, TypeError, ValueError) as exc:
                errors = exc.errors if isinstance(exc, ValidationError) else []
                if not errors:
                    self.error(f"expected a table [policies.{name}] of policy rules", key)
                for err in errors:
                    reason = err.reason
                    m = re.match(r"^unknown field (\S+)(.*)$", reason)
                    if m:
                        reason = f"unknown key {m.group(1)} in [{key}]{m.group(2)}"
                    self.error(reason, err.field or key)
                continue
            out[name] = NamedPolicy(name=name, spec=spec, source=source)
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
        if "secrets" in kwargs:
            from ..secrets import check_secrets_config

            for key, message in check_secrets_config(kwargs["secrets"]):
                self.error(message, key)
        if "telemetry" in kwargs:
            from ..telemetry import check_telemetry_config

            for key, message in check_telemetry_config(kwargs["telemetry"]):
                self.error(message, key)
        if isinstance(kwargs.get("scheduler"), SchedulerSettings):
            self.check_alert_channels(kwargs["scheduler"].delivery)
        return SchedulerConfig(**kwargs, path=self.path, warnings=tuple(self.warnings))

    def check_alert_channels(self, delivery: DeliveryConfig) -> None:
        """``on_failure`` / ``on_dead_letter`` name channels that exist, each once: a default
        that could only fail at the first failure would fail when it matters most."""
        if not (delivery.on_failure or delivery.on_dead_letter):
            return  # (the delivery package is not imported for nothing)
        from ..delivery.base import DeliveryFailure
        from ..delivery.registry import ChannelRegistry

        registry = ChannelRegistry(delivery.custom)
        for event in ("on_failure", "on_dead_letter"):
            names: tuple[str, ...] = getattr(delivery, event)
            key = f"scheduler.delivery.{event}"
            for i, name in enumerate(names):
                try:
                    registry.resolve(name)
                except DeliveryFailure as exc:
                    self.error(f"item {i}: {exc.message}", key)
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                self.error(f"named more than once: {', '.join(twice)}", key)


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
        choices = CHOICES.get(key)
        if choices is not None:
            if value.strip().lower() not in choices:
                raise ValidationError(f"{value!r} is not one of {', '.join(choices)}", field=key)
            return value.strip().lower()
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
        config = load_config_text(text, str(path), env=env)
        from ..telemetry import check_extra

        check_extra(config.telemetry)  # an endpoint the daemon would refuse to start with
    except ConfigErrors as exc:
        return list(exc.errors)
    except ConfigError as exc:
        return [exc]
    return []
