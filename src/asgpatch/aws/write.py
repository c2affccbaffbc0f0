"""Actions into API calls, one function per action, each idempotent where AWS lets it be.

Natural keys make the creating calls safe to repeat: CreateImage answers a duplicate name with the
image that already has it; CreateTemplateVersion first looks for a version of this run that uses this
image. Removing what is already gone (an image, a terminated instance) counts as done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from asgpatch import naming, seal, state
from asgpatch.actions import (
    Action,
    CancelCommand,
    ClearState,
    CreateImage,
    CreateTemplateVersion,
    DeregisterImage,
    ProtectInstance,
    RegisterInstances,
    ResumeProcesses,
    SendPatchCommand,
    SetCapacity,
    SetDefaultVersion,
    SuspendProcesses,
    TerminateInstance,
    UseTemplateVersion,
    WriteLease,
    WriteResult,
    WriteState,
)
from asgpatch.aws import load_balancers
from asgpatch.aws.api import Api
from asgpatch.aws.commands import DOCUMENT
from asgpatch.aws.errors import TRANSIENT
from asgpatch.aws.images import images_by_name
from asgpatch.aws.permissions import Scope, grant, needs
from asgpatch.aws.write_templates import create_version, set_default, use_version
from asgpatch.cloud import CloudError

SUBJECT_LIMIT = 99  # SNS: "less than 100 characters", no line breaks

Result = str | int | None


# --- tags on the group ---------------------------------------------------------------------------


@needs(grant(Scope.OWN_TAGS_ON_THOSE_GROUPS, "autoscaling:CreateOrUpdateTags"))
def _tag(api: Api, group: str, key: str, value: str, *more: tuple[str, str]) -> None:
    """One CreateOrUpdateTags for one or more tags of one group."""
    tags = [
        {"ResourceId": group, "ResourceType": "auto-scaling-group", "Key": k, "Value": v, "PropagateAtLaunch": False}
        for k, v in ((key, value), *more)
    ]
    api.call(api.autoscaling.create_or_update_tags, Tags=tags)


def write_state(api: Api, action: WriteState) -> Result:
    """A job that cannot be recorded is a failed step like any other (the engine then fails and restores
    the group), never an exception out of the engine."""
    try:
        value = state.encode(action.job)
    except state.StateError as error:
        raise CloudError("StateNotRecordable", str(error), "CreateOrUpdateTags") from None
    reason = state.reason_value(action.job)
    key = api.state_key.get(api, create=True)
    if key is None:  # cannot happen: created when missing
        raise CloudError("NoStateKey", f"{api.state_key.parameter} could not be read", "GetParameter")
    sealed = seal.seal(key, action.job.group, value, reason)
    _tag(api, action.job.group, state.STATE_TAG, value, (state.REASON_TAG, reason), (seal.SEAL_TAG, sealed))
    return None


@needs(grant(Scope.OWN_TAGS_ON_THOSE_GROUPS, "autoscaling:DeleteTags"))
def clear_state(api: Api, action: ClearState) -> Result:
    tags = [
        {"ResourceId": action.group, "ResourceType": "auto-scaling-group", "Key": key}
        for key in (
            (state.LEASE_TAG,)
            if action.lease_only
            else (state.STATE_TAG, state.REASON_TAG, seal.SEAL_TAG, state.LEASE_TAG)
        )
    ]
    api.call(api.autoscaling.delete_tags, Tags=tags)
    return None


LEASES_PER_CALL = 50  # tags in one CreateOrUpdateTags; the heartbeat covers every group a run holds


@needs(grant(Scope.OWN_TAGS_ON_THOSE_GROUPS, "autoscaling:CreateOrUpdateTags"))
def write_lease(api: Api, action: WriteLease) -> Result:
    value = state.lease_value(action.owner, action.expires)
    tags = [
        {"ResourceId": group, "ResourceType": "auto-scaling-group", "Key": state.LEASE_TAG, "Value": value,
         "PropagateAtLaunch": False}
        for group in action.groups
    ]  # fmt: skip
    for start in range(0, len(tags), LEASES_PER_CALL):
        api.call(api.autoscaling.create_or_update_tags, Tags=tags[start : start + LEASES_PER_CALL])
    return None


def write_result(api: Api, action: WriteResult) -> Result:
    _tag(api, action.group, state.RESULT_TAG, action.value[: state.TAG_VALUE_LIMIT])
    return None


# --- the group's processes, capacity and instances -----------------------------------------------


@needs(grant(Scope.GROUPS_ASGPATCH_MAY_HOLD, "autoscaling:SuspendProcesses"))
def suspend(api: Api, action: SuspendProcesses) -> Result:
    if action.processes:
        fn = api.autoscaling.suspend_processes
        api.call(fn, AutoScalingGroupName=action.group, ScalingProcesses=sorted(action.processes))
    return None


@needs(grant(Scope.GROUPS_ASGPATCH_MAY_HOLD, "autoscaling:ResumeProcesses"))
def resume(api: Api, action: ResumeProcesses) -> Result:
    if action.processes:
        fn = api.autoscaling.resume_processes
        api.call(fn, AutoScalingGroupName=action.group, ScalingProcesses=sorted(action.processes))
    return None


@needs(grant(Scope.GROUPS_ASGPATCH_MAY_HOLD, "autoscaling:UpdateAutoScalingGroup"))
def set_capacity(api: Api, action: SetCapacity) -> Result:
    fields = {"MinSize": action.min, "MaxSize": action.max, "DesiredCapacity": action.desired}
    given = {k: v for k, v in fields.items() if v is not None}
    if given:
        api.call(api.autoscaling.update_auto_scaling_group, AutoScalingGroupName=action.group, **given)
    return None


@needs(grant(Scope.GROUPS_ASGPATCH_MAY_HOLD, "autoscaling:SetInstanceProtection"))
def protect(api: Api, action: ProtectInstance) -> Result:
    fn = api.autoscaling.set_instance_protection
    api.call(
        fn, AutoScalingGroupName=action.group, InstanceIds=[action.instance_id], ProtectedFromScaleIn=action.protected
    )
    return None


@needs(grant(Scope.GROUPS_ASGPATCH_MAY_HOLD, "autoscaling:TerminateInstanceInAutoScalingGroup"))
def terminate(api: Api, action: TerminateInstance) -> Result:
    fn = api.autoscaling.terminate_instance_in_auto_scaling_group
    try:
        api.call(fn, InstanceId=action.instance_id, ShouldDecrementDesiredCapacity=action.decrement)
    except CloudError as error:
        # "Instance Id not found": it already left the group, which is what we asked for.
        if not (error.code == "ValidationError" and "not found" in error.message.lower()):
            raise
    return None


# --- SSM -----------------------------------------------------------------------------------------


SEND_ATTEMPTS = 8


def send_patch(api: Api, action: SendPatchCommand) -> Result:
    """SendCommand has no client token, and an answer lost on the way back (a reset, a 5xx after the
    fact) would make a blind retry start a second patch run on the instance. So it is sent without
    botocore's retries, and before each retry the command is looked for by its natural key — also
    before the first try, since an earlier tick's send may have landed with its answer lost."""
    sent = sent_command(api, action)
    if sent is not None:
        return sent
    for attempt in range(SEND_ATTEMPTS - 1):
        try:
            return _send(api, action)
        except CloudError as error:
            if error.code not in TRANSIENT:
                raise
        api.caller.sleep(api.caller.delay(attempt))
        sent = sent_command(api, action)
        if sent is not None:
            return sent
    return _send(api, action)


