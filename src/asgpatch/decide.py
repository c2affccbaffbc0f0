"""The pure phase machine: (job, observation, settings) -> (next job, actions). No AWS, no clock.

Each phase looks at what the tick observed and either waits, or asks for the next side effects —
always preceded by a WriteState, so the group's `asgpatch:state` tag says what is about to happen
before it happens. Every failure leads to RESTORING, which is level-triggered: it compares the group
with what the job recorded and asks only for what is still different, so it is safe to repeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from asgpatch.actions import (
    Action,
    ClearState,
    CreateImage,
    CreateTemplateVersion,
    ProtectInstance,
    SendPatchCommand,
    SuspendProcesses,
    TerminateInstance,
    WriteLease,
    WriteState,
)
from asgpatch.baking import imaging, patch_command, patching
from asgpatch.decision import (
    LEAVING,
    Decision,
    alias_note,
    complete,
    fail,
    finish,
    minutes,
    overdue,
    release,
    scale_up,
)
from asgpatch.model import ISOLATING_PROCESSES, GroupView, InstanceView, Job, Observation, Outcome, Phase, Settings
from asgpatch.pointing import sharing, updating_template
from asgpatch.relaunching import known_before, lost, relaunch
from asgpatch.restoring import group_gone, restoring
from asgpatch.state import (
    LEASE_TAG,
    RESULT_TAG,
    STATE_TAG,
    names_run,
    other_holder,
    read_lease,
    was_there,
)
from asgpatch.warm_pools import Stale, stale

NEEDS_INSTANCE = frozenset({Phase.WAITING_INSTANCE, Phase.PATCHING, Phase.IMAGING})


def decide(job: Job, obs: Observation, settings: Settings) -> Decision:
    if job.phase is Phase.DONE:
        return Decision(job)
    late = not_started_in_time(job, settings, obs.now)
    if late is not None:
        return late
    if obs.group is None:
        return group_gone(job, obs)
    if job.phase is not Phase.PENDING and job.salvaged_from is None and not _still_ours(job, obs.group):
        finished = _finished_by_this_run(job, obs.group, obs.now)
        if finished is not None:
            return finished
    leased = _lease(job, obs, obs.group, settings)
    if leased is not None:
        return leased
    if job.salvaged_from is not None:
        if obs.group.tags.get(STATE_TAG) != job.salvaged_from:
            return finish(job, Outcome.SKIPPED, f"its unreadable {STATE_TAG} tag changed meanwhile; left as it is")
        if not job.partly_read:
            recorded = replace(job, salvaged_from=None)  # all a restore needs was read: record it readably
            return Decision(recorded, (WriteState(recorded),))
        return restoring(job, obs, obs.group, settings)
    if job.phase is not Phase.PENDING and not _still_ours(job, obs.group):
        return finish(job, Outcome.SKIPPED, "another run finished or changed it meanwhile; left as it is")
    if job.phase not in (Phase.PENDING, Phase.RESTORING) and obs.group.tags.get(settings.tag_key) != settings.tag_value:
        reason = f"the tag {settings.tag_key}={settings.tag_value} was removed during the run; the group was restored"
        stopped = job.at(Phase.RESTORING, obs.now, outcome=Outcome.SKIPPED, reason=reason)
        return Decision(stopped, (WriteState(stopped),))
    if job.outcome in (Outcome.FAILED, Outcome.SKIPPED) and job.phase is not Phase.RESTORING:
        # A failure is only ever recorded together with RESTORING; a tag that says otherwise (edited
        # by hand) gets no further with the patch: restoring is all that is left.
        to_restore = job.at(Phase.RESTORING, obs.now)
        return Decision(to_restore, (WriteState(to_restore),))
    handler = sharing if job.bake_with and job.phase is Phase.PENDING else _HANDLERS[job.phase]
    decision = handler(job, obs, obs.group, settings)
    if job.phase in NEEDS_INSTANCE:
        return _kept_protected(job, obs.group, decision)
    return decision


def not_started_in_time(job: Job, settings: Settings, now: float) -> Decision | None:
    """After the deadline no group starts: a pending one ends skipped, giving back any claim (best
    effort: an expired lease is as good). Asked of every pending job, observed this tick or not."""
    if job.phase is not Phase.PENDING or job.bake_with or settings.deadline is None or now < settings.deadline:
        return None  # a follower in flight still shares its host's image
    reason = "not started: the deadline passed before its turn"
    done = replace(job, phase=Phase.DONE, outcome=Outcome.SKIPPED, reason=reason)
    return Decision(done, (ClearState(job.group, lease_only=True),) if job.claimed else (), best_effort=True)


def renewal(jobs: Sequence[Job], last: float | None, now: float, settings: Settings) -> WriteLease | None:
    """This run's leases, renewed for every group it holds once a third of the lease has gone by (the
    first tick's claims are fresh leases already)."""
    if last is None or now - last < settings.lease_seconds / 3:
        return None
    held = [job for job in jobs if job.claimed and not job.done]
    if not held:
        return None
    return WriteLease(tuple(job.group for job in held), held[0].driver, now + settings.lease_seconds)


