"""Build account shapes on a sandbox (or any endpoint) through the public API, as a user's client would:
a base image, a launch template with every field an account sets, a group. Used by the tests of both
the sandbox and the engine."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

USER_DATA = base64.b64encode(b"#!/bin/bash\necho hello from the launch template\n").decode()


def base_image(ec2: Any, name: str) -> str:
    answer = ec2.register_image(
        Name=name,
        RootDeviceName="/dev/xvda",
        Architecture="x86_64",
        VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}}],
    )
    return str(answer["ImageId"])


def template_data(
    image_id: str, profile: str | None = "app-instance-profile", security_group: str = "sg-0123456789abcdef0"
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ImageId": image_id,
        "InstanceType": "t3.micro",
        "UserData": USER_DATA,
        "SecurityGroupIds": [security_group],
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 20, "VolumeType": "gp3", "Encrypted": True}},
            {"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 50, "VolumeType": "gp3"}},
        ],
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "payments"}]}],
    }
    if profile:
        data["IamInstanceProfile"] = {"Name": profile}
    return data


def security_group(ec2: Any, name: str) -> str:
    return str(ec2.create_security_group(GroupName=name, Description=f"{name} instances")["GroupId"])


def launch_template(ec2: Any, name: str, image_id: str, profile: str | None = "app-instance-profile") -> str:
    data = template_data(image_id, profile, security_group(ec2, f"sg-{name}"))
    answer = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData=data)
    return str(answer["LaunchTemplate"]["LaunchTemplateId"])


def group(
    autoscaling: Any,
    name: str,
    template_id: str,
    *,
    version: str | None = "1",
    min_size: int = 0,
    max_size: int = 2,
    desired: int = 0,
    tags: dict[str, str] | None = None,
) -> str:
    spec: dict[str, str] = {"LaunchTemplateId": template_id}
    if version is not None:
        spec["Version"] = version
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=min_size,
        MaxSize=max_size,
        DesiredCapacity=desired,
        LaunchTemplate=spec,
        AvailabilityZones=[f"{autoscaling.meta.region_name}a"],  # the client's region: groups in any region
        Tags=[
            {"Key": k, "Value": v, "PropagateAtLaunch": False, "ResourceId": name, "ResourceType": "auto-scaling-group"}
            for k, v in (tags or {}).items()
        ],
    )
    return name


def describe_group(autoscaling: Any, name: str) -> dict[str, Any]:
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    assert len(groups) == 1, f"group {name} not found"
    return dict(groups[0])


def quiet_recurrence(now: float) -> str:
    """A daily cron twelve hours away from `now` (the sandbox's clock), so a scheduled action a test
    puts on a group to see that it is left alone never fires while the test runs."""
    return f"0 {(datetime.fromtimestamp(now, tz=UTC).hour + 12) % 24} * * *"


def balancers(ec2: Any, elbv2: Any, elb: Any, prefix: str) -> tuple[str, str]:
    """A target group (`<prefix>-tg`, HTTP 80 in the default VPC) and a Classic Load Balancer
    (`<prefix>-clb`, in the region's zone a): (the target group's ARN, the balancer's name), for a group
    that sits behind both."""
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    found = elbv2.create_target_group(Name=f"{prefix}-tg", Protocol="HTTP", Port=80, VpcId=vpc)
    elb.create_load_balancer(
        LoadBalancerName=f"{prefix}-clb", AvailabilityZones=[f"{elb.meta.region_name}a"],
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
    )  # fmt: skip
    return str(found["TargetGroups"][0]["TargetGroupArn"]), f"{prefix}-clb"
