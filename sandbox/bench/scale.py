"""Sandbox scale benchmark: is the endpoint responsive with N groups and their instances?

Creates N tagged groups (one launch template each), scales a tenth of them to one instance, then
measures what the patch engine's reads cost: a full tag-filtered, paginated listing, batched
describes of 100 names, DescribeInstances / DescribeImages / SSM reads, and the server's memory.

    python sandbox/bench/scale.py --groups 1000
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from asgpatch_sandbox.process import SandboxProcess

TAG = {"Key": "ep:asg:patch", "Value": "true"}


def timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    samples, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def create_account(sandbox: SandboxProcess, groups: int) -> list[str]:
    ec2, autoscaling = sandbox.client("ec2"), sandbox.client("autoscaling")
    image = ec2.register_image(Name="bench-base", RootDeviceName="/dev/xvda")["ImageId"]
    names = []
    for index in range(groups):
        name = f"bench-{index:05d}"
        template = ec2.create_launch_template(
            LaunchTemplateName=name,
            LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro", "IamInstanceProfile": {"Name": "p"}},
        )["LaunchTemplate"]["LaunchTemplateId"]
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=name, MinSize=0, MaxSize=2, DesiredCapacity=0,
            LaunchTemplate={"LaunchTemplateId": template, "Version": "1"}, AvailabilityZones=["us-east-1a"],
            Tags=[{**TAG, "PropagateAtLaunch": False, "ResourceId": name, "ResourceType": "auto-scaling-group"}],
        )  # fmt: skip
        names.append(name)
    return names


def list_tagged(autoscaling: Any) -> int:
    paginator = autoscaling.get_paginator("describe_auto_scaling_groups")
    pages = paginator.paginate(
        Filters=[{"Name": f"tag:{TAG['Key']}", "Values": [TAG["Value"]]}], PaginationConfig={"PageSize": 100}
    )
    return sum(len(page["AutoScalingGroups"]) for page in pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    args = parser.parse_args()
    with SandboxProcess("--launch-seconds", "2", "--ssm-seconds", "1") as sandbox:
        assert sandbox.proc is not None
        autoscaling, ec2, ssm = sandbox.client("autoscaling"), sandbox.client("ec2"), sandbox.client("ssm")
        created, names = timed(lambda: create_account(sandbox, args.groups))
        print(f"groups: {args.groups}; created with launch templates in {created:.1f} s")
        running = names[::10]
        for name in running:
            autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=1, DesiredCapacity=1)
        sandbox.advance(5)
        listing, found = timed(lambda: list_tagged(autoscaling), repeat=3)
        print(f"tag-filtered paginated listing of {found} groups: {listing * 1000:.0f} ms")
        batch, _ = timed(lambda: autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=names[:100]), 5)
        print(f"DescribeAutoScalingGroups, 100 names: {batch * 1000:.1f} ms")
        instances, _ = timed(lambda: ec2.describe_instances(Filters=[{"Name": "instance-state-name",
                                                                      "Values": ["running"]}]), 5)  # fmt: skip
        print(f"DescribeInstances ({len(running)} running): {instances * 1000:.1f} ms")
        images, _ = timed(lambda: ec2.describe_images(Owners=["self"]), 5)
        print(f"DescribeImages (self): {images * 1000:.1f} ms")
        info, _ = timed(lambda: ssm.describe_instance_information(MaxResults=50), 5)
        print(f"DescribeInstanceInformation (50): {info * 1000:.1f} ms")
        small, _ = timed(lambda: autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[names[0]]), 20)
        print(f"DescribeAutoScalingGroups, 1 name (per-request overhead incl. world advance): {small * 1000:.1f} ms")
        print(f"sandbox RSS: {rss_mib(sandbox.proc.pid):.0f} MiB")


if __name__ == "__main__":
    main()
