"""Launch templates are shared property: one account where groups share templates the way real
estates do, patched by one `asgpatch run` through the real CLI.

- A tagged group pinned to a version of a template that an untagged group follows through $Latest,
  and one whose template's $Default an untagged group follows: a new version (or a new default) would
  change what the bystander launches, so the tagged group is skipped with a reason naming it.
- Two tagged groups on one pinned version, and a third on the same template through $Default: one
  patch instance, one image, one new version, and every one of them launches it.
- A tagged pinned group and a tagged $Latest group on different versions of one template: the pinned
  one is skipped (its version would become $Latest for the other), the $Latest one is patched.
- A MixedInstancesPolicy whose override names another version of the same template (an arm64
  lineage): only the main specification moves.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from asgpatch_sandbox.builders import base_image, group, launch_template
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.cli import cli, report_of

QUICK_RUN = ("--poll-seconds", "0.5", "--output", "json")
PATCH = {"ep:asg:patch": "true"}


def launches(ec2: Any, template_id: str, version: str) -> dict[str, Any]:
    """What a group naming `version` of the template launches: the version's data, by number."""
    found = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=[version])
    return dict(found["LaunchTemplateVersions"][0])


def what_it_launches(sandbox: SandboxProcess, name: str) -> str:
    """Everything about a group and what it launches, as text (instances left out: they come and go)."""
    autoscaling, ec2 = sandbox.client("autoscaling"), sandbox.client("ec2")
    found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    found.pop("Instances", None)
    spec = found["LaunchTemplate"]
    data = launches(ec2, spec["LaunchTemplateId"], spec.get("Version", "$Default"))
    return json.dumps([found, data], default=str, sort_keys=True)


def launch_activities(autoscaling: Any, name: str) -> list[dict[str, Any]]:
    activities = autoscaling.describe_scaling_activities(AutoScalingGroupName=name)["Activities"]
    return [a for a in activities if a["Description"].startswith("Launching")]


def another_version(ec2: Any, template_id: str, image_id: str, instance_type: str = "t4g.small") -> int:
    """A second lineage of the template: version 1 with another image and instance type."""
    answer = ec2.create_launch_template_version(
        LaunchTemplateId=template_id,
        SourceVersion="1",
        VersionDescription=f"{instance_type} lineage",
        LaunchTemplateData={"ImageId": image_id, "InstanceType": instance_type},
    )
    return int(answer["LaunchTemplateVersion"]["VersionNumber"])


@pytest.fixture(scope="module")
def estate(quick: SandboxProcess) -> dict[str, Any]:
    ec2, autoscaling = quick.client("ec2"), quick.client("autoscaling")
    x86 = base_image(ec2, "estate-al2023-x86_64")
    arm = base_image(ec2, "estate-al2023-arm64")
    t = {name: launch_template(ec2, f"estate-{name}", x86) for name in ("latest-shared", "default-shared", "fleet",
                                                                         "lineages", "mixed")}  # fmt: skip
    # A pinned tagged group; an untagged group follows the same template's $Latest.
    group(autoscaling, "estate-pinned", t["latest-shared"], version="1", tags=PATCH)
    group(autoscaling, "estate-latest-bystander", t["latest-shared"], version="$Latest")
    # A tagged group on $Default; an untagged group follows the same $Default.
    group(autoscaling, "estate-default", t["default-shared"], version="$Default", tags=PATCH)
    group(autoscaling, "estate-default-bystander", t["default-shared"], version="$Default")
    # Three tagged groups on one version (1 is also $Default): one bake for all of them.
    group(autoscaling, "estate-fleet-a", t["fleet"], version="1", tags=PATCH)
    group(autoscaling, "estate-fleet-b", t["fleet"], version="1", min_size=1, max_size=2, desired=1, tags=PATCH)
    group(autoscaling, "estate-fleet-c", t["fleet"], version="$Default", tags=PATCH)
    # Two tagged lineages of one template: version 1 pinned, version 2 through $Latest.
    second = another_version(ec2, t["lineages"], x86)
    group(autoscaling, "estate-lineage-old", t["lineages"], version="1", tags=PATCH)
    group(autoscaling, "estate-lineage-latest", t["lineages"], version="$Latest", tags=PATCH)
    # A mixed policy: main on version 1 (x86), an override on version 2 of the same template (arm64).
    arm_override = another_version(ec2, t["mixed"], arm)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="estate-mixed", MinSize=0, MaxSize=3, DesiredCapacity=0, AvailabilityZones=["us-east-1a"],
        MixedInstancesPolicy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": t["mixed"], "Version": "1"},
                "Overrides": [
                    {"InstanceType": "t3.small"},
                    {"InstanceType": "t4g.small",
                     "LaunchTemplateSpecification": {"LaunchTemplateId": t["mixed"], "Version": str(arm_override)}},
                ],
            },
            "InstancesDistribution": {"OnDemandPercentageAboveBaseCapacity": 100},
        },
        Tags=[{"Key": "ep:asg:patch", "Value": "true", "PropagateAtLaunch": False}],
    )  # fmt: skip
    quick.advance(5)  # the running fleet member is in service
    bystanders = ("estate-latest-bystander", "estate-default-bystander")
    before = {name: what_it_launches(quick, name) for name in bystanders}
    fleet = ("estate-fleet-a", "estate-fleet-b", "estate-fleet-c")
    launched_before = {activity["ActivityId"] for name in fleet for activity in launch_activities(autoscaling, name)}
    plan = cli(quick, "plan", *QUICK_RUN)
    result = cli(quick, "run", *QUICK_RUN)
    return {
        "templates": t,
        "x86": x86,
        "second": second,
        "arm_override": arm_override,
        "before": before,
        "launched_before": launched_before,
        "after": {name: what_it_launches(quick, name) for name in bystanders},
        "plan": {g["name"]: g for g in report_of(plan)["groups"]},
        "report": {g["name"]: g for g in report_of(result)["groups"]},
        "result": result,
    }


