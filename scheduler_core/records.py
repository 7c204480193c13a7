"""``record``: a frozen, slotted dataclass made at a fraction of the import cost.

``@record`` (or ``@record(kw_only=True)``) is ``@dataclass(frozen=True, slots=True)``: the same
class, fields, ``__init__``, frozen ``__setattr__``/``__delattr__``, ``__match_args__``, pickling
and ``dataclasses`` introspection (``fields``, ``replace``, ``asdict``; ``__dataclass_params__``
says ``eq`` and ``repr`` as ``dataclass`` does). Only ``__eq__``, ``__hash__`` and ``__repr__`` are
made differently: ``dataclasses`` writes each as source text and compiles it (``exec``), a tenth
of a millisecond per method and class, which over the hundred records a scheduler imports was
a tenth of its start-up; here they are closures over the field names, with the same results
(tuples of the fields compared and hashed, as Python 3.11's generated methods do, so a field
that is the same object compares equal even when it is a NaN; the same repr text, ``...`` on
recursion).
"""

from __future__ import annotations

__all__ = ["record"]

import dataclasses
from _thread import get_ident
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T")

#: what the class body may not define itself: ``dataclass`` keeps a method a class writes (and
#: derives ``__hash__`` from one), so such a class is left to ``dataclass`` whole
_OWN = ("__eq__", "__hash__", "__repr__")


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The fields ``names`` of an instance as a tuple (``attrgetter`` gives a bare value for one
    name, and takes no zero)."""
    if not names:
        return lambda obj: ()
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    many: Callable[[Any], tuple[Any, ...]] = attrgetter(*names)
    return many


def _methods(cls: type) -> dict[str, Callable[..., Any]]:
    fields = dataclasses.fields(cls)
    compared = _getter(tuple(f.name for f in fields if f.compare))
    hashed = _getter(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))
    shown = tuple(f.name for f in fields if f.repr)

    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(hashed(self))

    running: set[tuple[int, int]] = set()

    def __repr__(self: Any) -> str:
        key = id(self), get_ident()
        if key in running:
            return "..."
        running.add(key)
        try:
            text = ", ".join([f"{name}={getattr(self, name)!r}" for name in shown])
        finally:
            running.discard(key)
        return f"{self.__class__.__qualname__}({text})"

    return {"__eq__": __eq__, "__hash__": __hash__, "__repr__": __repr__}


def _make(cls: type[T], kw_only: bool) -> type[T]:
    if any(name in cls.__dict__ for name in _OWN):
        return dataclasses.dataclass(cls, frozen=True, slots=True, kw_only=kw_only)
    made = dataclasses.dataclass(
        cls, frozen=True, slots=True, kw_only=kw_only, eq=False, repr=False
    )
    for name, fn in _methods(made).items():
        fn.__qualname__ = f"{made.__qualname__}.{name}"
        setattr(made, name, fn)
    params = made.__dataclass_params__  # type: ignore[attr-defined]
    params.eq = params.repr = True
    return made


@overload
def record(cls: type[T], /) -> type[T]: ...
@overload
def record(*, kw_only: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: type[T] | None = None, /, *, kw_only: bool = False) -> Any:
    """``@dataclass(frozen=True, slots=True, kw_only=kw_only)``, made cheaper (see the module)."""
    if cls is None:
        return lambda c: _make(c, kw_only)
    return _make(cls, kw_only)
