"""Export: jobs (with the agents and named policies they name) as DSL text or JSON specs.

``symbi cron export`` and ``GET /api/v1/export`` print what ``symbi cron add --file`` (DSL) or
``--json`` / ``POST /api/v1/schedule`` (JSON) read back to the same definitions: exporting, then
applying the text to an empty store and exporting again gives the same text.

Each job field has one writer in :data:`FIELD_WRITERS` (a field added to
:class:`~scheduler_core.model.JobDefinition` needs one; a test fails until it has). Strings are
written so that the DSL reads them back exactly: quotes, backslashes, line breaks and control
characters escaped, ``${`` written ``\\${`` where the DSL would expand or unescape it, and kept as
written in the fields that are templates (``webhook_headers``, ``webhook_url``,
``delivery_config``, ``agent_pin_jwt``), so ``${VAR}`` stays a reference, never a value.

Secrets: a stored job keeps ``${VAR}`` literally, so exporting one reveals nothing. What an
operator typed literally (a header value without ``${...}``, an ``agent_pin_jwt``, credentials
in a URL, an agent's environment under a secret-like name) is exported as written, because it is
the operator's configuration; :func:`literal_secrets` names such fields, and the API exports
them only to an admin key (see :mod:`scheduler_core.api.routes.schedule`).
"""

from __future__ import annotations

__all__ = [
    "FIELD_WRITERS",
    "Export",
    "ExportFormat",
    "collect_export",
    "dsl_string",
    "export_dsl",
    "export_json",
    "literal_secrets",
    "render_export",
]

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import field, fields
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from .clock import format_instant
from .errors import ValidationError
from .jobspec import JOB_FIELDS, parse_duration, spec_to_json
from .model import AgentDefinition, HeartbeatSpec, JobDefinition, PolicySpec
from .named_policies import NamedPolicy
from .records import record
from .textsafe import json_safe, visible

if TYPE_CHECKING:
    from .service import SchedulerService

ExportFormat = Literal["symbi", "json"]
_INDENT = "  "
_SECRET_NAME = re.compile(r"(?i)(token|secret|password|passwd|key|auth|credential|signature)")
_PLAIN_HEADERS = frozenset({"content-type", "accept", "accept-encoding", "accept-language"})


# --- values as DSL text --------------------------------------------------------------------------


def dsl_string(text: str, *, template: bool = False) -> str:
    """``text`` as a double-quoted DSL string that reads back to exactly ``text``.

    ``template``: the field keeps ``${VAR}`` as written (a ``$`` is written as it is);
    elsewhere a ``$`` before ``{`` is written ``\\$`` (the DSL would otherwise expand it, in an
    agent block, or read ``$${`` as ``${``, in a schedule)."""
    out = ['"']
    for i, ch in enumerate(text):
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "$" and not template and text[i + 1 : i + 2] == "{":
            out.append("\\$")
        elif not ch.isprintable() and ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _number(value: float) -> str:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")  # the DSL reads no exponents


