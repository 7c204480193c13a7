"""The actions on one job, written once: pause or resume, run now (with input), reset, delete;
and on one run: approve or deny, cancel.

Every screen that acts on a job (the jobs pane, watch, dead letter) calls these from its action
worker, so the question asked first, the words of the result and the refresh after it
(:meth:`~symbi_tui.screens.base.ConsoleScreen.after_action`) are the same wherever the key is
pressed. The job is the one the screen named when the key was read, never looked up again.
"""

from __future__ import annotations

__all__ = [
    "backfill",
    "backfill_refusal",
    "cancel_run",
    "decide",
    "decide_for_job",
    "delete",
    "reset",
    "run_now",
    "toggle_pause",
]

from typing import Any

from scheduler_core.model import JobDefinition, JobRun, JobStatus, RunStatus

from ..format import short_instant
from .backfill import BackfillScreen
from .base import ConsoleScreen
from .confirm import ConfirmScreen
from .prompt import PromptScreen

#: how a job's status reads in a sentence ("flaky-job is dead-lettered after 3 failure(s)")
_STATUS_WORDS = {JobStatus.DEAD_LETTER: "dead-lettered"}


def _status_words(job: JobDefinition) -> str:
    return _STATUS_WORDS.get(job.status, job.status.value)


async def toggle_pause(screen: ConsoleScreen[Any], job: JobDefinition) -> None:
    """Resume a paused job, pause any other."""
    if job.status is JobStatus.PAUSED:
        await screen.act(
            f"resume {job.name}",
            lambda: screen.backend.resume_job(job.id),
            lambda j: f"{j.name} resumed",
            job_id=job.id,
        )
    else:
        await screen.act(
            f"pause {job.name}",
            lambda: screen.backend.pause_job(job.id),
            lambda j: f"{j.name} paused",
            job_id=job.id,
        )


async def run_now(screen: ConsoleScreen[Any], job: JobDefinition, *, ask: bool = False) -> None:
    """Queue a manual run; ``ask``: first ask for the run's input (the job's own if empty)."""
    text: str | None = None
    if ask:
        text = await screen.app.push_screen_wait(
            PromptScreen(
                f"Run {job.name} now",
                "Input for this run (the job's own input if left empty):",
                confirm_label="Run",
                value=job.input or "",
            )
        )
        if text is None:
            return
    given = text or None

    def queued(_run: JobRun) -> str:
        return f"{job.name}: manual run queued" + (" with input" if given else "")

    await screen.act(
        f"run {job.name}",
        lambda: screen.backend.run_now(job.id, input=given),
        queued,
        job_id=job.id,
    )


def backfill_refusal(job: JobDefinition) -> str | None:
    """Why ``job`` cannot be backfilled now (None: it can): the words of ``B``'s refusal."""
    if job.cron is None:
        kind = "a chained job" if job.at is None else "a one-shot job"
        return f"{job.name} is {kind}: only a cron job has instants to backfill"
    if job.status is not JobStatus.ACTIVE:
        hint = "resume it" if job.status is JobStatus.PAUSED else "reset it"
        return f"{job.name} is {_status_words(job)}: {hint} before backfilling"
    return None


async def backfill(screen: ConsoleScreen[Any], job: JobDefinition) -> None:
    """The backfill form: a range, its preview (a dry run), then the runs queued on confirm."""
    done = await screen.app.push_screen_wait(BackfillScreen(screen.backend, job))
    if done is None:
        screen.notify(f"nothing was queued for {job.name}", title="Backfill cancelled")
        return
    skipped = f", {len(done.skipped)} instant(s) skipped" if done.skipped else ""
    screen.notify(
        f"{job.name}: {len(done.created)} backfill run(s) queued{skipped}",
        title="Backfill",
        markup=False,
    )
    screen.after_action(job.id)


async def reset(screen: ConsoleScreen[Any], job: JobDefinition) -> None:
    """Clear a failed or dead-lettered job's failures and schedule it again, once confirmed."""
    lines = [f"{job.name} is {_status_words(job)} after {job.failure_count} failure(s)."]
    if job.last_error:
        lines.append(f"Last error: {job.last_error}")
    lines.append("Reset clears the failures and schedules it again from now.")
    confirmed = await screen.app.push_screen_wait(
        ConfirmScreen(f"Reset {job.name}?", "\n".join(lines), confirm_label="Reset")
    )
    if not confirmed:
        screen.notify(
            f"{job.name} stays {_status_words(job)}", title="Reset cancelled", markup=False
        )
        return
    await screen.act(
        f"reset {job.name}",
        lambda: screen.backend.reset_job(job.id),
        lambda j: f"{j.name} is active again; next run {short_instant(j.next_run_at)} UTC",
        job_id=job.id,
    )


