"""Instances terminated or stopped through EC2, not Auto Scaling: HealthCheck marks them Unhealthy,
ReplaceUnhealthy replaces them — unless it is suspended, as asgpatch suspends it while patching."""

from __future__ import annotations

from typing import Any

import pytest

from asgpatch_sandbox.builders import base_image, describe_group, group, launch_template

LAUNCH = 30  # the session sandbox's --launch-seconds


@pytest.fixture
def template(ec2: Any, uid: str) -> str:
    return launch_template(ec2, f"lt-{uid}", base_image(ec2, f"base-{uid}"))


def in_service_group(sandbox: Any, autoscaling: Any, template: str, name: str, suspend: tuple[str, ...] = ()) -> str:
    """A group of one InService instance, with `suspend` suspended; returns that instance's id."""
    group(autoscaling, name, template, min_size=1, max_size=2, desired=1)
    sandbox.advance(LAUNCH + 1)
    [instance] = describe_group(autoscaling, name)["Instances"]
    assert (instance["LifecycleState"], instance["HealthStatus"]) == ("InService", "Healthy")
    if suspend:
        autoscaling.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=list(suspend))
    return str(instance["InstanceId"])


def members(autoscaling: Any, name: str) -> dict[str, tuple[str, str]]:
    """instance id -> (lifecycle state, health status)."""
    return {
        i["InstanceId"]: (i["LifecycleState"], i["HealthStatus"])
        for i in describe_group(autoscaling, name)["Instances"]
    }


def ec2_state(ec2: Any, instance_id: str) -> str:
    return str(ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"])


def live_instances(ec2: Any, name: str) -> set[str]:
    """EC2 instances of the group that are pending or running."""
    answer = ec2.describe_instances(
        Filters=[
            {"Name": "tag:aws:autoscaling:groupName", "Values": [name]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )
    return {i["InstanceId"] for r in answer["Reservations"] for i in r["Instances"]}


def the_replacement(sandbox: Any, ec2: Any, autoscaling: Any, name: str, old: str) -> str:
    """The one new instance of the group: Pending, then InService and running after the launch delay."""
    found = members(autoscaling, name)
    assert old not in found, "the unhealthy instance left the group"
    [(new, (lifecycle, health))] = found.items()
    assert (lifecycle, health) == ("Pending", "Healthy")
    assert ec2_state(ec2, new) == "pending"
    sandbox.advance(LAUNCH + 1)
    assert members(autoscaling, name) == {new: ("InService", "Healthy")}
    assert ec2_state(ec2, new) == "running"
    launches = [
        a
        for a in autoscaling.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
        if a["Description"] == f"Launching a new EC2 instance: {new}"
    ]
    assert [a["StatusCode"] for a in launches] == ["Successful"], "it went through the group's launch path"
    return new


def test_with_replace_unhealthy_suspended_a_terminated_instance_stays_listed_unhealthy(
    sandbox, ec2, autoscaling, template, uid
):
    name = f"keep-{uid}"
    old = in_service_group(sandbox, autoscaling, template, name, suspend=("ReplaceUnhealthy",))

    ec2.terminate_instances(InstanceIds=[old])
    sandbox.advance(3 * LAUNCH)

    assert members(autoscaling, name) == {old: ("InService", "Unhealthy")}
    assert describe_group(autoscaling, name)["DesiredCapacity"] == 1
    [described] = autoscaling.describe_auto_scaling_instances(InstanceIds=[old])["AutoScalingInstances"]
    assert (described["AutoScalingGroupName"], described["HealthStatus"].upper()) == (name, "UNHEALTHY")
    assert ec2_state(ec2, old) == "terminated"
    assert live_instances(ec2, name) == set(), "no replacement was launched"


def test_terminating_the_unhealthy_instance_through_auto_scaling_replaces_it(sandbox, ec2, autoscaling, template, uid):
    name = f"kick-{uid}"
    old = in_service_group(sandbox, autoscaling, template, name, suspend=("ReplaceUnhealthy",))
    autoscaling.set_instance_protection(AutoScalingGroupName=name, InstanceIds=[old], ProtectedFromScaleIn=True)
    ec2.terminate_instances(InstanceIds=[old])
    assert members(autoscaling, name) == {old: ("InService", "Unhealthy")}

    autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=old, ShouldDecrementDesiredCapacity=False)

    assert describe_group(autoscaling, name)["DesiredCapacity"] == 1
    the_replacement(sandbox, ec2, autoscaling, name, old)


def test_terminating_it_with_decrement_shrinks_the_group(sandbox, ec2, autoscaling, template, uid):
    name = f"shrink-{uid}"
    group(autoscaling, name, template, min_size=0, max_size=2, desired=1)
    sandbox.advance(LAUNCH + 1)
    [old] = members(autoscaling, name)
    autoscaling.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=["ReplaceUnhealthy"])
    ec2.terminate_instances(InstanceIds=[old])

    autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=old, ShouldDecrementDesiredCapacity=True)
    sandbox.advance(LAUNCH + 1)

    assert describe_group(autoscaling, name)["DesiredCapacity"] == 0
    assert members(autoscaling, name) == {}
    assert live_instances(ec2, name) == set()


