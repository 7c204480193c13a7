"""What role each route needs, checked before the route runs (a FastAPI dependency on every
route group): reads need ``viewer``, acting on what exists ``operator``, everything else
``admin``.

The rule is by method and path, and denies by default: a new ``POST``, ``PUT`` or ``DELETE``
route needs ``admin`` until it is listed in :data:`OPERATOR_ROUTES`. A refusal is a 403 whose
JSON body says which role is needed (``details.required_role``).
"""

from __future__ import annotations

__all__ = ["ADMIN_READS", "OPERATOR_ROUTES", "authorize", "required_role"]

from fastapi import Request
from fastapi.routing import APIRoute

from ..access import Role, check_role
from ..wire import Unauthorized
from .routes.common import PREFIX

#: (method, route path) an operator may call: acting on jobs and runs that exist
OPERATOR_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", f"{PREFIX}/schedule/{{job_id}}/pause"),
        ("POST", f"{PREFIX}/schedule/{{job_id}}/resume"),
        ("POST", f"{PREFIX}/schedule/{{job_id}}/reset"),
        ("POST", f"{PREFIX}/schedule/{{job_id}}/run"),
        ("POST", f"{PREFIX}/schedule/{{job_id}}/backfill"),
        ("POST", f"{PREFIX}/schedules/{{job_id}}/pause"),
        ("POST", f"{PREFIX}/schedules/{{job_id}}/resume"),
        ("POST", f"{PREFIX}/schedules/{{job_id}}/trigger"),
        ("POST", f"{PREFIX}/runs/{{run_id}}/approve"),
        ("POST", f"{PREFIX}/runs/{{run_id}}/deny"),
        ("POST", f"{PREFIX}/runs/{{run_id}}/cancel"),
    }
)
#: reads only an admin may make: the daemon's own log (paths, hosts, every component's words)
ADMIN_READS: frozenset[str] = frozenset({f"{PREFIX}/logs"})

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def required_role(method: str, path: str) -> Role:
    """The role a request to the route ``path`` (its template) with ``method`` needs."""
    if method in _READS:
        return Role.ADMIN if path in ADMIN_READS else Role.VIEWER
    return Role.OPERATOR if (method, path) in OPERATOR_ROUTES else Role.ADMIN


async def authorize(request: Request) -> None:
    """Refuse (403) a key whose role is below what the matched route needs.

    An exempt path (``[api] auth_exempt``) answers reads without a key; a change there still
    needs a key with the role (401 without one).
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    needed = required_role(request.method, route.path)
    principal = getattr(request.state, "principal", None)
    if principal is None:
        if needed is Role.VIEWER:
            return  # an exempt path, read without a key
        raise Unauthorized(
            "missing API key: send Authorization: Bearer <key> (this path is exempt from "
            f"authentication for reads only; {route.summary or route.name} needs the "
            f"{needed.value} role)",
            status=401,
        )
    what = (route.summary or route.name).split(" (")[0]  # "Pause a job", not its gloss
    check_role(principal, needed, f'"{what}"')
