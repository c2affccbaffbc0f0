"""A run over two regions on the sandbox: the same group name in each is two groups, each patched in its
own region — its image, its template version and every call made for it there — and the report says
which region each line is. Driven through the CLI (`--region` twice) and, to see every request, in
process with one capturing cloud per region."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from asgpatch import runner
from asgpatch.config import RunConfig
from asgpatch.model import Settings
from asgpatch.shards import Shard
from asgpatch_sandbox.builders import base_image, describe_group, group, launch_template
from asgpatch_sandbox.process import SandboxProcess
from tests.integration.cli import cli
from tests.integration.inprocess import Request, capturing_cloud
from tests.schemas import assert_matches_schema

REGIONS = ("us-east-1", "eu-west-1")
QUICK_RUN = ("--poll-seconds", "0.5", "--output", "json")
NAMING = {"AutoScalingGroupName", "ResourceId", "AutoScalingGroupNames"}


def build(sandbox: SandboxProcess, value: str, names: tuple[str, ...]) -> dict[str, Any]:
    """In each region: the groups `names` tagged ep:asg:patch=`value` (one per region with its region in its
    name, one named the same in both), and an untagged bystander."""
    before = {}
    for region in REGIONS:
        ec2, autoscaling = sandbox.client("ec2", region=region), sandbox.client("autoscaling", region=region)
        image = base_image(ec2, f"{value}-base")
        for name in (*names, f"{value}-{region}"):
            group(autoscaling, name, launch_template(ec2, f"{name}-lt", image), tags={"ep:asg:patch": value})
        group(autoscaling, f"{value}-bystander", launch_template(ec2, f"{value}-by", image), tags={"team": "data"})
        before[region] = describe_group(autoscaling, f"{value}-bystander")
    return before


def launched_image(sandbox: SandboxProcess, region: str, name: str) -> str:
    ec2 = sandbox.client("ec2", region=region)
    found = describe_group(sandbox.client("autoscaling", region=region), name)
    spec = found["LaunchTemplate"]
    answer = ec2.describe_launch_template_versions(
        LaunchTemplateId=spec["LaunchTemplateId"], Versions=[spec["Version"]]
    )
    return str(answer["LaunchTemplateVersions"][0]["LaunchTemplateData"]["ImageId"])


def test_a_run_over_two_regions_patches_each_groups_in_its_own_region(quick: SandboxProcess) -> None:
    before = build(quick, "two-regions", ("two-regions-web",))
    result = cli(quick, "run", *QUICK_RUN, "--tag-value", "two-regions", "--region", "us-east-1",
                 "--region", "eu-west-1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert_matches_schema(report, "report")
    lines = {(g["region"], g["name"]): g for g in report["groups"]}
    expected = {(r, n) for r in REGIONS for n in ("two-regions-web", f"two-regions-{r}")}
    assert set(lines) == expected and {g["status"] for g in lines.values()} == {"patched"}
    assert {g["account"] for g in lines.values()} == {"123456789012"}
    for region, name in expected:
        ec2 = quick.client("ec2", region=region)
        image = lines[(region, name)]["image_id"]
        assert ec2.describe_images(ImageIds=[image])["Images"][0]["State"] == "available", "baked in its region"
        assert launched_image(quick, region, name) == image, f"{region}/{name} launches its own region's image"
        found = describe_group(quick.client("autoscaling", region=region), name)
        assert (found["MinSize"], found["MaxSize"], found["DesiredCapacity"]) == (0, 2, 0)
        bystander = describe_group(quick.client("autoscaling", region=region), "two-regions-bystander")
        assert bystander == before[region], "a group without the patch tag is not touched in any region"
    assert lines[("us-east-1", "two-regions-web")]["image_id"] != lines[("eu-west-1", "two-regions-web")]["image_id"]
    status = cli(
        quick,
        "status",
        "--tag-value",
        "two-regions",
        "--region",
        "us-east-1",
        "--region",
        "eu-west-1",
        "--output",
        "json",
    )
    rows = json.loads(status.stdout)["groups"]
    assert_matches_schema(json.loads(status.stdout), "status")
    assert {(row["region"], row["name"]) for row in rows} == expected


def named(request: Request) -> set[str]:
    found: set[str] = set()
    for key, value in request[2].items():
        if key in NAMING:
            found |= set(value) if isinstance(value, list) else {str(value)}
        if key == "Tags":
            found |= {str(tag.get("ResourceId")) for tag in value if isinstance(tag, dict)}
    return found


def test_every_call_made_for_a_group_goes_to_its_own_region(sandbox: SandboxProcess) -> None:
    build(sandbox, "region-calls", ())
    seen: dict[str, list[Request]] = {}
    shards = []
    clock = None
    for region in REGIONS:
        cloud, clock, seen[region] = capturing_cloud(sandbox, region)
        shards.append(Shard(cloud, region, cloud.account))
    assert clock is not None
    config = RunConfig(poll_seconds=20, settings=Settings(tag_key="ep:asg:patch", tag_value="region-calls"))
    report = runner.run(shards, config, "20261209T040000Z-4d4d", clock)
    assert {(g["region"], g["status"]) for g in report["groups"]} == {(r, "patched") for r in REGIONS}, [
        (g["region"], g["reason"]) for g in report["groups"]
    ]
    for region in REGIONS:
        other = next(r for r in REGIONS if r != region)
        mentioned = set().union(*(named(request) for request in seen[region]))
        assert f"region-calls-{region}" in mentioned, f"the {region} group was worked on in {region}"
        assert f"region-calls-{other}" not in mentioned, f"a call for the {other} group went to {region}"
    with pytest.raises(runner.UsageError, match="nowhere"):
        runner.run(shards, RunConfig(asg_names=("nowhere",)), "20261209T050000Z-4d4d", clock)


def test_a_tick_driven_run_over_two_regions_ends_with_each_region_patched(quick: SandboxProcess, tmp_path) -> None:
    build(quick, "tick-regions", ())
    state = str(tmp_path / "run.json")
    arguments = ("tick", "--state", state, *QUICK_RUN, "--tag-value", "tick-regions", "--region", "us-east-1",
                 "--region", "eu-west-1")  # fmt: skip
    for _ in range(200):
        result = cli(quick, *arguments)
        assert result.returncode in (0, 75), result.stderr
        document = json.loads(result.stdout)
        assert_matches_schema(document, "tick")
        if document["done"]:
            break
        time.sleep(document["wait_seconds"])
    assert result.returncode == 0 and document["done"]
    assert {(g["region"], g["name"], g["status"]) for g in document["groups"]} == {
        (region, f"tick-regions-{region}", "patched") for region in REGIONS
    }
    stored = json.loads(Path(state).read_text())
    assert stored["shards"] == [["123456789012", region] for region in REGIONS]


class Stop(Exception):
    """The run is stopped once both regions' groups are scaled up."""


