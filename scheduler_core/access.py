"""Who may do what: the roles API keys carry, and who may decide a run awaiting approval.

An API key is named (``[api.keys.NAME]``; the keys of ``api_keys = [...]`` are ``key-1``,
``key-2``...; the generated key file's is ``local``) and carries a role:

* ``viewer``: reads (jobs, runs, iterations, approvals waiting, the audit log, health with its
  detail, the event stream, the store's stats);
* ``operator``: also acts on what exists (pause, resume, run now, reset, approve, deny);
* ``admin``: also changes definitions and the store (create, update, delete, apply, prune) and
  reads the daemon's log.

The audit actor of a change is the key's name, never its value. Whoever opens the store itself
(the embedded console, ``symbi`` without a daemon) is the *local operator*: the file is its own
(0600), it could write any row, so it acts as ``admin`` and a job's ``approvers`` do not bind it;
its changes are audited as ``tui`` (the embedded console) or ``cli``.

A job's ``policy.approvers`` names who may approve or deny its runs: key names, or
``role:ROLE`` for every key of that role or above (``role:operator`` takes operators and
admins). Without approvers, any operator or admin decides.
"""

from __future__ import annotations

__all__ = [
    "LOCAL_ACTORS",
    "Principal",
    "Role",
    "approver_matches",
    "check_approver",
    "check_role",
    "valid_key_name",
]

import re
from collections.abc import Sequence
from enum import StrEnum

from .errors import Forbidden
from .records import record


class Role(StrEnum):
    """What a key may do; each role may do everything the one before it may."""

    VIEWER = "viewer"  #: reads
    OPERATOR = "operator"  #: reads, and acts on jobs and runs that exist
    ADMIN = "admin"  #: everything: definitions, the store, the log

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may."""
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}

#: actors that are not API keys (audit events name them): no key may be named so
LOCAL_ACTORS = frozenset({"api", "cli", "console", "demo", "dsl", "scheduler", "tui"})
_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def valid_key_name(name: str) -> str | None:
    """Why ``name`` cannot name a key, or None when it can."""
    if not _KEY_NAME.fullmatch(name):
        return (
            "a key's name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit (it is what the audit log shows)"
        )
    if name in LOCAL_ACTORS:
        return f"{name!r} names the local operator or the scheduler in the audit log"
    return None


@record
class Principal:
    """Who a request comes from: a key's name and role, or the local operator."""

    name: str  #: the audit actor: the key's name (never its value), or console/cli
    role: Role
    local: bool = False  #: the local operator (holds the store itself): not bound by approvers


def check_role(principal: Principal, needed: Role, what: str) -> None:
    """Raise :class:`~scheduler_core.errors.Forbidden` when ``principal`` may not do ``what``
    (which needs ``needed``)."""
    if principal.role.allows(needed):
        return
    higher = " or admin" if needed is Role.OPERATOR else ""
    raise Forbidden(
        f"the API key {principal.name!r} has the {principal.role.value} role: {what} needs "
        f"the {needed.value}{higher} role",
        key=principal.name,
        role=principal.role.value,
        required_role=needed.value,
    )


def approver_matches(approvers: Sequence[str], principal: Principal) -> bool:
    """Whether ``approvers`` (key names and ``role:ROLE`` entries) include ``principal``."""
    for entry in approvers:
        if entry.startswith("role:"):
            try:
                role = Role(entry[5:].strip())
            except ValueError:
                continue  # an unknown role admits nobody
            if principal.role.allows(role):
                return True
        elif entry == principal.name:
            return True
    return False


def check_approver(
    approvers: Sequence[str],
    principal: Principal,
    *,
    decision: str,
    triggered_by: str | None = None,
) -> None:
    """Raise :class:`Forbidden` when a run whose job lists ``approvers`` may not be decided
    (``decision``: approve or deny) by ``principal``.

    With no approvers, any operator decides; the local operator always may. The key that
    triggered the run is told so when it is refused: it may not approve its own run unless the
    approvers name it.
    """
    if principal.local or not approvers or approver_matches(approvers, principal):
        return
    who = ", ".join(approvers)
    own = (
        " (it triggered this run, and may not decide it unless the approvers name it)"
        if triggered_by is not None and triggered_by == principal.name
        else ""
    )
    raise Forbidden(
        f"the API key {principal.name!r} may not {decision} this run{own}: its job's approvers "
        f"are {who}",
        key=principal.name,
        role=principal.role.value,
        approvers=tuple(approvers),
    )
