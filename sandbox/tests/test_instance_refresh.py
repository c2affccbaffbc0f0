"""Instance Refresh on the sandbox: start, progress, SkipMatching, MinHealthyPercentage, cancel."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from asgpatch_sandbox.builders import base_image, describe_group, group, launch_template

LAUNCH = 30


def _running_group(sandbox: Any, ec2: Any, autoscaling: Any, uid: str, desired: int) -> tuple[str, str]:
    template = launch_template(ec2, f"rlt-{uid}", base_image(ec2, f"rbase-{uid}"))
    name = group(autoscaling, f"refresh-{uid}", template, version="$Latest", min_size=desired, max_size=4,
                 desired=desired)  # fmt: skip
    sandbox.advance(LAUNCH + 1)
    return name, template


def _refresh(autoscaling: Any, name: str, refresh_id: str) -> dict[str, Any]:
    found = autoscaling.describe_instance_refreshes(AutoScalingGroupName=name, InstanceRefreshIds=[refresh_id])
    return dict(found["InstanceRefreshes"][0])


def _new_version(ec2: Any, template: str, uid: str) -> str:
    image = base_image(ec2, f"rnew-{uid}")
    ec2.create_launch_template_version(
        LaunchTemplateId=template, SourceVersion="1", LaunchTemplateData={"ImageId": image}
    )
    return image


def _drive(sandbox: Any, autoscaling: Any, name: str, refresh_id: str, rounds: int = 20) -> list[dict[str, Any]]:
    seen = []
    for _ in range(rounds):
        sandbox.advance(LAUNCH + 1)
        seen.append(describe_group(autoscaling, name))
        if _refresh(autoscaling, name, refresh_id)["Status"] in ("Successful", "Failed", "Cancelled"):
            break
    return seen


def test_refresh_replaces_instances_not_on_the_new_version(sandbox, ec2, autoscaling, uid):
    name, template = _running_group(sandbox, ec2, autoscaling, uid, desired=2)
    old_ids = {i["InstanceId"] for i in describe_group(autoscaling, name)["Instances"]}
    _new_version(ec2, template, uid)

    refresh_id = autoscaling.start_instance_refresh(AutoScalingGroupName=name)["InstanceRefreshId"]
    assert _refresh(autoscaling, name, refresh_id)["Status"] == "Pending"
    history = _drive(sandbox, autoscaling, name, refresh_id)

    final = _refresh(autoscaling, name, refresh_id)
    assert final["Status"] == "Successful"
    assert final["PercentageComplete"] == 100
    instances = describe_group(autoscaling, name)["Instances"]
    assert len(instances) == 2
    assert not old_ids & {i["InstanceId"] for i in instances}
    assert {i["LaunchTemplate"]["Version"] for i in instances} == {"2"}
    for snapshot in history:  # MinHealthyPercentage 90 of 2 → one instance replaced at a time
        assert sum(i["LifecycleState"] == "InService" for i in snapshot["Instances"]) >= 1


def test_skip_matching_leaves_matching_instances_alone(sandbox, ec2, autoscaling, uid):
    name, _template = _running_group(sandbox, ec2, autoscaling, uid, desired=1)
    before = [i["InstanceId"] for i in describe_group(autoscaling, name)["Instances"]]

    refresh_id = autoscaling.start_instance_refresh(AutoScalingGroupName=name, Preferences={"SkipMatching": True})[
        "InstanceRefreshId"
    ]
    _drive(sandbox, autoscaling, name, refresh_id)

    assert _refresh(autoscaling, name, refresh_id)["Status"] == "Successful"
    assert [i["InstanceId"] for i in describe_group(autoscaling, name)["Instances"]] == before


def test_min_healthy_zero_replaces_all_at_once(sandbox, ec2, autoscaling, uid):
    name, template = _running_group(sandbox, ec2, autoscaling, uid, desired=2)
    _new_version(ec2, template, uid)
    refresh_id = autoscaling.start_instance_refresh(AutoScalingGroupName=name, Preferences={"MinHealthyPercentage": 0})[
        "InstanceRefreshId"
    ]
    sandbox.advance(6)  # Pending → InProgress
    sandbox.advance(1)  # first batch
    states = [i["LifecycleState"] for i in describe_group(autoscaling, name)["Instances"]]
    assert states == ["Pending", "Pending"]
    _drive(sandbox, autoscaling, name, refresh_id)
    assert _refresh(autoscaling, name, refresh_id)["Status"] == "Successful"


def test_one_refresh_at_a_time_and_cancel(sandbox, ec2, autoscaling, uid):
    name, template = _running_group(sandbox, ec2, autoscaling, uid, desired=2)
    _new_version(ec2, template, uid)
    refresh_id = autoscaling.start_instance_refresh(AutoScalingGroupName=name)["InstanceRefreshId"]
    with pytest.raises(ClientError) as excinfo:
        autoscaling.start_instance_refresh(AutoScalingGroupName=name)
    assert excinfo.value.response["Error"]["Code"] == "InstanceRefreshInProgress"

    assert autoscaling.cancel_instance_refresh(AutoScalingGroupName=name)["InstanceRefreshId"] == refresh_id
    sandbox.advance(1)
    assert _refresh(autoscaling, name, refresh_id)["Status"] == "Cancelled"
    with pytest.raises(ClientError) as excinfo:
        autoscaling.cancel_instance_refresh(AutoScalingGroupName=name)
    assert excinfo.value.response["Error"]["Code"] == "ActiveInstanceRefreshNotFound"


def test_refresh_fails_when_replacements_cannot_launch(sandbox, ec2, autoscaling, uid):
    name, template = _running_group(sandbox, ec2, autoscaling, uid, desired=1)
    _new_version(ec2, template, uid)
    autoscaling.create_or_update_tags(
        Tags=[{"ResourceId": name, "ResourceType": "auto-scaling-group", "Key": "sandbox:launch", "Value": "fail",
               "PropagateAtLaunch": False}]
    )  # fmt: skip
    refresh_id = autoscaling.start_instance_refresh(AutoScalingGroupName=name)["InstanceRefreshId"]
    _drive(sandbox, autoscaling, name, refresh_id)
    final = _refresh(autoscaling, name, refresh_id)
    assert final["Status"] == "Failed"
    assert "failed to launch" in final["StatusReason"]


def test_bad_refresh_requests(autoscaling, ec2, sandbox, uid):
    with pytest.raises(ClientError) as excinfo:
        autoscaling.start_instance_refresh(AutoScalingGroupName=f"missing-{uid}")
    assert excinfo.value.response["Error"]["Code"] == "ValidationError"
    name, _ = _running_group(sandbox, ec2, autoscaling, uid, desired=1)
    with pytest.raises(ClientError) as excinfo:
        autoscaling.start_instance_refresh(AutoScalingGroupName=name, Preferences={"MinHealthyPercentage": 101})
    assert excinfo.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as excinfo:
        autoscaling.start_instance_refresh(AutoScalingGroupName=name, Preferences={"AutoRollback": True})
    assert excinfo.value.response["Error"]["Code"] == "ValidationError", "AutoRollback refuses $Latest"
