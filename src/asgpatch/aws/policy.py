"""The IAM policy asgpatch needs, built from what each adapter call declares (permissions.py).

One builder serves docs/iam.md (with example names) and the deployed stack's Lambda role (with
CloudFormation `${...}` references, the document then passed through Fn::Sub). Each scope becomes its
statement(s); actions come only from the declarations, so a call added to the adapter without a
declaration is missing here and fails the derivation test, and a declaration without a call fails it too.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from asgpatch.aws.permissions import DECLARED, Declared, Scope
from asgpatch.naming import IMAGE_GROUP_TAG
from asgpatch.state import STATE_TAG

# Every adapter module that makes AWS calls: imported so that their declarations are registered.
CALLING_MODULES = (
    "activities", "commands", "compliance", "groups", "images", "instances", "lifecycle", "load_balancers",
    "run_store", "scheduled", "state_key", "templates", "write", "write_templates",
)  # fmt: skip
OWN_TAG_PATTERN = "asgpatch:*"


@dataclass(frozen=True)
class Names:
    """What the policy is written for; the defaults are docs/iam.md's examples."""

    tag_key: str = "ep:asg:patch"
    tag_value: str = "true"
    account: str = "123456789012"
    partition: str = "aws"
    region: str = "*"
    state_key_parameter: str = "/asgpatch/state-key"
    run_bucket: str | None = "my-asgpatch-runs"  # None: runs keep no state in S3
    topic_arn: str | None = "arn:aws:sns:*:123456789012:patching"
    instance_roles: str = "your-instance-role"  # role name or pattern the templates' profiles use


def declarations() -> list[Declared]:
    for module in CALLING_MODULES:
        importlib.import_module(f"asgpatch.aws.{module}")
    return list(DECLARED)


def actions_of(scope: Scope, found: Iterable[Declared]) -> list[str]:
    seen: dict[str, None] = {}
    for declared in found:
        if declared.grant.scope is scope:
            seen.update(dict.fromkeys(declared.grant.actions))
    return sorted(seen)  # the order modules were imported in must not show


def _statement(
    sid: str, actions: list[str], resource: str | list[str], condition: dict[str, Any] | None = None
) -> dict[str, Any]:
    statement: dict[str, Any] = {"Sid": sid, "Effect": "Allow", "Action": actions if len(actions) > 1 else actions[0]}
    statement["Resource"] = resource
    if condition:
        statement["Condition"] = condition
    return statement


