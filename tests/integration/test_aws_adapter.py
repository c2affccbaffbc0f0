"""The AWS adapter against the sandbox: discovery, batched observation, every action, setup errors.

The session sandbox launches in 30 s, registers with SSM 20 s after running, runs commands for 60 s and
bakes images in 45 s; tests move its clock. Every test uses its own tag key and names (uid), so the
shared sandbox's other groups never leak in.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from asgpatch import naming, state
from asgpatch.actions import (
    CancelCommand,
    ClearState,
    CreateImage,
    CreateTemplateVersion,
    DeregisterImage,
    ProtectInstance,
    ResumeProcesses,
    SendPatchCommand,
    SetCapacity,
    SetDefaultVersion,
    SuspendProcesses,
    TerminateInstance,
    UseTemplateVersion,
    WriteResult,
    WriteState,
)
from asgpatch.aws import AwsCloud, connect
from asgpatch.aws.session import NO_CREDENTIALS, NO_REGION
from asgpatch.cloud import CloudError, SetupError
from asgpatch.model import Capacity, Job, Observation, Phase, TemplateSpec
from asgpatch.state import LEASE_TAG
from asgpatch_sandbox import builders
from asgpatch_sandbox.process import SandboxProcess

LAUNCH, REGISTER, RUN, BAKE = 30, 20, 60, 45


# --- fixtures and helpers --------------------------------------------------------------------------


def isolate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No user AWS config, profile, endpoint or region leaks into a test."""
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION",
                 "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def dummy_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def cloud(sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AwsCloud:
    isolate(monkeypatch, tmp_path)
    dummy_credentials(monkeypatch)
    return AwsCloud(connect(region="us-east-1", profile=None, endpoint_url=sandbox.url), sleep=Sleeps())


@pytest.fixture
def calls(cloud: AwsCloud) -> Iterator[Counter[str]]:
    """Every API call the adapter makes, by operation name (a botocore before-call hook)."""
    counted: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        counted[model.name] += 1

    clients = (cloud.clients.autoscaling, cloud.clients.ec2, cloud.clients.ssm, cloud.clients.sns)
    for client in clients:
        client.meta.events.register("before-call", count)
    yield counted
    for client in clients:
        client.meta.events.unregister("before-call", count)


def tag_key(uid: str) -> str:
    return f"patch-{uid}"


def template(ec2: Any, name: str) -> tuple[str, str]:
    """A full launch template (version 1) on a fresh base image: (template id, image id)."""
    image = builders.base_image(ec2, f"base-{name}")
    return builders.launch_template(ec2, name, image), image


def job_at(sandbox: SandboxProcess, group: str, phase: Phase, **fields: Any) -> Job:
    now = sandbox.now()
    return Job(
        group=group, run_id=fields.pop("run_id", naming.new_run_id(now)), phase=phase, phase_started=now, **fields
    )


def observe_one(cloud: AwsCloud, sandbox: SandboxProcess, job: Job) -> Observation:
    return cloud.observe([job], sandbox.now())[job.group]


def running(sandbox: SandboxProcess, cloud: AwsCloud, autoscaling: Any, group: str, online: bool = True) -> str:
    """Scale the group to one instance and wait (on the sandbox clock) until it is InService and,
    if asked, Online in SSM: its id."""
    cloud.act(SetCapacity(group, min=1, desired=1))
    sandbox.advance(LAUNCH + 1)
    if online:
        sandbox.advance(REGISTER)
    instances = builders.describe_group(autoscaling, group)["Instances"]
    assert [i["LifecycleState"] for i in instances] == ["InService"]
    return str(instances[0]["InstanceId"])


def tags_of(autoscaling: Any, group: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in builders.describe_group(autoscaling, group).get("Tags", [])}


# --- discovery -------------------------------------------------------------------------------------


def test_discovery_finds_only_groups_whose_tag_has_the_patch_value(cloud, ec2, autoscaling, uid):
    key = tag_key(uid)
    lt, _ = template(ec2, f"lt-disc-{uid}")
    pinned = builders.group(autoscaling, f"pinned-{uid}", lt, version="1", tags={key: "true", "team": "web"})
    default = builders.group(autoscaling, f"default-{uid}", lt, version=None, tags={key: "true"})
    builders.group(autoscaling, f"opted-out-{uid}", lt, tags={key: "false"})
    builders.group(autoscaling, f"untagged-{uid}", lt)

    found = cloud.discover(key, "true")

    assert [g.name for g in found.groups] == sorted([pinned, default])
    views = {g.name: g for g in found.groups}
    assert views[pinned].template is not None and views[pinned].template.main == TemplateSpec(lt, "1")
    assert views[default].template is not None and views[default].template.main == TemplateSpec(lt, "$Default")
    assert views[pinned].template.mixed_policy is False
    assert views[pinned].tags == {key: "true", "team": "web"}
    assert views[pinned].capacity == Capacity(0, 2, 0)
    assert views[pinned].instances == () and views[pinned].launch_configuration is None
    assert (found.untagged, found.missing) == ((), ())


