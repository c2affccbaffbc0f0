"""Warm pools over HTTP: filled to size, serving scale-outs first with the image they were launched
with, taking instances back on scale-in when asked, replaced when terminated — as Auto Scaling does."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from asgpatch_sandbox.builders import base_image, describe_group, group, launch_template

LAUNCH = 30  # the session sandbox's --launch-seconds


def pool(autoscaling: Any, name: str) -> list[dict[str, Any]]:
    return list(autoscaling.describe_warm_pool(AutoScalingGroupName=name)["Instances"])


def image_of(ec2: Any, instance_id: str) -> str:
    return str(ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["ImageId"])


def ec2_state(ec2: Any, instance_id: str) -> str:
    return str(ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"])


@pytest.fixture
def warm_group(sandbox: Any, autoscaling: Any, ec2: Any, uid: str) -> dict[str, str]:
    """A group at 0/3/0 with a Stopped warm pool of max - desired = 3, filled."""
    old = base_image(ec2, f"old-{uid}")
    template = launch_template(ec2, f"lt-{uid}", old)
    name = group(autoscaling, f"warm-{uid}", template, version="$Default", min_size=0, max_size=3, desired=0)
    autoscaling.put_warm_pool(AutoScalingGroupName=name, MinSize=1)
    sandbox.advance(1)
    assert {i["LifecycleState"] for i in pool(autoscaling, name)} == {"Warmed:Pending"}
    sandbox.advance(LAUNCH + 1)
    return {"name": name, "template": template, "old": old}


def test_the_pool_fills_and_a_scale_out_takes_its_instances_with_their_old_image(
    sandbox: Any, autoscaling: Any, ec2: Any, warm_group: dict[str, str], uid: str
) -> None:
    name = warm_group["name"]
    warm = pool(autoscaling, name)
    assert [i["LifecycleState"] for i in warm] == ["Warmed:Stopped"] * 3
    assert {ec2_state(ec2, i["InstanceId"]) for i in warm} == {"stopped"}
    assert {i["LaunchTemplate"]["Version"] for i in warm} == {"1"}
    assert describe_group(autoscaling, name)["Instances"] == []

    new = base_image(ec2, f"new-{uid}")
    ec2.create_launch_template_version(
        LaunchTemplateId=warm_group["template"], SourceVersion="1", LaunchTemplateData={"ImageId": new}
    )
    ec2.modify_launch_template(LaunchTemplateId=warm_group["template"], DefaultVersion="2")
    autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=2)
    [first, second] = describe_group(autoscaling, name)["Instances"]
    taken = {first["InstanceId"], second["InstanceId"]}
    assert taken <= {i["InstanceId"] for i in warm}  # from the pool, not launched anew
    assert {image_of(ec2, i) for i in taken} == {warm_group["old"]}  # a new version does not reach the pool
    sandbox.advance(LAUNCH + 1)
    assert {i["LifecycleState"] for i in describe_group(autoscaling, name)["Instances"]} == {"InService"}
    left = pool(autoscaling, name)  # max 3 - desired 2 = 1, which is also MinSize: nothing to launch
    assert len(left) == 1 and image_of(ec2, left[0]["InstanceId"]) == warm_group["old"]


def test_a_terminated_pool_instance_is_replaced_from_the_current_version(
    sandbox: Any, autoscaling: Any, ec2: Any, warm_group: dict[str, str], uid: str
) -> None:
    name = warm_group["name"]
    new = base_image(ec2, f"new-{uid}")
    ec2.create_launch_template_version(
        LaunchTemplateId=warm_group["template"], SourceVersion="1", LaunchTemplateData={"ImageId": new}
    )
    ec2.modify_launch_template(LaunchTemplateId=warm_group["template"], DefaultVersion="2")
    old_ids = [i["InstanceId"] for i in pool(autoscaling, name)]
    for instance_id in old_ids:
        autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=instance_id, ShouldDecrementDesiredCapacity=False
        )
    assert {ec2_state(ec2, i) for i in old_ids} == {"terminated"}
    sandbox.advance(LAUNCH + 1)
    warm = pool(autoscaling, name)
    assert len(warm) == 3 and not {i["InstanceId"] for i in warm} & set(old_ids)
    assert {image_of(ec2, i["InstanceId"]) for i in warm} == {new}
    assert describe_group(autoscaling, name)["DesiredCapacity"] == 0


def test_reuse_on_scale_in_returns_instances_to_the_pool(
    sandbox: Any, autoscaling: Any, ec2: Any, warm_group: dict[str, str]
) -> None:
    name = warm_group["name"]
    autoscaling.put_warm_pool(AutoScalingGroupName=name, MinSize=1, InstanceReusePolicy={"ReuseOnScaleIn": True})
    autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)
    sandbox.advance(LAUNCH + 1)
    [member] = describe_group(autoscaling, name)["Instances"]
    autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=0)
    assert member["InstanceId"] in {i["InstanceId"] for i in pool(autoscaling, name)}
    sandbox.advance(LAUNCH + 1)
    assert ec2_state(ec2, member["InstanceId"]) == "stopped"
    assert len(pool(autoscaling, name)) == 3


def test_delete_warm_pool_terminates_its_instances_and_a_mixed_policy_cannot_have_one(
    sandbox: Any, autoscaling: Any, ec2: Any, warm_group: dict[str, str], uid: str
) -> None:
    name = warm_group["name"]
    ids = [i["InstanceId"] for i in pool(autoscaling, name)]
    autoscaling.delete_warm_pool(AutoScalingGroupName=name, ForceDelete=True)
    assert {ec2_state(ec2, i) for i in ids} == {"terminated"}
    assert autoscaling.describe_warm_pool(AutoScalingGroupName=name)["Instances"] == []
    mixed = f"mixed-{uid}"
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=mixed, MinSize=0, MaxSize=2, DesiredCapacity=0, AvailabilityZones=["us-east-1a"],
        MixedInstancesPolicy={"LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateId": warm_group["template"], "Version": "1"},
            "Overrides": [{"InstanceType": "t3.micro"}]}},
    )  # fmt: skip
    with pytest.raises(ClientError, match="mixed instances policy"):
        autoscaling.put_warm_pool(AutoScalingGroupName=mixed, MinSize=1)
