"""``record``: a frozen, slotted dataclass made at a fraction of the import cost.

``@record`` (or ``@record(kw_only=True)``) is ``@dataclass(frozen=True, slots=True)``: the same
class, fields, ``__init__`` signature and errors, ``__match_args__``, ``__doc__``, pickling and
``dataclasses`` introspection (``fields``, ``replace``, ``asdict``; ``__dataclass_params__`` says
``init``, ``eq``, ``repr`` and ``frozen`` as ``dataclass`` does). ``dataclasses`` writes each
method as source text and compiles it (``exec``): a tenth of a millisecond per method and class,
which over the hundred records a scheduler imports was about a third of its start-up CPU. Here
``__eq__``, ``__hash__``, ``__repr__`` and the frozen ``__setattr__``/``__delattr__`` are
closures over the field names with the same results (fields compared and hashed as tuples, as
Python 3.11's generated methods do; the same repr text, ``...`` on recursion), and ``__init__``
(the source ``dataclass`` writes) is compiled at the class's first instance. A class that uses
anything else (``__post_init__``, ``InitVar``, a dataclass base, a method of its own that
``dataclass`` would keep) is left to ``dataclass``. ``tests/test_records.py`` checks each of these
against a twin made by ``dataclass``.
"""

from __future__ import annotations

__all__ = ["maker", "record"]

import dataclasses
import inspect
import sys
from _thread import get_ident
from collections.abc import Callable
from functools import cache
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


