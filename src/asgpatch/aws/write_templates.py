"""Actions on launch templates into API calls: a new version that differs from its source only in the
image, the template's default, and the group (or its MixedInstancesPolicy) pointed at a version.

Safe to repeat: a version of this run that uses this image is found before one is created, and the
request carries the same client token every time, so a retry after a lost answer gets the same version.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from typing import Any

from asgpatch.actions import CreateTemplateVersion, SetDefaultVersion, UseTemplateVersion
from asgpatch.aws.api import Api
from asgpatch.aws.groups import describe_named
from asgpatch.aws.permissions import Scope, grant, needs
from asgpatch.cloud import CloudError

Result = str | int | None


def run_key(description: str) -> str:
    """The part of a version description that names the run ("asgpatch <run>" before the colon)."""
    return description.partition(":")[0]


def existing_version(api: Api, action: CreateTemplateVersion) -> int | None:
    """A version of this template that uses this image and names this run, if one exists."""
    fn = api.ec2.describe_launch_template_versions
    wanted = [{"Name": "image-id", "Values": [action.image_id]}]
    key = run_key(action.description)
    found = None
    for raw in api.items(
        fn, "LaunchTemplateVersions", LaunchTemplateId=action.template_id, Filters=wanted, MaxResults=200
    ):
        image = (raw.get("LaunchTemplateData") or {}).get("ImageId")
        if image == action.image_id and key in str(raw.get("VersionDescription") or ""):
            found = max(found or 0, int(raw["VersionNumber"]))
    return found


def client_token(action: CreateTemplateVersion) -> str:
    """The same request always carries the same token (AWS allows 128 ASCII characters)."""
    key = f"{action.template_id}|{action.source_version}|{action.image_id}|{action.description}"
    return "asgpatch-" + hashlib.sha256(key.encode()).hexdigest()[:48]


@needs(grant(Scope.LAUNCH_TEMPLATES, "ec2:CreateLaunchTemplateVersion"))
def create_version(api: Api, action: CreateTemplateVersion) -> Result:
    existing = existing_version(api, action)
    if existing is not None:
        return existing
    answer = api.call(
        api.ec2.create_launch_template_version,
        LaunchTemplateId=action.template_id,
        SourceVersion=str(action.source_version),
        VersionDescription=action.description,
        LaunchTemplateData={"ImageId": action.image_id},
        # botocore would fill a token per call (its own retries reuse it); ours is the same for every
        # call of this request, so an engine-level retry after a lost answer gets the same version back.
        ClientToken=client_token(action),
    )
    return int(answer["LaunchTemplateVersion"]["VersionNumber"])


@needs(grant(Scope.LAUNCH_TEMPLATES, "ec2:ModifyLaunchTemplate",
                 why="groups on $Default get the new version as the template's default"))  # fmt: skip
def set_default(api: Api, action: SetDefaultVersion) -> Result:
    api.call(api.ec2.modify_launch_template, LaunchTemplateId=action.template_id, DefaultVersion=str(action.version))
    return None


def _specs(policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    template = policy.get("LaunchTemplate") or {}
    specs = [template.get("LaunchTemplateSpecification")]
    specs += [o.get("LaunchTemplateSpecification") for o in template.get("Overrides") or []]
    return [spec for spec in specs if spec]


def _template_name(api: Api, template_id: str, policy: Mapping[str, Any]) -> str | None:
    """The template's name, needed only when some specification names a template by name alone:
    from the policy when a specification carries both, else one DescribeLaunchTemplates."""
    specs = _specs(policy)
    if not any(s.get("LaunchTemplateName") and not s.get("LaunchTemplateId") for s in specs):
        return None
    for spec in specs:
        if spec.get("LaunchTemplateId") == template_id and spec.get("LaunchTemplateName"):
            return str(spec["LaunchTemplateName"])
    answer = api.call(api.ec2.describe_launch_templates, LaunchTemplateIds=[template_id])
    return str(answer["LaunchTemplates"][0]["LaunchTemplateName"])


def repoint(
    policy: Mapping[str, Any], template_id: str, name: str | None, version: str, current: str = ""
) -> dict[str, Any]:
    """The policy with every specification of `template_id` (by id, or by `name`) that names version
    `current` (any version when empty) at `version`; the others, such as an override on another
    lineage of the same template, keep theirs. Each specification names the template by id or by
    name, never both, as AWS requires."""
    updated = copy.deepcopy(dict(policy))
    for spec in _specs(updated):
        same_template = spec.get("LaunchTemplateId") == template_id or (
            name and not spec.get("LaunchTemplateId") and spec.get("LaunchTemplateName") == name
        )
        if same_template and (not current or str(spec.get("Version") or "$Default") == current):
            spec["Version"] = version
        if spec.get("LaunchTemplateId"):
            spec.pop("LaunchTemplateName", None)
    return {k: v for k, v in updated.items() if k in ("LaunchTemplate", "InstancesDistribution")}


@needs(
    grant(Scope.GROUPS_ASGPATCH_MAY_HOLD, "autoscaling:UpdateAutoScalingGroup"),
    grant(Scope.LAUNCH_FROM_TEMPLATES, "ec2:RunInstances", "ec2:CreateTags", implicit=True,
          why="Auto Scaling checks that whoever points a group at a launch template version may launch from it"),
    grant(Scope.INSTANCE_ROLES, "iam:PassRole", implicit=True,
          why="and may pass the instance role the template names"),
)  # fmt: skip
def use_version(api: Api, action: UseTemplateVersion) -> Result:
    fn = api.autoscaling.update_auto_scaling_group
    version = str(action.version)
    if not action.mixed_policy:
        api.call(
            fn,
            AutoScalingGroupName=action.group,
            LaunchTemplate={"LaunchTemplateId": action.template_id, "Version": version},
        )
        return None
    raw = describe_named(api, [action.group]).get(action.group)
    if raw is None or not raw.get("MixedInstancesPolicy"):
        raise CloudError(
            "ValidationError", f"group {action.group} has no MixedInstancesPolicy", "UpdateAutoScalingGroup"
        )
    policy = raw["MixedInstancesPolicy"]
    name = _template_name(api, action.template_id, policy)
    updated = repoint(policy, action.template_id, name, version, action.current)
    api.call(fn, AutoScalingGroupName=action.group, MixedInstancesPolicy=updated)
    return None
