"""Showing and editing a config file: ``symbi config show`` and ``symbi config set``."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, get_origin

from ..errors import ConfigError
from ..model import AgentDefinition, AllowedHours, PolicySpec
from ..settings import SchedulerConfig
from ._lines import _split_key
from ._load import _UNSET, _env_value, load_config_text
from ._schema import (
    _SECRET_NAME,
    _TABLES,
    ENV_OVERRIDES,
    SECRET_KEYS,
    ConfigErrors,
    _is_map_type,
    _strip_optional,
    _suggest,
    _table_fields,
)


def _mask(key: str, value: Any) -> Any:
    from ..jobspec import mask_secret

    if isinstance(value, tuple | list):
        return [mask_secret(v) for v in value]
    if isinstance(value, Mapping):
        return {k: mask_secret(v) for k, v in value.items()}
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
            if key == "api.keys":
                maps.append((name, _named_keys(value, mask_secrets)))
                continue
            if key == "llm.prices":
                prices = {m: {"input": p.input, "output": p.output} for m, p in value.items()}
                maps.append((name, prices))
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
            nested = (name, table) in (("keys", "api"), ("prices", "llm"))
            sub = tomlkit.table(is_super_table=nested or None)
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
    if cfg.policies:
        policies = tomlkit.table(is_super_table=True)
        for name, named in cfg.policies.items():
            t = tomlkit.table()
            default = PolicySpec()
            for f in dataclasses.fields(PolicySpec):
                value = getattr(named.spec, f.name)
                if value == getattr(default, f.name):
                    continue
                if isinstance(value, AllowedHours):
                    value = {k: v for k, v in dataclasses.asdict(value).items() if v is not None}
                t.add(f.name, _toml_value(value))
            policies.add(name, t)
        doc.add("policies", policies)
    return doc.as_string()


def _named_keys(keys: Mapping[str, Any], mask_secrets: bool) -> dict[str, dict[str, str]]:
    """``[api.keys.NAME]`` tables as ``config show`` writes them: the key masked."""
    from ..jobspec import mask_secret

    return {
        name: {
            "key": str(mask_secret(spec.key)) if mask_secrets else spec.key,
            "role": spec.role.value,
        }
        for name, spec in keys.items()
    }


def _field_for(parts: list[str]) -> tuple[str, Any]:
    """The dotted key's kind: ("field", type) | ("map", None) | ("agent", None) |
    ("api_key", None); or raise."""
    dotted = ".".join(parts)
    if parts[:2] == ["api", "keys"]:
        if len(parts) != 4 or parts[3] not in ("key", "role"):
            raise ConfigError(
                "named API keys are api.keys.NAME.key and api.keys.NAME.role "
                "(e.g. api.keys.ci.role)",
                key=dotted,
            )
        return "api_key", None
    if parts[:2] == ["llm", "prices"]:
        raise ConfigError(
            'model prices are tables: write [llm.prices."MODEL"] with input = ... and '
            "output = ... (USD per million tokens) in the config file",
            key=dotted,
        )
    if parts[0] == "agents":
        from ..dsl.agents import AGENT_FIELDS

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
    value = _parse_raw(
        raw_value, tp if kind == "field" else (str if kind in ("map", "api_key") else None)
    )
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
    import tempfile  # at first use: not on the scheduler's start path

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
        return self.base.get(key, "set-in-the-environment")  # (as long as a key must be)

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
