"""What the service's job operations share in making and changing jobs: a parsed definition
given a stored job's state, the named policies a job's data lists, what an update changed, and
the jobs of a batch that differ only in their names, checked once (``Shapes``)."""

from __future__ import annotations

__all__ = [
    "Shapes",
    "at_index",
    "changed_fields",
    "jobs_from_specs",
    "listed_policies",
    "shape_key",
    "with_state",
]

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from .errors import ValidationError
from .jobspec import job_from_mapping, spec_to_json, validate_name
from .model import JobDefinition, new_id

if TYPE_CHECKING:
    from .delivery.checks import DeliveryRules

#: a job's fields but its identity, as ``JobDefinition(...)`` takes them (``replace`` looks
#: them up again for every copy, at three times the cost)
_SHAPE_FIELDS = tuple(
    f.name for f in fields(JobDefinition) if f.init and f.name not in ("id", "name")
)

#: the kinds of value a shape's key holds as they are (by exact type: ``True`` is not ``1``)
_PLAIN = frozenset({str, int, float, bool, type(None)})


def shape_key(data: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What ``data`` holds but its name, as a key: two mappings of one key hold the same fields
    in the same order with the same values, but for ``name``. None (no key) when the name is not
    text, or a value is not plain (text, a number, a flag, null, or a list of text)."""
    if not isinstance(data, Mapping) or type(data.get("name")) is not str:
        return None
    key: list[tuple[str, type, Any]] = []
    for field, value in data.items():
        if field == "name":
            continue
        kind = type(value)
        if kind is float:  # by its bits: -0.0 == 0.0, yet it is written apart
            key.append((field, kind, value.hex()))
        elif kind in _PLAIN:
            key.append((field, kind, value))
        elif kind in (list, tuple) and all(type(item) is str for item in value):
            key.append((field, kind, tuple(value)))
        else:
            return None
    return tuple(key)


class Shapes:
    """The jobs one batch made, by the shape of their data (see :func:`shape_key`).

    A bulk load is thousands of jobs of a few shapes (an agent, a cron expression, a delivery)
    under different names. What a new job's checks decide (its fields, its schedule and first
    run, its agent, its named policies, its delivery and ``${VAR}`` references) depends on the
    data but its name, and on the service's agents, policies and rules, which do not change
    within one call: so a job whose shape passed them once in the call is that job under its
    own name (checked as every name is) and a new id. Only jobs that passed are remembered: a
    shape with a problem is checked, and reported, for every job of it.
    """

    __slots__ = ("_made", "_new_id")

    def __init__(self, new_id: Callable[[], str] | None = new_id) -> None:
        """``new_id``: what gives each job made its id (the service's; None: no id, as
        ``job_from_mapping`` makes a definition without its state)."""
        self._made: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._new_id = new_id

    def made(self, data: Mapping[str, Any]) -> tuple[JobDefinition | None, tuple[Any, ...] | None]:
        """The job of ``data`` if its shape passed before (raising on a bad name), else None;
        and the shape's key, to :meth:`remember` the job once it passes."""
        key = shape_key(data)
        if key is None:
            return None, None
        shape = self._made.get(key)
        if shape is None:
            return None, key
        return JobDefinition(
            **shape,
            name=validate_name(data["name"], "name"),
            id=self._new_id() if self._new_id else "",
        ), key

    def remember(self, key: tuple[Any, ...] | None, job: JobDefinition) -> None:
        """``job`` passed every check: the next job of its shape is made from it."""
        if key is not None:
            self._made[key] = {name: getattr(job, name) for name in _SHAPE_FIELDS}


def with_state(definition: JobDefinition, existing: JobDefinition) -> JobDefinition:
    """A freshly parsed definition carrying an existing job's identity and state."""
    return replace(
        definition,
        id=existing.id,
        status=existing.status,
        next_run_at=existing.next_run_at,
        last_run_at=existing.last_run_at,
        last_run_status=existing.last_run_status,
        last_error=existing.last_error,
        run_count=existing.run_count,
        failure_count=existing.failure_count,
        created_at=existing.created_at,
        updated_at=existing.updated_at,
    )


def listed_policies(data: Mapping[str, Any] | JobDefinition) -> list[str]:
    """The named policies a job (or the data for one) lists, as far as they can be read."""
    if isinstance(data, JobDefinition):
        return list(data.policies)
    listed = data.get("policies", data.get("policy_ids"))
    return [str(name) for name in listed] if isinstance(listed, list | tuple) else []


def changed_fields(old: JobDefinition, new: JobDefinition) -> list[str]:
    a, b = json.loads(spec_to_json(old)), json.loads(spec_to_json(new))
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def jobs_from_specs(
    items: Sequence[Mapping[str, Any]], rules: DeliveryRules, errors: list[ValidationError]
) -> list[JobDefinition]:
    """The jobs of an apply's bodies (a remote DSL load), each checked against ``rules``; every
    problem is added to ``errors`` naming its body's index (``jobs[2].cron_expr``)."""
    jobs: list[JobDefinition] = []
    shapes = Shapes(None)  # jobs that differ only in their names are checked once
    for index, item in enumerate(items):
        try:
            job, shape = shapes.made(item)
            if job is None:
                job = job_from_mapping(item)
                rules.enforce(job)
                shapes.remember(shape, job)
            jobs.append(job)
        except ValidationError as exc:
            errors.extend(_indexed(exc, "jobs", index))
    return jobs


def _indexed(error: ValidationError, prefix: str, index: int) -> list[ValidationError]:
    at = f"{prefix}[{index}]"
    return [
        ValidationError(e.reason, field=f"{at}.{e.field}" if e.field else at) for e in error.errors
    ]


def at_index(error: ValidationError, prefix: str, index: int) -> ValidationError:
    """``error`` naming the item it is about: ``agent`` becomes ``jobs[2].agent`` (so that a
    front end can point at the schedule, e.g. in the file it sent)."""
    return ValidationError.collect(_indexed(error, prefix, index))
