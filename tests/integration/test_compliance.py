"""Only an Install that left nothing missing produces an image — checked as a user would: an instance
launched from the patched group's template, scanned with AWS-RunPatchBaseline, misses nothing; one
launched from an unpatched group's template misses what was published."""

from __future__ import annotations

import time
from typing import Any

import pytest

from asgpatch_sandbox.builders import base_image, describe_group, group, launch_template
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.cli import cli, report_of

QUICK_RUN = ("--poll-seconds", "0.5", "--output", "json")
TAG = {"ep:asg:patch": "compliance"}


@pytest.fixture(scope="module")
def estate(quick: SandboxProcess) -> dict[str, Any]:
    ec2, autoscaling = quick.client("ec2"), quick.client("autoscaling")
    image = base_image(ec2, "compliance-base")
    templates = {name: launch_template(ec2, f"compliance-{name}", image) for name in ("clean", "partial", "bystander")}
    group(autoscaling, "compliance-clean", templates["clean"], tags=TAG)
    group(autoscaling, "compliance-partial", templates["partial"], tags={**TAG, "sandbox:patch": "partial"})
    group(autoscaling, "compliance-bystander", templates["bystander"])
    published = quick.publish_patches(3)  # AWS released three more since the base image was built
    result = cli(quick, "run", *QUICK_RUN, "--tag-value", "compliance")
    return {
        "result": result,
        "report": {g["name"]: g for g in report_of(result)["groups"]},
        "templates": templates,
        "published": published,
    }


def scan_a_new_instance(sandbox: SandboxProcess, template_id: str, name: str) -> dict[str, Any]:
    """Launch one instance the way the group would (an Auto Scaling group on the same template and
    version), wait for SSM, run AWS-RunPatchBaseline Scan on it, and return its patch state."""
    autoscaling, ssm = sandbox.client("autoscaling"), sandbox.client("ssm")
    group(autoscaling, name, template_id, version="$Latest", min_size=1, max_size=1, desired=1)
    deadline = time.monotonic() + 60
    while True:
        instances = describe_group(autoscaling, name)["Instances"]
        online = [
            i["InstanceId"] for i in instances
            if ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [i["InstanceId"]]}])[
                "InstanceInformationList"]
        ]  # fmt: skip
        if online:
            break
        assert time.monotonic() < deadline, f"{name}: no instance came up: {instances}"
        time.sleep(0.5)
    command = ssm.send_command(
        InstanceIds=online[:1], DocumentName="AWS-RunPatchBaseline", Parameters={"Operation": ["Scan"]}
    )["Command"]["CommandId"]
    while ssm.get_command_invocation(CommandId=command, InstanceId=online[0])["Status"] in ("Pending", "InProgress"):
        assert time.monotonic() < deadline + 60, "the scan did not finish"
        time.sleep(0.5)
    (state,) = ssm.describe_instance_patch_states(InstanceIds=online[:1])["InstancePatchStates"]
    return dict(state)


def test_a_scan_is_refused_with_one_line_and_nothing_changes(quick, estate):
    before = describe_group(quick.client("autoscaling"), "compliance-clean")
    result = cli(quick, "run", *QUICK_RUN, "--tag-value", "compliance", "--operation", "Scan")
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Scan would bake an image that was never patched" in result.stderr
    assert describe_group(quick.client("autoscaling"), "compliance-clean") == before


def test_the_report_carries_the_patch_instances_compliance(estate):
    clean = estate["report"]["compliance-clean"]
    assert clean["status"] == "patched", clean
    assert clean["patches"] == {"installed": estate["published"], "missing": 0, "failed": 0}


def test_patches_that_failed_to_install_fail_the_group_and_no_image_is_baked(quick, estate):
    entry = estate["report"]["compliance-partial"]
    assert entry["status"] == "failed" and "2 failed patches: no image was baked" in entry["reason"], entry
    assert entry["patches"]["failed"] == 2 and entry["image_id"] is None
    assert estate["result"].returncode == 1
    ec2 = quick.client("ec2")
    mine = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["asgpatch-compliance-partial-*"]}])
    assert mine["Images"] == []
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=estate["templates"]["partial"])
    assert [v["VersionNumber"] for v in versions["LaunchTemplateVersions"]] == [1]
    found = describe_group(quick.client("autoscaling"), "compliance-partial")
    assert (found["MinSize"], found["MaxSize"], found["DesiredCapacity"], found["SuspendedProcesses"]) == (0, 2, 0, [])


def test_an_instance_from_the_patched_template_misses_nothing_and_one_from_an_unpatched_misses_all(quick, estate):
    patched = scan_a_new_instance(quick, estate["templates"]["clean"], "compliance-check-patched")
    unpatched = scan_a_new_instance(quick, estate["templates"]["bystander"], "compliance-check-unpatched")
    assert (patched["MissingCount"], patched["FailedCount"]) == (0, 0)
    assert patched["InstalledCount"] == estate["published"]
    assert unpatched["MissingCount"] == estate["published"] and unpatched["InstalledCount"] == 0