def _kept_protected(job: Job, group: GroupView, decision: Decision) -> Decision:
    """While asgpatch still needs the patch instance it is protected from scale-in, level-triggered:
    a ProtectInstance that failed (and was looked at again) or never ran is asked for once more."""
    instance = group.instance(job.instance_id)
    moved_on = decision.job.instance_id != job.instance_id or decision.job.phase is Phase.RESTORING
    if instance is None or instance.protected or lost(instance) or moved_on:
        return decision
    return Decision(decision.job, (ProtectInstance(group.name, instance.instance_id, True), *decision.actions))


def _still_ours(job: Job, group: GroupView) -> bool:
    """A job past PENDING always has its state on the group (written before its first side effect,
    removed only when it is done): a missing or foreign state means another run has moved on."""
    return names_run(group.tags.get(STATE_TAG), job.run_id)


def _finished_by_this_run(job: Job, group: GroupView, now: float) -> Decision | None:
    """The state tag is gone and the group's asgpatch:last-result names this run: another tick of the
    same run (a concurrent invocation, or one whose save was lost) finished the job. Its result is
    this job's; nothing is left to do."""
    parts = (group.tags.get(RESULT_TAG) or "").split(" ", 4)
    if len(parts) < 4 or parts[0] != job.run_id or parts[1] not in {o.value for o in Outcome}:
        return None
    image = parts[2] if parts[2] != "-" else job.image_id
    reason = parts[4] if len(parts) > 4 else job.reason
    done = job.at(Phase.DONE, now, outcome=Outcome(parts[1]), image_id=image, reason=reason)
    holder = read_lease(group.tags.get(LEASE_TAG))
    mine = holder is not None and holder[0] == job.driver  # a claim this run wrote again meanwhile
    return Decision(done, (ClearState(group.name, lease_only=True),) if mine else ())


def _lease(job: Job, obs: Observation, group: GroupView, settings: Settings) -> Decision | None:
    """One run at a time per group. A live lease of another run: leave the group to it. Not yet
    claimed: claim and look again next tick (the last writer wins; the loser sees it and backs off)."""
    other = other_holder(group.tags.get(LEASE_TAG), job.driver, obs.now)
    if other is not None:
        until = datetime.fromtimestamp(other[1], tz=UTC).strftime("%H:%M:%SZ")
        verb = "taken over by" if job.claimed else "left to"
        return finish(job, Outcome.SKIPPED, f"{verb} run {other[0]}, which holds the lease until {until}")
    holder = read_lease(group.tags.get(LEASE_TAG))
    if not job.claimed or holder is None or holder[0] != job.driver:
        claim = WriteLease((group.name,), job.driver, obs.now + settings.lease_seconds)
        return Decision(replace(job, claimed=True), (claim,))
    return None


def absorb(job: Job, action: Action, result: str | int | None) -> Job:
    """Fold what a creating action returned into the job."""
    if result is None:
        return job
    if isinstance(action, SendPatchCommand):
        return replace(job, command_id=str(result))
    if isinstance(action, CreateImage):
        return replace(job, image_id=str(result))
    if isinstance(action, CreateTemplateVersion) and action.template_id == job.template_id:
        return replace(job, new_version=int(result))
    return job


