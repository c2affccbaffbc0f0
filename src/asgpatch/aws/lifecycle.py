"""What holds or outlives a launch: launch lifecycle hooks and warm pools, read only when they matter.

DescribeLifecycleHooks (one group a call, no paging) is read for a group whose new instance waits in
Pending:Wait, so the engine can name the hook that holds it, and by `plan`. DescribeWarmPool (50
instances a page) plus DescribeInstances (100 ids a call) is read for a group with a warm pool as it is
taken in and while it is restored after a patch: its warm instances keep the image they were launched with.
"""

from __future__ import annotations

from collections.abc import Iterable

from asgpatch.aws.api import Api
from asgpatch.aws.instances import ec2_facts
from asgpatch.aws.permissions import reads
from asgpatch.cloud import CloudError
from asgpatch.model import LaunchHook, WarmInstance

reads(__name__, "autoscaling:DescribeLifecycleHooks", "autoscaling:DescribeWarmPool")

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
WARM_PAGE = 50


def launch_hooks(api: Api, groups: Iterable[str]) -> dict[str, tuple[LaunchHook, ...]]:
    """Group -> its launch lifecycle hooks, by name (a group that is gone has none)."""
    found: dict[str, tuple[LaunchHook, ...]] = {}
    for name in dict.fromkeys(groups):
        try:
            answer = api.call(api.autoscaling.describe_lifecycle_hooks, AutoScalingGroupName=name)
        except CloudError as error:
            if error.code != "ValidationError":  # the group is gone
                raise
            continue
        hooks = [
            LaunchHook(
                name=str(raw.get("LifecycleHookName", "")),
                heartbeat_timeout=int(raw.get("HeartbeatTimeout") or 3600),
                default_result=str(raw.get("DefaultResult") or "ABANDON"),
            )
            for raw in answer.get("LifecycleHooks") or []
            if raw.get("LifecycleTransition") == LAUNCHING
        ]
        found[name] = tuple(sorted(hooks, key=lambda h: h.name))
    return found


def warm_pools(api: Api, groups: Iterable[str]) -> dict[str, tuple[WarmInstance, ...]]:
    """Group -> the instances in its warm pool, each with the image EC2 says it runs."""
    pools: dict[str, list[tuple[str, str]]] = {}
    fn = api.autoscaling.describe_warm_pool
    for name in dict.fromkeys(groups):
        try:
            raws = list(api.items(fn, "Instances", AutoScalingGroupName=name, MaxRecords=WARM_PAGE))
        except CloudError as error:
            if error.code != "ValidationError":
                raise
            continue
        pools[name] = [(str(raw["InstanceId"]), str(raw.get("LifecycleState", ""))) for raw in raws]
    facts = ec2_facts(api, [instance_id for pool in pools.values() for instance_id, _ in pool])
    return {
        name: tuple(
            WarmInstance(instance_id, lifecycle, facts[instance_id].image_id if instance_id in facts else None)
            for instance_id, lifecycle in pool
        )
        for name, pool in pools.items()
    }
