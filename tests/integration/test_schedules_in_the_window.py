"""A schedule that comes due mid-window: Auto Scaling skips the action while ScheduledActions is
suspended, so the restore must put each group where its own schedule says it should be by now.

The patch takes 95 s on this sandbox, so the minute boundary after the next 20 s — when the groups'
scale-up is scheduled — always falls while asgpatch holds the processes suspended."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from asgpatch_sandbox.builders import base_image, describe_group, group, launch_template
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.cli import cli, report_of

WINDOW_WORLD = ("--launch-seconds", "1", "--ssm-seconds", "1", "--patch-seconds", "95", "--image-seconds", "2")
MARGIN = 20  # seconds for the run to start and suspend the processes, on a busy machine too
TAG = {"ep:asg:patch": "schedule"}
RUN = ("--poll-seconds", "0.5", "--output", "json", "--tag-value", "schedule")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def window() -> Iterator[SandboxProcess]:
    with SandboxProcess(*WINDOW_WORLD) as process:
        yield process


def next_minute(now: float) -> datetime:
    """The first minute boundary at least MARGIN seconds away: asgpatch has suspended the processes by then,
    and the patch (95 s) outlasts it."""
    moment = datetime.fromtimestamp(now + MARGIN, tz=UTC)
    return (moment + timedelta(minutes=1)).replace(second=0, microsecond=0)


@pytest.fixture(scope="module")
def estate(window: SandboxProcess) -> dict[str, Any]:
    ec2, autoscaling = window.client("ec2"), window.client("autoscaling")
    image = base_image(ec2, "schedule-base")
    due = next_minute(window.now())
    cron = f"{due.minute} {due.hour} * * *"
    sizes = {"schedule-zero": (0, 4, 0), "schedule-running": (1, 4, 1), "schedule-bystander": (0, 4, 0)}
    for name, (low, high, desired) in sizes.items():
        template = launch_template(ec2, name, image)
        tags = TAG if name != "schedule-bystander" else {}
        group(autoscaling, name, template, min_size=low, max_size=high, desired=desired, tags=tags)
    scaled = {"schedule-zero": (1, 4, 2), "schedule-running": (None, None, 3), "schedule-bystander": (1, 4, 1)}
    for name, (low, high, desired) in scaled.items():
        given = (("MinSize", low), ("MaxSize", high), ("DesiredCapacity", desired))
        sizes_given = {key: value for key, value in given if value is not None}
        autoscaling.put_scheduled_update_group_action(
            AutoScalingGroupName=name, ScheduledActionName="morning", Recurrence=cron, **sizes_given
        )
    window.advance(2)  # the running group's instance is in service (a sandbox clock two seconds ahead)
    serving = {i["InstanceId"] for i in describe_group(autoscaling, "schedule-running")["Instances"]}
    plan = cli(window, "plan", *RUN, "--deadline", (due + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert time.time() < due.timestamp() - 5, "the plan took the margin: the schedule would fire before the run"
    result = cli(window, "run", *RUN)
    assert time.time() > due.timestamp(), "the run must outlast the scheduled time"
    window.advance(10)  # what the restore launched comes up
    return {
        "plan": {g["name"]: g for g in report_of(plan)["groups"]},
        "report": {g["name"]: g for g in report_of(result)["groups"]},
        "result": result,
        "due": due,
        "serving": serving,
    }


def sizes(sandbox: SandboxProcess, name: str) -> tuple[int, int, int]:
    found = describe_group(sandbox.client("autoscaling"), name)
    return found["MinSize"], found["MaxSize"], found["DesiredCapacity"]


def test_plan_shows_the_scheduled_actions_that_fall_inside_the_window(estate):
    for name in ("schedule-zero", "schedule-running"):
        reason = estate["plan"][name]["reason"]
        assert "morning" in reason and estate["due"].strftime("%H:%M") in reason, reason


@pytest.mark.parametrize(("name", "expected"), [("schedule-zero", (1, 4, 2)), ("schedule-running", (1, 4, 3))])
def test_a_group_ends_where_its_schedule_says_and_the_report_names_the_action(window, estate, name, expected):
    entry = estate["report"][name]
    assert entry["status"] == "patched", entry
    assert sizes(window, name) == expected
    assert "morning" in entry["reason"] and "applied" in entry["reason"], entry["reason"]
    found = describe_group(window.client("autoscaling"), name)
    assert found["SuspendedProcesses"] == []
    live = [i for i in found["Instances"] if i["LifecycleState"] in ("Pending", "InService")]
    assert len(live) == expected[2]
    template = found["LaunchTemplate"]
    version = window.client("ec2").describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"], Versions=[template["Version"]]
    )["LaunchTemplateVersions"][0]
    launched_since = [i for i in live if i["InstanceId"] not in estate["serving"]]
    assert len(launched_since) == expected[2] - (1 if name == "schedule-running" else 0)
    for instance in launched_since:
        assert instance["LaunchTemplate"]["Version"] == str(version["VersionNumber"]), "they launch the patched image"
        assert not instance["ProtectedFromScaleIn"]


def test_a_group_outside_the_run_follows_its_schedule_untouched(window, estate):
    assert "schedule-bystander" not in estate["report"]
    assert sizes(window, "schedule-bystander") == (1, 4, 1), "Auto Scaling ran its action: it was never suspended"
