"""Blocks to validated definitions, with every validation error traced back to file:line:col.

Schedules go through :func:`scheduler_core.jobspec.job_from_mapping` and agents through
:func:`scheduler_core.dsl.agents.agent_from_mapping`, so the DSL, the JSON API and the config
share one set of rules. Their errors name a dotted field (``policy.allowed_hours.start``,
``delivery[1]``); the position index built from the syntax tree turns that into the line and
column of the key or value the user wrote.
"""

from __future__ import annotations

__all__ = ["Built", "build_blocks", "dsl_message", "position_index"]

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..clock import parse_instant
from ..creation import Shapes
from ..envvars import expand_vars
from ..errors import DslIssue, ValidationError
from ..jobspec import job_from_mapping
from ..model import AgentDefinition, JobDefinition
from ..named_policies import NamedPolicy
from ..secrets import is_template_field, unescape_literal
from ._ast import Block, ListNode, MapNode, Node, Scalar
from .agents import agent_from_mapping

if TYPE_CHECKING:
    from ..delivery.checks import DeliveryRules

#: dotted path -> (key line, key col, value line, value col)
Positions = dict[str, tuple[int, int, int, int]]

_UNKNOWN = re.compile(r"^unknown field (?P<key>'.*?'|\".*?\")(?P<hint> \(did you mean .*\?\))?$")
_SCHEDULE_REQUIRED = "a schedule is required"
_BOTH = re.compile(r"^give only one of cron, at and after, not (?P<given>.*)$")


@dataclass(slots=True)
class Built:
    """What one file's blocks turned into, and what was wrong with them."""

    jobs: list[JobDefinition] = field(default_factory=list)
    agents: list[AgentDefinition] = field(default_factory=list)
    policies: list[NamedPolicy] = field(default_factory=list)
    #: "schedule:NAME" / "agent:NAME" / "policy:NAME" -> (line, col) of the block's keyword
    positions: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: "schedule:NAME" -> (line, col) of the schedule's ``agent`` value (for unknown agents)
    agent_refs: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: "schedule:NAME" -> (line, col) of the schedule's ``after`` value (chains)
    after_refs: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: "schedule:NAME" -> (line, col) of the schedule's ``policies`` value (unknown policies)
    policy_refs: dict[str, tuple[int, int]] = field(default_factory=dict)
    issues: list[DslIssue] = field(default_factory=list)
    #: the file's schedules by the shape of their data: those that differ only in their names
    #: are checked once (see scheduler_core.creation.Shapes)
    shapes: Shapes = field(default_factory=lambda: Shapes(None))


def position_index(node: Node, prefix: str = "", out: Positions | None = None) -> Positions:
    """Every key and list item under ``node``, by the dotted path a validator would name."""
    out = {} if out is None else out
    if isinstance(node, MapNode):
        for entry in node.entries:
            path = f"{prefix}.{entry.key}" if prefix else entry.key
            out.setdefault(path, (entry.line, entry.col, entry.value.line, entry.value.col))
            position_index(entry.value, path, out)
    elif isinstance(node, ListNode):
        for i, item in enumerate(node.items):
            path = f"{prefix}[{i}]"
            out.setdefault(path, (item.line, item.col, item.line, item.col))
            position_index(item, path, out)
    return out


def _parent(path: str) -> str | None:
    if path.endswith("]"):
        return path[: path.rfind("[")]
    if "." in path:
        return path[: path.rfind(".")]
    return None


def _container(path: str, kind: str) -> str:
    parent = _parent(path)
    if parent is None:
        return kind
    return re.sub(r"\[\d+\]$", "", parent).rsplit(".", 1)[-1]


