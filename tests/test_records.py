"""``records.record`` makes the class ``@dataclass(frozen=True, slots=True)`` makes: each behaviour
is checked against a twin made by ``dataclasses`` itself."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import math
import pickle
import pkgutil
from dataclasses import dataclass, field
from typing import Any

import pytest

import scheduler_core
from scheduler_core.records import record


def twins(body: dict[str, Any], annotations: dict[str, Any], **kw: Any) -> tuple[type, type]:
    """The same class body made by ``record`` and by ``dataclass``."""

    def make() -> type:
        fresh = {k: copy.copy(v) for k, v in body.items()}  # (dataclass fills a field in)
        ns = {"__annotations__": dict(annotations), "__module__": __name__, **fresh}
        return type("Thing", (), ns)

    ours = record(kw_only=True)(make()) if kw.get("kw_only") else record(make())
    theirs = dataclass(frozen=True, slots=True, **kw)(make())
    return ours, theirs


SHAPES = [
    ({}, {}),
    ({}, {"a": "int"}),
    ({"b": 2}, {"a": "int", "b": "int"}),
    ({"c": field(default_factory=list)}, {"a": "Any", "b": "Any", "c": "list[int]"}),
    ({"b": field(default=0, compare=False)}, {"a": "Any", "b": "int"}),
    ({"b": field(default=0, repr=False)}, {"a": "Any", "b": "int"}),
    ({"b": field(default=0, hash=False)}, {"a": "Any", "b": "int"}),
    ({"b": field(default=0, compare=False, hash=True)}, {"a": "Any", "b": "int"}),
]


def outcome(action: Any, *args: Any, **kwargs: Any) -> Any:
    """What ``action(*args, **kwargs)`` returns, or the type of what it raises."""
    try:
        return action(*args, **kwargs)
    except Exception as exc:
        return type(exc)


@pytest.mark.parametrize("kw_only", [False, True])
@pytest.mark.parametrize(("body", "annotations"), SHAPES)
def test_record_behaves_as_a_frozen_slotted_dataclass(
    body: dict[str, Any], annotations: dict[str, Any], kw_only: bool
) -> None:
    ours, theirs = twins(body, annotations, kw_only=kw_only)
    names = [f.name for f in dataclasses.fields(theirs)]
    assert [f.name for f in dataclasses.fields(ours)] == names
    assert ours.__match_args__ == theirs.__match_args__  # type: ignore[attr-defined]
    assert ours.__slots__ == theirs.__slots__  # type: ignore[attr-defined]
    assert ours.__doc__ == theirs.__doc__
    assert str(inspect.signature(ours)) == str(inspect.signature(theirs))
    assert set(vars(ours)) == set(vars(theirs))
    for param in ("init", "repr", "eq", "order", "unsafe_hash", "frozen"):
        assert getattr(ours.__dataclass_params__, param) == getattr(  # type: ignore[attr-defined]
            theirs.__dataclass_params__,  # type: ignore[attr-defined]
            param,
        ), param
    nan = math.nan
    samples = [
        [1, 2, [3]],
        [1, 2, [3]],
        [1, 3, [3]],
        [nan, 2, [3]],
        [[1], "x", []],
        [1.0, 2, [3]],
        [True, 2, [3]],
    ]
    made: list[tuple[Any, Any]] = []
    for values in samples:
        kwargs = dict(zip(names, values, strict=False))
        a, b = ours(**kwargs), theirs(**kwargs)
        made.append((a, b))
        assert repr(a) == repr(b)
        assert repr(a.__getstate__()) == repr(b.__getstate__())
        if not kw_only:
            positional = list(kwargs.values())
            assert repr(ours(*positional)) == repr(theirs(*positional))
        assert outcome(ours, **kwargs, extra=1) == outcome(theirs, **kwargs, extra=1)
        assert outcome(setattr, a, "a", 5) == outcome(setattr, b, "a", 5)
        if names:
            assert outcome(setattr, a, "a", 5) is dataclasses.FrozenInstanceError
        assert outcome(delattr, a, "zz") == outcome(delattr, b, "zz")
        assert outcome(hash, a) == outcome(hash, b)
        assert dataclasses.replace(a) == a or a != a  # (a NaN field is not equal to itself)
        assert copy.deepcopy(a) == a or a != a
        assert dataclasses.astuple(a) == dataclasses.astuple(b) or a != a
    # the first instance compiled the real __init__ (records._lazy_init)
    assert str(inspect.signature(ours)) == str(inspect.signature(theirs))
    assert ours.__init__.__annotations__ == theirs.__init__.__annotations__
    assert ours.__init__.__qualname__ == theirs.__init__.__qualname__
    for a1, b1 in made:
        for a2, b2 in made:
            assert (a1 == a2) == (b1 == b2)
            assert (a1 != a2) == (b1 != b2)
        assert a1 == a1  # the same object: its NaN field is itself, as in a tuple
        assert (a1 == b1) is False  # another class
        assert a1.__eq__(object()) is NotImplemented


@record(kw_only=True)
class Pickled:
    a: int
    b: tuple[int, ...] = ()


def test_a_record_pickles() -> None:
    one = Pickled(a=1, b=(2,))
    assert pickle.loads(pickle.dumps(one)) == one
    assert hash(pickle.loads(pickle.dumps(one))) == hash(one)


def test_a_field_without_a_default_after_one_with_it_is_refused_alike() -> None:
    body, notes = {"a": 1}, {"a": "int", "b": "int"}
    with pytest.raises(TypeError) as ours:
        record(type("Thing", (), {"__annotations__": dict(notes), **body}))
    with pytest.raises(TypeError) as theirs:
        dataclass(frozen=True, slots=True)(
            type("Thing", (), {"__annotations__": dict(notes), **body})
        )
    assert str(ours.value) == str(theirs.value)


def test_record_repr_of_a_cycle_and_qualnames() -> None:
    ours, theirs = twins({}, {"a": "Any"})
    a, b = ours([]), theirs([])
    a.a.append(a)
    b.a.append(b)
    assert repr(a) == repr(b) == "Thing(a=[...])"
    assert ours.__repr__.__qualname__ == "Thing.__repr__"
    assert ours.__eq__.__qualname__ == "Thing.__eq__"


def test_a_class_that_writes_its_own_methods_keeps_them() -> None:
    def mine(self: Any) -> str:
        return "mine"

    ours, theirs = twins({"__repr__": mine}, {"a": "int"})
    assert repr(ours(1)) == repr(theirs(1)) == "mine"
    assert ours(1) == ours(1)


def test_every_record_of_the_core_is_a_frozen_slotted_dataclass() -> None:
    """What the core's modules define with ``record`` reads as a dataclass to every tool."""
    seen = 0
    for info in pkgutil.walk_packages(scheduler_core.__path__, "scheduler_core."):
        if info.name.startswith(("scheduler_core.api", "scheduler_core.store.postgres")):
            continue  # (optional dependencies)
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == info.name:
                if not dataclasses.is_dataclass(value):
                    continue
                params = value.__dataclass_params__
                if not params.frozen:
                    continue
                seen += 1
                assert params.eq and params.repr, value
                assert "__slots__" in vars(value), value
                assert value.__eq__ is not object.__eq__, value
                assert value.__hash__ is not None, value
    assert seen >= 90


def test_maker_makes_what_init_makes_from_every_field() -> None:
    from datetime import UTC, datetime

    from scheduler_core.creation import job_with
    from scheduler_core.model import JobDefinition, PolicySpec
    from scheduler_core.records import maker

    job = JobDefinition(
        id="i1",
        name="n",
        agent="a",
        cron="0 * * * *",
        delivery=("stdout",),
        webhook_headers={"X": "y"},
        policy=PolicySpec(max_runtime_seconds=5.0),
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    names = [f.name for f in dataclasses.fields(JobDefinition)]
    made = maker(JobDefinition)(*[getattr(job, n) for n in names])
    assert type(made) is JobDefinition and made == job and made is not job
    assert repr(made) == repr(job) and pickle.loads(pickle.dumps(made)) == job
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        maker(JobDefinition)(*names[:-1])  # every field, none defaulted
    changed = job_with(job, id="i2", name="m", cron=None)
    assert changed == dataclasses.replace(job, id="i2", name="m", cron=None)
    assert job.name == "n"  # the original is left as it was

    @dataclass
    class Plain:  # no slots: nothing to set them through
        x: int

    with pytest.raises(TypeError, match="not a slot"):
        maker(Plain)
