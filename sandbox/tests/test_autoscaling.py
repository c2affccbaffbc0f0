"""Auto Scaling on the sandbox behaves like AWS where moto does not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from botocore.exceptions import ClientError

from asgpatch_sandbox.builders import base_image, describe_group, group, launch_template

LAUNCH = 30  # the session sandbox's --launch-seconds


def _error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def _scale(autoscaling: Any, name: str, desired: int, min_size: int | None = None) -> None:
    kwargs: dict[str, Any] = {"AutoScalingGroupName": name, "DesiredCapacity": desired}
    if min_size is not None:
        kwargs["MinSize"] = min_size
    autoscaling.update_auto_scaling_group(**kwargs)


def _states(autoscaling: Any, name: str) -> list[str]:
    return [i["LifecycleState"] for i in describe_group(autoscaling, name)["Instances"]]


@pytest.fixture
def template(ec2: Any, uid: str) -> str:
    return launch_template(ec2, f"lt-{uid}", base_image(ec2, f"base-{uid}"))


def test_launches_in_two_regions_at_once_each_go_in_service_in_their_own_region(sandbox, uid):
    """Each region's launches are its own: a launch due in one region is never looked for in another
    (which found no such group there and cancelled it, leaving the instance Pending for ever)."""
    names = {}
    for region in ("us-east-1", "eu-west-1"):
        ec2, autoscaling = sandbox.client("ec2", region=region), sandbox.client("autoscaling", region=region)
        names[region] = group(autoscaling, f"regional-{uid}", launch_template(ec2, f"lt-{uid}", base_image(ec2, uid)))
        _scale(autoscaling, names[region], 1, min_size=1)
    sandbox.advance(LAUNCH + 1)
    for region, name in names.items():
        found = describe_group(sandbox.client("autoscaling", region=region), name)
        assert [i["LifecycleState"] for i in found["Instances"]] == ["InService"], region
        assert found["Instances"][0]["AvailabilityZone"] == f"{region}a"


def test_instances_are_pending_until_the_launch_delay_has_passed(sandbox, ec2, autoscaling, template, uid):
    name = group(autoscaling, f"boot-{uid}", template)
    _scale(autoscaling, name, 1, min_size=1)

    instances = describe_group(autoscaling, name)["Instances"]
    assert [i["LifecycleState"] for i in instances] == ["Pending"]
    instance_id = instances[0]["InstanceId"]
    state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]
    assert state["Name"] == "pending"

    sandbox.advance(LAUNCH / 2)
    assert _states(autoscaling, name) == ["Pending"], "pending instances count toward desired: no second launch"

    sandbox.advance(LAUNCH / 2 + 1)
    assert _states(autoscaling, name) == ["InService"]
    state = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]
    assert state["Name"] == "running"
    activities = autoscaling.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
    assert [a["StatusCode"] for a in activities] == ["Successful"]
    assert instance_id in activities[0]["Description"]


def test_instances_launch_from_the_version_the_group_uses(sandbox, ec2, autoscaling, template, uid):
    other_image = base_image(ec2, f"other-{uid}")
    ec2.create_launch_template_version(
        LaunchTemplateId=template, SourceVersion="1", LaunchTemplateData={"ImageId": other_image}
    )
    ec2.modify_launch_template(LaunchTemplateId=template, DefaultVersion="2")
    pinned = group(autoscaling, f"pinned-{uid}", template, version="1")
    default = group(autoscaling, f"default-{uid}", template, version="$Default")
    _scale(autoscaling, pinned, 1)
    _scale(autoscaling, default, 1)
    sandbox.advance(LAUNCH + 1)

    pinned_instance = describe_group(autoscaling, pinned)["Instances"][0]
    default_instance = describe_group(autoscaling, default)["Instances"][0]
    assert pinned_instance["LaunchTemplate"]["Version"] == "1"
    assert default_instance["LaunchTemplate"]["Version"] == "2"
    described = ec2.describe_instances(InstanceIds=[pinned_instance["InstanceId"], default_instance["InstanceId"]])
    images = {i["InstanceId"]: i["ImageId"] for r in described["Reservations"] for i in r["Instances"]}
    assert images[default_instance["InstanceId"]] == other_image
    assert images[pinned_instance["InstanceId"]] != other_image
    volumes = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [pinned_instance["InstanceId"]]}]
    )["Volumes"]
    assert sorted(v["Size"] for v in volumes) == [20, 50], "block devices come from the template version"


def test_failed_launches_never_reach_in_service(sandbox, ec2, autoscaling, template, uid):
    name = group(autoscaling, f"nolaunch-{uid}", template, tags={"sandbox:launch": "fail"})
    _scale(autoscaling, name, 1)
    first = describe_group(autoscaling, name)["Instances"][0]["InstanceId"]

    sandbox.advance(LAUNCH + 1)

    assert "InService" not in _states(autoscaling, name)
    activities = autoscaling.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
    failed = [a for a in activities if a["StatusCode"] == "Failed"]
    assert failed and first in failed[0]["Description"]
    state = ec2.describe_instances(InstanceIds=[first])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "terminated"
    assert describe_group(autoscaling, name)["DesiredCapacity"] == 1, "AWS keeps trying; desired is unchanged"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"DesiredCapacity": 5}, "Desired capacity:5 must be between the specified min size:0 and max size:2"),
        ({"MinSize": 3}, "Max bound, 2, must be greater than or equal to min bound, 3"),
        ({"MaxSize": 1, "DesiredCapacity": 2}, "Desired capacity:2 must be between"),
    ],
)
def test_capacity_bounds_are_enforced(autoscaling, template, uid, change, message):
    name = group(autoscaling, f"bounds-{uid}", template)
    with pytest.raises(ClientError) as excinfo:
        autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, **change)
    assert _error_code(excinfo) == "ValidationError"
    assert message in str(excinfo.value)
    after = describe_group(autoscaling, name)
    assert (after["MinSize"], after["MaxSize"], after["DesiredCapacity"]) == (0, 2, 0), (
        "a refused update changes nothing"
    )


def test_set_desired_capacity_and_create_are_validated(autoscaling, template, uid):
    name = group(autoscaling, f"setcap-{uid}", template)
    with pytest.raises(ClientError) as excinfo:
        autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=3)
    assert "above max value 2" in str(excinfo.value)
    with pytest.raises(ClientError) as excinfo:
        group(autoscaling, f"badcreate-{uid}", template, min_size=2, max_size=1, desired=1)
    assert _error_code(excinfo) == "ValidationError"


def test_raising_min_above_desired_raises_desired(autoscaling, template, uid):
    name = group(autoscaling, f"minup-{uid}", template)
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MinSize=1)
    assert describe_group(autoscaling, name)["DesiredCapacity"] == 1


def test_an_update_without_mixed_instances_policy_keeps_it(autoscaling, template, uid):
    name = f"mixed-{uid}"
    policy = {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateId": template, "Version": "$Latest"},
            "Overrides": [{"InstanceType": "t3.small"}, {"InstanceType": "t3a.small"}],
        },
        "InstancesDistribution": {"OnDemandPercentageAboveBaseCapacity": 50},
    }
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=2, DesiredCapacity=0,
        MixedInstancesPolicy=policy, AvailabilityZones=["us-east-1a"],
    )  # fmt: skip
    autoscaling.update_auto_scaling_group(AutoScalingGroupName=name, MaxSize=3)

    kept = describe_group(autoscaling, name)["MixedInstancesPolicy"]
    assert [o["InstanceType"] for o in kept["LaunchTemplate"]["Overrides"]] == ["t3.small", "t3a.small"]
    assert kept["LaunchTemplate"]["LaunchTemplateSpecification"]["Version"] == "$Latest"
    assert kept["InstancesDistribution"]["OnDemandPercentageAboveBaseCapacity"] == 50


def test_suspended_launch_process_launches_nothing(sandbox, autoscaling, template, uid):
    name = group(autoscaling, f"nolaunchproc-{uid}", template)
    autoscaling.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=["Launch"])
    _scale(autoscaling, name, 1)
    sandbox.advance(LAUNCH + 1)
    assert describe_group(autoscaling, name)["Instances"] == []


# --- scheduled actions -------------------------------------------------------------------------


def _next_utc(sandbox, hour: int, zone: str = "UTC", margin: timedelta = timedelta(minutes=5)) -> datetime:
    """The next `hour`:00 in `zone` at least `margin` from the sandbox's now (0: the real next occurrence)."""
    now = datetime.fromtimestamp(sandbox.now(), tz=UTC).astimezone(ZoneInfo(zone))
    candidate = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if candidate <= now + margin:
        candidate += timedelta(days=1)
    return candidate.astimezone(UTC)


