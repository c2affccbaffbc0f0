"""The real CLI, as a subprocess, patching a sandbox account: every kind of group, every failure,
and the groups it must never touch compared byte for byte before and after."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from asgpatch_sandbox.builders import base_image, group, launch_template, quiet_recurrence
from asgpatch_sandbox.process import SandboxProcess
from tests.schemas import assert_matches_schema

QUICK_RUN = ("--poll-seconds", "0.5", "--output", "json")


def cli(sandbox: SandboxProcess, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "asgpatch", *args]
    environment = sandbox.environment(**(env or {}))
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=240, check=False)


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert "Traceback" not in result.stderr, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["name"]: g for g in report["groups"]}


def snapshot(sandbox: SandboxProcess, name: str) -> str:
    """Everything a user could see of a group and its template, as text."""
    autoscaling, ec2 = sandbox.client("autoscaling"), sandbox.client("ec2")
    found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    found.pop("Instances", None)
    actions = autoscaling.describe_scheduled_actions(AutoScalingGroupName=name)["ScheduledUpdateGroupActions"]
    template_id = found.get("LaunchTemplate", {}).get("LaunchTemplateId")
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)["LaunchTemplateVersions"]
    templates = ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"]
    return json.dumps([found, actions, versions, templates], default=str, sort_keys=True)


@pytest.fixture(scope="module")
def account(quick: SandboxProcess) -> dict[str, Any]:
    """One account with every kind of group, patched by one `asgpatch run`."""
    ec2, autoscaling = quick.client("ec2"), quick.client("autoscaling")
    image = base_image(ec2, "cycle-base")
    templates = {kind: launch_template(ec2, f"cycle-{kind}", image) for kind in
                 ("pinned", "latest", "default", "mixed", "mixed-sibling", "running", "untagged", "other")}  # fmt: skip
    templates["mixed-arm"] = launch_template(ec2, "cycle-mixed-arm", base_image(ec2, "cycle-arm-base"))
    patch = {"ep:asg:patch": "true"}
    group(autoscaling, "cycle-pinned", templates["pinned"], version="1", tags=patch)
    group(autoscaling, "cycle-latest", templates["latest"], version="$Latest", tags=patch)
    group(autoscaling, "cycle-default", templates["default"], version="$Default", tags=patch)
    group(autoscaling, "cycle-running", templates["running"], version="1", min_size=1, max_size=1, desired=1,
          tags=patch)  # fmt: skip
    group(autoscaling, "cycle-untagged", templates["untagged"], version="1")
    group(autoscaling, "cycle-other", templates["other"], version="1", tags={"ep:asg:patch": "false"})
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="cycle-mixed", MinSize=0, MaxSize=3, DesiredCapacity=0, AvailabilityZones=["us-east-1a"],
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": templates["mixed"], "Version": "1"},
                "Overrides": [
                    {"InstanceType": "t3.small"},
                    {"InstanceType": "t3a.small",
                     "LaunchTemplateSpecification": {"LaunchTemplateId": templates["mixed-sibling"], "Version": "1"}},
                    {"InstanceType": "t4g.small",
                     "LaunchTemplateSpecification": {"LaunchTemplateId": templates["mixed-arm"], "Version": "1"}},
                ],
            },
            "InstancesDistribution": {"OnDemandBaseCapacity": 0, "OnDemandPercentageAboveBaseCapacity": 50},
        },
        Tags=[{"Key": "ep:asg:patch", "Value": "true", "PropagateAtLaunch": False}],
    )  # fmt: skip
    for name in ("cycle-untagged", "cycle-pinned"):
        autoscaling.put_scheduled_update_group_action(
            AutoScalingGroupName=name,
            ScheduledActionName="up",
            DesiredCapacity=1,
            Recurrence=quiet_recurrence(quick.now()),
        )
    quick.advance(5)  # the running group's instance is in service
    serving = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["cycle-running"])
    before = {name: snapshot(quick, name) for name in ("cycle-untagged", "cycle-other")}
    pinned_before_plan = snapshot(quick, "cycle-pinned")
    plan = cli(quick, "plan", *QUICK_RUN)
    after_plan = {name: snapshot(quick, name) for name in ("cycle-untagged", "cycle-other", "cycle-pinned")}
    result = cli(quick, "run", *QUICK_RUN)
    return {
        "plan": plan,
        "result": result,
        "report": report_of(result),
        "before": before,
        "after_plan": after_plan,
        "pinned_before_plan": pinned_before_plan,
        "templates": templates,
        "serving": serving["AutoScalingGroups"][0]["Instances"][0]["InstanceId"],
    }


def test_the_run_exits_zero_and_prints_one_json_document(account):
    result = account["result"]
    assert result.returncode == 0, result.stderr
    report = account["report"]
    assert_matches_schema(report, "report")
    assert set(report) == {"run_id", "started_at", "finished_at", "groups"}
    for entry in report["groups"]:
        assert set(entry) == {"name", "account", "region", "status", "reason", "instance_id", "image_id",
                              "launch_template", "capacity", "patches", "actions"}  # fmt: skip
        assert (entry["account"], entry["region"]) == ("123456789012", "us-east-1")
        assert entry["actions"] is None, "a run's report lists no planned actions"


def run_dates(report: dict[str, Any]) -> set[str]:
    """The UTC dates the run spanned (YYYY-MM-DD)."""
    return {report["started_at"][:10], report["finished_at"][:10]}


@pytest.mark.parametrize("name", ["cycle-pinned", "cycle-latest", "cycle-default", "cycle-mixed", "cycle-running"])
def test_every_tagged_group_is_patched_and_launches_the_new_image(quick, account, name):
    entry = by_name(account["report"])[name]
    assert entry["status"] == "patched", entry["reason"]
    assert entry["image_id"].startswith("ami-")
    ec2, autoscaling = quick.client("ec2"), quick.client("autoscaling")
    image = ec2.describe_images(ImageIds=[entry["image_id"]])["Images"][0]
    assert image["State"] == "available"
    assert name in image["Name"] and account["report"]["run_id"] in image["Name"]
    tags = {t["Key"]: t["Value"] for t in image["Tags"]}
    assert (tags["asgpatch:group"], tags["asgpatch:run"]) == (name, account["report"]["run_id"])
    assert tags["asgpatch:source-ami"].startswith("ami-") and tags["asgpatch:date"] in run_dates(account["report"])
    snapshot_ids = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"] if "Ebs" in m]
    assert snapshot_ids
    for snapshot in ec2.describe_snapshots(SnapshotIds=snapshot_ids)["Snapshots"]:
        assert {t["Key"]: t["Value"] for t in snapshot["Tags"]}["asgpatch:run"] == account["report"]["run_id"]
    found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    spec = found.get("LaunchTemplate") or found["MixedInstancesPolicy"]["LaunchTemplate"]["LaunchTemplateSpecification"]
    version = spec.get("Version", "$Default")
    resolved = ec2.describe_launch_template_versions(LaunchTemplateId=spec["LaunchTemplateId"], Versions=[version])
    assert resolved["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"] == entry["image_id"], (
        f"{name} ({version}) must now launch the patched image"
    )
    assert entry["launch_template"]["version"] == entry["launch_template"]["previous_version"] + 1


def test_capacity_and_processes_are_put_back(quick, account):
    autoscaling = quick.client("autoscaling")
    expected = {"cycle-pinned": (0, 2, 0), "cycle-latest": (0, 2, 0), "cycle-default": (0, 2, 0),
                "cycle-mixed": (0, 3, 0), "cycle-running": (1, 1, 1)}  # fmt: skip
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=list(expected))["AutoScalingGroups"]
    for found in groups:
        name = found["AutoScalingGroupName"]
        assert (found["MinSize"], found["MaxSize"], found["DesiredCapacity"]) == expected[name], name
        assert found["SuspendedProcesses"] == [], name
        assert not any(i["ProtectedFromScaleIn"] for i in found["Instances"]), name
        tags = {t["Key"]: t["Value"] for t in found["Tags"]}
        assert "asgpatch:state" not in tags
        assert tags["asgpatch:last-result"].startswith(f"{account['report']['run_id']} patched ami-")
    running = next(g for g in groups if g["AutoScalingGroupName"] == "cycle-running")
    assert [i["InstanceId"] for i in running["Instances"]] == [account["serving"]], "only the patch instance left"


def test_override_templates_on_the_same_image_follow_and_others_are_left_alone(quick, account):
    ec2, autoscaling = quick.client("ec2"), quick.client("autoscaling")
    entry = by_name(account["report"])["cycle-mixed"]
    policy = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["cycle-mixed"])["AutoScalingGroups"][0][
        "MixedInstancesPolicy"
    ]
    overrides = {o["InstanceType"]: o.get("LaunchTemplateSpecification") for o in policy["LaunchTemplate"]["Overrides"]}
    sibling = overrides["t3a.small"]
    assert sibling["Version"] == "2"
    data = ec2.describe_launch_template_versions(LaunchTemplateId=sibling["LaunchTemplateId"], Versions=["2"])
    assert data["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"] == entry["image_id"]
    assert overrides["t4g.small"]["Version"] == "1", "another image lineage (e.g. arm64) is not given an x86 AMI"
    arm = ec2.describe_launch_template_versions(LaunchTemplateId=account["templates"]["mixed-arm"])
    assert [v["VersionNumber"] for v in arm["LaunchTemplateVersions"]] == [1]
    assert policy["InstancesDistribution"]["OnDemandPercentageAboveBaseCapacity"] == 50


def test_the_new_version_keeps_every_field_of_the_source(quick, account):
    ec2 = quick.client("ec2")
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=account["templates"]["pinned"])
    by_number = {v["VersionNumber"]: v for v in versions["LaunchTemplateVersions"]}
    old, new = by_number[1]["LaunchTemplateData"], by_number[2]["LaunchTemplateData"]
    assert new["ImageId"] != old["ImageId"]
    assert {k: v for k, v in new.items() if k != "ImageId"} == {k: v for k, v in old.items() if k != "ImageId"}
    for field in ("UserData", "IamInstanceProfile", "SecurityGroupIds", "BlockDeviceMappings", "TagSpecifications"):
        assert field in new
    assert account["report"]["run_id"] in by_number[2]["VersionDescription"]


def test_untagged_and_other_value_groups_are_byte_identical(quick, account):
    for name, before in account["before"].items():
        assert snapshot(quick, name) == before, f"{name} was changed"
    entries = by_name(account["report"])
    assert "cycle-untagged" not in entries and "cycle-other" not in entries, "not even considered"


def test_plan_changes_nothing_and_says_what_would_happen(quick, account):
    plan = account["plan"]
    assert plan.returncode == 0, plan.stderr
    report = report_of(plan)
    assert_matches_schema(report, "report")
    statuses = {g["name"]: g["status"] for g in report["groups"]}
    assert statuses == {name: "would-patch" for name in
                        ("cycle-pinned", "cycle-latest", "cycle-default", "cycle-mixed", "cycle-running")}  # fmt: skip
    assert by_name(report)["cycle-default"]["launch_template"]["previous_version"] == 1
    running = by_name(report)["cycle-running"]["actions"]
    assert running[0].startswith("claim asgpatch:lease for run ")
    assert running[-1].startswith("set min/max/desired to -/")
    assert "record preparing in asgpatch:state" in running and any(a.startswith("suspend ") for a in running)
    for name in ("cycle-untagged", "cycle-other"):
        assert account["after_plan"][name] == account["before"][name]
    assert account["after_plan"]["cycle-pinned"] == account["pinned_before_plan"], "plan touched a tagged group"


def test_the_report_file_holds_the_same_document(quick, account, tmp_path):
    path = tmp_path / "report.json"
    result = cli(quick, "plan", *QUICK_RUN, "--asg", "cycle-pinned", "--report", str(path))
    assert result.returncode == 0, result.stderr
    assert json.loads(path.read_text()) == json.loads(result.stdout)


def test_narrowing_to_an_untagged_group_reports_it_skipped_and_changes_nothing(quick, account):
    before = snapshot(quick, "cycle-untagged")
    result = cli(quick, "run", *QUICK_RUN, "--asg", "cycle-untagged")
    assert result.returncode == 0, result.stderr
    entry = by_name(report_of(result))["cycle-untagged"]
    assert entry["status"] == "skipped" and "ep:asg:patch=true" in entry["reason"]
    assert snapshot(quick, "cycle-untagged") == before


FAILURES = {
    "launch": ("sandbox:launch", "fail", "InService"),
    "ssm": ("sandbox:ssm", "offline", "SSM agent"),
    "patch": ("sandbox:patch", "fail", "ended Failed"),
    "hang": ("sandbox:patch", "hang", "did not finish"),
    "image": ("sandbox:image", "fail", "failed"),
}


@pytest.fixture(scope="module")
def failures(quick: SandboxProcess) -> dict[str, Any]:
    ec2, autoscaling = quick.client("ec2"), quick.client("autoscaling")
    image = base_image(ec2, "fail-base")
    for kind, (key, value, _) in FAILURES.items():
        template = launch_template(ec2, f"fail-{kind}", image)
        group(autoscaling, f"fail-{kind}", template, version="1",
              tags={"ep:asg:patch": "true", "team": "x", key: value})  # fmt: skip
    sns, sqs = quick.client("sns"), quick.client("sqs")
    topic = sns.create_topic(Name="patching")["TopicArn"]
    queue = sqs.create_queue(QueueName="patching-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    timeouts = ("--launch-timeout", "6", "--ssm-timeout", "4", "--patch-timeout", "6", "--image-timeout", "6")
    result = cli(quick, "run", *QUICK_RUN, "--tag-key", "team", "--tag-value", "x", *timeouts, "--sns-topic-arn", topic)
    messages = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        messages += [json.loads(m["Body"]) for m in batch]
        sqs.delete_message_batch(QueueUrl=queue, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])  # fmt: skip
    return {"result": result, "report": report_of(result), "messages": messages}


def test_a_failed_group_exits_one(failures):
    assert failures["result"].returncode == 1


def test_sns_gets_one_summary_and_one_message_per_failed_group(failures):
    attributes = [{k: v["Value"] for k, v in m.get("MessageAttributes", {}).items()} for m in failures["messages"]]
    summaries = [a for a in attributes if "group" not in a]
    per_group = sorted(a["group"] for a in attributes if "group" in a)
    assert len(summaries) == 1 and summaries[0]["status"] == "failed"
    assert summaries[0]["run_id"] == failures["report"]["run_id"]
    assert per_group == sorted(f"fail-{kind}" for kind in FAILURES)
    assert all(len(m["Subject"]) < 100 for m in failures["messages"])


@pytest.mark.parametrize("kind", list(FAILURES))
def test_each_failure_is_reported_and_the_group_restored(quick, failures, kind):
    name = f"fail-{kind}"
    entry = by_name(failures["report"])[name]
    assert entry["status"] == "failed"
    assert FAILURES[kind][2] in entry["reason"]
    autoscaling, ec2 = quick.client("autoscaling"), quick.client("ec2")
    found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    assert (found["MinSize"], found["MaxSize"], found["DesiredCapacity"]) == (0, 2, 0)
    assert found["SuspendedProcesses"] == []
    tags = {t["Key"]: t["Value"] for t in found["Tags"]}
    assert "asgpatch:state" not in tags and " failed " in tags["asgpatch:last-result"]
    versions = ec2.describe_launch_template_versions(LaunchTemplateName=name)["LaunchTemplateVersions"]
    assert [v["VersionNumber"] for v in versions] == [1], "a failed group's template is unchanged"
    leftover = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [f"asgpatch-{name}-*"]}])
    assert leftover["Images"] == [], "a failed image is deregistered"


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (("--asg", "no-such-group"), {}, "no Auto Scaling group named no-such-group"),
        (("--tag-key", ""), {}, "tag key must not be empty"),
        (("--concurrency", "0"), {}, "--concurrency"),
        (("--endpoint-url", "http://127.0.0.1:9"), {}, "cannot reach"),
        (("--region", "xx-nowhere-1"), {}, "Credential should be scoped to a valid region, not 'xx-nowhere-1'"),
        ((), {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
              "AWS_CONFIG_FILE": "/nonexistent"}, "credentials"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_two_and_changes_nothing(quick, account, args, env, message):
    before = snapshot(quick, "cycle-pinned")
    result = cli(quick, "run", *QUICK_RUN, *args, env=env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""
    assert snapshot(quick, "cycle-pinned") == before


def test_aws_region_alone_is_enough_as_the_readme_says(quick, account):
    """botocore reads only AWS_DEFAULT_REGION; AWS_REGION is what the README and the AWS CLI v2 use."""
    environment = {k: v for k, v in quick.environment().items() if k != "AWS_DEFAULT_REGION"}
    environment["AWS_REGION"] = "us-east-1"
    result = subprocess.run(
        [sys.executable, "-m", "asgpatch", "status", "--output", "json"],
        capture_output=True, text=True, env=environment, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "cycle-default" in {row["name"] for row in json.loads(result.stdout)["groups"]}


def test_a_malformed_config_file_is_exit_two(quick, tmp_path):
    bad = tmp_path / "asgpatch.toml"
    bad.write_text("tag_key = [unclosed\n")
    result = cli(quick, "run", *QUICK_RUN, "--config", str(bad))
    assert result.returncode == 2
    assert "asgpatch.toml" in result.stderr and "Traceback" not in result.stderr


def test_status_shows_each_tagged_group_with_its_image_and_last_result(quick, account):
    result = cli(quick, "status", "--output", "json")
    assert result.returncode == 0, result.stderr
    assert_matches_schema(json.loads(result.stdout), "status")
    rows = {row["name"]: row for row in json.loads(result.stdout)["groups"]}
    patched = by_name(account["report"])["cycle-default"]
    assert rows["cycle-default"]["image_id"] == patched["image_id"]
    assert rows["cycle-default"]["image_age_days"] is not None and rows["cycle-default"]["image_age_days"] < 1
    assert rows["cycle-default"]["last_result"].startswith(account["report"]["run_id"])
    assert rows["cycle-default"]["in_flight"] is None
    assert "cycle-untagged" not in rows
