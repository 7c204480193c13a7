"""A job as the JSON body of ``GET /api/v1/schedule`` sends it."""

from __future__ import annotations

__all__ = ["job_out"]

from functools import lru_cache
from typing import Any

from ..model import JobDefinition
from ..wire import job_to_dict
from .schemas import JobOut


@lru_cache(maxsize=1)
def _job_out_order() -> tuple[tuple[str, Any], ...]:
    """JobOut's fields in order, with the default each optional one takes."""
    return tuple(
        (name, None if field.is_required() else field.get_default(call_default_factory=True))
        for name, field in JobOut.model_fields.items()
    )


def job_out(job: JobDefinition) -> dict[str, Any]:
    """A job exactly as ``response_model=JobOut`` would send it, without validating the dict
    again (a page of jobs is already in that shape: this halves the list's cost)."""
    data = job_to_dict(job)
    out = {name: data.get(name, default) for name, default in _job_out_order()}
    out.update((k, v) for k, v in data.items() if k not in out)
    return out