@needs(grant(Scope.PATCH_DOCUMENT_ON_INSTANCES, "ssm:SendCommand"))
def _send(api: Api, action: SendPatchCommand) -> str:
    answer = api.call(
        api.ssm_once.send_command,
        DocumentName=DOCUMENT,
        InstanceIds=[action.instance_id],
        Parameters={"Operation": [action.operation], "RebootOption": [action.reboot_option]},
        Comment=action.comment,
        TimeoutSeconds=action.timeout_seconds,
    )
    return str(answer["Command"]["CommandId"])


@needs(grant(Scope.ANY, "ssm:ListCommands"))
def sent_command(api: Api, action: SendPatchCommand) -> str | None:
    """The newest patch command already sent to the instance with this comment (run and group)."""
    found = [
        command
        for command in api.items(api.ssm.list_commands, "Commands", InstanceId=action.instance_id)
        if command.get("Comment") == action.comment and command.get("DocumentName") == DOCUMENT
    ]
    found.sort(key=lambda command: str(command.get("RequestedDateTime") or ""))
    return str(found[-1]["CommandId"]) if found else None


@needs(grant(Scope.COMMANDS, "ssm:CancelCommand"))
def cancel(api: Api, action: CancelCommand) -> Result:
    api.call(api.ssm.cancel_command, CommandId=action.command_id, InstanceIds=[action.instance_id])
    return None