def _seconds_until(sandbox, moment: datetime) -> float:
    return moment.timestamp() - sandbox.now()


def test_scheduled_action_names_are_per_group(autoscaling, template, uid):
    first = group(autoscaling, f"sched-a-{uid}", template)
    second = group(autoscaling, f"sched-b-{uid}", template)
    for name in (first, second):
        autoscaling.put_scheduled_update_group_action(
            AutoScalingGroupName=name, ScheduledActionName="up", Recurrence="0 8 * * *", DesiredCapacity=1
        )
    for name in (first, second):
        actions = autoscaling.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"]
        assert [a["ScheduledActionName"] for a in actions] == ["up"]


def test_scheduled_actions_fire_on_their_recurrence_in_their_time_zone(sandbox, autoscaling, template, uid):
    utc_group = group(autoscaling, f"fire-utc-{uid}", template)
    tokyo_group = group(autoscaling, f"fire-tokyo-{uid}", template)
    fire_at = _next_utc(sandbox, 8)
    autoscaling.put_scheduled_update_group_action(
        AutoScalingGroupName=utc_group, ScheduledActionName="up", Recurrence="0 8 * * *", MinSize=1, DesiredCapacity=1
    )
    autoscaling.put_scheduled_update_group_action(
        AutoScalingGroupName=tokyo_group, ScheduledActionName="up", Recurrence="0 8 * * *",
        TimeZone="Asia/Tokyo", DesiredCapacity=1,
    )  # fmt: skip
    tokyo_fire = _next_utc(sandbox, 8, "Asia/Tokyo", margin=timedelta(0))  # when it really fires next

    sandbox.advance(_seconds_until(sandbox, fire_at) - 30)
    assert describe_group(autoscaling, utc_group)["DesiredCapacity"] == 0, "not before its time"
    sandbox.advance(60)
    fired = describe_group(autoscaling, utc_group)
    assert (fired["MinSize"], fired["DesiredCapacity"]) == (1, 1)
    assert len(fired["Instances"]) == 1
    tokyo_expected = 1 if tokyo_fire <= fire_at + timedelta(seconds=30) else 0
    assert describe_group(autoscaling, tokyo_group)["DesiredCapacity"] == tokyo_expected

    sandbox.advance(max(0.0, _seconds_until(sandbox, tokyo_fire)) + 30)
    assert describe_group(autoscaling, tokyo_group)["DesiredCapacity"] == 1