def absorb_ids(written: Job, known: Job) -> Job:
    """A job as a WriteState recorded it, keeping ids the run learned that it did not carry yet."""
    return replace(
        written,
        command_id=written.command_id or known.command_id,
        image_id=written.image_id or known.image_id,
        new_version=written.new_version or known.new_version,
        claimed=written.claimed or known.claimed,
    )


def _pending(job: Job, obs: Observation, group: GroupView, settings: Settings) -> Decision:
    now = obs.now
    if group.template is None and job.original is not None:
        # A run stopped while preparing (processes may be suspended already): restore, not just release.
        return fail(job, now, "the group no longer launches from a launch template")
    if group.template is None:
        reason = "has no launch template"
        if group.launch_configuration:
            reason = (
                f"uses launch configuration {group.launch_configuration}; "
                "asgpatch patches groups that launch from a launch template"
            )
        return release(job, group, Outcome.SKIPPED, reason)
    if job.original is not None:
        return _prepare_again(job, obs, group)
    template = obs.templates.get(group.template.main.template_id)
    if template is None:
        return release(job, group, Outcome.FAILED, f"launch template {group.template.main.template_id} not found")
    source = template.resolve(group.template.main.version)
    original = group.capacity
    preparing = job.at(
        Phase.PREPARING,
        now,
        original=original,
        was_suspended=group.suspended,
        we_suspended=ISOLATING_PROCESSES - group.suspended,
        template_id=template.template_id,
        source_version=source,
        source_image=template.images.get(source),
        preexisting=frozenset(i.instance_id for i in group.instances),
        isolated_since=now,
        reason=alias_note(template.aliases.get(source), source),
    )
    launching = preparing.at(Phase.LAUNCHING, now, launch_requested=now)
    actions: list[Action] = [WriteState(preparing)]
    if preparing.we_suspended:
        actions.append(SuspendProcesses(group.name, preparing.we_suspended))
    # A stale warm pool would hand the scale-up an instance from an older image than the one to patch.
    pool = stale(obs.warm, preparing.source_image) if group.warm_pool else Stale()
    actions += [WriteState(launching), *pool.replace(), scale_up(group.name, original)]
    return Decision(launching, tuple(actions))


def _prepare_again(job: Job, obs: Observation, group: GroupView) -> Decision:
    """A run stopped while preparing: keep the processes the tag recorded (those suspended now
    include ours), finish suspending, and scale up. Nothing was scaled yet (the scale-up follows the
    write of LAUNCHING), so the group's capacity and instances now are its own: if someone changed
    them meanwhile, those are what it goes back to, and the scale-up starts from them."""
    launching = job.at(
        Phase.LAUNCHING,
        obs.now,
        launch_requested=obs.now,
        original=group.capacity,
        preexisting=frozenset(i.instance_id for i in group.instances),
        isolated_since=job.isolated_since or job.phase_started,
    )
    actions: list[Action] = []
    missing = job.we_suspended - group.suspended
    if missing:
        actions.append(SuspendProcesses(group.name, missing))
    actions += [WriteState(launching), scale_up(group.name, group.capacity)]
    return Decision(launching, tuple(actions))


def _launching(job: Job, obs: Observation, group: GroupView, settings: Settings) -> Decision:
    if overdue(job.launch_requested or job.phase_started, obs.now, settings.launch_timeout):
        reason = f"no instance reached InService within {minutes(settings.launch_timeout)}{_hooks_held(obs)}"
        return fail(job, obs.now, _with_launch_failure(reason, group))
    instance = _patch_instance(job, group, settings)
    if instance is not None and group.warm_pool and job.source_image and instance.image_id != job.source_image:
        if instance.image_id is None:  # not described yet: its image decides whether it can be the one
            return Decision(job)
        # The warm pool handed out an instance from another image than the one to patch: out with it
        # (Auto Scaling launches another) rather than bake an older image into the new version.
        return Decision(job, (TerminateInstance(instance.instance_id, decrement=False),))
    if instance is not None:
        waiting = job.at(Phase.WAITING_INSTANCE, obs.now, instance_id=instance.instance_id)
        return Decision(waiting, (WriteState(waiting), ProtectInstance(group.name, instance.instance_id, True)))
    if job.original is not None:
        wanted = scale_up(group.name, job.original)
        if wanted.desired is not None and group.capacity.desired < wanted.desired:
            return Decision(job, (wanted,))  # the scale-up was lost (a restart before it landed)
    return Decision(job)


