"""The policy in docs/iam.md against every request the engine really makes (captured in process, on the
sandbox): all allowed for a tagged group and for a group in flight whose patch tag was removed — its
restore by `run` and by `recover` — and no mutation allowed on a group asgpatch holds no state on.
The policy is built from the adapter's declarations (asgpatch.aws.policy): the page must be that
policy, and the policy must grant no mutating action that none of these runs was authorized for."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asgpatch import runner
from asgpatch.actions import Action, SendPatchCommand, SetCapacity
from asgpatch.aws.permissions import mutating
from asgpatch.aws.policy import policy
from asgpatch.aws.run_store import S3RunStore
from asgpatch.config import RunConfig
from asgpatch.model import Settings
from asgpatch.notify import notify
from asgpatch.one_tick import tick_once
from asgpatch.shards import Shard
from asgpatch_sandbox.builders import balancers, base_image, group, launch_template
from asgpatch_sandbox.process import SandboxProcess
from asgpatch_sandbox.testing import SLOW_WORLD
from tests.iam_policy import Authorization, allowed, authorizations, denied, documented_policy
from tests.integration.inprocess import capturing_cloud

POLICY = documented_policy(Path(__file__).resolve().parents[2] / "docs" / "iam.md")
SETTINGS = Settings(tag_key="ep:asg:patch", tag_value="iam", launch_timeout=300, patch_timeout=300)
CONFIG = RunConfig(poll_seconds=20, settings=SETTINGS, sns_topic_arn="arn:aws:sns:us-east-1:123456789012:patching")


class Stop(Exception):
    """The run is stopped right after it scaled the group up."""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxProcess]:
    """This module's own account: the first run must create the state key (PutParameter), whatever other
    tests ran before in the session's sandbox."""
    with SandboxProcess(*SLOW_WORLD) as process:
        yield process


@pytest.fixture(scope="module")
def calls(sandbox: SandboxProcess) -> Iterator[dict[str, list[tuple[str, str, dict[str, Any]]]]]:
    ec2, autoscaling = sandbox.client("ec2"), sandbox.client("autoscaling")
    sns = sandbox.client("sns")
    sns.create_topic(Name="patching")
    image = base_image(ec2, "iam-base")
    # a launch hook its automation completes and a warm pool: the hook is read, warm instances replaced
    group(autoscaling, "iam-tagged", launch_template(ec2, "iam-tagged", image), version="$Default",
          tags={"ep:asg:patch": "iam", "sandbox:lifecycle-action": "continue:60"})  # fmt: skip
    autoscaling.put_lifecycle_hook(LifecycleHookName="bootstrap", AutoScalingGroupName="iam-tagged",
                                   LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING")  # fmt: skip
    autoscaling.put_warm_pool(AutoScalingGroupName="iam-tagged", MinSize=1)
    group(autoscaling, "iam-in-flight", launch_template(ec2, "iam-in-flight", image), tags={"ep:asg:patch": "iam"})
    found: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}

    cloud, clock, seen = capturing_cloud(sandbox, with_tags=True)
    runner.run(
        cloud, CONFIG.__class__(**{**CONFIG.__dict__, "asg_names": ("iam-tagged",)}), "20261201T040000Z-1a1a", clock
    )
    found["tagged"] = list(seen)

    def stop_after_scale_up(action: Action) -> None:
        if isinstance(action, SetCapacity):
            raise Stop

    narrowed = CONFIG.__class__(**{**CONFIG.__dict__, "asg_names": ("iam-in-flight",)})
    cloud, clock, seen = capturing_cloud(sandbox, with_tags=True)
    with pytest.raises(Stop):
        runner.run(cloud, narrowed, "20261201T050000Z-2b2b", clock, on_action=stop_after_scale_up)
    autoscaling.delete_tags(Tags=[{"ResourceId": "iam-in-flight", "ResourceType": "auto-scaling-group",
                                   "Key": "ep:asg:patch"}])  # fmt: skip
    seen.clear()
    sandbox.advance(CONFIG.settings.lease_seconds + 1)
    runner.recover(cloud, narrowed, "20261201T060000Z-3c3c", clock)
    found["in-flight"] = list(seen)
    found["ticked"] = ticked_through_s3(sandbox)
    found["failures"] = failures_and_scale_out(sandbox)
    found_groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["iam-in-flight"])
    assert found_groups["AutoScalingGroups"][0]["DesiredCapacity"] == 0, "recover put it back"
    yield found


