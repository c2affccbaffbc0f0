"""A stored job behind its group's state tag: the tag is the truth for the group. Pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from asgpatch.model import GroupView, Job, Observation, Phase
from asgpatch.state import REASON_TAG, STATE_TAG, StateError, decode, names_run


def caught_up(job: Job, observation: Observation, trusts: Callable[[GroupView], bool]) -> Job:
    """A tick whose save was lost (killed, or beaten by a concurrent tick of the same run) leaves the
    stored job behind the group's state tag, which this run wrote after it, before acting. A tag of
    this job's run, sealed by asgpatch for this group (`trusts`), that is ahead of the job — the job
    still pending, another phase begun later, or in the same phase a decrement or a relaunch the job
    does not know — replaces it (the ids creating calls returned after it was written are found again
    by their natural keys). A job ahead of its tag in what it only keeps in memory (when its instance
    came up) is never set back."""
    group = observation.group
    if group is None or job.done or job.salvaged_from is not None:
        return job
    value = group.tags.get(STATE_TAG)
    if value is None or not names_run(value, job.run_id):
        return job
    try:
        recorded = decode(group.name, value, group.tags.get(REASON_TAG, ""))
    except StateError:
        return job
    if job.phase is Phase.PENDING:
        ahead = True  # a lost tick started it: preparing again would take its scaled-up size for the original
    elif recorded.phase is not job.phase:
        # Begun in a later second (the tag keeps whole seconds). A later phase begun in the same second
        # is not adopted: the stored job's step is then taken again, and finds what was done by its
        # natural keys. A job that went back to launching by itself (no write) is not set forward.
        ahead = int(recorded.phase_started) > int(job.phase_started)
    else:
        ahead = (recorded.decremented and not job.decremented) or recorded.relaunches > job.relaunches
    if not ahead or not trusts(group):
        return job
    return replace(
        recorded, owner=job.owner, claimed=job.claimed, bake_with=job.bake_with, failures=job.failures,
        last_error=job.last_error,
    )  # fmt: skip
