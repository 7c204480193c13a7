"""A page of jobs as the JSON body ``GET /api/v1/schedule`` sends, each job encoded once.

A job is sent exactly as ``response_model=JobOut`` would send it (``job_to_dict`` in JobOut's
field order, the extra fields after), encoded as ``JSONResponse`` encodes (compact, UTF-8, no
NaN), but without validating the dicts again and without encoding a job that was encoded
before: the store hands back the same :class:`JobDefinition` object for a row unchanged in
every column, and its bytes are kept beside it (the object itself is held, so its ``id`` cannot
be reused by another while its entry lives).
"""

from __future__ import annotations

__all__ = ["JobJson"]

import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from ..model import JobDefinition
from ..wire import job_to_dict
from .schemas import JobOut

#: jobs whose bytes are kept (a page polled again, walked by several clients); emptied when full
_KEEP = 4096


def _unencodable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _encoder() -> Callable[[Any], str]:
    """``json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))``, as
    ``JSONResponse`` renders, with the C encoder made once rather than per call."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
    encode = make(
        None,  # markers: jobs hold no cycles
        _unencodable,
        json.encoder.encode_basestring,  # ensure_ascii=False
        None,  # indent
        ":",
        ",",
        False,  # sort_keys
        False,  # skipkeys
        False,  # allow_nan
    )
    return lambda value: "".join(encode(value, 0))


@lru_cache(maxsize=1)
def _job_out_template() -> dict[str, Any]:
    """JobOut's fields in order, each with the default an optional one takes (None for the
    required ones, which ``job_to_dict`` always gives)."""
    return {
        name: None if field.is_required() else field.get_default(call_default_factory=True)
        for name, field in JobOut.model_fields.items()
    }


def job_out(job: JobDefinition) -> dict[str, Any]:
    """A job exactly as ``response_model=JobOut`` would send it, without validating the dict
    again (a page of jobs is already in that shape: this halves the list's cost): JobOut's
    fields first, in its order (``update`` keeps a key where it is), then the others in
    ``job_to_dict``'s order."""
    out = _job_out_template().copy()
    out.update(job_to_dict(job))
    return out


class JobJson:
    """Jobs as JSON bytes, each kept once encoded."""

    def __init__(self, keep: int = _KEEP) -> None:
        self._keep = keep
        self._encode = _encoder()
        #: id(job) -> (the job, its bytes)
        self._known: dict[int, tuple[JobDefinition, bytes]] = {}

    def job(self, job: JobDefinition) -> bytes:
        known = self._known.get(id(job))
        if known is not None and known[0] is job:
            return known[1]
        data = self._encode(job_out(job)).encode()
        if len(self._known) >= self._keep:
            self._known.clear()
        self._known[id(job)] = (job, data)
        return data

    def page(self, jobs: Sequence[JobDefinition]) -> bytes:
        """``jobs`` as a JSON array, the bytes ``JSONResponse([job_out(j) ...])`` sends."""
        return b"[" + b",".join([self.job(j) for j in jobs]) + b"]"