def dsl_value(value: Any, *, template: bool = False, depth: int = 1) -> str:
    """Plain data (strings, numbers, booleans, null, lists, maps) as a DSL value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    if isinstance(value, str):
        return dsl_string(value, template=template)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        pad = _INDENT * (depth + 1)
        lines = [
            f"{pad}{dsl_string(str(k))}: {dsl_value(v, template=template, depth=depth + 1)}"
            for k, v in value.items()
        ]
        return "{\n" + "\n".join(lines) + "\n" + _INDENT * depth + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dsl_value(v, template=template, depth=depth) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as DSL")


# --- one writer per job field --------------------------------------------------------------------

#: a field's value -> its DSL value text, or None to leave the field out (its default)
FieldWriter = Callable[[Any], str | None]


def _text(template: bool = False) -> FieldWriter:
    return lambda v: None if v is None else dsl_string(v, template=template)


def _names(v: tuple[str, ...]) -> str | None:
    return dsl_value(list(v)) if v else None


def _alert(v: tuple[str, ...] | None) -> str | None:
    return None if v is None else dsl_value(list(v))  # [] says "none", unlike absent


def _enum(default: str) -> FieldWriter:
    return lambda v: None if v.value == default else dsl_string(v.value)


def _opt_number(v: float | None) -> str | None:
    return None if v is None else _number(v)


def _map(template: bool) -> FieldWriter:
    return lambda v: dsl_value(dict(v), template=template) if v else None


def _policy(v: PolicySpec) -> str | None:
    return None if v.is_default else policy_body(v, depth=1)


def _heartbeat(v: HeartbeatSpec | None) -> str | None:
    if v is None:
        return None
    return dsl_value(
        {
            "enabled": v.enabled,
            "context_mode": v.context_mode.value,
            "max_iterations": v.max_iterations,
        }
    )


#: every user-settable JobDefinition field -> its writer, in the order they are written
FIELD_WRITERS: dict[str, FieldWriter] = {
    "name": _text(),
    "agent": _text(),
    "cron": _text(),
    "at": lambda v: None if v is None else dsl_string(format_instant(v)),
    "after": _text(),
    "timezone": lambda v: None if v == "UTC" else dsl_string(v),
    "session_mode": _enum("ephemeral_with_summary"),
    "delivery": _names,
    "webhook_url": _text(template=True),
    "webhook_headers": _map(template=True),
    "slack_channel": _text(),
    "email_recipients": _names,
    "delivery_config": _map(template=True),
    "on_failure": _alert,
    "on_dead_letter": _alert,
    "policy": _policy,
    "policies": _names,
    "heartbeat": _heartbeat,
    "max_concurrent": lambda v: None if v == 1 else _number(v),
    "max_retries": _opt_number,
    "jitter_seconds": _opt_number,
    "catch_up": _enum("once"),
    "misfire_grace_seconds": _opt_number,
    "agent_pin_jwt": _text(template=True),
    "input": _text(),
}
assert set(FIELD_WRITERS) <= set(JOB_FIELDS), set(FIELD_WRITERS) - set(JOB_FIELDS)


#: the policy's durations in seconds -> the key the guide writes them under
_DURATION_KEYS = {
    "max_runtime_seconds": "max_runtime",
    "approval_timeout_seconds": "approval_timeout",
}
_DURATION_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def dsl_duration(seconds: float) -> str:
    """A duration as the guide writes it (``"2m"``, ``"90s"``, ``"1h"``, ``"500ms"``: the
    largest unit that says it in whole numbers), or as a number of seconds when no unit says it
    exactly; either reads back to exactly ``seconds``."""
    for unit, size in _DURATION_UNITS:
        if seconds >= size and seconds % size == 0:
            text = f"{int(seconds // size)}{unit}"
            break
    else:
        millis = seconds * 1000
        text = f"{int(millis)}ms" if millis.is_integer() else ""
    if text and parse_duration(text, "duration") == seconds:
        return dsl_string(text)
    return _number(seconds)


def policy_body(policy: PolicySpec, depth: int) -> str:
    """A policy's rules as a ``{ ... }`` body (what differs from the defaults)."""
    default = PolicySpec()
    pad = _INDENT * (depth + 1)
    lines: list[str] = []
    for f in fields(PolicySpec):
        value = getattr(policy, f.name)
        if value == getattr(default, f.name):
            continue
        if f.name in _DURATION_KEYS:
            lines.append(f"{pad}{_DURATION_KEYS[f.name]}: {dsl_duration(value)}")
            continue
        if f.name == "allowed_hours":
            hours = {"start": value.start, "end": value.end}
            if value.timezone is not None:
                hours["timezone"] = value.timezone
            value = hours
        lines.append(f"{pad}{f.name}: {dsl_value(value, depth=depth + 1)}")
    return "{\n" + "\n".join(lines) + "\n" + _INDENT * depth + "}"