def test_discovery_pages_past_one_hundred_groups(cloud, calls, ec2, autoscaling, uid):
    key = tag_key(uid)
    lt, _ = template(ec2, f"lt-many-{uid}")
    names = [builders.group(autoscaling, f"many-{uid}-{n:03d}", lt, tags={key: "true"}) for n in range(120)]

    found = cloud.discover(key, "true")

    assert [g.name for g in found.groups] == names
    assert calls["DescribeAutoScalingGroups"] == 2  # 100 a page
    calls.clear()
    narrowed = cloud.discover(key, "true", names)
    assert len(narrowed.groups) == 120 and calls["DescribeAutoScalingGroups"] == 2  # 100 names a call


def test_named_groups_are_split_into_tagged_untagged_and_missing(cloud, ec2, autoscaling, uid):
    key = tag_key(uid)
    lt, _ = template(ec2, f"lt-names-{uid}")
    tagged = builders.group(autoscaling, f"tagged-{uid}", lt, tags={key: "true"})
    builders.group(autoscaling, f"tagged-not-named-{uid}", lt, tags={key: "true"})
    other_value = builders.group(autoscaling, f"other-{uid}", lt, tags={key: "false"})
    untagged = builders.group(autoscaling, f"bare-{uid}", lt)

    found = cloud.discover(key, "true", [untagged, tagged, f"nope-{uid}", other_value, tagged])

    assert [g.name for g in found.groups] == [tagged]
    assert [g.name for g in found.untagged] == [untagged, other_value]
    assert found.missing == (f"nope-{uid}",)


def mixed_group(autoscaling: Any, name: str, main: str, main_name: str, other_name: str, key: str) -> str:
    """A MixedInstancesPolicy group: `main` by id at version 1; overrides naming `main` again by name
    and the other template by name only."""
    again = {"LaunchTemplateName": main_name, "Version": "1"}
    other = {"LaunchTemplateName": other_name, "Version": "$Latest"}
    policy = {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": {"LaunchTemplateId": main, "Version": "1"},
            "Overrides": [
                {"InstanceType": "t3.micro"},
                {"InstanceType": "t3.small", "LaunchTemplateSpecification": again},
                {"InstanceType": "m5.large", "LaunchTemplateSpecification": other},
            ],
        },
        "InstancesDistribution": {
            "OnDemandBaseCapacity": 1,
            "OnDemandPercentageAboveBaseCapacity": 50,
            "SpotAllocationStrategy": "capacity-optimized",
        },
    }  # fmt: skip
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=2, DesiredCapacity=0, MixedInstancesPolicy=policy,
        AvailabilityZones=["us-east-1a"],
        Tags=[{"Key": key, "Value": "true", "PropagateAtLaunch": False, "ResourceId": name,
               "ResourceType": "auto-scaling-group"}],
    )  # fmt: skip
    return name


def test_a_mixed_instances_policy_is_read_with_its_override_templates_resolved_to_ids(cloud, ec2, autoscaling, uid):
    key = tag_key(uid)
    main, _ = template(ec2, f"lt-main-{uid}")
    other, _ = template(ec2, f"lt-other-{uid}")
    group = mixed_group(autoscaling, f"mixed-{uid}", main, f"lt-main-{uid}", f"lt-other-{uid}", key)

    (view,) = cloud.discover(key, "true", [group]).groups

    assert view.template is not None and view.template.mixed_policy is True
    assert view.template.main == TemplateSpec(main, "1")
    assert view.template.overrides == (TemplateSpec(other, "$Latest"),)  # the same template is not repeated


# --- observation -----------------------------------------------------------------------------------


