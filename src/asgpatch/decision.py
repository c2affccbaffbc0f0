"""What every phase decision is made of: the Decision itself, failing, finishing, and the small
measures more than one phase needs. Pure, like the phases."""

from __future__ import annotations

from dataclasses import dataclass, replace

from asgpatch.actions import Action, ClearState, SetCapacity, WriteState
from asgpatch.model import Capacity, GroupView, Job, Outcome, Phase
from asgpatch.state import INCOMPLETE

COMMAND_RUNNING = frozenset({"Pending", "InProgress", "Delayed"})
LEAVING = frozenset({"Terminating", "Terminating:Wait", "Terminating:Proceed", "Terminated", "Detaching", "Detached"})


@dataclass(frozen=True)
class Decision:
    """The next job and the actions that get there, in order. Normally the first failed action stops
    the rest and the job stays as the group's tag last recorded it (failures.py decides what then);
    `best_effort` actions are all tried and the job is this one whatever they return."""

    job: Job
    actions: tuple[Action, ...] = ()
    best_effort: bool = False


def fail(job: Job, now: float, reason: str, *cleanup: Action) -> Decision:
    """Any failure: record why, clean up what this run created, then restore the group."""
    failed = job.at(Phase.RESTORING, now, outcome=Outcome.FAILED, reason=reason)
    return Decision(failed, (WriteState(failed), *cleanup))


def failed_call(job: Job, now: float, error: str) -> Decision:
    """An API call failed after retries: fail the group (if still patching) so it is restored."""
    if job.phase in (Phase.RESTORING, Phase.DONE):
        return Decision(job)
    return fail(job, now, f"{job.phase.value}: {error}")


def release(job: Job, group: GroupView, outcome: Outcome, reason: str) -> Decision:
    """Done before changing anything: only give back the lease this run claimed."""
    done = finish(job, outcome, reason)
    return Decision(done.job, (ClearState(group.name, lease_only=True),) if job.claimed else ())


def finish(job: Job, outcome: Outcome, reason: str) -> Decision:
    """Done without having touched the group (nothing to restore, no tags written)."""
    return Decision(replace(job, phase=Phase.DONE, outcome=outcome, reason=reason))


def overdue(since: float, now: float, timeout: float) -> bool:
    return now - since > timeout


def minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def scale_up(name: str, original: Capacity) -> SetCapacity:
    """At zero: one instance (MinSize 1, as the reference does). Running: one temporary extra."""
    if original.desired == 0:
        return SetCapacity(name, min=1, max=max(1, original.max), desired=1)
    desired = original.desired + 1
    return SetCapacity(name, max=max(original.max, desired), desired=desired)


def complete(preexisting: frozenset[str]) -> bool:
    """Whether the earlier instances are all known ("+" marks a list that did not fit in the tag)."""
    return bool(preexisting) and INCOMPLETE not in preexisting


def alias_note(alias: str | None, version: int) -> str:
    """A version whose ImageId follows an SSM parameter: the new version names the patched AMI itself."""
    if not alias:
        return ""
    return f"version {version} followed {alias}; the new version pins the patched AMI and no longer follows it"
