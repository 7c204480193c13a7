"""What the route groups share: the path prefix and the job and run path parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

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