def test_observe_follows_a_launch_to_an_online_instance(cloud, sandbox, ec2, autoscaling, uid):
    lt, _ = template(ec2, f"lt-launch-{uid}")
    group = builders.group(autoscaling, f"launch-{uid}", lt, tags={tag_key(uid): "true"})
    job = job_at(sandbox, group, Phase.LAUNCHING, launch_requested=sandbox.now())
    cloud.act(SetCapacity(group, min=1, desired=1))

    seen = observe_one(cloud, sandbox, job)
    assert seen.group is not None
    (instance,) = seen.group.instances
    assert (instance.lifecycle, instance.ec2_state, instance.ssm_ping) == ("Pending", "pending", None)
    assert instance.launch_time is not None and abs(instance.launch_time - time.time()) < 300
    assert seen.group.failed_launch is None and seen.command is None and seen.image is None

    sandbox.advance(LAUNCH + 1)
    seen = observe_one(cloud, sandbox, job)
    assert seen.group is not None
    (instance,) = seen.group.instances
    assert (instance.lifecycle, instance.ec2_state, instance.ssm_ping) == ("InService", "running", None)

    sandbox.advance(REGISTER)
    seen = observe_one(cloud, sandbox, replace(job, phase=Phase.WAITING_INSTANCE, instance_id=instance.instance_id))
    assert seen.group is not None
    assert seen.group.instance(instance.instance_id) == replace(instance, ssm_ping="Online")


def test_instances_that_were_there_before_the_scale_up_are_not_described(cloud, calls, sandbox, ec2, autoscaling, uid):
    lt, _ = template(ec2, f"lt-pre-{uid}")
    group = builders.group(autoscaling, f"pre-{uid}", lt, tags={tag_key(uid): "true"})
    serving = running(sandbox, cloud, autoscaling, group, online=False)
    job = job_at(sandbox, group, Phase.LAUNCHING, launch_requested=sandbox.now(), preexisting=frozenset({serving}))

    seen = observe_one(cloud, sandbox, job)

    assert seen.group is not None and seen.group.instance(serving) is not None
    assert seen.group.instance(serving).ec2_state is None  # type: ignore[union-attr]
    assert calls["DescribeInstances"] == 0 and calls["DescribeInstanceInformation"] == 0


def test_a_group_that_is_gone_is_observed_as_none(cloud, sandbox, uid):
    job = job_at(sandbox, f"deleted-{uid}", Phase.PATCHING, instance_id="i-0123456789abcdef0")
    assert observe_one(cloud, sandbox, job).group is None


@pytest.mark.parametrize("bystanders", [0, 11], ids=["per-group", "account-wide"])
def test_a_failed_launch_is_reported_with_its_message(cloud, sandbox, ec2, autoscaling, uid, bystanders):
    key = tag_key(uid)
    lt, _ = template(ec2, f"lt-fail-{uid}")
    group = builders.group(autoscaling, f"fails-{uid}", lt, tags={key: "true", "sandbox:launch": "fail"})
    calm = [builders.group(autoscaling, f"calm-{uid}-{n}", lt, tags={key: "true"}) for n in range(bystanders)]
    started = sandbox.now()
    cloud.act(SetCapacity(group, min=1, desired=1))
    sandbox.advance(LAUNCH + 1)

    jobs = [job_at(sandbox, name, Phase.LAUNCHING, launch_requested=started) for name in [group, *calm]]
    seen = cloud.observe(jobs, sandbox.now())

    assert seen[group].group is not None and seen[group].group.failed_launch
    assert all(seen[name].group is not None and seen[name].group.failed_launch is None for name in calm)


def patch_job(sandbox: SandboxProcess, cloud: AwsCloud, autoscaling: Any, ec2: Any, uid: str, name: str,
              tags: dict[str, str] | None = None) -> tuple[Job, str]:  # fmt: skip
    """A group with an Online patch instance and its job entering PATCHING; and the sent command's id."""
    lt, _ = template(ec2, f"lt-{name}-{uid}")
    group = builders.group(autoscaling, f"{name}-{uid}", lt, tags={tag_key(uid): "true", **(tags or {})})
    instance = running(sandbox, cloud, autoscaling, group)
    job = job_at(sandbox, group, Phase.PATCHING, instance_id=instance)
    comment = naming.command_comment(job.run_id, group)
    command_id = cloud.act(SendPatchCommand(instance, "Install", "RebootIfNeeded", comment, 600))
    assert isinstance(command_id, str)
    return job, command_id


def test_the_patch_command_is_observed_until_it_succeeds(cloud, ssm, sandbox, ec2, autoscaling, uid):
    job, command_id = patch_job(sandbox, cloud, autoscaling, ec2, uid, "patch")
    sent = ssm.list_commands(CommandId=command_id)["Commands"][0]
    assert sent["DocumentName"] == "AWS-RunPatchBaseline" and sent["InstanceIds"] == [job.instance_id]
    assert sent["Parameters"] == {"Operation": ["Install"], "RebootOption": ["RebootIfNeeded"]}
    assert sent["Comment"] == naming.command_comment(job.run_id, job.group) and sent["TimeoutSeconds"] == 600

    by_comment = observe_one(cloud, sandbox, job)  # the natural key: a crash lost the command id
    assert by_comment.command is not None and by_comment.command.command_id == command_id
    assert by_comment.command.status in ("Pending", "InProgress")

    sandbox.advance(RUN + 1)
    done = observe_one(cloud, sandbox, replace(job, command_id=command_id))
    assert done.command is not None and (done.command.command_id, done.command.status) == (command_id, "Success")


