"""Agent definitions from plain mappings: one validator for DSL ``agent`` blocks and config tables.

``agent NAME { ... }`` in a ``.symbi`` file and ``[agents.NAME]`` in the TOML config accept the
same keys and report the same mistakes, because both go through :func:`agent_from_mapping`. Like
:func:`scheduler_core.jobspec.job_from_mapping` it reports every problem at once, each as a
:class:`~scheduler_core.errors.ValidationError` whose ``field`` is the dotted key.
"""

from __future__ import annotations

__all__ = [
    "AGENT_FIELDS",
    "PROVIDERS",
    "agent_from_mapping",
    "agent_to_mapping",
    "infer_runner",
    "provider_for_model",
]

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ValidationError
from ..jobspec import _shown, parse_duration, validate_name
from ..model import AgentDefinition, RunnerKind

#: keys an agent definition accepts (``name`` comes from the block or table name)
AGENT_FIELDS: tuple[str, ...] = (
    "name",
    "runner",
    "command",
    "handler",
    "model",
    "system_prompt",
    "provider",
    "base_url",
    "api_key_env",
    "capabilities",
    "env",
    "inherit_env",
    "working_dir",
    "timeout_seconds",
    "max_tokens",
    "temperature",
    "description",
)
_ALIASES = {"timeout": "timeout_seconds", "cwd": "working_dir", "prompt": "system_prompt"}
PROVIDERS: tuple[str, ...] = ("openai", "anthropic")
_HANDLER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][\w.]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")  # \Z: "$" lets "NAME\n" through
_RUNNER_FIELD = {
    RunnerKind.COMMAND: "command",
    RunnerKind.PYTHON: "handler",
    RunnerKind.LLM: "model",
}


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _string(value: object, field: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"expected a string, got {_kind(value)}", field=field)
    if not allow_empty and not value.strip():
        raise ValidationError("must not be empty", field=field)
    if "\x00" in value:
        raise ValidationError("must not contain NUL characters", field=field)
    return value