def dsl_message(error: ValidationError, kind: str, label: str) -> tuple[str, str]:
    """The DSL wording of a validation error, and where it points: "key", "value" or "parent".

    ``kind`` is "schedule", "agent" or "policy"; ``label`` names the block (``schedule "backup"``).
    """
    path = error.field or ""
    reason = error.reason
    m = _UNKNOWN.match(reason)
    if m:
        return f"unknown key {m['key']} in {_container(path, kind)}{m['hint'] or ''}", "key"
    if reason == "is required":
        leaf = re.split(r"[.\[]", path)[-1]
        where = label if _parent(path) is None else _container(path, kind)
        return f"{where} is missing required key {leaf!r}", "parent"
    if reason.startswith(_SCHEDULE_REQUIRED):
        return (
            f'{label} needs either cron or at (cron: "0 9 * * *" or at: ISO 8601), '
            'or after: "a job\'s name"',
            "block",
        )
    if both := _BOTH.match(reason):
        return f"{label} has both {both['given']}: give only one of cron, at and after", "key"
    if not path:
        return f"{label}: {reason}", "block"
    return f"{path}: {reason}", "value"


def _locate(
    positions: Positions, path: str | None, where: str, block: tuple[int, int]
) -> tuple[int, int]:
    if where == "block" or not path:
        return block
    if where == "parent":
        parent = _parent(path)
        if parent is None or parent not in positions:
            return block
        return positions[parent][2:]
    probe: str | None = path
    while probe is not None:
        if probe in positions:
            pos = positions[probe]
            return pos[:2] if where == "key" and probe == path else pos[2:]
        probe = _parent(probe)
    return block


def _schedule_value(node: Node, path: str) -> Any:
    """A schedule's value as plain data: template fields keep ``${VAR}`` (expanded only when
    used, and only if allowed); elsewhere a string is plain text (``$${`` reads ``${``)."""
    if not path and type(node) is MapNode:
        # whether a field is a template is decided by its first part: each top-level key's
        return {
            unescape_literal(e.key): _plain_value(e.value, is_template_field(e.key))
            for e in node.entries
        }
    return _plain_value(node, is_template_field(path))


def _plain_value(node: Node, template: bool) -> Any:
    """``node`` as plain data; ``template``: its strings keep ``$${`` (see _schedule_value)."""
    if type(node) is Scalar:
        value = node.value
        if not template and node.kind == "string" and type(value) is str:
            return unescape_literal(value)
        return value
    if type(node) is ListNode:
        return [_plain_value(item, template) for item in node.items]
    return {
        unescape_literal(e.key): _plain_value(e.value, template)
        for e in node.entries  # type: ignore[union-attr]
    }