def test_what_an_untagged_group_launches_is_never_changed(estate):
    assert estate["after"] == estate["before"]


@pytest.mark.parametrize(
    ("name", "bystander", "how"),
    [
        ("estate-pinned", "estate-latest-bystander", "$Latest"),
        ("estate-default", "estate-default-bystander", "$Default"),
    ],
)
def test_a_group_whose_patch_would_change_a_bystander_is_skipped_naming_it(quick, estate, name, bystander, how):
    for source in ("plan", "report"):
        entry = estate[source][name]
        assert entry["status"] == "skipped", (source, entry)
        assert bystander in entry["reason"] and how in entry["reason"], entry["reason"]
    template = estate["templates"]["latest-shared" if how == "$Latest" else "default-shared"]
    described = quick.client("ec2").describe_launch_templates(LaunchTemplateIds=[template])["LaunchTemplates"][0]
    assert (described["LatestVersionNumber"], described["DefaultVersionNumber"]) == (1, 1)


def test_groups_on_one_version_share_one_patch_instance_one_image_and_one_new_version(quick, estate):
    ec2, autoscaling = quick.client("ec2"), quick.client("autoscaling")
    fleet = ("estate-fleet-a", "estate-fleet-b", "estate-fleet-c")
    entries = [estate["report"][name] for name in fleet]
    assert [e["status"] for e in entries] == ["patched"] * 3, entries
    images = {e["image_id"] for e in entries}
    assert len(images) == 1, "one bake for one template version"
    (image,) = images
    template = estate["templates"]["fleet"]
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=template)["LaunchTemplateVersions"]
    assert sorted(v["VersionNumber"] for v in versions) == [1, 2], "one new version"
    for name in fleet:
        found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        spec = found["LaunchTemplate"]
        assert launches(ec2, template, spec.get("Version", "$Default"))["LaunchTemplateData"]["ImageId"] == image
    launched = {
        name: [a for a in launch_activities(autoscaling, name) if a["ActivityId"] not in estate["launched_before"]]
        for name in fleet
    }
    assert sum(len(found) for found in launched.values()) == 1, f"one patch instance for the fleet: {launched}"
    assert launched["estate-fleet-a"], "the bake is hosted by a group at zero: nothing serving is touched"
    made = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": ["asgpatch-estate-fleet-*"]}])
    assert [i["ImageId"] for i in made["Images"]] == [image]


def test_of_two_lineages_on_one_template_the_one_that_would_move_latest_under_the_other_is_skipped(quick, estate):
    ec2 = quick.client("ec2")
    old, latest = estate["report"]["estate-lineage-old"], estate["report"]["estate-lineage-latest"]
    assert old["status"] == "skipped" and "estate-lineage-latest" in old["reason"], old
    assert latest["status"] == "patched", latest
    data = launches(ec2, estate["templates"]["lineages"], "$Latest")
    assert data["LaunchTemplateData"]["ImageId"] == latest["image_id"]
    assert data["LaunchTemplateData"]["InstanceType"] == "t4g.small", "built from version 2, the one $Latest was"


def test_an_override_on_another_version_of_the_same_template_keeps_its_version(quick, estate):
    ec2, autoscaling = quick.client("ec2"), quick.client("autoscaling")
    entry = estate["report"]["estate-mixed"]
    assert entry["status"] == "patched", entry
    policy = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["estate-mixed"])["AutoScalingGroups"][0][
        "MixedInstancesPolicy"
    ]
    main = policy["LaunchTemplate"]["LaunchTemplateSpecification"]
    arm = next(o for o in policy["LaunchTemplate"]["Overrides"] if o["InstanceType"] == "t4g.small")
    assert arm["LaunchTemplateSpecification"]["Version"] == str(estate["arm_override"]), "the arm64 lineage stays"
    template = estate["templates"]["mixed"]
    assert launches(ec2, template, main["Version"])["LaunchTemplateData"]["ImageId"] == entry["image_id"]
    arm_data = launches(ec2, template, str(estate["arm_override"]))["LaunchTemplateData"]
    assert arm_data["ImageId"] != entry["image_id"] and arm_data["InstanceType"] == "t4g.small"


def test_the_run_exits_zero_when_only_skips_and_patches_happened(estate):
    assert estate["result"].returncode == 0, estate["result"].stderr
