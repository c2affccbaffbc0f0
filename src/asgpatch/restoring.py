"""RESTORING, and a group that is gone: put back what the job recorded, level-triggered.

The restore compares the group with what the job recorded and asks only for what is still
different, so it is safe to repeat after a crash or a failed call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

from asgpatch.actions import (
    Action,
    CancelCommand,
    ClearState,
    DeregisterImage,
    ProtectInstance,
    RegisterInstances,
    ResumeProcesses,
    SetCapacity,
    TerminateInstance,
    WriteResult,
    WriteState,
    elb_target,
)
from asgpatch.decision import COMMAND_RUNNING, LEAVING, Decision, complete, finish, overdue, scale_up
from asgpatch.model import Capacity, GroupView, Job, Observation, Outcome, Phase, Settings
from asgpatch.schedule import Due, due_between
from asgpatch.schedule import apply as apply_schedule
from asgpatch.state import result_value, was_there
from asgpatch.warm_pools import Stale, stale


def restoring(job: Job, obs: Observation, group: GroupView, settings: Settings) -> Decision:
    actions = list(leftovers(job, obs)) if job.outcome is not Outcome.PATCHED else []
    job, pool, refresh = _warm_pool_refresh(job, obs, group)
    instance = group.instance(job.instance_id)
    present = instance is not None and instance.lifecycle not in LEAVING
    replace_last: Action | None = None
    if present and instance is not None:
        if instance.protected:
            actions.append(ProtectInstance(group.name, instance.instance_id, False))
        if not job.was_at_zero:
            # Out with the patch instance (it was isolated: never registered with a load balancer). Auto
            # Scaling refuses to decrement below the minimum: then it is replaced instead, after the
            # processes are resumed, so the replacement is registered with the load balancer as usual.
            if group.capacity.desired > group.capacity.min:
                if not job.decremented:  # recorded first: a scale-out meanwhile is then no stand-in
                    job = replace(job, decremented=True)
                    if job.salvaged_from is None:  # an unreadable tag that is kept is not overwritten
                        actions.append(WriteState(job))
                actions.append(TerminateInstance(instance.instance_id, decrement=True))
            else:
                replace_last = TerminateInstance(instance.instance_id, decrement=False)
    lost = not present and not job.was_at_zero and not job.decremented
    stand_in = _stand_in(job, group, obs.now, settings) if lost else StandIn()
    actions += stand_in.actions
    due = _due(job, obs)
    target, note = _restored_capacity(job, group, (present and replace_last is None) or stand_in.counted, due)
    if job.was_at_zero and present and instance is not None and target is not None and target.desired > 0:
        # Its schedule scaled the group up meanwhile: the patch instance would stay as one of the new
        # instances; it is replaced (after the processes are resumed) by one from the patched image.
        replace_last = TerminateInstance(instance.instance_id, decrement=False)
    resize = target is not None and target != group.capacity
    resume = job.we_suspended & group.suspended
    # Capacity that grows (its schedule scaled the group up meanwhile) is set after the processes are
    # resumed, so the instances it launches join the load balancer as usual (AddToLoadBalancer).
    grows = target is not None and target.desired > group.capacity.desired
    if resume and grows:
        actions.append(ResumeProcesses(group.name, resume))
    if resize and target is not None:
        actions.append(SetCapacity(group.name, min=target.min, max=target.max, desired=target.desired))
    if resume and not grows:
        actions.append(ResumeProcesses(group.name, resume))
    if replace_last is not None:
        actions.append(replace_last)
    register = _unregistered(job, group, obs, settings)
    if register is not None:
        actions.append(register)
    if note and note.partition(":")[0] not in job.reason:  # once: the desired part changes as the group settles
        job = replace(job, reason="; ".join(part for part in (job.reason, note) if part))
        if job.salvaged_from is None:  # an unreadable tag that is kept is not overwritten for a note
            actions.insert(0, WriteState(job))
    if actions or stand_in.wait:
        return Decision(job, (*refresh, *actions))  # the pool first: a scale-out takes warm instances first
    if not pool.settled:
        if not overdue(job.phase_started, obs.now, settings.launch_timeout):
            return Decision(job, refresh)
        reason = (
            f"its warm pool still holds {', '.join(pool.instance_ids + pool.unknown)}, not known to run the "
            f"patched image {job.image_id}, and a scale-out takes warm instances first: terminate them "
            "(TerminateInstanceInAutoScalingGroup) and the pool is refilled from the patched version"
        )
        failed = job.at(Phase.DONE, obs.now, outcome=Outcome.FAILED, reason=_noted(job.reason, reason))
        clear = ClearState(group.name, lease_only=job.salvaged_from is not None)
        return Decision(failed, (*refresh, WriteResult(group.name, result_value(failed, obs.now)), clear))
    done = job.at(Phase.DONE, obs.now, outcome=job.outcome or Outcome.FAILED)
    # The result first: if the run stops between the two, the state is still there and the next run
    # finishes the job (writing the same result again) instead of losing it. An unreadable tag that
    # could only be partly restored stays: every run reports the group until an operator sees to it.
    clear = ClearState(group.name, lease_only=job.salvaged_from is not None)
    return Decision(done, (WriteResult(group.name, result_value(done, obs.now)), clear))


WARM_NOTE = "warm pool: its instances from the image before the patch were replaced"


def _warm_pool_refresh(job: Job, obs: Observation, group: GroupView) -> tuple[Job, Stale, tuple[Action, ...]]:
    """A patched group's warm pool still holds instances launched with the image before the patch, and a
    scale-out takes warm instances first: the morning would start unpatched (warm_pools.py). They are
    terminated first, before the restore sets any capacity, and the group is patched only once its pool
    holds none; the launch timeout counts from the first tick that saw them, and after it the group is
    reported failed, naming them. (job, what is left in the pool, the actions: a note, the terminations.)"""
    if job.outcome is not Outcome.PATCHED or not group.warm_pool:
        return job, Stale(), ()
    pool = stale(obs.warm, job.image_id)
    if not pool.instance_ids:
        return job, pool, ()
    record: tuple[Action, ...] = ()
    if WARM_NOTE not in job.reason:  # once, and the refresh's clock starts
        job = replace(job, reason=_noted(job.reason, WARM_NOTE), phase_started=obs.now)
        record = (WriteState(job),) if job.salvaged_from is None else ()
    return job, pool, (*record, *pool.replace())


def _noted(reason: str, note: str) -> str:
    return reason if note in reason else "; ".join(part for part in (reason, note) if part)


class StandIn(NamedTuple):
    """What a restore does about the stand-in for a patch instance that went without a decrement."""

    actions: tuple[Action, ...] = ()
    counted: bool = False  # desired still counts the patch instance: the restore takes one off
    wait: bool = False  # not launched yet: the restore is not done


def _stand_in(job: Job, group: GroupView, now: float, settings: Settings) -> StandIn:
    """A running group whose patch instance went without a decrement (a failed launch, a relaunch, a
    detach) still has desired at the scaled-up value, and Auto Scaling launches a stand-in for it.
    The stand-in leaves with the decrement — only an instance known not to be a serving one (not among the complete
    list of instances before the scale-up). Until it is launched, the restore waits for it (within the
    launch timeout; then lowering desired takes no instance). Otherwise the group is left one larger."""
    if job.original is None or group.capacity.desired != job.original.desired + 1:
        return StandIn()
    live = [i for i in group.instances if i.lifecycle not in LEAVING]
    if len(live) < group.capacity.desired:
        if not overdue(job.phase_started, now, settings.launch_timeout):
            return StandIn(wait=True)
        return StandIn(counted=True)
    if not complete(job.preexisting) or group.capacity.desired <= group.capacity.min:
        return StandIn()
    extra = [i for i in live if not was_there(i.instance_id, job.preexisting)]
    if len(extra) != 1:
        return StandIn()
    unprotect = (ProtectInstance(group.name, extra[0].instance_id, False),) if extra[0].protected else ()
    return StandIn((*unprotect, TerminateInstance(extra[0].instance_id, decrement=True)), counted=True)


def _unregistered(job: Job, group: GroupView, obs: Observation, settings: Settings) -> RegisterInstances | None:
    """Once AddToLoadBalancer is running again: the instances a scale-out launched while asgpatch held
    it suspended are in service but not registered (Auto Scaling never adds them): register them with
    the group's target groups and Classic Load Balancers. Never the patch instance."""
    if "AddToLoadBalancer" not in job.we_suspended or "AddToLoadBalancer" in group.suspended:
        return None
    target_groups = tuple(arn for arn in group.target_groups if arn in obs.registered)
    balancers = tuple(name for name in group.load_balancers if elb_target(name) in obs.registered)
    targets = [*target_groups, *map(elb_target, balancers)]
    if not targets:
        return None
    since = (job.isolated_since or job.launch_requested or job.phase_started) - settings.launch_skew
    missing = tuple(
        i.instance_id
        for i in group.instances
        if i.lifecycle == "InService" and i.ec2_state == "running" and i.instance_id != job.instance_id
        and i.launch_time is not None and i.launch_time >= since
        and any(i.instance_id not in obs.registered[t] for t in targets)
    )  # fmt: skip
    return RegisterInstances(group.name, missing, target_groups, balancers) if missing else None


