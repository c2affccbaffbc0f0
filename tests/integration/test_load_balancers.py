"""A running group behind a target group and a Classic Load Balancer, patched while it scales out:
the patch instance is never registered, and by the end every instance in service is — also the one
Auto Scaling launched while asgpatch held AddToLoadBalancer suspended (AWS never adds those)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from asgpatch_sandbox.builders import balancers, base_image, describe_group, launch_template
from asgpatch_sandbox.process import SandboxProcess

LB_WORLD = ("--launch-seconds", "1", "--ssm-seconds", "1", "--patch-seconds", "8", "--image-seconds", "2")
NAME = "lb-web"


@pytest.fixture(scope="module")
def balanced() -> Iterator[SandboxProcess]:
    """A sandbox whose patch takes long enough for a scale-out to happen during it."""
    with SandboxProcess(*LB_WORLD) as process:
        yield process


def registered(sandbox: SandboxProcess, arn: str, balancer: str) -> tuple[set[str], set[str]]:
    health = sandbox.client("elbv2").describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    in_group = {h["Target"]["Id"] for h in health if h["TargetHealth"]["State"] not in ("unused", "draining")}
    found = sandbox.client("elb").describe_load_balancers(LoadBalancerNames=[balancer])["LoadBalancerDescriptions"]
    return in_group, {i["InstanceId"] for i in found[0]["Instances"]}


@pytest.fixture(scope="module")
def estate(balanced: SandboxProcess) -> dict[str, Any]:
    ec2, autoscaling = balanced.client("ec2"), balanced.client("autoscaling")
    arn, _ = balancers(ec2, balanced.client("elbv2"), balanced.client("elb"), "lb-web")
    template = launch_template(ec2, NAME, base_image(ec2, "lb-base"))
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=NAME, MinSize=1, MaxSize=4, DesiredCapacity=1, AvailabilityZones=["us-east-1a"],
        LaunchTemplate={"LaunchTemplateId": template, "Version": "1"}, TargetGroupARNs=[arn],
        LoadBalancerNames=["lb-web-clb"], Tags=[{"Key": "ep:asg:patch", "Value": "lb", "PropagateAtLaunch": False}],
    )  # fmt: skip
    balanced.advance(2)
    serving = {i["InstanceId"] for i in describe_group(autoscaling, NAME)["Instances"]}
    assert registered(balanced, arn, "lb-web-clb") == (serving, serving)

    command = [sys.executable, "-m", "asgpatch", "run", "--poll-seconds", "0.5", "--output", "json",
               "--tag-value", "lb"]  # fmt: skip
    run = subprocess.Popen(
        command, env=balanced.environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    ever: set[str] = set()
    scaled_out = False
    deadline = time.monotonic() + 120
    while run.poll() is None:
        assert time.monotonic() < deadline, "the run did not finish"
        target_group, classic = registered(balanced, arn, "lb-web-clb")
        ever |= target_group | classic
        found = describe_group(autoscaling, NAME)
        state = {t["Key"]: t["Value"] for t in found["Tags"]}.get("asgpatch:state", "")
        if not scaled_out and "|patching|" in state:
            # a scaling policy scales out while the patch runs
            autoscaling.set_desired_capacity(AutoScalingGroupName=NAME, DesiredCapacity=found["DesiredCapacity"] + 1)
            scaled_out = True
        time.sleep(0.2)
    stdout, stderr = run.communicate()
    assert scaled_out, "the run was over before it could scale out"
    report = {g["name"]: g for g in json.loads(stdout)["groups"]}
    return {"report": report, "stderr": stderr, "arn": arn, "serving": serving, "ever": ever, "code": run.returncode}


def test_the_run_patches_the_group_behind_its_load_balancers(estate):
    assert estate["code"] == 0, estate["stderr"]
    assert estate["report"][NAME]["status"] == "patched", estate["report"][NAME]


def test_the_patch_instance_is_never_registered(estate):
    patch_instance = estate["report"][NAME]["instance_id"]
    assert patch_instance and patch_instance not in estate["ever"]


def test_every_instance_in_service_is_registered_by_the_end_the_scaled_out_one_too(balanced, estate):
    balanced.advance(2)
    found = describe_group(balanced.client("autoscaling"), NAME)
    assert found["DesiredCapacity"] == 2, "the scale-out stays; only the patch instance left"
    in_service = {i["InstanceId"] for i in found["Instances"] if i["LifecycleState"] == "InService"}
    assert len(in_service) == 2 and estate["serving"] < in_service
    assert registered(balanced, estate["arn"], "lb-web-clb") == (in_service, in_service)