def statements(scope: Scope, actions: list[str], names: Names) -> list[dict[str, Any]]:
    """The statement(s) one scope becomes."""
    arn = f"arn:{names.partition}"
    patch_tag = {"StringEquals": {f"autoscaling:ResourceTag/{names.tag_key}": names.tag_value}}
    in_flight = {"Null": {f"autoscaling:ResourceTag/{STATE_TAG}": "false"}}
    own_keys = {"ForAllValues:StringLike": {"aws:TagKeys": [OWN_TAG_PATTERN]}}
    if scope is Scope.ANY:
        return [_statement("Read", actions, "*")]
    if scope is Scope.GROUPS_ASGPATCH_MAY_HOLD:
        return [_statement("ChangeOnlyTaggedGroups", actions, "*", patch_tag),
                _statement("RestoreGroupsInFlight", actions, "*", in_flight)]  # fmt: skip
    if scope is Scope.OWN_TAGS_ON_THOSE_GROUPS:
        return [_statement("OwnTagsOnGroupsInFlight", actions, "*", {**in_flight, **own_keys}),
                _statement("OwnTagsOnTaggedGroups", actions, "*", {**patch_tag, **own_keys})]  # fmt: skip
    if scope is Scope.LOAD_BALANCERS:
        return [_statement("RegisterWhatAScaleOutLaunchedMeanwhile", actions, "*")]
    if scope is Scope.PATCH_DOCUMENT_ON_INSTANCES:
        resources = [f"{arn}:ssm:{names.region}::document/AWS-RunPatchBaseline",
                     f"{arn}:ec2:{names.region}:{names.account}:instance/*"]  # fmt: skip
        return [_statement("PatchOnlyWithThePatchBaseline", actions, resources)]
    if scope is Scope.COMMANDS:
        return [_statement("CancelOwnCommands", actions, "*")]
    if scope is Scope.STATE_KEY_PARAMETER:
        parameter = names.state_key_parameter.lstrip("/")
        return [_statement("SealStateTags", actions, f"{arn}:ssm:{names.region}:{names.account}:parameter/{parameter}")]
    if scope is Scope.RUN_STATE_OBJECTS:
        return [_statement("RunStateInS3", actions, f"{arn}:s3:::{names.run_bucket}/*")] if names.run_bucket else []
    if scope is Scope.RUN_STATE_BUCKET:
        return [_statement("RunStateInS3TellsMissingFromDenied", actions, f"{arn}:s3:::{names.run_bucket}")
                ] if names.run_bucket else []  # fmt: skip
    if scope is Scope.IMAGES:
        new = [f"{arn}:ec2:{names.region}::image/*", f"{arn}:ec2:{names.region}::snapshot/*"]
        group_instance = {"Null": {"ec2:ResourceTag/aws:autoscaling:groupName": "false"}}
        return [_statement("BakeImagesOfGroupInstances", actions,
                           f"{arn}:ec2:{names.region}:{names.account}:instance/*", group_instance),
                _statement("BakeImages", actions, new)]  # fmt: skip
    if scope is Scope.OWN_IMAGES:
        own = {"Null": {f"ec2:ResourceTag/{IMAGE_GROUP_TAG}": "false"}}
        resources = [f"{arn}:ec2:{names.region}::image/*", f"{arn}:ec2:{names.region}::snapshot/*"]
        return [_statement("RemoveOnlyOwnImages", actions, resources, own)]
    if scope is Scope.TAGS_ON_NEW_IMAGES:
        resources = [f"{arn}:ec2:{names.region}::image/*", f"{arn}:ec2:{names.region}::snapshot/*"]
        return [
            _statement(
                "TagImagesWhenCreated", actions, resources, {"StringEquals": {"ec2:CreateAction": "CreateImage"}}
            )
        ]
    if scope is Scope.LAUNCH_TEMPLATES:
        return [
            _statement("NewTemplateVersions", actions, f"{arn}:ec2:{names.region}:{names.account}:launch-template/*")
        ]
    if scope is Scope.LAUNCH_FROM_TEMPLATES:
        return [_statement("LaunchFromTheTemplate", actions, "*")]
    if scope is Scope.INSTANCE_ROLES:
        role = f"{arn}:iam::{names.account}:role/{names.instance_roles}"
        return [_statement("PassTheInstanceRole", actions, role,
                           {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})]  # fmt: skip
    if scope is Scope.TOPIC:
        return [_statement("Notify", actions, names.topic_arn)] if names.topic_arn else []
    raise AssertionError(f"no statement for {scope}")


# The order statements appear in, read top to bottom: reads, the groups, patching, images, templates.
ORDER = (
    Scope.ANY, Scope.LOAD_BALANCERS, Scope.GROUPS_ASGPATCH_MAY_HOLD, Scope.OWN_TAGS_ON_THOSE_GROUPS,
    Scope.PATCH_DOCUMENT_ON_INSTANCES, Scope.STATE_KEY_PARAMETER, Scope.RUN_STATE_OBJECTS, Scope.RUN_STATE_BUCKET,
    Scope.COMMANDS, Scope.IMAGES, Scope.OWN_IMAGES, Scope.TAGS_ON_NEW_IMAGES, Scope.LAUNCH_TEMPLATES,
    Scope.LAUNCH_FROM_TEMPLATES, Scope.INSTANCE_ROLES, Scope.TOPIC,
)  # fmt: skip


def policy(names: Names = Names()) -> dict[str, Any]:
    """The whole policy document for these names."""
    found = declarations()
    built: list[dict[str, Any]] = []
    for scope in ORDER:
        actions = actions_of(scope, found)
        if actions:
            built += statements(scope, actions, names)
    return {"Version": "2012-10-17", "Statement": built}


def reasons() -> list[tuple[str, str]]:
    """(actions, why) for every declaration that says why it is needed, for the docs."""
    return [(", ".join(d.grant.actions), d.grant.why) for d in declarations() if d.grant.why]


def documented() -> str:
    """The policy as docs/iam.md shows it (`python -m asgpatch.aws.policy` prints it to paste there)."""
    import json

    return json.dumps(policy(), indent=2)


if __name__ == "__main__":
    print(documented())