def _due(job: Job, obs: Observation) -> list[Due]:
    """The group's scheduled actions that came due since asgpatch suspended ScheduledActions."""
    if "ScheduledActions" not in job.we_suspended or not obs.scheduled:
        return []
    since = job.isolated_since or job.launch_requested or job.phase_started
    return due_between(obs.scheduled, since, obs.now)


def _restored_capacity(
    job: Job, group: GroupView, instance_present: bool, due: Sequence[Due] = ()
) -> tuple[Capacity | None, str]:
    """(capacity to restore, note for the report). At zero: the recorded capacity. Running: the current
    desired less the patch instance, never below the recorded minimum. Then the scheduled actions that
    came due while asgpatch held them back (schedule.py), as Auto Scaling would have applied them. If
    someone changed the group's min/max during the run (they are neither the recorded ones, nor
    asgpatch's, nor its schedule's), their limits are newer than the record: they are kept, and desired
    is brought within them."""
    original = job.original
    if original is None:
        return None, ""
    if job.was_at_zero:
        wanted = original
    else:
        desired = group.capacity.desired - (1 if instance_present else 0)
        wanted = Capacity(original.min, max(original.max, desired), max(original.min, desired))
    scheduled = ""
    if due:
        wanted = apply_schedule(wanted, due)
        scheduled = f"scheduled {', '.join(str(d) for d in due)} applied on restore: {wanted}"
    now = group.capacity
    scaled = scale_up(group.name, original)
    ours = {
        (original.min, original.max),
        (scaled.min if scaled.min is not None else original.min, scaled.max),
        (wanted.min, wanted.max),
    }
    if (now.min, now.max) in ours:
        return wanted, scheduled
    kept = Capacity(now.min, now.max, min(max(wanted.desired, now.min), now.max))
    note = f"min/max changed to {now.min}/{now.max} during the run (recorded {original.min}/{original.max}): kept them"
    if kept.desired != wanted.desired:
        note += f", desired {kept.desired} instead of {wanted.desired}"
    return kept, "; ".join(part for part in (scheduled, note) if part)


def leftovers(job: Job, obs: Observation) -> tuple[Action, ...]:
    """What this run created for a failed group that is still there and nobody uses: a command still
    running, an image no template version points at."""
    actions: list[Action] = []
    command = obs.command
    if job.instance_id and command is not None and command.status in COMMAND_RUNNING:
        actions.append(CancelCommand(command.command_id, job.instance_id))
    image_id = job.image_id or (obs.image.image_id if obs.image is not None else None)
    if image_id and job.new_version is None and obs.image is not None:
        actions.append(DeregisterImage(image_id))
    return tuple(actions)


def group_gone(job: Job, obs: Observation) -> Decision:
    reason = job.reason or "the group no longer exists"
    if job.phase is Phase.PENDING:
        return finish(job, Outcome.FAILED, "group not found")
    done = job.at(Phase.DONE, obs.now, outcome=job.outcome or Outcome.FAILED, reason=reason)
    cleanup = leftovers(job, obs) if done.outcome is not Outcome.PATCHED else ()
    return Decision(done, cleanup)
