"""A believable demo account, created through the public API exactly as a user's client would.

Scheduled groups at zero carrying the patch tag (with scale-up / scale-down scheduled actions and
pinned, $Latest and $Default template versions), one running group, one with a
MixedInstancesPolicy, one untagged group and one that opted out — the cases asgpatch must handle.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

PATCH_TAG_KEY = "ep:asg:patch"
PROFILE = "demo-app-instance-profile"

USER_DATA = """#!/bin/bash
# demo bootstrap: join the fleet, start the app
dnf install -y amazon-cloudwatch-agent
systemctl enable --now demo-app
"""


@dataclass(frozen=True)
class DemoGroup:
    name: str
    template: str
    version: str | None
    min_size: int
    max_size: int
    desired: int
    patch_tag: str | None
    schedule: tuple[str, str] | None = None  # (scale-up cron, scale-down cron), UTC
    mixed: bool = False


DEMO_GROUPS = (
    DemoGroup("web-frontend-nightly", "web-frontend", "1", 0, 4, 0, "true", ("0 7 * * MON-FRI", "0 19 * * MON-FRI")),
    DemoGroup("batch-reports", "batch-reports", "$Latest", 0, 2, 0, "true", ("0 1 * * *", "0 3 * * *")),
    DemoGroup("api-internal", "api-internal", "$Default", 1, 3, 1, "true"),
    DemoGroup("workers-mixed", "workers", None, 0, 6, 0, "true", ("30 6 * * MON-FRI", "30 20 * * MON-FRI"), True),
    DemoGroup("legacy-untagged", "legacy", "1", 0, 2, 0, None, ("0 8 * * *", "0 18 * * *")),
    DemoGroup("analytics-opted-out", "analytics", "1", 0, 2, 0, "false"),
)


def _ensure_profile(iam: Any) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    iam.create_role(RoleName=PROFILE, AssumeRolePolicyDocument=json.dumps(trust))
    ssm_core = {  # the core of AmazonSSMManagedInstanceCore, inline (moto loads no AWS managed policies)
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ssm:UpdateInstanceInformation", "ssmmessages:*", "ec2messages:*"],
                "Resource": "*",
            }
        ],
    }
    iam.put_role_policy(RoleName=PROFILE, PolicyName="ssm-managed-instance-core", PolicyDocument=json.dumps(ssm_core))
    iam.create_instance_profile(InstanceProfileName=PROFILE)
    iam.add_role_to_instance_profile(InstanceProfileName=PROFILE, RoleName=PROFILE)


def _base_image(ec2: Any) -> str:
    answer = ec2.register_image(
        Name="al2023-ami-2026.10.20-kernel-6.1-x86_64",
        Description="Amazon Linux 2023 (demo base image)",
        RootDeviceName="/dev/xvda",
        Architecture="x86_64",
        VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}],
    )
    return str(answer["ImageId"])


def _template(ec2: Any, name: str, image_id: str, security_group: str) -> str:
    data = {
        "ImageId": image_id,
        "InstanceType": "t3.small",
        "IamInstanceProfile": {"Name": PROFILE},
        "UserData": base64.b64encode(USER_DATA.encode()).decode(),
        "SecurityGroupIds": [security_group],
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 30, "VolumeType": "gp3", "Encrypted": True}}
        ],
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": [{"Key": "app", "Value": name}, {"Key": "env", "Value": "prod"}]}
        ],
    }
    answer = ec2.create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData=data, VersionDescription="initial (demo seed)"
    )
    return str(answer["LaunchTemplate"]["LaunchTemplateId"])


def _group(autoscaling: Any, spec: DemoGroup, template_id: str) -> None:
    tags = [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "platform"}]
    if spec.patch_tag is not None:
        tags.append({"Key": PATCH_TAG_KEY, "Value": spec.patch_tag})
    kwargs: dict[str, Any] = {
        "AutoScalingGroupName": spec.name,
        "MinSize": spec.min_size,
        "MaxSize": spec.max_size,
        "DesiredCapacity": spec.desired,
        "AvailabilityZones": ["us-east-1a", "us-east-1b"],
        "Tags": [
            {**t, "PropagateAtLaunch": True, "ResourceId": spec.name, "ResourceType": "auto-scaling-group"}
            for t in tags
        ],
    }
    if spec.mixed:
        kwargs["MixedInstancesPolicy"] = {
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": template_id, "Version": "$Default"},
                "Overrides": [{"InstanceType": "m6i.large"}, {"InstanceType": "m5.large"}],
            },
            "InstancesDistribution": {"OnDemandBaseCapacity": 1, "OnDemandPercentageAboveBaseCapacity": 25},
        }
    else:
        spec_ref = {"LaunchTemplateId": template_id}
        if spec.version:
            spec_ref["Version"] = spec.version
        kwargs["LaunchTemplate"] = spec_ref
    autoscaling.create_auto_scaling_group(**kwargs)
    if spec.schedule:
        up, down = spec.schedule
        autoscaling.batch_put_scheduled_update_group_action(
            AutoScalingGroupName=spec.name,
            ScheduledUpdateGroupActions=[
                {"ScheduledActionName": "scale-up", "Recurrence": up, "MinSize": 1, "DesiredCapacity": 2},
                {"ScheduledActionName": "scale-down", "Recurrence": down, "MinSize": 0, "DesiredCapacity": 0},
            ],
        )


def seed_demo(client: Callable[[str], Any]) -> list[str]:
    """Create the demo account; returns the group names."""
    ec2, autoscaling = client("ec2"), client("autoscaling")
    _ensure_profile(client("iam"))
    image_id = _base_image(ec2)
    security_group = ec2.create_security_group(GroupName="demo-app", Description="demo app instances")["GroupId"]
    templates: dict[str, str] = {}
    for spec in DEMO_GROUPS:
        if spec.template not in templates:
            templates[spec.template] = _template(ec2, spec.template, image_id, security_group)
        _group(autoscaling, spec, templates[spec.template])
    return [spec.name for spec in DEMO_GROUPS]


def clients_for(url: str) -> Callable[[str], Any]:
    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="demo",
            aws_secret_access_key="demo",
        )

    return client


def seed_in_background(url: str) -> None:
    """The `asgpatch sandbox --seed demo` hook: runs once the endpoint accepts requests."""
    names = seed_demo(clients_for(url))
    print(f"demo account seeded: {len(names)} Auto Scaling groups ({', '.join(names)})", flush=True)
