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
"""

from __future__ import annotations

__all__ = ["EffectivePolicy", "NamedPolicy", "effective_policy", "merge_policies"]

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .errors import ValidationError
from .model import AllowedHours, JobDefinition, PolicySpec

INLINE = "inline"


@dataclass(frozen=True, slots=True, kw_only=True)
class NamedPolicy:
    name: str
    spec: PolicySpec
    source: str | None = None  #: "config:PATH", "dsl:PATH:LINE", ...

    @property
    def label(self) -> str:
        return f"policy {self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class EffectivePolicy:
    """What gates a run: the strictest of each rule. ``spec.allowed_hours`` is the first of
    ``windows``; all of ``windows`` must hold. ``sources``: each rule that is set, and the
    policies (``inline`` or ``policy NAME``) that set it."""

    spec: PolicySpec
    windows: tuple[AllowedHours, ...] = ()
    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _set(spec: PolicySpec) -> dict[str, object]:
    """The rules a policy sets (those not at their default)."""
    default = PolicySpec()
    return {
        f.name: getattr(spec, f.name)
        for f in dataclasses.fields(spec)
        if getattr(spec, f.name) != getattr(default, f.name)
    }


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
        merged[rule] = min(limits) if limits else None
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
    return merge_policies(job.policy, [policies[name] for name in job.policies])
