"""Scheduling: the rules, and the parts that apply them to a store.

``rules`` holds the pure planners (what a due or finished run means), ``chaining`` what a success
means for the jobs that come after its job; ``loop`` the wake-up loop
that claims due jobs (:class:`CronScheduler`, which composes the rest); ``execution`` one run from
its start to its recorded end (:class:`RunExecutor`); ``writer`` the group commit of finished runs
(:class:`FinishWriter`); ``leadership`` the store lease and recovery after dead holders;
``maintenance`` the lease holder's pruning of history past its retention;
``faults`` the store fault episode and its backoff (:class:`StoreFaults`).
"""

from __future__ import annotations

__all__ = [
    "CronScheduler",
    "FinishWriter",
    "Leadership",
    "Maintenance",
    "RunExecutor",
    "StoreFault",
    "StoreFaults",
    "deny_item",
    "plan_finish",
    "plan_fire",
    "retry_delay",
    "schedule_for",
]

from .execution import RunExecutor
from .faults import StoreFault, StoreFaults
from .leadership import Leadership
from .loop import CronScheduler
from .maintenance import Maintenance
from .rules import deny_item, plan_finish, plan_fire, retry_delay, schedule_for
from .writer import FinishWriter