# --- images --------------------------------------------------------------------------------------


@needs(
    grant(Scope.IMAGES, "ec2:CreateImage"),
    grant(Scope.TAGS_ON_NEW_IMAGES, "ec2:CreateTags", implicit=True,
          why="the image and its snapshots are tagged as CreateImage makes them (TagSpecifications)"),
)  # fmt: skip
def create_image(api: Api, action: CreateImage) -> Result:
    params: dict[str, Any] = {
        "InstanceId": action.instance_id,
        "Name": action.name,
        "Description": action.description,
        "NoReboot": action.no_reboot,
    }
    if action.tags:
        tags = [{"Key": k, "Value": v} for k, v in action.tags.items()]
        params["TagSpecifications"] = [{"ResourceType": kind, "Tags": tags} for kind in ("image", "snapshot")]
    try:
        return str(api.call(api.ec2.create_image, **params)["ImageId"])
    except CloudError as error:
        if error.code != "InvalidAMIName.Duplicate":
            raise
        owner = (action.tags.get(naming.IMAGE_GROUP_TAG, ""), action.tags.get(naming.IMAGE_RUN_TAG, ""))
        existing = images_by_name(api, {action.name: owner}).get(action.name)
        if existing is None:  # the name is taken by an image that is not provably this one
            raise
        return existing.image_id


@needs(
    grant(Scope.OWN_IMAGES, "ec2:DeregisterImage"),
    grant(Scope.OWN_IMAGES, "ec2:DeleteSnapshot", implicit=True,
          why="a failed or unused image is deregistered with DeleteAssociatedSnapshots"),
)  # fmt: skip
def deregister_image(api: Api, action: DeregisterImage) -> Result:
    try:
        api.call(api.ec2.deregister_image, ImageId=action.image_id, DeleteAssociatedSnapshots=True)
    except CloudError as error:
        if error.code not in ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"):
            raise
    return None


# --- dispatch and SNS ----------------------------------------------------------------------------


def register_instances(api: Api, action: RegisterInstances) -> Result:
    load_balancers.register(api, action)
    return None


HANDLERS: dict[type, Callable[[Api, Any], Result]] = {
    WriteState: write_state,
    ClearState: clear_state,
    WriteLease: write_lease,
    WriteResult: write_result,
    SuspendProcesses: suspend,
    ResumeProcesses: resume,
    SetCapacity: set_capacity,
    ProtectInstance: protect,
    TerminateInstance: terminate,
    RegisterInstances: register_instances,
    SendPatchCommand: send_patch,
    CancelCommand: cancel,
    CreateImage: create_image,
    DeregisterImage: deregister_image,
    CreateTemplateVersion: create_version,
    SetDefaultVersion: set_default,
    UseTemplateVersion: use_version,
}


def act(api: Api, action: Action) -> Result:
    handler = HANDLERS.get(type(action))
    if handler is None:
        raise TypeError(f"no AWS call for {type(action).__name__}")
    return handler(api, action)


@needs(grant(Scope.TOPIC, "sns:Publish"))
def publish(api: Api, topic_arn: str, subject: str, message: str, attributes: Mapping[str, str]) -> None:
    params: dict[str, Any] = {
        "TopicArn": topic_arn,
        "Message": message,
        # SNS refuses an attribute with an empty value: such an attribute is left out.
        "MessageAttributes": {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v},
    }
    clean = " ".join(subject.split())[:SUBJECT_LIMIT]
    if clean:
        params["Subject"] = clean
    api.call(api.sns.publish, **params)
