"""What the service's job operations share in making and changing jobs: a parsed definition
given a stored job's state, the named policies a job's data lists, what an update changed."""

from __future__ import annotations

__all__ = ["changed_fields", "listed_policies", "with_state"]

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .jobspec import spec_to_json
from .model import JobDefinition


def with_state(definition: JobDefinition, existing: JobDefinition) -> JobDefinition:
    """A freshly parsed definition carrying an existing job's identity and state."""
    return replace(
        definition,
        id=existing.id,
        status=existing.status,
        next_run_at=existing.next_run_at,
        last_run_at=existing.last_run_at,
        last_run_status=existing.last_run_status,
        last_error=existing.last_error,
        run_count=existing.run_count,
        failure_count=existing.failure_count,
        created_at=existing.created_at,
        updated_at=existing.updated_at,
    )


def listed_policies(data: Mapping[str, Any] | JobDefinition) -> list[str]:
    """The named policies a job (or the data for one) lists, as far as they can be read."""
    if isinstance(data, JobDefinition):
        return list(data.policies)
    listed = data.get("policies", data.get("policy_ids"))
    return [str(name) for name in listed] if isinstance(listed, list | tuple) else []


def changed_fields(old: JobDefinition, new: JobDefinition) -> list[str]:
    a, b = json.loads(spec_to_json(old)), json.loads(spec_to_json(new))
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