def test_a_failed_patch_reports_its_details_and_output(cloud, sandbox, ec2, autoscaling, uid):
    job, command_id = patch_job(sandbox, cloud, autoscaling, ec2, uid, "badpatch", {"sandbox:patch": "fail"})
    sandbox.advance(RUN + 1)

    seen = observe_one(cloud, sandbox, replace(job, command_id=command_id))

    assert seen.command is not None and seen.command.status == "Failed"
    assert seen.command.detail.startswith("Failed") and len(seen.command.detail) > len("Failed: ")


def test_a_command_ended_by_a_terminated_instance_is_seen_with_the_instance_dead(cloud, sandbox, ec2, autoscaling, uid):
    """Someone terminates the patch instance while a tick reads: the command is read before the
    instance, so a command that ended because of it never comes with the instance still running
    (and decide relaunches rather than failing the group on the command's word)."""
    job, command_id = patch_job(sandbox, cloud, autoscaling, ec2, uid, "killread")
    cloud.act(SuspendProcesses(job.group, frozenset({"ReplaceUnhealthy"})))  # as asgpatch does: it stays listed
    terminated: list[str] = []

    def terminate(**_: Any) -> None:
        if not terminated:
            terminated.append(
                ec2.terminate_instances(InstanceIds=[job.instance_id])["TerminatingInstances"][0]["InstanceId"]
            )

    cloud.clients.ssm.meta.events.register("before-call.ssm.ListCommandInvocations", terminate)
    try:
        seen = observe_one(cloud, sandbox, replace(job, command_id=command_id))
    finally:
        cloud.clients.ssm.meta.events.unregister("before-call.ssm.ListCommandInvocations", terminate)

    assert terminated == [job.instance_id]
    assert seen.command is not None and seen.command.status == "Failed", seen.command
    assert seen.group is not None
    instance = seen.group.instance(job.instance_id or "")
    assert instance is not None and instance.ec2_state in ("shutting-down", "terminated")


def test_no_command_yet_is_observed_as_none(cloud, sandbox, ec2, autoscaling, uid):
    lt, _ = template(ec2, f"lt-nocmd-{uid}")
    group = builders.group(autoscaling, f"nocmd-{uid}", lt, tags={tag_key(uid): "true"})
    instance = running(sandbox, cloud, autoscaling, group)
    assert observe_one(cloud, sandbox, job_at(sandbox, group, Phase.PATCHING, instance_id=instance)).command is None


def test_cancel_command_stops_a_hanging_patch(cloud, sandbox, ec2, autoscaling, uid):
    job, command_id = patch_job(sandbox, cloud, autoscaling, ec2, uid, "hang", {"sandbox:patch": "hang"})
    sandbox.advance(RUN + 1)
    job = replace(job, command_id=command_id)
    assert observe_one(cloud, sandbox, job).command.status == "InProgress"  # type: ignore[union-attr]

    assert job.instance_id is not None
    cloud.act(CancelCommand(command_id, job.instance_id))

    assert observe_one(cloud, sandbox, job).command.status == "Cancelled"  # type: ignore[union-attr]


# --- images ----------------------------------------------------------------------------------------


def test_create_image_is_idempotent_by_name_and_observed_until_available(cloud, sandbox, ec2, autoscaling, uid):
    lt, base = template(ec2, f"lt-img-{uid}")
    group = builders.group(autoscaling, f"img-{uid}", lt, tags={tag_key(uid): "true"})
    instance = running(sandbox, cloud, autoscaling, group, online=False)
    job = job_at(sandbox, group, Phase.IMAGING, instance_id=instance)
    name = naming.image_name(group, job.run_id)
    tags = {"asgpatch:group": group, "asgpatch:run": job.run_id, "asgpatch:source-image": base}
    create = CreateImage(instance, name, f"patched {group}", True, tags)

    image_id = cloud.act(create)
    assert cloud.act(create) == image_id  # InvalidAMIName.Duplicate -> the image that has the name

    assert isinstance(image_id, str)
    lost = observe_one(cloud, sandbox, job)  # the natural key: found by name
    assert lost.image is not None and (lost.image.image_id, lost.image.state) == (image_id, "pending")
    sandbox.advance(BAKE + 1)
    known = observe_one(cloud, sandbox, replace(job, image_id=image_id))
    assert known.image is not None and (known.image.image_id, known.image.state) == (image_id, "available")

    (image,) = ec2.describe_images(ImageIds=[image_id])["Images"]
    assert {t["Key"]: t["Value"] for t in image["Tags"]} == tags
    snapshots = ec2.describe_snapshots(Filters=[{"Name": "tag:asgpatch:run", "Values": [job.run_id]}])["Snapshots"]
    assert snapshots and all({t["Key"]: t["Value"] for t in s["Tags"]} == tags for s in snapshots)

    cloud.act(DeregisterImage(image_id))
    cloud.act(DeregisterImage(image_id))  # already gone: done
    assert ec2.describe_images(Filters=[{"Name": "image-id", "Values": [image_id]}])["Images"] == []
    remaining = ec2.describe_snapshots(Filters=[{"Name": "tag:asgpatch:run", "Values": [job.run_id]}])["Snapshots"]
    assert remaining == []
    assert observe_one(cloud, sandbox, replace(job, image_id=image_id)).image is None


