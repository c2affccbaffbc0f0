"""A patch instance lost after it came up — someone stopped or terminated it, or it left the group:
how to tell, and launching another once before the group fails. Pure, like every phase."""

from __future__ import annotations

from asgpatch.actions import TerminateInstance, WriteState
from asgpatch.decision import LEAVING, Decision, complete, fail
from asgpatch.model import GroupView, InstanceView, Job, Phase
from asgpatch.state import INCOMPLETE

# EC2 states of an instance someone stopped or terminated behind Auto Scaling's back. With ReplaceUnhealthy
# suspended, Auto Scaling marks it unhealthy but keeps it in the group and launches nothing in its place.
DEAD = frozenset({"shutting-down", "terminated", "stopping", "stopped"})
RELAUNCHES = 1  # a patch instance lost after it came up is replaced this many times, then the group fails


def lost(instance: InstanceView | None) -> bool:
    """Gone from the group, leaving it, or stopped or terminated behind Auto Scaling's back."""
    return instance is None or instance.lifecycle in LEAVING or instance.ec2_state in DEAD


def known_before(job: Job) -> frozenset[str]:
    """The instances a new patch instance must not be mistaken for: those before the scale-up and this one."""
    known = job.preexisting | {job.instance_id or ""}
    if not job.was_at_zero and not complete(job.preexisting):
        known |= {INCOMPLETE}  # what else was there is not known: the launch-time rule still applies
    return known - {""}


def relaunch(job: Job, now: float, group: GroupView, when: str) -> Decision:
    """The patch instance was lost after it came up (someone terminated or stopped it): launch another
    once, then fail. One still listed (Auto Scaling keeps a dead instance, unhealthy, while
    ReplaceUnhealthy is suspended) is terminated first so the group launches a replacement; that is
    done before the state moves on, so a restart in between sees it leaving and relaunches the same way."""
    lost = group.instance(job.instance_id)
    listed = lost if lost is not None and lost.lifecycle not in LEAVING else None  # dead, still in the group
    what = f"the patch instance {job.instance_id} was lost {when} ({how_lost(lost)})"
    if job.relaunches >= RELAUNCHES:
        return fail(job, now, f"{what}, after {job.relaunches} relaunch(es)")
    actions = (TerminateInstance(listed.instance_id, decrement=False),) if listed is not None else ()
    relaunched = job.at(
        Phase.LAUNCHING,
        now,
        launch_requested=now,
        instance_id=None,
        ready_at=None,
        command_id=None,
        preexisting=known_before(job),
        relaunches=job.relaunches + 1,
        reason=f"{what}; launched another",
    )
    return Decision(relaunched, (*actions, WriteState(relaunched)))


def how_lost(lost: InstanceView | None) -> str:
    """What the report says happened to a lost patch instance. One that left the group (detached, or
    terminated through Auto Scaling) may still run outside it: asgpatch cannot terminate it there."""
    if lost is None:
        return "no longer in the group: if detached, it still runs"
    if lost.lifecycle in LEAVING:
        return f"{lost.lifecycle} in the group"
    return str(lost.ec2_state)
