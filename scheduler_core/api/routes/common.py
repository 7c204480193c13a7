"""What the route groups share: the path prefix, the job and run path parameters, the run
status filter, the body of an action that takes no fields."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Path, Query
from pydantic import BaseModel, ConfigDict

from ...model import RunStatus

PREFIX = "/api/v1"

JobRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description="a job id, a unique id prefix (4+ characters) or a job name",
    ),
]
RunRef = Annotated[str, Path(min_length=1, max_length=200, description="a run id")]
RunStatusFilter = Annotated[
    RunStatus | None,
    Query(
        description="only runs in this status; failed matches every failure (timed_out and "
        "interrupted too)"
    ),
]


class NoFieldsIn(BaseModel):
    """No fields: a field sent to an action that takes none would be ignored, so it is refused
    (422 naming it)."""

    model_config = ConfigDict(extra="forbid")


#: the body of an action that takes no fields: nothing, ``{}`` or ``null``
NoBody = Annotated[NoFieldsIn | None, Body(description="none: send nothing (or {})")]