async def delete(screen: ConsoleScreen[Any], job: JobDefinition) -> None:
    """Remove a job and its run history, once confirmed."""
    confirmed = await screen.app.push_screen_wait(
        ConfirmScreen(
            f"Delete {job.name}?",
            f"{job.name} ({job.cron or 'one-shot'}) and its run history are removed; "
            "a run in flight is cancelled.",
            confirm_label="Delete",
        )
    )
    if not confirmed:
        screen.notify(f"{job.name} kept", title="Delete cancelled", markup=False)
        return
    await screen.act(
        f"delete {job.name}",
        lambda: screen.backend.remove_job(job.id),
        lambda j: f"{j.name} deleted",
        job_id=job.id,
        gone=True,
    )


async def decide(screen: ConsoleScreen[Any], run: JobRun, verb: str) -> None:
    """Approve (``verb`` ``approve``) or deny a run awaiting approval, with an optional reason
    kept with the decision."""
    name = run.job_name or run.job_id
    reason = await screen.app.push_screen_wait(
        PromptScreen(
            f"{verb.capitalize()} {name}?",
            f"{'Release' if verb == 'approve' else 'Refuse'} run {run.id} of {name}."
            " A reason is optional; it is kept with the decision.",
            confirm_label=verb.capitalize(),
            placeholder="reason (optional)",
            variant="success" if verb == "approve" else "error",
        )
    )
    if reason is None:
        screen.notify(
            f"{name} is still awaiting approval",
            title=f"{verb.capitalize()} cancelled",
            markup=False,
        )
        return
    call = screen.backend.approve if verb == "approve" else screen.backend.deny
    done = "approved: it runs now" if verb == "approve" else "denied"
    await screen.act(
        f"{verb} {name}",
        lambda: call(run.id, reason=reason or None),
        lambda _run: f"{name} {done}" + (f" ({reason})" if reason else ""),
        job_id=run.job_id,
    )


async def decide_for_job(screen: ConsoleScreen[Any], job: JobDefinition, verb: str) -> None:
    """Approve or deny ``job``'s oldest run awaiting approval (from the jobs pane's row)."""
    waiting = [run for run in await screen.backend.pending_approvals() if run.job_id == job.id]
    if not waiting:
        screen.notify(
            f"{job.name} has no run awaiting approval",
            title=f"{verb.capitalize()}: not now",
            severity="warning",
            markup=False,
        )
        return
    await decide(screen, waiting[-1], verb)  # (newest first: the last waited longest)


#: what cancelling does to a run, by the status it is in
_CANCEL_WORDS = {
    RunStatus.RUNNING: "its agent is stopped (a command's whole process group is killed)",
    RunStatus.QUEUED: "it never starts",
    RunStatus.AWAITING_APPROVAL: "it never starts, and is no longer awaiting approval",
}


async def cancel_run(screen: ConsoleScreen[Any], run: JobRun) -> None:
    """Cancel a queued, parked or running run, once confirmed: it ends ``cancelled`` (not a
    failure, not retried)."""
    name = run.job_name or run.job_id
    what = _CANCEL_WORDS.get(run.status, "it ends")
    confirmed = await screen.app.push_screen_wait(
        ConfirmScreen(
            f"Cancel this run of {name}?",
            f"Run {run.id} of {name} is {run.status.value}: {what}. It ends cancelled, "
            "which is not a failure and is not retried.",
            confirm_label="Cancel run",
        )
    )
    if not confirmed:
        screen.notify(f"run {run.id[:12]} of {name} goes on", title="Not cancelled", markup=False)
        return

    def said(ended: JobRun) -> str:
        if ended.status is RunStatus.CANCELLED:
            return f"run {ended.id[:12]} of {name} cancelled"
        return (
            f"run {ended.id[:12]} of {name}: the node running it was asked to stop it; "
            "it is recorded cancelled when it has"
        )

    await screen.act(
        f"cancel run {run.id[:12]} of {name}",
        lambda: screen.backend.cancel_run(run.id),
        said,
        job_id=run.job_id,
    )
