"""Enough of IAM's policy evaluation to check docs/iam.md against the requests the engine sends.

A test oracle, not a product: Allow statements only (the documented policy has no Deny), actions and
resources with `*` and `?` wildcards, and the condition operators the policy uses (StringEquals,
StringLike, Null, ForAllValues:StringLike). Each request becomes the authorizations AWS makes for it,
implicit ones included: tags given with CreateImage (ec2:CreateTags with ec2:CreateAction), snapshots
deleted with DeregisterImage, and the launch permission Auto Scaling checks when a group is updated
to a launch template (ec2:RunInstances).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT, REGION = "123456789012", "us-east-1"
PREFIX = {"autoscaling": "autoscaling", "ec2": "ec2", "ssm": "ssm", "sns": "sns",
          "elbv2": "elasticloadbalancing", "elb": "elasticloadbalancing", "s3": "s3"}  # fmt: skip


@dataclass(frozen=True)
class Authorization:
    action: str
    resources: tuple[str, ...] = ("*",)
    context: Mapping[str, Any] = field(default_factory=dict)


def documented_policy(path: Path) -> dict[str, Any]:
    """The first JSON code block of the page."""
    block = re.search(r"```json\n(.*?)\n```", path.read_text(), re.S)
    assert block, f"no policy in {path}"
    policy: dict[str, Any] = json.loads(block.group(1))
    return policy


def _listed(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _action_matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())  # actions are case-insensitive


def _resource_matches(pattern: str, resource: str) -> bool:
    return fnmatch.fnmatchcase(resource, pattern)


def _condition_holds(operator: str, key: str, expected: str | Sequence[str], context: Mapping[str, Any]) -> bool:
    wanted = _listed(expected)
    present = key in context
    if operator == "Null":
        return (not present) if wanted[0] == "true" else present
    if operator == "ForAllValues:StringLike":
        return all(any(fnmatch.fnmatchcase(v, w) for w in wanted) for v in _listed(context.get(key, [])))
    if not present:
        return False
    values = _listed(context[key])
    if operator == "StringEquals":
        return any(v in wanted for v in values)
    if operator == "StringLike":
        return any(fnmatch.fnmatchcase(v, w) for v in values for w in wanted)
    raise ValueError(f"the oracle does not know the condition operator {operator}")


def allowed(policy: Mapping[str, Any], request: Authorization) -> bool:
    for statement in policy["Statement"]:
        if statement.get("Effect") != "Allow":
            continue
        if not any(_action_matches(a, request.action) for a in _listed(statement["Action"])):
            continue
        patterns = _listed(statement.get("Resource", "*"))
        if not all(any(_resource_matches(p, r) for p in patterns) for r in request.resources):
            continue
        conditions = statement.get("Condition", {})
        if all(_condition_holds(op, k, v, request.context) for op, keys in conditions.items() for k, v in keys.items()):
            return True
    return False


def authorizations(
    service: str, operation: str, params: Mapping[str, Any], tags: Mapping[str, str]
) -> list[Authorization]:
    """What AWS authorizes for one request on a group whose tags are `tags`."""
    action = f"{PREFIX[service]}:{operation}"
    group_context = {f"autoscaling:ResourceTag/{k}": v for k, v in tags.items()}
    if service == "autoscaling" and not operation.startswith("Describe"):
        context: dict[str, Any] = dict(group_context)
        if operation in ("CreateOrUpdateTags", "DeleteTags"):
            context["aws:TagKeys"] = [t["Key"] for t in params.get("Tags", [])]
        found = [Authorization(action, ("*",), context)]
        if operation == "UpdateAutoScalingGroup" and ("LaunchTemplate" in params or "MixedInstancesPolicy" in params):
            # the sandbox's templates (builders.template_data) name an instance profile and tag instances
            role = f"arn:aws:iam::{ACCOUNT}:role/your-instance-role"
            found += [Authorization("ec2:RunInstances"), Authorization("ec2:CreateTags"),
                      Authorization("iam:PassRole", (role,), {"iam:PassedToService": "ec2.amazonaws.com"})]  # fmt: skip
        return found
    resource_tags = {f"ec2:ResourceTag/{k}": v for k, v in (params.get("_resource_tags") or {}).items()}
    if operation == "CreateImage":
        created = {"ec2:CreateAction": "CreateImage"}
        new = (f"arn:aws:ec2:{REGION}::image/ami-new", f"arn:aws:ec2:{REGION}::snapshot/snap-new")
        instance = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{params['InstanceId']}"
        found = [Authorization(action, (instance,), resource_tags), Authorization(action, new)]
        if params.get("TagSpecifications"):
            found += [Authorization("ec2:CreateTags", (arn,), created) for arn in new]
        return found
    if operation == "DeregisterImage":
        found = [Authorization(action, (f"arn:aws:ec2:{REGION}::image/{params['ImageId']}",), resource_tags)]
        if params.get("DeleteAssociatedSnapshots"):  # its snapshots carry the image's tags (TagSpecifications)
            found.append(Authorization("ec2:DeleteSnapshot", (f"arn:aws:ec2:{REGION}::snapshot/snap-of-image",),
                                       resource_tags))  # fmt: skip
        return found
    if operation in ("CreateLaunchTemplateVersion", "ModifyLaunchTemplate"):
        return [
            Authorization(action, (f"arn:aws:ec2:{REGION}:{ACCOUNT}:launch-template/{params['LaunchTemplateId']}",))
        ]
    if operation == "SendCommand":
        document = f"arn:aws:ssm:{REGION}::document/{params['DocumentName']}"
        instances = tuple(f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{i}" for i in params.get("InstanceIds", []))
        return [Authorization(action, (document, *instances))]
    if operation in ("GetParameter", "PutParameter"):
        name = str(params["Name"])
        return [Authorization(action, (f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{name.lstrip('/')}",))]
    if service == "s3":
        found = [Authorization(action, (f"arn:aws:s3:::{params['Bucket']}/{params['Key']}",))]
        if operation == "GetObject":  # what S3 needs to answer a missing object with 404, not 403
            found.append(Authorization("s3:ListBucket", (f"arn:aws:s3:::{params['Bucket']}",)))
        return found
    if operation == "Publish":
        return [Authorization(action, (str(params["TopicArn"]),))]
    return [Authorization(action)]


def denied(policy: Mapping[str, Any], requests: Iterable[tuple[str, str, Mapping[str, Any]]],
           tags: Mapping[str, str]) -> list[str]:  # fmt: skip
    """Every authorization of these requests the policy does not allow, in words."""
    refused = []
    for service, operation, params in requests:
        for authorization in authorizations(service, operation, params, tags):
            if not allowed(policy, authorization):
                refused.append(f"{authorization.action} on {', '.join(authorization.resources)} ({operation})")
    return refused
