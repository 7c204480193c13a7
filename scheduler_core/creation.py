"""What the service's job operations share in making and changing jobs: a parsed definition
given a stored job's state, the named policies a job's data lists, what an update changed, and
the jobs of a batch that differ only in their names, checked once (``Shapes``)."""

from __future__ import annotations

__all__ = [
    "ApplyResult",
    "Checked",
    "Shapes",
    "at_index",
    "changed_fields",
    "job_with",
    "jobs_from_specs",
    "listed_policies",
    "shape_key",
    "with_state",
]

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field as _field
from dataclasses import fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from .collector import collector_paused
from .errors import ValidationError
from .jobspec import job_from_mapping, spec_to_json, validate_name
from .model import JobDefinition, new_id
from .records import maker, record

#: every field of a job, in the order ``_make_job`` takes them
_JOB_FIELDS = tuple(f.name for f in fields(JobDefinition))
_job_values = attrgetter(*_JOB_FIELDS)
#: a job from every field's value (see records.maker: a third of ``JobDefinition(**fields)``)
_make_job: Callable[..., JobDefinition] = maker(JobDefinition)
_AT = {name: i for i, name in enumerate(_JOB_FIELDS)}
_ID, _NAME = _AT["id"], _AT["name"]


@record(kw_only=True)
class ApplyResult:
    """What loading a set of definitions (a DSL file) changed."""

    created: list[str] = _field(default_factory=list)
    updated: list[str] = _field(default_factory=list)
    unchanged: list[str] = _field(default_factory=list)
    agents: list[str] = _field(default_factory=list)  #: agents registered (new or changed)
    policies: list[str] = _field(default_factory=list)  #: named policies registered


def job_with(job: JobDefinition, **changes: Any) -> JobDefinition:
    """``dataclasses.replace(job, **changes)``, at a fifth of its cost (it matches every field
    by keyword and looks the fields up again at each copy)."""
    values = list(_job_values(job))
    for name, value in changes.items():
        values[_AT[name]] = value
    return _make_job(*values)


if TYPE_CHECKING:
    from .delivery.checks import DeliveryRules

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
        #: a shape's job's fields (its id and name left to each job's own)
        self._made: dict[tuple[Any, ...], list[Any]] = {}
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
        values = shape.copy()
        values[_NAME] = validate_name(data["name"], "name")
        values[_ID] = self._new_id() if self._new_id else ""
        return _make_job(*values), key

    def remember(self, key: tuple[Any, ...] | None, job: JobDefinition) -> None:
        """``job`` passed every check: the next job of its shape is made from it."""
        if key is not None:
            self._made[key] = list(_job_values(job))


#: what a new job's checks read (its agent, named and inline policies, delivery channels and
#: the fields that may hold ``${VAR}``): two jobs alike in these pass or fail them alike
_CHECKED = attrgetter(
    "agent",
    "policies",
    "policy",
    "delivery",
    "on_failure",
    "on_dead_letter",
    "webhook_url",
    "webhook_headers",
    "delivery_config",
    "agent_pin_jwt",
)


class Checked:
    """The definitions of one call that passed a new job's checks, by what the checks read: a
    load of 100,000 parsed definitions of a few shapes checks each shape once. The checks are
    the service's (its agents, policies and rules do not change within the call); a job whose
    values cannot be a key (a nested mapping) is checked on its own, as is every one that
    failed."""

    __slots__ = ("_check", "_passed")

    def __init__(self, check: Callable[[JobDefinition], None]) -> None:
        self._check = check
        self._passed: set[tuple[Any, ...]] = set()

    def __call__(self, job: JobDefinition) -> None:
        """The check of ``job``, unless a job alike passed it in this call."""
        values = _CHECKED(job)
        key: tuple[Any, ...] | None = (
            *values[:7],
            tuple(values[7].items()),
            tuple(values[8].items()),
            values[9],
        )
        try:
            hash(key)
        except TypeError:  # (a nested mapping or list in delivery_config)
            key = None
        if key is not None and key in self._passed:
            return
        self._check(job)
        if key is not None:
            self._passed.add(key)


def with_state(definition: JobDefinition, existing: JobDefinition) -> JobDefinition:
    """A freshly parsed definition carrying an existing job's identity and state."""
    return job_with(
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
    with collector_paused():  # (no await inside)
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
