"""A run given up on: every group it holds is put back now, and no group starts any more.

The deployed form's answer to a tick that failed for good (the state machine's Catch) and to an
execution that was aborted or timed out (the stack's EventBridge rule): the run's own jobs, from its
stored state, go to the restoring phase, so the same engine, under the same run and leases, puts each
group back as a finished run would. Jobs not started yet are left to the deadline, set to now, which
decide.py already turns into "not started in time". Pure: a state in, a state out.
"""

from __future__ import annotations

from dataclasses import replace

from asgpatch.model import Job, Outcome, Phase
from asgpatch.run_state import RunState


def to_restore(job: Job, owner: str, now: float, why: str = "") -> Job:
    """The job restoring now, driven by `owner`; patched only if the new version was already in place."""
    if job.phase is Phase.RESTORING:
        return replace(job, owner=owner)
    patched = job.new_version is not None
    outcome = Outcome.PATCHED if patched else Outcome.SKIPPED
    reason = "" if patched else why or f"recovered: run {job.run_id} stopped in phase {job.phase.value}; not patched"
    return replace(job.at(Phase.RESTORING, now, outcome=outcome, reason=reason), owner=owner)


def abandon(state: RunState, now: float, why: str) -> RunState:
    """The state with every job that holds its group restoring, and the deadline now."""
    if state.done:
        return state
    jobs = tuple(
        job if job.done or job.phase is Phase.PENDING else to_restore(job, job.driver, now, f"{why}; not patched")
        for job in state.jobs
    )
    deadline = now if state.settings.deadline is None else min(now, state.settings.deadline)
    return replace(state, jobs=jobs, settings=replace(state.settings, deadline=deadline), not_reached=())
