"""What a step whose call failed leads to: pure, like decide, and part of it.

The tick only reports what happened — the job as the group's tag last recorded it, the error, the
action that failed, whether a state was written first — and carries out what comes back. The job's
own counters (`failures`, `last_error`, kept in the run's state between ticks) decide when trying
again stops: a claim or a restore is tried MAX_FAILURES times in a row; any other step is given one
more look (the world may have changed since the tick's read) and fails the group the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from asgpatch.actions import Action, ClearState, WriteLease
from asgpatch.decision import Decision, failed_call
from asgpatch.model import Job, Outcome, Phase

MAX_FAILURES = 5  # a claim or a restore step failing this many ticks in a row gives up


@dataclass(frozen=True)
class Failed:
    recorded: Job  # what the group's tag last recorded in the decision, plus what creating calls returned
    error: str
    action: Action
    wrote_state: bool = False  # a WriteState of the decision landed before the failure


def after_error(before: Job, failed: Failed, now: float) -> Decision:
    """The next job, and what to do about the failure now (best effort: the job is the decision's
    whatever those calls return)."""
    if before.phase is Phase.PENDING and not failed.wrote_state:
        return _not_started(before, failed)
    counted = _counted(failed.recorded, before, failed.error)
    if before.phase is Phase.RESTORING:
        return _restore_failed(counted, failed.error)  # level-triggered: just try again, up to a point
    if before.failures == 0:
        # The world may have changed since this tick's read (the patch instance terminated, the group
        # or its template deleted): the next read decides, as a run resuming after a crash at this
        # action would. A step that fails twice in a row fails the group.
        return Decision(counted)
    # The group fails and is restored; the restore counts its own failures from none.
    recovery = failed_call(replace(counted, failures=0), now, failed.error)
    return replace(recovery, best_effort=True)


def succeeded(job: Job) -> Job:
    """A step whose calls all landed: the counters start again."""
    return job if job.failures == 0 and not job.last_error else replace(job, failures=0, last_error="")


def _counted(job: Job, before: Job, error: str) -> Job:
    return replace(job, failures=before.failures + 1, last_error=error)


def _not_started(before: Job, failed: Failed) -> Decision:
    """Nothing was recorded, so nothing was changed: a failed claim is tried again on the next ticks; a
    failed first state write (or a claim that keeps failing) ends the job untouched, giving back a claim
    that may have landed."""
    counted = _counted(before, before, failed.error)
    if isinstance(failed.action, WriteLease) and counted.failures < MAX_FAILURES:
        return Decision(counted)
    done = replace(counted, phase=Phase.DONE, outcome=Outcome.FAILED, reason=f"not started: {failed.error}")
    return Decision(done, (ClearState(before.group),), best_effort=True)


def _restore_failed(job: Job, error: str) -> Decision:
    if job.failures < MAX_FAILURES:
        return Decision(job)
    reason = f"{job.reason + '; ' if job.reason else ''}restore incomplete: {error} (the state tag is kept)"
    # This run stops working on the group: its lease goes, so `recover` or the next run can take it up
    # at once instead of being told to leave it to a run that has given up.
    done = replace(job, phase=Phase.DONE, outcome=Outcome.FAILED, reason=reason)
    return Decision(done, (ClearState(job.group, lease_only=True),), best_effort=True)