def test_an_image_that_only_shares_the_name_is_never_taken_for_this_runs(cloud, sandbox, ec2, autoscaling, uid):
    lt, _ = template(ec2, f"lt-squat-{uid}")
    group = builders.group(autoscaling, f"squat-{uid}", lt, tags={tag_key(uid): "true"})
    instance = running(sandbox, cloud, autoscaling, group, online=False)
    job = job_at(sandbox, group, Phase.IMAGING, instance_id=instance)
    name = naming.image_name(group, job.run_id)
    squatter = ec2.create_image(
        InstanceId=instance, Name=name, TagSpecifications=[
            {"ResourceType": "image", "Tags": [{"Key": "asgpatch:group", "Value": "someone-else"}]}
        ],
    )["ImageId"]  # fmt: skip
    tags = {"asgpatch:group": group, "asgpatch:run": job.run_id}
    with pytest.raises(CloudError) as caught:
        cloud.act(CreateImage(instance, name, f"patched {group}", True, tags))
    assert caught.value.code == "InvalidAMIName.Duplicate"
    assert observe_one(cloud, sandbox, job).image is None, f"{squatter} is not this run's image"


def test_a_failed_image_is_observed_with_its_reason(cloud, sandbox, ec2, autoscaling, uid):
    lt, _ = template(ec2, f"lt-badimg-{uid}")
    group = builders.group(autoscaling, f"badimg-{uid}", lt, tags={tag_key(uid): "true", "sandbox:image": "fail"})
    instance = running(sandbox, cloud, autoscaling, group, online=False)
    job = job_at(sandbox, group, Phase.IMAGING, instance_id=instance)
    image_id = cloud.act(CreateImage(instance, naming.image_name(group, job.run_id), "x", True, {}))
    sandbox.advance(BAKE + 1)

    seen = observe_one(cloud, sandbox, replace(job, image_id=str(image_id)))

    assert seen.image is not None and seen.image.state == "failed" and seen.image.reason


# --- launch templates ------------------------------------------------------------------------------


def test_a_template_version_is_created_once_per_run_and_observed(cloud, sandbox, ec2, autoscaling, uid):
    lt, base = template(ec2, f"lt-ver-{uid}")
    group = builders.group(autoscaling, f"ver-{uid}", lt, version="$Default", tags={tag_key(uid): "true"})
    patched = builders.base_image(ec2, f"patched-{uid}")
    job = job_at(sandbox, group, Phase.UPDATING_TEMPLATE, template_id=lt, source_version=1, image_id=patched)
    create = CreateTemplateVersion(lt, 1, patched, naming.version_description(job.run_id, 1))

    assert cloud.act(create) == 2
    assert cloud.act(create) == 2  # the run's version exists: not made twice

    new = ec2.describe_launch_template_versions(LaunchTemplateId=lt, Versions=["2"])["LaunchTemplateVersions"][0]
    source = ec2.describe_launch_template_versions(LaunchTemplateId=lt, Versions=["1"])["LaunchTemplateVersions"][0]
    assert new["LaunchTemplateData"]["ImageId"] == patched and new["VersionDescription"] == create.description
    for kept in ("UserData", "IamInstanceProfile", "SecurityGroupIds", "InstanceType", "TagSpecifications"):
        assert new["LaunchTemplateData"][kept] == source["LaunchTemplateData"][kept], kept

    view = observe_one(cloud, sandbox, job).templates[lt]
    assert (view.default_version, view.latest_version, view.run_versions) == (1, 2, {1: 2})
    assert view.images == {1: base, 2: patched} and view.name == f"lt-ver-{uid}"
    other_run = observe_one(cloud, sandbox, replace(job, run_id=naming.new_run_id(0))).templates[lt]
    assert other_run.run_versions == {}

    cloud.act(SetDefaultVersion(lt, 2))
    assert ec2.describe_launch_templates(LaunchTemplateIds=[lt])["LaunchTemplates"][0]["DefaultVersionNumber"] == 2
    pending = observe_one(cloud, sandbox, job_at(sandbox, group, Phase.PENDING)).templates[lt]
    assert pending.default_version == 2 and pending.images == {2: patched}  # $Default, resolved


