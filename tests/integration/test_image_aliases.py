"""Launch templates whose ImageId is a `resolve:ssm:` alias — AWS's own AL2023 parameter, or one of the
account's — patched through the real CLI: no crash, no half-restored group, and a report that says the
new version pins the patched AMI instead of following the parameter."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from asgpatch_sandbox.builders import base_image, describe_group, group, security_group, template_data
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.cli import cli, report_of

AL2023 = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
GOLDEN = "resolve:ssm:/golden/web/ami"
RUN = ("--poll-seconds", "0.5", "--output", "json", "--tag-value", "alias", "--launch-timeout", "60")


def alias_template(ec2: Any, name: str, alias: str) -> str:
    data = template_data("ami-placeholder", security_group=security_group(ec2, f"sg-{name}"))
    data["ImageId"] = alias
    return str(
        ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData=data)["LaunchTemplate"][
            "LaunchTemplateId"
        ]
    )


@pytest.fixture(scope="module")
def estate(quick: SandboxProcess) -> dict[str, Any]:
    ec2, autoscaling, ssm = quick.client("ec2"), quick.client("autoscaling"), quick.client("ssm")
    golden = base_image(ec2, "alias-golden-base")
    ssm.put_parameter(Name="/golden/web/ami", Value=golden, Type="String", DataType="aws:ec2:image")
    templates = {"aws": alias_template(ec2, "alias-aws", AL2023), "golden": alias_template(ec2, "alias-golden", GOLDEN)}
    for kind, template in templates.items():
        group(autoscaling, f"alias-{kind}", template, tags={"ep:asg:patch": "alias"})
    result = cli(quick, "run", *RUN)
    return {"result": result, "report": {g["name"]: g for g in report_of(result)["groups"]}, "templates": templates,
            "golden": golden}  # fmt: skip


@pytest.mark.parametrize(("kind", "alias"), [("aws", AL2023), ("golden", GOLDEN)])
def test_a_group_on_an_alias_is_patched_and_told_its_template_now_pins_the_ami(quick, estate, kind, alias):
    ec2 = quick.client("ec2")
    entry = estate["report"][f"alias-{kind}"]
    assert estate["result"].returncode == 0, estate["result"].stderr
    assert entry["status"] == "patched", entry
    assert alias in entry["reason"] and "pins" in entry["reason"], entry["reason"]
    new = ec2.describe_launch_template_versions(LaunchTemplateId=estate["templates"][kind], Versions=["2"])
    assert new["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"] == entry["image_id"]
    image = ec2.describe_images(ImageIds=[entry["image_id"]])["Images"][0]
    tags = {t["Key"]: t["Value"] for t in image["Tags"]}
    source = ec2.describe_launch_template_versions(
        LaunchTemplateId=estate["templates"][kind], Versions=["1"], ResolveAlias=True
    )["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"]
    assert source.startswith("ami-") and tags["asgpatch:source-ami"] == source
    if kind == "golden":
        assert source == estate["golden"]
    found = describe_group(quick.client("autoscaling"), f"alias-{kind}")
    assert (found["MinSize"], found["MaxSize"], found["DesiredCapacity"], found["SuspendedProcesses"]) == (0, 2, 0, [])


def test_the_sandbox_resolves_aliases_as_ec2_does(quick):
    ec2, autoscaling = quick.client("ec2"), quick.client("autoscaling")
    template = alias_template(ec2, "alias-resolution", AL2023)
    shown = ec2.describe_launch_template_versions(LaunchTemplateId=template)["LaunchTemplateVersions"][0]
    resolved = ec2.describe_launch_template_versions(LaunchTemplateId=template, ResolveAlias=True)[
        "LaunchTemplateVersions"][0]  # fmt: skip
    assert shown["LaunchTemplateData"]["ImageId"] == AL2023
    ami = resolved["LaunchTemplateData"]["ImageId"]
    assert ami.startswith("ami-")
    public = ec2.describe_images(ImageIds=[ami])["Images"][0]
    assert public["Public"] and public["ImageOwnerAlias"] == "amazon"
    group(autoscaling, "alias-resolution", template, min_size=1, max_size=1, desired=1)
    quick.advance(5)
    (instance,) = describe_group(autoscaling, "alias-resolution")["Instances"]
    launched = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert launched["ImageId"] == ami


def test_an_alias_that_names_no_parameter_fails_the_launch_with_a_reason(quick):
    ec2, autoscaling = quick.client("ec2"), quick.client("autoscaling")
    template = alias_template(ec2, "alias-missing", "resolve:ssm:/nobody/set/this")
    group(autoscaling, "alias-missing", template, min_size=1, max_size=1, desired=1)
    quick.advance(2)
    assert describe_group(autoscaling, "alias-missing")["Instances"] == []
    activity = autoscaling.describe_scaling_activities(AutoScalingGroupName="alias-missing")["Activities"][0]
    assert activity["StatusCode"] == "Failed" and "/nobody/set/this" in activity["StatusMessage"]


def test_the_new_version_keeps_everything_but_the_image(quick, estate):
    versions = quick.client("ec2").describe_launch_template_versions(LaunchTemplateId=estate["templates"]["golden"])
    old, new = (
        v["LaunchTemplateData"] for v in sorted(versions["LaunchTemplateVersions"], key=lambda v: v["VersionNumber"])
    )
    assert old["ImageId"] == GOLDEN and new["ImageId"].startswith("ami-")
    assert {k: v for k, v in new.items() if k != "ImageId"} == {k: v for k, v in old.items() if k != "ImageId"}
    assert base64.b64decode(new["UserData"]).startswith(b"#!/bin/bash")
