"""The pure phase machine: (job, observation, settings) -> (next job, actions). No AWS, no clock.

Each phase looks at what the tick observed and either waits, or asks for the next side effects —
always preceded by a WriteState, so the group's `asgpatch:state` tag says what is about to happen
before it happens. Every failure leads to RESTORING, which is level-triggered: it compares the group
with what the job recorded and asks only for what is still different, so it is safe to repeat.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from asgpatch import naming
from asgpatch.decision import (
    COMMAND_RUNNING,
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
from asgpatch.model import (
    ISOLATING_PROCESSES,
    Action,
    CancelCommand,
    CreateImage,
    CreateTemplateVersion,
    DeregisterImage,
    GroupView,
    InstanceView,
    Job,
    Observation,
    Outcome,
    Phase,
    ProtectInstance,
    SendPatchCommand,
    Settings,
    SuspendProcesses,
    TerminateInstance,
    WriteLease,
    WriteState,
)
from asgpatch.pointing import new_version, sharing, updating_template
from asgpatch.restoring import group_gone, restoring
from asgpatch.state import (
    INCOMPLETE,
    LEASE_TAG,
    STATE_TAG,
    TAG_VALUE_LIMIT,
    names_run,
    other_holder,
    read_lease,
    was_there,
)

COMMAND_DELIVERY_TIMEOUT = 600
IMAGE_FAILED = frozenset({"failed", "invalid", "error", "deregistered", "disabled"})
# EC2 states of an instance someone stopped or terminated behind Auto Scaling's back. With ReplaceUnhealthy
# suspended, Auto Scaling marks it unhealthy but keeps it in the group and launches nothing in its place.
DEAD = frozenset({"shutting-down", "terminated", "stopping", "stopped"})
RELAUNCHES = 1  # a patch instance lost after it came up is replaced this many times, then the group fails
NEEDS_INSTANCE = frozenset({Phase.WAITING_INSTANCE, Phase.PATCHING, Phase.IMAGING})


def decide(job: Job, obs: Observation, settings: Settings) -> Decision:
    if job.phase is Phase.DONE:
        return Decision(job)
    if obs.group is None:
        return group_gone(job, obs)
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


def _kept_protected(job: Job, group: GroupView, decision: Decision) -> Decision:
    """While asgpatch still needs the patch instance it is protected from scale-in, level-triggered:
    a ProtectInstance that failed (and was looked at again) or never ran is asked for once more."""
    instance = group.instance(job.instance_id)
    moved_on = decision.job.instance_id != job.instance_id or decision.job.phase is Phase.RESTORING
    if instance is None or instance.protected or _lost(instance) or moved_on:
        return decision
    return Decision(decision.job, (ProtectInstance(group.name, instance.instance_id, True), *decision.actions))


def _still_ours(job: Job, group: GroupView) -> bool:
    """A job past PENDING always has its state on the group (written before its first side effect,
    removed only when it is done): a missing or foreign state means another run has moved on."""
    return names_run(group.tags.get(STATE_TAG), job.run_id)


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
    actions += [WriteState(launching), scale_up(group.name, original)]
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
        reason = f"no instance reached InService within {minutes(settings.launch_timeout)}"
        return fail(job, obs.now, _with_launch_failure(reason, group))
    instance = _patch_instance(job, group, settings)
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
    if _lost(instance):
        if job.ready_at is None and job.instance_id is not None:
            # It never came up (a failed launch): Auto Scaling launches another; wait for that one.
            relaunch = job.at(Phase.LAUNCHING, obs.now, instance_id=None, preexisting=_known_before(job))
            return Decision(replace(relaunch, phase_started=job.phase_started))
        return _relaunch(job, obs.now, group, "before it was patched")
    assert instance is not None
    if instance.lifecycle != "InService" or instance.ec2_state != "running":
        if overdue(job.launch_requested or job.phase_started, obs.now, settings.launch_timeout):
            reason = (
                f"instance {instance.instance_id} was not InService and running within "
                f"{minutes(settings.launch_timeout)} (it is {instance.lifecycle}/{instance.ec2_state or 'unknown'})"
            )
            return fail(job, obs.now, _with_launch_failure(reason, group))
        return Decision(job)
    ready = job if job.ready_at is not None else replace(job, ready_at=obs.now)
    if instance.ssm_ping == "Online":
        patching = ready.at(Phase.PATCHING, obs.now)
        return Decision(patching, (WriteState(patching), _patch_command(patching, settings)))
    if overdue(ready.ready_at or obs.now, obs.now, settings.ssm_timeout):
        ping = instance.ssm_ping or "not registered"
        reason = (
            f"the SSM agent on {instance.instance_id} was not Online within {minutes(settings.ssm_timeout)} "
            f"({ping}; does the launch template give it an instance profile with SSM permissions?)"
        )
        return fail(ready, obs.now, reason)
    return Decision(ready)


def _lost(instance: InstanceView | None) -> bool:
    """Gone from the group, leaving it, or stopped or terminated behind Auto Scaling's back."""
    return instance is None or instance.lifecycle in LEAVING or instance.ec2_state in DEAD