def ticked_through_s3(sandbox: SandboxProcess) -> list[tuple[str, str, dict[str, Any]]]:
    """A run ticked to its end through an S3 run state, as the deployed Lambda runs it."""
    ec2, autoscaling = sandbox.client("ec2"), sandbox.client("autoscaling")
    group(autoscaling, "iam-ticked", launch_template(ec2, "iam-ticked", base_image(ec2, "iam-ticked")),
          tags={"ep:asg:patch": "iam"})  # fmt: skip
    sandbox.client("s3").create_bucket(Bucket="my-asgpatch-runs")
    cloud, clock, seen = capturing_cloud(sandbox, with_tags=True)
    config = CONFIG.__class__(**{**CONFIG.__dict__, "asg_names": ("iam-ticked",)})
    store = S3RunStore(cloud.api, "my-asgpatch-runs", "runs/20261201T070000Z-4d4d.json")
    shards = (Shard(cloud, "us-east-1", "123456789012"),)
    for _ in range(200):
        ticked = tick_once(store, shards, config, clock, lambda: False)
        if not ticked.goes_on:
            break
        clock.sleep(config.poll_seconds)
    assert not ticked.goes_on, "the ticked run ended"
    return list(seen)


def failures_and_scale_out(sandbox: SandboxProcess) -> list[tuple[str, str, dict[str, Any]]]:
    """The calls only failures and load balancers make: an image that fails (deregistered), a patch that
    hangs (cancelled), and a group behind a target group and a Classic Load Balancer that scales out
    while it is patched (the new instance registered by the restore)."""
    ec2, autoscaling = sandbox.client("ec2"), sandbox.client("autoscaling")
    image = base_image(ec2, "iam-failures")
    for name, failure in (("iam-image-fails", "sandbox:image"), ("iam-patch-hangs", "sandbox:patch")):
        group(autoscaling, name, launch_template(ec2, name, image),
              tags={"ep:asg:patch": "iam", failure: "fail" if failure == "sandbox:image" else "hang"})  # fmt: skip
    arn, classic = balancers(ec2, sandbox.client("elbv2"), sandbox.client("elb"), "iam")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="iam-balanced", MinSize=1, MaxSize=4, DesiredCapacity=1, AvailabilityZones=["us-east-1a"],
        LaunchTemplate={"LaunchTemplateId": launch_template(ec2, "iam-balanced", image), "Version": "1"},
        TargetGroupARNs=[arn], LoadBalancerNames=[classic],
        Tags=[{"Key": "ep:asg:patch", "Value": "iam", "PropagateAtLaunch": False}],
    )  # fmt: skip
    sandbox.advance(5)

    def scale_out_while_patching(action: Action) -> None:
        if isinstance(action, SendPatchCommand) and "iam-balanced" in action.comment:
            found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["iam-balanced"])
            desired = found["AutoScalingGroups"][0]["DesiredCapacity"]
            autoscaling.set_desired_capacity(AutoScalingGroupName="iam-balanced", DesiredCapacity=desired + 1)

    names = ("iam-image-fails", "iam-patch-hangs", "iam-balanced")
    config = CONFIG.__class__(**{**CONFIG.__dict__, "asg_names": names})
    cloud, clock, seen = capturing_cloud(sandbox, with_tags=True)
    report = runner.run(cloud, config, "20261201T080000Z-5e5e", clock, on_action=scale_out_while_patching)
    notify(cloud, CONFIG.sns_topic_arn or "", report)  # as the CLI and the Lambda do at the end of a run
    statuses = {g["name"]: g["status"] for g in report["groups"]}
    assert statuses["iam-balanced"] == "patched" and statuses["iam-image-fails"] == "failed", statuses
    return list(seen)


