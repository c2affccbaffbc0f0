"""Launch lifecycle hooks over HTTP: Pending:Wait until the action is completed, heartbeats, the
timeout's DefaultResult, ABANDON failing the launch — as Auto Scaling runs them."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from asgpatch_sandbox.builders import base_image, describe_group, group, launch_template

LAUNCH = 30  # the session sandbox's --launch-seconds
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"


@pytest.fixture
def template(ec2: Any, uid: str) -> str:
    return launch_template(ec2, f"lt-{uid}", base_image(ec2, f"base-{uid}"))


def hooked(autoscaling: Any, name: str, template: str, *, timeout: int = 300, default: str = "ABANDON",
           tags: dict[str, str] | None = None) -> None:  # fmt: skip
    group(autoscaling, name, template, min_size=0, max_size=2, desired=0, tags=tags)
    autoscaling.put_lifecycle_hook(
        LifecycleHookName="bootstrap", AutoScalingGroupName=name, LifecycleTransition=LAUNCHING,
        HeartbeatTimeout=timeout, DefaultResult=default,
    )  # fmt: skip


def states(autoscaling: Any, name: str) -> list[tuple[str, str]]:
    return [(i["InstanceId"], i["LifecycleState"]) for i in describe_group(autoscaling, name)["Instances"]]


def launch_status(autoscaling: Any, name: str) -> list[tuple[str, str]]:
    found = autoscaling.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
    return [(a["StatusCode"], a.get("StatusMessage", "")) for a in found if a["Description"].startswith("Launching")]


def test_an_instance_waits_in_pending_wait_until_its_action_is_completed(
    sandbox: Any, autoscaling: Any, ec2: Any, template: str, uid: str
) -> None:
    name = f"hooked-{uid}"
    hooked(autoscaling, name, template)
    autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)
    sandbox.advance(LAUNCH + 1)
    [(instance, lifecycle)] = states(autoscaling, name)
    assert lifecycle == "Pending:Wait"
    described = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert described["State"]["Name"] == "running"  # the bootstrap runs on it meanwhile
    sandbox.advance(200)
    assert states(autoscaling, name) == [(instance, "Pending:Wait")]
    autoscaling.record_lifecycle_action_heartbeat(
        AutoScalingGroupName=name, LifecycleHookName="bootstrap", InstanceId=instance
    )
    sandbox.advance(250)  # 450 s after it began: past the first timeout, within the heartbeat's
    assert states(autoscaling, name) == [(instance, "Pending:Wait")]
    autoscaling.complete_lifecycle_action(
        AutoScalingGroupName=name, LifecycleHookName="bootstrap", InstanceId=instance,
        LifecycleActionResult="CONTINUE",
    )  # fmt: skip
    assert states(autoscaling, name) == [(instance, "InService")]
    assert launch_status(autoscaling, name) == [("Successful", "")]
    with pytest.raises(ClientError, match="No active Lifecycle Action found with instance ID"):
        autoscaling.complete_lifecycle_action(
            AutoScalingGroupName=name, LifecycleHookName="bootstrap", InstanceId=instance,
            LifecycleActionResult="CONTINUE",
        )  # fmt: skip


def test_the_heartbeat_timeout_applies_the_default_result(sandbox: Any, autoscaling: Any, ec2: Any,
                                                         template: str, uid: str) -> None:  # fmt: skip
    abandons, continues = f"abandons-{uid}", f"continues-{uid}"
    hooked(autoscaling, abandons, template, timeout=60, default="ABANDON")
    hooked(autoscaling, continues, template, timeout=60, default="CONTINUE")
    for name in (abandons, continues):
        autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)
    sandbox.advance(LAUNCH + 1)
    [(first, _)] = states(autoscaling, abandons)
    sandbox.advance(60)
    assert [s for _, s in states(autoscaling, continues)] == ["InService"]
    [(second, lifecycle)] = states(autoscaling, abandons)
    assert second != first and lifecycle == "Pending"  # abandoned: terminated, and the group launches another
    assert (
        ec2.describe_instances(InstanceIds=[first])["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"
    )
    failed = [m for status, m in launch_status(autoscaling, abandons) if status == "Failed"]
    assert len(failed) == 1 and failed[0].startswith("Instance failed to complete user's Lifecycle Action")
    assert failed[0].endswith("was abandoned: Heartbeat Timeout")


def test_abandon_fails_the_launch_and_the_owner_automation_tag_stands_in(sandbox: Any, autoscaling: Any,
                                                                         template: str, uid: str) -> None:  # fmt: skip
    automated, abandoned = f"automated-{uid}", f"abandoned-{uid}"
    hooked(autoscaling, automated, template, tags={"sandbox:lifecycle-action": "continue:20"})
    hooked(autoscaling, abandoned, template)
    for name in (automated, abandoned):
        autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=1)
    sandbox.advance(LAUNCH + 1)
    [(instance, _)] = states(autoscaling, abandoned)
    token_less = {"AutoScalingGroupName": abandoned, "LifecycleHookName": "bootstrap", "InstanceId": instance}
    autoscaling.complete_lifecycle_action(**token_less, LifecycleActionResult="ABANDON")
    assert [i for i, _ in states(autoscaling, abandoned)] != [instance]
    [(_, message), *_] = [s for s in launch_status(autoscaling, abandoned) if s[0] == "Failed"]
    assert message.endswith("Lifecycle Action Completed with ABANDON Result")
    assert [s for _, s in states(autoscaling, automated)] == ["Pending:Wait"]
    sandbox.advance(20)
    assert [s for _, s in states(autoscaling, automated)] == ["InService"]


def test_a_hook_is_checked_as_aws_checks_it(autoscaling: Any, template: str, uid: str) -> None:
    name = f"checked-{uid}"
    group(autoscaling, name, template)
    with pytest.raises(ClientError, match="Heartbeat timeout"):
        autoscaling.put_lifecycle_hook(
            LifecycleHookName="h", AutoScalingGroupName=name, LifecycleTransition=LAUNCHING, HeartbeatTimeout=10
        )
    with pytest.raises(ClientError, match="not found"):
        autoscaling.put_lifecycle_hook(LifecycleHookName="h", AutoScalingGroupName=f"none-{uid}",
                                       LifecycleTransition=LAUNCHING)  # fmt: skip
