"""The time and content checks: the key's expiry, the credential's validity window and lifetime,
its subject and capabilities; and the short forms the messages use for values, instants and
durations.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard

from ..clock import Clock
from ..errors import AgentPinError
from ..settings import AgentPinConfig
from ._jws import Json


def expected_subject(domain: str, agent_name: str) -> str:
    """The ``sub`` (agentpin ``agent_id``) a credential for ``agent_name`` must carry."""
    return f"urn:agentpin:{domain}:{agent_name}"


def _check_key_expiry(jwk: Json, kid: str, clock: Clock, config: AgentPinConfig) -> None:
    """A key's ``exp`` (ISO 8601 or epoch seconds), if it has one, has not passed."""
    raw = jwk.get("exp")
    if raw is None:
        return
    try:
        if _is_number(raw):
            expires = datetime.fromtimestamp(raw, UTC)
        elif isinstance(raw, str):
            expires = datetime.fromisoformat(raw.strip())
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
        else:
            raise TypeError(type(raw).__name__)
    except (ValueError, TypeError, OverflowError, OSError) as exc:
        raise AgentPinError(
            f"key {kid!r} has an unreadable expiry {raw!r}", check="key_expiry"
        ) from exc
    now = clock.now()
    if (now - expires).total_seconds() > config.clock_skew_seconds:
        raise AgentPinError(
            f"key {kid!r} expired at {_iso(expires)} (now {_iso(now)})", check="key_expiry"
        )


def _check_times(payload: Json, clock: Clock, config: AgentPinConfig) -> tuple[datetime, float]:
    """Check exp, iat, nbf and the lifetime; return (expires at, lifetime in seconds)."""
    now = clock.now()
    skew = config.clock_skew_seconds
    exp = _instant(payload, "exp", required=True)
    iat = _instant(payload, "iat", required=True)
    nbf = _instant(payload, "nbf", required=False)
    assert exp is not None and iat is not None
    if (now - exp[1]).total_seconds() >= skew:
        raise AgentPinError(
            f"credential expired at {_iso(exp[1])} (now {_iso(now)}, skew {_secs(skew)})",
            check="exp",
        )
    if (iat[1] - now).total_seconds() > skew:
        raise AgentPinError(
            f"credential issued in the future, at {_iso(iat[1])} (now {_iso(now)}, "
            f"skew {_secs(skew)})",
            check="iat",
        )
    if nbf is not None and (nbf[1] - now).total_seconds() > skew:
        raise AgentPinError(
            f"credential not valid before {_iso(nbf[1])} (now {_iso(now)}, skew {_secs(skew)})",
            check="nbf",
        )
    lifetime = exp[0] - iat[0]
    if lifetime <= 0:
        raise AgentPinError(
            f"credential expires ({_iso(exp[1])}) before it is issued ({_iso(iat[1])})",
            check="lifetime",
        )
    if lifetime > config.max_lifetime_seconds:
        raise AgentPinError(
            f"credential lifetime {_secs(lifetime)} (exp - iat) exceeds the maximum of "
            f"{_secs(config.max_lifetime_seconds)}",
            check="lifetime",
        )
    return exp[1], lifetime


def _check_capabilities(claimed: object, agent: Json, agent_id: str) -> tuple[str, ...]:
    if claimed is None:
        return ()
    if not isinstance(claimed, list) or not all(isinstance(c, str) for c in claimed):
        raise AgentPinError("capabilities is not a list of strings", check="capabilities")
    declared = agent.get("capabilities")
    declared_caps = (
        [c for c in declared if isinstance(c, str)] if isinstance(declared, list) else []
    )
    extra = [c for c in claimed if not any(_covers(d, c) for d in declared_caps)]
    if extra:
        raise AgentPinError(
            f"capabilities {', '.join(extra)} are not declared for agent {agent_id!r}",
            check="capabilities",
        )
    return tuple(claimed)


def _covers(declared: str, requested: str) -> bool:
    """agentpin's matching: same action; resource equal, ``*``, or a dotted sub-resource."""
    d_action, sep1, d_resource = declared.partition(":")
    r_action, sep2, r_resource = requested.partition(":")
    if not sep1 or not sep2 or d_action != r_action:
        return False
    return d_resource == "*" or d_resource == r_resource or r_resource.startswith(d_resource + ".")


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _instant(
    payload: Mapping[str, Any], claim: str, *, required: bool
) -> tuple[float, datetime] | None:
    value = payload.get(claim)
    if value is None:
        if required:
            raise AgentPinError(f"the credential has no {claim} claim", check=claim)
        return None
    if not _is_number(value):
        raise AgentPinError(f"{claim} {_show(value)} is not a number of seconds", check=claim)
    try:
        return float(value), datetime.fromtimestamp(value, UTC)
    except (OverflowError, ValueError, OSError) as exc:
        raise AgentPinError(f"{claim} {_show(value)} is out of range", check=claim) from exc


def _show(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (token values end up in logs and the TUI)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _secs(seconds: float) -> str:
    return f"{seconds:g}s"
