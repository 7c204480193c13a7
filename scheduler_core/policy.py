"""The policy gate: Allow, Deny(reason) or RequireApproval(approvers), evaluated before each run."""

from __future__ import annotations

__all__ = ["Allow", "AllowAll", "Decision", "Deny", "PolicyGate", "RequireApproval"]

from dataclasses import dataclass
from typing import Protocol

from .model import JobDefinition, JobRun


@dataclass(frozen=True, slots=True)
class Allow:
    pass


@dataclass(frozen=True, slots=True)
class Deny:
    reason: str


@dataclass(frozen=True, slots=True)
class RequireApproval:
    approvers: tuple[str, ...] = ()


Decision = Allow | Deny | RequireApproval


class PolicyGate(Protocol):
    async def evaluate(self, job: JobDefinition, run: JobRun) -> Decision: ...


class AllowAll:
    """The gate used when no policy engine is configured."""

    async def evaluate(self, job: JobDefinition, run: JobRun) -> Decision:
        return Allow()
