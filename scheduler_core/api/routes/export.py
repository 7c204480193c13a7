"""``GET /api/v1/export``: jobs as DSL text (``format=symbi``) or JSON specs (``format=json``).

A read (viewer role): a stored job keeps ``${VAR}`` literally, so the export holds no secret
value. What an operator wrote literally (a header value without ``${...}``, an
``agent_pin_jwt``, credentials in a URL, an agent's environment under a secret-like name) is
exported as written, but only to an admin key: any other key gets a 403 naming those fields.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ...access import Role, check_role
from ...errors import Forbidden
from ...export import collect_export, literal_secrets, render_export
from ...service import SchedulerService
from ..middleware import request_principal
from .common import PREFIX

_MEDIA = {"symbi": "text/plain; charset=utf-8", "json": "application/json"}


def export_routes(service: SchedulerService) -> APIRouter:
    r = APIRouter(tags=["schedules"])

    @r.get(
        f"{PREFIX}/export",
        response_class=Response,
        summary="Export jobs as DSL (symbi) or JSON specs, with the agents and policies they name",
        responses={
            200: {
                "description": "the DSL text (`symbi cron add --file` reads it) or "
                "`{jobs, agents, policies}` (each job a body `POST /api/v1/schedule` accepts)",
                "content": {
                    "text/plain": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"type": "object"}},
                },
            }
        },
    )
    async def export(
        request: Request,
        format: Annotated[str, Query(pattern="^(symbi|json)$")] = "symbi",
        name: Annotated[list[str] | None, Query(max_length=200)] = None,
    ) -> Any:
        exported = await collect_export(service, name or ())
        principal = request_principal(request)
        secrets = literal_secrets(exported)
        if secrets and principal is not None:
            shown = "; ".join(secrets[:5]) + ("; ..." if len(secrets) > 5 else "")
            check_role(
                principal,
                Role.ADMIN,
                f"exporting secrets written literally ({shown}; write them as ${{VAR}} to let "
                "other keys export them)",
            )
        elif secrets:  # an exempt path read without a key
            raise Forbidden(
                "exporting secrets written literally needs an admin key",
                required_role=Role.ADMIN.value,
            )
        return Response(render_export(exported, format), media_type=_MEDIA[format])

    return r