class _Factory:
    """The default of a parameter whose field has a ``default_factory`` (``dataclasses``' own
    sentinel shows as ``<factory>`` in the signature, and so does this one)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def _plain(cls: type) -> bool:
    """Whether ``cls`` uses only what :func:`_init` writes: fields with or without a default or
    a ``default_factory``, no ``__post_init__``, ``InitVar``, ``init=False`` field, dataclass
    base, or method of its own that ``dataclass`` would keep."""
    if any(name in cls.__dict__ for name in (*_OWN, "__setattr__", "__delattr__", "__init__")):
        return False
    if hasattr(cls, "__post_init__") or any(
        hasattr(base, "__dataclass_fields__") for base in cls.__mro__[1:]
    ):
        return False
    notes = inspect.get_annotations(cls)
    return not any("InitVar" in str(t) for t in notes.values())


def _check(fields: tuple[dataclasses.Field[Any], ...]) -> None:
    """What ``dataclass`` refuses as it writes ``__init__``, refused as the class is made."""
    if any(not f.init for f in fields):
        raise TypeError("record: a field with init=False")
    seen_default = False
    for f in fields:
        if f.kw_only:
            continue
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
            seen_default = True
        elif seen_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")


def _signature(fields: tuple[dataclasses.Field[Any], ...]) -> inspect.Signature:
    """The signature of the ``__init__`` that :func:`_init` writes."""
    kinds = inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY
    me = "__dataclass_self__" if "self" in {f.name for f in fields} else "self"
    params = [inspect.Parameter(me, kinds[0])]
    for f in sorted(fields, key=lambda f: bool(f.kw_only)):
        default: Any = inspect.Parameter.empty
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = _FACTORY
        params.append(
            inspect.Parameter(f.name, kinds[bool(f.kw_only)], default=default, annotation=f.type)
        )
    return inspect.Signature(params, return_annotation=None)


def _lazy_init(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    """An ``__init__`` that writes and compiles the real one (:func:`_init`) at the first
    instance, puts it on ``cls`` in its place and calls it: most records of a process are never
    made (a scheduler's start makes a fifth of them), and a compile is most of what a record
    costs at import. It has the real one's signature."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        real = _init(cls, fields)
        real.__qualname__ = f"{cls.__qualname__}.__init__"
        type.__setattr__(cls, "__init__", real)
        real(self, *args, **kwargs)

    __init__.__signature__ = _signature(fields)  # type: ignore[attr-defined]
    return __init__


def _init(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    """``__init__`` as ``dataclass(frozen=True)`` writes it (the same source, parameters and
    annotations), compiled alone."""
    me = "__dataclass_self__" if "self" in {f.name for f in fields} else "self"
    names: dict[str, Any] = {f"_type_{f.name}": f.type for f in fields}
    names.update(
        {
            "_HAS_DEFAULT_FACTORY": _FACTORY,
            "__dataclass_builtins_object__": object,
            "_return_type": None,
        }
    )

    def param(f: dataclasses.Field[Any]) -> str:
        if f.default is not dataclasses.MISSING:
            names[f"_dflt_{f.name}"] = f.default
            return f"{f.name}:_type_{f.name}=_dflt_{f.name}"
        if f.default_factory is not dataclasses.MISSING:
            return f"{f.name}:_type_{f.name}=_HAS_DEFAULT_FACTORY"
        return f"{f.name}:_type_{f.name}"

    body = []
    for f in fields:
        value = f.name
        if f.default_factory is not dataclasses.MISSING:
            names[f"_dflt_{f.name}"] = f.default_factory
            value = f"_dflt_{f.name}() if {f.name} is _HAS_DEFAULT_FACTORY else {f.name}"
        body.append(f"__dataclass_builtins_object__.__setattr__({me},{f.name!r},{value})")
    params = [me] + [param(f) for f in fields if not f.kw_only]
    keywords = [param(f) for f in fields if f.kw_only]
    if keywords:
        params += ["*", *keywords]
    lines = "\n".join(f"  {line}" for line in body or ["pass"])
    text = (
        f"def __create_fn__({', '.join(names)}):\n"
        f" def __init__({','.join(params)}) -> _return_type:\n{lines}\n"
        " return __init__"
    )
    where: dict[str, Any] = {}
    # (not this module's ``from __future__ import annotations``: the annotations are the fields'
    # types, as dataclass gives them)
    exec(
        compile(text, "<string>", "exec", dont_inherit=True),
        vars(sys.modules[cls.__module__]),
        where,
    )
    made: Callable[..., None] = where["__create_fn__"](**names)
    return made


def _frozen(cls: Any, fields: tuple[dataclasses.Field[Any], ...]) -> dict[str, Any]:
    """``__setattr__`` and ``__delattr__`` of a frozen dataclass: a field (or any name, on the
    class itself) cannot be assigned or deleted. ``cls`` is the class before ``slots`` made it
    anew, as in what ``dataclass`` writes (on Python 3.11 a name that is not a field then fails
    with a TypeError from ``super``, not an AttributeError: the same here)."""
    names = tuple(f.name for f in fields)

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    return {"__setattr__": __setattr__, "__delattr__": __delattr__}


def __getstate__(self: Any) -> list[Any]:
    """A frozen slotted dataclass's state, as ``dataclass`` gives it one (copy, pickle)."""
    return [getattr(self, f.name) for f in dataclasses.fields(self)]


def __setstate__(self: Any, state: list[Any]) -> None:
    for f, value in zip(dataclasses.fields(self), state, strict=False):
        object.__setattr__(self, f.name, value)


def _make(cls: type[T], kw_only: bool) -> type[T]:
    if not _plain(cls):
        return dataclasses.dataclass(cls, frozen=True, slots=True, kw_only=kw_only)
    documented = bool(cls.__doc__)
    if not documented:  # named below, once it has its __init__ (dataclass would read object's)
        cls.__doc__ = cls.__name__
    original = cls
    made = dataclasses.dataclass(
        cls, init=False, repr=False, eq=False, frozen=False, slots=True, kw_only=kw_only
    )
    fields = dataclasses.fields(made)  # type: ignore[arg-type]
    _check(fields)
    methods = {"__init__": _lazy_init(made, fields), **_frozen(original, fields), **_methods(made)}
    for name, fn in methods.items():
        fn.__qualname__ = f"{made.__qualname__}.{name}"
        setattr(made, name, fn)
    # (shared, as dataclass's own are: not renamed)
    if "__getstate__" not in original.__dict__:
        setattr(made, "__getstate__", __getstate__)  # noqa: B010
    if "__setstate__" not in original.__dict__:
        setattr(made, "__setstate__", __setstate__)  # noqa: B010
    params = made.__dataclass_params__  # type: ignore[attr-defined]
    params.init = params.eq = params.repr = params.frozen = True
    if not documented:  # as dataclass names an undocumented class: by its signature
        try:
            signature = str(inspect.signature(made)).replace(" -> None", "")
        except (TypeError, ValueError):
            signature = ""
        made.__doc__ = made.__name__ + signature
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


@cache
def maker(cls: type[T]) -> Callable[..., T]:
    """A function making an instance of the slotted record ``cls`` from every field's value,
    given positionally in ``dataclasses.fields`` order: what its ``__init__`` stores, with no
    keywords to match and no defaults to fill (every value is given), about a third of the cost
    of ``cls(**values)`` for a record of 36 fields. For copies of records already made (a bulk
    load's jobs that differ only in their names): it checks nothing ``__init__`` would not."""
    names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    setters = {}
    for i, name in enumerate(names):
        slot = cls.__dict__.get(name)
        if slot is None or not hasattr(slot, "__set__"):
            raise TypeError(f"maker: {cls.__name__}.{name} is not a slot")
        setters[f"_set{i}"] = slot.__set__
    values = ", ".join(f"_v{i}" for i in range(len(names)))
    body = "".join(f"  _set{i}(obj, _v{i})\n" for i in range(len(names)))
    text = (
        f"def __create_fn__(_cls, _new, {', '.join(setters)}):\n"
        f" def make({values}):\n  obj = _new(_cls)\n{body}  return obj\n"
        " return make"
    )
    where: dict[str, Any] = {}
    exec(compile(text, f"<maker {cls.__qualname__}>", "exec", dont_inherit=True), {}, where)
    made: Callable[..., T] = where["__create_fn__"](cls, object.__new__, **setters)
    made.__qualname__ = f"maker({cls.__qualname__})"
    return made