def schedule_block(job: JobDefinition) -> str:
    """A job as a ``schedule { ... }`` block."""
    missing = [f for f in JOB_FIELDS if f not in FIELD_WRITERS]
    if missing:  # a new JobDefinition field nobody taught the exporter (see FIELD_WRITERS)
        raise RuntimeError(f"the exporter has no writer for job field(s) {', '.join(missing)}")
    lines = ["schedule {"]
    for name, writer in FIELD_WRITERS.items():
        text = writer(getattr(job, name))
        if text is None:
            continue
        if name == "policy":
            lines.append(f"{_INDENT}policy {text}")
        else:
            lines.append(f"{_INDENT}{name}: {text}")
    lines.append("}")
    return "\n".join(lines)


def agent_block(agent: AgentDefinition) -> str:
    """An agent as an ``agent "NAME" { ... }`` block (values are not templates: a ``${``
    in them is written so that it is not expanded again)."""
    from .dsl.agents import agent_to_mapping

    lines = [f"agent {dsl_string(agent.name)} {{"]
    for key, value in agent_to_mapping(agent).items():
        lines.append(f"{_INDENT}{key}: {dsl_value(value)}")
    lines.append("}")
    return "\n".join(lines)


def policy_block(named: NamedPolicy) -> str:
    """A named policy as a ``policy NAME { ... }`` block."""
    return f"policy {dsl_string(named.name)} {policy_body(named.spec, depth=0)}"


# --- what an export holds -----------------------------------------------------------------------


@record
class Export:
    """The jobs to export, with the agents and named policies they name (those known)."""

    jobs: Sequence[JobDefinition]
    agents: Sequence[AgentDefinition] = ()
    policies: Sequence[NamedPolicy] = ()
    #: agent names the jobs use that no config, DSL file or registration defines here
    unknown_agents: tuple[str, ...] = field(default=())


def export_dsl(export: Export) -> str:
    """DSL text: the agents, the named policies, then the schedules, each block once."""
    head = "# exported by symbi cron export: apply with `symbi cron add --file FILE`"
    for name in export.unknown_agents:
        shown = visible(name, one_line=True)
        head += f"\n# agent {shown} is not defined here: define it where this is applied"
    held = {job.name for job in export.jobs}
    for job in export.jobs:  # a follower exported without its leader applies only beside it
        if job.after is not None and job.after not in held:
            name, leader = visible(job.name, one_line=True), visible(job.after, one_line=True)
            head += (
                f"\n# schedule {name} runs after {leader}, which this export does not hold:"
                f" it applies where {leader} exists (or export both)"
            )
    parts = [
        head,
        *(agent_block(a) for a in export.agents),
        *(policy_block(p) for p in export.policies),
        *(schedule_block(j) for j in export.jobs),
    ]
    return "\n\n".join(parts) + "\n"


def _agent_json(agent: AgentDefinition) -> dict[str, Any]:
    from .dsl.agents import agent_to_mapping

    return agent_to_mapping(agent)


def _policy_json(policy: PolicySpec) -> dict[str, Any]:
    from .jobspec._serial import _policy_dict

    return _policy_dict(policy)


def export_json(export: Export) -> str:
    """JSON: ``{"jobs": [...], "agents": {...}, "policies": {...}}``; each job is a body
    ``symbi cron add --json`` and ``POST /api/v1/schedule`` accept; ``agents`` is what
    ``POST /api/v1/schedule/apply`` takes beside its jobs."""
    body = {
        "jobs": [json.loads(spec_to_json(j)) for j in export.jobs],
        "agents": {a.name: _agent_json(a) for a in export.agents},
        "policies": {p.name: _policy_json(p.spec) for p in export.policies},
    }
    return json_safe(json.dumps(body, indent=2, ensure_ascii=False)) + "\n"