class _BlockBuilder:
    def __init__(
        self,
        block: Block,
        path: str,
        built: Built,
        env: Mapping[str, str],
        rules: DeliveryRules | None,
    ) -> None:
        self.block = block
        self.path = path
        self.built = built
        self.env = env
        self.rules = rules
        self._positions: Positions | None = None
        self.name: str | None = block.name
        self.pos = (block.line, block.col)

    @property
    def positions(self) -> Positions:
        """Every key's and value's position, by path (made when first needed: an error, an
        ``at`` in the past, a name given twice)."""
        if self._positions is None:
            self._positions = position_index(self.block.body)
        return self._positions

    def value_at(self, key: str) -> tuple[int, int] | None:
        """Where the value of the top-level ``key`` stands, if the block gives it (what
        ``positions[key][2:]`` says, without indexing every key: a top-level key's path is
        the key itself, and the parser keeps no key twice in one map)."""
        for entry in self.block.body.entries:
            if entry.key == key:
                return (entry.value.line, entry.value.col)
        return None

    @property
    def label(self) -> str:
        return f"{self.block.kind} {_q(self.name)}" if self.name else f"{self.block.kind} block"

    def issue(self, message: str, line: int, col: int) -> None:
        self.built.issues.append(DslIssue(self.path, line, col, message))

    def report(self, error: ValidationError) -> None:
        for err in error.errors:
            message, where = dsl_message(err, self.block.kind, self.label)
            line, col = _locate(self.positions, err.field, where, self.pos)
            self.issue(message, line, col)

    def take_name(self, data: dict[str, Any]) -> None:
        """The name after the keyword and a ``name:`` key must agree; either may be given."""
        if "name" not in data:
            return
        given = data["name"]
        if self.name is not None and given != self.name:
            line, col = self.positions["name"][2:]
            self.issue(
                f"name {given!r} does not match the name {self.name!r} after "
                f"'{self.block.kind}' (give the name once)",
                line,
                col,
            )
            data.pop("name")
            return
        if isinstance(given, str):
            self.name = given

    # --- schedules ------------------------------------------------------------------------
    def agent_value(self, node: Node) -> Any:
        """An agent's value as plain data, ``${VAR}`` expanded from the environment now: an
        agent block is the operator's own configuration, like ``[agents.NAME]``."""
        if isinstance(node, Scalar):
            if node.kind != "string" or not isinstance(node.value, str):
                return node.value
            text, missing = expand_vars(node.value, self.env)
            for name in dict.fromkeys(missing):
                self.issue(
                    f"${{{name}}} is not set (export {name}, or write ${{{name}:-default}})",
                    node.line,
                    node.col,
                )
            return text
        if isinstance(node, ListNode):
            return [self.agent_value(item) for item in node.items]
        return {unescape_literal(e.key): self.agent_value(e.value) for e in node.entries}

    def schedule(self, now: datetime | None) -> None:
        data: dict[str, Any] = _schedule_value(self.block.body, "")
        before = len(self.built.issues)
        self.take_name(data)
        if self.block.name is not None:
            data.setdefault("name", self.block.name)
        self.guard(data)
        reported_schedule = len(self.built.issues) > before and (
            "cron" not in data and "at" not in data
        )
        try:
            job, shape = self.built.shapes.made(data)  # a shape checked before: its name only
            checked = job is not None
            if job is None:
                # made with its source (a copy of the job afterwards cost as much as checking it)
                job = job_from_mapping(data, state={"source": f"dsl:{self.path}"})
        except ValidationError as exc:
            # a misspelt cron or at is reported as such, not also as a missing schedule
            reported_schedule = reported_schedule or any(
                _UNKNOWN.match(e.reason) and re.search(r"did you mean '(cron|at)", e.reason)
                for e in exc.errors
            )
            errors = [
                e
                for e in exc.errors
                if not (reported_schedule and e.reason.startswith(_SCHEDULE_REQUIRED))
            ]
            if errors:
                self.report(ValidationError.collect(errors))
            return
        if len(self.built.issues) > before:
            return
        if not checked and self.rules is not None and (problems := self.rules.check(job)):
            self.report(ValidationError.collect(problems))
            return
        if now is not None and job.at is not None and job.at <= now:
            line, col = self.positions["at"][2:]
            self.issue(
                f"at: {_iso(job.at)} is already past (now is {_iso(now)}); "
                "give a future instant or use cron",
                line,
                col,
            )
            return
        self.built.jobs.append(job)
        if not checked:  # one of a known shape is that shape already
            self.built.shapes.remember(shape, job)
        key = f"schedule:{job.name}"
        self.built.positions.setdefault(key, self.pos)  # a duplicate keeps the first's
        at = self.value_at
        ref = at("agent") or at("agent_id") or at("agent_name")
        self.built.agent_refs.setdefault(key, ref or self.pos)
        if (after := at("after")) is not None:
            self.built.after_refs.setdefault(key, after)
        if (listed := at("policies") or at("policy_ids")) is not None:
            self.built.policy_refs.setdefault(key, listed)

    def name_position(self) -> tuple[int, int]:
        if "name" in self.positions:
            return self.positions["name"][2:]
        return (self.block.name_line, self.block.name_col)

    def guard(self, data: dict[str, Any]) -> None:
        """Catch values the shared validator cannot report (they raise outside ValidationError)."""
        tz = data.get("timezone")
        if isinstance(tz, str) and tz.strip():
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                line, col = self.positions["timezone"][2:]
                self.issue(f"timezone: unknown time zone {tz!r} (use an IANA name)", line, col)
                data.pop("timezone")
        at = data.get("at")
        if isinstance(at, str):
            try:
                parse_instant(at)
            except OverflowError:
                line, col = self.positions["at"][2:]
                self.issue(f"at: {at!r} is out of range", line, col)
                data.pop("at")
            except ValueError:
                pass  # reported by the validator

    # --- agents ---------------------------------------------------------------------------
    def agent(self) -> None:
        before = len(self.built.issues)
        data: dict[str, Any] = self.agent_value(self.block.body)
        self.take_name(data)
        data.pop("name", None)
        if self.name is None:
            self.issue(
                "agent block needs a name: agent NAME { ... }", self.block.line, self.block.col
            )
            return
        try:
            agent = agent_from_mapping(
                data, name=self.name, source=f"dsl:{self.path}:{self.block.line}"
            )
        except ValidationError as exc:
            self.report(exc)
            return
        if len(self.built.issues) > before:
            return
        self.built.agents.append(agent)
        self.built.positions.setdefault(f"agent:{agent.name}", self.pos)

    # --- named policies -------------------------------------------------------------------
    def policy(self) -> None:
        """``policy NAME { ... }``: the rules of an inline policy, checked the same way."""
        from ..jobspec import policy_from_mapping, validate_name

        before = len(self.built.issues)
        data: dict[str, Any] = _schedule_value(self.block.body, "")
        self.take_name(data)
        data.pop("name", None)
        if self.name is None:
            self.issue(
                "policy block needs a name: policy NAME { ... }", self.block.line, self.block.col
            )
            return
        try:
            validate_name(self.name, "name")
            spec = policy_from_mapping(data, "policy")
        except ValidationError as exc:
            # the rules are named under the block itself ("max_runtime", not "policy.max_runtime")
            self.report(
                ValidationError.collect(
                    [
                        ValidationError(e.reason, field=(e.field or "").removeprefix("policy."))
                        for e in exc.errors
                    ]
                )
            )
            return
        if len(self.built.issues) > before:
            return
        source = f"dsl:{self.path}:{self.block.line}"
        self.built.policies.append(NamedPolicy(name=self.name, spec=spec, source=source))
        self.built.positions.setdefault(f"policy:{self.name}", self.pos)