def test_the_page_shows_the_policy_the_adapter_declares():
    assert policy() == POLICY, "docs/iam.md is not the declared policy: python -m asgpatch.aws.policy prints it"


def test_the_policy_grants_no_mutation_the_engine_never_makes(calls):
    """Derived from the runs above: every mutating action granted was needed by one of their requests."""
    authorized = {a.action for c in calls.values() for service, operation, params in c
                  for a in authorizations(service, operation, params, {"ep:asg:patch": "true"})}  # fmt: skip
    granted = {action for statement in POLICY["Statement"] for action in
               ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])}  # fmt: skip
    assert {a for a in granted if mutating(a)} - authorized == set()
    assert authorized - granted == set(), "every action the runs needed is granted"


def test_every_call_of_a_ticked_run_through_s3_is_allowed(calls):
    made = {c[:2] for c in calls["ticked"]}
    assert {("s3", "GetObject"), ("s3", "PutObject"), ("s3", "DeleteObject")} <= made
    assert denied(POLICY, calls["ticked"], {"ep:asg:patch": "true"}) == []


def test_every_call_failures_and_load_balancers_make_is_allowed(calls):
    made = {c[1] for c in calls["failures"]}
    assert {"DeregisterImage", "CancelCommand", "RegisterTargets", "RegisterInstancesWithLoadBalancer"} <= made
    assert denied(POLICY, calls["failures"], {"ep:asg:patch": "true"}) == []


def test_every_call_for_a_tagged_group_is_allowed(calls):
    assert calls["tagged"], "the run made no calls"
    made = {c[:2] for c in calls["tagged"]}
    assert ("ssm", "GetParameter") in made, "the state key is read to seal the state"
    assert ("ssm", "PutParameter") in made, "and created by the first run in the account"
    assert {("autoscaling", "DescribeLifecycleHooks"), ("autoscaling", "DescribeWarmPool")} <= made
    warm_terminations = [c for c in calls["tagged"] if c[1] == "TerminateInstanceInAutoScalingGroup"]
    assert warm_terminations, "the warm pool's instances from the old image were replaced"
    assert denied(POLICY, calls["tagged"], {"ep:asg:patch": "true"}) == []


def test_the_restore_of_a_group_whose_patch_tag_was_removed_is_allowed(calls):
    restore = calls["in-flight"]
    assert any(op in ("UpdateAutoScalingGroup", "ResumeProcesses") for _, op, _ in restore), "recover restored it"
    assert denied(POLICY, restore, {"asgpatch:state": "3|20261201T050000Z-2b2b|launching|..."}) == []


def test_no_mutation_of_a_group_asgpatch_holds_no_state_on_is_allowed(calls):
    mutations = [c for c in calls["tagged"] + calls["in-flight"] if c[0] == "autoscaling" and
                 not c[1].startswith("Describe")]  # fmt: skip
    assert mutations
    refused = denied(POLICY, mutations, {"team": "payments"})
    assert len(refused) == len(mutations), "every group mutation is refused on a bystander"


def test_only_group_instances_are_imaged_and_only_asgpatchs_images_removed(calls):
    made = [c for c in calls["tagged"] + calls["failures"] if c[1] in ("CreateImage", "DeregisterImage")]
    assert {c[1] for c in made} == {"CreateImage", "DeregisterImage"}
    assert all("_resource_tags" in params for _, _, params in made), "the resources' tags were recorded"
    image = "arn:aws:ec2:us-east-1::image/ami-0123456789abcdef0"
    instance = "arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0"
    assert not allowed(POLICY, Authorization("ec2:DeregisterImage", (image,), {"ec2:ResourceTag/team": "payments"}))
    assert allowed(POLICY, Authorization("ec2:DeregisterImage", (image,), {"ec2:ResourceTag/asgpatch:group": "web"}))
    assert not allowed(POLICY, Authorization("ec2:CreateImage", (instance,), {}))
    assert allowed(POLICY, Authorization("ec2:CreateImage", (instance,),
                                         {"ec2:ResourceTag/aws:autoscaling:groupName": "web"}))  # fmt: skip
