"""The deployed form end to end on the sandbox: `asgpatch deploy`, then only the sandbox clock moves to the
window's start, and the window alone starts the execution that patches pinned, $Latest, $Default, mixed
and running groups as `asgpatch run` does — each launches a freshly patched image, capacity is back,
bystanders (untagged, another tag value, a group sharing a template with a tagged one) are untouched —
writes the report to S3 and notifies an SNS subscriber. Then the ways a deployed run can fail: a Lambda
killed mid-tick (the run resumes and still ends with the group patched) and an aborted execution (the
failure rule restores the group and the topic hears of it)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from asgpatch_sandbox.builders import base_image, describe_group, group, launch_template
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.cli import QUICK_WORLD, tags_of
from tests.integration.deployed import deploy, executions, follow, history, open_window, report_at, subscribe_queue
from tests.integration.test_compliance import scan_a_new_instance
from tests.integration.test_patch_cycle import snapshot
from tests.schemas import assert_matches_schema

TAG = "deployed"
PATCHED = ("dw-pinned", "dw-latest", "dw-default", "dw-mixed", "dw-running", "dw-shared")
BYSTANDERS = ("dw-untagged", "dw-other-value")


@pytest.fixture(scope="module")
def account() -> Iterator[SandboxProcess]:
    with SandboxProcess(*QUICK_WORLD) as process:
        yield process


def image_launched(sandbox: SandboxProcess, name: str) -> str:
    found = describe_group(sandbox.client("autoscaling"), name)
    spec = found.get("LaunchTemplate") or found["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]
    versions = sandbox.client("ec2").describe_launch_template_versions(
        LaunchTemplateId=spec["LaunchTemplateId"], Versions=[spec.get("Version", "$Default")])  # fmt: skip
    return str(versions["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"])


@pytest.fixture(scope="module")
def window(account: SandboxProcess) -> dict[str, Any]:
    ec2, autoscaling = account.client("ec2"), account.client("autoscaling")
    image = base_image(ec2, "dw-base")
    patch = {"ep:asg:patch": TAG}
    template = {name: launch_template(ec2, name, image) for name in
                ("dw-pinned", "dw-latest", "dw-default", "dw-mixed", "dw-running", "dw-untagged", "dw-other-value",
                 "dw-shared")}  # fmt: skip
    group(autoscaling, "dw-pinned", template["dw-pinned"], version="1", tags=patch)
    group(autoscaling, "dw-latest", template["dw-latest"], version="$Latest", tags=patch)
    group(autoscaling, "dw-default", template["dw-default"], version="$Default", tags=patch)
    group(autoscaling, "dw-running", template["dw-running"], version="1", min_size=1, max_size=2, desired=1,
          tags=patch)  # fmt: skip
    group(autoscaling, "dw-shared", template["dw-shared"], version="1", tags=patch)
    group(autoscaling, "dw-shared-bystander", template["dw-shared"], version="1")  # the same template, untagged
    group(autoscaling, "dw-untagged", template["dw-untagged"], version="1")
    group(autoscaling, "dw-other-value", template["dw-other-value"], version="1", tags={"ep:asg:patch": "other"})
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="dw-mixed", MinSize=0, MaxSize=3, DesiredCapacity=0, AvailabilityZones=["us-east-1a"],
        MixedInstancesPolicy={"LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateId": template["dw-mixed"], "Version": "1"},
            "Overrides": [{"InstanceType": "t3.small"}, {"InstanceType": "t3a.small"}]}},
        Tags=[{"Key": "ep:asg:patch", "Value": TAG, "PropagateAtLaunch": False}],
    )  # fmt: skip
    account.advance(5)  # the running group's instance is in service
    before = {name: describe_group(autoscaling, name) for name in (*PATCHED, "dw-shared-bystander")}
    untouched = {name: snapshot(account, name) for name in BYSTANDERS}
    outputs = deploy(account, "asgpatch-window", f"AsgTagValue={TAG}", "Concurrency=3")
    inbox = subscribe_queue(account, outputs["TopicArn"], "dw-inbox")
    assert executions(account, outputs["StateMachineArn"]) == [], "nothing runs before the window opens"
    opened = open_window(account, outputs["WindowId"])
    done = follow(account, outputs["StateMachineArn"])
    return {"outputs": outputs, "before": before, "untouched": untouched, "image": image, "opened": opened,
            "done": done, "inbox": inbox}  # fmt: skip


def test_the_window_alone_started_one_execution_that_succeeded(account, window):
    done = window["done"]
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    assert done["startDate"].timestamp() >= window["opened"]
    runs = account.client("ssm").describe_maintenance_window_executions(WindowId=window["outputs"]["WindowId"])
    assert [r["Status"] for r in runs["WindowExecutions"]] == ["SUCCESS"]
    ticks = [e for e in history(account, done["executionArn"]) if e["type"] == "TaskStateEntered"]
    assert len(ticks) >= 4, "the run took several ticks, each a Lambda invocation"


def test_the_execution_answers_run_id_report_and_counts_and_the_report_is_in_s3(account, window):
    output = json.loads(window["done"]["output"])
    assert set(output) == {"run_id", "report", "counts"} and output["counts"] == {"patched": len(PATCHED)}
    assert output["report"].startswith(f"s3://{window['outputs']['RunBucket']}/runs/")
    report = report_at(account, output["report"])
    assert_matches_schema(report, "report")
    assert {g["name"]: g["status"] for g in report["groups"]} == dict.fromkeys(PATCHED, "patched")
    assert report["run_id"] == output["run_id"]


@pytest.mark.parametrize("name", PATCHED)
def test_each_tagged_group_launches_a_new_image_with_its_capacity_back(account, window, name):
    launched = image_launched(account, name)
    assert launched != window["image"], f"{name} still launches the old image"
    (image,) = account.client("ec2").describe_images(ImageIds=[launched])["Images"]
    assert image["State"] == "available" and tags_of(image)["asgpatch:group"] == name
    found, before = describe_group(account.client("autoscaling"), name), window["before"][name]
    assert (found["MinSize"], found["MaxSize"], found["DesiredCapacity"]) == (
        before["MinSize"], before["MaxSize"], before["DesiredCapacity"])  # fmt: skip
    assert found["SuspendedProcesses"] == [] and "asgpatch:state" not in tags_of(found)


def test_an_instance_launched_from_the_new_image_misses_no_patch(account, window):
    template = describe_group(account.client("autoscaling"), "dw-latest")["LaunchTemplate"]["LaunchTemplateId"]
    state = scan_a_new_instance(account, template, "dw-latest-check")
    assert (state["MissingCount"], state["FailedCount"]) == (0, 0)


def test_bystanders_are_untouched(account, window):
    for name, seen in window["untouched"].items():
        assert snapshot(account, name) == seen, f"{name} was changed"
    assert image_launched(account, "dw-shared-bystander") == window["image"], "it launches what it launched"
    assert describe_group(account.client("autoscaling"), "dw-shared-bystander") == window["before"][
        "dw-shared-bystander"]  # fmt: skip


def test_the_topic_got_the_runs_summary(window):
    subjects = [m.get("Subject", "") for m in window["inbox"]()]
    assert any(s.startswith("asgpatch") and "patched" in s for s in subjects), subjects


# --- when a deployed run fails --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def killed(account: SandboxProcess, window: dict[str, Any]) -> dict[str, Any]:
    """A second stack whose Lambda is killed in the middle of a tick once the group is in flight."""
    ec2, autoscaling = account.client("ec2"), account.client("autoscaling")
    image = base_image(ec2, "dw-killed")
    group(autoscaling, "dw-killed", launch_template(ec2, "dw-killed", image), version="1",
          tags={"ep:asg:patch": "killed"})  # fmt: skip
    outputs = deploy(account, "asgpatch-killed", "AsgTagValue=killed", "TickSeconds=60",
                     "Schedule=cron(0 5 ? * WED#2 *)")  # fmt: skip
    open_window(account, outputs["WindowId"])
    kills: list[int] = []

    def failed_ticks() -> list[dict[str, Any]]:
        found = executions(account, outputs["StateMachineArn"])
        events = history(account, found[0]["executionArn"]) if found else []
        return [e for e in events if e["type"] == "TaskFailed"]

    def kill_in_flight() -> None:
        """Kill a running tick once the group is in flight; again (3 at most) if the kill came after the
        tick had already answered (the answer stands then, as on AWS)."""
        in_flight = "asgpatch:state" in tags_of(describe_group(autoscaling, "dw-killed"))
        running = account.control("GET", "lambda")["running"].get(outputs["FunctionName"], 0)
        if len(kills) < 3 and in_flight and running and not failed_ticks():
            kills.append(account.control("POST", "lambda/kill", {"function": outputs["FunctionName"]})["killed"])

    done = follow(account, outputs["StateMachineArn"], step=5.0, limit=300.0, on_round=kill_in_flight)
    return {"outputs": outputs, "done": done, "kills": kills, "image": image}


def test_a_lambda_killed_mid_tick_is_resumed_and_the_group_still_patched(account, killed):
    assert killed["kills"] and set(killed["kills"]) == {1}, "a running invocation was killed mid-tick"
    failures = [e for e in history(account, killed["done"]["executionArn"]) if e["type"] == "TaskFailed"]
    assert failures and failures[0]["taskFailedEventDetails"]["error"] == "Runtime.ExitError"
    assert killed["done"]["status"] == "SUCCEEDED", (killed["done"].get("error"), killed["done"].get("cause"))
    found = describe_group(account.client("autoscaling"), "dw-killed")
    assert (found["DesiredCapacity"], found["SuspendedProcesses"]) == (0, [])
    assert image_launched(account, "dw-killed") != killed["image"], "it launches the patched image"
    assert json.loads(killed["done"]["output"])["counts"] == {"patched": 1}


@pytest.fixture(scope="module")
def aborted(account: SandboxProcess, killed: dict[str, Any]) -> dict[str, Any]:
    """A third stack whose execution an operator stops while its group is scaled up for the patch."""
    ec2, autoscaling = account.client("ec2"), account.client("autoscaling")
    group(autoscaling, "dw-aborted", launch_template(ec2, "dw-aborted", base_image(ec2, "dw-aborted")), version="1",
          min_size=1, max_size=3, desired=1, tags={"ep:asg:patch": "aborted"})  # fmt: skip
    account.advance(5)
    before = describe_group(autoscaling, "dw-aborted")
    outputs = deploy(account, "asgpatch-aborted", "AsgTagValue=aborted", "Schedule=cron(0 9 ? * WED#2 *)")
    inbox = subscribe_queue(account, outputs["TopicArn"], "dw-aborted-inbox")
    open_window(account, outputs["WindowId"])
    stopped: list[str] = []

    def stop_once_scaled_up() -> None:
        found = describe_group(autoscaling, "dw-aborted")
        if not stopped and found["DesiredCapacity"] == before["DesiredCapacity"] + 1:
            (execution,) = executions(account, outputs["StateMachineArn"])
            account.client("stepfunctions").stop_execution(executionArn=execution["executionArn"])
            stopped.append(execution["executionArn"])

    done = follow(account, outputs["StateMachineArn"], step=5.0, on_round=stop_once_scaled_up)
    return {"outputs": outputs, "done": done, "before": before, "inbox": inbox, "stopped": stopped}


def test_an_aborted_execution_has_its_group_restored_by_the_failure_rule_and_the_topic_hears(account, aborted):
    assert aborted["stopped"] and aborted["done"]["status"] == "ABORTED"
    autoscaling, before = account.client("autoscaling"), aborted["before"]
    for _ in range(120):  # the rule's Lambda target restores the group asynchronously
        found = describe_group(autoscaling, "dw-aborted")
        if "asgpatch:state" not in tags_of(found) and found["DesiredCapacity"] == before["DesiredCapacity"]:
            break
        account.advance(5)
        time.sleep(0.5)
    assert (found["MinSize"], found["MaxSize"], found["DesiredCapacity"]) == (
        before["MinSize"], before["MaxSize"], before["DesiredCapacity"])  # fmt: skip
    assert found["SuspendedProcesses"] == [] and "asgpatch:state" not in tags_of(found)
    messages = aborted["inbox"]()
    assert any("ended ABORTED" in str(m.get("Message")) for m in messages), "the rule told the topic"
    assert any(str(m.get("Subject", "")).startswith("asgpatch run failed") for m in messages), "and the restore did"