def build_blocks(
    blocks: list[Block],
    path: str,
    *,
    now: datetime | None = None,
    env: Mapping[str, str] | None = None,
    rules: DeliveryRules | None = None,
) -> Built:
    """Validate every complete block; report duplicate names within the file.

    ``env`` expands agent blocks' ``${VAR}`` (default: the process environment); ``rules``
    (the installation's channels and ``[secrets]``) checks schedules' delivery fields."""
    import os

    env = os.environ if env is None else env
    built = Built()
    for block in blocks:
        if not block.complete:
            continue
        builder = _BlockBuilder(block, path, built, env, rules)
        items: list[JobDefinition] | list[AgentDefinition] | list[NamedPolicy]
        if block.kind == "schedule":
            items = built.jobs
            count = len(items)
            builder.schedule(now)
        elif block.kind == "policy":
            items = built.policies
            count = len(items)
            builder.policy()
        else:
            items = built.agents
            count = len(items)
            builder.agent()
        if len(items) == count:
            continue
        # the builders record a name's first position only: another one there is a duplicate
        # (looked up by its key: a copy of every position per block made a file quadratic)
        key = f"{block.kind}:{items[-1].name}"
        first = built.positions[key]
        if first != builder.pos:
            line, col = builder.name_position()
            built.issues.append(
                DslIssue(
                    path,
                    line,
                    col,
                    f"duplicate {block.kind} name {_q(items[-1].name)} "
                    f"(first defined at {first[0]}:{first[1]})",
                )
            )
            items.pop()
    return built


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _q(name: str) -> str:
    return f'"{name}"'