def _known_before(job: Job) -> frozenset[str]:
    """The instances a new patch instance must not be mistaken for: those before the scale-up and this one."""
    known = job.preexisting | {job.instance_id or ""}
    if not job.was_at_zero and not complete(job.preexisting):
        known |= {INCOMPLETE}  # what else was there is not known: the launch-time rule still applies
    return known - {""}


def _relaunch(job: Job, now: float, group: GroupView, when: str) -> Decision:
    """The patch instance was lost after it came up (someone terminated or stopped it): launch another
    once, then fail. One still listed (Auto Scaling keeps a dead instance, unhealthy, while
    ReplaceUnhealthy is suspended) is terminated first so the group launches a replacement; that is
    done before the state moves on, so a restart in between sees it leaving and relaunches the same way."""
    lost = group.instance(job.instance_id)
    listed = lost if lost is not None and lost.lifecycle not in LEAVING else None  # dead, still in the group
    what = f"the patch instance {job.instance_id} was lost {when} ({_how_lost(lost)})"
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
        preexisting=_known_before(job),
        relaunches=job.relaunches + 1,
        reason=f"{what}; launched another",
    )
    return Decision(relaunched, (*actions, WriteState(relaunched)))


def _how_lost(lost: InstanceView | None) -> str:
    """What the report says happened to a lost patch instance. One that left the group (detached, or
    terminated through Auto Scaling) may still run outside it: asgpatch cannot terminate it there."""
    if lost is None:
        return "no longer in the group: if detached, it still runs"
    if lost.lifecycle in LEAVING:
        return f"{lost.lifecycle} in the group"
    return str(lost.ec2_state)


def _patch_command(job: Job, settings: Settings) -> SendPatchCommand:
    return SendPatchCommand(
        instance_id=job.instance_id or "",
        operation=settings.operation,
        reboot_option=settings.reboot_option,
        comment=naming.command_comment(job.run_id, job.group),
        timeout_seconds=COMMAND_DELIVERY_TIMEOUT,
    )


def _patching(job: Job, obs: Observation, group: GroupView, settings: Settings) -> Decision:
    if _lost(group.instance(job.instance_id)):
        return _relaunch(job, obs.now, group, "while patching")
    command = obs.command
    if job.command_id is None:
        if command is None:  # resumed before the command was sent, or sending failed
            instance = group.instance(job.instance_id)
            offline = instance is not None and instance.ssm_ping != "Online"
            if offline and not overdue(job.phase_started, obs.now, settings.ssm_timeout):
                return Decision(job)  # the agent dropped off for a moment: send once it is back
            return Decision(job, (_patch_command(job, settings),))
        job = replace(job, command_id=command.command_id)
    status = command.status if command is not None else "Pending"
    if status == "Success":
        return _after_install(job, obs, settings)
    if status not in COMMAND_RUNNING:
        detail = f": {command.detail}" if command is not None and command.detail else ""
        return fail(job, obs.now, f"AWS-RunPatchBaseline ended {status}{detail}")
    if overdue(job.phase_started, obs.now, settings.patch_timeout):
        reason = f"AWS-RunPatchBaseline did not finish within {minutes(settings.patch_timeout)}"
        return fail(job, obs.now, reason, CancelCommand(job.command_id or "", job.instance_id or ""))
    return Decision(job)