def _patch_instance(job: Job, group: GroupView, settings: Settings) -> InstanceView | None:
    """The instance our scale-up launched: not there before it (or, after a restart, launched
    since it), earliest first."""
    since = (job.launch_requested or 0.0) - settings.launch_skew
    candidates = [
        i
        for i in group.instances
        if i.lifecycle not in LEAVING
        and not was_there(i.instance_id, job.preexisting)
        and (job.was_at_zero or complete(job.preexisting) or (i.launch_time is not None and i.launch_time >= since))
    ]
    candidates.sort(key=lambda i: (i.launch_time if i.launch_time is not None else float("inf"), i.instance_id))
    return candidates[0] if candidates else None


def _waiting_instance(job: Job, obs: Observation, group: GroupView, settings: Settings) -> Decision:
    instance = group.instance(job.instance_id)
    if lost(instance):
        if job.ready_at is None and job.instance_id is not None:
            # It never came up (a failed launch): Auto Scaling launches another; wait for that one.
            again = job.at(Phase.LAUNCHING, obs.now, instance_id=None, preexisting=known_before(job))
            return Decision(replace(again, phase_started=job.phase_started))
        return relaunch(job, obs.now, group, "before it was patched")
    assert instance is not None
    if instance.lifecycle != "InService" or instance.ec2_state != "running":
        if overdue(job.launch_requested or job.phase_started, obs.now, settings.launch_timeout):
            reason = (
                f"instance {instance.instance_id} was not InService and running within "
                f"{minutes(settings.launch_timeout)} (it is {instance.lifecycle}/{instance.ec2_state or 'unknown'})"
                f"{_hooks_held(obs) if instance.lifecycle == 'Pending:Wait' else ''}"
            )
            return fail(job, obs.now, _with_launch_failure(reason, group))
        return Decision(job)
    ready = job if job.ready_at is not None else replace(job, ready_at=obs.now)
    if instance.ssm_ping == "Online":
        patching = ready.at(Phase.PATCHING, obs.now)
        return Decision(patching, (WriteState(patching), patch_command(patching, settings)))
    if overdue(ready.ready_at or obs.now, obs.now, settings.ssm_timeout):
        ping = instance.ssm_ping or "not registered"
        reason = (
            f"the SSM agent on {instance.instance_id} was not Online within {minutes(settings.ssm_timeout)} "
            f"({ping}; does the launch template give it an instance profile with SSM permissions?)"
        )
        return fail(ready, obs.now, reason)
    return Decision(ready)


def _hooks_held(obs: Observation) -> str:
    """Names the launch lifecycle hooks that held the instance: their automation (whatever calls
    CompleteLifecycleAction) decides when it goes InService, not asgpatch."""
    if not obs.launch_hooks:
        return ""
    hooks = ", ".join(str(hook) for hook in obs.launch_hooks)
    return (
        f": held by launch lifecycle hook {hooks}, whose lifecycle action was not completed "
        "in time; see to what completes it, or give --launch-timeout more than the hook takes"
    )


def _with_launch_failure(reason: str, group: GroupView) -> str:
    return f"{reason} (last failed launch: {group.failed_launch})" if group.failed_launch else reason


_HANDLERS = {
    Phase.PENDING: _pending,
    Phase.PREPARING: _pending,  # a resumed PREPARING job simply prepares again (idempotent)
    Phase.LAUNCHING: _launching,
    Phase.WAITING_INSTANCE: _waiting_instance,
    Phase.PATCHING: patching,
    Phase.IMAGING: imaging,
    Phase.UPDATING_TEMPLATE: updating_template,
    Phase.RESTORING: restoring,
}