def test_without_suspension_a_terminated_instance_is_replaced(sandbox, ec2, autoscaling, template, uid):
    name = f"replace-{uid}"
    old = in_service_group(sandbox, autoscaling, template, name)

    ec2.terminate_instances(InstanceIds=[old])

    assert describe_group(autoscaling, name)["DesiredCapacity"] == 1
    the_replacement(sandbox, ec2, autoscaling, name, old)
    activities = autoscaling.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
    [termination] = [a for a in activities if a["Description"] == f"Terminating EC2 instance: {old}"]
    assert "EC2 health check indicating it has been terminated or stopped" in termination["Cause"]


@pytest.mark.parametrize("process", ["ReplaceUnhealthy", "Terminate"])  # AWS: ReplaceUnhealthy terminates first
def test_resuming_the_process_replaces_the_unhealthy_instance(sandbox, ec2, autoscaling, template, uid, process):
    name = f"resume-{process.lower()}-{uid}"
    old = in_service_group(sandbox, autoscaling, template, name, suspend=(process, "AZRebalance"))
    ec2.terminate_instances(InstanceIds=[old])
    sandbox.advance(3 * LAUNCH)
    assert members(autoscaling, name) == {old: ("InService", "Unhealthy")}
    assert live_instances(ec2, name) == set()

    autoscaling.resume_processes(AutoScalingGroupName=name, ScalingProcesses=[process])

    the_replacement(sandbox, ec2, autoscaling, name, old)
    assert [p["ProcessName"] for p in describe_group(autoscaling, name)["SuspendedProcesses"]] == ["AZRebalance"]


def test_a_stopped_instance_is_unhealthy_too(sandbox, ec2, autoscaling, template, uid):
    kept, replaced = f"stopkeep-{uid}", f"stopreplace-{uid}"
    kept_id = in_service_group(sandbox, autoscaling, template, kept, suspend=("ReplaceUnhealthy",))
    replaced_id = in_service_group(sandbox, autoscaling, template, replaced)

    ec2.stop_instances(InstanceIds=[kept_id, replaced_id])

    assert members(autoscaling, kept) == {kept_id: ("InService", "Unhealthy")}
    assert ec2_state(ec2, kept_id) == "stopped"
    the_replacement(sandbox, ec2, autoscaling, replaced, replaced_id)
    assert ec2_state(ec2, replaced_id) == "terminated", "ReplaceUnhealthy terminates the stopped instance"


def test_with_health_check_suspended_nothing_marks_it_until_resumed(sandbox, ec2, autoscaling, template, uid):
    name = f"nocheck-{uid}"
    old = in_service_group(sandbox, autoscaling, template, name, suspend=("HealthCheck",))
    ec2.terminate_instances(InstanceIds=[old])
    sandbox.advance(3 * LAUNCH)
    assert members(autoscaling, name) == {old: ("InService", "Healthy")}
    assert live_instances(ec2, name) == set()

    autoscaling.resume_processes(AutoScalingGroupName=name, ScalingProcesses=["HealthCheck"])

    the_replacement(sandbox, ec2, autoscaling, name, old)


def test_with_launch_suspended_the_unhealthy_instance_goes_and_comes_back_on_resume(
    sandbox, ec2, autoscaling, template, uid
):
    name = f"nolaunch-{uid}"
    old = in_service_group(sandbox, autoscaling, template, name, suspend=("Launch",))
    ec2.terminate_instances(InstanceIds=[old])
    sandbox.advance(3 * LAUNCH)
    assert members(autoscaling, name) == {}, "ReplaceUnhealthy still terminates; nothing launches"
    assert describe_group(autoscaling, name)["DesiredCapacity"] == 1

    autoscaling.resume_processes(AutoScalingGroupName=name, ScalingProcesses=["Launch"])

    the_replacement(sandbox, ec2, autoscaling, name, old)


def test_an_instance_terminated_while_launching_is_launched_again(sandbox, ec2, autoscaling, template, uid):
    name = f"launching-{uid}"
    group(autoscaling, name, template, min_size=1, max_size=2, desired=1)
    autoscaling.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=["ReplaceUnhealthy"])
    [first] = members(autoscaling, name)

    ec2.terminate_instances(InstanceIds=[first])

    the_replacement(sandbox, ec2, autoscaling, name, first)
    activities = autoscaling.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
    [launch] = [a for a in activities if a["Description"] == f"Launching a new EC2 instance: {first}"]
    assert launch["StatusCode"] == "Cancelled"


def test_an_instance_set_unhealthy_is_replaced(sandbox, ec2, autoscaling, template, uid):
    name = f"sethealth-{uid}"
    old = in_service_group(sandbox, autoscaling, template, name)

    autoscaling.set_instance_health(InstanceId=old, HealthStatus="Unhealthy")

    the_replacement(sandbox, ec2, autoscaling, name, old)
    assert ec2_state(ec2, old) == "terminated"
