"""Launch lifecycle hooks and warm pools, as accounts have them.

A hook holds every new instance in Pending:Wait until its automation completes the lifecycle action:
asgpatch waits through it within the launch timeout, and when it blocks the report names the hook.
A warm pool keeps instances launched with the image before the patch, and a scale-out takes those
first: a group is reported patched only once its pool holds none — checked as a user would, by scaling
up in the morning and scanning what comes up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from asgpatch_sandbox.builders import base_image, describe_group, group, launch_template
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.cli import QUICK_WORLD, cli, report_of
from tests.integration.test_compliance import scan_a_new_instance

QUICK_RUN = ("--poll-seconds", "0.5", "--output", "json")
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"


@pytest.fixture(scope="module")
def world() -> Iterator[SandboxProcess]:
    with SandboxProcess(*QUICK_WORLD) as process:
        yield process


def hook(autoscaling: Any, name: str, timeout: int) -> None:
    autoscaling.put_lifecycle_hook(
        LifecycleHookName="join-cluster", AutoScalingGroupName=name, LifecycleTransition=LAUNCHING,
        HeartbeatTimeout=timeout, DefaultResult="ABANDON",
    )  # fmt: skip


def pool(sandbox: SandboxProcess, name: str) -> dict[str, str]:
    """Warm instance id -> the image it runs."""
    autoscaling, ec2 = sandbox.client("autoscaling"), sandbox.client("ec2")
    ids = [i["InstanceId"] for i in autoscaling.describe_warm_pool(AutoScalingGroupName=name)["Instances"]]
    if not ids:
        return {}
    reservations = ec2.describe_instances(InstanceIds=ids)["Reservations"]
    return {i["InstanceId"]: i["ImageId"] for r in reservations for i in r["Instances"]}


def wait_for_pool(sandbox: SandboxProcess, name: str, size: int) -> dict[str, str]:
    deadline = time.monotonic() + 30
    while len(found := pool(sandbox, name)) < size:
        assert time.monotonic() < deadline, f"{name}: the warm pool did not fill: {found}"
        time.sleep(0.3)
    return found


@pytest.fixture(scope="module")
def hooked(world: SandboxProcess) -> dict[str, Any]:
    ec2, autoscaling = world.client("ec2"), world.client("autoscaling")
    image = base_image(ec2, "hooks-base")
    tags = {"ep:asg:patch": "hooks"}
    group(autoscaling, "hooks-automated", launch_template(ec2, "hooks-automated", image), max_size=2,
          tags={**tags, "sandbox:lifecycle-action": "continue:3"})  # fmt: skip
    group(autoscaling, "hooks-stuck", launch_template(ec2, "hooks-stuck", image), max_size=2, tags=tags)
    hook(autoscaling, "hooks-automated", timeout=300)
    hook(autoscaling, "hooks-stuck", timeout=7200)
    plan = cli(world, "plan", "--output", "json", "--tag-value", "hooks", "--launch-timeout", "10")
    result = cli(world, "run", *QUICK_RUN, "--tag-value", "hooks", "--launch-timeout", "10")
    return {"result": result, "report": {g["name"]: g for g in report_of(result)["groups"]},
            "plan": {g["name"]: g for g in report_of(plan)["groups"]}}  # fmt: skip


def test_the_plan_names_the_hooks_and_warns_of_one_that_may_outlast_the_launch_timeout(hooked: dict[str, Any]) -> None:
    automated, stuck = hooked["plan"]["hooks-automated"]["reason"], hooked["plan"]["hooks-stuck"]["reason"]
    assert "waits for launch lifecycle hook join-cluster (heartbeat timeout 300 s, then ABANDON)" in automated
    assert "may hold it past --launch-timeout (10 s)" in automated  # 300 s against a 10 s launch timeout
    assert "join-cluster (heartbeat timeout 7200 s, then ABANDON)" in stuck


def test_a_run_waits_through_a_launch_hook_its_automation_completes(hooked: dict[str, Any]) -> None:
    entry = hooked["report"]["hooks-automated"]
    assert entry["status"] == "patched", entry


def test_a_hook_that_blocks_is_named_and_the_group_is_put_back(world: SandboxProcess, hooked: dict[str, Any]) -> None:
    entry = hooked["report"]["hooks-stuck"]
    assert entry["status"] == "failed" and hooked["result"].returncode == 1
    assert "join-cluster (heartbeat timeout 7200 s, then ABANDON)" in entry["reason"], entry["reason"]
    assert "--launch-timeout" in entry["reason"]
    found = describe_group(world.client("autoscaling"), "hooks-stuck")
    assert (found["MinSize"], found["MaxSize"], found["DesiredCapacity"]) == (0, 2, 0)
    assert found["SuspendedProcesses"] == [] and found["Instances"] == []


@pytest.fixture(scope="module")
def warm(world: SandboxProcess) -> dict[str, Any]:
    ec2, autoscaling = world.client("ec2"), world.client("autoscaling")
    image = base_image(ec2, "warm-base")
    tags = {"ep:asg:patch": "warm"}
    group(autoscaling, "warm-web", launch_template(ec2, "warm-web", image), version="$Default", max_size=3, tags=tags)
    group(autoscaling, "warm-reuse", launch_template(ec2, "warm-reuse", image), max_size=2, tags=tags)
    group(autoscaling, "warm-bystander", launch_template(ec2, "warm-bystander", image), max_size=2)
    stale_template = launch_template(ec2, "warm-stale", image)
    group(autoscaling, "warm-stale", stale_template, version="$Default", max_size=2, tags=tags)
    autoscaling.put_warm_pool(AutoScalingGroupName="warm-web", MinSize=1)
    autoscaling.put_warm_pool(AutoScalingGroupName="warm-reuse", InstanceReusePolicy={"ReuseOnScaleIn": True})
    autoscaling.put_warm_pool(AutoScalingGroupName="warm-bystander")
    autoscaling.put_warm_pool(AutoScalingGroupName="warm-stale")
    before = {name: wait_for_pool(world, name, size) for name, size in
              (("warm-web", 3), ("warm-reuse", 2), ("warm-bystander", 2), ("warm-stale", 2))}  # fmt: skip
    assert {img for p in before.values() for img in p.values()} == {image}
    # The owner moved warm-stale to a newer base image since its pool was filled: the pool is stale.
    newer = base_image(ec2, "warm-newer-base")
    ec2.create_launch_template_version(LaunchTemplateId=stale_template, SourceVersion="1",
                                       LaunchTemplateData={"ImageId": newer})  # fmt: skip
    ec2.modify_launch_template(LaunchTemplateId=stale_template, DefaultVersion="2")
    published = world.publish_patches(2)
    plan = cli(world, "plan", "--output", "json", "--tag-value", "warm")
    assert pool(world, "warm-web") == before["warm-web"], "plan changed nothing"
    result = cli(world, "run", *QUICK_RUN, "--tag-value", "warm")
    return {"result": result, "report": {g["name"]: g for g in report_of(result)["groups"]},
            "before": before, "base": image, "published": published, "newer": newer,
            "plan": {g["name"]: g for g in report_of(plan)["groups"]}}  # fmt: skip


def test_the_plan_says_the_warm_pool_is_replaced(warm: dict[str, Any]) -> None:
    assert "warm pool's instances from the old image are replaced" in warm["plan"]["warm-web"]["reason"]


def test_a_patched_group_s_warm_pool_holds_only_the_patched_image(world: SandboxProcess, warm: dict[str, Any]) -> None:
    assert warm["result"].returncode == 0, warm["result"].stderr
    for name, size in (("warm-web", 3), ("warm-reuse", 2)):
        entry = warm["report"][name]
        assert entry["status"] == "patched", entry
        assert "warm pool" in (entry["reason"] or ""), entry
        found = wait_for_pool(world, name, size)
        assert set(found.values()) == {entry["image_id"]}, (name, found)  # the patch instance's return included
        assert not set(found) & set(warm["before"][name])
        group_now = describe_group(world.client("autoscaling"), name)
        assert (group_now["DesiredCapacity"], group_now["SuspendedProcesses"]) == (0, [])


def test_a_stale_pool_never_hands_asgpatch_an_older_image_to_bake(world: SandboxProcess, warm: dict[str, Any]) -> None:
    entry = warm["report"]["warm-stale"]
    assert entry["status"] == "patched", entry
    described = world.client("ec2").describe_instances(InstanceIds=[entry["instance_id"]])["Reservations"]
    assert described[0]["Instances"][0]["ImageId"] == warm["newer"], "the patch instance ran the group's image"
    found = world.client("ec2").describe_images(ImageIds=[entry["image_id"]])["Images"][0]
    assert {t["Key"]: t["Value"] for t in found["Tags"]}["asgpatch:source-ami"] == warm["newer"]
    assert set(wait_for_pool(world, "warm-stale", 2).values()) == {entry["image_id"]}


def test_a_bystander_s_warm_pool_is_left_as_it_was(world: SandboxProcess, warm: dict[str, Any]) -> None:
    assert pool(world, "warm-bystander") == warm["before"]["warm-bystander"]


def test_the_morning_scale_up_launches_a_patched_instance_from_the_pool(
    world: SandboxProcess, warm: dict[str, Any]
) -> None:
    autoscaling, ec2, ssm = world.client("autoscaling"), world.client("ec2"), world.client("ssm")
    patched = warm["report"]["warm-web"]["image_id"]
    pooled = set(pool(world, "warm-web"))
    autoscaling.set_desired_capacity(AutoScalingGroupName="warm-web", DesiredCapacity=1)
    [member] = describe_group(autoscaling, "warm-web")["Instances"]
    assert member["InstanceId"] in pooled  # served from the warm pool
    described = ec2.describe_instances(InstanceIds=[member["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert described["ImageId"] == patched
    deadline = time.monotonic() + 30
    filters = [{"Key": "InstanceIds", "Values": [member["InstanceId"]]}]
    while not ssm.describe_instance_information(Filters=filters)["InstanceInformationList"]:
        assert time.monotonic() < deadline, "the instance from the pool never came Online"
        time.sleep(0.3)
    command = ssm.send_command(InstanceIds=[member["InstanceId"]], DocumentName="AWS-RunPatchBaseline",
                               Parameters={"Operation": ["Scan"]})["Command"]["CommandId"]  # fmt: skip
    while ssm.get_command_invocation(CommandId=command, InstanceId=member["InstanceId"])["Status"] in (
        "Pending", "InProgress"
    ):  # fmt: skip
        assert time.monotonic() < deadline + 30, "the scan did not finish"
        time.sleep(0.3)
    (state,) = ssm.describe_instance_patch_states(InstanceIds=[member["InstanceId"]])["InstancePatchStates"]
    assert state["MissingCount"] == 0, state
    unpatched = scan_a_new_instance(world, describe_group(autoscaling, "warm-bystander")["LaunchTemplate"][
        "LaunchTemplateId"], "warm-check-unpatched")  # fmt: skip
    assert unpatched["MissingCount"] >= warm["published"]