def _after_install(job: Job, obs: Observation, settings: Settings) -> Decision:
    """The command succeeding is not enough: Patch Manager's compliance for the patch instance must say
    the Install left nothing missing or failed (the counts go into the report). Compliance from before
    this patch phase does not count; none yet: wait for it within the patch timeout."""
    compliance = obs.compliance
    if compliance is None or (compliance.ended is not None and compliance.ended < job.phase_started):
        if overdue(job.phase_started, obs.now, settings.patch_timeout):
            return fail(job, obs.now, f"no patch compliance was reported for {job.instance_id} after the Install")
        return Decision(job)
    counts = compliance.counts
    note = ""
    if counts.missing or counts.failed:
        if settings.compliance != "report":
            reason = (
                f"after the Install {job.instance_id} still has {counts.missing} missing and {counts.failed} failed "
                "patches: no image was baked (--compliance report bakes it anyway)"
            )
            return fail(replace(job, patches=counts), obs.now, reason)
        note = f"baked with {counts.missing} missing and {counts.failed} failed patches (--compliance report)"
    reason = "; ".join(part for part in (job.reason, note) if part)
    imaging = job.at(Phase.IMAGING, obs.now, patches=counts, reason=reason)
    return Decision(imaging, (WriteState(imaging), _create_image(imaging, obs, settings)))


def _create_image(job: Job, obs: Observation, settings: Settings) -> CreateImage:
    name = naming.image_name(job.group, job.run_id)
    tags = {
        "Name": name,
        naming.IMAGE_GROUP_TAG: job.group,
        naming.IMAGE_RUN_TAG: job.run_id,
        "asgpatch:source-ami": job.source_image or "unknown",
        "asgpatch:date": naming.date_of(obs.now),
    }
    tags = {key: value[:TAG_VALUE_LIMIT] for key, value in tags.items()}  # an alias can be long
    return CreateImage(
        instance_id=job.instance_id or "",
        name=name,
        description=naming.image_description(job.group, job.run_id, job.source_image or "unknown"),
        no_reboot=settings.no_reboot,
        tags=tags,
    )


def _imaging(job: Job, obs: Observation, group: GroupView, settings: Settings) -> Decision:
    image = obs.image
    if job.image_id is None:
        if image is None:
            if _lost(group.instance(job.instance_id)):
                return _relaunch(job, obs.now, group, "before its image was taken")
            return Decision(job, (_create_image(job, obs, settings),))  # resumed before CreateImage answered
        job = replace(job, image_id=image.image_id)
    state = image.state if image is not None else "pending"
    if state == "available":
        updating = job.at(Phase.UPDATING_TEMPLATE, obs.now)
        return Decision(updating, (WriteState(updating), new_version(updating)))
    if state in IMAGE_FAILED:
        reason = f"image {job.image_id} {state}" + (f": {image.reason}" if image is not None and image.reason else "")
        return fail(job, obs.now, reason, DeregisterImage(job.image_id or ""))
    if overdue(job.phase_started, obs.now, settings.image_timeout):
        reason = f"image {job.image_id} was not available within {minutes(settings.image_timeout)}"
        return fail(job, obs.now, reason, DeregisterImage(job.image_id or ""))
    return Decision(job)


def _with_launch_failure(reason: str, group: GroupView) -> str:
    return f"{reason} (last failed launch: {group.failed_launch})" if group.failed_launch else reason


_HANDLERS = {
    Phase.PENDING: _pending,
    Phase.PREPARING: _pending,  # a resumed PREPARING job simply prepares again (idempotent)
    Phase.LAUNCHING: _launching,
    Phase.WAITING_INSTANCE: _waiting_instance,
    Phase.PATCHING: _patching,
    Phase.IMAGING: _imaging,
    Phase.UPDATING_TEMPLATE: updating_template,
    Phase.RESTORING: restoring,
}