def test_groups_sharing_a_template_in_one_run_each_find_their_own_version(cloud, sandbox, ec2, autoscaling, uid):
    lt, _ = template(ec2, f"lt-shared-{uid}")
    first, second = builders.base_image(ec2, f"first-{uid}"), builders.base_image(ec2, f"second-{uid}")
    run = naming.new_run_id(sandbox.now())
    description = naming.version_description(run, 1)
    assert cloud.act(CreateTemplateVersion(lt, 1, first, description)) == 2
    assert cloud.act(CreateTemplateVersion(lt, 1, second, description)) == 3

    job = Job(group=f"b-{uid}", run_id=run, phase=Phase.UPDATING_TEMPLATE, template_id=lt, source_version=1,
              image_id=second)  # fmt: skip
    assert observe_one(cloud, sandbox, job).templates[lt].run_versions == {1: 3}


def test_use_template_version_on_a_plain_group(cloud, ec2, autoscaling, uid):
    lt, _ = template(ec2, f"lt-use-{uid}")
    group = builders.group(autoscaling, f"use-{uid}", lt, version="1", tags={tag_key(uid): "true"})
    cloud.act(CreateTemplateVersion(lt, 1, builders.base_image(ec2, f"p-{uid}"), "asgpatch r: x"))

    cloud.act(UseTemplateVersion(group, lt, 2, mixed_policy=False))

    assert builders.describe_group(autoscaling, group)["LaunchTemplate"]["Version"] == "2"


def test_use_template_version_on_a_mixed_policy_keeps_overrides_and_distribution(cloud, ec2, autoscaling, uid):
    key = tag_key(uid)
    main, _ = template(ec2, f"lt-mmain-{uid}")
    template(ec2, f"lt-mother-{uid}")
    group = mixed_group(autoscaling, f"mixuse-{uid}", main, f"lt-mmain-{uid}", f"lt-mother-{uid}", key)
    before = builders.describe_group(autoscaling, group)["MixedInstancesPolicy"]
    cloud.act(CreateTemplateVersion(main, 1, builders.base_image(ec2, f"p-{uid}"), "asgpatch r: x"))

    cloud.act(UseTemplateVersion(group, main, 2, mixed_policy=True))

    after = builders.describe_group(autoscaling, group)["MixedInstancesPolicy"]
    assert after["InstancesDistribution"] == before["InstancesDistribution"]
    assert after["LaunchTemplate"]["LaunchTemplateSpecification"]["LaunchTemplateId"] == main
    assert after["LaunchTemplate"]["LaunchTemplateSpecification"]["Version"] == "2"
    overrides = after["LaunchTemplate"]["Overrides"]
    assert [o["InstanceType"] for o in overrides] == ["t3.micro", "t3.small", "m5.large"]
    assert overrides[1]["LaunchTemplateSpecification"]["Version"] == "2"  # the same template, named by name
    assert overrides[2]["LaunchTemplateSpecification"] == {
        "LaunchTemplateName": f"lt-mother-{uid}",
        "Version": "$Latest",
    }


# --- group writes ----------------------------------------------------------------------------------


def test_state_result_and_clear_touch_only_asgpatch_tags(cloud, sandbox, ec2, autoscaling, uid):
    key = tag_key(uid)
    lt, _ = template(ec2, f"lt-tags-{uid}")
    group = builders.group(autoscaling, f"tags-{uid}", lt, tags={key: "true", "team": "web"})
    job = job_at(sandbox, group, Phase.PREPARING, original=Capacity(0, 2, 0), was_suspended=frozenset({"AZRebalance"}))

    cloud.act(WriteState(job))
    written = tags_of(autoscaling, group)[state.STATE_TAG]
    assert written == state.encode(job) and state.decode(group, written) == replace(
        job, phase_started=int(job.phase_started)
    )
    described = builders.describe_group(autoscaling, group)["Tags"]
    assert next(t for t in described if t["Key"] == state.STATE_TAG)["PropagateAtLaunch"] is False

    lease = {"Key": LEASE_TAG, "Value": "holder", "PropagateAtLaunch": False}
    autoscaling.create_or_update_tags(Tags=[{"ResourceId": group, "ResourceType": "auto-scaling-group", **lease}])
    cloud.act(WriteResult(group, f"{job.run_id} patched ami-0123 2026-11-27T06:00:00Z"))
    cloud.act(ClearState(group))
    cloud.act(ClearState(group))  # nothing left to clear: still fine

    assert tags_of(autoscaling, group) == {
        key: "true",
        "team": "web",
        state.RESULT_TAG: f"{job.run_id} patched ami-0123 2026-11-27T06:00:00Z",
    }


