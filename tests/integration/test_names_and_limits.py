"""Group names as AWS allows them — characters outside the AMI alphabet, 255 characters — and every
value asgpatch writes within AWS's limits (AMI name 128, description 255, tag value 256)."""

from __future__ import annotations

from typing import Any

import pytest

from asgpatch_sandbox.builders import base_image, group, launch_template
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.cli import cli, report_of

QUICK_RUN = ("--poll-seconds", "0.5", "--output", "json")
LONGEST = "w" * 200 + "-eu-west-1-production-frontend-blue-green-canary-" + "x" * 6  # 255 characters
NAMES = ("web+a", "web=a", "web a", "web/a", LONGEST)


@pytest.fixture(scope="module")
def estate(quick: SandboxProcess) -> dict[str, Any]:
    ec2, autoscaling = quick.client("ec2"), quick.client("autoscaling")
    assert len(LONGEST) == 255
    image = base_image(ec2, "names-base")
    for index, name in enumerate(NAMES):
        template = launch_template(ec2, f"names-{index}", image)
        group(autoscaling, name, template, version="1", tags={"ep:asg:patch": "names"})
    result = cli(quick, "run", *QUICK_RUN, "--tag-value", "names")
    return {"result": result, "report": {g["name"]: g for g in report_of(result)["groups"]}}


def test_every_group_is_patched_with_an_image_of_its_own(quick, estate):
    assert estate["result"].returncode == 0, estate["result"].stderr
    entries = [estate["report"][name] for name in NAMES]
    assert [e["status"] for e in entries] == ["patched"] * len(NAMES), [e["reason"] for e in entries]
    images = [e["image_id"] for e in entries]
    assert len(set(images)) == len(NAMES), "groups whose names differ only outside the AMI alphabet share no image"
    described = quick.client("ec2").describe_images(ImageIds=images)["Images"]
    for found in described:
        tags = {t["Key"]: t["Value"] for t in found["Tags"]}
        owner = next(name for name in NAMES if estate["report"][name]["image_id"] == found["ImageId"])
        assert tags["asgpatch:group"] == owner
        assert len(found["Name"]) <= 128 and len(found.get("Description", "")) <= 255
        assert all(len(value) <= 256 for value in tags.values())


def test_the_longest_group_name_gets_a_description_within_aws_limits(quick, estate):
    entry = estate["report"][LONGEST]
    found = quick.client("ec2").describe_images(ImageIds=[entry["image_id"]])["Images"][0]
    assert 0 < len(found["Description"]) <= 255
    assert found["Description"].startswith(LONGEST[:40]), "the description still names the group"


def test_the_sandbox_refuses_a_description_over_255_characters_as_ec2_does(quick):
    from botocore.exceptions import ClientError

    ec2 = quick.client("ec2")
    reservation = ec2.run_instances(ImageId=base_image(ec2, "names-long-desc"), MinCount=1, MaxCount=1)
    instance = reservation["Instances"][0]["InstanceId"]
    with pytest.raises(ClientError) as excinfo:
        ec2.create_image(InstanceId=instance, Name="names-long-description", Description="d" * 256)
    assert excinfo.value.response["Error"]["Code"] == "InvalidParameterValue"
