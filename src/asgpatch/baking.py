"""PATCHING and IMAGING: AWS-RunPatchBaseline on the patch instance, its compliance checked, then the
image baked from it. Pure, like every phase."""

from __future__ import annotations

from dataclasses import replace

from asgpatch import naming
from asgpatch.actions import CancelCommand, CreateImage, DeregisterImage, SendPatchCommand, WriteState
from asgpatch.decision import COMMAND_RUNNING, Decision, fail, minutes, overdue
from asgpatch.model import GroupView, Job, Observation, Phase, Settings
from asgpatch.pointing import new_version
from asgpatch.relaunching import lost, relaunch
from asgpatch.state import TAG_VALUE_LIMIT

COMMAND_DELIVERY_TIMEOUT = 600
IMAGE_FAILED = frozenset({"failed", "invalid", "error", "deregistered", "disabled"})


def patch_command(job: Job, settings: Settings) -> SendPatchCommand:
    return SendPatchCommand(
        instance_id=job.instance_id or "",
        operation=settings.operation,
        reboot_option=settings.reboot_option,
        comment=naming.command_comment(job.run_id, job.group),
        timeout_seconds=COMMAND_DELIVERY_TIMEOUT,
    )


def patching(job: Job, obs: Observation, group: GroupView, settings: Settings) -> Decision:
    if lost(group.instance(job.instance_id)):
        return relaunch(job, obs.now, group, "while patching")
    command = obs.command
    if job.command_id is None:
        if command is None:  # resumed before the command was sent, or sending failed
            instance = group.instance(job.instance_id)
            offline = instance is not None and instance.ssm_ping != "Online"
            if offline and not overdue(job.phase_started, obs.now, settings.ssm_timeout):
                return Decision(job)  # the agent dropped off for a moment: send once it is back
            return Decision(job, (patch_command(job, settings),))
        job = replace(job, command_id=command.command_id)
    status = command.status if command is not None else "Pending"
    if status == "Success":
        return after_install(job, obs, settings)
    if status not in COMMAND_RUNNING:
        detail = f": {command.detail}" if command is not None and command.detail else ""
        return fail(job, obs.now, f"AWS-RunPatchBaseline ended {status}{detail}")
    if overdue(job.phase_started, obs.now, settings.patch_timeout):
        reason = f"AWS-RunPatchBaseline did not finish within {minutes(settings.patch_timeout)}"
        return fail(job, obs.now, reason, CancelCommand(job.command_id or "", job.instance_id or ""))
    return Decision(job)


def after_install(job: Job, obs: Observation, settings: Settings) -> Decision:
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
    return Decision(imaging, (WriteState(imaging), create_image(imaging, obs, settings)))


def create_image(job: Job, obs: Observation, settings: Settings) -> CreateImage:
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


def imaging(job: Job, obs: Observation, group: GroupView, settings: Settings) -> Decision:
    image = obs.image
    if job.image_id is None:
        if image is None:
            if lost(group.instance(job.instance_id)):
                return relaunch(job, obs.now, group, "before its image was taken")
            return Decision(job, (create_image(job, obs, settings),))  # resumed before CreateImage answered
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
