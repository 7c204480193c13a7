"""Which router serves a channel name: built-ins, configured ``module:Class`` and entry points.

Lookup order for a name as a job writes it in ``delivery: [...]``:

1. routers registered in code (:meth:`ChannelRegistry.register`) and ``[scheduler.delivery]
   custom`` entries (``channel = "package.module:Class"``), by exact name, then ignoring case;
   these may replace a built-in on purpose;
2. the built-in channels, by the guide's names ``stdout``, ``log_file``, ``webhook``, ``slack``,
   ``email``; case, ``_``, ``-`` and spaces are ignored, so the Rust enum spellings (``Stdout``,
   ``LogFile``...) work too, as do the aliases ``console``, ``mail`` and ``e-mail``;
3. installed entry points in the group ``symbi.delivery`` (``[project.entry-points."symbi.delivery"]
   pagerduty = "mypkg.delivery:PagerDuty"``), by exact name, then ignoring case.

A ``custom:NAME`` spelling (the guide's ``Custom(String)``) looks up ``NAME``.

A target may be a class or factory (called with the :class:`DeliveryContext` if it takes an
argument, else with none) or a ready router instance (anything with a ``route`` method). An
unknown name, or a target that cannot be imported or built, is a :class:`DeliveryFailure` with a
message that says which: the dispatcher reports it as that channel's failed result.
"""

from __future__ import annotations

__all__ = [
    "BUILTIN_CHANNELS",
    "ENTRY_POINT_GROUP",
    "ChannelRegistry",
    "RouterFactory",
    "build_router",
    "canonical_builtin",
    "load_object",
]

import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .base import DeliveryContext, DeliveryFailure, DeliveryRouter

if TYPE_CHECKING:
    from importlib import metadata

ENTRY_POINT_GROUP = "symbi.delivery"

RouterFactory = Callable[..., Any]


class _BuiltinChannels(Mapping[str, Callable[[DeliveryContext], DeliveryRouter]]):
    """The built-in router classes by name, each module imported when its class is first asked
    for: a process that never sends mail does not import the SMTP client."""

    _WHERE = {
        "stdout": ("stdout", "StdoutRouter"),
        "log_file": ("log_file", "LogFileRouter"),
        "webhook": ("webhook", "WebhookRouter"),
        "slack": ("slack", "SlackRouter"),
        "email": ("email", "EmailRouter"),
    }

    def __getitem__(self, name: str) -> Callable[[DeliveryContext], DeliveryRouter]:
        module, attr = self._WHERE[name]
        router: Callable[[DeliveryContext], DeliveryRouter]
        router = getattr(importlib.import_module(f"{__package__}.{module}"), attr)
        return router

    def __iter__(self) -> Iterator[str]:
        return iter(self._WHERE)

    def __len__(self) -> int:
        return len(self._WHERE)


#: The guide's channels, by their canonical names.
BUILTIN_CHANNELS: Mapping[str, Callable[[DeliveryContext], DeliveryRouter]] = _BuiltinChannels()

_ALIASES = {
    "stdout": "stdout",
    "console": "stdout",
    "logfile": "log_file",
    "webhook": "webhook",
    "slack": "slack",
    "email": "email",
    "mail": "email",
}

_SPEC = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_.]*$")


def _squash(name: str) -> str:
    return re.sub(r"[\s_-]+", "", name.strip().lower())


def canonical_builtin(name: str) -> str | None:
    """The built-in channel ``name`` stands for (``LogFile`` -> ``log_file``), or None."""
    return _ALIASES.get(_squash(name))


def load_object(spec: str) -> Any:
    """The object named by ``"package.module:Attr"`` (``Attr`` may be dotted)."""
    spec = spec.strip()
    if not _SPEC.match(spec):
        raise ValueError(f"{spec!r} is not of the form 'package.module:Class'")
    module_name, _, attr = spec.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _takes_argument(factory: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return True
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL):
            return True
    return False