def test_processes_capacity_protection_and_termination(cloud, calls, sandbox, ec2, autoscaling, uid):
    lt, _ = template(ec2, f"lt-proc-{uid}")
    group = builders.group(autoscaling, f"proc-{uid}", lt, max_size=3, tags={tag_key(uid): "true"})

    def suspended() -> set[str]:
        return {p["ProcessName"] for p in builders.describe_group(autoscaling, group)["SuspendedProcesses"]}

    cloud.act(SuspendProcesses(group, frozenset({"AZRebalance", "ScheduledActions"})))
    assert suspended() == {"AZRebalance", "ScheduledActions"}
    calls.clear()
    cloud.act(SuspendProcesses(group, frozenset()))
    cloud.act(ResumeProcesses(group, frozenset()))
    assert sum(calls.values()) == 0  # an empty set would mean "all processes" to AWS
    cloud.act(ResumeProcesses(group, frozenset({"AZRebalance"})))
    assert suspended() == {"ScheduledActions"}

    instance = running(sandbox, cloud, autoscaling, group, online=False)
    raw = builders.describe_group(autoscaling, group)
    assert (raw["MinSize"], raw["MaxSize"], raw["DesiredCapacity"]) == (1, 3, 1)  # max untouched

    cloud.act(ProtectInstance(group, instance, True))
    assert builders.describe_group(autoscaling, group)["Instances"][0]["ProtectedFromScaleIn"] is True
    seen = observe_one(cloud, sandbox, job_at(sandbox, group, Phase.WAITING_INSTANCE, instance_id=instance))
    assert seen.group is not None and seen.group.instance(instance).protected is True  # type: ignore[union-attr]
    cloud.act(ProtectInstance(group, instance, False))
    assert builders.describe_group(autoscaling, group)["Instances"][0]["ProtectedFromScaleIn"] is False

    cloud.act(SetCapacity(group, min=0))
    cloud.act(TerminateInstance(instance, decrement=True))
    assert builders.describe_group(autoscaling, group)["DesiredCapacity"] == 0
    sandbox.advance(5)
    assert builders.describe_group(autoscaling, group)["Instances"] == []
    # Terminating it again answers InternalFailure on the sandbox (moto); AWS answers ValidationError
    # "Instance Id not found", which the adapter treats as done (tests/unit/test_aws_write.py).


# --- SNS -------------------------------------------------------------------------------------------


