"""The pure phase machine: (job, observation, settings) -> (next job, actions). No AWS, no clock.

Each phase looks at what the tick observed and either waits, or asks for the next side effects —
always preceded by a WriteState, so the group's `asgpatch:state` tag says what is about to happen
before it happens. Every failure leads to RESTORING, which is level-triggered: it compares the group
with what the job recorded and asks only for what is still different, so it is safe to repeat.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import NamedTuple

from asgpatch import naming
from asgpatch.model import (
    ISOLATING_PROCESSES,
    Action,
    CancelCommand,
    Capacity,
    ClearState,
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
    ResumeProcesses,
    SendPatchCommand,
    SetCapacity,
    SetDefaultVersion,
    Settings,
    SuspendProcesses,
    TemplateSpec,
    TerminateInstance,
    UseTemplateVersion,
    WriteLease,
    WriteResult,
    WriteState,
)
from asgpatch.state import (
    INCOMPLETE,
    LEASE_TAG,
    STATE_TAG,
    names_run,
    other_holder,
    read_lease,
    result_value,
    was_there,
)

COMMAND_RUNNING = frozenset({"Pending", "InProgress", "Delayed"})
COMMAND_DELIVERY_TIMEOUT = 600
TEMPLATE_TIMEOUT = 600.0  # new template versions are immediate; this only bounds a stuck read
IMAGE_FAILED = frozenset({"failed", "invalid", "error", "deregistered", "disabled"})
LEAVING = frozenset({"Terminating", "Terminating:Wait", "Terminating:Proceed", "Terminated", "Detaching", "Detached"})
# EC2 states of an instance someone stopped or terminated behind Auto Scaling's back. With ReplaceUnhealthy
# suspended, Auto Scaling marks it unhealthy but keeps it in the group and launches nothing in its place.
DEAD = frozenset({"shutting-down", "terminated", "stopping", "stopped"})
RELAUNCHES = 1  # a patch instance lost after it came up is replaced this many times, then the group fails
NEEDS_INSTANCE = frozenset({Phase.WAITING_INSTANCE, Phase.PATCHING, Phase.IMAGING})


@dataclass(frozen=True)
class Decision:
    job: Job
    actions: tuple[Action, ...] = ()


def decide(job: Job, obs: Observation, settings: Settings) -> Decision:
    if job.phase is Phase.DONE:
        return Decision(job)
    if obs.group is None:
        return _group_gone(job, obs)
    leased = _lease(job, obs, obs.group, settings)
    if leased is not None:
        return leased
    if job.salvaged_from is not None:
        if obs.group.tags.get(STATE_TAG) != job.salvaged_from:
            return _finish(job, Outcome.SKIPPED, f"its unreadable {STATE_TAG} tag changed meanwhile; left as it is")
        if not job.partly_read:
            recorded = replace(job, salvaged_from=None)  # all a restore needs was read: record it readably
            return Decision(recorded, (WriteState(recorded),))
        return _restoring(job, obs, obs.group, settings)
    if job.phase is not Phase.PENDING and not _still_ours(job, obs.group):
        return _finish(job, Outcome.SKIPPED, "another run finished or changed it meanwhile; left as it is")
    if job.phase not in (Phase.PENDING, Phase.RESTORING) and obs.group.tags.get(settings.tag_key) != settings.tag_value:
        reason = f"the tag {settings.tag_key}={settings.tag_value} was removed during the run; the group was restored"
        stopped = job.at(Phase.RESTORING, obs.now, outcome=Outcome.SKIPPED, reason=reason)
        return Decision(stopped, (WriteState(stopped),))
    if job.outcome in (Outcome.FAILED, Outcome.SKIPPED) and job.phase is not Phase.RESTORING:
        # A failure is only ever recorded together with RESTORING; a tag that says otherwise (edited
        # by hand) gets no further with the patch: restoring is all that is left.
        restoring = job.at(Phase.RESTORING, obs.now)
        return Decision(restoring, (WriteState(restoring),))
    handler = _HANDLERS[job.phase]
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
        return _finish(job, Outcome.SKIPPED, f"{verb} run {other[0]}, which holds the lease until {until}")
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


def fail(job: Job, now: float, reason: str, *cleanup: Action) -> Decision:
    """Any failure: record why, clean up what this run created, then restore the group."""
    failed = job.at(Phase.RESTORING, now, outcome=Outcome.FAILED, reason=reason)
    return Decision(failed, (WriteState(failed), *cleanup))


def failed_call(job: Job, now: float, error: str) -> Decision:
    """An API call failed after retries: fail the group (if still patching) so it is restored."""
    if job.phase in (Phase.RESTORING, Phase.DONE):
        return Decision(job)
    return fail(job, now, f"{job.phase.value}: {error}")


# --- phases ------------------------------------------------------------------------------------


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
        return _release(job, group, Outcome.SKIPPED, reason)
    if job.original is not None:
        return _prepare_again(job, obs, group)
    template = obs.templates.get(group.template.main.template_id)
    if template is None:
        return _release(job, group, Outcome.FAILED, f"launch template {group.template.main.template_id} not found")
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
    )
    launching = preparing.at(Phase.LAUNCHING, now, launch_requested=now)
    actions: list[Action] = [WriteState(preparing)]
    if preparing.we_suspended:
        actions.append(SuspendProcesses(group.name, preparing.we_suspended))
    actions += [WriteState(launching), _scale_up(group.name, original)]
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
    )
    actions: list[Action] = []
    missing = job.we_suspended - group.suspended
    if missing:
        actions.append(SuspendProcesses(group.name, missing))
    actions += [WriteState(launching), _scale_up(group.name, group.capacity)]
    return Decision(launching, tuple(actions))


def _scale_up(name: str, original: Capacity) -> SetCapacity:
    """At zero: one instance (MinSize 1, as the reference does). Running: one temporary extra."""
    if original.desired == 0:
        return SetCapacity(name, min=1, max=max(1, original.max), desired=1)
    desired = original.desired + 1
    return SetCapacity(name, max=max(original.max, desired), desired=desired)


def _launching(job: Job, obs: Observation, group: GroupView, settings: Settings) -> Decision:
    if _overdue(job.launch_requested or job.phase_started, obs.now, settings.launch_timeout):
        reason = f"no instance reached InService within {_minutes(settings.launch_timeout)}"
        return fail(job, obs.now, _with_launch_failure(reason, group))
    instance = _patch_instance(job, group, settings)
    if instance is not None:
        waiting = job.at(Phase.WAITING_INSTANCE, obs.now, instance_id=instance.instance_id)
        return Decision(waiting, (WriteState(waiting), ProtectInstance(group.name, instance.instance_id, True)))
    if job.original is not None:
        wanted = _scale_up(group.name, job.original)
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
        and (job.was_at_zero or _complete(job.preexisting) or (i.launch_time is not None and i.launch_time >= since))
    ]
    candidates.sort(key=lambda i: (i.launch_time if i.launch_time is not None else float("inf"), i.instance_id))
    return candidates[0] if candidates else None


def _complete(preexisting: frozenset[str]) -> bool:
    """Whether the earlier instances are all known ("+" marks a list that did not fit in the tag)."""
    return bool(preexisting) and INCOMPLETE not in preexisting


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
        if _overdue(job.launch_requested or job.phase_started, obs.now, settings.launch_timeout):
            reason = (
                f"instance {instance.instance_id} was not InService and running within "
                f"{_minutes(settings.launch_timeout)} (it is {instance.lifecycle}/{instance.ec2_state or 'unknown'})"
            )
            return fail(job, obs.now, _with_launch_failure(reason, group))
        return Decision(job)
    ready = job if job.ready_at is not None else replace(job, ready_at=obs.now)
    if instance.ssm_ping == "Online":
        patching = ready.at(Phase.PATCHING, obs.now)
        return Decision(patching, (WriteState(patching), _patch_command(patching, settings)))
    if _overdue(ready.ready_at or obs.now, obs.now, settings.ssm_timeout):
        ping = instance.ssm_ping or "not registered"
        reason = (
            f"the SSM agent on {instance.instance_id} was not Online within {_minutes(settings.ssm_timeout)} "
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
    if not job.was_at_zero and not _complete(job.preexisting):
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
            if offline and not _overdue(job.phase_started, obs.now, settings.ssm_timeout):
                return Decision(job)  # the agent dropped off for a moment: send once it is back
            return Decision(job, (_patch_command(job, settings),))
        job = replace(job, command_id=command.command_id)
    status = command.status if command is not None else "Pending"
    if status == "Success":
        imaging = job.at(Phase.IMAGING, obs.now)
        return Decision(imaging, (WriteState(imaging), _create_image(imaging, obs, settings)))
    if status not in COMMAND_RUNNING:
        detail = f": {command.detail}" if command is not None and command.detail else ""
        return fail(job, obs.now, f"AWS-RunPatchBaseline ended {status}{detail}")
    if _overdue(job.phase_started, obs.now, settings.patch_timeout):
        reason = f"AWS-RunPatchBaseline did not finish within {_minutes(settings.patch_timeout)}"
        return fail(job, obs.now, reason, CancelCommand(job.command_id or "", job.instance_id or ""))
    return Decision(job)


def _create_image(job: Job, obs: Observation, settings: Settings) -> CreateImage:
    name = naming.image_name(job.group, job.run_id)
    tags = {
        "Name": name,
        "asgpatch:group": job.group,
        "asgpatch:run": job.run_id,
        "asgpatch:source-ami": job.source_image or "unknown",
        "asgpatch:date": naming.date_of(obs.now),
    }
    return CreateImage(
        instance_id=job.instance_id or "",
        name=name,
        description=f"{job.group} patched by asgpatch run {job.run_id} from {job.source_image or 'unknown'}",
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
        return Decision(updating, (WriteState(updating), _new_version(updating)))
    if state in IMAGE_FAILED:
        reason = f"image {job.image_id} {state}" + (f": {image.reason}" if image is not None and image.reason else "")
        return fail(job, obs.now, reason, DeregisterImage(job.image_id or ""))
    if _overdue(job.phase_started, obs.now, settings.image_timeout):
        reason = f"image {job.image_id} was not available within {_minutes(settings.image_timeout)}"
        return fail(job, obs.now, reason, DeregisterImage(job.image_id or ""))
    return Decision(job)


def _new_version(job: Job) -> CreateTemplateVersion:
    return CreateTemplateVersion(
        template_id=job.template_id or "",
        source_version=job.source_version or 0,
        image_id=job.image_id or "",
        description=naming.version_description(job.run_id, job.source_version or 0),
    )


def _updating_template(job: Job, obs: Observation, group: GroupView, settings: Settings) -> Decision:
    template = obs.templates.get(job.template_id or "")
    if job.new_version is None:
        if template is None or template.run_version is None:
            if template is None:
                return fail(job, obs.now, f"launch template {job.template_id} no longer exists")
            return Decision(job, (_new_version(job),))
        job = replace(job, new_version=template.run_version)
    missing, uses = _override_versions(job, obs, group)
    if missing:
        if _overdue(job.phase_started, obs.now, TEMPLATE_TIMEOUT):
            return fail(
                job, obs.now, f"override template versions were not confirmed within {_minutes(TEMPLATE_TIMEOUT)}"
            )
        return Decision(job, missing)  # next tick finds them by their description and uses them
    patched = job.at(Phase.RESTORING, obs.now, outcome=Outcome.PATCHED)  # keeps a relaunch's note
    main = _use_version(group, TemplateSpec(job.template_id or "", _main_spec(group)), job.new_version or 0)
    # The group is pointed at the new version before the tag says "restoring": after a crash in
    # between, the next run is still updating, finds the version by its description and points again.
    return Decision(patched, (*main, *uses, WriteState(patched)))


def _main_spec(group: GroupView) -> str:
    return group.template.main.version if group.template else "$Default"


def _override_versions(job: Job, obs: Observation, group: GroupView) -> tuple[tuple[Action, ...], tuple[Action, ...]]:
    """Override templates of a MixedInstancesPolicy that launch the same image as the main one get a
    version with the patched image too; those on another image (another architecture, say) are left
    alone. Returns (versions still to create, actions that point the group at the created ones)."""
    if group.template is None:
        return (), ()
    create: list[Action] = []
    uses: list[Action] = []
    for spec in group.template.overrides:
        view = obs.templates.get(spec.template_id)
        if spec.template_id == job.template_id or view is None:
            continue
        source = view.resolve(spec.version)
        if view.images.get(source) != job.source_image:
            continue
        if view.run_version is None:
            description = naming.version_description(job.run_id, source)
            create.append(CreateTemplateVersion(spec.template_id, source, job.image_id or "", description))
        else:
            uses.extend(_use_version(group, spec, view.run_version))
    return tuple(create), tuple(uses)


def _use_version(group: GroupView, spec: TemplateSpec, version: int) -> tuple[Action, ...]:
    """Make the group launch from `version` of the template the way its version spec requires."""
    if spec.version == "$Latest":
        return ()
    if spec.version == "$Default":
        return (SetDefaultVersion(spec.template_id, version),)
    mixed = group.template.mixed_policy if group.template else False
    return (UseTemplateVersion(group.name, spec.template_id, version, mixed),)


def _restoring(job: Job, obs: Observation, group: GroupView, settings: Settings) -> Decision:
    actions = list(_leftovers(job, obs)) if job.outcome is not Outcome.PATCHED else []
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
                actions.append(TerminateInstance(instance.instance_id, decrement=True))
            else:
                replace_last = TerminateInstance(instance.instance_id, decrement=False)
    stand_in = _stand_in(job, group, obs.now, settings) if not present and not job.was_at_zero else StandIn()
    actions += stand_in.actions
    target, note = _restored_capacity(job, group, (present and replace_last is None) or stand_in.counted)
    if target is not None and target != group.capacity:
        actions.append(SetCapacity(group.name, min=target.min, max=target.max, desired=target.desired))
    resume = job.we_suspended & group.suspended
    if resume:
        actions.append(ResumeProcesses(group.name, resume))
    if replace_last is not None:
        actions.append(replace_last)
    if note and note.partition(":")[0] not in job.reason:  # once: the desired part changes as the group settles
        job = replace(job, reason="; ".join(part for part in (job.reason, note) if part))
        if job.salvaged_from is None:  # an unreadable tag that is kept is not overwritten for a note
            actions.insert(0, WriteState(job))
    if actions or stand_in.wait:
        return Decision(job, tuple(actions))
    done = job.at(Phase.DONE, obs.now, outcome=job.outcome or Outcome.FAILED)
    # The result first: if the run stops between the two, the state is still there and the next run
    # finishes the job (writing the same result again) instead of losing it. An unreadable tag that
    # could only be partly restored stays: every run reports the group until an operator sees to it.
    clear = ClearState(group.name, lease_only=job.salvaged_from is not None)
    return Decision(done, (WriteResult(group.name, result_value(done, obs.now)), clear))


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
        if not _overdue(job.phase_started, now, settings.launch_timeout):
            return StandIn(wait=True)
        return StandIn(counted=True)
    if not _complete(job.preexisting) or group.capacity.desired <= group.capacity.min:
        return StandIn()
    extra = [i for i in live if not was_there(i.instance_id, job.preexisting)]
    if len(extra) != 1:
        return StandIn()
    unprotect = (ProtectInstance(group.name, extra[0].instance_id, False),) if extra[0].protected else ()
    return StandIn((*unprotect, TerminateInstance(extra[0].instance_id, decrement=True)), counted=True)


def _restored_capacity(job: Job, group: GroupView, instance_present: bool) -> tuple[Capacity | None, str]:
    """(capacity to restore, note for the report). At zero: the recorded capacity. Running: the current
    desired less the patch instance, never below the recorded minimum. If someone changed the group's
    min/max during the run (they are neither the recorded ones nor asgpatch's), their limits are newer
    than the record: they are kept, and desired is brought within them."""
    original = job.original
    if original is None:
        return None, ""
    if job.was_at_zero:
        wanted = original
    else:
        desired = group.capacity.desired - (1 if instance_present else 0)
        wanted = Capacity(original.min, max(original.max, desired), max(original.min, desired))
    now = group.capacity
    scaled = _scale_up(group.name, original)
    ours = {
        (original.min, original.max),
        (scaled.min if scaled.min is not None else original.min, scaled.max),
        (wanted.min, wanted.max),
    }
    if (now.min, now.max) in ours:
        return wanted, ""
    kept = Capacity(now.min, now.max, min(max(wanted.desired, now.min), now.max))
    note = f"min/max changed to {now.min}/{now.max} during the run (recorded {original.min}/{original.max}): kept them"
    if kept.desired != wanted.desired:
        note += f", desired {kept.desired} instead of {wanted.desired}"
    return kept, note


def _leftovers(job: Job, obs: Observation) -> tuple[Action, ...]:
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


def _group_gone(job: Job, obs: Observation) -> Decision:
    reason = job.reason or "the group no longer exists"
    if job.phase is Phase.PENDING:
        return _finish(job, Outcome.FAILED, "group not found")
    done = job.at(Phase.DONE, obs.now, outcome=job.outcome or Outcome.FAILED, reason=reason)
    cleanup = _leftovers(job, obs) if done.outcome is not Outcome.PATCHED else ()
    return Decision(done, cleanup)


def _release(job: Job, group: GroupView, outcome: Outcome, reason: str) -> Decision:
    """Done before changing anything: only give back the lease this run claimed."""
    done = _finish(job, outcome, reason)
    return Decision(done.job, (ClearState(group.name, lease_only=True),) if job.claimed else ())


def _finish(job: Job, outcome: Outcome, reason: str) -> Decision:
    """Done without having touched the group (nothing to restore, no tags written)."""
    return Decision(replace(job, phase=Phase.DONE, outcome=outcome, reason=reason))


def _overdue(since: float, now: float, timeout: float) -> bool:
    return now - since > timeout


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def _with_launch_failure(reason: str, group: GroupView) -> str:
    return f"{reason} (last failed launch: {group.failed_launch})" if group.failed_launch else reason


_HANDLERS = {
    Phase.PENDING: _pending,
    Phase.PREPARING: _pending,  # a resumed PREPARING job simply prepares again (idempotent)
    Phase.LAUNCHING: _launching,
    Phase.WAITING_INSTANCE: _waiting_instance,
    Phase.PATCHING: _patching,
    Phase.IMAGING: _imaging,
    Phase.UPDATING_TEMPLATE: _updating_template,
    Phase.RESTORING: _restoring,
}
