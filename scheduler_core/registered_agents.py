"""Agents registered in the store with their schedules.

An agent comes from one of three places: the config's ``[agents.NAME]``, a DSL file in the
daemon's ``dsl_paths`` (both read at start, held in memory), or an agent block in a file given to
``symbi cron add --file`` (locally, or sent with its schedules through a daemon's ``/apply``):
those are *registered*, written to the store's ``agents`` table in the transaction that writes
the schedules, so every scheduler on the store (a daemon restarted later, another PostgreSQL
node) knows them. The config and the DSL paths win: a registered agent never replaces one of
theirs under the same name.

Through the API an agent may only be an LLM agent that names its model, and may not choose
where a key goes or what runs (``base_url``, ``api_key_env``, ``env``, ``command``...): those
would let an API key send the daemon's secrets, or run a program, on the daemon's machine. The
operator lifts this with ``[api] agent_definitions = "any"`` (or forbids registering with
``"none"``).
"""

from __future__ import annotations

__all__ = [
    "API_AGENT_FIELDS",
    "KIND",
    "Registration",
    "agents_from_api",
    "check_api_agent",
    "from_stored",
    "plan_registration",
    "take_registered",
    "to_stored",
]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .clock import format_instant
from .definitions import take_stored
from .dsl.agents import agent_from_mapping, agent_to_mapping
from .errors import ValidationError
from .model import AgentDefinition, RunnerKind
from .store.base import StoredDefinition

#: the kind of definition an agent is, in the store
KIND = "agent"
#: what an agent registered through the API may set, unless ``[api] agent_definitions = "any"``
API_AGENT_FIELDS: frozenset[str] = frozenset(
    {
        "runner",
        "model",
        "provider",
        "system_prompt",
        "capabilities",
        "timeout_seconds",
        "max_tokens",
        "temperature",
        "description",
    }
)


def to_stored(agent: AgentDefinition, now: datetime) -> StoredDefinition:
    return StoredDefinition(
        kind=KIND,
        name=agent.name,
        definition=agent_to_mapping(agent),
        source=agent.source,
        updated_at=format_instant(now),
    )


def from_stored(stored: StoredDefinition) -> AgentDefinition:
    """The agent a stored row defines (checked as an agent block is)."""
    return agent_from_mapping(stored.definition, name=stored.name, source=stored.source)


def check_api_agent(agent: AgentDefinition, allowed: str, where: str) -> list[ValidationError]:
    """Why an agent sent through the API may not be registered (empty: it may)."""
    if allowed == "any":
        return []
    if allowed == "none":
        return [
            ValidationError(
                "agents cannot be registered through the API here ([api] agent_definitions = "
                '"none"): define it in the daemon\'s config or DSL paths',
                field=where,
            )
        ]
    if agent.runner is not RunnerKind.LLM:
        return [
            ValidationError(
                f"a {agent.runner.value} agent runs a program on the daemon's machine: define it "
                'in the daemon\'s config or DSL paths (or set [api] agent_definitions = "any")',
                field=where,
            )
        ]
    extra = sorted(set(agent_to_mapping(agent)) - API_AGENT_FIELDS)
    return [
        ValidationError(
            f"{key} cannot be set through the API (it decides where a key is sent or what "
            "runs): define the agent in the daemon's config or DSL paths, or set [api] "
            'agent_definitions = "any"',
            field=f"{where}.{key}",
        )
        for key in extra
    ]


@dataclass(slots=True)
class Registration:
    """What registering some agents changes: the agents to write, by name, and the names that
    were already there unchanged."""

    write: list[AgentDefinition] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def plan_registration(
    agents: Sequence[AgentDefinition],
    known: Mapping[str, AgentDefinition],
    registered: set[str],
) -> Registration:
    """Which of ``agents`` to write, given the agents ``known`` now (``registered``: the names
    among them that came from the store). One that would replace a config or DSL-path agent of
    the same name with another definition is refused, naming where that one comes from."""
    plan = Registration()
    errors: list[ValidationError] = []
    for agent in agents:
        current = known.get(agent.name)
        if current is not None and agent_to_mapping(current) == agent_to_mapping(agent):
            plan.unchanged.append(agent.name)
        elif current is not None and agent.name not in registered:
            errors.append(
                ValidationError(
                    f"agent {agent.name!r} is already defined ({current.source or 'config'}) "
                    "with another definition: rename this one, or change it there",
                    field=f"agents.{agent.name}",
                )
            )
        else:
            plan.write.append(agent)
    if errors:
        raise ValidationError.collect(errors)
    return plan


def agents_from_api(
    bodies: Mapping[str, Mapping[str, Any]],
    allowed: str,
    *,
    actor: str,
    errors: list[ValidationError],
) -> list[AgentDefinition]:
    """The agent blocks an ``/apply`` request sent, by name, those ``[api] agent_definitions``
    (``allowed``) lets it register; what is wrong with the others goes to ``errors``, each
    naming its field (``agents.NAME.base_url``)."""
    defined: list[AgentDefinition] = []
    for name, body in bodies.items():
        where = f"agents.{name}"
        try:
            agent = agent_from_mapping(body, name=name, source=f"api:{actor}")
        except ValidationError as exc:
            errors.extend(
                ValidationError(e.reason, field=where + (f".{e.field}" if e.field else ""))
                for e in exc.errors
            )
            continue
        refused = check_api_agent(agent, allowed, where)
        errors.extend(refused)
        if not refused:
            defined.append(agent)
    return defined


def take_registered(
    stored: Sequence[StoredDefinition],
    agents: dict[str, AgentDefinition],
    registered: set[str],
) -> list[str]:
    """Add the ``stored`` agents to ``agents`` (those the config or the DSL paths define win)
    and their names to ``registered``; what was wrong with any, as warnings."""
    return take_stored(
        stored,
        agents,
        registered,
        noun="agent",
        parse=from_stored,
        same=lambda a, b: agent_to_mapping(a) == agent_to_mapping(b),
        origin=lambda a: a.source,
    )