def test_recover_over_two_regions_puts_each_region_back(sandbox: SandboxProcess) -> None:
    build(sandbox, "recover-regions", ())
    shards, clock = [], None
    for region in REGIONS:
        cloud, clock, _ = capturing_cloud(sandbox, region)
        shards.append(Shard(cloud, region, cloud.account))
    assert clock is not None
    settings = Settings(tag_key="ep:asg:patch", tag_value="recover-regions", lease_seconds=60)
    scaled: list[str] = []

    def stop_once_both_scaled(action: object) -> None:
        if type(action).__name__ == "SetCapacity":
            scaled.append(getattr(action, "group", ""))
            if len(scaled) == len(REGIONS):
                raise Stop

    with pytest.raises(Stop):
        runner.run(shards, RunConfig(poll_seconds=20, settings=settings), "20261209T040000Z-6e6e", clock,
                   on_action=stop_once_both_scaled)  # fmt: skip
    for region in REGIONS:
        found = describe_group(sandbox.client("autoscaling", region=region), f"recover-regions-{region}")
        assert found["DesiredCapacity"] == 1 and "asgpatch:state" in {t["Key"] for t in found["Tags"]}
    sandbox.advance(settings.lease_seconds + 1)
    report = runner.recover(shards, RunConfig(poll_seconds=20, settings=settings), "20261209T050000Z-6e6e", clock)
    assert_matches_schema(report, "report")
    assert {(g["region"], g["name"]) for g in report["groups"]} == {(r, f"recover-regions-{r}") for r in REGIONS}
    for region in REGIONS:
        found = describe_group(sandbox.client("autoscaling", region=region), f"recover-regions-{region}")
        assert (found["MinSize"], found["MaxSize"], found["DesiredCapacity"]) == (0, 2, 0), region
        assert found["SuspendedProcesses"] == [] and "asgpatch:state" not in {t["Key"] for t in found["Tags"]}
