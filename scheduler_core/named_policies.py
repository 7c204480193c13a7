"""Named policies: a policy defined once (``policy NAME { ... }`` in a DSL file, ``[policies.NAME]``
in the config) and named by many schedules, merged with each schedule's inline policy.

The merge is the strictest of each rule, whoever set it:

- ``require_approval`` and ``require_agent_pin``: required if any requires them;
- ``max_runtime_seconds`` and ``approval_timeout_seconds``: the shortest; ``max_cost_per_day``:
  the smallest;
- ``require_capabilities``: all of them;
- ``allowed_environments`` and ``approvers``: only those every policy that names some allows (a
  policy that names none allows any); when that leaves none, the policies contradict each other and
  the merge is refused, naming them;
- ``allowed_hours``: every window must hold (the run is inside each).

Every rule of the result says where it came from (``inline`` or ``policy NAME``), for the watch
screen and ``symbi cron status``. Policies are merged when a run is gated, so a change to a named
policy applies to every schedule naming it from its next run.

Where a named policy comes from, as for agents (see registered_agents): the config and the
daemon's DSL paths (read at start, held in memory, and they win), or a ``policy`` block in a
file given to ``symbi cron add --file``, locally or through a daemon's ``/apply`` (admin keys
only): those are *registered*, written to the store's ``definitions`` table (kind ``policy``)
in the transaction that writes the schedules, so every scheduler on the store knows them.
"""

from __future__ import annotations

__all__ = [
    "KIND",
    "EffectivePolicy",
    "NamedPolicy",
    "describe_effective",
    "effective_policy",
    "merge_policies",
    "plan_policy_registration",
    "policies_from_api",
    "policy_to_stored",
    "take_registered_policies",
]

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import ValidationError
from .model import AllowedHours, JobDefinition, PolicySpec
from .records import record

if TYPE_CHECKING:
    from .store.base import StoredDefinition

INLINE = "inline"
#: the kind of definition a named policy is, in the store
KIND = "policy"


@record(kw_only=True)
class NamedPolicy:
    name: str
    spec: PolicySpec
    source: str | None = None  #: "config:PATH", "dsl:PATH:LINE", ...

    @property
    def label(self) -> str:
        return f"policy {self.name}"


@record(kw_only=True)
class EffectivePolicy:
    """What gates a run: the strictest of each rule. ``spec.allowed_hours`` is the first of
    ``windows``; all of ``windows`` must hold. ``sources``: each rule that is set, and the
    policies (``inline`` or ``policy NAME``) that set it (for a limit, those whose value is the
    one that holds)."""

    spec: PolicySpec
    windows: tuple[AllowedHours, ...] = ()
    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


_DEFAULT = PolicySpec()
_RULES = tuple((f.name, getattr(_DEFAULT, f.name)) for f in dataclasses.fields(PolicySpec))


def _set(spec: PolicySpec) -> dict[str, object]:
    """The rules a policy sets (those not at their default)."""
    if spec == _DEFAULT:
        return {}
    return {name: value for name, default in _RULES if (value := getattr(spec, name)) != default}