def _string_list(value: object, field: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ValidationError(f"expected a list of strings, got {_kind(value)}", field=field)
    errors: list[ValidationError] = []
    out: list[str] = []
    for i, item in enumerate(value):
        try:
            out.append(_string(item, f"{field}[{i}]"))
        except ValidationError as exc:
            errors.append(exc)
    if errors:
        raise ValidationError.collect(errors)
    return tuple(out)


def _command(value: object, field: str) -> str | tuple[str, ...]:
    if isinstance(value, str):
        return _string(value, field)
    if isinstance(value, list | tuple):
        if not value:
            raise ValidationError("must not be an empty list", field=field)
        return _string_list(value, field)
    raise ValidationError(
        f"expected a shell string or a list of arguments, got {_kind(value)}", field=field
    )


def _env(value: object, field: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ValidationError(
            f'expected an object of strings ({{ "NAME": "value" }}), got {_kind(value)}',
            field=field,
        )
    errors: list[ValidationError] = []
    out: dict[str, str] = {}
    for key, item in value.items():
        where = f"{field}.{key}"
        if not isinstance(key, str) or not _ENV_NAME.match(key):
            errors.append(ValidationError(f"{key!r} is not a variable name", field=where))
            continue
        try:
            out[key] = _string(item, where, allow_empty=True)
        except ValidationError as exc:
            errors.append(exc)
    if errors:
        raise ValidationError.collect(errors)
    return out


_ENV_GLOB = re.compile(r"^[A-Za-z0-9_*?]+\Z")


def _inherit_env(value: object, field: str) -> tuple[str, ...]:
    """Names or globs (``AWS_*``) of variables the agent takes from the scheduler's
    environment; nothing else of it is passed (see :mod:`scheduler_core.runtime.environment`)."""
    names = _string_list(value, field)
    errors = [
        ValidationError(
            f"{name!r} is not a variable name or glob (letters, digits, _, * and ?)",
            field=f"{field}[{i}]",
        )
        for i, name in enumerate(names)
        if not _ENV_GLOB.match(name) or name[0].isdigit()
    ]
    if errors:
        raise ValidationError.collect(errors)
    return names


def _handler(value: object, field: str) -> str:
    text = _string(value, field).strip()
    if not _HANDLER.match(text):
        raise ValidationError(
            f"{text!r} is not a handler: use 'package.module:function'", field=field
        )
    return text


def _provider(value: object, field: str) -> str:
    text = _string(value, field).strip().lower()
    if text not in PROVIDERS:
        raise ValidationError(
            f"{value!r} is not one of: {', '.join(PROVIDERS)} "
            "(OpenAI-compatible servers such as Ollama use openai)",
            field=field,
        )
    return text


def _base_url(value: object, field: str) -> str:
    text = _string(value, field).strip()
    if not re.match(r"^https?://[^\s/]+", text):
        raise ValidationError(
            f"{text!r} is not an http(s) URL (e.g. http://localhost:11434/v1)", field=field
        )
    return text


def _env_name(value: object, field: str) -> str:
    text = _string(value, field).strip()
    if not _ENV_NAME.match(text):
        raise ValidationError(
            f"{text!r} is not an environment variable name (e.g. OPENAI_API_KEY)", field=field
        )
    return text


def _runner(value: object, field: str) -> RunnerKind:
    if isinstance(value, RunnerKind):
        return value
    if isinstance(value, str) and value.strip().lower() in {r.value for r in RunnerKind}:
        return RunnerKind(value.strip().lower())
    choices = ", ".join(r.value for r in RunnerKind)
    raise ValidationError(f"{value!r} is not one of: {choices}", field=field)


def _timeout(value: object, field: str) -> float:
    seconds = parse_duration(value, field)
    if seconds <= 0:
        raise ValidationError("must be greater than zero", field=field)
    return seconds


def _max_tokens(value: object, field: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"expected a whole number, got {_kind(value)}", field=field)
    if not 1 <= value <= 10_000_000:
        raise ValidationError(f"must be between 1 and 10000000, got {_shown(value)}", field=field)
    return value


def _temperature(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"expected a number, got {_kind(value)}", field=field)
    if not 0 <= value <= 2 or not math.isfinite(value):  # no float() of a 400-digit int
        raise ValidationError(f"must be between 0 and 2, got {_shown(value)}", field=field)
    return float(value)


_CHECKS: dict[str, Callable[[object, str], Any]] = {
    "runner": _runner,
    "command": _command,
    "handler": _handler,
    "model": _string,
    "system_prompt": lambda v, f: _string(v, f, allow_empty=True),
    "provider": _provider,
    "base_url": _base_url,
    "api_key_env": _env_name,
    "capabilities": _string_list,
    "env": _env,
    "inherit_env": _inherit_env,
    "working_dir": _string,
    "timeout_seconds": _timeout,
    "max_tokens": _max_tokens,
    "temperature": _temperature,
    "description": lambda v, f: _string(v, f, allow_empty=True),
}


def infer_runner(data: Mapping[str, Any]) -> RunnerKind | None:
    """The runner an agent gets when it names none: command, then handler, then model."""
    present = [kind for kind, key in _RUNNER_FIELD.items() if data.get(key) is not None]
    return present[0] if len(present) == 1 else None


def agent_from_mapping(
    data: Mapping[str, Any], *, name: str | None = None, source: str | None = None
) -> AgentDefinition:
    """Build an agent from user data; every problem is reported in one ValidationError.

    ``name`` is the block or table name; a ``name`` key in ``data`` must agree with it. The
    runner is ``runner`` if given, else inferred from whichever of ``command`` (command),
    ``handler`` (python) or ``model`` (llm) is set; the runner's own key is required.
    """
    if not isinstance(data, Mapping):
        raise ValidationError(f"expected an object, got {_kind(data)}")
    errors: list[ValidationError] = []
    values: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for raw_key, raw in data.items():
        key = _ALIASES.get(raw_key, raw_key)
        if key not in AGENT_FIELDS:
            import difflib  # at first use: not on the scheduler's start path

            close = difflib.get_close_matches(
                str(raw_key), [*AGENT_FIELDS, *_ALIASES], n=1, cutoff=0.6
            )
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            errors.append(ValidationError(f"unknown field {raw_key!r}{hint}", field=str(raw_key)))
            continue
        if key in seen:
            errors.append(
                ValidationError(f"given twice (also as {seen[key]!r})", field=str(raw_key))
            )
            continue
        if raw is None:
            continue
        seen[key] = raw_key
        if key == "name":
            try:
                given = validate_name(raw, raw_key)
            except ValidationError as exc:
                errors.append(exc)
                continue
            if name is not None and given != name:
                errors.append(
                    ValidationError(
                        f"{given!r} does not match the agent's name {name!r}", field=raw_key
                    )
                )
            name = given
            continue
        try:
            values[key] = _CHECKS[key](raw, raw_key)
        except ValidationError as exc:
            errors.extend(exc.errors)
    if name is None:
        errors.append(ValidationError("is required", field="name"))
    else:
        try:
            validate_name(name)
        except ValidationError as exc:
            errors.append(exc)

    runner = values.get("runner")
    if runner is None and "runner" not in seen:
        kinds = [key for key in ("command", "handler", "model") if key in seen]
        if not kinds:
            errors.append(
                ValidationError(
                    "needs command (a program), handler (module:function) or model (an LLM)"
                )
            )
        elif len(kinds) > 1 and not any(e.field in kinds for e in errors):
            errors.append(
                ValidationError(
                    f"cannot tell the runner from {' and '.join(kinds)}: "
                    'set runner: "command", "python" or "llm"'
                )
            )
        else:
            runner = infer_runner(values)
    elif runner is not None:
        needed = _RUNNER_FIELD[runner]
        if needed not in seen:
            errors.append(ValidationError(f"{runner.value!r} needs {needed!r}", field="runner"))
    if runner is RunnerKind.LLM and "model" in values and not errors:
        _settle_provider(values, seen, errors)
    if errors:
        raise ValidationError.collect(errors)
    assert name is not None and runner is not None
    values.pop("runner", None)
    return AgentDefinition(name=name, runner=runner, source=source, **values)


#: model names whose provider is known without being told: (prefix, provider)
_KNOWN_MODELS: tuple[tuple[str, str], ...] = (
    ("claude-", "anthropic"),
    ("gpt-", "openai"),
    ("chatgpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
)


def provider_for_model(model: str) -> str | None:
    """The provider of a well-known model name (``claude-*``, ``gpt-*``, ``o1``..``o4``) or None."""
    lowered = model.strip().lower()
    return next((p for prefix, p in _KNOWN_MODELS if lowered.startswith(prefix)), None)


def _settle_provider(values: dict[str, Any], seen: Mapping[str, str], errors: list[Any]) -> None:
    """An LLM agent's provider: given, or told by ``base_url`` (an OpenAI-compatible server), or
    inferred from a well-known model name; an agent with none of these is refused (it would go
    to OpenAI with a model OpenAI may not have)."""
    if values.get("provider") or values.get("base_url"):
        return
    inferred = provider_for_model(values["model"])
    if inferred is None:
        errors.append(
            ValidationError(
                f"cannot tell which provider serves model {values['model']!r}: set provider "
                f"({' or '.join(PROVIDERS)}) or base_url",
                field=seen.get("model", "model"),
            )
        )
    else:
        values["provider"] = inferred


def agent_to_mapping(agent: AgentDefinition) -> dict[str, Any]:
    """The agent as the keys :func:`agent_from_mapping` reads back to the same agent (JSON-ready:
    what a stored or sent agent block is). ``name`` and ``source`` are not in it."""
    out: dict[str, Any] = {"runner": agent.runner.value}
    for f in dataclasses.fields(agent):
        if f.name in ("name", "runner", "source"):
            continue
        value = getattr(agent, f.name)
        if value is None or value == () or value == {}:
            continue
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        out[f.name] = value
    return out