def test_publish_sends_one_message_with_string_attributes(cloud, sandbox, uid):
    sns, sqs = sandbox.client("sns"), sandbox.client("sqs")
    topic = sns.create_topic(Name=f"asgpatch-{uid}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"asgpatch-{uid}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    cloud.publish(topic, "asgpatch: web failed\n(patch)", "the body", {"status": "failed", "group": "web", "none": ""})

    (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(message["Body"])
    assert (body["Subject"], body["Message"]) == ("asgpatch: web failed (patch)", "the body")
    attributes = {k: v["Value"] for k, v in body["MessageAttributes"].items()}
    assert attributes == {"status": "failed", "group": "web"}


# --- request counts --------------------------------------------------------------------------------


def test_observing_150_jobs_costs_a_bounded_number_of_calls(cloud, calls, sandbox, ec2, autoscaling, uid):
    key = tag_key(uid)
    first, _ = template(ec2, f"lt-count-a-{uid}")
    second, _ = template(ec2, f"lt-count-b-{uid}")
    names = [builders.group(autoscaling, f"count-{uid}-{n:03d}", first if n % 2 else second, tags={key: "true"})
             for n in range(150)]  # fmt: skip
    now = sandbox.now()
    run = naming.new_run_id(now)
    phases = [Phase.LAUNCHING] * 40 + [Phase.PENDING] * 40 + [Phase.IMAGING] * 40 + [Phase.PATCHING] * 30
    jobs = [
        Job(group=name, run_id=run, phase=phase, phase_started=now, launch_requested=now,
            instance_id=f"i-{n:017x}" if phase is Phase.PATCHING else None)
        for n, (name, phase) in enumerate(zip(names, phases, strict=True))
    ]  # fmt: skip
    calls.clear()

    seen = cloud.observe(jobs, now)

    assert set(seen) == set(names) and all(o.group is not None and o.now == now for o in seen.values())
    assert all(set(seen[j.group].templates) == {first, second} & {seen[j.group].group.template.main.template_id}  # type: ignore[union-attr]
               for j in jobs if j.phase is Phase.PENDING)  # fmt: skip
    assert calls["DescribeAutoScalingGroups"] == 2
    assert calls["DescribeScalingActivities"] <= 3  # account-wide, not 40 calls
    assert calls["ListCommandInvocations"] <= 3 and calls["ListCommands"] == 0
    assert calls["DescribeImages"] == 1  # 40 names in one filter
    assert calls["DescribeLaunchTemplates"] == 1 and calls["DescribeLaunchTemplateVersions"] == 2
    assert calls["DescribeInstances"] == 0 and calls["DescribeInstanceInformation"] == 0  # no instances
    assert sum(calls.values()) <= 12


# --- setup errors ----------------------------------------------------------------------------------


def test_an_unreachable_endpoint_is_one_clear_setup_error(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)
    dummy_credentials(monkeypatch)
    clients = connect(region="us-east-1", profile=None, endpoint_url="http://127.0.0.1:9")
    with pytest.raises(SetupError, match=r"^cannot reach the AWS endpoint http://127\.0\.0\.1:9"):
        clients.check()


def test_the_sandbox_endpoint_passes_the_check(cloud):
    cloud.check()


def test_an_unknown_profile_is_one_clear_setup_error(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)
    with pytest.raises(SetupError, match=r"^unknown AWS profile 'nope'"):
        connect(region="us-east-1", profile="nope", endpoint_url=None)


def test_an_unknown_profile_from_the_environment_is_named(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_PROFILE", "from-env")
    with pytest.raises(SetupError, match=r"^unknown AWS profile 'from-env'"):
        connect(region="us-east-1", profile=None, endpoint_url=None)


def test_missing_credentials_are_one_clear_setup_error(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)
    with pytest.raises(SetupError) as caught:
        connect(region="us-east-1", profile=None, endpoint_url=None)
    assert str(caught.value) == NO_CREDENTIALS


def test_a_missing_region_is_one_clear_setup_error(monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)
    dummy_credentials(monkeypatch)
    with pytest.raises(SetupError) as caught:
        connect(region=None, profile=None, endpoint_url=None)
    assert str(caught.value) == NO_REGION


def test_aws_region_alone_names_the_region(monkeypatch, tmp_path):
    """AWS_REGION is what the AWS CLI v2 and the other SDKs read first; botocore reads only AWS_DEFAULT_REGION."""
    isolate(monkeypatch, tmp_path)
    dummy_credentials(monkeypatch)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert connect(region=None, profile=None, endpoint_url=None).autoscaling.meta.region_name == "eu-west-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert connect(region=None, profile=None, endpoint_url=None).ec2.meta.region_name == "eu-west-1"
    assert connect(region="ap-south-1", profile=None, endpoint_url=None).ssm.meta.region_name == "ap-south-1"


def test_the_endpoint_comes_from_aws_endpoint_url_when_not_given(sandbox, monkeypatch, tmp_path):
    isolate(monkeypatch, tmp_path)
    dummy_credentials(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL", sandbox.url)
    clients = connect(region="us-east-1", profile=None, endpoint_url=None)
    assert clients.endpoint_url == sandbox.url
    clients.check()


def test_instances_of_many_groups_are_read_in_one_call_per_kind(cloud, calls, sandbox, ec2, autoscaling, uid):
    lt, _ = template(ec2, f"lt-batch-{uid}")
    groups = [builders.group(autoscaling, f"batch-{uid}-{n}", lt, tags={tag_key(uid): "true"}) for n in range(3)]
    for group in groups:
        cloud.act(SetCapacity(group, min=1, desired=1))
    sandbox.advance(LAUNCH + 1 + REGISTER)
    jobs = [job_at(sandbox, group, Phase.WAITING_INSTANCE) for group in groups]
    calls.clear()

    seen = cloud.observe(jobs, sandbox.now())

    for group in groups:
        view = seen[group].group
        assert view is not None
        assert [(i.ec2_state, i.ssm_ping) for i in view.instances] == [("running", "Online")]
    assert calls["DescribeInstances"] == 1 and calls["DescribeInstanceInformation"] == 1
    assert calls["DescribeScalingActivities"] == 3  # few launching groups: one call each
