"""The policy in docs/iam.md against every request the engine really makes (captured in process, on the
sandbox): all allowed for a tagged group and for a group in flight whose patch tag was removed — its
restore by `run` and by `recover` — and no mutation allowed on a group asgpatch holds no state on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asgpatch import runner
from asgpatch.actions import Action, SetCapacity
from asgpatch.config import RunConfig
from asgpatch.model import Settings
from asgpatch_sandbox.builders import base_image, group, launch_template
from asgpatch_sandbox.process import SandboxProcess
from tests.iam_policy import denied, documented_policy
from tests.integration.inprocess import capturing_cloud

POLICY = documented_policy(Path(__file__).resolve().parents[2] / "docs" / "iam.md")
SETTINGS = Settings(tag_key="ep:asg:patch", tag_value="iam", launch_timeout=300, patch_timeout=300)
CONFIG = RunConfig(poll_seconds=20, settings=SETTINGS, sns_topic_arn="arn:aws:sns:us-east-1:123456789012:patching")


class Stop(Exception):
    """The run is stopped right after it scaled the group up."""


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

    cloud, clock, seen = capturing_cloud(sandbox)
    runner.run(
        cloud, CONFIG.__class__(**{**CONFIG.__dict__, "asg_names": ("iam-tagged",)}), "20261201T040000Z-1a1a", clock
    )
    found["tagged"] = list(seen)

    def stop_after_scale_up(action: Action) -> None:
        if isinstance(action, SetCapacity):
            raise Stop

    narrowed = CONFIG.__class__(**{**CONFIG.__dict__, "asg_names": ("iam-in-flight",)})
    cloud, clock, seen = capturing_cloud(sandbox)
    with pytest.raises(Stop):
        runner.run(cloud, narrowed, "20261201T050000Z-2b2b", clock, on_action=stop_after_scale_up)
    autoscaling.delete_tags(Tags=[{"ResourceId": "iam-in-flight", "ResourceType": "auto-scaling-group",
                                   "Key": "ep:asg:patch"}])  # fmt: skip
    seen.clear()
    sandbox.advance(CONFIG.settings.lease_seconds + 1)
    runner.recover(cloud, narrowed, "20261201T060000Z-3c3c", clock)
    found["in-flight"] = list(seen)
    found_groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["iam-in-flight"])
    assert found_groups["AutoScalingGroups"][0]["DesiredCapacity"] == 0, "recover put it back"
    yield found


def test_every_call_for_a_tagged_group_is_allowed(calls):
    assert calls["tagged"], "the run made no calls"
    made = {c[:2] for c in calls["tagged"]}
    assert ("ssm", "GetParameter") in made, "the state key is read to seal the state"
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
