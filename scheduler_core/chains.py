"""Chains between jobs: the checks made when jobs are created, changed or removed.

A job with ``after: "other-job"`` runs each time ``other-job``'s run succeeds (the runs are made
by ``scheduling.chaining`` in the transaction that records the success). Here the service keeps
the graph sound:

- a job comes after a job that exists (in the store, or in the same batch or file, in any order);
- no job comes after itself, directly or around a loop (``a`` after ``b`` after ``a``);
- a job others come after is not removed or renamed while they name it: the refusal names them,
  so the operator changes or removes the followers first (detaching them silently would leave
  jobs that never run, and no sign of why).

Each job has at most one ``after``, so a loop through a new or changed job is found by walking up
from it, one look-up per step: the store is never scanned.
"""

from __future__ import annotations

__all__ = [
    "ChainProblem",
    "chain_problems",
    "check_chains",
    "check_file_chains",
    "check_not_followed",
    "check_update",
]

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .errors import ConflictError, DslError, DslIssue, ValidationError
from .model import JobDefinition
from .records import record
from .store.base import JobStore

if TYPE_CHECKING:
    from .dsl import DslBundle

#: the longest chain walked up from a job (far beyond any real pipeline)
MAX_DEPTH = 10_000


@record
class ChainProblem:
    index: int  #: of the job in the batch checked
    name: str
    message: str


async def chain_problems(store: JobStore, jobs: Sequence[JobDefinition]) -> list[ChainProblem]:
    """What is wrong with the ``after`` of each of ``jobs`` (created or changed together: they
    stand in for the stored jobs of their names)."""
    batch: Mapping[str, JobDefinition] = {j.name: j for j in jobs}
    cache: dict[str, JobDefinition | None] = {}

    async def lookup(name: str) -> JobDefinition | None:
        if name in batch:
            return batch[name]
        if name not in cache:
            cache[name] = await store.get_job_by_name(name)
        return cache[name]

    problems: list[ChainProblem] = []
    for index, job in enumerate(jobs):
        if job.after is None:
            continue
        if job.after == job.name:
            problems.append(ChainProblem(index, job.name, "a job cannot come after itself"))
            continue
        path = [job.name]
        current: str | None = job.after
        while current is not None and len(path) < MAX_DEPTH:
            leader = await lookup(current)
            if leader is None:
                if current == job.after:
                    problems.append(
                        ChainProblem(index, job.name, await _unknown(store, current, batch))
                    )
                break  # a loop further up is another job's problem
            path.append(current)
            if leader.after == job.name:
                loop = " after ".join([*path, job.name])
                problems.append(ChainProblem(index, job.name, f"makes a loop: {loop}"))
                break
            current = leader.after
    return problems


async def _unknown(store: JobStore, name: str, batch: Mapping[str, JobDefinition]) -> str:
    names = [*batch, *await store.all_job_names()]
    import difflib  # at first use: not on the scheduler's start path

    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"no job named {name!r}{hint}"


async def check_chains(
    store: JobStore, jobs: Sequence[JobDefinition], *, indexed: str | None = None
) -> None:
    """Raise a ValidationError naming ``after`` (``indexed``: as ``{indexed}[i].after``, for a
    batch) for every problem with ``jobs``' chains."""
    problems = await chain_problems(store, jobs)
    if problems:
        raise ValidationError.collect(
            [
                ValidationError(
                    p.message,
                    field=f"{indexed}[{p.index}].after" if indexed is not None else "after",
                )
                for p in problems
            ]
        )


async def check_not_followed(store: JobStore, job: JobDefinition, doing: str) -> None:
    """Refuse to remove or rename ``job`` (``doing``) while other jobs come after it."""
    followers = [f.name for f in await store.followers(job.name) if f.id != job.id]
    if followers:
        names = ", ".join(followers[:20]) + (" ..." if len(followers) > 20 else "")
        raise ConflictError(
            f"cannot {doing} job {job.name!r}: {names} come(s) after it; change or remove "
            "their 'after' first"
        )


async def check_file_chains(
    store: JobStore, bundle: DslBundle, jobs: Sequence[JobDefinition]
) -> None:
    """:func:`check_chains` for schedules loaded from files: each problem at the file, line and
    column of its ``after`` value."""
    problems = await chain_problems(store, jobs)
    issues = []
    for p in problems:
        path, line, col = bundle.after_location(p.name) or ("<dsl>", 1, 1)
        issues.append(DslIssue(path, line, col, f'schedule "{p.name}": after: {p.message}'))
    if issues:
        raise DslError(issues)


async def check_update(store: JobStore, old: JobDefinition, new: JobDefinition) -> None:
    """A changed job: not renamed while followed, and its ``after`` sound."""
    if new.name != old.name:
        await check_not_followed(store, old, "rename")
    await check_chains(store, [new])