def _common(values: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
    """The items every one of ``values`` has, in the first one's order."""
    first, *rest = values
    return tuple(v for v in first if all(v in other for other in rest))


def merge_policies(inline: PolicySpec, named: Sequence[NamedPolicy]) -> EffectivePolicy:
    """The inline policy merged with the named ones (see the module docstring); a
    ValidationError on ``policies`` when they contradict each other."""
    parts: list[tuple[str, PolicySpec]] = [(INLINE, inline), *((p.label, p.spec) for p in named)]
    sources: dict[str, list[str]] = {}
    for label, spec in parts:
        for rule in _set(spec):
            sources.setdefault(rule, []).append(label)
    specs = [spec for _, spec in parts]

    def setting(rule: str) -> list[object]:
        return [getattr(s, rule) for s in specs if rule in _set(s)]

    merged: dict[str, object] = {}
    merged["require_approval"] = any(s.require_approval for s in specs)
    merged["require_agent_pin"] = any(s.require_agent_pin for s in specs)
    for rule in ("max_runtime_seconds", "approval_timeout_seconds", "max_cost_per_day"):
        limits = [float(v) for v in setting(rule) if isinstance(v, int | float)]
        merged[rule] = least = min(limits) if limits else None
        if least is not None:  # a limit comes from those whose value holds, not every setter
            sources[rule] = [
                label
                for label, spec in parts
                if rule in _set(spec) and getattr(spec, rule) == least
            ]
    capabilities: list[str] = []
    for s in specs:
        capabilities += [c for c in s.require_capabilities if c not in capabilities]
    merged["require_capabilities"] = tuple(capabilities)
    for rule in ("allowed_environments", "approvers"):
        lists = [tuple(str(x) for x in v) for v in setting(rule) if isinstance(v, tuple)]
        if not lists:
            continue
        common = _common(lists)
        if not common:
            who = " and ".join(sources[rule])
            raise ValidationError(
                f"{who} leave no {rule.replace('_', ' ')} in common: a run could never pass",
                field="policies",
            )
        merged[rule] = common
    windows = tuple(s.allowed_hours for s in specs if s.allowed_hours is not None)
    merged["allowed_hours"] = windows[0] if windows else None
    return EffectivePolicy(
        spec=PolicySpec(**merged),  # type: ignore[arg-type]
        windows=windows,
        sources={rule: tuple(labels) for rule, labels in sources.items()},
    )


def effective_policy(job: JobDefinition, policies: Mapping[str, NamedPolicy]) -> EffectivePolicy:
    """The job's inline policy merged with the named policies it lists; a ValidationError on
    ``policies`` naming any that is not defined (nearest name suggested) or that contradict."""
    missing = [name for name in job.policies if name not in policies]
    if missing:
        import difflib

        close = difflib.get_close_matches(missing[0], list(policies), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        known = "define it with policy NAME { ... } or [policies.NAME]"
        raise ValidationError(
            f"unknown policy {missing[0]!r}{hint}: {known}",
            field="policies",
        )
    if not job.policies:  # every run is gated: no merge to make, and no copy of the policy
        inline = job.policy
        windows = (inline.allowed_hours,) if inline.allowed_hours is not None else ()
        sources = {rule: (INLINE,) for rule in _set(inline)}
        return EffectivePolicy(spec=inline, windows=windows, sources=sources)
    return merge_policies(job.policy, [policies[name] for name in job.policies])


# --- registered in the store ----------------------------------------------------------------------


def policy_to_stored(policy: NamedPolicy, now: datetime) -> StoredDefinition:
    from .clock import format_instant
    from .jobspec import policy_to_mapping
    from .store.base import StoredDefinition

    return StoredDefinition(
        kind=KIND,
        name=policy.name,
        definition=policy_to_mapping(policy.spec),
        source=policy.source,
        updated_at=format_instant(now),
    )


def _from_mapping(
    name: str, body: Mapping[str, Any], source: str | None, where: str
) -> NamedPolicy:
    """A named policy from its rules, checked as an inline policy is (errors under ``where``)."""
    from .jobspec import policy_from_mapping, validate_name

    validate_name(name, where)
    return NamedPolicy(name=name, spec=policy_from_mapping(dict(body), where), source=source)


def take_registered_policies(
    stored: Sequence[StoredDefinition], policies: dict[str, NamedPolicy], registered: set[str]
) -> list[str]:
    """Add the ``stored`` policies to ``policies`` (the config's and the DSL paths' win) and
    their names to ``registered``; what was wrong with any, as warnings."""
    from .definitions import take_stored

    return take_stored(
        stored,
        policies,
        registered,
        noun="policy",
        parse=lambda row: _from_mapping(
            row.name, row.definition, row.source, f"policies.{row.name}"
        ),
        same=lambda a, b: a.spec == b.spec,
        origin=lambda p: p.source,
    )


def plan_policy_registration(
    policies: Sequence[NamedPolicy], known: Mapping[str, NamedPolicy], registered: set[str]
) -> list[NamedPolicy]:
    """Which of ``policies`` to write (new, or changed registered ones). One that would replace
    a config or DSL-path policy of the same name with other rules is refused, naming where that
    one comes from."""
    write: list[NamedPolicy] = []
    errors: list[ValidationError] = []
    for policy in policies:
        current = known.get(policy.name)
        if current is not None and current.spec == policy.spec:
            continue
        if current is not None and policy.name not in registered:
            errors.append(
                ValidationError(
                    f"policy {policy.name!r} is already defined ({current.source or 'config'}) "
                    "with other rules: rename this one, or change it there",
                    field=f"policies.{policy.name}",
                )
            )
            continue
        write.append(policy)
    if errors:
        raise ValidationError.collect(errors)
    return write


def policies_from_api(
    bodies: Mapping[str, Mapping[str, Any]], *, actor: str, errors: list[ValidationError]
) -> list[NamedPolicy]:
    """The ``policy`` blocks an ``/apply`` request sent, by name; what is wrong with any goes
    to ``errors``, each naming its field (``policies.NAME.max_runtime``)."""
    defined: list[NamedPolicy] = []
    for name, body in bodies.items():
        try:
            defined.append(_from_mapping(name, body, f"api:{actor}", f"policies.{name}"))
        except ValidationError as exc:
            errors.extend(exc.errors)
    return defined


# --- shown to an operator -------------------------------------------------------------------------

#: the order rules are shown in, and what each is called
_SHOWN: tuple[tuple[str, str], ...] = (
    ("require_approval", "approval"),
    ("approvers", "approvers"),
    ("approval_timeout_seconds", "approval timeout"),
    ("max_runtime_seconds", "max runtime"),
    ("allowed_hours", "allowed hours"),
    ("allowed_environments", "environments"),
    ("require_capabilities", "capabilities"),
    ("require_agent_pin", "AgentPin"),
    ("max_cost_per_day", "max cost per day"),
)


def _seconds(value: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"


def _window(window: AllowedHours) -> str:
    zone = f" {window.timezone}" if window.timezone else ""
    return f"{window.start}-{window.end}{zone}"


def _rule_text(rule: str, effective: EffectivePolicy) -> str:
    spec = effective.spec
    if rule == "allowed_hours":
        return " and ".join(_window(w) for w in effective.windows)
    value = getattr(spec, rule)
    if rule == "max_cost_per_day" and isinstance(value, int | float):
        from .llm_cost import usd

        return f"{usd(float(value))} of LLM runs"
    if isinstance(value, bool):
        return "required" if value else "not required"
    if isinstance(value, int | float):
        return _seconds(float(value))
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def describe_effective(job: JobDefinition, policies: Mapping[str, NamedPolicy]) -> dict[str, Any]:
    """What gates the job's runs, as plain data for every front end: the policies it lists, each
    rule that is set (its merged value, as words, and the policies that set it), and ``error``
    when the listed policies cannot be merged (one is not defined, or they contradict each
    other: its runs are denied until that is fixed)."""
    error: str | None = None
    try:
        effective = effective_policy(job, policies)
    except ValidationError as exc:
        error = exc.reason
        effective = merge_policies(job.policy, [])
    rules = [
        {
            "rule": rule,
            "label": label,
            "value": _plain(getattr(effective.spec, rule), effective, rule),
            "text": _rule_text(rule, effective),
            "from": list(effective.sources[rule]),
        }
        for rule, label in _SHOWN
        if rule in effective.sources
    ]
    return {"policies": list(job.policies), "rules": rules, "error": error}


def _plain(value: object, effective: EffectivePolicy, rule: str) -> object:
    if rule == "allowed_hours":
        return [
            {k: v for k, v in dataclasses.asdict(w).items() if v is not None}
            for w in effective.windows
        ]
    return list(value) if isinstance(value, tuple) else value
