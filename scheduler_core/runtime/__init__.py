"""Agent execution: the executor seam and the runners."""

from __future__ import annotations

__all__ = ["CallableExecutor", "ExecutionResult", "Executor", "RunContext"]

from .base import CallableExecutor, ExecutionResult, Executor, RunContext