def build_router(target: Any, context: DeliveryContext) -> DeliveryRouter:
    """A router from a class, a factory or an instance (see the module docs)."""
    if not inspect.isclass(target) and callable(getattr(target, "route", None)):
        router = target
    elif callable(target):
        router = target(context) if _takes_argument(target) else target()
    else:
        raise TypeError(f"{target!r} is neither a router nor a router class")
    if not callable(getattr(router, "route", None)):
        raise TypeError(f"{type(router).__qualname__} has no route() method")
    return router  # type: ignore[no-any-return]


def _is_entry_point(target: Any) -> bool:
    """Whether ``target`` is an installed entry point (only possible once importlib.metadata was
    imported, by :meth:`ChannelRegistry.entry_points`)."""
    metadata = sys.modules.get("importlib.metadata")
    return metadata is not None and isinstance(target, metadata.EntryPoint)


class ChannelRegistry:
    """Maps channel names to router targets; builds routers on demand."""

    def __init__(
        self,
        custom: Mapping[str, str] | None = None,
        *,
        routers: Mapping[str, Any] | None = None,
        use_entry_points: bool = True,
    ) -> None:
        self._custom: dict[str, Any] = dict(custom or {})
        self._custom.update(routers or {})
        self._use_entry_points = use_entry_points
        self._entry_points: dict[str, metadata.EntryPoint] | None = None

    def register(self, name: str, target: Any) -> None:
        """Serve channel ``name`` with ``target`` (a ``module:Class`` string, class or router)."""
        self._custom[name] = target

    def entry_points(self) -> dict[str, metadata.EntryPoint]:
        """Installed ``symbi.delivery`` entry points by name (read once)."""
        if self._entry_points is None:
            found: dict[str, metadata.EntryPoint] = {}
            if self._use_entry_points:
                from importlib import metadata

                try:
                    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
                        found.setdefault(ep.name, ep)
                except Exception:  # a broken distribution must not break delivery
                    found = {}
            self._entry_points = found
        return self._entry_points

    def names(self) -> list[str]:
        """Every channel name that resolves: built-ins, custom and entry points."""
        return sorted({*BUILTIN_CHANNELS, *self._custom, *self.entry_points()})

    @staticmethod
    def _find(name: str, table: Mapping[str, Any]) -> str | None:
        if name in table:
            return name
        folded = name.casefold()
        for key in table:
            if key.casefold() == folded:
                return key
        return None

    def resolve(self, name: str) -> tuple[str, Any]:
        """(key, target) for channel ``name``; key is ``custom:X``, ``builtin:X`` or ``ep:X``.

        Raises DeliveryFailure when nothing serves ``name``.
        """
        clean = name.strip()
        if clean.lower().startswith("custom:"):
            clean = clean[len("custom:") :].strip()
        key = self._find(clean, self._custom)
        if key is not None:
            return f"custom:{key}", self._custom[key]
        builtin = canonical_builtin(clean)
        if builtin is not None:
            return f"builtin:{builtin}", BUILTIN_CHANNELS[builtin]
        eps = self.entry_points()
        key = self._find(clean, eps)
        if key is not None:
            return f"ep:{key}", eps[key]
        known = ", ".join(self.names())
        raise DeliveryFailure(
            f"unknown delivery channel {name!r} (known: {known}; add custom channels under "
            f"[scheduler.delivery.custom] or the {ENTRY_POINT_GROUP!r} entry point group)",
            attempts=0,
        )

    def create(self, name: str, context: DeliveryContext) -> tuple[str, DeliveryRouter]:
        """(key, router) for channel ``name``: DeliveryFailure if unknown or unbuildable."""
        key, target = self.resolve(name)
        what = key.partition(":")[0]
        label = {"custom": "custom channel", "ep": "entry point", "builtin": "channel"}[what]
        try:
            if isinstance(target, str):
                target = load_object(target)
            elif _is_entry_point(target):
                target = target.load()
            router = build_router(target, context)
        except Exception as exc:
            raise DeliveryFailure(
                f"{label} {name!r} cannot be loaded: {type(exc).__name__}: {exc}", attempts=0
            ) from None
        return key, router