def render_export(export: Export, fmt: str) -> str:
    """The export as ``fmt`` (``symbi``: DSL text; ``json``)."""
    if fmt == "symbi":
        return export_dsl(export)
    if fmt == "json":
        return export_json(export)
    raise ValidationError(f"unknown format {fmt!r} (use symbi or json)", field="format")


def _url_has_credentials(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return bool(parts.password or parts.username) and "${" not in (parts.netloc or "")


def literal_secrets(export: Export) -> list[str]:
    """Where the export holds a secret written literally (not a ``${VAR}`` reference):
    ``job NAME: webhook_headers.Authorization``, ``agent NAME: env.API_KEY``..."""
    found: list[str] = []
    for job in export.jobs:
        for header, value in job.webhook_headers.items():
            if header.lower() not in _PLAIN_HEADERS and "${" not in value:
                found.append(f"job {job.name}: webhook_headers.{header}")
        if job.agent_pin_jwt and "${" not in job.agent_pin_jwt:
            found.append(f"job {job.name}: agent_pin_jwt")
        if job.webhook_url and _url_has_credentials(job.webhook_url):
            found.append(f"job {job.name}: webhook_url")
        found.extend(
            f"job {job.name}: delivery_config.{path}" for path in _secret_paths(job.delivery_config)
        )
    for agent in export.agents:
        for name in agent.env:
            if _SECRET_NAME.search(name):
                found.append(f"agent {agent.name}: env.{name}")
    return found


def _secret_paths(value: Any, prefix: str = "") -> Iterable[str]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, str):
                if (_SECRET_NAME.search(str(k)) and "${" not in v) or (
                    "://" in v and _url_has_credentials(v)
                ):
                    yield path
            else:
                yield from _secret_paths(v, path)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _secret_paths(v, f"{prefix}[{i}]")


def _leaders_first(jobs: list[JobDefinition]) -> list[JobDefinition]:
    """By name, except that a job comes after the job its ``after`` names (when that one is
    exported too), so the jobs can be added one at a time, in this order."""
    exported = {j.name for j in jobs}
    placed: set[str] = set()
    out: list[JobDefinition] = []
    pending = list(jobs)
    while pending:  # chains have no loops (refused when made): every pass places one at least
        waiting = []
        for job in pending:
            if job.after is None or job.after not in exported or job.after in placed:
                out.append(job)
                placed.add(job.name)
            else:
                waiting.append(job)
        if len(waiting) == len(pending):
            return out + waiting
        pending = waiting
    return out


async def collect_export(service: SchedulerService, names: Sequence[str] = ()) -> Export:
    """The jobs named (by name, id or id prefix; none: every job, by name), and the agents and
    named policies they name that this scheduler knows."""
    jobs: list[JobDefinition] = []
    if names:
        seen: set[str] = set()
        for ref in names:
            job = await service.get_job(ref)  # JobNotFound names the closest
            if job.id not in seen:
                seen.add(job.id)
                jobs.append(job)
    else:
        cursor: str | None = None
        while True:  # by cursor: jobs added or removed meanwhile shift no page
            page = await service.list_jobs(limit=1000, after=cursor)
            jobs.extend(page.jobs)
            cursor = page.next_cursor
            if cursor is None:
                break
    jobs = _leaders_first(sorted(jobs, key=lambda j: j.name))
    agents: list[AgentDefinition] = []
    unknown: list[str] = []
    for agent_name in sorted({j.agent for j in jobs}):
        agent = await service.find_agent(agent_name)  # the config's, DSL files', registered
        if agent is None:
            unknown.append(agent_name)
        else:
            agents.append(agent)
    policy_names = sorted({p for j in jobs for p in j.policies})
    known = await service.known_policies(policy_names)
    policies = [known[n] for n in policy_names if n in known]
    return Export(jobs=jobs, agents=agents, policies=policies, unknown_agents=tuple(unknown))