def test_scheduled_actions_do_not_fire_while_suspended(sandbox, autoscaling, template, uid):
    name = group(autoscaling, f"nofire-{uid}", template)
    fire_at = _next_utc(sandbox, 9)
    autoscaling.put_scheduled_update_group_action(
        AutoScalingGroupName=name, ScheduledActionName="up", Recurrence="0 9 * * *", DesiredCapacity=2
    )
    autoscaling.suspend_processes(AutoScalingGroupName=name, ScalingProcesses=["ScheduledActions"])
    sandbox.advance(_seconds_until(sandbox, fire_at) + 30)
    assert describe_group(autoscaling, name)["DesiredCapacity"] == 0

    autoscaling.resume_processes(AutoScalingGroupName=name, ScalingProcesses=["ScheduledActions"])
    sandbox.advance(60)
    assert describe_group(autoscaling, name)["DesiredCapacity"] == 0, "a missed occurrence is not caught up"


def test_one_time_scheduled_action_fires_once_and_is_deleted(sandbox, autoscaling, template, uid):
    name = group(autoscaling, f"once-{uid}", template)
    start = datetime.fromtimestamp(sandbox.now() + 600, tz=UTC)
    autoscaling.put_scheduled_update_group_action(
        AutoScalingGroupName=name, ScheduledActionName="once", StartTime=start, MaxSize=3, DesiredCapacity=2
    )
    sandbox.advance(601)
    fired = describe_group(autoscaling, name)
    assert (fired["MaxSize"], fired["DesiredCapacity"]) == (3, 2)
    assert autoscaling.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"] == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"Recurrence": "not a cron", "DesiredCapacity": 1},
        {"Recurrence": "0 4 ? * WED#2 *", "DesiredCapacity": 1},
        {"Recurrence": "0 8 * * *"},
        {"Recurrence": "0 8 * * *", "DesiredCapacity": 1, "TimeZone": "Mars/Olympus"},
    ],
)
def test_bad_scheduled_actions_are_refused(autoscaling, template, uid, kwargs):
    name = group(autoscaling, f"badsched-{uid}", template)
    with pytest.raises(ClientError) as excinfo:
        autoscaling.put_scheduled_update_group_action(AutoScalingGroupName=name, ScheduledActionName="x", **kwargs)
    assert _error_code(excinfo) == "ValidationError"
    assert autoscaling.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"] == []
